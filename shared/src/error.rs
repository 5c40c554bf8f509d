//! The one error enum of the booking core, and what its RFC 9457 problem
//! document says (turned into a reply by the HTTP layer,
//! [`crate::http`]). Every expected failure is a variant here, so none can
//! turn into a bare 500.

use crate::limits::RETRY_AFTER_SECONDS;
use crate::store::StoreError;
use serde_json::{Value, json};
use std::fmt;

/// Problem `type` URIs are this prefix plus a slug, e.g. `.../sold-out`.
pub const PROBLEM_TYPE_PREFIX: &str = "https://booking.example/problems/";

#[derive(Debug, Clone, PartialEq)]
pub enum BookingError {
    /// Malformed JSON, a bad id inside a body, a bad header.
    BadRequest(String),
    Unauthorized,
    NotFound(String),
    MethodNotAllowed {
        allow: &'static str,
    },
    PayloadTooLarge,
    /// Valid JSON that breaks a rule; `slug` names the rule.
    Unprocessable {
        slug: &'static str,
        detail: String,
    },
    EventConflict,
    SoldOut {
        requested: u32,
        available: u32,
    },
    SeatsUnavailable {
        unavailable: Vec<String>,
    },
    CustomerLimit {
        limit: u32,
        current: u32,
        requested: u32,
    },
    RequestInProgress,
    /// The key's hold ended and was forgotten: a new hold needs a new key.
    IdempotencyKeySpent,
    HoldReleased,
    HoldConfirmed,
    HoldExpired,
    AdminDisabled,
    /// A creation of this event is under way (or died and is not yet stale).
    EventNotReady,
    /// CAS attempts ran out on a hot document.
    Contention,
    Store(StoreError),
    /// A stored document that does not parse, or a broken invariant.
    Internal(String),
}

impl From<StoreError> for BookingError {
    fn from(error: StoreError) -> Self {
        BookingError::Store(error)
    }
}

impl fmt::Display for BookingError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (status, slug, _, detail) = self.parts();
        write!(f, "{status} {slug}: {detail}")
    }
}

impl std::error::Error for BookingError {}

impl BookingError {
    pub fn invalid(slug: &'static str, detail: impl Into<String>) -> Self {
        BookingError::Unprocessable {
            slug,
            detail: detail.into(),
        }
    }

    /// Status, slug, title and detail of the problem.
    fn parts(&self) -> (u16, &'static str, &'static str, String) {
        use BookingError::*;
        match self {
            BadRequest(d) => (400, "bad-request", "Bad request", d.clone()),
            Unauthorized => (
                401,
                "unauthorized",
                "Unauthorized",
                "a valid `Authorization: Bearer <admin_token>` header is required".into(),
            ),
            NotFound(d) => (404, "not-found", "Not found", d.clone()),
            MethodNotAllowed { allow } => (
                405,
                "method-not-allowed",
                "Method not allowed",
                format!("this route allows {allow}"),
            ),
            PayloadTooLarge => (
                413,
                "payload-too-large",
                "Payload too large",
                format!(
                    "request bodies are limited to {} bytes",
                    crate::limits::REQUEST_BODY_BYTES_MAX
                ),
            ),
            Unprocessable { slug, detail } => (422, slug, "Unprocessable request", detail.clone()),
            EventConflict => (
                409,
                "event-conflict",
                "Event exists with another definition",
                "an event with this id exists and its definition differs; events are immutable"
                    .into(),
            ),
            SoldOut {
                requested,
                available,
            } => (
                409,
                "sold-out",
                "Sold out",
                format!("{requested} requested, {available} available"),
            ),
            SeatsUnavailable { unavailable } => (
                409,
                "seats-unavailable",
                "Seats unavailable",
                format!("held or sold: {}", unavailable.join(", ")),
            ),
            CustomerLimit {
                limit,
                current,
                requested,
            } => (
                409,
                "customer-limit",
                "Customer limit reached",
                format!(
                    "limit {limit} per customer; {current} held or booked, {requested} requested"
                ),
            ),
            RequestInProgress => (
                409,
                "request-in-progress",
                "Request in progress",
                "a request with this Idempotency-Key is still being processed; retry shortly"
                    .into(),
            ),
            IdempotencyKeySpent => (
                410,
                "idempotency-key-spent",
                "Idempotency-Key spent",
                "the hold made with this key has ended and is forgotten; use a new key for a new hold"
                    .into(),
            ),
            HoldReleased => (
                409,
                "hold-released",
                "Hold released",
                "this hold was released".into(),
            ),
            HoldConfirmed => (
                409,
                "hold-confirmed",
                "Hold confirmed",
                "this hold is confirmed and can no longer be released".into(),
            ),
            HoldExpired => (
                410,
                "hold-expired",
                "Hold expired",
                "this hold has expired".into(),
            ),
            AdminDisabled => (
                503,
                "admin-disabled",
                "Admin disabled",
                "set the Spin variable `admin_token` to enable event administration".into(),
            ),
            EventNotReady => (
                503,
                "event-not-ready",
                "Event not ready",
                "this event is being created; retry shortly".into(),
            ),
            Contention => (
                503,
                "contention",
                "Too much contention",
                "too many concurrent updates of the same inventory; retry shortly".into(),
            ),
            Store(e) => (503, "store-unavailable", "Store unavailable", e.to_string()),
            Internal(d) => (500, "internal", "Internal error", d.clone()),
        }
    }

    pub fn status(&self) -> u16 {
        self.parts().0
    }

    /// Whether a retry of the same request may succeed soon.
    pub fn retry_after(&self) -> Option<u32> {
        match self {
            BookingError::RequestInProgress
            | BookingError::EventNotReady
            | BookingError::Contention
            | BookingError::Store(_) => Some(RETRY_AFTER_SECONDS),
            _ => None,
        }
    }

    /// The problem document.
    pub fn body(&self) -> Value {
        let (status, slug, title, detail) = self.parts();
        let mut body = json!({
            "type": format!("{PROBLEM_TYPE_PREFIX}{slug}"),
            "title": title,
            "status": status,
            "detail": detail,
        });
        match self {
            BookingError::SeatsUnavailable { unavailable } => {
                body["unavailable"] = json!(unavailable);
            }
            BookingError::SoldOut { available, .. } => body["available"] = json!(available),
            _ => {}
        }
        body
    }
}
