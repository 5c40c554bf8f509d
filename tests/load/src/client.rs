//! The HTTP side: one shared client, every answer read whole into an [`Exchange`].

use std::{
    collections::HashMap,
    sync::{Arc, Mutex, OnceLock},
    time::{Duration, Instant, SystemTime, UNIX_EPOCH},
};

use reqwest::Method;
use serde_json::Value;
use tokio::sync::Semaphore;

use crate::log::{Exchange, Route};

/// A request still unanswered after this is recorded as a failure (no answer),
/// unless the run sets another bound.
pub const DEFAULT_REQUEST_TIMEOUT_SECONDS: u64 = 10;

/// Requests in flight at once. In an open-loop run arrivals beyond this wait
/// for a slot, and that wait counts in their latency.
pub const MAX_IN_FLIGHT_REQUESTS: usize = 2_048;

/// The confirm token of each local runtime this process started, by base URL.
fn local_confirm_tokens() -> &'static Mutex<HashMap<String, String>> {
    static TOKENS: OnceLock<Mutex<HashMap<String, String>>> = OnceLock::new();
    TOKENS.get_or_init(|| Mutex::new(HashMap::new()))
}

fn url_key(base_url: &str) -> String {
    base_url.trim_end_matches('/').to_owned()
}

/// Records the `confirm_token` of a runtime this process started (see [`crate::server`]).
pub fn register_confirm_token(base_url: &str, token: &str) {
    if let Ok(mut tokens) = local_confirm_tokens().lock() {
        tokens.insert(url_key(base_url), token.to_owned());
    }
}

/// Forgets a runtime's token when it stops.
pub fn forget_confirm_token(base_url: &str) {
    if let Ok(mut tokens) = local_confirm_tokens().lock() {
        tokens.remove(&url_key(base_url));
    }
}

/// The confirm token for `base_url`: the one of the local runtime this process
/// started there, else `$BOOKING_CONFIRM_TOKEN` (for a server given by URL),
/// else none (confirms then go without `Authorization`).
pub fn confirm_token_for(base_url: &str) -> Option<String> {
    let local = local_confirm_tokens()
        .lock()
        .ok()
        .and_then(|tokens| tokens.get(&url_key(base_url)).cloned());
    local.or_else(|| {
        std::env::var("BOOKING_CONFIRM_TOKEN")
            .ok()
            .filter(|token| !token.is_empty())
    })
}

/// Sends requests and keeps every exchange of the run.
#[derive(Debug)]
pub struct Recorder {
    client: reqwest::Client,
    base_url: String,
    admin_token: String,
    /// Sent as `Authorization: Bearer` on `POST /holds/:id/confirm`.
    confirm_token: Option<String>,
    started: Instant,
    slots: Semaphore,
    log: Mutex<Vec<Exchange>>,
}

/// What to send.
#[derive(Debug)]
pub struct Call<'a> {
    pub route: Route,
    pub event_id: &'a str,
    pub hold_id: Option<&'a str>,
    pub body: Option<Value>,
    pub idempotency_key: Option<&'a str>,
    /// When the request was meant to start (arrival time, for a first request).
    pub intended: Instant,
}

impl Recorder {
    /// A recorder whose confirms carry [`confirm_token_for`] `base_url`.
    pub fn new(base_url: &str, admin_token: &str, timeout: Duration) -> anyhow::Result<Arc<Self>> {
        let confirm_token = confirm_token_for(base_url);
        Self::with_confirm_token(base_url, admin_token, confirm_token.as_deref(), timeout)
    }

    /// A recorder whose confirms carry this confirm token (none: no `Authorization`).
    pub fn with_confirm_token(
        base_url: &str,
        admin_token: &str,
        confirm_token: Option<&str>,
        timeout: Duration,
    ) -> anyhow::Result<Arc<Self>> {
        let client = reqwest::Client::builder()
            .timeout(timeout)
            .tcp_nodelay(true)
            .build()?;
        Ok(Arc::new(Self {
            client,
            base_url: base_url.trim_end_matches('/').to_owned(),
            admin_token: admin_token.to_owned(),
            confirm_token: confirm_token.map(str::to_owned),
            started: Instant::now(),
            slots: Semaphore::new(MAX_IN_FLIGHT_REQUESTS),
            log: Mutex::new(Vec::new()),
        }))
    }

    pub fn started(&self) -> Instant {
        self.started
    }

    /// booking-host's key-value call counts so far, from its `--kv-calls-endpoint`; not
    /// recorded. `None` if the server does not answer them.
    pub async fn kv_calls(&self) -> Option<booking_host_spawn::KvCalls> {
        let url = format!("{}{}", self.base_url, booking_host_spawn::KV_CALLS_PATH);
        let response = self.client.get(url).send().await.ok()?;
        if !response.status().is_success() {
            return None;
        }
        booking_host_spawn::KvCalls::parse(response.text().await.ok()?.lines().next()?)
    }

    /// Sends one request, records it, and returns a copy of the exchange.
    pub async fn send(&self, call: Call<'_>) -> Exchange {
        let exchange = self.exchange(call).await;
        if let Ok(mut log) = self.log.lock() {
            log.push(exchange.clone());
        }
        exchange
    }

    /// Sends one request without recording it (final reads at rest).
    pub async fn exchange(&self, call: Call<'_>) -> Exchange {
        let (method, path) = match call.route {
            Route::PutEvent => (Method::PUT, format!("/events/{}", call.event_id)),
            Route::Availability => (
                Method::GET,
                format!("/events/{}/availability", call.event_id),
            ),
            Route::Hold | Route::HoldReplay => {
                (Method::POST, format!("/events/{}/holds", call.event_id))
            }
            Route::GetHold => (
                Method::GET,
                format!("/holds/{}", call.hold_id.unwrap_or("")),
            ),
            Route::Confirm => (
                Method::POST,
                format!("/holds/{}/confirm", call.hold_id.unwrap_or("")),
            ),
            Route::Release => (
                Method::POST,
                format!("/holds/{}/release", call.hold_id.unwrap_or("")),
            ),
        };
        let mut exchange = Exchange {
            route: call.route,
            event_id: call.event_id.to_owned(),
            hold_id: call.hold_id.map(str::to_owned),
            request: call.body.clone().unwrap_or(Value::Null),
            idempotency_key: call.idempotency_key.map(str::to_owned),
            status: None,
            error: None,
            retry_after: None,
            cas_retries: 0,
            body: Value::Null,
            sent_unix_ms: 0,
            answered_unix_ms: 0,
            intended_start_us: micros(call.intended.saturating_duration_since(self.started)),
            latency_us: 0,
        };
        let _slot = self.slots.acquire().await;
        exchange.sent_unix_ms = unix_ms();
        let mut request = self
            .client
            .request(method, format!("{}{path}", self.base_url));
        if call.route == Route::PutEvent {
            request = request.bearer_auth(&self.admin_token);
        }
        if call.route == Route::Confirm
            && let Some(token) = &self.confirm_token
        {
            request = request.bearer_auth(token);
        }
        if let Some(key) = call.idempotency_key {
            request = request.header("idempotency-key", key);
        }
        if let Some(body) = &call.body {
            request = request.json(body);
        } else if matches!(call.route, Route::Confirm | Route::Release) {
            request = request.json(&serde_json::json!({}));
        }
        match request.send().await {
            Ok(response) => {
                exchange.status = Some(response.status().as_u16());
                let headers = response.headers();
                exchange.retry_after = headers
                    .get("retry-after")
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_owned);
                exchange.cas_retries = headers
                    .get("x-cas-retries")
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| v.parse().ok())
                    .unwrap_or(0);
                match response.bytes().await {
                    Ok(bytes) => {
                        exchange.body = serde_json::from_slice(&bytes).unwrap_or_else(|_| {
                            Value::String(String::from_utf8_lossy(&bytes).into_owned())
                        });
                    }
                    Err(error) => {
                        exchange.status = None;
                        exchange.error = Some(format!("reading the body: {error}"));
                    }
                }
            }
            Err(error) => exchange.error = Some(error_chain(&error)),
        }
        exchange.latency_us = micros(call.intended.elapsed());
        exchange.answered_unix_ms = unix_ms();
        exchange
    }

    /// Takes the log recorded so far.
    pub fn take_log(&self) -> Vec<Exchange> {
        self.log
            .lock()
            .map(|mut log| std::mem::take(&mut *log))
            .unwrap_or_default()
    }
}

fn unix_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

fn micros(duration: Duration) -> u64 {
    u64::try_from(duration.as_micros()).unwrap_or(u64::MAX)
}

fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(inner) = source {
        text.push_str(": ");
        text.push_str(&inner.to_string());
        source = inner.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_local_runtimes_confirm_token_is_found_by_its_url() {
        let url = "http://127.0.0.1:1/";
        register_confirm_token(url, "secret");
        assert_eq!(
            confirm_token_for("http://127.0.0.1:1").as_deref(),
            Some("secret")
        );
        forget_confirm_token(url);
        assert_eq!(
            confirm_token_for(url),
            std::env::var("BOOKING_CONFIRM_TOKEN")
                .ok()
                .filter(|t| !t.is_empty())
        );
    }
}
