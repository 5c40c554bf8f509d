//! Shared harness for the black-box HTTP tests of the booking API.
//!
//! - `BOOKING_BASE_URL` set: the tests run against that server; the admin
//!   token comes from `BOOKING_ADMIN_TOKEN`, the confirm token (the payment
//!   side's secret for `POST /holds/:id/confirm`) from `BOOKING_CONFIRM_TOKEN`,
//!   and the expected CORS origin from `BOOKING_CORS_ORIGIN` (default `*`).
//! - Otherwise the local runtime (`booking-host up`, on its default SQLite
//!   store with Spin's settings, in a fresh state directory) is started
//!   once per test binary, with fresh random admin and confirm tokens, by the
//!   helper the load generator shares (`booking_host_spawn`), and stopped when
//!   that binary exits, however it exits (`--exit-on-stdin-eof`, with its stdin
//!   held by this process).
//! - `BOOKING_E2E_STORE=redis` (with the local runtime): a `redis-server` is
//!   started on loopback too (`appendonly yes`, `appendfsync always`, a temp
//!   directory; stopped with the process), and the app runs on it through its
//!   `redis_address`/`redis_host` variables instead of the default store. If
//!   `redis-server` is not installed, every test fails saying so (run that leg
//!   only where it is: `.ci/run` checks first).
//!
//! Every test builds a [`Ctx`], which names its events uniquely so runs never
//! collide, and talks HTTP through it. Every answer is read whole into a
//! [`Reply`], whose assertions print the request and the full answer on
//! failure.

use std::{
    collections::BTreeSet,
    fmt,
    sync::{Mutex, OnceLock},
    time::{Duration, UNIX_EPOCH},
};

use booking_host_spawn::{LocalRuntime, RedisServer, RuntimeOptions};

pub mod contract;
pub mod redis_nodes;

pub use futures;
pub use reqwest::{Method, StatusCode, header::HeaderMap};
pub use serde_json::{Value, json};

/// Request bodies larger than this get 413.
pub const BODY_LIMIT: usize = 64 * 1024;

/// Per-request timeout: a hang fails the test instead of stalling the run.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);

/// Where the tests send their requests.
#[derive(Debug)]
pub struct Target {
    pub base_url: String,
    pub admin_token: String,
    /// The app's `confirm_token`: `POST /holds/:id/confirm` needs it as a
    /// bearer token.
    pub confirm_token: String,
    pub cors_origin: String,
    /// Whether the server was started by this harness (so its configuration
    /// is known: default TTL 300 s, CORS `*`).
    pub local: bool,
}

static TARGET: OnceLock<Result<Target, String>> = OnceLock::new();
/// Kept for the whole process, never dropped: the runtime stops when the
/// process exits and its end of the runtime's stdin closes.
static LOCAL_SERVER: OnceLock<Mutex<Option<LocalRuntime>>> = OnceLock::new();
/// The Redis the local runtime serves from under `BOOKING_E2E_STORE=redis`;
/// kept like [`LOCAL_SERVER`] (it stops when the process exits).
static LOCAL_REDIS: OnceLock<Mutex<Option<RedisServer>>> = OnceLock::new();

/// Whether `BOOKING_E2E_STORE` asks for the app on Redis (`redis`); any other
/// value but empty or `default` is refused.
pub fn redis_store_requested() -> Result<bool, String> {
    match std::env::var("BOOKING_E2E_STORE").as_deref() {
        Err(_) | Ok("") | Ok("default") => Ok(false),
        Ok("redis") => Ok(true),
        Ok(other) => Err(format!(
            "BOOKING_E2E_STORE={other:?}: use `redis`, or `default` (or leave it unset)"
        )),
    }
}

/// The server under test, started on first use. Panics (in every test that
/// asks) with the reason if it could not be reached or started.
pub fn target() -> &'static Target {
    match TARGET.get_or_init(init_target) {
        Ok(target) => target,
        Err(reason) => panic!("{reason}"),
    }
}

fn required_env(name: &str, variable: &str) -> Result<String, String> {
    std::env::var(name).map_err(|_| {
        format!(
            "BOOKING_BASE_URL is set but {name} is not: set it to the server's {variable} \
             variable"
        )
    })
}

fn init_target() -> Result<Target, String> {
    let cors_origin = std::env::var("BOOKING_CORS_ORIGIN").unwrap_or_else(|_| "*".to_owned());
    if let Ok(base) = std::env::var("BOOKING_BASE_URL")
        && !base.trim().is_empty()
    {
        return Ok(Target {
            base_url: base.trim().trim_end_matches('/').to_owned(),
            admin_token: required_env("BOOKING_ADMIN_TOKEN", "admin_token")?,
            confirm_token: required_env("BOOKING_CONFIRM_TOKEN", "confirm_token")?,
            cors_origin,
            local: false,
        });
    }
    let admin_token = format!("e2e-{}", random_hex());
    let confirm_token = format!("e2e-confirm-{}", random_hex());
    let base_url = start_local_server(&admin_token, &confirm_token)?;
    Ok(Target {
        base_url,
        admin_token,
        confirm_token,
        cors_origin,
        local: true,
    })
}

/// Starts `booking-host up` on the workspace's `spin.toml` (fresh SQLite
/// state directory, Spin's settings) with the given tokens and a 300 s
/// default hold TTL; returns its base URL.
fn start_local_server(admin_token: &str, confirm_token: &str) -> Result<String, String> {
    // `confirm_token` is passed whether or not the manifest declares it yet:
    // the runtime, like Spin, ignores a variable the manifest does not declare.
    let mut options = RuntimeOptions::for_workspace()
        .variable("admin_token", admin_token)
        .variable("confirm_token", confirm_token)
        .variable("hold_ttl_seconds", "300");
    if redis_store_requested()? {
        let redis = RedisServer::start()
            .map_err(|error| error.to_string())?
            .ok_or_else(|| {
                "BOOKING_E2E_STORE=redis but redis-server is not installed \
                 (apt-get install redis-server, or set BOOKING_REDIS_SERVER)"
                    .to_owned()
            })?;
        options = options.redis(&redis);
        LOCAL_REDIS
            .get_or_init(|| Mutex::new(None))
            .lock()
            .map_err(|_| "the local Redis slot is poisoned".to_owned())?
            .replace(redis);
    }
    let runtime = LocalRuntime::start(&options).map_err(|error| {
        format!(
            "{error}
(or point BOOKING_BASE_URL at a running server)"
        )
    })?;
    let url = runtime.base_url().to_owned();
    LOCAL_SERVER
        .get_or_init(|| Mutex::new(None))
        .lock()
        .map_err(|_| "the local server slot is poisoned".to_owned())?
        .replace(runtime);
    Ok(url)
}

/// 16 random hex digits.
pub fn random_hex() -> String {
    uuid::Uuid::new_v4().simple().to_string()[..16].to_owned()
}

/// One test's view of the server.
#[derive(Clone)]
pub struct Ctx {
    pub client: reqwest::Client,
    pub base: String,
    pub admin_token: String,
    pub confirm_token: String,
    pub cors_origin: String,
    pub local: bool,
    prefix: String,
}

impl Ctx {
    /// Starts (or reaches) the server; `test` names this test's events.
    pub fn new(test: &str) -> Ctx {
        Ctx::for_target(test, target())
    }

    /// A view of another server than the suite's (one a test started with
    /// other variables); `test` names this test's events.
    pub fn for_target(test: &str, target: &Target) -> Ctx {
        let client = reqwest::Client::builder()
            .timeout(REQUEST_TIMEOUT)
            .pool_max_idle_per_host(64)
            .build()
            .expect("build reqwest client");
        let short: String = test
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
            .take(36)
            .collect();
        Ctx {
            client,
            base: target.base_url.clone(),
            admin_token: target.admin_token.clone(),
            confirm_token: target.confirm_token.clone(),
            cors_origin: target.cors_origin.clone(),
            local: target.local,
            prefix: format!("t-{short}"),
        }
    }

    /// A fresh event id, unique to this run: `t-<test>-<label>-<hex>`.
    pub fn event_id(&self, label: &str) -> String {
        let id = format!("{}-{label}-{}", self.prefix, random_hex());
        assert!(id.len() <= 64, "generated event id too long: {id}");
        id
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub fn request(&self, method: Method, path: &str) -> reqwest::RequestBuilder {
        self.client.request(method, self.url(path))
    }

    /// Sends and reads the whole answer, and checks it against the
    /// contract (`openapi.yaml`): an answer the document does not describe
    /// fails the test, whatever the test itself asserts.
    pub async fn send(&self, builder: reqwest::RequestBuilder) -> Reply {
        let request = builder.build().expect("build request");
        let what = format!("{} {}", request.method(), request.url());
        let method = request.method().as_str().to_owned();
        let path = request.url().path().to_owned();
        let response = self
            .client
            .execute(request)
            .await
            .unwrap_or_else(|e| panic!("{what}: request failed: {e:?}"));
        let reply = Reply::read(what, self.cors_origin.clone(), response).await;
        reply.assert_contract(&method, &path);
        reply
    }

    /// `method path` with a JSON body.
    pub async fn send_json(&self, method: Method, path: &str, body: &Value) -> Reply {
        self.send(self.request(method, path).json(body)).await
    }

    /// `method path` with a raw body and `Content-Type: application/json`.
    pub async fn send_raw(&self, method: Method, path: &str, body: impl Into<Vec<u8>>) -> Reply {
        self.send(
            self.request(method, path)
                .header("content-type", "application/json")
                .body(body.into()),
        )
        .await
    }

    /// `Authorization` with the admin token.
    pub fn bearer(&self) -> String {
        format!("Bearer {}", self.admin_token)
    }

    /// `Authorization` with the confirm token (the payment side's).
    pub fn confirm_bearer(&self) -> String {
        format!("Bearer {}", self.confirm_token)
    }

    // ---- events ----

    /// `PUT /events/:id` with the admin token.
    pub async fn put_event(&self, event_id: &str, def: &Value) -> Reply {
        self.send(
            self.request(Method::PUT, &format!("/events/{event_id}"))
                .header("authorization", self.bearer())
                .json(def),
        )
        .await
    }

    /// `PUT /events/:id` with a raw body and an optional Authorization value.
    pub async fn put_event_raw(
        &self,
        event_id: &str,
        body: impl Into<Vec<u8>>,
        authorization: Option<&str>,
    ) -> Reply {
        let mut builder = self
            .request(Method::PUT, &format!("/events/{event_id}"))
            .header("content-type", "application/json")
            .body(body.into());
        if let Some(auth) = authorization {
            builder = builder.header("authorization", auth);
        }
        self.send(builder).await
    }

    /// Creates a fresh event from `def`, asserting 201; returns its id and body.
    pub async fn create_event(&self, def: &Value) -> (String, Value) {
        let id = self.event_id("ev");
        let reply = self.put_event(&id, def).await;
        let body = reply.expect_status(201).clone();
        assert_eq!(body["event_id"], json!(id), "{reply}");
        (id, body)
    }

    pub async fn get_event(&self, event_id: &str) -> Reply {
        self.send(self.request(Method::GET, &format!("/events/{event_id}")))
            .await
    }

    /// `GET /events/:id/availability`, asserting 200.
    pub async fn availability(&self, event_id: &str) -> Value {
        let reply = self
            .send(self.request(Method::GET, &format!("/events/{event_id}/availability")))
            .await;
        let body = reply.expect_status(200).clone();
        assert_eq!(body["event_id"], json!(event_id), "{reply}");
        body
    }

    /// One section of an availability answer, with `available + held + sold ==
    /// capacity` checked.
    pub async fn section(&self, event_id: &str, section: &str) -> Value {
        let avail = self.availability(event_id).await;
        assert_totals(&avail);
        section_of(&avail, section).clone()
    }

    // ---- holds ----

    /// `POST /events/:id/holds` with an optional `Idempotency-Key`.
    pub async fn hold(&self, event_id: &str, body: &Value, idempotency_key: Option<&str>) -> Reply {
        let mut builder = self
            .request(Method::POST, &format!("/events/{event_id}/holds"))
            .json(body);
        if let Some(key) = idempotency_key {
            builder = builder.header("idempotency-key", key);
        }
        self.send(builder).await
    }

    /// A hold that must succeed (201); returns its body.
    pub async fn hold_ok(&self, event_id: &str, body: &Value) -> Value {
        let reply = self.hold(event_id, body, None).await;
        let hold = reply.expect_status(201).clone();
        assert_opaque_id(&hold["hold_id"], &reply);
        hold
    }

    pub async fn get_hold(&self, hold_id: &str) -> Reply {
        self.send(self.request(Method::GET, &format!("/holds/{hold_id}")))
            .await
    }

    /// `POST /holds/:id/confirm` as the payment side sends it: with the
    /// confirm token as a bearer token.
    pub async fn confirm(&self, hold_id: &str, payment_ref: &str) -> Reply {
        self.confirm_with(hold_id, payment_ref, Some(&self.confirm_bearer()))
            .await
    }

    /// `POST /holds/:id/confirm` with the confirm token and any JSON body.
    pub async fn confirm_json(&self, hold_id: &str, body: &Value) -> Reply {
        self.send(
            self.request(Method::POST, &format!("/holds/{hold_id}/confirm"))
                .header("authorization", self.confirm_bearer())
                .json(body),
        )
        .await
    }

    /// `POST /holds/:id/confirm` with the confirm token and a raw body
    /// (`Content-Type: application/json`).
    pub async fn confirm_raw(&self, hold_id: &str, body: impl Into<Vec<u8>>) -> Reply {
        self.send(
            self.request(Method::POST, &format!("/holds/{hold_id}/confirm"))
                .header("authorization", self.confirm_bearer())
                .header("content-type", "application/json")
                .body(body.into()),
        )
        .await
    }

    /// `POST /holds/:id/confirm` with this `Authorization` value, or none.
    pub async fn confirm_with(
        &self,
        hold_id: &str,
        payment_ref: &str,
        authorization: Option<&str>,
    ) -> Reply {
        let mut builder = self
            .request(Method::POST, &format!("/holds/{hold_id}/confirm"))
            .json(&json!({ "payment_ref": payment_ref }));
        if let Some(value) = authorization {
            builder = builder.header("authorization", value);
        }
        self.send(builder).await
    }

    pub async fn release(&self, hold_id: &str) -> Reply {
        self.send(self.request(Method::POST, &format!("/holds/{hold_id}/release")))
            .await
    }

    pub async fn delete_hold(&self, hold_id: &str) -> Reply {
        self.send(self.request(Method::DELETE, &format!("/holds/{hold_id}")))
            .await
    }

    /// The status field of `GET /holds/:id`, asserting 200.
    pub async fn hold_status(&self, hold_id: &str) -> String {
        let reply = self.get_hold(hold_id).await;
        reply.expect_status(200)["status"]
            .as_str()
            .unwrap_or_else(|| panic!("hold has no string status: {reply}"))
            .to_owned()
    }
}

/// A whole HTTP answer.
#[derive(Debug, Clone)]
pub struct Reply {
    /// `METHOD url` of the request, for messages.
    pub what: String,
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub text: String,
    /// The body parsed as JSON, `Null` if it is not JSON.
    pub body: Value,
    /// The body as received.
    pub bytes: bytes::Bytes,
    cors_origin: String,
}

impl fmt::Display for Reply {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "\n  request: {}\n  status: {}", self.what, self.status)?;
        for (name, value) in &self.headers {
            writeln!(f, "  {name}: {}", String::from_utf8_lossy(value.as_bytes()))?;
        }
        let mut text = self.text.clone();
        if text.len() > 2000 {
            let mut cut = 2000;
            while !text.is_char_boundary(cut) {
                cut -= 1;
            }
            text.truncate(cut);
            text.push_str("...");
        }
        write!(f, "  body: {text}")
    }
}

impl Reply {
    async fn read(what: String, cors_origin: String, response: reqwest::Response) -> Reply {
        let status = response.status();
        let headers = response.headers().clone();
        let bytes = response
            .bytes()
            .await
            .unwrap_or_else(|e| panic!("{what}: reading the body failed: {e:?}"));
        let text = String::from_utf8_lossy(&bytes).into_owned();
        let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        Reply {
            what,
            status,
            headers,
            text,
            body,
            bytes,
            cors_origin,
        }
    }

    pub fn code(&self) -> u16 {
        self.status.as_u16()
    }

    /// Asserts that this answer to `method path` is one `openapi.yaml`
    /// documents (status, headers, content type, body schema).
    pub fn assert_contract(&self, method: &str, path: &str) {
        let exchange = contract::Exchange {
            method,
            path,
            status: self.code(),
            headers: &self.headers,
            body: &self.bytes,
        };
        if let Err(violation) = contract::workspace().check(&exchange) {
            panic!("the answer breaks the contract (openapi.yaml): {violation}{self}");
        }
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// Asserts the status, a JSON body and the CORS header; returns the body.
    pub fn expect_status(&self, status: u16) -> &Value {
        assert_eq!(self.code(), status, "unexpected status:{self}");
        if status != 204 {
            assert!(!self.body.is_null(), "body is not JSON:{self}");
        }
        self.assert_cors();
        &self.body
    }

    /// Asserts `Access-Control-Allow-Origin` is the configured origin.
    pub fn assert_cors(&self) {
        assert_eq!(
            self.header("access-control-allow-origin"),
            Some(self.cors_origin.as_str()),
            "missing or wrong Access-Control-Allow-Origin:{self}"
        );
    }

    /// The problem `type`, if this is a problem document.
    pub fn problem_type(&self) -> Option<&str> {
        self.body.get("type").and_then(Value::as_str)
    }

    /// Whether the problem type ends with `/<slug>`.
    pub fn is_problem(&self, status: u16, slug: &str) -> bool {
        self.code() == status
            && self
                .problem_type()
                .is_some_and(|t| t.ends_with(&format!("/{slug}")))
    }

    /// Asserts an RFC 9457 problem with this status and a type ending in
    /// `/<slug>`, with CORS; returns the body.
    pub fn expect_problem(&self, status: u16, slug: &str) -> &Value {
        self.expect_problem_status(status);
        let ty = self.problem_type().unwrap_or_default();
        assert!(
            ty.ends_with(&format!("/{slug}")),
            "problem type should end with /{slug}:{self}"
        );
        &self.body
    }

    /// Asserts an RFC 9457 problem with this status (any type), with CORS.
    pub fn expect_problem_status(&self, status: u16) -> &Value {
        assert_eq!(self.code(), status, "unexpected status:{self}");
        self.assert_cors();
        let content_type = self.header("content-type").unwrap_or_default();
        assert!(
            content_type.starts_with("application/problem+json"),
            "content-type should be application/problem+json:{self}"
        );
        let ty = self.problem_type().unwrap_or_default();
        assert!(
            (ty.starts_with("http://") || ty.starts_with("https://") || ty == "about:blank")
                && ty.len() > 8,
            "problem type should be a URI:{self}"
        );
        assert!(
            self.body
                .get("title")
                .and_then(Value::as_str)
                .is_some_and(|t| !t.is_empty()),
            "problem needs a title:{self}"
        );
        assert_eq!(
            self.body.get("status"),
            Some(&json!(status)),
            "problem status member:{self}"
        );
        assert!(
            self.body.get("detail").and_then(Value::as_str).is_some(),
            "problem needs a detail:{self}"
        );
        &self.body
    }

    /// Asserts a problem whose status is one of `statuses`.
    pub fn expect_problem_in(&self, statuses: &[u16]) -> &Value {
        assert!(
            statuses.contains(&self.code()),
            "status should be one of {statuses:?}:{self}"
        );
        self.expect_problem_status(self.code())
    }

    /// A 503 that carries `Retry-After`: the only 5xx a test may accept.
    pub fn is_retryable_503(&self) -> bool {
        self.code() == 503 && self.header("retry-after").is_some()
    }

    /// Fails on any 5xx other than a 503 with `Retry-After`.
    pub fn assert_no_bad_5xx(&self) {
        assert!(
            !self.status.is_server_error() || self.is_retryable_503(),
            "server error without Retry-After:{self}"
        );
        if self.code() == 503 {
            self.expect_problem_status(503);
        }
    }
}

/// Collects the failed cases of a table-driven test, so that one run reports
/// every broken case instead of the first.
#[derive(Debug, Default)]
pub struct Cases {
    failures: Vec<String>,
}

impl Cases {
    /// Runs the (synchronous) assertions of one case, recording a failure.
    pub fn check(&mut self, label: &str, assertions: impl FnOnce()) {
        if let Err(payload) = std::panic::catch_unwind(std::panic::AssertUnwindSafe(assertions)) {
            let message = payload
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| payload.downcast_ref::<&str>().map(|s| (*s).to_owned()))
                .unwrap_or_else(|| "(no message)".to_owned());
            self.failures.push(format!("[{label}] {message}"));
        }
    }

    /// Fails the test if any case failed, listing them all.
    pub fn finish(self) {
        assert!(
            self.failures.is_empty(),
            "{} case(s) failed:\n\n{}",
            self.failures.len(),
            self.failures.join("\n\n")
        );
    }
}

// ---- definitions and small checks ----

/// An event with one general-admission section `floor` of `capacity` units.
pub fn general_event(capacity: u32) -> Value {
    json!({
        "name": "General admission",
        "hold_ttl_seconds": 300,
        "sections": [{ "id": "floor", "capacity": capacity }],
    })
}

/// An event with one assigned-seating section `A` of seats `A-1..=A-n`.
pub fn seated_event(seats: usize) -> Value {
    json!({
        "name": "Assigned seating",
        "hold_ttl_seconds": 300,
        "sections": [{ "id": "A", "seats": seat_ids("A", seats) }],
    })
}

/// `<prefix>-1 ..= <prefix>-n`.
pub fn seat_ids(prefix: &str, n: usize) -> Vec<String> {
    (1..=n).map(|i| format!("{prefix}-{i}")).collect()
}

/// A general-admission hold body.
pub fn qty(section: &str, quantity: u32, customer: Option<&str>) -> Value {
    let mut body = json!({ "section": section, "quantity": quantity });
    if let Some(c) = customer {
        body["customer_id"] = json!(c);
    }
    body
}

/// An assigned-seating hold body.
pub fn seats(section: &str, seat_list: &[&str], customer: Option<&str>) -> Value {
    let mut body = json!({ "section": section, "seats": seat_list });
    if let Some(c) = customer {
        body["customer_id"] = json!(c);
    }
    body
}

/// The section `id` of an availability answer.
pub fn section_of<'a>(avail: &'a Value, id: &str) -> &'a Value {
    avail["sections"]
        .as_array()
        .and_then(|s| s.iter().find(|s| s["id"] == json!(id)))
        .unwrap_or_else(|| panic!("no section {id} in availability {avail}"))
}

/// Reads a non-negative integer member.
pub fn num(v: &Value, key: &str) -> u64 {
    v[key]
        .as_u64()
        .unwrap_or_else(|| panic!("{key} should be a non-negative integer in {v}"))
}

/// `available + held + sold == capacity` for every section, and the seated
/// sections list exactly `available` distinct seats.
pub fn assert_totals(avail: &Value) {
    let sections = avail["sections"]
        .as_array()
        .unwrap_or_else(|| panic!("availability without sections: {avail}"));
    for s in sections {
        let (available, held, sold, capacity) = (
            num(s, "available"),
            num(s, "held"),
            num(s, "sold"),
            num(s, "capacity"),
        );
        assert_eq!(
            available + held + sold,
            capacity,
            "available + held + sold != capacity in {s}"
        );
        if s["kind"] == json!("seated") {
            let listed = string_set(&s["available_seats"]);
            assert_eq!(
                listed.len() as u64,
                available,
                "available_seats vs available in {s}"
            );
        }
    }
}

/// A JSON array of strings as a set (panics on anything else).
pub fn string_set(v: &Value) -> BTreeSet<String> {
    let items = v
        .as_array()
        .unwrap_or_else(|| panic!("expected an array of strings, got {v}"));
    let set: BTreeSet<String> = items
        .iter()
        .map(|s| {
            s.as_str()
                .unwrap_or_else(|| panic!("expected a string, got {s}"))
                .to_owned()
        })
        .collect();
    assert_eq!(set.len(), items.len(), "duplicates in {v}");
    set
}

/// `&["a", "b"]` as a set.
pub fn set_of(items: &[&str]) -> BTreeSet<String> {
    items.iter().map(|s| (*s).to_owned()).collect()
}

/// Whether a member is absent or null.
pub fn absent(v: &Value, key: &str) -> bool {
    v.get(key).is_none_or(Value::is_null)
}

/// Hold and booking ids: URL-safe, 1..=200 characters.
pub fn assert_opaque_id(id: &Value, context: &dyn fmt::Display) -> String {
    let s = id
        .as_str()
        .unwrap_or_else(|| panic!("id should be a string, got {id}:{context}"));
    assert!(
        !s.is_empty()
            && s.len() <= 200
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"._~-".contains(&b)),
        "id {s:?} is not 1..=200 URL-safe characters:{context}"
    );
    s.to_owned()
}

/// Parses an RFC 3339 UTC time (`Z` or `+00:00`) into Unix seconds, with
/// `humantime` (which reads the `Z` form; `+00:00` is the same instant).
pub fn rfc3339_utc(s: &str) -> Option<f64> {
    let zulu = match s.strip_suffix("+00:00") {
        Some(local) => format!("{local}Z"),
        None => s.to_owned(),
    };
    humantime::parse_rfc3339(&zulu)
        .ok()?
        .duration_since(UNIX_EPOCH)
        .ok()
        .map(|since| since.as_secs_f64())
}

/// Reads a member that must be an RFC 3339 UTC time.
pub fn time_of(v: &Value, key: &str) -> f64 {
    v[key]
        .as_str()
        .and_then(rfc3339_utc)
        .unwrap_or_else(|| panic!("{key} should be an RFC 3339 UTC time in {v}"))
}

/// Runs `f(i)` for `i in 0..n`, at most `concurrency` at a time; results in
/// index order.
pub async fn run_concurrently<T, F, Fut>(n: usize, concurrency: usize, f: F) -> Vec<T>
where
    F: Fn(usize) -> Fut,
    Fut: std::future::Future<Output = T>,
{
    use futures::StreamExt;
    let mut out: Vec<(usize, T)> = futures::stream::iter((0..n).map(|i| {
        let fut = f(i);
        async move { (i, fut.await) }
    }))
    .buffer_unordered(concurrency)
    .collect()
    .await;
    out.sort_by_key(|(i, _)| *i);
    out.into_iter().map(|(_, t)| t).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_parses_utc() {
        assert_eq!(rfc3339_utc("1970-01-01T00:00:00Z"), Some(0.0));
        assert_eq!(rfc3339_utc("2000-03-01T00:00:01.5Z"), Some(951_868_801.5));
        assert_eq!(
            rfc3339_utc("2024-02-29T12:00:00+00:00"),
            Some(1_709_208_000.0)
        );
        assert_eq!(
            rfc3339_utc("2026-11-28T21:06:40.000Z"),
            Some(1_795_900_000.0)
        );
        assert_eq!(rfc3339_utc("2024-02-29T12:00:00+01:00"), None);
        assert_eq!(rfc3339_utc("2024-02-29 12:00:00"), None);
        assert_eq!(rfc3339_utc("2023-02-29T12:00:00Z"), None);
        assert_eq!(rfc3339_utc("not a time"), None);
    }
}
