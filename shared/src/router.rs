//! The router: maps a path and method to an operation. The only module
//! that imports the operations; every component calls its own entry point
//! (`handle_hold` and so on), tests and the local runtime call [`handle`].

use crate::context::Ctx;
use crate::env::Env;
use crate::error::BookingError;
use crate::http::{Reply, Request};
use crate::ids::{invalid_id, is_valid_id};
use crate::limits::{ADMIN_REQUEST_BODY_BYTES_MAX, REQUEST_BODY_BYTES_MAX};
use crate::store::Store;
use crate::{availability, confirm, event, feed, hold, hold_status, release, stats};

/// The routes of the HTTP contract.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    Event(String),
    Availability(String),
    Holds(String),
    Hold(String),
    Confirm(String),
    Release(String),
    Changes(String),
    Stats(String),
    Unknown,
}

/// Which component is answering: each serves only its own routes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Component {
    Inventory,
    Availability,
    Hold,
    Confirm,
    Release,
    /// The change feed and the live stats: reads only, off the booking path.
    Feed,
}

impl Component {
    /// Largest request body this component reads: the admin route takes
    /// event definitions (up to 10,000 seats a section), the others small
    /// buyer requests.
    pub fn request_body_bytes_max(self) -> usize {
        match self {
            Component::Inventory => ADMIN_REQUEST_BODY_BYTES_MAX,
            Component::Availability
            | Component::Hold
            | Component::Confirm
            | Component::Release
            | Component::Feed => REQUEST_BODY_BYTES_MAX,
        }
    }
}

/// Methods allowed on a route, for 405 and for CORS preflight.
pub const EVENT_METHODS: &str = "GET, HEAD, PUT, OPTIONS";
pub const AVAILABILITY_METHODS: &str = "GET, HEAD, OPTIONS";
pub const HOLDS_METHODS: &str = "POST, OPTIONS";
pub const HOLD_METHODS: &str = "GET, HEAD, DELETE, OPTIONS";
pub const ACTION_METHODS: &str = "POST, OPTIONS";

impl Route {
    pub fn parse(path: &str) -> Route {
        let path = path.split(['?', '#']).next().unwrap_or_default();
        let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
        match segments.as_slice() {
            ["events", id] => Route::Event(decoded(id)),
            ["events", id, "availability"] => Route::Availability(decoded(id)),
            ["events", id, "holds"] => Route::Holds(decoded(id)),
            ["holds", id] => Route::Hold(decoded(id)),
            ["holds", id, "confirm"] => Route::Confirm(decoded(id)),
            ["holds", id, "release"] => Route::Release(decoded(id)),
            ["events", id, "changes"] => Route::Changes(decoded(id)),
            ["events", id, "stats"] => Route::Stats(decoded(id)),
            _ => Route::Unknown,
        }
    }

    fn allowed_methods(&self) -> &'static str {
        match self {
            Route::Event(_) => EVENT_METHODS,
            Route::Availability(_) | Route::Changes(_) | Route::Stats(_) => AVAILABILITY_METHODS,
            Route::Holds(_) => HOLDS_METHODS,
            Route::Hold(_) => HOLD_METHODS,
            Route::Confirm(_) | Route::Release(_) => ACTION_METHODS,
            Route::Unknown => "OPTIONS",
        }
    }

    /// The component spin.toml routes this path to: the one that serves
    /// it, or the catch-all's (availability) for unknown paths.
    pub fn component(path: &str) -> Component {
        Route::parse(path)
            .served_by()
            .unwrap_or(Component::Availability)
    }

    fn served_by(&self) -> Option<Component> {
        match self {
            Route::Event(_) => Some(Component::Inventory),
            Route::Availability(_) => Some(Component::Availability),
            Route::Holds(_) => Some(Component::Hold),
            Route::Confirm(_) => Some(Component::Confirm),
            Route::Hold(_) | Route::Release(_) => Some(Component::Release),
            Route::Changes(_) | Route::Stats(_) => Some(Component::Feed),
            Route::Unknown => None,
        }
    }
}

/// Answers one request. Never panics; every failure becomes a problem reply.
///
/// For tests and runtimes that choose the component at run time: it reaches
/// every operation. A build of one component calls that component's own
/// entry point (`handle_hold` and so on), which reaches only its operations,
/// so the others are not linked into it; the answers are the same.
pub fn handle<S: Store, E: Env>(
    component: Component,
    request: &Request,
    ctx: &Ctx<'_, S, E>,
) -> Reply {
    match component {
        Component::Inventory => handle_inventory(request, ctx),
        Component::Availability => handle_availability(request, ctx),
        Component::Hold => handle_hold(request, ctx),
        Component::Confirm => handle_confirm(request, ctx),
        Component::Release => handle_release(request, ctx),
        Component::Feed => handle_feed(request, ctx),
    }
}

/// [`handle`] for [`Component::Inventory`]: `/events/:id`.
pub fn handle_inventory<S: Store, E: Env>(request: &Request, ctx: &Ctx<'_, S, E>) -> Reply {
    answer(Component::Inventory, request, ctx, |route, method| {
        let Route::Event(id) = route else {
            return Err(not_allowed(route));
        };
        // The id before the method: a bad id names nothing (404), except
        // that creating one is a client error that says the rule (400).
        if method == "PUT" && !is_valid_id(id) {
            return Err(invalid_id("event id", id));
        }
        let id = path_id(id, "event")?;
        match method {
            "PUT" => event::put(ctx, id, request),
            "GET" => event::get(ctx, id),
            _ => Err(not_allowed(route)),
        }
    })
}

/// [`handle`] for [`Component::Availability`]: `/events/:id/availability`.
pub fn handle_availability<S: Store, E: Env>(request: &Request, ctx: &Ctx<'_, S, E>) -> Reply {
    answer(
        Component::Availability,
        request,
        ctx,
        |route, method| match (route, method) {
            (Route::Availability(id), "GET") => availability::get(ctx, path_id(id, "event")?),
            _ => Err(not_allowed(route)),
        },
    )
}

/// [`handle`] for [`Component::Hold`]: `/events/:id/holds`.
pub fn handle_hold<S: Store, E: Env>(request: &Request, ctx: &Ctx<'_, S, E>) -> Reply {
    answer(Component::Hold, request, ctx, |route, method| {
        match (route, method) {
            (Route::Holds(id), "POST") => hold::post(ctx, path_id(id, "event")?, request),
            _ => Err(not_allowed(route)),
        }
    })
}

/// [`handle`] for [`Component::Confirm`]: `/holds/:id/confirm`.
pub fn handle_confirm<S: Store, E: Env>(request: &Request, ctx: &Ctx<'_, S, E>) -> Reply {
    answer(Component::Confirm, request, ctx, |route, method| {
        match (route, method) {
            (Route::Confirm(id), "POST") => confirm::post(ctx, id, request),
            _ => Err(not_allowed(route)),
        }
    })
}

/// [`handle`] for [`Component::Release`]: `/holds/:id` (status and
/// release) and `/holds/:id/release`.
pub fn handle_release<S: Store, E: Env>(request: &Request, ctx: &Ctx<'_, S, E>) -> Reply {
    answer(Component::Release, request, ctx, |route, method| {
        match (route, method) {
            (Route::Hold(id), "GET") => hold_status::get(ctx, id, request),
            (Route::Hold(id), "DELETE") | (Route::Release(id), "POST") => {
                release::release(ctx, id, request)
            }
            _ => Err(not_allowed(route)),
        }
    })
}

/// [`handle`] for [`Component::Feed`]: `/events/:id/changes` and
/// `/events/:id/stats`.
pub fn handle_feed<S: Store, E: Env>(request: &Request, ctx: &Ctx<'_, S, E>) -> Reply {
    answer(Component::Feed, request, ctx, |route, method| {
        match (route, method) {
            (Route::Changes(id), "GET") => feed::get(ctx, path_id(id, "event")?, request),
            (Route::Stats(id), "GET") => stats::get(ctx, path_id(id, "event")?, request),
            _ => Err(not_allowed(route)),
        }
    })
}

/// What every component does around its operations: 404 for a route it
/// does not serve, the CORS preflight, 413, the error → reply mapping and
/// the headers every reply carries. `operation` gets only a route this
/// component serves, and the method: a pair it does not answer is a method
/// the route does not allow (405).
fn answer<S: Store, E: Env>(
    component: Component,
    request: &Request,
    ctx: &Ctx<'_, S, E>,
    operation: impl FnOnce(&Route, &str) -> Result<Reply, BookingError>,
) -> Reply {
    let route = Route::parse(&request.path);
    let mut reply = match dispatch(component, &route, request, operation) {
        Ok(reply) => reply,
        Err(error) => Reply::from(error),
    };
    if request.method == "HEAD" {
        reply.body.clear();
    }
    if request.method == "OPTIONS" && reply.status == 204 {
        reply.headers.push((
            "access-control-allow-methods".into(),
            route.allowed_methods().into(),
        ));
    }
    reply
        .headers
        .push(("x-cas-retries".into(), ctx.retries().to_string()));
    reply
}

fn dispatch(
    component: Component,
    route: &Route,
    request: &Request,
    operation: impl FnOnce(&Route, &str) -> Result<Reply, BookingError>,
) -> Result<Reply, BookingError> {
    // A route that belongs to another component only reaches us through the
    // catch-all route; it does not exist from this component's view.
    if route.served_by() != Some(component) {
        return Err(BookingError::NotFound(format!(
            "no route for {}",
            request.path
        )));
    }
    if request.method == "OPTIONS" {
        return Ok(Reply::empty(204));
    }
    let limit_bytes = component.request_body_bytes_max();
    if request.body.len() > limit_bytes {
        return Err(BookingError::PayloadTooLarge { limit_bytes });
    }
    // HEAD is GET without the body (the body is dropped in `answer`).
    let method = match request.method.as_str() {
        "HEAD" => "GET",
        other => other,
    };
    operation(route, method)
}

fn not_allowed(route: &Route) -> BookingError {
    BookingError::MethodNotAllowed {
        allow: route.allowed_methods(),
    }
}

/// A path segment percent-decoded once (`gig%2D2026` is `gig-2026`); a
/// segment that does not decode to UTF-8 stays as sent, which the id rule
/// then refuses. Split first, then decode: `%2F` never makes a new segment.
fn decoded(segment: &str) -> String {
    percent_encoding::percent_decode_str(segment)
        .decode_utf8()
        .map_or_else(|_| segment.to_owned(), |id| id.into_owned())
}

/// An id in a path that breaks the id rule cannot name anything: 404.
fn path_id<'a>(id: &'a str, what: &str) -> Result<&'a str, BookingError> {
    if is_valid_id(id) {
        Ok(id)
    } else {
        Err(BookingError::NotFound(format!("no {what} with this id")))
    }
}

#[cfg(test)]
#[path = "table_tests/router.rs"]
mod table_tests;
