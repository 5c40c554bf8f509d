//! HTTP routing with Spin's rules.
//!
//! A route is a `/`-separated pattern: literal segments, `:name` segments that match exactly
//! one path segment, and an optional trailing `/...` wildcard that matches any rest (including
//! nothing). When several routes match, the most specific wins: comparing segment by segment, a
//! literal beats a `:name`, which beats the wildcard, so exact and parameterised routes win over
//! wildcards and longer wildcard prefixes win over shorter ones. A trailing slash on the
//! request path is ignored for matching, as in Spin's router. Duplicate routes: the last one
//! wins, with a warning, as in Spin.

use std::cmp::Ordering;

/// One parsed route segment.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Segment {
    Literal(String),
    Param(String),
}

impl Segment {
    /// Specificity rank: literal over parameter (the wildcard ranks below both).
    fn rank(&self) -> u8 {
        match self {
            Segment::Literal(_) => 2,
            Segment::Param(_) => 1,
        }
    }
}

/// A route as given in the manifest, parsed.
#[derive(Debug, Clone)]
struct Route {
    /// The route as written in the manifest (`spin-raw-component-route`).
    raw: String,
    /// The route joined with the base `/` (`spin-matched-route`).
    based: String,
    segments: Vec<Segment>,
    wildcard: bool,
    component: String,
}

/// The routes of the application.
#[derive(Debug, Clone, Default)]
pub struct Router {
    routes: Vec<Route>,
}

/// A successful match of a request path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteMatch<'a> {
    /// The component that serves the request.
    pub component: &'a str,
    /// The route as written in the manifest.
    pub raw_route: &'a str,
    /// The route combined with the base path.
    pub based_route: &'a str,
    /// The route without its trailing `/...`.
    pub raw_route_or_prefix: &'a str,
    /// The part of the path matched by the trailing wildcard, with Spin's slash conventions.
    pub path_info: String,
    /// `:name` parameters and their values, in route order.
    pub params: Vec<(&'a str, String)>,
}

/// Splits a path into segments, ignoring one leading and one trailing slash.
fn split_path(path: &str) -> Vec<&str> {
    let trimmed = path.strip_prefix('/').unwrap_or(path);
    let trimmed = trimmed.strip_suffix('/').unwrap_or(trimmed);
    if trimmed.is_empty() {
        Vec::new()
    } else {
        trimmed.split('/').collect()
    }
}

/// Makes a route absolute and strips one trailing slash, as Spin does with base `/`.
fn based_route(raw: &str) -> String {
    let absolute = if raw.starts_with('/') {
        raw.to_owned()
    } else {
        format!("/{raw}")
    };
    match absolute.strip_suffix('/') {
        Some(stripped) => stripped.to_owned(),
        None => absolute,
    }
}

impl Router {
    /// Builds a router from `(route, component)` pairs in manifest order.
    pub fn build<'a>(
        routes: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) -> anyhow::Result<(Self, Vec<String>)> {
        let mut parsed: Vec<Route> = Vec::new();
        let mut warnings = Vec::new();
        for (raw, component) in routes {
            let based = based_route(raw);
            let (prefix, wildcard) = match based.strip_suffix("/...") {
                Some(prefix) => (prefix, true),
                None if based == "/..." => ("", true),
                None => (based.as_str(), false),
            };
            let mut segments = Vec::new();
            for piece in split_path(prefix) {
                if piece == "..." || piece.contains('*') {
                    anyhow::bail!(
                        "route {raw:?} of component {component:?}: `...` is only allowed as the \
                         last segment"
                    );
                }
                segments.push(match piece.strip_prefix(':') {
                    Some("") => anyhow::bail!(
                        "route {raw:?} of component {component:?}: a `:` segment needs a name"
                    ),
                    Some(name) => Segment::Param(name.to_owned()),
                    None => Segment::Literal(piece.to_owned()),
                });
            }
            let route = Route {
                raw: raw.to_owned(),
                based: based.clone(),
                segments,
                wildcard,
                component: component.to_owned(),
            };
            if let Some(index) = parsed.iter().position(|existing| existing.raw == route.raw) {
                warnings.push(format!(
                    "duplicate route {raw:?}: component {:?} replaces {:?}",
                    route.component, parsed[index].component
                ));
                parsed[index] = route;
            } else {
                parsed.push(route);
            }
        }
        Ok((Self { routes: parsed }, warnings))
    }

    /// Finds the most specific route for a request path.
    pub fn route(&self, path: &str) -> Option<RouteMatch<'_>> {
        let pieces = split_path(path);
        let mut best: Option<&Route> = None;
        for route in &self.routes {
            if !matches(route, &pieces) {
                continue;
            }
            best = match best {
                Some(current) if compare_specificity(route, current) != Ordering::Greater => {
                    Some(current)
                }
                _ => Some(route),
            };
        }
        let route = best?;
        let params = route
            .segments
            .iter()
            .zip(&pieces)
            .filter_map(|(segment, piece)| match segment {
                Segment::Param(name) => Some((name.as_str(), (*piece).to_owned())),
                Segment::Literal(_) => None,
            })
            .collect();
        let path_info = if route.wildcard {
            let rest = &pieces[route.segments.len()..];
            // Spin keeps the request's trailing slash in the path info.
            match (rest.is_empty(), path.ends_with('/')) {
                (true, false) => String::new(),
                (true, true) => "/".to_owned(),
                (false, false) => format!("/{}", rest.join("/")),
                (false, true) => format!("/{}/", rest.join("/")),
            }
        } else {
            String::new()
        };
        Some(RouteMatch {
            component: &route.component,
            raw_route: &route.raw,
            based_route: &route.based,
            raw_route_or_prefix: route.raw.strip_suffix("/...").unwrap_or(&route.raw),
            path_info,
            params,
        })
    }
}

fn matches(route: &Route, pieces: &[&str]) -> bool {
    let fixed = route.segments.len();
    let length_ok = if route.wildcard {
        pieces.len() >= fixed
    } else {
        pieces.len() == fixed
    };
    length_ok
        && route
            .segments
            .iter()
            .zip(pieces)
            .all(|(segment, piece)| match segment {
                Segment::Literal(text) => text == piece,
                Segment::Param(_) => !piece.is_empty(),
            })
}

/// Orders two matching routes by specificity, segment by segment; the wildcard ranks lowest.
fn compare_specificity(a: &Route, b: &Route) -> Ordering {
    let rank_at =
        |route: &Route, index: usize| -> u8 { route.segments.get(index).map_or(0, Segment::rank) };
    let longest = a.segments.len().max(b.segments.len());
    for index in 0..longest {
        match rank_at(a, index).cmp(&rank_at(b, index)) {
            Ordering::Equal => {}
            unequal => return unequal,
        }
    }
    // Same segments: an exact route beats a wildcard one.
    b.wildcard.cmp(&a.wildcard)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn project_router() -> anyhow::Result<Router> {
        Ok(Router::build([
            ("/events/:event_id", "inventory"),
            ("/events/:event_id/availability", "availability"),
            ("/events/:event_id/holds", "hold"),
            ("/holds/:hold_id/confirm", "confirm"),
            ("/holds/:hold_id/release", "release"),
            ("/holds/:hold_id", "release"),
            ("/...", "fallback"),
        ])?
        .0)
    }

    fn component_for(router: &Router, path: &str) -> Option<String> {
        router.route(path).map(|m| m.component.to_owned())
    }

    #[test]
    fn parameters_match_one_segment() -> anyhow::Result<()> {
        let router = project_router()?;
        let matched = router
            .route("/events/e1")
            .ok_or_else(|| anyhow::anyhow!("no match"))?;
        assert_eq!(matched.component, "inventory");
        assert_eq!(matched.params, vec![("event_id", "e1".to_owned())]);
        assert_eq!(matched.path_info, "");
        assert_eq!(matched.raw_route_or_prefix, "/events/:event_id");
        assert_eq!(
            component_for(&router, "/events/e1/").as_deref(),
            Some("inventory")
        );
        assert_eq!(
            component_for(&router, "/events/e1/availability").as_deref(),
            Some("availability")
        );
        assert_eq!(
            component_for(&router, "/holds/h/confirm").as_deref(),
            Some("confirm")
        );
        assert_eq!(
            component_for(&router, "/holds/h").as_deref(),
            Some("release")
        );
        assert_eq!(
            component_for(&router, "/events/e1/x/y").as_deref(),
            Some("fallback")
        );
        assert_eq!(
            component_for(&router, "/events").as_deref(),
            Some("fallback")
        );
        Ok(())
    }

    #[test]
    fn catch_all_gets_the_whole_path() -> anyhow::Result<()> {
        let router = project_router()?;
        let matched = router
            .route("/nope/x/")
            .ok_or_else(|| anyhow::anyhow!("no match"))?;
        assert_eq!(matched.component, "fallback");
        assert_eq!(matched.path_info, "/nope/x/");
        assert_eq!(matched.raw_route_or_prefix, "");
        assert_eq!(router.route("/").map(|m| m.path_info), Some("/".to_owned()));
        Ok(())
    }

    #[test]
    fn unmatched_without_catch_all() -> anyhow::Result<()> {
        let (router, _) = Router::build([("/a/:x", "a"), ("/b/...", "b")])?;
        assert!(router.route("/a").is_none());
        assert!(router.route("/a/1/2").is_none());
        assert!(router.route("/c").is_none());
        assert_eq!(router.route("/b").map(|m| m.path_info), Some(String::new()));
        assert_eq!(
            router.route("/b/c/d").map(|m| m.path_info),
            Some("/c/d".to_owned())
        );
        Ok(())
    }

    #[test]
    fn most_specific_wins_regardless_of_order() -> anyhow::Result<()> {
        let (router, _) = Router::build([
            ("/one/...", "one"),
            ("/one/two/three/...", "three"),
            ("/one/two/...", "two"),
            ("/one/:p", "param"),
            ("/one/exact", "exact"),
        ])?;
        assert_eq!(
            component_for(&router, "/one/two/three/four").as_deref(),
            Some("three")
        );
        assert_eq!(component_for(&router, "/one/two/x").as_deref(), Some("two"));
        assert_eq!(
            component_for(&router, "/one/exact").as_deref(),
            Some("exact")
        );
        assert_eq!(
            component_for(&router, "/one/other").as_deref(),
            Some("param")
        );
        assert_eq!(component_for(&router, "/one/two").as_deref(), Some("two"));
        Ok(())
    }

    #[test]
    fn duplicates_last_one_wins() -> anyhow::Result<()> {
        let (router, warnings) = Router::build([("/a", "first"), ("/a", "second")])?;
        assert_eq!(component_for(&router, "/a").as_deref(), Some("second"));
        assert_eq!(warnings.len(), 1);
        Ok(())
    }
}
