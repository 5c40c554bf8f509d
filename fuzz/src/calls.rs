//! Requests a client can send, as the request-level targets build them
//! from fuzzer input: every route, right and wrong methods, known and
//! mangled ids, hold ids edited byte by byte, `Authorization` and
//! `Idempotency-Key` headers right, nearly right and arbitrary, and bodies
//! that are the right shape with wrong values, foreign JSON, or raw bytes.

use crate::fixture::{EVENT, Fixture, REQUESTS_PER_RUN_MAX, TOKEN, request, seat};
use crate::json::Json;
use arbitrary::Arbitrary;
use booking_core::Request;
use serde_json::{Map, Value};

#[derive(Debug, Arbitrary)]
pub struct Call {
    pub method: Method,
    pub path: Path,
    pub authorization: Option<Authorization>,
    pub idempotency_key: Option<Key>,
    pub body: Body,
}

#[derive(Debug, Arbitrary)]
pub enum Method {
    Get,
    Head,
    Put,
    Post,
    Delete,
    Options,
    Other(String),
}

#[derive(Debug, Arbitrary)]
pub enum Id {
    Known,
    /// Another valid id: an event that does not exist.
    Other(u8),
    Raw(String),
}

#[derive(Debug, Arbitrary)]
pub enum HoldId {
    Known(u8),
    /// A known id with one byte replaced.
    Edited {
        hold: u8,
        at: u8,
        byte: u8,
    },
    Raw(String),
}

#[derive(Debug, Arbitrary)]
pub enum Path {
    Event(Id),
    Availability(Id),
    Holds(Id),
    Hold(HoldId),
    Confirm(HoldId),
    Release(HoldId),
    /// A known path with a suffix (query string, fragment, more segments).
    Suffixed(Box<Path>, String),
    Raw(String),
}

#[derive(Debug, Arbitrary)]
pub enum Authorization {
    Right,
    /// The right token under a scheme spelt with these letters' cases.
    SchemeCase(u8),
    /// The right token with one byte replaced.
    Edited {
        at: u8,
        byte: u8,
    },
    Raw(String),
}

#[derive(Debug, Arbitrary)]
pub enum Key {
    /// A key the fixture used, so the request may be a replay.
    Known(u8),
    Raw(String),
}

/// A field of a body: absent, a value the fixture knows, or any JSON.
#[derive(Debug, Arbitrary)]
pub enum Field {
    Absent,
    Known(u8),
    Json(Json),
}

#[derive(Debug, Arbitrary)]
pub enum Body {
    Empty,
    Raw(Vec<u8>),
    Json(Json),
    Hold {
        section: Field,
        quantity: Field,
        seats: Option<Vec<Field>>,
        customer_id: Field,
    },
    Confirm(Field),
    /// The fixture's definition with one place replaced.
    Definition {
        at: u16,
        with: Json,
    },
    /// A body placed by the fixture, sent again.
    Placed(u8),
}

fn pick<T>(items: &[T], index: impl Into<usize>) -> Option<&T> {
    let index = index.into();
    (!items.is_empty()).then(|| &items[index % items.len()])
}

impl Call {
    pub fn request(&self, fixture: &Fixture, holds: &[String]) -> Request {
        let method = match &self.method {
            Method::Get => "GET",
            Method::Head => "HEAD",
            Method::Put => "PUT",
            Method::Post => "POST",
            Method::Delete => "DELETE",
            Method::Options => "OPTIONS",
            Method::Other(other) => other.as_str(),
        };
        let mut headers: Vec<(String, String)> = Vec::new();
        if let Some(authorization) = &self.authorization {
            headers.push(("authorization".into(), authorization.value()));
        }
        if let Some(key) = &self.idempotency_key {
            headers.push(("idempotency-key".into(), key.value(fixture)));
        }
        let mut request = request(
            method,
            &self.path.value(holds),
            &[],
            self.body.bytes(fixture),
        );
        request.headers = headers;
        request
    }
}

impl Path {
    pub fn value(&self, holds: &[String]) -> String {
        match self {
            Path::Event(id) => format!("/events/{}", id.value()),
            Path::Availability(id) => format!("/events/{}/availability", id.value()),
            Path::Holds(id) => format!("/events/{}/holds", id.value()),
            Path::Hold(id) => format!("/holds/{}", id.value(holds)),
            Path::Confirm(id) => format!("/holds/{}/confirm", id.value(holds)),
            Path::Release(id) => format!("/holds/{}/release", id.value(holds)),
            Path::Suffixed(path, suffix) => format!("{}{suffix}", path.value(holds)),
            Path::Raw(raw) => raw.clone(),
        }
    }

    /// The route this path names, when it is one built from known parts.
    pub fn is_holds_of_known_event(&self) -> bool {
        matches!(self, Path::Holds(Id::Known))
    }

    pub fn is_confirm(&self) -> bool {
        matches!(self, Path::Confirm(_))
    }
}

impl Id {
    fn value(&self) -> String {
        match self {
            Id::Known => EVENT.to_owned(),
            Id::Other(n) => format!("event-{n}"),
            Id::Raw(raw) => raw.clone(),
        }
    }
}

impl HoldId {
    fn value(&self, holds: &[String]) -> String {
        match self {
            HoldId::Known(index) => pick(holds, *index).cloned().unwrap_or_default(),
            HoldId::Edited { hold, at, byte } => {
                let mut bytes = pick(holds, *hold).cloned().unwrap_or_default().into_bytes();
                if !bytes.is_empty() {
                    let at = usize::from(*at) % bytes.len();
                    bytes[at] = *byte;
                }
                String::from_utf8_lossy(&bytes).into_owned()
            }
            HoldId::Raw(raw) => raw.clone(),
        }
    }
}

impl Authorization {
    pub fn value(&self) -> String {
        match self {
            Authorization::Right => format!("Bearer {TOKEN}"),
            Authorization::SchemeCase(mask) => {
                let scheme: String = "bearer"
                    .chars()
                    .enumerate()
                    .map(|(i, c)| {
                        if mask >> i & 1 == 1 {
                            c.to_ascii_uppercase()
                        } else {
                            c
                        }
                    })
                    .collect();
                format!("{scheme} {TOKEN}")
            }
            Authorization::Edited { at, byte } => {
                let mut bytes = format!("Bearer {TOKEN}").into_bytes();
                let at = usize::from(*at) % bytes.len();
                bytes[at] = *byte;
                String::from_utf8_lossy(&bytes).into_owned()
            }
            Authorization::Raw(raw) => raw.clone(),
        }
    }
}

/// Whether the confirm and admin routes must accept this header value:
/// exactly `Bearer` (any case), one space, and the token.
pub fn accepted(authorization: Option<&str>) -> bool {
    authorization.is_some_and(|value| {
        value.len() == TOKEN.len() + 7
            && value.is_char_boundary(7)
            && value[..7].eq_ignore_ascii_case("bearer ")
            && &value[7..] == TOKEN
    })
}

/// Whether an `Idempotency-Key` value obeys the documented rule:
/// 16..=128 printable ASCII characters.
pub fn valid_key(key: &str) -> bool {
    (16..=128).contains(&key.len()) && key.bytes().all(|b| (0x20..0x7f).contains(&b))
}

impl Key {
    fn value(&self, fixture: &Fixture) -> String {
        match self {
            Key::Known(index) => {
                let keys: Vec<&String> = fixture
                    .holds
                    .iter()
                    .filter_map(|h| h.key.as_ref())
                    .collect();
                pick(&keys, *index)
                    .map(|k| (*k).clone())
                    .unwrap_or_default()
            }
            Key::Raw(raw) => raw.clone(),
        }
    }
}

impl Field {
    fn value(&self, known: &[Value]) -> Option<Value> {
        match self {
            Field::Absent => None,
            Field::Known(index) => pick(known, *index).cloned(),
            Field::Json(json) => Some(json.value()),
        }
    }
}

impl Body {
    pub fn bytes(&self, fixture: &Fixture) -> Vec<u8> {
        match self {
            Body::Empty => Vec::new(),
            Body::Raw(raw) => raw.clone(),
            Body::Json(json) => json.value().to_string().into_bytes(),
            Body::Hold {
                section,
                quantity,
                seats,
                customer_id,
            } => {
                let sections = ["floor", "A", "balcony"].map(Value::from);
                let quantities: Vec<Value> = (0..=11).map(Value::from).collect();
                let seat_ids: Vec<Value> =
                    (0..crate::fixture::SEATS).map(|i| seat(i).into()).collect();
                let customers = ["c-1", "c-2", "c-3"].map(Value::from);
                let mut body = Map::new();
                let mut set = |name: &str, value: Option<Value>| {
                    if let Some(value) = value {
                        body.insert(name.to_owned(), value);
                    }
                };
                set("section", section.value(&sections));
                set("quantity", quantity.value(&quantities));
                let seats = seats.as_ref().map(|seats| {
                    Value::Array(seats.iter().filter_map(|s| s.value(&seat_ids)).collect())
                });
                set("seats", seats);
                set("customer_id", customer_id.value(&customers));
                Value::Object(body).to_string().into_bytes()
            }
            Body::Confirm(payment_ref) => {
                let known = ["pay-setup", "pay-other"].map(Value::from);
                let mut body = Map::new();
                if let Some(value) = payment_ref.value(&known) {
                    body.insert("payment_ref".into(), value);
                }
                Value::Object(body).to_string().into_bytes()
            }
            Body::Definition { at, with } => {
                let mut definition = fixture.definition.clone();
                let places = crate::json::pointers(&definition);
                if let Some(place) = pick(&places, *at)
                    && let Some(target) = definition.pointer_mut(place)
                {
                    *target = with.value();
                }
                definition.to_string().into_bytes()
            }
            Body::Placed(index) => pick(&fixture.holds, *index)
                .map(|h| h.body.to_string().into_bytes())
                .unwrap_or_default(),
        }
    }
}

/// The calls of one run, at most [`REQUESTS_PER_RUN_MAX`].
pub fn bounded<T>(calls: &[T]) -> &[T] {
    &calls[..calls.len().min(REQUESTS_PER_RUN_MAX)]
}
