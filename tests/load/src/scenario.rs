//! The scenarios, the two load models, and one run from setup to verdict.

use std::{
    collections::BTreeMap,
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, AtomicU64, Ordering},
    },
    time::{Duration, Instant, SystemTime, UNIX_EPOCH},
};

use anyhow::bail;
use futures::{StreamExt, stream};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::feed;
use crate::{
    check::{self, Report},
    client::{Call, DEFAULT_REQUEST_TIMEOUT_SECONDS, Recorder},
    log::{EventSpec, Exchange, FinalState, Record, Route, SectionSpec},
    restart::{self, KillPlan, ServerProcess},
    stats::{self, Figures, KillFigures, KvCallsRecord},
};

/// Attempts of one request that keeps getting 503 or 409 `request-in-progress`
/// (the client waits Retry-After between).
const MAX_BUSY_ATTEMPTS: u32 = 4;
/// A Retry-After longer than this is cut short, so a run stays bounded.
const MAX_BUSY_WAIT_MS: u64 = 1_000;
/// Attempts of one request that keeps getting no answer, with
/// `retry_unanswered` (the server is being restarted): waits double from
/// `UNANSWERED_FIRST_WAIT_MS` to `MAX_BUSY_WAIT_MS`, about 35 s in all.
const MAX_UNANSWERED_ATTEMPTS: u32 = 40;
const UNANSWERED_FIRST_WAIT_MS: u64 = 50;
/// After the last hold could have expired, wait this much more before the
/// reads at rest (expiry is judged by the server's clock at millisecond grain).
const REST_AFTER_EXPIRY_MS: u64 = 1_000;
/// How often the live probe reads availability during the load.
const PROBE_INTERVAL_MS: u64 = 200;
/// Parallel reads of the final state.
const FINAL_READ_CONCURRENCY: usize = 32;
/// Percent of granted holds whose buyer confirms (flash-sale, hot-seats); the rest release.
const CONFIRM_PERCENT: u32 = 90;
/// Number of events in the mixed scenario.
const MIXED_EVENTS: usize = 10;
/// Seats of the seated section of each mixed event.
const MIXED_SEATS: usize = 32;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum Scenario {
    /// One general section (500), many buyers of 1–4 units: hold, then confirm 90% / release 10%.
    FlashSale,
    /// A seated section; every buyer wants 1–2 of the same few seats.
    HotSeats,
    /// 10 events: 80% browsing, holds, confirms, releases, holds left to expire.
    Mixed,
}

impl Scenario {
    pub fn name(self) -> &'static str {
        match self {
            Scenario::FlashSale => "flash-sale",
            Scenario::HotSeats => "hot-seats",
            Scenario::Mixed => "mixed",
        }
    }
}

/// Closed loop: N buyers at a time, each waits for its answers. Open loop:
/// buyers arrive at a fixed rate whether or not earlier ones were answered.
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum LoadModel {
    Closed { concurrency: u64 },
    Open { rate_per_second: f64 },
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RunConfig {
    pub scenario: Scenario,
    pub seed: u64,
    pub buyers: u64,
    pub load: LoadModel,
    /// General capacity (flash-sale, mixed), or the number of seats (hot-seats).
    pub capacity: u64,
    /// `shards` in the event definition; `None`: the service's default.
    pub shards: Option<u64>,
    /// Hot seats everyone wants (hot-seats).
    pub hot_seats: u64,
    pub hold_ttl_seconds: u64,
    /// Percent of granted holds replayed with the same Idempotency-Key.
    pub replay_percent: u32,
    /// Percent of granted holds whose buyer sends confirm and release at once
    /// (a race the service must settle: one wins, the other is refused).
    #[serde(default)]
    pub race_percent: u32,
    /// Percent of buyers who send their hold twice at once with one
    /// Idempotency-Key (a double click): the second while the first is in flight.
    #[serde(default)]
    pub concurrent_replay_percent: u32,
    /// Send an Idempotency-Key with every hold (as a careful client does).
    /// Off only to measure what idempotency costs.
    pub idempotency_keys: bool,
    /// A request unanswered after this is a failure.
    pub request_timeout_seconds: u64,
    pub progress: bool,
    /// Read booking-host's key-value call counts (`--kv-calls-endpoint`) before and after
    /// the setup, after the load and at rest, into [`Figures::kv_calls`].
    #[serde(default)]
    pub kv_calls: bool,
    /// Send a request that got no answer again (same Idempotency-Key, same
    /// payment_ref: both idempotent by contract), as a client does when the
    /// server restarts; on with kills.
    #[serde(default)]
    pub retry_unanswered: bool,
    /// Before reading the state at rest, wait until every hold the run may
    /// have placed has expired, so holds nobody confirmed must be back.
    #[serde(default)]
    pub rest_past_expiry: bool,
    /// Follow every event's change feed during the run and check it, and
    /// the stats, at rest (see [`crate::feed`]); off for a server without
    /// the feed (the PostgreSQL peer).
    #[serde(default)]
    pub check_feed: bool,
    /// The feed consumer polls every this many seconds (a slow consumer)
    /// instead of a page every [`crate::feed::FOLLOW_INTERVAL_MS`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub feed_poll_seconds: Option<u64>,
}

impl RunConfig {
    /// The defaults for a scenario.
    pub fn defaults(scenario: Scenario) -> Self {
        let (buyers, capacity, ttl) = match scenario {
            Scenario::FlashSale => (20_000, 500, 300),
            Scenario::HotSeats => (2_000, 64, 300),
            Scenario::Mixed => (5_000, 200, 3),
        };
        Self {
            scenario,
            seed: 1,
            buyers,
            load: LoadModel::Closed { concurrency: 500 },
            capacity,
            shards: None,
            hot_seats: 8,
            hold_ttl_seconds: ttl,
            replay_percent: 5,
            race_percent: 3,
            concurrent_replay_percent: 3,
            idempotency_keys: true,
            request_timeout_seconds: DEFAULT_REQUEST_TIMEOUT_SECONDS,
            progress: false,
            kv_calls: false,
            retry_unanswered: false,
            rest_past_expiry: false,
            check_feed: true,
            feed_poll_seconds: None,
        }
    }
}

/// Everything one run produced.
#[derive(Debug, Serialize)]
pub struct RunResult {
    pub figures: Figures,
    pub check: Report,
}

struct Ctx {
    recorder: Arc<Recorder>,
    config: RunConfig,
    events: Vec<EventSpec>,
    run_tag: String,
    /// Every attempt of the load phase, with whose it was.
    log: Mutex<Vec<Record>>,
    /// Attempts sent again because the previous one got no answer.
    unanswered_retries: AtomicU64,
}

impl Ctx {
    /// Sends one attempt and records it. `attempt_start`: when it was meant
    /// to go out (the intended start for a first attempt, the end of the
    /// back-off for a retry).
    async fn send(
        &self,
        call: Call<'_>,
        buyer: Option<u64>,
        attempt: u32,
        attempt_start: Instant,
    ) -> Exchange {
        let started = self.recorder.started();
        let attempt_start_us = micros(attempt_start.saturating_duration_since(started));
        let exchange = self.recorder.exchange(call).await;
        if let Ok(mut log) = self.log.lock() {
            log.push(Record {
                exchange: exchange.clone(),
                buyer,
                attempt,
                attempt_start_us,
            });
        }
        exchange
    }

    /// Sends a first attempt, meant to start at `call.intended`.
    async fn send_once(&self, call: Call<'_>, buyer: Option<u64>) -> Exchange {
        let intended = call.intended;
        self.send(call, buyer, 1, intended).await
    }

    fn take_log(&self) -> Vec<Record> {
        self.log
            .lock()
            .map(|mut log| std::mem::take(&mut *log))
            .unwrap_or_default()
    }
}

fn micros(duration: Duration) -> u64 {
    u64::try_from(duration.as_micros()).unwrap_or(u64::MAX)
}

/// What to send (the one place a [`Call`] is built).
fn call<'a>(
    route: Route,
    event_id: &'a str,
    hold_id: Option<&'a str>,
    body: Option<Value>,
    idempotency_key: Option<&'a str>,
    intended: Instant,
) -> Call<'a> {
    Call {
        route,
        event_id,
        hold_id,
        body,
        idempotency_key,
        intended,
    }
}

/// Runs one scenario against `base_url` and checks it.
pub async fn run(
    base_url: &str,
    admin_token: &str,
    config: &RunConfig,
) -> anyhow::Result<RunResult> {
    let (result, _) = run_with_kills(base_url, admin_token, config, None).await?;
    Ok(result)
}

/// The server a run kills and restarts, and when.
#[derive(Debug)]
pub struct Killer {
    pub server: ServerProcess,
    pub plan: KillPlan,
}

/// Runs one scenario against `base_url` and checks it; with a [`Killer`],
/// kills and restarts the server during the load as its plan says, and gives
/// the server (serving) back.
pub async fn run_with_kills(
    base_url: &str,
    admin_token: &str,
    config: &RunConfig,
    killer: Option<Killer>,
) -> anyhow::Result<(RunResult, Option<ServerProcess>)> {
    if config.buyers == 0 {
        bail!("--buyers must be at least 1");
    }
    let timeout = Duration::from_secs(config.request_timeout_seconds.max(1));
    let recorder = Recorder::new(base_url, admin_token, timeout)?;
    let run_tag = format!(
        "{}-s{}-{:06x}",
        short(config.scenario),
        config.seed,
        fastrand::u32(..0x100_0000)
    );
    let (events, definitions) = build_events(config, &run_tag);
    let kv_calls = async || {
        if config.kv_calls {
            recorder.kv_calls().await
        } else {
            None
        }
    };
    let kv_before_setup = kv_calls().await;
    for (spec, definition) in events.iter().zip(&definitions) {
        let put = recorder
            .exchange(call(
                Route::PutEvent,
                &spec.id,
                None,
                Some(definition.clone()),
                None,
                Instant::now(),
            ))
            .await;
        if !matches!(put.status, Some(200 | 201)) {
            bail!("creating the event failed: {}", put.evidence());
        }
    }
    let kv_after_setup = kv_calls().await;
    let ctx = Arc::new(Ctx {
        recorder: Arc::clone(&recorder),
        config: config.clone(),
        events,
        run_tag,
        log: Mutex::new(Vec::new()),
        unanswered_retries: AtomicU64::new(0),
    });

    let progress = if config.progress {
        let bar = ProgressBar::with_draw_target(Some(config.buyers), ProgressDrawTarget::stderr());
        bar.set_style(
            ProgressStyle::with_template(
                "{prefix} [{elapsed_precise}] {wide_bar} {pos}/{len} buyers ({per_sec})",
            )
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
        );
        bar.set_prefix(config.scenario.name());
        bar
    } else {
        ProgressBar::hidden()
    };

    let stop_probe = Arc::new(AtomicBool::new(false));
    let probe = tokio::spawn(probe(Arc::clone(&ctx), Arc::clone(&stop_probe)));
    let follower = config.check_feed.then(|| {
        let events = ctx.events.iter().map(|e| e.id.clone()).collect();
        let interval_ms = config
            .feed_poll_seconds
            .map_or(feed::FOLLOW_INTERVAL_MS, |seconds| seconds * 1_000);
        tokio::spawn(feed::follow(
            base_url.to_owned(),
            events,
            interval_ms,
            Arc::clone(&stop_probe),
        ))
    });
    let plan = killer.as_ref().map(|k| k.plan);
    let kill_task = killer.map(|k| {
        tokio::spawn(restart::kill_loop(
            k.server,
            k.plan,
            Arc::clone(&stop_probe),
        ))
    });
    let loadavg_before = stats::loadavg();
    let load_started = Instant::now();
    match config.load {
        LoadModel::Closed { concurrency } => closed_loop(&ctx, concurrency.max(1), &progress).await,
        LoadModel::Open { rate_per_second } => {
            if rate_per_second.is_nan() || rate_per_second <= 0.0 {
                bail!("--rate must be positive");
            }
            open_loop(&ctx, rate_per_second, &progress).await;
        }
    }
    let load_elapsed = load_started.elapsed();
    let loadavg_after = stats::loadavg();
    stop_probe.store(true, Ordering::Relaxed);
    let _ = probe.await;
    // The killer stops with the load, leaving the server serving.
    let (server, kills) = match kill_task {
        Some(task) => {
            let (server, windows, error) = task.await?;
            if let Some(error) = error {
                return Err(error.context("restarting the server after a kill"));
            }
            (Some(server), windows)
        }
        None => (None, Vec::new()),
    };
    progress.finish_and_clear();
    let kv_after_load = kv_calls().await;
    let log = ctx.take_log();
    wait_until_at_rest(config, &log).await;
    let final_state = read_final_state(&ctx, &log).await;
    let kv_at_rest = kv_calls().await;
    let mut report = check::check_with_kills(&ctx.events, &log, &final_state, &kills);
    if let Some(follower) = follower {
        let mut feeds = follower.await?;
        feed::drain(base_url, admin_token, &mut feeds).await;
        for (rule, evidence) in feed::check(&feeds, &log, &final_state) {
            report.add(rule, evidence);
        }
        report.feed_records = feeds.values().map(|f| f.records.len() as u64).sum();
    }
    let mut figures = stats::figures(
        config,
        &ctx.events,
        &log,
        load_started - recorder.started(),
        load_elapsed,
        &report,
    )?;
    figures.feed_records = config.check_feed.then_some(report.feed_records);
    figures.loadavg_before = loadavg_before;
    figures.loadavg_after = loadavg_after;
    if config.kv_calls {
        let line = |calls: Option<booking_host_spawn::KvCalls>| calls.map(|c| c.to_string());
        figures.kv_calls = Some(KvCallsRecord {
            before_setup: line(kv_before_setup),
            after_setup: line(kv_after_setup),
            after_load: line(kv_after_load),
            at_rest: line(kv_at_rest),
            runtime_exit: None,
        });
    }
    if let Some(plan) = plan {
        figures.kills = Some(KillFigures::new(
            plan,
            kills,
            report.unanswered_in_kills,
            ctx.unanswered_retries.load(Ordering::Relaxed),
        ));
    }
    Ok((
        RunResult {
            figures,
            check: report,
        },
        server,
    ))
}

/// Holds left to expire (mixed), or every hold (`rest_past_expiry`), must
/// have expired before the state is "at rest".
async fn wait_until_at_rest(config: &RunConfig, log: &[Record]) {
    let latest_expiry = log
        .iter()
        .filter(|e| e.status == Some(201))
        .filter_map(|e| e.body.get("expires_at").and_then(Value::as_str))
        .filter_map(|t| humantime::parse_rfc3339(t).ok())
        .max();
    if config.rest_past_expiry {
        // A hold request without an answer was decided before it failed, if
        // at all: its hold ends a lifetime after that.
        let ttl = Duration::from_secs(config.hold_ttl_seconds);
        let latest_decided = log
            .iter()
            .map(|e| e.answered_unix_ms.max(e.sent_unix_ms))
            .max()
            .unwrap_or(0);
        let unknown_end = UNIX_EPOCH + Duration::from_millis(latest_decided) + ttl;
        let end = latest_expiry.map_or(unknown_end, |e| e.max(unknown_end));
        if let Ok(wait) = end.duration_since(SystemTime::now()) {
            tokio::time::sleep(wait + Duration::from_millis(REST_AFTER_EXPIRY_MS)).await;
        }
    } else if let Some(latest) = latest_expiry
        && config.scenario == Scenario::Mixed
        && let Ok(wait) = latest.duration_since(SystemTime::now())
    {
        tokio::time::sleep(wait + Duration::from_millis(500)).await;
    }
}

fn short(s: Scenario) -> &'static str {
    match s {
        Scenario::FlashSale => "fs",
        Scenario::HotSeats => "hs",
        Scenario::Mixed => "mx",
    }
}

fn build_events(config: &RunConfig, tag: &str) -> (Vec<EventSpec>, Vec<Value>) {
    let general = |id: &str, capacity: u64| {
        let mut section = json!({ "id": id, "capacity": capacity });
        if let Some(shards) = config.shards {
            section["shards"] = json!(shards);
        }
        section
    };
    let seat_ids = |prefix: &str, n: u64| -> Vec<String> {
        (1..=n).map(|i| format!("{prefix}-{i}")).collect()
    };
    let mut specs = Vec::new();
    let mut definitions = Vec::new();
    match config.scenario {
        Scenario::FlashSale => {
            specs.push(EventSpec {
                hold_ttl_seconds: Some(config.hold_ttl_seconds),
                id: format!("{tag}-sale"),
                sections: vec![SectionSpec {
                    id: "floor".into(),
                    capacity: config.capacity,
                    seats: None,
                }],
            });
            definitions.push(json!({
                "name": "Flash sale", "hold_ttl_seconds": config.hold_ttl_seconds,
                "sections": [general("floor", config.capacity)],
            }));
        }
        Scenario::HotSeats => {
            let seats = seat_ids("A", config.capacity.max(config.hot_seats));
            specs.push(EventSpec {
                hold_ttl_seconds: Some(config.hold_ttl_seconds),
                id: format!("{tag}-seats"),
                sections: vec![SectionSpec {
                    id: "A".into(),
                    capacity: seats.len() as u64,
                    seats: Some(seats.clone()),
                }],
            });
            definitions.push(json!({
                "name": "Hot seats", "hold_ttl_seconds": config.hold_ttl_seconds,
                "sections": [{ "id": "A", "seats": seats }],
            }));
        }
        Scenario::Mixed => {
            for e in 0..MIXED_EVENTS {
                let seats = seat_ids("B", MIXED_SEATS as u64);
                specs.push(EventSpec {
                    hold_ttl_seconds: Some(config.hold_ttl_seconds),
                    id: format!("{tag}-ev{e}"),
                    sections: vec![
                        SectionSpec {
                            id: "floor".into(),
                            capacity: config.capacity,
                            seats: None,
                        },
                        SectionSpec {
                            id: "B".into(),
                            capacity: MIXED_SEATS as u64,
                            seats: Some(seats.clone()),
                        },
                    ],
                });
                definitions.push(json!({
                    "name": format!("Mixed {e}"), "hold_ttl_seconds": config.hold_ttl_seconds,
                    "sections": [general("floor", config.capacity), { "id": "B", "seats": seats }],
                }));
            }
        }
    }
    (specs, definitions)
}

async fn closed_loop(ctx: &Arc<Ctx>, concurrency: u64, progress: &ProgressBar) {
    let next = Arc::new(AtomicU64::new(0));
    let workers: Vec<_> = (0..concurrency.min(ctx.config.buyers))
        .map(|_| {
            let ctx = Arc::clone(ctx);
            let next = Arc::clone(&next);
            let progress = progress.clone();
            tokio::spawn(async move {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= ctx.config.buyers {
                        break;
                    }
                    buyer(&ctx, i, Instant::now()).await;
                    progress.inc(1);
                }
            })
        })
        .collect();
    for worker in workers {
        let _ = worker.await;
    }
}

async fn open_loop(ctx: &Arc<Ctx>, rate: f64, progress: &ProgressBar) {
    let start = tokio::time::Instant::now();
    let mut buyers = Vec::with_capacity(usize::try_from(ctx.config.buyers).unwrap_or(0));
    for i in 0..ctx.config.buyers {
        // Arrival times are fixed up front; a slow server never delays them.
        let arrival = start + Duration::from_secs_f64(i as f64 / rate);
        tokio::time::sleep_until(arrival).await;
        let ctx = Arc::clone(ctx);
        let progress = progress.clone();
        buyers.push(tokio::spawn(async move {
            buyer(&ctx, i, arrival.into_std()).await;
            progress.inc(1);
        }));
    }
    for b in buyers {
        let _ = b.await;
    }
}

/// Reads availability of every event while the load runs (the checker
/// verifies units are conserved in each snapshot).
async fn probe(ctx: Arc<Ctx>, stop: Arc<AtomicBool>) {
    let mut turn = 0usize;
    while !stop.load(Ordering::Relaxed) {
        if let Some(event) = ctx.events.get(turn % ctx.events.len().max(1)) {
            ctx.send_once(
                call(
                    Route::Availability,
                    &event.id,
                    None,
                    None,
                    None,
                    Instant::now(),
                ),
                None,
            )
            .await;
        }
        turn += 1;
        tokio::time::sleep(Duration::from_millis(PROBE_INTERVAL_MS)).await;
    }
}

/// Sends a request, and again after Retry-After while the answer is 503 or
/// 409 `request-in-progress`. Every attempt keeps the request's intended
/// start, so its latency runs from there across retries and back-off.
async fn send_until_answered(ctx: &Ctx, call: Call<'_>, buyer: Option<u64>) -> Exchange {
    let mut attempt = 1;
    let mut attempt_start = call.intended;
    let (mut busy_attempts, mut unanswered_attempts) = (0u32, 0u32);
    loop {
        let exchange = ctx
            .send(
                Call {
                    body: call.body.clone(),
                    ..call
                },
                buyer,
                attempt,
                attempt_start,
            )
            .await;
        let busy = exchange.status == Some(503)
            || (exchange.status == Some(409) && exchange.problem_type() == "request-in-progress");
        let wait_ms = if exchange.status.is_none() && ctx.config.retry_unanswered {
            unanswered_attempts += 1;
            if unanswered_attempts >= MAX_UNANSWERED_ATTEMPTS {
                return exchange;
            }
            ctx.unanswered_retries.fetch_add(1, Ordering::Relaxed);
            let doublings = (unanswered_attempts - 1).min(16);
            (UNANSWERED_FIRST_WAIT_MS << doublings).min(MAX_BUSY_WAIT_MS)
        } else if busy {
            busy_attempts += 1;
            if busy_attempts >= MAX_BUSY_ATTEMPTS {
                return exchange;
            }
            exchange
                .retry_after
                .as_deref()
                .and_then(|s| s.trim().parse::<u64>().ok())
                .map_or(MAX_BUSY_WAIT_MS, |s| (s * 1000).min(MAX_BUSY_WAIT_MS))
        } else {
            return exchange;
        };
        tokio::time::sleep(Duration::from_millis(wait_ms)).await;
        attempt_start = Instant::now();
        attempt += 1;
    }
}

fn buyer_rng(config: &RunConfig, i: u64) -> fastrand::Rng {
    // Each buyer's choices depend only on the seed and its number, not on scheduling.
    fastrand::Rng::with_seed(
        config.seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ i.wrapping_mul(0xD1B5_4A32_D192_ED03),
    )
}

/// A buyer who got a hold confirms it `CONFIRM_PERCENT` of the time, else releases it.
fn confirm_or_release(rng: &mut fastrand::Rng) -> Resolve {
    if rng.u32(0..100) < CONFIRM_PERCENT {
        Resolve::Confirm
    } else {
        Resolve::Release
    }
}

/// What a buyer will do besides its hold, drawn up front so that its choices
/// depend only on the seed and its number, never on the answers it gets.
#[derive(Debug, Clone, Copy)]
struct Extras {
    /// Send the hold a second time, with the same key, while the first is in flight.
    concurrent_replay: bool,
    /// How long after the first the concurrent replay goes out.
    concurrent_replay_delay_us: u64,
    /// Replay the hold once it was granted.
    replay_after_grant: bool,
    /// Read the hold back (mixed).
    read_back: bool,
    /// Send confirm and release at once.
    race: bool,
}

fn extras(config: &RunConfig, rng: &mut fastrand::Rng) -> Extras {
    let keyed = config.idempotency_keys;
    Extras {
        concurrent_replay: rng.u32(0..100) < config.concurrent_replay_percent && keyed,
        concurrent_replay_delay_us: rng.u64(0..2_000),
        replay_after_grant: rng.u32(0..100) < config.replay_percent && keyed,
        read_back: config.scenario == Scenario::Mixed && rng.bool(),
        race: rng.u32(0..100) < config.race_percent,
    }
}

async fn buyer(ctx: &Ctx, i: u64, arrival: Instant) {
    let mut rng = buyer_rng(&ctx.config, i);
    let who = Some(i);
    let (event, body, resolve) = match ctx.config.scenario {
        Scenario::FlashSale => {
            let q = rng.u64(1..=4);
            let body = json!({ "section": "floor", "quantity": q, "customer_id": format!("c{i}") });
            (&ctx.events[0], body, confirm_or_release(&mut rng))
        }
        Scenario::HotSeats => {
            let hot = ctx.config.hot_seats.max(1);
            let first = rng.u64(1..=hot);
            let mut seats = vec![format!("A-{first}")];
            if hot > 1 && rng.bool() {
                let second = (first % hot) + 1;
                seats.push(format!("A-{second}"));
            }
            let body = json!({ "section": "A", "seats": seats, "customer_id": format!("c{i}") });
            (&ctx.events[0], body, confirm_or_release(&mut rng))
        }
        Scenario::Mixed => {
            let event = &ctx.events[rng.usize(..ctx.events.len())];
            if rng.u32(0..100) < 80 {
                let read = call(Route::Availability, &event.id, None, None, None, arrival);
                ctx.send_once(read, who).await;
                return;
            }
            let body = if rng.u32(0..100) < 70 {
                json!({ "section": "floor", "quantity": rng.u64(1..=4), "customer_id": format!("c{i}") })
            } else {
                let a = rng.usize(1..=MIXED_SEATS);
                let mut seats = vec![format!("B-{a}")];
                if rng.bool() {
                    seats.push(format!("B-{}", a % MIXED_SEATS + 1));
                }
                json!({ "section": "B", "seats": seats, "customer_id": format!("c{i}") })
            };
            let resolve = match rng.u32(0..100) {
                0..60 => Resolve::Confirm,
                60..75 => Resolve::Release,
                _ => Resolve::Abandon,
            };
            (event, body, resolve)
        }
    };
    let extras = extras(&ctx.config, &mut rng);
    let key = format!("idempotency-{}-b{i}", ctx.run_tag);
    let key = ctx.config.idempotency_keys.then_some(key.as_str());
    let first = call(
        Route::Hold,
        &event.id,
        None,
        Some(body.clone()),
        key,
        arrival,
    );
    let hold = if extras.concurrent_replay {
        let replay = async {
            tokio::time::sleep(Duration::from_micros(extras.concurrent_replay_delay_us)).await;
            let again = call(
                Route::HoldReplay,
                &event.id,
                None,
                Some(body.clone()),
                key,
                Instant::now(),
            );
            ctx.send_once(again, who).await
        };
        let (first, second) = tokio::join!(send_until_answered(ctx, first, who), replay);
        // The buyer goes on with whichever answer gave it a hold.
        if first.status != Some(201) && second.status == Some(201) {
            second
        } else {
            first
        }
    } else {
        send_until_answered(ctx, first, who).await
    };
    if hold.status != Some(201) {
        return;
    }
    let Some(hold_id) = hold.body.get("hold_id").and_then(Value::as_str) else {
        return;
    };
    if extras.replay_after_grant {
        let again = call(
            Route::HoldReplay,
            &event.id,
            None,
            Some(body),
            key,
            Instant::now(),
        );
        ctx.send_once(again, who).await;
    }
    if extras.read_back {
        let read = call(
            Route::GetHold,
            &event.id,
            Some(hold_id),
            None,
            None,
            Instant::now(),
        );
        ctx.send_once(read, who).await;
    }
    let confirm_body = || json!({ "payment_ref": format!("pay-{i}") });
    let resolution = |route: Route| {
        let body = (route == Route::Confirm).then(confirm_body);
        call(route, &event.id, Some(hold_id), body, None, Instant::now())
    };
    match resolve {
        Resolve::Abandon => {}
        // Both at once: exactly one may win, the other must be refused.
        _ if extras.race => {
            tokio::join!(
                send_until_answered(ctx, resolution(Route::Confirm), who),
                send_until_answered(ctx, resolution(Route::Release), who)
            );
        }
        Resolve::Confirm => {
            send_until_answered(ctx, resolution(Route::Confirm), who).await;
        }
        Resolve::Release => {
            send_until_answered(ctx, resolution(Route::Release), who).await;
        }
    }
}

#[derive(Debug, Clone, Copy)]
enum Resolve {
    Confirm,
    Release,
    Abandon,
}

async fn read_final_state(ctx: &Ctx, log: &[Record]) -> FinalState {
    let read_unix_ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
    let mut hold_ids: BTreeMap<String, String> = BTreeMap::new();
    for ex in log {
        if ex.status == Some(201)
            && let Some(id) = ex.body.get("hold_id").and_then(Value::as_str)
        {
            hold_ids.insert(id.to_owned(), ex.event_id.clone());
        }
    }
    let holds = stream::iter(hold_ids)
        .map(|(id, event)| async move {
            let read = ctx
                .recorder
                .exchange(call(
                    Route::GetHold,
                    &event,
                    Some(&id),
                    None,
                    None,
                    Instant::now(),
                ))
                .await;
            (id, read)
        })
        .buffer_unordered(FINAL_READ_CONCURRENCY)
        .collect::<BTreeMap<_, _>>()
        .await;
    let mut availability = BTreeMap::new();
    for event in &ctx.events {
        let read = ctx
            .recorder
            .exchange(call(
                Route::Availability,
                &event.id,
                None,
                None,
                None,
                Instant::now(),
            ))
            .await;
        availability.insert(event.id.clone(), read);
    }
    FinalState {
        availability,
        holds,
        read_unix_ms,
    }
}
