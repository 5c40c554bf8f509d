//! The thin Spin binding of the booking core.
//!
//! - [`SpinStore`]: the core's [`Store`] over `wasi:keyvalue` (store, atomics
//!   and batch, as spin-sdk 5.2 exposes them raw).
//! - [`RedisStore`]: the same trait on a Redis server through Spin's outbound
//!   Redis, used when the Spin variable `redis_address` is set.
//! - [`Backend`]: either of the two, as one type.
//! - [`serve`]: converts a Spin request, reads the Spin variables, calls
//!   the component's entry point in the core (`booking_core::handle_hold`
//!   and so on), and converts the reply, adding CORS headers to every
//!   response.

use booking_core::limits::HOLD_TTL_SECONDS_DEFAULT;
use booking_core::{
    BookingError, BuyerTokens, Component, Config, Ctx, Reply, Request, Snapshot, Store, StoreError,
    Swap, SystemEnv, Tuning, allowed_origin,
};
use futures::StreamExt;
use spin_sdk::http::{Headers, IncomingRequest, OutgoingResponse, ResponseOutparam};
use spin_sdk::wit::wasi::keyvalue::{atomics, batch, store};

/// Writes one line to the component's stderr (Spin's log), ignoring a
/// failure: Spin keeps component output under its state directory, so on a
/// full disk `eprintln!` would panic (trap) and turn a 503 into an empty 500.
macro_rules! log_line {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stderr(), $($arg)*);
    }};
}

mod redis_store;
pub use redis_store::{CAS_SCRIPT_SHA1, INCR_SCRIPT_SHA1, RedisCas, RedisStore};

/// The key-value store label every component is granted in spin.toml.
const STORE_LABEL: &str = "default";

/// Headers a browser may send cross-origin.
const CORS_ALLOW_HEADERS: &str = "authorization, content-type, idempotency-key";
/// Headers a browser script may read.
const CORS_EXPOSE_HEADERS: &str = "retry-after, allow, x-cas-retries, idempotency-replayed";
/// Bytes of an oversized body read (beyond the limit) and discarded before
/// answering 413.
const REQUEST_BODY_DISCARD_BYTES_MAX: usize = 1024 * 1024;
/// How long a browser may cache a preflight answer.
const CORS_MAX_AGE_SECONDS: u32 = 600;

/// The core's store on Spin's `wasi:keyvalue` bucket.
pub struct SpinStore {
    bucket: store::Bucket,
}

fn store_error(error: store::Error) -> StoreError {
    StoreError(match error {
        store::Error::NoSuchStore => "no such store".into(),
        store::Error::AccessDenied => "access denied".into(),
        store::Error::Other(message) => message,
    })
}

impl SpinStore {
    pub fn open() -> Result<Self, StoreError> {
        store::open(STORE_LABEL)
            .map(|bucket| Self { bucket })
            .map_err(store_error)
    }
}

impl Store for SpinStore {
    type Cas = atomics::Cas;

    fn get(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        self.bucket.get(key).map_err(store_error)
    }

    fn get_many(&self, keys: &[String]) -> Result<Vec<Option<Vec<u8>>>, StoreError> {
        let found = batch::get_many(&self.bucket, keys).map_err(store_error)?;
        // The interface returns pairs (Spin leaves absent keys out): match
        // them to the keys asked for rather than trusting order or count. A
        // key asked for twice gets its value in both places.
        let by_key: std::collections::HashMap<String, Option<Vec<u8>>> =
            found.into_iter().collect();
        Ok(keys
            .iter()
            .map(|key| by_key.get(key).cloned().flatten())
            .collect())
    }

    fn read_for_swap(&self, key: &str) -> Result<Snapshot<atomics::Cas>, StoreError> {
        let cas = atomics::Cas::new(&self.bucket, key).map_err(store_error)?;
        let value = cas.current().map_err(store_error)?;
        Ok(Snapshot { cas, value })
    }

    fn swap(&self, cas: atomics::Cas, value: &[u8]) -> Result<Swap<atomics::Cas>, StoreError> {
        match atomics::swap(cas, value) {
            Ok(()) => Ok(Swap::Done),
            // Spin hands back a handle on which `current` was already called:
            // the core's next attempt starts from it instead of reading again.
            Err(atomics::CasError::CasFailed(fresh)) => Ok(Swap::Conflict(
                fresh
                    .current()
                    .ok()
                    .map(|value| Snapshot { cas: fresh, value }),
            )),
            Err(atomics::CasError::StoreError(error)) => Err(store_error(error)),
        }
    }

    fn increment(&self, key: &str, delta: i64) -> Result<i64, StoreError> {
        atomics::increment(&self.bucket, key, delta).map_err(store_error)
    }

    fn put(&self, key: &str, value: &[u8]) -> Result<(), StoreError> {
        self.bucket.set(key, value).map_err(store_error)
    }
}

/// A Spin variable, or `None` if this component does not declare it or it
/// is empty.
fn variable(name: &str) -> Option<String> {
    spin_sdk::variables::get(name)
        .ok()
        .filter(|v| !v.is_empty())
}

/// The settings `component` uses. Each component reads only the secrets it
/// needs (every request instantiates a component, so the others skip those
/// host calls): the inventory component the admin variables, the confirm
/// component the confirm token, the hold and release components the buyer
/// token key, the feed component the organiser credentials (for `/stats`).
fn config(component: Component) -> Config {
    let mut config = Config {
        admin_token: None,
        confirm_token: None,
        organiser_token: None,
        buyer_tokens: BuyerTokens::Off,
        hold_ttl_seconds_default: HOLD_TTL_SECONDS_DEFAULT,
        tuning: Tuning::default(),
    };
    match component {
        Component::Inventory => {
            config.admin_token = token_variable("admin_token");
            if let Some(ttl) = variable("hold_ttl_seconds").and_then(|v| v.trim().parse().ok()) {
                config.hold_ttl_seconds_default = ttl;
            }
        }
        Component::Confirm => config.confirm_token = variable("confirm_token"),
        Component::Hold | Component::Release => config.buyer_tokens = buyer_tokens(),
        Component::Feed => {
            config.admin_token = token_variable("admin_token");
            config.organiser_token = token_variable("organiser_token");
        }
        Component::Availability => {}
    }
    config
}

/// A bearer token variable under the admin token's rule; a too short one
/// is left unset (its routes disabled), with the reason in the log.
fn token_variable(name: &str) -> Option<String> {
    variable(name).and_then(|raw| {
        Config::token_from(name, &raw)
            .map_err(|why| log_line!("booking: {why}"))
            .ok()
    })
}

/// `buyer_token_key` and `buyer_token_audience`; an unusable key turns the
/// booking routes off (500) rather than open, with the reason in the log.
fn buyer_tokens() -> BuyerTokens {
    let keys = variable("buyer_token_key").unwrap_or_default();
    let audience = variable("buyer_token_audience").unwrap_or_default();
    BuyerTokens::from_variables(&keys, &audience).unwrap_or_else(|why| {
        log_line!("booking: {why}; the booking routes answer 500 until it is fixed");
        BuyerTokens::Misconfigured
    })
}

/// The store a request runs on: either backend behind one type, so a
/// component compiles the core once rather than once per backend.
pub enum Backend {
    Spin(SpinStore),
    Redis(RedisStore),
}

/// The CAS handle of a [`Backend`].
pub enum BackendCas {
    Spin(atomics::Cas),
    Redis(RedisCas),
}

impl Backend {
    /// Redis when the component's `redis_address` variable is set, else the
    /// default key-value store.
    pub fn open() -> Result<Self, StoreError> {
        match variable("redis_address") {
            Some(address) => {
                let wait_replicas = match variable("redis_wait_replicas") {
                    None => 0,
                    Some(n) => n.trim().parse().map_err(|_| {
                        StoreError(format!("redis_wait_replicas is not a count: {n:?}"))
                    })?,
                };
                // Turns are on unless `redis_turns` is "0" (see redis_store).
                let turns = variable("redis_turns").is_none_or(|v| v.trim() != "0");
                RedisStore::open(&address, wait_replicas, turns).map(Backend::Redis)
            }
            None => SpinStore::open().map(Backend::Spin),
        }
    }
}

fn snapshot<C>(snapshot: Snapshot<C>, cas: fn(C) -> BackendCas) -> Snapshot<BackendCas> {
    Snapshot {
        cas: cas(snapshot.cas),
        value: snapshot.value,
    }
}

fn swapped<C>(swap: Swap<C>, cas: fn(C) -> BackendCas) -> Swap<BackendCas> {
    match swap {
        Swap::Done => Swap::Done,
        Swap::Conflict(fresh) => Swap::Conflict(fresh.map(|fresh| snapshot(fresh, cas))),
    }
}

impl Store for Backend {
    type Cas = BackendCas;

    fn get(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        match self {
            Backend::Spin(store) => store.get(key),
            Backend::Redis(store) => store.get(key),
        }
    }

    fn get_many(&self, keys: &[String]) -> Result<Vec<Option<Vec<u8>>>, StoreError> {
        match self {
            Backend::Spin(store) => store.get_many(keys),
            Backend::Redis(store) => store.get_many(keys),
        }
    }

    fn read_for_swap(&self, key: &str) -> Result<Snapshot<BackendCas>, StoreError> {
        match self {
            Backend::Spin(store) => Ok(snapshot(store.read_for_swap(key)?, BackendCas::Spin)),
            Backend::Redis(store) => Ok(snapshot(store.read_for_swap(key)?, BackendCas::Redis)),
        }
    }

    fn swap(&self, cas: BackendCas, value: &[u8]) -> Result<Swap<BackendCas>, StoreError> {
        match (self, cas) {
            (Backend::Spin(store), BackendCas::Spin(cas)) => {
                Ok(swapped(store.swap(cas, value)?, BackendCas::Spin))
            }
            (Backend::Redis(store), BackendCas::Redis(cas)) => {
                Ok(swapped(store.swap(cas, value)?, BackendCas::Redis))
            }
            // Handles come only from this store's own reads.
            _ => Err(StoreError("a CAS handle of the other backend".into())),
        }
    }

    fn increment(&self, key: &str, delta: i64) -> Result<i64, StoreError> {
        match self {
            Backend::Spin(store) => store.increment(key, delta),
            Backend::Redis(store) => store.increment(key, delta),
        }
    }

    fn put(&self, key: &str, value: &[u8]) -> Result<(), StoreError> {
        match self {
            Backend::Spin(store) => store.put(key, value),
            Backend::Redis(store) => store.put(key, value),
        }
    }
}

/// Answers one request for `component` with `handle`, its entry point in the
/// core (`booking_core::handle_hold` for [`Component::Hold`], and so on):
/// naming it here, rather than dispatching on `component` at run time,
/// links only that component's operations into its `.wasm`. On Redis when
/// the component's `redis_address` variable is set, else on the default
/// key-value store.
pub async fn serve<H>(
    component: Component,
    handle: H,
    request: IncomingRequest,
    response_out: ResponseOutparam,
) where
    H: Fn(&Request, &Ctx<'_, Backend, SystemEnv>) -> Reply,
{
    let origin = request
        .headers()
        .get("origin")
        .first()
        .map(|value| String::from_utf8_lossy(value).into_owned());
    let reply = match read_request(request, component.request_body_bytes_max()).await {
        Ok(core_request) => match Backend::open() {
            Ok(store) => {
                let config = config(component);
                handle(&core_request, &Ctx::new(&store, &SystemEnv, &config))
            }
            Err(error) => before_the_core(Reply::from(BookingError::Store(error))),
        },
        Err(error) => before_the_core(Reply::from(error)),
    };
    respond(reply, origin.as_deref(), response_out).await
}

/// A reply made here, before the core ran (413, a store that does not
/// open): it carries what every reply carries, no CAS retried.
fn before_the_core(mut reply: Reply) -> Reply {
    reply.headers.push(("x-cas-retries".into(), "0".into()));
    reply
}

/// Converts the request, reading the body only up to the limit: a larger
/// body is refused with 413 without being read (or buffered) whole.
async fn read_request(
    request: IncomingRequest,
    limit_bytes: usize,
) -> Result<Request, BookingError> {
    let method = request.method().to_string();
    let path = request.path_with_query().unwrap_or_default();
    let headers = request
        .headers()
        .entries()
        .into_iter()
        // Non-UTF-8 bytes become U+FFFD, which every header rule refuses.
        .map(|(name, value)| {
            (
                name.to_ascii_lowercase(),
                String::from_utf8_lossy(&value).into_owned(),
            )
        })
        .collect();
    let mut body = Vec::new();
    let mut stream = std::pin::pin!(request.into_body_stream());
    while let Some(chunk) = stream.next().await {
        let chunk = chunk
            .map_err(|e| BookingError::BadRequest(format!("reading the request body: {e:?}")))?;
        if body.len() + chunk.len() > limit_bytes {
            // Read on (and discard) what the client is still sending, up to a
            // bound, so the 413 is not lost: a server that answers and closes
            // while the client is still writing makes it see a broken pipe
            // instead of the answer.
            let mut discarded = body.len() + chunk.len();
            while discarded <= limit_bytes + REQUEST_BODY_DISCARD_BYTES_MAX {
                match stream.next().await {
                    Some(Ok(more)) => discarded += more.len(),
                    _ => break,
                }
            }
            return Err(BookingError::PayloadTooLarge { limit_bytes });
        }
        body.extend_from_slice(&chunk);
    }
    Ok(Request {
        method,
        path,
        headers,
        body,
    })
}

/// Sends the reply, with the CORS headers every response carries. Header
/// names are lower-cased and a later header of a name replaces an earlier
/// one, as spin-sdk's `Response` (a map) does; built here on the
/// `wasi:http` types directly, which spares every component that
/// `Response`'s map, its Unicode lower-casing and its `anyhow` errors.
async fn respond(reply: Reply, request_origin: Option<&str>, response_out: ResponseOutparam) {
    // What went wrong inside, for the operator (Spin keeps a component's
    // stderr in its logs); the client's body only says what to do.
    if let Some(log) = &reply.log {
        log_line!("booking: answered {}: {log}", reply.status);
    }
    let configured = variable("cors_origin").unwrap_or_default();
    let origin = allowed_origin(&configured, request_origin);
    let mut headers: Vec<(String, Vec<u8>)> = Vec::with_capacity(7 + reply.headers.len());
    let mut header = |name: &str, value: Vec<u8>| {
        let name = name.to_ascii_lowercase();
        match headers.iter_mut().find(|(n, _)| *n == name) {
            Some((_, slot)) => *slot = value,
            None => headers.push((name, value)),
        }
    };
    if let Some(origin) = origin {
        header("access-control-allow-origin", origin.into_bytes());
    }
    header("access-control-allow-headers", CORS_ALLOW_HEADERS.into());
    header("access-control-expose-headers", CORS_EXPOSE_HEADERS.into());
    header(
        "access-control-max-age",
        CORS_MAX_AGE_SECONDS.to_string().into_bytes(),
    );
    header("vary", b"origin".to_vec());
    if !reply.body.is_empty() {
        header("content-type", reply.content_type.into());
    }
    for (name, value) in reply.headers {
        header(&name, value.into_bytes());
    }
    // On a failure the response is not set and the host answers 500, as
    // spin-sdk's own conversion does (with the same log lines).
    let response = match Headers::from_list(&headers) {
        Ok(fields) => OutgoingResponse::new(fields),
        Err(error) => {
            log_line!("Could not convert response: {error}");
            return;
        }
    };
    if response.set_status_code(reply.status).is_err() {
        log_line!(
            "Could not convert response: error setting status code to {}",
            reply.status
        );
        return;
    }
    if let Err(error) = response_out.set_with_body(response, reply.body).await {
        log_line!("Could not set `ResponseOutparam`: {error}");
    }
}
