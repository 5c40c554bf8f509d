//! Request and reply types shared by every component, and the router that
//! maps a path and method to an operation. The Spin adapter only converts
//! between Spin's types and these.

use crate::env::Env;
use crate::error::BookingError;
use crate::ids::is_valid_id;
use crate::limits::REQUEST_BODY_BYTES_MAX;
use crate::store::Store;
use crate::{availability, confirm, event, hold, hold_status, release};
use serde::Serialize;
use std::cell::Cell;

/// A request as the core sees it.
#[derive(Debug, Clone, Default)]
pub struct Request {
    pub method: String,
    /// The path, without query string.
    pub path: String,
    /// Header names in lower case.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Request {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// A reply; the adapter adds CORS headers to every one.
#[derive(Debug, Clone, PartialEq)]
pub struct Reply {
    pub status: u16,
    pub content_type: &'static str,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Reply {
    pub fn json<T: Serialize + ?Sized>(status: u16, body: &T) -> Self {
        // Serialising our own plain structs and `Value`s cannot fail; if it
        // ever did, an empty object is still valid JSON.
        let body = serde_json::to_vec(body).unwrap_or_else(|_| b"{}".to_vec());
        Self {
            status,
            content_type: "application/json",
            headers: Vec::new(),
            body,
        }
    }

    pub fn empty(status: u16) -> Self {
        Self {
            status,
            content_type: "application/json",
            headers: Vec::new(),
            body: Vec::new(),
        }
    }
}

/// Settings that come from Spin variables.
#[derive(Debug, Clone)]
pub struct Config {
    /// `None` (or empty) disables the admin routes.
    pub admin_token: Option<String>,
    pub hold_ttl_seconds_default: u32,
}

/// Everything an operation needs: the store, the environment, the settings,
/// and a counter of CAS retries for this request (reported in a header).
pub struct Ctx<'a, S, E> {
    pub store: &'a S,
    pub env: &'a E,
    pub config: &'a Config,
    retries: Cell<u32>,
}

impl<'a, S: Store, E: Env> Ctx<'a, S, E> {
    pub fn new(store: &'a S, env: &'a E, config: &'a Config) -> Self {
        Self {
            store,
            env,
            config,
            retries: Cell::new(0),
        }
    }

    pub fn note_retry(&self) {
        self.retries.set(self.retries.get().saturating_add(1));
    }

    pub fn retries(&self) -> u32 {
        self.retries.get()
    }
}

/// The routes of the HTTP contract.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    Event(String),
    Availability(String),
    Holds(String),
    Hold(String),
    Confirm(String),
    Release(String),
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
}

/// Methods allowed on a route, for 405 and for CORS preflight.
pub const EVENT_METHODS: &str = "GET, PUT, OPTIONS";
pub const AVAILABILITY_METHODS: &str = "GET, OPTIONS";
pub const HOLDS_METHODS: &str = "POST, OPTIONS";
pub const HOLD_METHODS: &str = "GET, DELETE, OPTIONS";
pub const ACTION_METHODS: &str = "POST, OPTIONS";

impl Route {
    pub fn parse(path: &str) -> Route {
        let path = path.split(['?', '#']).next().unwrap_or_default();
        let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
        match segments.as_slice() {
            ["events", id] => Route::Event((*id).to_owned()),
            ["events", id, "availability"] => Route::Availability((*id).to_owned()),
            ["events", id, "holds"] => Route::Holds((*id).to_owned()),
            ["holds", id] => Route::Hold((*id).to_owned()),
            ["holds", id, "confirm"] => Route::Confirm((*id).to_owned()),
            ["holds", id, "release"] => Route::Release((*id).to_owned()),
            _ => Route::Unknown,
        }
    }

    fn allowed_methods(&self) -> &'static str {
        match self {
            Route::Event(_) => EVENT_METHODS,
            Route::Availability(_) => AVAILABILITY_METHODS,
            Route::Holds(_) => HOLDS_METHODS,
            Route::Hold(_) => HOLD_METHODS,
            Route::Confirm(_) | Route::Release(_) => ACTION_METHODS,
            Route::Unknown => "OPTIONS",
        }
    }

    fn served_by(&self) -> Option<Component> {
        match self {
            Route::Event(_) => Some(Component::Inventory),
            Route::Availability(_) => Some(Component::Availability),
            Route::Holds(_) => Some(Component::Hold),
            Route::Confirm(_) => Some(Component::Confirm),
            Route::Hold(_) | Route::Release(_) => Some(Component::Release),
            Route::Unknown => None,
        }
    }
}

/// Answers one request. Never panics; every failure becomes a problem reply.
pub fn handle<S: Store, E: Env>(
    component: Component,
    request: &Request,
    ctx: &Ctx<'_, S, E>,
) -> Reply {
    let route = Route::parse(&request.path);
    let mut reply = match dispatch(component, &route, request, ctx) {
        Ok(reply) => reply,
        Err(error) => error.into_reply(),
    };
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

fn dispatch<S: Store, E: Env>(
    component: Component,
    route: &Route,
    request: &Request,
    ctx: &Ctx<'_, S, E>,
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
    if request.body.len() > REQUEST_BODY_BYTES_MAX {
        return Err(BookingError::PayloadTooLarge);
    }
    let method = request.method.as_str();
    let not_allowed = || BookingError::MethodNotAllowed {
        allow: route.allowed_methods(),
    };
    match route {
        Route::Event(id) => {
            let id = path_id(id, "event")?;
            match method {
                "PUT" => event::put(ctx, id, request),
                "GET" => event::get(ctx, id),
                _ => Err(not_allowed()),
            }
        }
        Route::Availability(id) => match method {
            "GET" => availability::get(ctx, path_id(id, "event")?),
            _ => Err(not_allowed()),
        },
        Route::Holds(id) => match method {
            "POST" => hold::post(ctx, path_id(id, "event")?, request),
            _ => Err(not_allowed()),
        },
        Route::Hold(id) => match method {
            "GET" => hold_status::get(ctx, id),
            "DELETE" => release::post(ctx, id),
            _ => Err(not_allowed()),
        },
        Route::Confirm(id) => match method {
            "POST" => confirm::post(ctx, id, request),
            _ => Err(not_allowed()),
        },
        Route::Release(id) => match method {
            "POST" => release::post(ctx, id),
            _ => Err(not_allowed()),
        },
        Route::Unknown => Err(BookingError::NotFound(format!(
            "no route for {}",
            request.path
        ))),
    }
}

/// An id in a path that breaks the id rule cannot name anything: 404.
fn path_id<'a>(id: &'a str, what: &str) -> Result<&'a str, BookingError> {
    if is_valid_id(id) {
        Ok(id)
    } else {
        Err(BookingError::NotFound(format!("no {what} with this id")))
    }
}

/// Parses a JSON body; malformed JSON or wrong types are 400.
pub fn parse_json<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, BookingError> {
    serde_json::from_slice(body)
        .map_err(|e| BookingError::BadRequest(format!("malformed JSON body: {e}")))
}
