//! Figures of one run: throughput, latency percentiles per route, conflict
//! rate, sell-out time, and a per-second timeline for the chart.

use std::{
    collections::{BTreeMap, btree_map::Entry},
    time::Duration,
};

use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::{
    check::Report,
    log::{EventSpec, Exchange, Route},
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

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TimelinePoint {
    pub second: f64,
    pub requests_per_second: f64,
    pub hold_p99_ms: f64,
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
    pub latency: Vec<RouteLatency>,
    pub peak_rss_mib: Option<f64>,
    /// The machine's 1-minute load average before and after the load: other
    /// work on the machine (it has 2 cores) shows here.
    #[serde(default)]
    pub loadavg_before: Option<f64>,
    #[serde(default)]
    pub loadavg_after: Option<f64>,
    pub violations: u64,
    pub timeline: Vec<TimelinePoint>,
}

impl Figures {
    pub fn route(&self, route: Route) -> Option<&RouteLatency> {
        self.latency.iter().find(|r| r.route == route)
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

/// `load_offset` is when the load phase began, relative to the recorder's clock.
pub fn figures(
    config: &RunConfig,
    events: &[EventSpec],
    log: &[Exchange],
    load_offset: Duration,
    elapsed: Duration,
    report: &Report,
) -> anyhow::Result<Figures> {
    let offset_us = u64::try_from(load_offset.as_micros()).unwrap_or(0);
    let since_load = |us: u64| us.saturating_sub(offset_us) as f64 / 1e6;
    let mut per_route: BTreeMap<Route, Histogram<u64>> = BTreeMap::new();
    let mut outcomes: BTreeMap<String, u64> = BTreeMap::new();
    let mut timeline: BTreeMap<u64, (u64, Histogram<u64>)> = BTreeMap::new();
    let (mut holds_granted, mut writes_ok, mut cas_retries) = (0u64, 0u64, 0u64);
    let (mut last_grant, mut first_sold_out): (Option<u64>, Option<u64>) = (None, None);
    for ex in log {
        let histogram = match per_route.entry(ex.route) {
            Entry::Occupied(h) => h.into_mut(),
            Entry::Vacant(v) => v.insert(new_histogram()?),
        };
        histogram.record(ex.latency_us.max(1))?;
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
        let done_us = ex.intended_start_us + ex.latency_us;
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
        let bucket = done_us.saturating_sub(offset_us) / (TIMELINE_BUCKET_MS * 1000);
        let slot = match timeline.entry(bucket) {
            Entry::Occupied(s) => s.into_mut(),
            Entry::Vacant(v) => v.insert((0, new_histogram()?)),
        };
        slot.0 += 1;
        if ex.route == Route::Hold {
            slot.1.record(ex.latency_us.max(1))?;
        }
    }
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
    let timeline = timeline
        .into_iter()
        .map(|(b, (n, h))| TimelinePoint {
            second: b as f64 * bucket_seconds,
            requests_per_second: n as f64 / bucket_seconds,
            hold_p99_ms: if h.is_empty() {
                0.0
            } else {
                ms(h.value_at_quantile(0.99))
            },
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
                .filter(|e| e.is_write_success() && e.intended_start_us + e.latency_us <= end)
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
        peak_rss_mib: None,
        loadavg_before: None,
        loadavg_after: None,
        violations: report.total(),
        timeline,
    })
}

/// Units sold, from the confirm answers (the checker proves they match the store).
fn sold_at_rest(log: &[Exchange]) -> u64 {
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
