//! The invariant checker: from every answer a run got and from the state read
//! back at rest, decide whether the service kept its promises. Every rule
//! names itself and cites the exchanges that break it.
//!
//! Time is judged by windows: a request was decided by the server somewhere
//! between when it was sent and when its answer arrived (under load it can
//! wait in a queue long after it was sent), so a rule only fires when every
//! moment of the window breaks it.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;
use serde_json::Value;

use crate::log::{EventSpec, Exchange, FinalState, KillWindow, Record, Route, SectionSpec};

/// Allowance when judging whether a hold had expired, by comparing the
/// server's `expires_at` with the load tool's clock: both read one system
/// clock here, so this only covers millisecond rounding. Against a server on
/// another machine, clock skew adds to it.
const EXPIRY_SLACK_MS: u64 = 50;

/// A pending Idempotency-Key younger than this belongs to a request still in
/// flight (the service's takeover window): a replay within it may hear 409
/// `request-in-progress` even when the first request's answer was a failure.
const IN_PROGRESS_TAKEOVER_MS: u64 = 10_000;

/// `buyers-turned-away-while-units-free` fires when more than this share of
/// the buyers who sent a hold got none while enough units were provably free.
const TURNED_AWAY_SHARE_MAX: f64 = 0.5;

/// 503 problem types that are answered before any booking code runs (the
/// local runtime's load shedding, the PostgreSQL peer's empty pool): such a
/// request wrote nothing. Any other 503 may have left parts that expire.
const SHED_BEFORE_WORK: [&str; 2] = ["overloaded", "busy"];

/// At most this many violations of one rule are kept as evidence.
const EVIDENCE_PER_RULE: usize = 20;

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Violation {
    pub rule: &'static str,
    pub evidence: String,
}

#[derive(Debug, Default, Serialize)]
pub struct Report {
    pub violations: Vec<Violation>,
    /// Violations per rule, including those beyond the kept evidence.
    pub counts: BTreeMap<&'static str, u64>,
    /// Requests that got no answer because the server was killed while they
    /// were in flight or before they were sent (see [`KillWindow::explains`]):
    /// counted, not violations. Any other unanswered request is one.
    #[serde(default)]
    pub unanswered_in_kills: u64,
    /// Change records the feed consumer heard (0: the feed was not followed).
    #[serde(default)]
    pub feed_records: u64,
}

impl Report {
    /// Records a broken promise (evidence kept for the first few per rule).
    pub fn add(&mut self, rule: &'static str, evidence: String) {
        let count = self.counts.entry(rule).or_default();
        *count += 1;
        if *count as usize <= EVIDENCE_PER_RULE {
            self.violations.push(Violation { rule, evidence });
        }
    }

    pub fn total(&self) -> u64 {
        self.counts.values().sum()
    }

    pub fn is_clean(&self) -> bool {
        self.counts.is_empty()
    }
}

/// A hold the service granted (a 201).
#[derive(Debug)]
struct Granted<'a> {
    exchange: &'a Record,
    section: String,
    quantity: u64,
    seats: BTreeSet<String>,
    expires_unix_ms: Option<u64>,
    /// The earliest answer that granted it (a replay can name it again).
    first_answered_unix_ms: u64,
}

/// What the run's confirms and releases settled.
#[derive(Debug, Default)]
struct Resolutions<'a> {
    /// Holds with a 200 confirm.
    confirmed: BTreeSet<String>,
    /// Holds with a 200 release: the first such release.
    released: BTreeMap<String, &'a Record>,
    /// Holds with a confirm, or a release, whose outcome is unknown (no
    /// answer, a 5xx): it may have landed.
    maybe_confirmed: BTreeSet<String>,
    maybe_released: BTreeSet<String>,
    /// The earliest send of a release that landed or may have (a 200, no
    /// answer, a 5xx), per hold: from then on the hold may be gone.
    release_sent: BTreeMap<String, u64>,
    /// The earliest answer of a 200 release, per hold.
    release_answered: BTreeMap<String, u64>,
}

impl Resolutions<'_> {
    /// A release of `hold_id` sent at `sent_unix_ms` may have ended it.
    fn release_may_have_landed(&mut self, hold_id: &str, sent_unix_ms: u64) {
        let sent = self
            .release_sent
            .entry(hold_id.to_owned())
            .or_insert(sent_unix_ms);
        *sent = (*sent).min(sent_unix_ms);
    }
}

fn seat_set(value: &Value) -> BTreeSet<String> {
    value
        .as_array()
        .map(|seats| {
            seats
                .iter()
                .filter_map(|s| s.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

/// An RFC 3339 time as Unix milliseconds.
pub(crate) fn rfc3339_unix_ms(value: &Value) -> Option<u64> {
    let time = humantime::parse_rfc3339(value.as_str()?).ok()?;
    let since = time.duration_since(std::time::UNIX_EPOCH).ok()?;
    u64::try_from(since.as_millis()).ok()
}

fn num(value: &Value, field: &str) -> Option<u64> {
    value.get(field).and_then(Value::as_u64)
}

fn is_hold(ex: &Exchange) -> bool {
    matches!(ex.route, Route::Hold | Route::HoldReplay)
}

/// A 409 that refuses the request itself (not "retry later").
fn is_refusal(ex: &Exchange) -> bool {
    ex.status == Some(409) && matches!(ex.problem_type(), "sold-out" | "seats-unavailable")
}

/// An answer that does not tell what the server did: none, a 5xx (a 503
/// that shed the request before any work excepted).
fn outcome_unknown(ex: &Exchange) -> bool {
    match ex.status {
        None => true,
        Some(503) => !SHED_BEFORE_WORK.contains(&ex.problem_type()),
        Some(status) => status >= 500,
    }
}

/// A request without an answer that a kill of the server explains.
fn killed_in_flight(kills: &[KillWindow], ex: &Exchange) -> bool {
    kills.iter().any(|kill| kill.explains(ex))
}

/// The server decided `a` and `b` at moments that may have been in either order.
fn overlap(a: &Exchange, b: &Exchange) -> bool {
    a.sent_unix_ms <= answered(b) && b.sent_unix_ms <= answered(a)
}

/// When the answer arrived (a request without one: when the client gave up).
fn answered(ex: &Exchange) -> u64 {
    ex.answered_unix_ms.max(ex.sent_unix_ms)
}

fn requested_seats(ex: &Exchange) -> BTreeSet<String> {
    seat_set(&ex.request["seats"])
}

fn requested_units(ex: &Exchange) -> u64 {
    num(&ex.request, "quantity").unwrap_or(requested_seats(ex).len() as u64)
}

fn requested_section(ex: &Exchange) -> &str {
    ex.request
        .get("section")
        .and_then(Value::as_str)
        .unwrap_or("")
}

/// Checks one run. `log` is every attempt of the load phase (in any order).
pub fn check(events: &[EventSpec], log: &[Record], final_state: &FinalState) -> Report {
    check_with_kills(events, log, final_state, &[])
}

/// Checks a run during which the server was killed (`kills`) and restarted on
/// the same state. A request the kill left without an answer is counted, not
/// reported; it may have landed before the kill, so every rule allows for it
/// as for any unknown outcome, and a hold it may have placed must have
/// expired by the time the state was read at rest.
pub fn check_with_kills(
    events: &[EventSpec],
    log: &[Record],
    final_state: &FinalState,
    kills: &[KillWindow],
) -> Report {
    let mut report = Report::default();
    check_answers(events, log, kills, &mut report);
    let granted = check_grants(log, &mut report);
    check_idempotency(log, &mut report);
    let resolutions = check_resolutions(log, &granted, &mut report);
    check_races(log, &mut report);
    check_final_reads(&granted, &resolutions, final_state, &mut report);
    for event in events {
        check_event_at_rest(
            event,
            log,
            &granted,
            &resolutions,
            final_state,
            kills,
            &mut report,
        );
        for section in &event.sections {
            check_live_overlap(event, section, &granted, &resolutions, &mut report);
        }
    }
    check_refusals(
        events,
        log,
        &granted,
        &resolutions,
        final_state,
        &mut report,
    );
    report
}

/// Every request got an answer; 503 carries Retry-After; no other 5xx; every
/// status is one the contract allows for that route; live availability adds
/// up; a refusal agrees with itself and with the request.
fn check_answers(events: &[EventSpec], log: &[Record], kills: &[KillWindow], report: &mut Report) {
    for ex in log {
        let Some(status) = ex.status else {
            if killed_in_flight(kills, ex) {
                report.unanswered_in_kills += 1;
            } else {
                report.add("every-request-answered", ex.evidence());
            }
            continue;
        };
        if status == 503 {
            if ex.retry_after.is_none() {
                report.add("503-carries-retry-after", ex.evidence());
            }
            continue;
        }
        if status >= 500 {
            report.add("no-server-errors", ex.evidence());
            continue;
        }
        let problem = ex.problem_type();
        let allowed = match ex.route {
            Route::PutEvent => matches!(status, 200 | 201),
            Route::Availability => status == 200,
            Route::Hold | Route::HoldReplay => {
                status == 201
                    || (status == 409
                        && matches!(
                            problem,
                            "sold-out" | "seats-unavailable" | "request-in-progress"
                        ))
            }
            // 404 is judged against the hold's fate in `check_final_reads`.
            Route::GetHold => matches!(status, 200 | 404),
            // 410 is judged against the hold's expiry in `check_resolutions`,
            // 409 `hold-released` against the releases in `check_races`.
            Route::Confirm => {
                matches!(status, 200 | 410) || (status == 409 && problem == "hold-released")
            }
            Route::Release => status == 200 || (status == 409 && problem == "hold-confirmed"),
        };
        if !allowed {
            report.add("expected-status", ex.evidence());
        }
        if ex.route == Route::Availability && status == 200 {
            check_availability_sums(ex, report);
        }
        if is_hold(ex) && status == 409 {
            check_refusal_shape(events, ex, report);
        }
    }
}

/// A `sold-out` names the units the server saw free, fewer than asked for
/// and no more than the section has; a `seats-unavailable` names seats that
/// were asked for. A `request-in-progress` says when to come back.
fn check_refusal_shape(events: &[EventSpec], ex: &Exchange, report: &mut Report) {
    match ex.problem_type() {
        "sold-out" => {
            let capacity =
                section_spec(events, &ex.event_id, requested_section(ex)).map(|s| s.capacity);
            let wanted = requested_units(ex);
            let consistent = num(&ex.body, "available")
                .is_some_and(|a| a < wanted && capacity.is_none_or(|c| a <= c));
            if !consistent {
                report.add(
                    "sold-out-consistent",
                    format!(
                        "{wanted} requested, capacity {capacity:?}: {}",
                        ex.evidence()
                    ),
                );
            }
        }
        "seats-unavailable" => {
            let named = named_seats(ex);
            if named.is_empty() || !named.is_subset(&requested_seats(ex)) {
                report.add("seats-unavailable-consistent", ex.evidence());
            }
        }
        "request-in-progress" if ex.retry_after.is_none() => {
            report.add("in-progress-carries-retry-after", ex.evidence());
        }
        _ => {}
    }
}

/// The seats a `seats-unavailable` answer names (`unavailable`; the
/// PostgreSQL peer says `seats`).
fn named_seats(ex: &Exchange) -> BTreeSet<String> {
    let mut named = seat_set(&ex.body["unavailable"]);
    named.extend(seat_set(&ex.body["seats"]));
    named
}

fn section_spec<'a>(
    events: &'a [EventSpec],
    event: &str,
    section: &str,
) -> Option<&'a SectionSpec> {
    events
        .iter()
        .find(|e| e.id == event)?
        .sections
        .iter()
        .find(|s| s.id == section)
}

/// Units are conserved in every snapshot, even mid-sale: each document
/// conserves its own units, so their sum is always the capacity.
fn check_availability_sums(ex: &Exchange, report: &mut Report) {
    let Some(sections) = ex.body.get("sections").and_then(Value::as_array) else {
        report.add("availability-shape", ex.evidence());
        return;
    };
    for s in sections {
        match (
            num(s, "capacity"),
            num(s, "available"),
            num(s, "held"),
            num(s, "sold"),
        ) {
            (Some(c), Some(a), Some(h), Some(so)) => {
                if a + h + so != c {
                    report.add(
                        "units-conserved",
                        format!(
                            "available {a} + held {h} + sold {so} != capacity {c}: {}",
                            ex.evidence()
                        ),
                    );
                }
            }
            _ => report.add("availability-shape", ex.evidence()),
        }
    }
}

/// Collects the 201 holds; each must match its request and have its own id.
fn check_grants<'a>(log: &'a [Record], report: &mut Report) -> BTreeMap<String, Granted<'a>> {
    let mut granted: BTreeMap<String, Granted<'a>> = BTreeMap::new();
    for ex in log {
        if !is_hold(ex) || ex.status != Some(201) {
            continue;
        }
        let Some(hold_id) = ex.body.get("hold_id").and_then(Value::as_str) else {
            report.add("hold-answer-shape", ex.evidence());
            continue;
        };
        let section = ex
            .body
            .get("section")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_owned();
        let quantity = num(&ex.body, "quantity").unwrap_or(0);
        let seats = seat_set(&ex.body["seats"]);
        let requested = requested_seats(ex);
        if section != requested_section(ex)
            || quantity != requested_units(ex)
            || (!requested.is_empty() && seats != requested)
        {
            report.add("hold-matches-request", ex.evidence());
        }
        if let Some(previous) = granted.get_mut(hold_id) {
            // The same id twice is only right for two answers to one Idempotency-Key.
            if previous.exchange.idempotency_key.is_none()
                || previous.exchange.idempotency_key != ex.idempotency_key
            {
                report.add(
                    "hold-id-unique",
                    format!("{}\nand {}", previous.exchange.evidence(), ex.evidence()),
                );
            }
            previous.first_answered_unix_ms = previous.first_answered_unix_ms.min(answered(ex));
            continue;
        }
        granted.insert(
            hold_id.to_owned(),
            Granted {
                exchange: ex,
                section,
                quantity,
                seats,
                expires_unix_ms: rfc3339_unix_ms(&ex.body["expires_at"]),
                first_answered_unix_ms: answered(ex),
            },
        );
    }
    granted
}

/// Answers to one Idempotency-Key: every 201 names the same hold; once a
/// hold was granted, no later request with the key is refused; a 409
/// `request-in-progress` only while another request with the key may be in
/// flight.
fn check_idempotency(log: &[Record], report: &mut Report) {
    let mut by_key: BTreeMap<(&str, &str), Vec<&Record>> = BTreeMap::new();
    for ex in log {
        if let (true, Some(key)) = (is_hold(ex), ex.idempotency_key.as_deref()) {
            by_key
                .entry((ex.event_id.as_str(), key))
                .or_default()
                .push(ex);
        }
    }
    for answers in by_key.values() {
        let grants: Vec<&&Record> = answers.iter().filter(|e| e.status == Some(201)).collect();
        if let Some((first, rest)) = grants.split_first() {
            for other in rest {
                let same = first.body.get("hold_id") == other.body.get("hold_id")
                    && first.body.get("quantity") == other.body.get("quantity")
                    && first.body.get("section") == other.body.get("section");
                if !same {
                    report.add(
                        "replay-returns-same-hold",
                        format!("{}\nvs {}", first.evidence(), other.evidence()),
                    );
                }
            }
        }
        // A refusal is not recorded (a repeat asks again), so it may come
        // before a grant or race one; a request sent after a grant was
        // answered must get that hold back.
        for refusal in answers.iter().filter(|e| is_refusal(e)) {
            if let Some(grant) = grants
                .iter()
                .find(|g| answered(g) < refusal.sent_unix_ms && !overlap(g, refusal))
            {
                report.add(
                    "idempotent-replay",
                    format!(
                        "granted by {}\nthen refused {}",
                        grant.evidence(),
                        refusal.evidence()
                    ),
                );
            }
        }
        for busy in answers
            .iter()
            .filter(|e| e.status == Some(409) && e.problem_type() == "request-in-progress")
        {
            let in_flight = answers.iter().any(|other| {
                !std::ptr::eq(*other, *busy)
                    && other.sent_unix_ms <= answered(busy)
                    && (overlap(other, busy)
                        || (outcome_unknown(other)
                            && busy.sent_unix_ms
                                <= answered(other) + IN_PROGRESS_TAKEOVER_MS + EXPIRY_SLACK_MS))
            });
            if !in_flight {
                report.add("in-progress-only-while-in-flight", busy.evidence());
            }
        }
    }
}

/// Confirms and releases: answers agree with the hold; a 410 only for a hold
/// that had expired; no hold both confirmed and released.
fn check_resolutions<'a>(
    log: &'a [Record],
    granted: &BTreeMap<String, Granted<'_>>,
    report: &mut Report,
) -> Resolutions<'a> {
    let mut out = Resolutions::default();
    let earliest_unknown_confirm = earliest_unknown_confirms(log);
    for ex in log {
        let Some(hold_id) = ex.hold_id.as_deref() else {
            continue;
        };
        match (ex.route, ex.status) {
            (Route::Confirm, Some(200)) => {
                let status_ok = ex.body.get("status").and_then(Value::as_str) == Some("confirmed");
                let quantity_ok = granted
                    .get(hold_id)
                    .is_none_or(|g| num(&ex.body, "quantity") == Some(g.quantity));
                if !status_ok || !quantity_ok {
                    report.add("confirm-answer", ex.evidence());
                }
                // "Confirming an expired hold is 410": an expiry before the
                // request was even sent leaves no room for a 200, unless it
                // repeats a confirm (same payment_ref) that was sent before
                // the expiry and got no answer: that one may have landed.
                let repeats_earlier = |expires: u64| {
                    earliest_unknown_confirm
                        .get(hold_id)
                        .is_some_and(|&sent| sent <= expires + EXPIRY_SLACK_MS)
                };
                if let Some(g) = granted.get(hold_id)
                    && let Some(expires) = g.expires_unix_ms
                    && expires + EXPIRY_SLACK_MS < ex.sent_unix_ms
                    && !repeats_earlier(expires)
                {
                    report.add(
                        "no-confirm-after-expiry",
                        format!("{}\nhold expired at {expires} (unix ms)", ex.evidence()),
                    );
                }
                out.confirmed.insert(hold_id.to_owned());
            }
            (Route::Confirm, Some(410)) => {
                // The server decided at some time before the answer arrived.
                let grant = granted.get(hold_id);
                let expires = grant.and_then(|g| g.expires_unix_ms);
                if !expires.is_some_and(|e| expired_when_answered(ex, e)) {
                    report.add(
                        "confirm-of-live-hold-refused",
                        format!(
                            "{}\nhold expires at {expires:?} (unix ms), granted by {}",
                            ex.evidence(),
                            grant.map_or_else(|| "?".to_owned(), |g| g.exchange.evidence())
                        ),
                    );
                }
            }
            (Route::Confirm, _) if outcome_unknown(ex) => {
                out.maybe_confirmed.insert(hold_id.to_owned());
            }
            (Route::Release, _) if outcome_unknown(ex) => {
                out.maybe_released.insert(hold_id.to_owned());
                out.release_may_have_landed(hold_id, ex.sent_unix_ms);
            }
            (Route::Release, Some(200)) => {
                out.released.entry(hold_id.to_owned()).or_insert(ex);
                out.release_may_have_landed(hold_id, ex.sent_unix_ms);
                let done = out
                    .release_answered
                    .entry(hold_id.to_owned())
                    .or_insert(answered(ex));
                *done = (*done).min(answered(ex));
            }
            _ => {}
        }
    }
    for id in out
        .confirmed
        .iter()
        .filter(|id| out.released.contains_key(*id))
    {
        report.add("confirmed-or-released-not-both", format!("hold {id}"));
    }
    out
}

/// Per hold, the earliest send of a confirm whose outcome is unknown.
fn earliest_unknown_confirms(log: &[Record]) -> BTreeMap<&str, u64> {
    let mut out: BTreeMap<&str, u64> = BTreeMap::new();
    for ex in log.iter().filter(|e| e.route == Route::Confirm) {
        if let (Some(id), true) = (ex.hold_id.as_deref(), outcome_unknown(ex)) {
            let sent = out.entry(id).or_insert(ex.sent_unix_ms);
            *sent = (*sent).min(ex.sent_unix_ms);
        }
    }
    out
}

/// A confirm refused as `hold-released` needs a release of that hold that
/// succeeded, or whose outcome is unknown (it may have landed), sent before
/// the refusal arrived; a release refused as `hold-confirmed` likewise needs
/// a confirm.
fn check_races(log: &[Record], report: &mut Report) {
    let mut won: BTreeMap<(&str, Route), Vec<&Record>> = BTreeMap::new();
    for ex in log {
        let may_have_won = ex.status == Some(200) || outcome_unknown(ex);
        if let (Some(id), Route::Confirm | Route::Release, true) =
            (ex.hold_id.as_deref(), ex.route, may_have_won)
        {
            won.entry((id, ex.route)).or_default().push(ex);
        }
    }
    for ex in log {
        let (Some(id), Some(409)) = (ex.hold_id.as_deref(), ex.status) else {
            continue;
        };
        let (winner, rule) = match (ex.route, ex.problem_type()) {
            (Route::Confirm, "hold-released") => {
                (Route::Release, "confirm-refused-only-if-released")
            }
            (Route::Release, "hold-confirmed") => {
                (Route::Confirm, "release-refused-only-if-confirmed")
            }
            _ => continue,
        };
        let backed = won
            .get(&(id, winner))
            .is_some_and(|w| w.iter().any(|w| w.sent_unix_ms <= answered(ex)));
        if !backed {
            report.add(rule, ex.evidence());
        }
    }
}

/// Whether a hold expiring at `expires_unix_ms` may have expired by the time
/// the server decided `ex` (which it did before the answer arrived).
fn expired_when_answered(ex: &Exchange, expires_unix_ms: u64) -> bool {
    ex.answered_unix_ms.max(ex.sent_unix_ms) + EXPIRY_SLACK_MS >= expires_unix_ms
}

/// Every granted hold is readable at rest, with the fate its answers promised.
fn check_final_reads(
    granted: &BTreeMap<String, Granted<'_>>,
    resolutions: &Resolutions<'_>,
    final_state: &FinalState,
    report: &mut Report,
) {
    for (id, g) in granted {
        let Some(read) = final_state.holds.get(id) else {
            report.add(
                "hold-readable",
                format!("hold {id} was never read back: {}", g.exchange.evidence()),
            );
            continue;
        };
        let status = read
            .body
            .get("status")
            .and_then(Value::as_str)
            .unwrap_or("");
        let expired_by_now = g
            .expires_unix_ms
            .is_some_and(|e| e <= final_state.read_unix_ms + EXPIRY_SLACK_MS);
        if resolutions.confirmed.contains(id) {
            if read.status != Some(200) || status != "confirmed" {
                report.add("confirmed-stays-confirmed", read.evidence());
            }
        } else if let Some(release) = resolutions.released.get(id) {
            // Ended holds may be pruned (documented): 404 is allowed. A hold
            // that expired before the release reached the server stays expired.
            let expired_first = g
                .expires_unix_ms
                .is_some_and(|e| expired_when_answered(release, e));
            let ok = read.status == Some(404)
                || (read.status == Some(200)
                    && (status == "released" || (status == "expired" && expired_first)));
            if !ok {
                report.add(
                    "released-reads-released",
                    format!("{}\nreleased by {}", read.evidence(), release.evidence()),
                );
            }
        } else {
            // A confirm or release that got no answer may have landed.
            let maybe_confirmed = resolutions.maybe_confirmed.contains(id);
            let maybe_released = resolutions.maybe_released.contains(id);
            let ok = match read.status {
                Some(200) => {
                    status == "held"
                        || (status == "expired" && expired_by_now)
                        || (status == "confirmed" && maybe_confirmed)
                        || (status == "released" && maybe_released)
                }
                Some(404) => expired_by_now || maybe_released,
                _ => false,
            };
            if !ok {
                report.add("hold-readable", read.evidence());
            }
        }
    }
}

fn check_event_at_rest(
    event: &EventSpec,
    log: &[Record],
    granted: &BTreeMap<String, Granted<'_>>,
    resolutions: &Resolutions<'_>,
    final_state: &FinalState,
    kills: &[KillWindow],
    report: &mut Report,
) {
    let Some(availability) = final_state.availability.get(&event.id) else {
        report.add(
            "final-availability",
            format!("event {} was not read back", event.id),
        );
        return;
    };
    if availability.status != Some(200) {
        report.add("final-availability", availability.evidence());
        return;
    }
    let sections = availability.body.get("sections").and_then(Value::as_array);
    for spec in &event.sections {
        let Some(snapshot) = sections.and_then(|s| {
            s.iter()
                .find(|x| x.get("id").and_then(Value::as_str) == Some(spec.id.as_str()))
        }) else {
            report.add(
                "final-availability",
                format!("section {} missing: {}", spec.id, availability.evidence()),
            );
            continue;
        };
        check_section_at_rest(
            event,
            spec,
            snapshot,
            log,
            granted,
            resolutions,
            final_state,
            kills,
            report,
        );
    }
}

#[allow(clippy::too_many_arguments)]
fn check_section_at_rest(
    event: &EventSpec,
    spec: &SectionSpec,
    snapshot: &Value,
    log: &[Record],
    granted: &BTreeMap<String, Granted<'_>>,
    resolutions: &Resolutions<'_>,
    final_state: &FinalState,
    kills: &[KillWindow],
    report: &mut Report,
) {
    let confirmed = &resolutions.confirmed;
    let place = format!("event {} section {}", event.id, spec.id);
    let (Some(available), Some(held), Some(sold)) = (
        num(snapshot, "available"),
        num(snapshot, "held"),
        num(snapshot, "sold"),
    ) else {
        report.add("final-availability", format!("{place}: {snapshot}"));
        return;
    };
    if available + held + sold != spec.capacity {
        report.add(
            "units-conserved-at-rest",
            format!(
                "{place}: available {available} + held {held} + sold {sold} != capacity {}",
                spec.capacity
            ),
        );
    }
    let in_section = |g: &&Granted<'_>| g.exchange.event_id == event.id && g.section == spec.id;
    let confirmed_holds: Vec<(&String, &Granted<'_>)> = granted
        .iter()
        .filter(|(id, g)| confirmed.contains(*id) && in_section(g))
        .collect();
    let confirmed_units: u64 = confirmed_holds.iter().map(|(_, g)| g.quantity).sum();
    if sold > spec.capacity || confirmed_units > spec.capacity {
        report.add(
            "no-oversell",
            format!(
                "{place}: capacity {}, sold {sold}, buyers were told they bought {confirmed_units}",
                spec.capacity
            ),
        );
    }
    // Confirms that got no answer may have landed (the missing answer is
    // reported once, as `every-request-answered`).
    let maybe_units: u64 = granted
        .iter()
        .filter(|(id, g)| {
            in_section(g) && !confirmed.contains(*id) && resolutions.maybe_confirmed.contains(*id)
        })
        .map(|(_, g)| g.quantity)
        .sum();
    if sold < confirmed_units || sold > confirmed_units + maybe_units {
        report.add(
            "sold-equals-confirmed",
            format!(
                "{place}: sold {sold} but confirmed answers add up to {confirmed_units} \
                 (and confirms without an answer to {maybe_units})"
            ),
        );
    }
    // Holds still held at rest (read back as `held`) are exactly the held units.
    let live_units: u64 = granted
        .iter()
        .filter(|(_, g)| in_section(g))
        .filter(|(id, _)| {
            final_state.holds.get(*id).is_some_and(|r| {
                r.status == Some(200)
                    && r.body.get("status").and_then(Value::as_str) == Some("held")
            })
        })
        .map(|(_, g)| g.quantity)
        .sum();
    // A hold request whose outcome is unknown may have left a hold (or the
    // parts of a failed one) that we cannot read back, until it expires. One
    // a kill left unanswered was decided before its failure, if at all, so
    // what it left has expired a hold lifetime after that.
    let availability_read = final_state
        .availability
        .get(&event.id)
        .map_or(u64::MAX, answered);
    let ttl_ms = event.hold_ttl_seconds.map(|s| s.saturating_mul(1_000));
    let unknown_units: u64 = log
        .iter()
        .filter(|ex| {
            is_hold(ex)
                && outcome_unknown(ex)
                && ex.event_id == event.id
                && requested_section(ex) == spec.id
        })
        .filter(|ex| match (ex.status, ttl_ms) {
            (Some(_), Some(ttl)) => answered(ex) + ttl + EXPIRY_SLACK_MS >= availability_read,
            (None, Some(ttl)) if killed_in_flight(kills, ex) => {
                answered(ex) + ttl + EXPIRY_SLACK_MS >= availability_read
            }
            _ => true,
        })
        .map(|ex| requested_units(ex))
        .sum();
    if held < live_units || held > live_units + unknown_units {
        report.add(
            "held-equals-live-holds",
            format!(
                "{place}: held {held} but holds read back as held add up to {live_units} \
                 (and hold requests without a known outcome to {unknown_units})"
            ),
        );
    }
    if spec.seats.is_some() {
        let mut owner: BTreeMap<&str, &str> = BTreeMap::new();
        for (id, g) in &confirmed_holds {
            for seat in &g.seats {
                if let Some(other) = owner.insert(seat.as_str(), id.as_str()) {
                    report.add(
                        "seat-sold-once",
                        format!("{place}: seat {seat} confirmed in holds {other} and {id}"),
                    );
                }
            }
        }
        let free = seat_set(&snapshot["available_seats"]);
        if free.len() as u64 != available {
            report.add(
                "final-availability",
                format!(
                    "{place}: available {available} but {} seats listed",
                    free.len()
                ),
            );
        }
        for seat in owner.keys() {
            if free.contains(*seat) {
                report.add(
                    "seat-sold-once",
                    format!("{place}: sold seat {seat} is listed as available"),
                );
            }
        }
    }
}

/// The moments a granted hold was surely live: from its first 201 answer to
/// the earliest moment it may have ended (the send of a release that
/// succeeded or whose outcome is unknown; its expiry, unless it was
/// confirmed).
fn surely_live(id: &str, g: &Granted<'_>, resolutions: &Resolutions<'_>) -> Option<(u64, u64)> {
    let mut end = resolutions
        .release_sent
        .get(id)
        .copied()
        .unwrap_or(u64::MAX);
    if !resolutions.confirmed.contains(id) {
        end = end.min(g.expires_unix_ms?.saturating_sub(EXPIRY_SLACK_MS));
    }
    (g.first_answered_unix_ms < end).then_some((g.first_answered_unix_ms, end))
}

/// No seat in two holds, and no more units in holds than the section has, at
/// any moment, confirmed or not: judged from when each hold was surely live.
fn check_live_overlap(
    event: &EventSpec,
    spec: &SectionSpec,
    granted: &BTreeMap<String, Granted<'_>>,
    resolutions: &Resolutions<'_>,
    report: &mut Report,
) {
    let place = format!("event {} section {}", event.id, spec.id);
    let live: Vec<(&str, &Granted<'_>, u64, u64)> = granted
        .iter()
        .filter(|(_, g)| g.exchange.event_id == event.id && g.section == spec.id)
        .filter_map(|(id, g)| {
            surely_live(id, g, resolutions).map(|(from, to)| (id.as_str(), g, from, to))
        })
        .collect();
    if spec.seats.is_some() {
        let mut by_seat: BTreeMap<&str, Vec<(u64, u64, &str)>> = BTreeMap::new();
        for (id, g, from, to) in &live {
            for seat in &g.seats {
                by_seat.entry(seat).or_default().push((*from, *to, id));
            }
        }
        for (seat, mut spans) in by_seat {
            spans.sort_unstable();
            let mut longest: Option<(u64, u64, &str)> = None;
            for span in spans {
                if let Some(before) = longest
                    && span.0 < before.1
                {
                    report.add(
                        "seat-held-once",
                        format!(
                            "{place}: seat {seat} in hold {} (surely live {}..{} unix ms) and hold {} ({}..{})",
                            before.2, before.0, before.1, span.2, span.0, span.1
                        ),
                    );
                }
                if longest.is_none_or(|l| span.1 > l.1) {
                    longest = Some(span);
                }
            }
        }
        return;
    }
    // Half-open spans: at one instant, ends go before starts.
    let mut edges: Vec<(u64, bool, &str, u64)> = Vec::with_capacity(live.len() * 2);
    for (id, g, from, to) in &live {
        edges.push((*from, true, id, g.quantity));
        edges.push((*to, false, id, g.quantity));
    }
    edges.sort_unstable();
    let mut held = 0u64;
    let mut holders: BTreeMap<&str, u64> = BTreeMap::new();
    for (at, start, id, units) in edges {
        if start {
            held += units;
            holders.insert(id, units);
            if held > spec.capacity {
                report.add(
                    "capacity-never-exceeded",
                    format!(
                        "{place}: {held} units in holds surely live at {at} (unix ms), capacity {}: {holders:?}",
                        spec.capacity
                    ),
                );
                return;
            }
        } else {
            held -= units;
            holders.remove(id);
        }
    }
}

/// Something that may have held units of a section for a while and was over
/// by the time the state was read at rest.
#[derive(Debug)]
struct Occupation {
    from: u64,
    /// Inclusive; `u64::MAX`: no bound known.
    to: u64,
    units: u64,
    seats: BTreeSet<String>,
    /// The attempt itself, for a request that got no hold (index in the log).
    attempt: Option<usize>,
}

/// Every occupation of a section that may have been over at rest:
///
/// - a granted hold that was not confirmed and did not read back as held at
///   rest: from the first send with its Idempotency-Key to its release or
///   expiry;
/// - a hold request that got no hold: while it was in flight (a hold that
///   spans documents writes parts, then removes them when it fails), or,
///   if its outcome is unknown (no answer, a 5xx, a 503 that may have come
///   from booking code), until its parts would expire.
fn occupations(
    event: &EventSpec,
    spec: &SectionSpec,
    log: &[Record],
    granted: &BTreeMap<String, Granted<'_>>,
    resolutions: &Resolutions<'_>,
    final_state: &FinalState,
) -> Vec<Occupation> {
    let ttl_ms = event.hold_ttl_seconds.map(|s| s.saturating_mul(1_000));
    let in_section = |ex: &Exchange| ex.event_id == event.id && requested_section(ex) == spec.id;
    let mut first_sent: BTreeMap<&str, u64> = BTreeMap::new();
    for ex in log.iter().filter(|e| is_hold(e) && in_section(e)) {
        if let Some(key) = ex.idempotency_key.as_deref() {
            let sent = first_sent.entry(key).or_insert(ex.sent_unix_ms);
            *sent = (*sent).min(ex.sent_unix_ms);
        }
    }
    let availability_read = final_state
        .availability
        .get(&event.id)
        .map_or(u64::MAX, answered);
    let mut out = Vec::new();
    for (id, g) in granted {
        if g.exchange.event_id != event.id
            || g.section != spec.id
            || resolutions.confirmed.contains(id)
        {
            continue;
        }
        let expiry_end = g.expires_unix_ms.map(|e| e + EXPIRY_SLACK_MS);
        let held_at_rest = final_state.holds.get(id).is_some_and(|r| {
            r.status == Some(200) && r.body.get("status").and_then(Value::as_str) == Some("held")
        }) && g
            .expires_unix_ms
            .is_some_and(|e| e.saturating_sub(EXPIRY_SLACK_MS) > availability_read);
        if held_at_rest {
            continue;
        }
        let from = g
            .exchange
            .idempotency_key
            .as_deref()
            .and_then(|k| first_sent.get(k).copied())
            .unwrap_or(g.exchange.sent_unix_ms)
            .min(g.exchange.sent_unix_ms);
        let mut to = expiry_end.unwrap_or(u64::MAX);
        if let Some(released) = resolutions.release_answered.get(id) {
            to = to.min(*released);
        }
        out.push(Occupation {
            from,
            to,
            units: g.quantity,
            seats: g.seats.clone(),
            attempt: None,
        });
    }
    for (i, ex) in log.iter().enumerate() {
        if !is_hold(ex) || ex.status == Some(201) || !in_section(ex) {
            continue;
        }
        let to = if outcome_unknown(ex) {
            match (ex.status, ttl_ms) {
                (Some(_), Some(ttl)) => answered(ex) + ttl + EXPIRY_SLACK_MS,
                _ => u64::MAX,
            }
        } else {
            answered(ex)
        };
        out.push(Occupation {
            from: ex.sent_unix_ms,
            to,
            units: requested_units(ex),
            seats: requested_seats(ex),
            attempt: Some(i),
        });
    }
    out
}

/// The most units held at any moment of a window by some occupations: a
/// step function with a sparse table for range maxima.
#[derive(Debug)]
struct Peak {
    /// Where the step function changes; `levels[0][i]` holds from `times[i]`.
    times: Vec<u64>,
    levels: Vec<Vec<u64>>,
}

impl Peak {
    fn new(spans: impl IntoIterator<Item = (u64, u64, u64)>) -> Self {
        let mut deltas: Vec<(u64, i128)> = Vec::new();
        for (from, to, weight) in spans {
            deltas.push((from, i128::from(weight)));
            if to < u64::MAX {
                deltas.push((to + 1, -i128::from(weight)));
            }
        }
        deltas.sort_unstable();
        let mut times = Vec::new();
        let mut values = Vec::new();
        let mut level: i128 = 0;
        for (at, delta) in deltas {
            level += delta;
            let value = u64::try_from(level.max(0)).unwrap_or(u64::MAX);
            if times.last() == Some(&at) {
                if let Some(last) = values.last_mut() {
                    *last = value;
                }
            } else {
                times.push(at);
                values.push(value);
            }
        }
        let mut levels = vec![values];
        let mut width = 1;
        while width * 2 <= times.len() {
            let Some(below) = levels.last() else { break };
            let next: Vec<u64> = (0..below.len() - width)
                .map(|i| below[i].max(below[i + width]))
                .collect();
            levels.push(next);
            width *= 2;
        }
        Self { times, levels }
    }

    /// The most held at any moment of `[from, to]`.
    fn max(&self, from: u64, to: u64) -> u64 {
        let last = self.times.partition_point(|&t| t <= to);
        if last == 0 || from > to {
            return 0;
        }
        let first = self.times.partition_point(|&t| t <= from).saturating_sub(1);
        let (lo, hi) = (first, last - 1);
        let k = usize::BITS - 1 - (hi - lo + 1).leading_zeros();
        let k = k as usize;
        let row = &self.levels[k];
        row[lo].max(row[hi + 1 - (1 << k)])
    }

    /// The most held at any moment of `[from, to]` by occupations other than
    /// `own` (spans `(from, to, weight)` that are part of the count).
    fn max_without(&self, from: u64, to: u64, own: &[(u64, u64, u64)]) -> u64 {
        let mut cuts = vec![from];
        for (f, t, _) in own {
            if *f > from && *f <= to {
                cuts.push(*f);
            }
            if *t < to && *t >= from {
                cuts.push(*t + 1);
            }
        }
        cuts.sort_unstable();
        cuts.dedup();
        let mut most = 0;
        for (i, start) in cuts.iter().enumerate() {
            let end = cuts.get(i + 1).map_or(to, |next| next - 1);
            let mine: u64 = own
                .iter()
                .filter(|(f, t, _)| *f <= *start && *start <= *t)
                .map(|(_, _, w)| w)
                .sum();
            most = most.max(self.max(*start, end).saturating_sub(mine));
        }
        most
    }
}

/// What was free in a section at rest.
enum FreeAtRest {
    Units(u64),
    Seats(BTreeSet<String>),
}

fn free_at_rest(
    event: &EventSpec,
    spec: &SectionSpec,
    final_state: &FinalState,
) -> Option<FreeAtRest> {
    let read = final_state.availability.get(&event.id)?;
    if read.status != Some(200) {
        return None;
    }
    let snapshot = read
        .body
        .get("sections")?
        .as_array()?
        .iter()
        .find(|s| s.get("id").and_then(Value::as_str) == Some(spec.id.as_str()))?;
    Some(if spec.seats.is_some() {
        FreeAtRest::Seats(seat_set(&snapshot["available_seats"]))
    } else {
        FreeAtRest::Units(num(snapshot, "available")?)
    })
}

/// One section's occupations, ready to ask how much was surely free.
struct Room<'a> {
    free: FreeAtRest,
    occupations: Vec<Occupation>,
    units: Peak,
    seats: BTreeMap<&'a str, Peak>,
}

impl<'a> Room<'a> {
    fn new(free: FreeAtRest, occupations: Vec<Occupation>, spec: &'a SectionSpec) -> Self {
        let units = Peak::new(occupations.iter().map(|o| (o.from, o.to, o.units)));
        let seats = spec
            .seats
            .iter()
            .flatten()
            .map(|seat| {
                let peak = Peak::new(
                    occupations
                        .iter()
                        .filter(|o| o.seats.contains(seat))
                        .map(|o| (o.from, o.to, 1)),
                );
                (seat.as_str(), peak)
            })
            .collect();
        Self {
            free,
            occupations,
            units,
            seats,
        }
    }

    fn own(&self, attempts: &BTreeSet<usize>, seat: Option<&str>) -> Vec<(u64, u64, u64)> {
        self.occupations
            .iter()
            .filter(|o| o.attempt.is_some_and(|i| attempts.contains(&i)))
            .filter(|o| seat.is_none_or(|s| o.seats.contains(s)))
            .map(|o| (o.from, o.to, if seat.is_some() { 1 } else { o.units }))
            .collect()
    }

    /// Units surely free at every moment of `[from, to]` for a request whose
    /// own attempts are `attempts`: free at rest, less what others may have
    /// held meanwhile and given back before rest.
    fn units_free(
        &self,
        from: u64,
        to: u64,
        attempts: &BTreeSet<usize>,
    ) -> Option<(u64, u64, u64)> {
        let FreeAtRest::Units(at_rest) = self.free else {
            return None;
        };
        let others = self.units.max_without(from, to, &self.own(attempts, None));
        Some((at_rest.saturating_sub(others), at_rest, others))
    }

    /// Whether `seat` was surely free at every moment of `[from, to]`.
    fn seat_free(&self, seat: &str, from: u64, to: u64, attempts: &BTreeSet<usize>) -> bool {
        let FreeAtRest::Seats(free) = &self.free else {
            return false;
        };
        free.contains(seat)
            && self
                .seats
                .get(seat)
                .is_some_and(|p| p.max_without(from, to, &self.own(attempts, Some(seat))) == 0)
    }
}

/// Refusals against what was provably free: a `sold-out` of q units while q
/// units were free at every moment of its window, or a `seats-unavailable`
/// naming a seat that was free all along, is wrong; and a run in which most
/// buyers got no hold while enough units were free all the time they tried
/// fails. "Provably free" starts from the state at rest and takes back every
/// unit that another hold, or a request in flight, may have held during the
/// window and given back before rest, so concurrency only weakens the rule.
fn check_refusals(
    events: &[EventSpec],
    log: &[Record],
    granted: &BTreeMap<String, Granted<'_>>,
    resolutions: &Resolutions<'_>,
    final_state: &FinalState,
    report: &mut Report,
) {
    let (mut hold_buyers, mut turned_away) = (0u64, Vec::new());
    for event in events {
        for spec in &event.sections {
            let Some(free) = free_at_rest(event, spec, final_state) else {
                continue;
            };
            let room = Room::new(
                free,
                occupations(event, spec, log, granted, resolutions, final_state),
                spec,
            );
            let in_section = |ex: &Exchange| {
                is_hold(ex) && ex.event_id == event.id && requested_section(ex) == spec.id
            };
            for (i, ex) in log.iter().enumerate() {
                if in_section(ex) && is_refusal(ex) {
                    judge_refusal(&room, i, ex, report);
                }
            }
            let mut buyers: BTreeMap<u64, Vec<usize>> = BTreeMap::new();
            for (i, ex) in log.iter().enumerate() {
                if let (true, Some(b)) = (in_section(ex), ex.buyer) {
                    buyers.entry(b).or_default().push(i);
                }
            }
            for attempts in buyers.values() {
                if !attempts.iter().any(|&i| log[i].route == Route::Hold) {
                    continue;
                }
                hold_buyers += 1;
                if attempts.iter().any(|&i| log[i].status == Some(201)) {
                    continue;
                }
                let from = attempts.iter().map(|&i| log[i].sent_unix_ms).min();
                let to = attempts.iter().map(|&i| answered(&log[i])).max();
                let (Some(from), Some(to), Some(&last)) = (from, to, attempts.last()) else {
                    continue;
                };
                // Its own attempts never stood in its way, except ones whose
                // outcome is unknown: they may have left parts behind.
                let own: BTreeSet<usize> = attempts
                    .iter()
                    .copied()
                    .filter(|&i| !outcome_unknown(&log[i]))
                    .collect();
                let ex = &log[last];
                let had_room = match &room.free {
                    FreeAtRest::Units(_) => room
                        .units_free(from, to, &own)
                        .is_some_and(|(free, _, _)| free >= requested_units(ex)),
                    FreeAtRest::Seats(_) => requested_seats(ex)
                        .iter()
                        .all(|s| room.seat_free(s, from, to, &own)),
                };
                if had_room {
                    turned_away.push(last);
                }
            }
        }
    }
    let share = turned_away.len() as f64 / hold_buyers.max(1) as f64;
    if hold_buyers > 0 && share > TURNED_AWAY_SHARE_MAX {
        let examples: Vec<String> = turned_away
            .iter()
            .take(3)
            .map(|&i| log[i].evidence())
            .collect();
        report.add(
            "buyers-turned-away-while-units-free",
            format!(
                "{} of {hold_buyers} buyers who sent a hold got none while the units they asked for \
                 were free all the time they tried; last answers, e.g.:\n{}",
                turned_away.len(),
                examples.join("\n")
            ),
        );
    }
}

fn judge_refusal(room: &Room<'_>, i: usize, ex: &Record, report: &mut Report) {
    let (from, to) = (ex.sent_unix_ms, answered(ex));
    let own = BTreeSet::from([i]);
    match (&room.free, ex.problem_type()) {
        (FreeAtRest::Units(_), "sold-out") => {
            let wanted = requested_units(ex);
            if let Some((free, at_rest, others)) = room.units_free(from, to, &own)
                && free >= wanted
            {
                report.add(
                    "refusal-while-units-free",
                    format!(
                        "{wanted} refused while at least {free} were free throughout: {at_rest} free \
                         at rest, at most {others} held meanwhile by holds and requests over by then: {}",
                        ex.evidence()
                    ),
                );
            }
        }
        (FreeAtRest::Seats(_), "seats-unavailable") => {
            let wanted = requested_seats(ex);
            let named = named_seats(ex);
            let free: Vec<&String> = wanted
                .iter()
                .filter(|s| room.seat_free(s, from, to, &own))
                .collect();
            let wrong = named.iter().any(|s| free.contains(&s))
                || (!wanted.is_empty() && free.len() == wanted.len());
            if wrong {
                report.add(
                    "refusal-while-units-free",
                    format!(
                        "seats {free:?} were free throughout (free at rest, nobody else's hold or \
                         request on them meanwhile): {}",
                        ex.evidence()
                    ),
                );
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    //! Planted violations: fabricated answer logs that break one promise each,
    //! and one clean log, so the checker is shown to catch what it claims to.

    use serde_json::json;

    use super::*;

    const EVENT: &str = "ev";
    const FAR_FUTURE: &str = "2099-01-01T00:00:00.000Z";
    const NOW_MS: u64 = 1_800_000_000_000;

    fn ex(
        route: Route,
        status: u16,
        hold_id: Option<&str>,
        request: Value,
        body: Value,
    ) -> Exchange {
        Exchange {
            route,
            event_id: EVENT.to_owned(),
            hold_id: hold_id.map(str::to_owned),
            request,
            idempotency_key: None,
            status: Some(status),
            error: None,
            retry_after: None,
            cas_retries: 0,
            body,
            sent_unix_ms: NOW_MS,
            answered_unix_ms: NOW_MS,
            intended_start_us: 0,
            latency_us: 1_000,
        }
    }

    fn general_event(capacity: u64) -> EventSpec {
        EventSpec {
            id: EVENT.to_owned(),
            sections: vec![SectionSpec {
                id: "floor".into(),
                capacity,
                seats: None,
            }],
            hold_ttl_seconds: Some(300),
        }
    }

    fn hold(id: &str, quantity: u64, key: &str) -> Exchange {
        let mut e = ex(
            Route::Hold,
            201,
            None,
            json!({ "section": "floor", "quantity": quantity }),
            json!({ "hold_id": id, "section": "floor", "quantity": quantity, "status": "held", "expires_at": FAR_FUTURE }),
        );
        e.idempotency_key = Some(key.to_owned());
        e
    }

    fn confirm(id: &str, quantity: u64) -> Exchange {
        ex(
            Route::Confirm,
            200,
            Some(id),
            json!({}),
            json!({ "hold_id": id, "quantity": quantity, "status": "confirmed" }),
        )
    }

    fn read(id: &str, status: &str) -> Exchange {
        ex(
            Route::GetHold,
            200,
            Some(id),
            Value::Null,
            json!({ "hold_id": id, "status": status }),
        )
    }

    fn at_rest(
        available: u64,
        held: u64,
        sold: u64,
        capacity: u64,
        reads: &[(&str, &str)],
    ) -> FinalState {
        let body = json!({ "sections": [{ "id": "floor", "capacity": capacity,
            "available": available, "held": held, "sold": sold }] });
        FinalState {
            availability: [(
                EVENT.to_owned(),
                ex(Route::Availability, 200, None, Value::Null, body),
            )]
            .into(),
            holds: reads
                .iter()
                .map(|(id, s)| ((*id).to_owned(), read(id, s)))
                .collect(),
            read_unix_ms: NOW_MS,
        }
    }

    /// Checks a log of first attempts by nobody in particular.
    fn check_log(events: &[EventSpec], log: &[Exchange], state: &FinalState) -> Report {
        let records: Vec<Record> = log.iter().cloned().map(Record::of).collect();
        check(events, &records, state)
    }

    fn rules(report: &Report) -> Vec<&'static str> {
        report.counts.keys().copied().collect()
    }

    #[test]
    fn a_clean_sale_has_no_violation() {
        let log = vec![
            hold("h1", 3, "k1"),
            confirm("h1", 3),
            hold("h2", 1, "k2"),
            confirm("h2", 1),
        ];
        let state = at_rest(0, 0, 4, 4, &[("h1", "confirmed"), ("h2", "confirmed")]);
        let report = check_log(&[general_event(4)], &log, &state);
        assert!(report.is_clean(), "{report:?}");
    }

    #[test]
    fn an_oversold_log_is_caught() {
        // Capacity 4, but buyers were told they bought 3 + 2 = 5, and the store says sold 5.
        let log = vec![
            hold("h1", 3, "k1"),
            confirm("h1", 3),
            hold("h2", 2, "k2"),
            confirm("h2", 2),
        ];
        let state = at_rest(0, 0, 5, 4, &[("h1", "confirmed"), ("h2", "confirmed")]);
        let report = check_log(&[general_event(4)], &log, &state);
        assert!(report.counts.contains_key("no-oversell"), "{report:?}");
        assert!(
            report.counts.contains_key("units-conserved-at-rest"),
            "{report:?}"
        );
        assert!(
            report
                .violations
                .iter()
                .any(|v| v.rule == "no-oversell" && v.evidence.contains("bought 5")),
            "evidence names the figures: {report:?}"
        );
    }

    #[test]
    fn a_confirmed_booking_the_store_forgot_is_caught() {
        let log = vec![hold("h1", 2, "k1"), confirm("h1", 2)];
        // The store lost the sale: it reads the hold as released and sold 0.
        let state = at_rest(4, 0, 0, 4, &[("h1", "released")]);
        let report = check_log(&[general_event(4)], &log, &state);
        assert_eq!(
            rules(&report),
            vec!["confirmed-stays-confirmed", "sold-equals-confirmed"],
            "{report:?}"
        );
    }

    #[test]
    fn a_seat_sold_twice_is_caught() {
        let seats = vec!["A-1".to_owned(), "A-2".to_owned()];
        let event = EventSpec {
            id: EVENT.to_owned(),
            sections: vec![SectionSpec {
                id: "A".into(),
                capacity: 2,
                seats: Some(seats),
            }],
            hold_ttl_seconds: Some(300),
        };
        let seat_hold = |id: &str| {
            ex(
                Route::Hold,
                201,
                None,
                json!({ "section": "A", "seats": ["A-1"] }),
                json!({ "hold_id": id, "section": "A", "quantity": 1, "seats": ["A-1"], "expires_at": FAR_FUTURE }),
            )
        };
        let log = vec![
            seat_hold("h1"),
            confirm("h1", 1),
            seat_hold("h2"),
            confirm("h2", 1),
        ];
        let mut state = at_rest(0, 0, 2, 2, &[("h1", "confirmed"), ("h2", "confirmed")]);
        let body = json!({ "sections": [{ "id": "A", "capacity": 2, "available": 0, "held": 0, "sold": 2,
            "available_seats": [] }] });
        state.availability.insert(
            EVENT.to_owned(),
            ex(Route::Availability, 200, None, Value::Null, body),
        );
        let report = check_log(&[event], &log, &state);
        // Both holds were live at once, and both were sold.
        assert_eq!(
            rules(&report),
            vec!["seat-held-once", "seat-sold-once"],
            "{report:?}"
        );
    }

    #[test]
    fn unanswered_requests_and_bare_503s_are_caught() {
        let mut timeout = ex(
            Route::Hold,
            0,
            None,
            json!({ "section": "floor", "quantity": 1 }),
            Value::Null,
        );
        timeout.status = None;
        timeout.error = Some("operation timed out".into());
        let busy = ex(
            Route::Hold,
            503,
            None,
            json!({ "section": "floor", "quantity": 1 }),
            json!({}),
        );
        let crash = ex(Route::Confirm, 500, Some("h9"), json!({}), json!({}));
        let mut polite = busy.clone();
        polite.retry_after = Some("1".into());
        let report = check_log(
            &[general_event(4)],
            &[timeout, busy, crash, polite],
            &at_rest(4, 0, 0, 4, &[]),
        );
        assert_eq!(
            rules(&report),
            vec![
                "503-carries-retry-after",
                "every-request-answered",
                "no-server-errors"
            ],
            "{report:?}"
        );
    }

    #[test]
    fn an_idempotent_replay_with_another_hold_is_caught() {
        let first = hold("h1", 1, "same-key");
        let mut replay = hold("h2", 1, "same-key");
        replay.route = Route::HoldReplay;
        let state = at_rest(2, 2, 0, 4, &[("h1", "held"), ("h2", "held")]);
        let report = check_log(&[general_event(4)], &[first, replay], &state);
        assert_eq!(
            rules(&report),
            vec!["replay-returns-same-hold"],
            "{report:?}"
        );
    }

    #[test]
    fn a_lost_hold_and_leaked_units_are_caught() {
        let log = vec![hold("h1", 2, "k1")];
        // The hold cannot be read back, and the store still counts its units as held.
        let mut state = at_rest(2, 2, 0, 4, &[]);
        state.holds.insert(
            "h1".into(),
            ex(Route::GetHold, 404, Some("h1"), Value::Null, json!({})),
        );
        let report = check_log(&[general_event(4)], &log, &state);
        assert_eq!(
            rules(&report),
            vec!["held-equals-live-holds", "hold-readable"],
            "{report:?}"
        );
    }

    /// A one-unit hold (key `k1`) that expires at `expires_ms`.
    fn hold_expiring(id: &str, expires_ms: u64) -> Exchange {
        let expires_at = humantime::format_rfc3339_millis(
            std::time::UNIX_EPOCH + std::time::Duration::from_millis(expires_ms),
        )
        .to_string();
        let mut granted = hold(id, 1, "k1");
        granted.body["expires_at"] = json!(expires_at);
        granted
    }

    #[test]
    fn an_expiry_answer_is_judged_by_when_the_server_answered() {
        let expires_ms = NOW_MS + 10_000;
        let granted = hold_expiring("h1", expires_ms);
        let refused = |answered_ms: u64| {
            let mut e = ex(Route::Confirm, 410, Some("h1"), json!({}), json!({}));
            e.answered_unix_ms = answered_ms;
            e
        };
        let state = at_rest(3, 1, 0, 4, &[("h1", "held")]);
        // Sent long before expiry but answered after it: it waited in a queue.
        let late = check_log(
            &[general_event(4)],
            &[granted.clone(), refused(expires_ms + 1)],
            &state,
        );
        assert!(late.is_clean(), "{late:?}");
        // Answered 5 s before expiry: a live hold was refused.
        let early = check_log(
            &[general_event(4)],
            &[granted, refused(expires_ms - 5_000)],
            &state,
        );
        assert_eq!(
            rules(&early),
            vec!["confirm-of-live-hold-refused"],
            "{early:?}"
        );
    }

    #[test]
    fn a_live_snapshot_that_loses_units_is_caught() {
        let body = json!({ "sections": [{ "id": "floor", "capacity": 4, "available": 1, "held": 1, "sold": 1 }] });
        let snapshot = ex(Route::Availability, 200, None, Value::Null, body);
        let report = check_log(&[general_event(4)], &[snapshot], &at_rest(4, 0, 0, 4, &[]));
        assert_eq!(rules(&report), vec!["units-conserved"], "{report:?}");
    }

    // ---- Refusals (issue 9, item 2) ----

    fn timed(mut e: Exchange, sent: u64, answered: u64) -> Exchange {
        e.sent_unix_ms = sent;
        e.answered_unix_ms = answered;
        e
    }

    fn problem(slug: &str) -> Value {
        json!({ "type": format!("https://booking.example/problems/{slug}"), "title": slug })
    }

    fn sold_out(quantity: u64, available: u64, sent: u64, answered: u64) -> Exchange {
        let mut body = problem("sold-out");
        body["available"] = json!(available);
        timed(
            ex(
                Route::Hold,
                409,
                None,
                json!({ "section": "floor", "quantity": quantity }),
                body,
            ),
            sent,
            answered,
        )
    }

    fn release(id: &str, sent: u64, answered: u64) -> Exchange {
        timed(
            ex(
                Route::Release,
                200,
                Some(id),
                json!({}),
                json!({ "hold_id": id, "status": "released" }),
            ),
            sent,
            answered,
        )
    }

    #[test]
    fn a_sold_out_that_contradicts_itself_is_caught() {
        let state = at_rest(1, 0, 3, 4, &[("h1", "confirmed")]);
        let log = |available: u64| {
            vec![
                hold("h1", 3, "k1"),
                confirm("h1", 3),
                sold_out(2, available, NOW_MS + 10, NOW_MS + 20),
            ]
        };
        // One unit free, two asked for: a clean refusal.
        let clean = check_log(&[general_event(4)], &log(1), &state);
        assert!(clean.is_clean(), "{clean:?}");
        // "Sold out" while saying it saw 3 free for a request of 2.
        let report = check_log(&[general_event(4)], &log(3), &state);
        assert_eq!(rules(&report), vec!["sold-out-consistent"], "{report:?}");
    }

    #[test]
    fn a_sold_out_while_units_were_free_is_caught() {
        // Capacity 10: h1 (4) is sold; h2 (5) is released; a buyer of 2 is
        // refused at NOW+100..200. At rest 6 units are free.
        let log = |release_answered: u64| {
            vec![
                hold("h1", 4, "k1"),
                confirm("h1", 4),
                hold("h2", 5, "k2"),
                release("h2", release_answered - 5, release_answered),
                sold_out(2, 1, NOW_MS + 100, NOW_MS + 200),
            ]
        };
        let state = at_rest(6, 0, 4, 10, &[("h1", "confirmed"), ("h2", "released")]);
        // Released after the refusal was answered: only 1 unit may have been
        // free meanwhile, the refusal is explained.
        let explained = check_log(&[general_event(10)], &log(NOW_MS + 500), &state);
        assert!(explained.is_clean(), "{explained:?}");
        // Released before the refusal was sent: 6 units were free all along.
        let report = check_log(&[general_event(10)], &log(NOW_MS + 50), &state);
        assert_eq!(
            rules(&report),
            vec!["refusal-while-units-free"],
            "{report:?}"
        );
        assert!(
            report.violations[0]
                .evidence
                .contains("at least 6 were free"),
            "{report:?}"
        );
    }

    #[test]
    fn a_request_in_flight_explains_a_refusal() {
        // 6 free at rest and nothing released, but a request of 5 whose
        // outcome is unknown (503 contention) was in flight: it may have held
        // units, so only 1 was provably free.
        let mut busy = timed(
            ex(
                Route::Hold,
                503,
                None,
                json!({ "section": "floor", "quantity": 5 }),
                problem("contention"),
            ),
            NOW_MS + 90,
            NOW_MS + 300,
        );
        busy.retry_after = Some("1".into());
        let log = vec![
            hold("h1", 4, "k1"),
            confirm("h1", 4),
            busy,
            sold_out(2, 1, NOW_MS + 100, NOW_MS + 200),
        ];
        let state = at_rest(6, 0, 4, 10, &[("h1", "confirmed")]);
        let report = check_log(&[general_event(10)], &log, &state);
        assert!(report.is_clean(), "{report:?}");
    }

    fn seated_event() -> EventSpec {
        EventSpec {
            id: EVENT.to_owned(),
            sections: vec![SectionSpec {
                id: "A".into(),
                capacity: 2,
                seats: Some(vec!["A-1".into(), "A-2".into()]),
            }],
            hold_ttl_seconds: Some(300),
        }
    }

    fn seat_hold(id: &str, seat: &str, sent: u64, answered: u64) -> Exchange {
        timed(
            ex(
                Route::Hold,
                201,
                None,
                json!({ "section": "A", "seats": [seat] }),
                json!({ "hold_id": id, "section": "A", "quantity": 1, "seats": [seat],
                    "status": "held", "expires_at": FAR_FUTURE }),
            ),
            sent,
            answered,
        )
    }

    fn seated_at_rest(free: &[&str], held: u64, reads: &[(&str, &str)]) -> FinalState {
        let mut state = at_rest(0, 0, 0, 2, reads);
        let body = json!({ "sections": [{ "id": "A", "capacity": 2, "available": free.len(),
            "held": held, "sold": 2 - free.len() as u64 - held, "available_seats": free }] });
        state.availability.insert(
            EVENT.to_owned(),
            ex(Route::Availability, 200, None, Value::Null, body),
        );
        state
    }

    #[test]
    fn a_seat_refused_while_free_is_caught() {
        let mut body = problem("seats-unavailable");
        body["unavailable"] = json!(["A-1"]);
        let refused = timed(
            ex(
                Route::Hold,
                409,
                None,
                json!({ "section": "A", "seats": ["A-1"] }),
                body,
            ),
            NOW_MS + 100,
            NOW_MS + 200,
        );
        let state = seated_at_rest(&["A-1", "A-2"], 0, &[("h1", "released")]);
        // A-1 was held by h1 until after the refusal: explained.
        let log = |released: u64| {
            vec![
                seat_hold("h1", "A-1", NOW_MS, NOW_MS + 1),
                release("h1", released - 1, released),
                refused.clone(),
            ]
        };
        let explained = check_log(&[seated_event()], &log(NOW_MS + 150), &state);
        assert!(explained.is_clean(), "{explained:?}");
        // h1 let A-1 go before the request was sent: it was free all along.
        let report = check_log(&[seated_event()], &log(NOW_MS + 50), &state);
        assert_eq!(
            rules(&report),
            vec!["refusal-while-units-free"],
            "{report:?}"
        );
        // And a refusal that names a seat nobody asked for contradicts itself.
        let mut odd = refused.clone();
        odd.body["unavailable"] = json!(["A-2"]);
        let report = check_log(&[seated_event()], &[odd], &state);
        assert!(
            report.counts.contains_key("seats-unavailable-consistent"),
            "{report:?}"
        );
    }

    /// Buyer `b`'s attempt.
    fn by(buyer: u64, attempt: u32, e: Exchange) -> Record {
        Record {
            buyer: Some(buyer),
            attempt,
            ..Record::of(e)
        }
    }

    fn shed(sent: u64) -> Exchange {
        let mut e = timed(
            ex(
                Route::Hold,
                503,
                None,
                json!({ "section": "floor", "quantity": 1 }),
                problem("overloaded"),
            ),
            sent,
            sent + 5,
        );
        e.retry_after = Some("1".into());
        e
    }

    #[test]
    fn a_run_that_turns_most_buyers_away_while_units_are_free_fails() {
        // Four buyers, ten units; one buyer gets a unit, the others are shed
        // (each 503 is allowed on its own) while 9 units stay free.
        let log = |shed_buyers: u64| {
            let mut log = vec![by(0, 1, hold("h1", 1, "k1")), Record::of(confirm("h1", 1))];
            for b in 1..=3 {
                if b <= shed_buyers {
                    log.push(by(b, 1, shed(NOW_MS + b * 10)));
                    log.push(by(b, 2, shed(NOW_MS + 1_000 + b * 10)));
                } else {
                    log.push(by(
                        b,
                        1,
                        hold(&format!("h{}", b + 1), 1, &format!("k{}", b + 1)),
                    ));
                }
            }
            log
        };
        let state = |sold: u64, reads: &[(&str, &str)]| at_rest(10 - sold, sold - 1, 1, 10, reads);
        let report = check(
            &[general_event(10)],
            &log(3),
            &state(1, &[("h1", "confirmed")]),
        );
        assert_eq!(
            rules(&report),
            vec!["buyers-turned-away-while-units-free"],
            "{report:?}"
        );
        // One buyer of four shed: not most of them.
        let reads = [("h1", "confirmed"), ("h3", "held"), ("h4", "held")];
        let report = check(&[general_event(10)], &log(1), &state(3, &reads));
        assert!(report.is_clean(), "{report:?}");
    }

    // ---- Overlap and races (issue 9, item 3) ----

    #[test]
    fn two_live_holds_on_one_seat_are_caught() {
        // h2 was granted A-1 while h1 still surely held it.
        let log = vec![
            seat_hold("h1", "A-1", NOW_MS, NOW_MS + 2),
            seat_hold("h2", "A-1", NOW_MS + 5, NOW_MS + 10),
        ];
        let state = seated_at_rest(&[], 2, &[("h1", "held"), ("h2", "held")]);
        let report = check_log(&[seated_event()], &log, &state);
        assert_eq!(rules(&report), vec!["seat-held-once"], "{report:?}");
        // h1 was released before h2 was sent: one seat, one holder at a time.
        let log = vec![
            seat_hold("h1", "A-1", NOW_MS, NOW_MS + 2),
            release("h1", NOW_MS + 3, NOW_MS + 4),
            seat_hold("h2", "A-1", NOW_MS + 5, NOW_MS + 10),
        ];
        let state = seated_at_rest(&["A-2"], 1, &[("h1", "released"), ("h2", "held")]);
        let report = check_log(&[seated_event()], &log, &state);
        assert!(report.is_clean(), "{report:?}");
    }

    #[test]
    fn more_units_in_live_holds_than_capacity_are_caught() {
        let expires_ms = NOW_MS + 1_000;
        let expires_at = humantime::format_rfc3339_millis(
            std::time::UNIX_EPOCH + std::time::Duration::from_millis(expires_ms),
        )
        .to_string();
        let short = |id: &str, sent: u64| {
            let mut h = timed(hold(id, 2, &format!("k-{id}")), sent, sent + 1);
            h.body["expires_at"] = json!(expires_at);
            h
        };
        let mut state = at_rest(1, 3, 0, 4, &[("h1", "held"), ("h2", "expired")]);
        state.read_unix_ms = NOW_MS + 2_000;
        // h1 (3 units) and h2 (2 units) live at once: 5 > 4.
        let log = vec![hold("h1", 3, "k1"), short("h2", NOW_MS + 10)];
        let report = check_log(&[general_event(4)], &log, &state);
        assert_eq!(
            rules(&report),
            vec!["capacity-never-exceeded"],
            "{report:?}"
        );
        // h2 granted after h1 was released: never more than 3 at once.
        let log = vec![
            hold("h1", 3, "k1"),
            release("h1", NOW_MS + 5, NOW_MS + 6),
            short("h2", NOW_MS + 10),
        ];
        let mut state = at_rest(4, 0, 0, 4, &[("h1", "released"), ("h2", "expired")]);
        state.read_unix_ms = NOW_MS + 2_000;
        let report = check_log(&[general_event(4)], &log, &state);
        assert!(report.is_clean(), "{report:?}");
        // The same with a release answered 503 (it landed, its reply did
        // not say so): h1 may have ended from that release's send on.
        let mut lost = release("h1", NOW_MS + 5, NOW_MS + 6);
        lost.status = Some(503);
        lost.body = problem("store-unavailable");
        lost.retry_after = Some("1".to_owned());
        let log = vec![hold("h1", 3, "k1"), lost, short("h2", NOW_MS + 10)];
        let report = check_log(&[general_event(4)], &log, &state);
        assert!(report.is_clean(), "{report:?}");
    }

    #[test]
    fn a_confirm_release_race_is_judged() {
        let refused = |route: Route, slug: &str, sent: u64| {
            timed(
                ex(route, 409, Some("h1"), json!({}), problem(slug)),
                sent,
                sent + 5,
            )
        };
        let confirmed = timed(confirm("h1", 1), NOW_MS + 10, NOW_MS + 20);
        // Confirm won, release was told so: clean.
        let log = vec![
            hold("h1", 1, "k1"),
            confirmed.clone(),
            refused(Route::Release, "hold-confirmed", NOW_MS + 12),
        ];
        let won = at_rest(3, 0, 1, 4, &[("h1", "confirmed")]);
        let report = check_log(&[general_event(4)], &log, &won);
        assert!(report.is_clean(), "{report:?}");
        // Both won.
        let log = vec![
            hold("h1", 1, "k1"),
            confirmed.clone(),
            release("h1", NOW_MS + 11, NOW_MS + 21),
        ];
        let report = check_log(&[general_event(4)], &log, &won);
        assert!(
            report.counts.contains_key("confirmed-or-released-not-both"),
            "{report:?}"
        );
        // A release refused as confirmed, with no confirm that succeeded.
        let log = vec![
            hold("h1", 1, "k1"),
            refused(Route::Release, "hold-confirmed", NOW_MS + 12),
        ];
        let held = at_rest(3, 1, 0, 4, &[("h1", "held")]);
        let report = check_log(&[general_event(4)], &log, &held);
        assert_eq!(
            rules(&report),
            vec!["release-refused-only-if-confirmed"],
            "{report:?}"
        );
        // A confirm refused as released, with no release that succeeded.
        let log = vec![
            hold("h1", 1, "k1"),
            refused(Route::Confirm, "hold-released", NOW_MS + 12),
        ];
        let report = check_log(&[general_event(4)], &log, &held);
        assert_eq!(
            rules(&report),
            vec!["confirm-refused-only-if-released"],
            "{report:?}"
        );
        // The same refusal backed by a release answered 503 (it landed, its
        // reply did not say so), sent before the refusal arrived: clean.
        let mut lost = release("h1", NOW_MS + 5, NOW_MS + 6);
        lost.status = Some(503);
        lost.body = problem("store-unavailable");
        lost.retry_after = Some("1".to_owned());
        let log = vec![
            hold("h1", 1, "k1"),
            lost,
            refused(Route::Confirm, "hold-released", NOW_MS + 12),
        ];
        let released = at_rest(4, 0, 0, 4, &[("h1", "released")]);
        let report = check_log(&[general_event(4)], &log, &released);
        assert!(report.is_clean(), "{report:?}");
    }

    #[test]
    fn a_concurrent_replay_is_judged() {
        let first = timed(hold("h1", 1, "k1"), NOW_MS, NOW_MS + 10);
        let in_progress = |sent: u64, retry_after: bool| {
            let mut e = timed(
                ex(
                    Route::HoldReplay,
                    409,
                    None,
                    json!({ "section": "floor", "quantity": 1 }),
                    problem("request-in-progress"),
                ),
                sent,
                sent + 1,
            );
            e.idempotency_key = Some("k1".into());
            e.retry_after = retry_after.then(|| "1".to_owned());
            e
        };
        let state = at_rest(0, 1, 0, 1, &[("h1", "held")]);
        let event = general_event(1);
        // While the first was in flight, with Retry-After: clean.
        let report = check_log(
            std::slice::from_ref(&event),
            &[first.clone(), in_progress(NOW_MS + 2, true)],
            &state,
        );
        assert!(report.is_clean(), "{report:?}");
        // Long after the first was answered, and without Retry-After.
        let report = check_log(
            std::slice::from_ref(&event),
            &[first.clone(), in_progress(NOW_MS + 20_000, false)],
            &state,
        );
        assert_eq!(
            rules(&report),
            vec![
                "in-progress-carries-retry-after",
                "in-progress-only-while-in-flight"
            ],
            "{report:?}"
        );
        // A refusal racing the grant is allowed (refusals are not recorded);
        // one sent after the grant was answered is not.
        let refused = |sent: u64| {
            let mut e = sold_out(1, 0, sent, sent + 20);
            e.route = Route::HoldReplay;
            e.idempotency_key = Some("k1".into());
            e
        };
        let report = check_log(
            std::slice::from_ref(&event),
            &[first.clone(), refused(NOW_MS + 5)],
            &state,
        );
        assert!(report.is_clean(), "{report:?}");
        let report = check_log(
            std::slice::from_ref(&event),
            &[first, refused(NOW_MS + 100)],
            &state,
        );
        assert_eq!(rules(&report), vec!["idempotent-replay"], "{report:?}");
    }

    #[test]
    fn peak_finds_the_most_held_in_a_window() {
        // 2 units over 10..=19, 3 over 15..=29, 1 from 40 on.
        let peak = Peak::new([(10, 19, 2), (15, 29, 3), (40, u64::MAX, 1)]);
        assert_eq!(peak.max(0, 9), 0);
        assert_eq!(peak.max(0, 10), 2);
        assert_eq!(peak.max(16, 17), 5);
        assert_eq!(peak.max(20, 35), 3);
        assert_eq!(peak.max(30, 39), 0);
        assert_eq!(peak.max(30, 1_000), 1);
        // Without the 3-unit span as one's own: 2 at most.
        assert_eq!(peak.max_without(0, 35, &[(15, 29, 3)]), 2);
    }

    #[test]
    fn peak_agrees_with_counting_every_moment() {
        let mut rng = fastrand::Rng::with_seed(9);
        for _ in 0..200 {
            let spans: Vec<(u64, u64, u64)> = (0..rng.usize(0..12))
                .map(|_| {
                    let from = rng.u64(0..60);
                    (from, from + rng.u64(0..20), rng.u64(1..5))
                })
                .collect();
            let peak = Peak::new(spans.iter().copied());
            let held = |t: u64| -> u64 {
                spans
                    .iter()
                    .filter(|(f, to, _)| *f <= t && t <= *to)
                    .map(|s| s.2)
                    .sum()
            };
            let from = rng.u64(0..80);
            let to = from + rng.u64(0..30);
            let brute = (from..=to).map(held).max().unwrap_or(0);
            assert_eq!(peak.max(from, to), brute, "{spans:?} {from}..={to}");
        }
    }

    #[test]
    fn an_unanswered_request_is_reported_once_not_again_at_rest() {
        let mut lost_confirm = confirm("h1", 2);
        lost_confirm.status = None;
        lost_confirm.body = Value::Null;
        lost_confirm.error = Some("operation timed out".into());
        let mut lost_hold = sold_out(3, 0, NOW_MS, NOW_MS + 10_000);
        lost_hold.status = None;
        lost_hold.body = Value::Null;
        lost_hold.error = Some("operation timed out".into());
        let log = vec![hold("h1", 2, "k1"), lost_confirm, lost_hold];
        // The confirm landed, and the lost hold request placed 3 units.
        let state = at_rest(5, 3, 2, 10, &[("h1", "confirmed")]);
        let report = check_log(&[general_event(10)], &log, &state);
        assert_eq!(rules(&report), vec!["every-request-answered"], "{report:?}");
        // More sold, or more held, than even the lost requests explain.
        let state = at_rest(1, 6, 3, 10, &[("h1", "confirmed")]);
        let report = check_log(&[general_event(10)], &log, &state);
        assert_eq!(
            rules(&report),
            vec![
                "every-request-answered",
                "held-equals-live-holds",
                "sold-equals-confirmed"
            ],
            "{report:?}"
        );
    }

    /// A kill at `NOW_MS + 1_000`, serving again 2 s later.
    const KILL: KillWindow = KillWindow {
        kill_unix_ms: NOW_MS + 1_000,
        serving_unix_ms: NOW_MS + 3_000,
    };

    fn lost(mut e: Exchange, sent: u64, failed: u64) -> Exchange {
        e.status = None;
        e.body = Value::Null;
        e.error = Some("connection closed before message completed".into());
        timed(e, sent, failed)
    }

    fn check_killed(log: &[Exchange], state: &FinalState) -> Report {
        let records: Vec<Record> = log.iter().cloned().map(Record::of).collect();
        check_with_kills(&[general_event(10)], &records, state, &[KILL])
    }

    #[test]
    fn a_request_a_kill_left_unanswered_is_counted_and_any_other_is_a_violation() {
        let state = at_rest(8, 0, 2, 10, &[("h1", "confirmed")]);
        // In flight at the kill; and sent while the server was down.
        let in_flight = lost(confirm("h1", 2), NOW_MS + 900, NOW_MS + 1_001);
        let while_down = lost(confirm("h1", 2), NOW_MS + 2_000, NOW_MS + 2_001);
        let retried = timed(confirm("h1", 2), NOW_MS + 3_100, NOW_MS + 3_110);
        let log = vec![hold("h1", 2, "k1"), in_flight, while_down, retried];
        let report = check_killed(&log, &state);
        assert!(report.is_clean(), "{report:?}");
        assert_eq!(report.unanswered_in_kills, 2);
        // Failed before the kill, or sent after the server was back: violations.
        let before = lost(confirm("h1", 2), NOW_MS + 100, NOW_MS + 999);
        let after = lost(confirm("h1", 2), NOW_MS + 3_001, NOW_MS + 3_002);
        for unexplained in [before, after] {
            let log = vec![hold("h1", 2, "k1"), unexplained, confirm("h1", 2)];
            let report = check_killed(&log, &state);
            assert_eq!(rules(&report), vec!["every-request-answered"], "{report:?}");
            assert_eq!(report.unanswered_in_kills, 0);
        }
    }

    #[test]
    fn a_confirmed_booking_lost_across_a_kill_is_still_caught() {
        let lost_hold = lost(hold("h2", 1, "k2"), NOW_MS + 900, NOW_MS + 1_001);
        let log = vec![hold("h1", 2, "k1"), confirm("h1", 2), lost_hold];
        // After the restart the confirmed hold reads back held, nothing sold.
        let state = at_rest(8, 2, 0, 10, &[("h1", "held")]);
        let report = check_killed(&log, &state);
        assert_eq!(
            rules(&report),
            vec!["confirmed-stays-confirmed", "sold-equals-confirmed"],
            "{report:?}"
        );
    }

    #[test]
    fn a_hold_a_kill_left_behind_must_have_expired_at_rest() {
        // A hold request lost to the kill may have placed 3 units before it.
        let lost_hold = lost(
            sold_out(3, 0, NOW_MS + 900, NOW_MS),
            NOW_MS + 900,
            NOW_MS + 1_001,
        );
        let log = vec![lost_hold];
        let ttl_ms = 300_000;
        let read_at = |read_unix_ms: u64, held: u64| {
            let mut state = at_rest(10 - held, held, 0, 10, &[]);
            state.read_unix_ms = read_unix_ms;
            for availability in state.availability.values_mut() {
                *availability = timed(availability.clone(), read_unix_ms, read_unix_ms);
            }
            state
        };
        // Within its lifetime the 3 units may still be held; after it, not.
        let report = check_killed(&log, &read_at(NOW_MS + 2_000, 3));
        assert!(report.is_clean(), "{report:?}");
        let report = check_killed(&log, &read_at(NOW_MS + 2_000 + ttl_ms, 3));
        assert_eq!(rules(&report), vec!["held-equals-live-holds"], "{report:?}");
        let report = check_killed(&log, &read_at(NOW_MS + 2_000 + ttl_ms, 0));
        assert!(report.is_clean(), "{report:?}");
        assert_eq!(report.unanswered_in_kills, 1);
    }

    #[test]
    fn a_confirm_repeated_after_expiry_is_allowed_only_if_an_earlier_one_got_no_answer() {
        let expires_ms = NOW_MS + 10_000;
        let granted = hold_expiring("h1", expires_ms);
        let late_200 = timed(confirm("h1", 1), expires_ms + 5_000, expires_ms + 5_010);
        let state = at_rest(3, 0, 1, 4, &[("h1", "confirmed")]);
        // The first confirm went out before expiry and lost its answer: the
        // repeat finds the booking it made.
        let first = lost(confirm("h1", 1), expires_ms - 1_000, expires_ms - 500);
        let report = check_log(
            &[general_event(4)],
            &[granted.clone(), first, late_200.clone()],
            &state,
        );
        assert_eq!(rules(&report), vec!["every-request-answered"], "{report:?}");
        // No earlier attempt: a 200 for a hold expired before the send.
        let report = check_log(
            &[general_event(4)],
            &[granted.clone(), late_200.clone()],
            &state,
        );
        assert_eq!(
            rules(&report),
            vec!["no-confirm-after-expiry"],
            "{report:?}"
        );
        // An earlier attempt sent after the expiry does not excuse it either.
        let too_late = lost(confirm("h1", 1), expires_ms + 1_000, expires_ms + 1_500);
        let report = check_log(&[general_event(4)], &[granted, too_late, late_200], &state);
        assert_eq!(
            rules(&report),
            vec!["every-request-answered", "no-confirm-after-expiry"],
            "{report:?}"
        );
    }
}
