//! The one error enum of the booking core, and what its RFC 9457 problem
//! document says (turned into a reply by the HTTP layer,
//! [`crate::http`]). Every expected failure is a variant here, so none can
//! turn into a bare 500.

use crate::limits::{RETRY_AFTER_CAPACITY_SECONDS, RETRY_AFTER_SECONDS};
use crate::store::StoreError;
use serde_json::{Value, json};
use std::fmt;

/// Problem `type` URIs are this prefix plus a slug, e.g. `.../sold-out`.
pub const PROBLEM_TYPE_PREFIX: &str = "https://booking.example/problems/";

/// Which bearer token a route asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Token {
    /// `admin_token`: event administration.
    Admin,
    /// `confirm_token`: confirming holds, done by the payment side.
    Confirm,
    /// `organiser_token` or `admin_token`: reading organiser data (stats).
    Organiser,
    /// A buyer's JWT, verified with `buyer_token_key`.
    Buyer,
}

impl Token {
    fn variable(self) -> &'static str {
        match self {
            Token::Admin => "admin_token",
            Token::Confirm => "confirm_token",
            Token::Organiser => "organiser_token",
            Token::Buyer => "buyer_token_key",
        }
    }

    /// What the client must present, as a 401 names it.
    fn credential(self) -> &'static str {
        match self {
            Token::Admin => "admin_token",
            Token::Confirm => "confirm_token",
            Token::Organiser => "organiser_token or admin_token",
            Token::Buyer => "a buyer token (a JWT) from the site's login",
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum BookingError {
    /// Malformed JSON, a bad id inside a body, a bad header.
    BadRequest(String),
    /// The route needs `Authorization: Bearer <token>`, and none (or a
    /// wrong one) was sent.
    Unauthorized(Token),
    /// A buyer token was sent but is refused; the detail says why.
    InvalidBuyerToken(String),
    /// A verified buyer asked for what the token does not allow; `slug`
    /// names the rule.
    Forbidden {
        slug: &'static str,
        detail: String,
    },
    NotFound(String),
    MethodNotAllowed {
        allow: &'static str,
    },
    PayloadTooLarge {
        limit_bytes: usize,
    },
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
    HoldReleased,
    HoldConfirmed,
    HoldExpired,
    /// A confirmed hold confirmed again with another payment reference.
    PaymentRefMismatch,
    /// The token variable the route needs is empty.
    Disabled(Token),
    /// A creation of this event is under way (or died and is not yet stale).
    EventNotReady,
    /// CAS attempts ran out on a hot document.
    Contention,
    /// A bookkeeping bucket (`"idempotency"` or `"customer"`) is full of
    /// live entries: a new one cannot be recorded without forgetting one.
    BookkeepingFull(&'static str),
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
        let (status, slug, _) = self.kind();
        write!(f, "{status} {slug}: {}", self.detail())
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

    /// Status, slug and title of the problem.
    fn kind(&self) -> (u16, &'static str, &'static str) {
        use BookingError::*;
        match self {
            BadRequest(_) => (400, "bad-request", "Bad request"),
            Unauthorized(_) => (401, "unauthorized", "Unauthorized"),
            InvalidBuyerToken(_) => (401, "invalid-token", "Invalid buyer token"),
            Forbidden { slug, .. } => (403, slug, "Forbidden"),
            NotFound(_) => (404, "not-found", "Not found"),
            MethodNotAllowed { .. } => (405, "method-not-allowed", "Method not allowed"),
            PayloadTooLarge { .. } => (413, "payload-too-large", "Payload too large"),
            Unprocessable { slug, .. } => (422, slug, "Unprocessable request"),
            EventConflict => (
                409,
                "event-conflict",
                "Event exists with another definition",
            ),
            SoldOut { .. } => (409, "sold-out", "Sold out"),
            SeatsUnavailable { .. } => (409, "seats-unavailable", "Seats unavailable"),
            CustomerLimit { .. } => (409, "customer-limit", "Customer limit reached"),
            HoldReleased => (409, "hold-released", "Hold released"),
            HoldConfirmed => (409, "hold-confirmed", "Hold confirmed"),
            HoldExpired => (410, "hold-expired", "Hold expired"),
            PaymentRefMismatch => (409, "payment-ref-mismatch", "Payment reference mismatch"),
            Disabled(Token::Admin) => (503, "admin-disabled", "Admin disabled"),
            Disabled(Token::Confirm) => (503, "confirm-disabled", "Confirm disabled"),
            Disabled(Token::Organiser) => (503, "organiser-disabled", "Organiser data disabled"),
            // A 500, not a 503: nothing temporary, and no retry helps until
            // the operator fixes the key (a 503's contract is `Retry-After`).
            Disabled(Token::Buyer) => (
                500,
                "buyer-identity-misconfigured",
                "Buyer identity misconfigured",
            ),
            EventNotReady => (503, "event-not-ready", "Event not ready"),
            Contention => (503, "contention", "Too much contention"),
            BookkeepingFull(_) => (503, "bookkeeping-full", "Bookkeeping full"),
            Store(_) => (503, "store-unavailable", "Store unavailable"),
            Internal(_) => (500, "internal", "Internal error"),
        }
    }

    /// The problem's detail: what happened and what to do.
    fn detail(&self) -> String {
        use BookingError::*;
        match self {
            BadRequest(d)
            | NotFound(d)
            | Unprocessable { detail: d, .. }
            | Forbidden { detail: d, .. } => d.clone(),
            InvalidBuyerToken(why) => format!("the buyer token is refused: {why}"),
            // What went wrong inside goes to the operator's log
            // ([`BookingError::internal_detail`]), never to the client.
            Internal(_) => "an internal error; it was logged".into(),
            Unauthorized(token) => format!(
                "a valid `Authorization: Bearer <{}>` header is required",
                token.credential()
            ),
            MethodNotAllowed { allow } => format!("this route allows {allow}"),
            PayloadTooLarge { limit_bytes } => {
                format!("request bodies of this route are limited to {limit_bytes} bytes")
            }
            EventConflict => {
                "an event with this id exists and its definition differs; events are immutable"
                    .into()
            }
            SoldOut {
                requested,
                available,
            } => format!("{requested} requested, {available} available"),
            SeatsUnavailable { unavailable } => format!("held or sold: {}", unavailable.join(", ")),
            CustomerLimit {
                limit,
                current,
                requested,
            } => format!(
                "limit {limit} per customer; {current} held or booked, {requested} requested"
            ),
            HoldReleased => "this hold was released".into(),
            HoldConfirmed => "this hold is confirmed and can no longer be released".into(),
            HoldExpired => "this hold has expired".into(),
            PaymentRefMismatch => "this hold is confirmed with another payment_ref".into(),
            Disabled(token @ Token::Admin) => format!(
                "set the Spin variable `{}` to at least {} characters (for example SPIN_VARIABLE_{}=…) to enable this route",
                token.variable(),
                crate::limits::ADMIN_TOKEN_LENGTH_MIN,
                token.variable().to_ascii_uppercase()
            ),
            Disabled(Token::Organiser) => format!(
                "set the Spin variable `organiser_token` (read-only) or `admin_token` to at least {} characters to enable this route",
                crate::limits::ADMIN_TOKEN_LENGTH_MIN
            ),
            // Failing closed: a key that was meant to be checked is never
            // skipped because it could not be read.
            Disabled(Token::Buyer) => "buyer identity is configured but its key (`buyer_token_key`) is unusable; the operator's log says why".into(),
            Disabled(token) => format!(
                "set the Spin variable `{}` (for example SPIN_VARIABLE_{}=…) to enable this route",
                token.variable(),
                token.variable().to_ascii_uppercase()
            ),
            EventNotReady => "this event is being created; retry shortly".into(),
            Contention => "too many concurrent updates of the same inventory; retry shortly".into(),
            BookkeepingFull(what) => {
                format!("too many live {what} records for this event; retry later")
            }
            Store(_) => "the key-value store is unavailable; retry shortly".into(),
        }
    }

    /// The text behind a 500 or a store 503, for the operator's log only:
    /// it may name keys and carry the store's own error text.
    pub fn internal_detail(&self) -> Option<String> {
        match self {
            BookingError::Internal(detail) => Some(detail.clone()),
            BookingError::Store(error) => Some(error.to_string()),
            _ => None,
        }
    }

    pub fn status(&self) -> u16 {
        self.kind().0
    }

    /// Whether a retry of the same request may succeed soon.
    pub fn retry_after(&self) -> Option<u32> {
        match self {
            BookingError::EventNotReady | BookingError::Contention | BookingError::Store(_) => {
                Some(RETRY_AFTER_SECONDS)
            }
            BookingError::BookkeepingFull(_) => Some(RETRY_AFTER_CAPACITY_SECONDS),
            _ => None,
        }
    }

    /// The problem document.
    pub fn body(&self) -> Value {
        let (status, slug, title) = self.kind();
        let detail = self.detail();
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
