//! Request and reply types shared by every component, and the one place a
//! [`BookingError`] becomes a problem+json reply. The Spin adapter only
//! converts between Spin's types and these.

use crate::context::Ctx;
use crate::env::Env;
use crate::error::{BookingError, Token};
use crate::identity::{Buyer, bearer_token};
use crate::store::Store;
use serde::Serialize;

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
    /// For the operator's log, never the client: what went wrong inside
    /// (store error text, key names) behind a 500 or 503 whose body only
    /// says what to do. The adapter writes it to stderr.
    pub log: Option<String>,
}

impl Reply {
    pub fn json<T: Serialize + ?Sized>(status: u16, body: &T) -> Self {
        // Serialising our own plain structs and `Value`s cannot fail; if it
        // ever did, an empty object is still valid JSON.
        let mut body = serde_json::to_vec(body).unwrap_or_else(|_| b"{}".to_vec());
        // A trailing newline, so that curl's output ends its line.
        body.push(b'\n');
        Self {
            status,
            content_type: "application/json",
            headers: Vec::new(),
            body,
            log: None,
        }
    }

    pub fn empty(status: u16) -> Self {
        Self {
            status,
            content_type: "application/json",
            headers: Vec::new(),
            body: Vec::new(),
            log: None,
        }
    }
}

/// The `Access-Control-Allow-Origin` of an answer, from the `cors_origin`
/// setting and the request's `Origin`: `*` (or nothing set) allows any
/// origin; otherwise the setting lists origins (separated by commas or
/// spaces) and the request's origin is echoed when it is one of them, and
/// `None` (no header: the browser refuses) when it is not.
pub fn allowed_origin(configured: &str, request_origin: Option<&str>) -> Option<String> {
    let mut listed = configured
        .split([',', ' '])
        .map(str::trim)
        .filter(|o| !o.is_empty())
        .peekable();
    if listed.peek().is_none() || configured.trim() == "*" {
        return Some("*".to_owned());
    }
    let origin = request_origin?.trim();
    listed
        .find(|allowed| allowed.eq_ignore_ascii_case(origin))
        .map(|_| origin.to_owned())
}

/// Checks `Authorization: Bearer <token>` against the configured token of
/// a route: none configured (or empty) disables the route (503); a missing
/// or wrong one is 401.
pub fn authorize(
    request: &Request,
    token: Token,
    configured: Option<&str>,
) -> Result<(), BookingError> {
    authorize_any(request, token, &[configured])
}

/// [`authorize`] for a route that takes any of several tokens (organiser
/// data: the organiser or the admin token). Compared in constant time, and
/// against every configured token, so response timing does not leak how
/// much of a guessed token was right or which one it was near.
pub fn authorize_any(
    request: &Request,
    token: Token,
    configured: &[Option<&str>],
) -> Result<(), BookingError> {
    use subtle::ConstantTimeEq;
    let mut expected = configured.iter().flatten().filter(|t| !t.is_empty());
    let Some(first) = expected.next() else {
        return Err(BookingError::Disabled(token));
    };
    // The scheme is case-insensitive (RFC 9110); the token is compared as is.
    let presented = bearer_token(request.header("authorization")).unwrap_or_default();
    let matched = expected.fold(presented.as_bytes().ct_eq(first.as_bytes()), |any, t| {
        any | presented.as_bytes().ct_eq(t.as_bytes())
    });
    if bool::from(matched) {
        Ok(())
    } else {
        Err(BookingError::Unauthorized(token))
    }
}

/// Organiser data (`/stats`, the customer ids of the change feed): the
/// organiser or the admin token.
pub fn authorize_organiser<S: Store, E: Env>(
    ctx: &Ctx<'_, S, E>,
    request: &Request,
) -> Result<(), BookingError> {
    let config = ctx.config;
    authorize_any(
        request,
        Token::Organiser,
        &[
            config.organiser_token.as_deref(),
            config.admin_token.as_deref(),
        ],
    )
}

/// The verified buyer of a booking request (`None` with buyer identity off),
/// checked before anything is read or written, so a refused token changes
/// nothing.
pub fn buyer<S: Store, E: Env>(
    ctx: &Ctx<'_, S, E>,
    request: &Request,
) -> Result<Option<Buyer>, BookingError> {
    ctx.config
        .buyer_tokens
        .buyer(request.header("authorization"), ctx.env.now_ms())
}

/// Parses a JSON body; malformed JSON or wrong types are 400.
pub fn parse_json<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, BookingError> {
    serde_json::from_slice(body)
        .map_err(|e| BookingError::BadRequest(format!("malformed JSON body: {e}")))
}

/// The one place an error becomes a reply: a problem document, with
/// `Retry-After` when a retry may succeed and `Allow` on 405.
impl From<BookingError> for Reply {
    fn from(error: BookingError) -> Self {
        let mut reply = Reply::json(error.status(), &error.body());
        reply.content_type = "application/problem+json";
        reply.log = error.internal_detail();
        if let Some(seconds) = error.retry_after() {
            reply
                .headers
                .push(("retry-after".into(), seconds.to_string()));
        }
        match error {
            BookingError::MethodNotAllowed { allow } => {
                reply.headers.push(("allow".into(), allow.into()));
            }
            BookingError::Unauthorized(_) => {
                reply
                    .headers
                    .push(("www-authenticate".into(), "Bearer".into()));
            }
            // RFC 6750 §3.1: a token was sent and is refused.
            BookingError::InvalidBuyerToken(_) => {
                reply.headers.push((
                    "www-authenticate".into(),
                    "Bearer error=\"invalid_token\"".into(),
                ));
            }
            _ => {}
        }
        reply
    }
}

#[cfg(test)]
mod tests {
    use super::allowed_origin;

    #[test]
    fn cors_origins_are_echoed_when_listed() {
        let a = "https://a.example";
        let b = "https://b.example:8443";
        let table = [
            ("any", "*", Some(a), Some("*")),
            ("any, no Origin", "*", None, Some("*")),
            ("nothing set", "", Some(a), Some("*")),
            ("one listed, matching", a, Some(a), Some(a)),
            (
                "several, the second",
                "https://a.example, https://b.example:8443",
                Some(b),
                Some(b),
            ),
            (
                "space-separated",
                "https://a.example https://b.example:8443",
                Some(a),
                Some(a),
            ),
            ("not listed", a, Some(b), None),
            ("listed, no Origin sent", a, None, None),
            (
                "a prefix is not a match",
                a,
                Some("https://a.example.evil"),
                None,
            ),
            (
                "case of the host",
                a,
                Some("https://A.example"),
                Some("https://A.example"),
            ),
        ];
        for (name, configured, origin, expected) in table {
            assert_eq!(
                allowed_origin(configured, origin).as_deref(),
                expected,
                "{name}"
            );
        }
    }
}
