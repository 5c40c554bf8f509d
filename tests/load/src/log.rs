//! What a run sends and hears: one [`Exchange`] per request, kept whole so
//! the checker can cite it as evidence.

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The routes the load tool uses (a hold replayed on purpose with its
/// Idempotency-Key is its own route, so its latency is reported apart).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Route {
    PutEvent,
    Availability,
    Hold,
    HoldReplay,
    GetHold,
    Confirm,
    Release,
}

impl Route {
    pub const ALL: [Route; 7] = [
        Route::PutEvent,
        Route::Availability,
        Route::Hold,
        Route::HoldReplay,
        Route::GetHold,
        Route::Confirm,
        Route::Release,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Route::PutEvent => "PUT /events/:id",
            Route::Availability => "GET /events/:id/availability",
            Route::Hold => "POST /events/:id/holds",
            Route::HoldReplay => "POST /events/:id/holds (replay)",
            Route::GetHold => "GET /holds/:id",
            Route::Confirm => "POST /holds/:id/confirm",
            Route::Release => "POST /holds/:id/release",
        }
    }
}

/// One request and its answer.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Exchange {
    pub route: Route,
    pub event_id: String,
    /// The hold acted on (confirm, release, get) or granted (a 201 hold).
    pub hold_id: Option<String>,
    /// The request body (holds), to compare with what was granted.
    pub request: Value,
    pub idempotency_key: Option<String>,
    /// `None`: no answer (connection error or timeout), see `error`.
    pub status: Option<u16>,
    pub error: Option<String>,
    pub retry_after: Option<String>,
    /// The `x-cas-retries` header (0 when absent, as on the PostgreSQL peer).
    pub cas_retries: u64,
    pub body: Value,
    /// Wall-clock send time, Unix milliseconds (to judge expiry answers).
    pub sent_unix_ms: u64,
    /// Wall-clock time the answer was read, Unix milliseconds. The server
    /// decided somewhere between the two: under load a request can wait in
    /// its queue long after it was sent.
    #[serde(default)]
    pub answered_unix_ms: u64,
    /// When the request was meant to start, microseconds after the run began.
    /// In an open-loop run this is the arrival time, not the send time, so a
    /// stalled server shows in the latency instead of delaying arrivals.
    pub intended_start_us: u64,
    /// From the intended start to the whole answer read.
    pub latency_us: u64,
}

impl Exchange {
    pub fn problem_type(&self) -> &str {
        let ty = self.body.get("type").and_then(Value::as_str).unwrap_or("");
        ty.rsplit('/').next().unwrap_or(ty)
    }

    pub fn is_write_success(&self) -> bool {
        matches!(
            (self.route, self.status),
            (Route::Hold, Some(201)) | (Route::Confirm, Some(200)) | (Route::Release, Some(200))
        )
    }

    /// A short description for evidence: route, ids, status and body.
    pub fn evidence(&self) -> String {
        let status = self.status.map_or_else(
            || format!("no answer ({})", self.error.as_deref().unwrap_or("?")),
            |s| s.to_string(),
        );
        format!(
            "{} event={} hold={} key={} request={} sent={} answered={} (unix ms) -> {} retry-after={:?} body={}",
            self.route.name(),
            self.event_id,
            self.hold_id.as_deref().unwrap_or("-"),
            self.idempotency_key.as_deref().unwrap_or("-"),
            self.request,
            self.sent_unix_ms,
            self.answered_unix_ms,
            status,
            self.retry_after,
            self.body
        )
    }
}

/// One attempt as the load tool sent it: the exchange, and whose it was.
///
/// A request answered 503 is sent again after Retry-After; every attempt is
/// its own record (the checker judges each answer), and all of them keep the
/// intended start of the first (a buyer's arrival), so the buyer's latency
/// runs across retries and back-off (no coordinated omission).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Record {
    #[serde(flatten)]
    pub exchange: Exchange,
    /// The buyer who sent it (`None`: the live probe).
    pub buyer: Option<u64>,
    /// 1 for the first attempt of a request, 2 for its first retry, ...
    pub attempt: u32,
    /// When this attempt was meant to go out (after any back-off), in
    /// microseconds after the run began; its own latency runs from here.
    pub attempt_start_us: u64,
}

impl Record {
    /// A record of a first attempt by nobody in particular (tests, probes).
    pub fn of(exchange: Exchange) -> Self {
        let attempt_start_us = exchange.intended_start_us;
        Self {
            exchange,
            buyer: None,
            attempt: 1,
            attempt_start_us,
        }
    }

    /// When the answer was read, microseconds after the run began.
    pub fn answered_us(&self) -> u64 {
        self.exchange.intended_start_us + self.exchange.latency_us
    }

    /// From this attempt's start to its answer (service time, plus any wait
    /// for a request slot): the per-attempt figure.
    pub fn attempt_latency_us(&self) -> u64 {
        self.answered_us().saturating_sub(self.attempt_start_us)
    }
}

impl std::ops::Deref for Record {
    type Target = Exchange;

    fn deref(&self) -> &Exchange {
        &self.exchange
    }
}

/// A section as the run defined it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SectionSpec {
    pub id: String,
    pub capacity: u64,
    /// Seat ids for a seated section; `None` for general admission.
    pub seats: Option<Vec<String>>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct EventSpec {
    pub id: String,
    pub sections: Vec<SectionSpec>,
    /// The event's hold lifetime: bounds how long a request whose outcome is
    /// unknown (no answer, a 5xx, most 503s) may have left units held.
    /// `None`: unknown, so such units may stay held for ever.
    #[serde(default)]
    pub hold_ttl_seconds: Option<u64>,
}

/// The state read back at rest, after the load stopped.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct FinalState {
    /// event id -> its `GET /events/:id/availability` answer.
    pub availability: std::collections::BTreeMap<String, Exchange>,
    /// hold id -> its `GET /holds/:id` answer.
    pub holds: std::collections::BTreeMap<String, Exchange>,
    /// Wall-clock time the final reads started, Unix milliseconds.
    pub read_unix_ms: u64,
}

/// One kill of the server during a run: SIGKILL at `kill_unix_ms`, serving
/// again (on the same state) from `serving_unix_ms`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct KillWindow {
    pub kill_unix_ms: u64,
    pub serving_unix_ms: u64,
}

impl KillWindow {
    /// Whether a request that got no answer lost it to this kill: it was in
    /// flight when the server was killed (its answer failed after the kill),
    /// or was sent while the server was down. Such a request was decided, if
    /// at all, before the kill.
    pub fn explains(&self, exchange: &Exchange) -> bool {
        let failed = exchange.answered_unix_ms.max(exchange.sent_unix_ms);
        exchange.status.is_none()
            && exchange.sent_unix_ms <= self.serving_unix_ms
            && failed >= self.kill_unix_ms
    }
}
