//! HTTP routing, as Spin 4.0.2's HTTP trigger does it: the same `routefinder` crate, fed the
//! same route specs, so matches and tie-breaks are Spin's by construction.
//!
//! A route is a `/`-separated pattern: literal segments, `:name` segments that match exactly
//! one path segment, and an optional trailing `/...` wildcard that matches any rest (including
//! nothing). Spin turns `/a/...` into the routefinder spec `/a/*` and picks
//! `routefinder::Router::best_match`: comparing specs segment by segment, a literal beats a
//! `:name`, which beats the wildcard; specs equal that far are ordered by dots (more first),
//! then by length (shorter first), then by insertion order (first added wins). So `/a` beats
//! `/a/...` for the path `/a`, and of `/a/:x` and `/a/:y` the one listed first in the manifest
//! wins. A trailing slash on the request path is ignored for matching. Duplicate routes (same
//! text): the last one wins, with a warning, as in Spin.

/// What a route maps to.
#[derive(Debug, Clone)]
struct RouteHandler {
    /// The component that serves the route.
    component: String,
    /// The route joined with the base `/` (`spin-matched-route`).
    based: String,
    /// The route as written in the manifest (`spin-raw-component-route`).
    raw: String,
}

/// The routes of the application.
#[derive(Debug)]
pub struct Router {
    router: routefinder::Router<RouteHandler>,
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
    pub params: Vec<(String, String)>,
}

/// Makes a route absolute and strips one trailing slash: Spin's `sanitize_with_base("/", ..)`.
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

/// The routefinder spec of a based route, as Spin's `Router::parse_route` writes it.
fn route_spec(based: &str) -> Result<routefinder::RouteSpec, String> {
    match based.strip_suffix("/...") {
        Some(prefix) => format!("{prefix}/*").try_into(),
        None => based.try_into(),
    }
}

impl Router {
    /// Builds a router from `(route, component)` pairs in manifest order; also returns a
    /// warning per duplicate route.
    pub fn build<'a>(
        routes: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) -> anyhow::Result<(Self, Vec<String>)> {
        // Spin keeps routes in an `IndexMap` keyed by the raw route: a duplicate replaces the
        // earlier entry's component and keeps its position.
        let mut entries: Vec<RouteHandler> = Vec::new();
        let mut warnings = Vec::new();
        for (raw, component) in routes {
            let handler = RouteHandler {
                component: component.to_owned(),
                based: based_route(raw),
                raw: raw.to_owned(),
            };
            match entries.iter_mut().find(|existing| existing.raw == raw) {
                Some(existing) => {
                    warnings.push(format!(
                        "duplicate route {raw:?}: component {:?} replaces {:?}, which will never \
                         be used",
                        handler.component, existing.component
                    ));
                    *existing = handler;
                }
                None => entries.push(handler),
            }
        }
        let mut router = routefinder::Router::new();
        for handler in entries {
            let spec = route_spec(&handler.based).map_err(|error| {
                anyhow::anyhow!(
                    "route {:?} of component {:?}: {error}",
                    handler.raw,
                    handler.component
                )
            })?;
            // Adding a parsed spec cannot fail (its error type is `Infallible`).
            let Ok(()) = router.add(spec, handler);
        }
        Ok((Self { router }, warnings))
    }

    /// Finds the route Spin would pick for a request path.
    pub fn route(&self, path: &str) -> Option<RouteMatch<'_>> {
        let best = self.router.best_match(path)?;
        let handler = best.handler();
        let captures = best.captures();
        let params = captures
            .iter()
            .map(|(name, value)| (name.to_owned(), value.to_owned()))
            .collect();
        // Spin keeps the request's trailing slash in the path info, which routefinder drops.
        let path_info = match captures.wildcard() {
            None => String::new(),
            Some(rest) => match (rest.is_empty(), path.ends_with('/')) {
                (true, false) => String::new(),
                (true, true) => "/".to_owned(),
                (false, false) => format!("/{rest}"),
                (false, true) => format!("/{rest}/"),
            },
        };
        Some(RouteMatch {
            component: &handler.component,
            raw_route: &handler.raw,
            based_route: &handler.based,
            raw_route_or_prefix: handler.raw.strip_suffix("/...").unwrap_or(&handler.raw),
            path_info,
            params,
        })
    }
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
        assert_eq!(
            matched.params,
            vec![("event_id".to_owned(), "e1".to_owned())]
        );
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

    /// Ties between routes that match the same path, decided as Spin's router (routefinder
    /// 0.5.4) decides them: segment by segment literal > `:name` > wildcard; then more dots
    /// win; then the shorter spec wins; routes equal on all of that: the first one added.
    #[test]
    fn ties_are_broken_as_spin_breaks_them() -> anyhow::Result<()> {
        // (routes in manifest order, request path, component that must serve it)
        type Case<'a> = (&'a [(&'a str, &'a str)], &'a str, &'a str);
        let cases: &[Case<'_>] = &[
            // Two parameters in the same place: the first route in the manifest wins, in
            // either order.
            (&[("/a/:x", "x"), ("/a/:y", "y")], "/a/1", "x"),
            (&[("/a/:y", "y"), ("/a/:x", "x")], "/a/1", "y"),
            // Two routes that differ only in a trailing slash are not duplicates (the raw
            // text differs) but have the same spec: the first one added wins.
            (&[("/a", "plain"), ("/a/", "slash")], "/a", "plain"),
            (&[("/a/", "slash"), ("/a", "plain")], "/a", "slash"),
            // A literal beats a parameter at the first segment where they differ, whatever
            // follows.
            (
                &[("/:p/b", "param-first"), ("/a/:q", "literal-first")],
                "/a/b",
                "literal-first",
            ),
            // A parameter beats the wildcard at the same place.
            (
                &[("/a/...", "wild"), ("/a/:p/...", "param")],
                "/a/b",
                "param",
            ),
            (
                &[("/a/...", "wild"), ("/a/:p/...", "param")],
                "/a/b/c",
                "param",
            ),
            // A wildcard that matches nothing ties with the exact route on every segment
            // they share; the shorter spec (the exact one) wins, in either order.
            (&[("/a", "exact"), ("/a/...", "wild")], "/a", "exact"),
            (&[("/a/...", "wild"), ("/a", "exact")], "/a", "exact"),
            // An exact route beats a shorter wildcard.
            (&[("/...", "all"), ("/one", "one")], "/one", "one"),
            // The longer wildcard prefix wins.
            (&[("/...", "all"), ("/a/...", "a")], "/a/b", "a"),
        ];
        let mut failures = Vec::new();
        for (routes, path, expected) in cases {
            let (router, _) = Router::build(routes.iter().copied())?;
            let got = component_for(&router, path);
            if got.as_deref() != Some(*expected) {
                failures.push(format!("{routes:?} {path}: {got:?}, expected {expected}"));
            }
        }
        assert!(failures.is_empty(), "{failures:#?}");
        Ok(())
    }

    /// Spin's headers for a route with a parameter and a trailing wildcard.
    #[test]
    fn spin_headers_of_a_wildcard_match() -> anyhow::Result<()> {
        let (router, _) = Router::build([("/1/:two/...", "comp")])?;
        let matched = router
            .route("/1/2/3/")
            .ok_or_else(|| anyhow::anyhow!("no match"))?;
        assert_eq!(matched.params, vec![("two".to_owned(), "2".to_owned())]);
        assert_eq!(matched.path_info, "/3/");
        assert_eq!(matched.raw_route_or_prefix, "/1/:two");
        assert_eq!(matched.based_route, "/1/:two/...");
        Ok(())
    }

    #[test]
    fn unparseable_routes_are_refused() {
        let error = Router::build([("/a/:", "comp")])
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(error.contains("\"comp\""), "{error}");
    }
}
