//! The thin Spin binding of the booking core.
//!
//! - [`SpinStore`]: the core's [`Store`] over `wasi:keyvalue` (store, atomics
//!   and batch, as spin-sdk 5.2 exposes them raw).
//! - [`RedisStore`]: the same trait on a Redis server through Spin's outbound
//!   Redis, used when the Spin variable `redis_address` is set.
//! - [`serve`]: converts a Spin request, reads the Spin variables, calls
//!   [`booking_core::handle`], and converts the reply, adding CORS
//!   headers to every response.

use booking_core::limits::{HOLD_TTL_SECONDS_DEFAULT, REQUEST_BODY_BYTES_MAX};
use booking_core::{
    BookingError, Component, Config, Ctx, Reply, Request, Snapshot, Store, StoreError, Swap,
    SystemEnv,
};
use futures::StreamExt;
use spin_sdk::http::{IncomingRequest, Response};
use spin_sdk::wit::wasi::keyvalue::{atomics, batch, store};

mod redis_store;
pub use redis_store::{CAS_SCRIPT_SHA1, INCR_SCRIPT_SHA1, RedisCas, RedisStore};

/// The key-value store label every component is granted in spin.toml.
const STORE_LABEL: &str = "default";

/// Headers a browser may send cross-origin.
const CORS_ALLOW_HEADERS: &str = "authorization, content-type, idempotency-key";
/// Headers a browser script may read.
const CORS_EXPOSE_HEADERS: &str = "retry-after, allow, x-cas-retries";
/// Bytes of an oversized body read and discarded before answering 413.
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

/// The settings `component` uses. Each component reads only the secret it
/// needs (every request instantiates a component, so the others skip those
/// host calls): the inventory component the admin variables, the confirm
/// component the confirm token.
fn config(component: Component) -> Config {
    let mut config = Config {
        admin_token: None,
        confirm_token: None,
        hold_ttl_seconds_default: HOLD_TTL_SECONDS_DEFAULT,
    };
    match component {
        Component::Inventory => {
            config.admin_token = variable("admin_token");
            if let Some(ttl) = variable("hold_ttl_seconds").and_then(|v| v.trim().parse().ok()) {
                config.hold_ttl_seconds_default = ttl;
            }
        }
        Component::Confirm => config.confirm_token = variable("confirm_token"),
        Component::Availability | Component::Hold | Component::Release => {}
    }
    config
}

/// Answers one request for `component`, on Redis when the component's
/// `redis_address` variable is set, else on the default key-value store.
pub async fn serve(component: Component, request: IncomingRequest) -> Response {
    let reply = match read_request(request).await {
        Ok(core_request) => match variable("redis_address") {
            Some(address) => match RedisStore::open(&address) {
                Ok(store) => handle(component, &core_request, &store),
                Err(error) => Reply::from(BookingError::Store(error)),
            },
            None => match SpinStore::open() {
                Ok(store) => handle(component, &core_request, &store),
                Err(error) => Reply::from(BookingError::Store(error)),
            },
        },
        Err(error) => Reply::from(error),
    };
    into_response(reply)
}

fn handle<S: Store>(component: Component, request: &Request, store: &S) -> Reply {
    let config = config(component);
    let ctx = Ctx::new(store, &SystemEnv, &config);
    booking_core::handle(component, request, &ctx)
}

/// Converts the request, reading the body only up to the limit: a larger
/// body is refused with 413 without being read (or buffered) whole.
async fn read_request(request: IncomingRequest) -> Result<Request, BookingError> {
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
        if body.len() + chunk.len() > REQUEST_BODY_BYTES_MAX {
            // Read on (and discard) what the client is still sending, up to a
            // bound, so the 413 is not lost: a server that answers and closes
            // while the client is still writing makes it see a broken pipe
            // instead of the answer.
            let mut discarded = body.len() + chunk.len();
            while discarded <= REQUEST_BODY_DISCARD_BYTES_MAX {
                match stream.next().await {
                    Some(Ok(more)) => discarded += more.len(),
                    _ => break,
                }
            }
            return Err(BookingError::PayloadTooLarge);
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

fn into_response(reply: Reply) -> Response {
    let origin = variable("cors_origin").unwrap_or_else(|| "*".to_owned());
    let mut builder = Response::builder();
    builder
        .status(reply.status)
        .header("access-control-allow-origin", origin)
        .header("access-control-allow-headers", CORS_ALLOW_HEADERS)
        .header("access-control-expose-headers", CORS_EXPOSE_HEADERS)
        .header("access-control-max-age", CORS_MAX_AGE_SECONDS.to_string())
        .header("vary", "origin");
    if !reply.body.is_empty() {
        builder.header("content-type", reply.content_type);
    }
    for (name, value) in reply.headers {
        builder.header(name, value);
    }
    builder.body(reply.body).build()
}
