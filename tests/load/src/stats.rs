//! Figures of one run: throughput, latency percentiles per route, conflict
//! rate, sell-out time, and a per-second timeline for the chart.

use std::{
    collections::{BTreeMap, BTreeSet, btree_map::Entry},
    time::Duration,
};

use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::{
    check::Report,
    log::{EventSpec, Exchange, KillWindow, Record, Route},
    restart::KillPlan,
    scenario::{LoadModel, RunConfig},
};

/// Latencies are kept in microseconds with 3 significant digits.
const HISTOGRAM_SIGNIFICANT_DIGITS: u8 = 3;
/// Width of one timeline bucket.
const TIMELINE_BUCKET_MS: u64 = 1_000;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RouteLatency {
    pub route: Route,
    pub count: u64,
    pub p50_ms: f64,
    pub p95_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
}

/// How a hold ended, for one attempt or for a buyer (its last attempt).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Outcome {
    /// 201: a hold.
    Granted,
    /// A definite no: 409 `sold-out`, `seats-unavailable`, `customer-limit`.
    Refused,
    /// "Retry later": 503, or 409 `request-in-progress`; for a buyer, still so
    /// after the last retry.
    Shed,
    /// No answer, a 5xx other than 503, or any other status.
    Failed,
}

impl Outcome {
    pub const ALL: [Outcome; 4] = [
        Outcome::Granted,
        Outcome::Refused,
        Outcome::Shed,
        Outcome::Failed,
    ];

    pub fn of(ex: &Exchange) -> Self {
        match (ex.status, ex.problem_type()) {
            (Some(201), _) => Outcome::Granted,
            (Some(409), "sold-out" | "seats-unavailable" | "customer-limit") => Outcome::Refused,
            (Some(503), _) | (Some(409), "request-in-progress") => Outcome::Shed,
            _ => Outcome::Failed,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Outcome::Granted => "granted",
            Outcome::Refused => "refused",
            Outcome::Shed => "shed",
            Outcome::Failed => "failed",
        }
    }
}

/// Latency percentiles of one outcome (`None`: every outcome together).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct OutcomeLatency {
    pub outcome: Option<Outcome>,
    pub count: u64,
    pub p50_ms: f64,
    pub p95_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TimelinePoint {
    pub second: f64,
    pub requests_per_second: f64,
    /// Hold attempts answered in this second, p99 of their own latency.
    pub hold_p99_ms: f64,
    /// Buyers whose hold was settled in this second, p99 from their arrival.
    #[serde(default)]
    pub buyer_hold_p99_ms: f64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Figures {
    /// Filled in by the caller (system under test, options).
    pub label: String,
    pub scenario: String,
    pub load: LoadModel,
    pub seed: u64,
    pub buyers: u64,
    pub capacity: u64,
    pub shards: Option<u64>,
    pub elapsed_seconds: f64,
    pub requests: u64,
    pub requests_per_second: f64,
    pub holds_granted: u64,
    pub holds_per_second: f64,
    /// Granted holds, confirms and releases that succeeded.
    pub writes_ok: u64,
    pub writes_per_second: f64,
    pub cas_retries: u64,
    /// CAS retries per successful write.
    pub conflict_rate: f64,
    /// CAS retries per request (in a sale most requests are sold-out answers,
    /// which write nothing to inventory but may still write bookkeeping).
    #[serde(default)]
    pub cas_retries_per_request: f64,
    /// Successful writes per second while units were still on sale (from the
    /// start of the load to the last granted hold): the write rate a sale
    /// actually demands, unlike the whole-run average.
    #[serde(default)]
    pub sale_writes_per_second: Option<f64>,
    pub sold: u64,
    /// Seconds from the start of the load to the last granted hold.
    pub sell_out_seconds: Option<f64>,
    /// Seconds from the start of the load to the first sold-out answer.
    pub first_sold_out_seconds: Option<f64>,
    /// Answers per route and status (and problem type), e.g. `hold 409 sold-out`.
    pub outcomes: BTreeMap<String, u64>,
    /// Per attempt: from the attempt's start (its intended start for a first
    /// attempt, the end of the back-off for a retry) to its answer.
    pub latency: Vec<RouteLatency>,
    /// Per buyer: from arrival to the hold's definite answer (201 or a final
    /// refusal), across retries and back-off; every buyer, then by outcome.
    #[serde(default)]
    pub buyer_hold_latency: Vec<OutcomeLatency>,
    /// Per hold attempt, by the attempt's outcome.
    #[serde(default)]
    pub hold_attempt_latency: Vec<OutcomeLatency>,
    /// Buyers who sent a hold, and how many of them were still told "retry
    /// later" after their last attempt.
    #[serde(default)]
    pub hold_buyers: u64,
    #[serde(default)]
    pub buyers_shed: u64,
    /// Hold attempts beyond each buyer's first (retries after a 503 or a 409
    /// `request-in-progress`).
    #[serde(default)]
    pub hold_retries: u64,
    /// Holds whose buyer sent confirm and release at once.
    #[serde(default)]
    pub confirm_release_races: u64,
    /// Holds sent a second time with their Idempotency-Key while the first
    /// was in flight.
    #[serde(default)]
    pub concurrent_replays: u64,
    pub peak_rss_mib: Option<f64>,
    /// The machine's 1-minute load average before and after the load: other
    /// work on the machine (it has 2 cores) shows here.
    #[serde(default)]
    pub loadavg_before: Option<f64>,
    #[serde(default)]
    pub loadavg_after: Option<f64>,
    pub violations: u64,
    pub timeline: Vec<TimelinePoint>,
    /// booking-host's key-value call counts around the run (`RunConfig::kv_calls`); absent
    /// for a server that does not count them (real Spin, the PostgreSQL peer).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kv_calls: Option<KvCallsRecord>,
    /// Process faults: the server killed with SIGKILL and restarted during the load.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kills: Option<KillFigures>,
    /// Change records the feed consumer followed and checked (`None`: the
    /// feed was not followed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub feed_records: Option<u64>,
}

/// What the kills of a run did.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct KillFigures {
    pub plan: KillPlan,
    /// Kills made (each followed by a restart on the same state that served).
    pub kills: u64,
    /// Longest time from a kill to serving again, ms.
    pub max_down_ms: u64,
    pub mean_down_ms: f64,
    /// Requests the kills left without an answer (counted, not violations).
    pub unanswered_in_kills: u64,
    /// Attempts sent again after getting no answer (same Idempotency-Key or payment_ref).
    pub unanswered_retries: u64,
    pub windows: Vec<KillWindow>,
}

impl KillFigures {
    pub fn new(
        plan: KillPlan,
        windows: Vec<KillWindow>,
        unanswered_in_kills: u64,
        unanswered_retries: u64,
    ) -> Self {
        let down: Vec<u64> = windows
            .iter()
            .map(|w| w.serving_unix_ms.saturating_sub(w.kill_unix_ms))
            .collect();
        let mean_down_ms = if down.is_empty() {
            0.0
        } else {
            down.iter().sum::<u64>() as f64 / down.len() as f64
        };
        Self {
            plan,
            kills: windows.len() as u64,
            max_down_ms: down.iter().copied().max().unwrap_or(0),
            mean_down_ms,
            unanswered_in_kills,
            unanswered_retries,
            windows,
        }
    }
}

/// booking-host's key-value call counts, each a `kv-calls: ...` line (the format of
/// `booking_host_spawn::KvCalls`), taken at moments of a run; `None` where the reading
/// failed. Counts are cumulative over the runtime's life, so what a phase made is the
/// difference of two lines.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct KvCallsRecord {
    /// Before the events were created.
    pub before_setup: Option<String>,
    /// After the events were created, before the first buyer.
    pub after_setup: Option<String>,
    /// After the last buyer's last answer.
    pub after_load: Option<String>,
    /// After the checker's final reads.
    pub at_rest: Option<String>,
    /// The line the runtime printed when it stopped, where booking-load started (and
    /// stopped) it; in a sweep, on the last step (it spans every step).
    pub runtime_exit: Option<String>,
}

impl Figures {
    pub fn route(&self, route: Route) -> Option<&RouteLatency> {
        self.latency.iter().find(|r| r.route == route)
    }

    /// Per-buyer hold latency of one outcome (`None`: every buyer).
    pub fn buyer_latency(&self, outcome: Option<Outcome>) -> Option<&OutcomeLatency> {
        self.buyer_hold_latency
            .iter()
            .find(|l| l.outcome == outcome)
    }

    /// Per-buyer hold p99 (arrival to definite answer), every buyer.
    pub fn buyer_hold_p99_ms(&self) -> Option<f64> {
        self.buyer_latency(None).map(|l| l.p99_ms)
    }

    /// Percent of the buyers who sent a hold that were shed (0 when none did).
    pub fn shed_percent(&self) -> f64 {
        if self.hold_buyers == 0 {
            0.0
        } else {
            self.buyers_shed as f64 * 100.0 / self.hold_buyers as f64
        }
    }
}

fn new_histogram() -> anyhow::Result<Histogram<u64>> {
    let mut h = Histogram::new(HISTOGRAM_SIGNIFICANT_DIGITS)?;
    // Auto-resizing: no latency is ever dropped for being out of range.
    h.auto(true);
    Ok(h)
}

fn ms(us: u64) -> f64 {
    us as f64 / 1000.0
}

fn percentiles(outcome: Option<Outcome>, h: &Histogram<u64>) -> OutcomeLatency {
    OutcomeLatency {
        outcome,
        count: h.len(),
        p50_ms: ms(h.value_at_quantile(0.50)),
        p95_ms: ms(h.value_at_quantile(0.95)),
        p99_ms: ms(h.value_at_quantile(0.99)),
        max_ms: ms(h.max()),
    }
}

/// Each buyer's last hold attempt (its definite answer, or the last "retry later").
fn last_hold_attempts(log: &[Record]) -> BTreeMap<u64, &Record> {
    let mut last: BTreeMap<u64, &Record> = BTreeMap::new();
    for r in log.iter().filter(|r| r.route == Route::Hold) {
        if let Some(buyer) = r.buyer {
            let slot = last.entry(buyer).or_insert(r);
            if (r.attempt, r.answered_us()) > (slot.attempt, slot.answered_us()) {
                *slot = r;
            }
        }
    }
    last
}

fn outcome_histograms<'a>(
    items: impl Iterator<Item = (Outcome, u64)> + 'a,
) -> anyhow::Result<Vec<OutcomeLatency>> {
    let mut all = new_histogram()?;
    let mut by: BTreeMap<Outcome, Histogram<u64>> = BTreeMap::new();
    for (outcome, us) in items {
        all.record(us.max(1))?;
        match by.entry(outcome) {
            Entry::Occupied(h) => h.into_mut().record(us.max(1))?,
            Entry::Vacant(v) => v.insert(new_histogram()?).record(us.max(1))?,
        }
    }
    if all.is_empty() {
        return Ok(Vec::new());
    }
    let mut out = vec![percentiles(None, &all)];
    out.extend(by.iter().map(|(o, h)| percentiles(Some(*o), h)));
    Ok(out)
}

/// `load_offset` is when the load phase began, relative to the recorder's clock.
pub fn figures(
    config: &RunConfig,
    events: &[EventSpec],
    log: &[Record],
    load_offset: Duration,
    elapsed: Duration,
    report: &Report,
) -> anyhow::Result<Figures> {
    let offset_us = u64::try_from(load_offset.as_micros()).unwrap_or(0);
    let since_load = |us: u64| us.saturating_sub(offset_us) as f64 / 1e6;
    let bucket_of = |us: u64| us.saturating_sub(offset_us) / (TIMELINE_BUCKET_MS * 1000);
    let mut per_route: BTreeMap<Route, Histogram<u64>> = BTreeMap::new();
    let mut outcomes: BTreeMap<String, u64> = BTreeMap::new();
    // Per second: requests answered, hold attempts' p99, buyers' p99.
    type Slot = (u64, Histogram<u64>, Histogram<u64>);
    let mut timeline: BTreeMap<u64, Slot> = BTreeMap::new();
    let slot_at = |timeline: &mut BTreeMap<u64, Slot>, us: u64| -> anyhow::Result<()> {
        if let Entry::Vacant(v) = timeline.entry(bucket_of(us)) {
            v.insert((0, new_histogram()?, new_histogram()?));
        }
        Ok(())
    };
    let (mut holds_granted, mut writes_ok, mut cas_retries) = (0u64, 0u64, 0u64);
    let (mut last_grant, mut first_sold_out): (Option<u64>, Option<u64>) = (None, None);
    for ex in log {
        let histogram = match per_route.entry(ex.route) {
            Entry::Occupied(h) => h.into_mut(),
            Entry::Vacant(v) => v.insert(new_histogram()?),
        };
        histogram.record(ex.attempt_latency_us().max(1))?;
        let status = ex
            .status
            .map_or_else(|| "no-answer".to_owned(), |s| s.to_string());
        let kind = match ex.route {
            Route::PutEvent => "event",
            Route::Availability => "availability",
            Route::Hold => "hold",
            Route::HoldReplay => "hold-replay",
            Route::GetHold => "get-hold",
            Route::Confirm => "confirm",
            Route::Release => "release",
        };
        let problem = ex.problem_type();
        let key = if ex.status.is_some_and(|s| s >= 400) && !problem.is_empty() {
            format!("{kind} {status} {problem}")
        } else {
            format!("{kind} {status}")
        };
        *outcomes.entry(key).or_default() += 1;
        cas_retries += ex.cas_retries;
        let done_us = ex.answered_us();
        if ex.is_write_success() {
            writes_ok += 1;
        }
        if ex.route == Route::Hold && ex.status == Some(201) {
            holds_granted += 1;
            last_grant = last_grant.max(Some(done_us));
        }
        if ex.route == Route::Hold && ex.status == Some(409) && problem == "sold-out" {
            first_sold_out = Some(first_sold_out.map_or(done_us, |f| f.min(done_us)));
        }
        slot_at(&mut timeline, done_us)?;
        if let Some(slot) = timeline.get_mut(&bucket_of(done_us)) {
            slot.0 += 1;
            if ex.route == Route::Hold {
                slot.1.record(ex.attempt_latency_us().max(1))?;
            }
        }
    }
    let last_attempts = last_hold_attempts(log);
    for r in last_attempts.values() {
        slot_at(&mut timeline, r.answered_us())?;
        if let Some(slot) = timeline.get_mut(&bucket_of(r.answered_us())) {
            slot.2.record(r.latency_us.max(1))?;
        }
    }
    let buyer_hold_latency = outcome_histograms(
        last_attempts
            .values()
            .map(|r| (Outcome::of(r), r.latency_us)),
    )?;
    let hold_attempt_latency = outcome_histograms(
        log.iter()
            .filter(|r| r.route == Route::Hold)
            .map(|r| (Outcome::of(r), r.attempt_latency_us())),
    )?;
    let buyers_shed = last_attempts
        .values()
        .filter(|r| Outcome::of(r) == Outcome::Shed)
        .count() as u64;
    let hold_retries = log
        .iter()
        .filter(|r| r.route == Route::Hold && r.attempt > 1)
        .count() as u64;
    let seconds = elapsed.as_secs_f64().max(1e-9);
    let latency = per_route
        .into_iter()
        .map(|(route, h)| RouteLatency {
            route,
            count: h.len(),
            p50_ms: ms(h.value_at_quantile(0.50)),
            p95_ms: ms(h.value_at_quantile(0.95)),
            p99_ms: ms(h.value_at_quantile(0.99)),
            max_ms: ms(h.max()),
        })
        .collect();
    let bucket_seconds = TIMELINE_BUCKET_MS as f64 / 1000.0;
    let p99_or_zero = |h: &Histogram<u64>| {
        if h.is_empty() {
            0.0
        } else {
            ms(h.value_at_quantile(0.99))
        }
    };
    let timeline = timeline
        .into_iter()
        .map(|(b, (n, holds, buyers))| TimelinePoint {
            second: b as f64 * bucket_seconds,
            requests_per_second: n as f64 / bucket_seconds,
            hold_p99_ms: p99_or_zero(&holds),
            buyer_hold_p99_ms: p99_or_zero(&buyers),
        })
        .collect();
    let requests = log.len() as u64;
    Ok(Figures {
        label: String::new(),
        scenario: config.scenario.name().to_owned(),
        load: config.load,
        seed: config.seed,
        buyers: config.buyers,
        capacity: events
            .iter()
            .flat_map(|e| &e.sections)
            .map(|s| s.capacity)
            .sum(),
        shards: config.shards,
        elapsed_seconds: seconds,
        requests,
        requests_per_second: requests as f64 / seconds,
        holds_granted,
        holds_per_second: holds_granted as f64 / seconds,
        writes_ok,
        writes_per_second: writes_ok as f64 / seconds,
        cas_retries,
        cas_retries_per_request: if requests == 0 {
            0.0
        } else {
            cas_retries as f64 / requests as f64
        },
        sale_writes_per_second: last_grant.map(|end| {
            let writes = log
                .iter()
                .filter(|e| e.is_write_success() && e.answered_us() <= end)
                .count();
            writes as f64 / since_load(end).max(1e-3)
        }),
        conflict_rate: if writes_ok == 0 {
            0.0
        } else {
            cas_retries as f64 / writes_ok as f64
        },
        sold: sold_at_rest(log),
        sell_out_seconds: last_grant.map(since_load),
        first_sold_out_seconds: first_sold_out.map(since_load),
        outcomes,
        latency,
        buyer_hold_latency,
        hold_attempt_latency,
        hold_buyers: last_attempts.len() as u64,
        buyers_shed,
        hold_retries,
        confirm_release_races: races(log),
        concurrent_replays: concurrent_replays(log),
        peak_rss_mib: None,
        loadavg_before: None,
        loadavg_after: None,
        violations: report.total(),
        timeline,
        kv_calls: None,
        kills: None,
        feed_records: None,
    })
}

/// Holds that got a confirm and a release whose flights overlapped.
fn races(log: &[Record]) -> u64 {
    let mut windows: BTreeMap<(&str, Route), Vec<(u64, u64)>> = BTreeMap::new();
    for r in log {
        if let (Some(id), Route::Confirm | Route::Release) = (r.hold_id.as_deref(), r.route) {
            windows
                .entry((id, r.route))
                .or_default()
                .push((r.attempt_start_us, r.answered_us()));
        }
    }
    let overlap = |a: &[(u64, u64)], b: &[(u64, u64)]| {
        a.iter().any(|x| b.iter().any(|y| x.0 <= y.1 && y.0 <= x.1))
    };
    windows
        .iter()
        .filter(|((id, route), confirms)| {
            *route == Route::Confirm
                && windows
                    .get(&(*id, Route::Release))
                    .is_some_and(|releases| overlap(confirms, releases))
        })
        .count() as u64
}

/// Replays sent while the buyer's first hold attempt was still in flight.
fn concurrent_replays(log: &[Record]) -> u64 {
    let mut first: BTreeMap<u64, (u64, u64)> = BTreeMap::new();
    for r in log
        .iter()
        .filter(|r| r.route == Route::Hold && r.attempt == 1)
    {
        if let Some(b) = r.buyer {
            first.insert(b, (r.attempt_start_us, r.answered_us()));
        }
    }
    let mut buyers = BTreeSet::new();
    for r in log.iter().filter(|r| r.route == Route::HoldReplay) {
        if let Some(b) = r.buyer
            && first.get(&b).is_some_and(|(start, end)| {
                r.attempt_start_us >= *start && r.attempt_start_us <= *end
            })
        {
            buyers.insert(b);
        }
    }
    buyers.len() as u64
}

/// Units sold, from the confirm answers (the checker proves they match the store).
fn sold_at_rest(log: &[Record]) -> u64 {
    let mut seen = std::collections::BTreeSet::new();
    log.iter()
        .filter(|e| e.route == Route::Confirm && e.status == Some(200))
        .filter(|e| e.hold_id.as_ref().is_some_and(|id| seen.insert(id.clone())))
        .filter_map(|e| e.body.get("quantity").and_then(Value::as_u64))
        .sum()
}

/// The 1-minute load average from /proc/loadavg.
pub fn loadavg() -> Option<f64> {
    std::fs::read_to_string("/proc/loadavg")
        .ok()?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}
