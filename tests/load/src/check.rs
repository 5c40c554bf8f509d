//! The invariant checker: from every answer a run got and from the state read
//! back at rest, decide whether the service kept its promises. Every rule
//! names itself and cites the exchanges that break it.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;
use serde_json::Value;

use crate::log::{EventSpec, Exchange, FinalState, Route, SectionSpec};

/// Allowance when judging whether a hold had expired, by comparing the
/// server's `expires_at` with the load tool's clock: both read one system
/// clock here, so this only covers millisecond rounding. Against a server on
/// another machine, clock skew adds to it.
const EXPIRY_SLACK_MS: u64 = 50;

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
}

impl Report {
    fn add(&mut self, rule: &'static str, evidence: String) {
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
    exchange: &'a Exchange,
    section: String,
    quantity: u64,
    seats: BTreeSet<String>,
    expires_unix_ms: Option<u64>,
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

fn rfc3339_unix_ms(value: &Value) -> Option<u64> {
    let time = humantime::parse_rfc3339(value.as_str()?).ok()?;
    let since = time.duration_since(std::time::UNIX_EPOCH).ok()?;
    u64::try_from(since.as_millis()).ok()
}

fn num(value: &Value, field: &str) -> Option<u64> {
    value.get(field).and_then(Value::as_u64)
}

/// Checks one run. `log` is every exchange of the load phase (in any order).
pub fn check(events: &[EventSpec], log: &[Exchange], final_state: &FinalState) -> Report {
    let mut report = Report::default();
    check_answers(log, &mut report);
    let granted = check_grants(log, &mut report);
    check_idempotency(log, &mut report);
    let (confirmed, released) = check_resolutions(log, &granted, &mut report);
    check_final_reads(&granted, &confirmed, &released, final_state, &mut report);
    for event in events {
        check_event_at_rest(event, &granted, &confirmed, final_state, &mut report);
    }
    report
}

/// Every request got an answer; 503 carries Retry-After; no other 5xx; every
/// status is one the contract allows for that route; live availability adds up.
fn check_answers(log: &[Exchange], report: &mut Report) {
    for ex in log {
        let Some(status) = ex.status else {
            report.add("every-request-answered", ex.evidence());
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
        let allowed = match ex.route {
            Route::PutEvent => matches!(status, 200 | 201),
            Route::Availability => status == 200,
            Route::Hold | Route::HoldReplay => {
                status == 201
                    || (status == 409
                        && matches!(
                            ex.problem_type(),
                            "sold-out" | "seats-unavailable" | "request-in-progress"
                        ))
            }
            // 404 is judged against the hold's fate in `check_final_reads`.
            Route::GetHold => matches!(status, 200 | 404),
            // 410 is judged against the hold's expiry in `check_resolutions`.
            Route::Confirm => matches!(status, 200 | 410),
            Route::Release => status == 200,
        };
        if !allowed {
            report.add("expected-status", ex.evidence());
        }
        if ex.route == Route::Availability && status == 200 {
            check_availability_sums(ex, report);
        }
    }
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
fn check_grants<'a>(log: &'a [Exchange], report: &mut Report) -> BTreeMap<String, Granted<'a>> {
    let mut granted: BTreeMap<String, Granted<'a>> = BTreeMap::new();
    for ex in log {
        if !matches!(ex.route, Route::Hold | Route::HoldReplay) || ex.status != Some(201) {
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
        let requested_section = ex
            .request
            .get("section")
            .and_then(Value::as_str)
            .unwrap_or("");
        let requested_seats = seat_set(&ex.request["seats"]);
        let requested_quantity =
            num(&ex.request, "quantity").unwrap_or(requested_seats.len() as u64);
        if section != requested_section
            || quantity != requested_quantity
            || (!requested_seats.is_empty() && seats != requested_seats)
        {
            report.add("hold-matches-request", ex.evidence());
        }
        if let Some(previous) = granted.get(hold_id) {
            // The same id twice is only right for two answers to one Idempotency-Key.
            if previous.exchange.idempotency_key.is_none()
                || previous.exchange.idempotency_key != ex.idempotency_key
            {
                report.add(
                    "hold-id-unique",
                    format!("{}\nand {}", previous.exchange.evidence(), ex.evidence()),
                );
            }
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
            },
        );
    }
    granted
}

/// All definite answers to one Idempotency-Key agree (a busy 503 or a
/// `request-in-progress` 409 is not an answer to the request itself).
fn check_idempotency(log: &[Exchange], report: &mut Report) {
    let mut by_key: BTreeMap<(&str, &str), Vec<&Exchange>> = BTreeMap::new();
    for ex in log {
        if let (Route::Hold | Route::HoldReplay, Some(key), Some(status)) =
            (ex.route, ex.idempotency_key.as_deref(), ex.status)
            && status != 503
            && !(status == 409 && ex.problem_type() == "request-in-progress")
        {
            by_key
                .entry((ex.event_id.as_str(), key))
                .or_default()
                .push(ex);
        }
    }
    for answers in by_key.values() {
        let Some((first, rest)) = answers.split_first() else {
            continue;
        };
        for other in rest {
            let same = first.status == other.status
                && first.body.get("hold_id") == other.body.get("hold_id")
                && first.problem_type() == other.problem_type();
            if !same {
                report.add(
                    "idempotent-replay",
                    format!("{}\nvs {}", first.evidence(), other.evidence()),
                );
            }
        }
    }
}

/// Confirms and releases: answers agree with the hold; a 410 only for a hold
/// that had expired; no hold both confirmed and released.
fn check_resolutions<'a>(
    log: &'a [Exchange],
    granted: &BTreeMap<String, Granted<'_>>,
    report: &mut Report,
) -> (BTreeSet<String>, BTreeMap<String, &'a Exchange>) {
    let mut confirmed = BTreeSet::new();
    let mut released = BTreeMap::new();
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
                // request was even sent leaves no room for a 200.
                if let Some(g) = granted.get(hold_id)
                    && let Some(expires) = g.expires_unix_ms
                    && expires + EXPIRY_SLACK_MS < ex.sent_unix_ms
                {
                    report.add(
                        "no-confirm-after-expiry",
                        format!("{}\nhold expired at {expires} (unix ms)", ex.evidence()),
                    );
                }
                confirmed.insert(hold_id.to_owned());
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
            (Route::Release, Some(200)) => {
                released.insert(hold_id.to_owned(), ex);
            }
            _ => {}
        }
    }
    for id in confirmed.iter().filter(|id| released.contains_key(*id)) {
        report.add("confirmed-or-released-not-both", format!("hold {id}"));
    }
    (confirmed, released)
}

/// Whether a hold expiring at `expires_unix_ms` may have expired by the time
/// the server decided `ex` (which it did before the answer arrived).
fn expired_when_answered(ex: &Exchange, expires_unix_ms: u64) -> bool {
    ex.answered_unix_ms.max(ex.sent_unix_ms) + EXPIRY_SLACK_MS >= expires_unix_ms
}

/// Every granted hold is readable at rest, with the fate its answers promised.
fn check_final_reads(
    granted: &BTreeMap<String, Granted<'_>>,
    confirmed: &BTreeSet<String>,
    released: &BTreeMap<String, &Exchange>,
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
        if confirmed.contains(id) {
            if read.status != Some(200) || status != "confirmed" {
                report.add("confirmed-stays-confirmed", read.evidence());
            }
        } else if let Some(release) = released.get(id) {
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
            let ok = match read.status {
                Some(200) => status == "held" || (status == "expired" && expired_by_now),
                Some(404) => expired_by_now,
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
    granted: &BTreeMap<String, Granted<'_>>,
    confirmed: &BTreeSet<String>,
    final_state: &FinalState,
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
            granted,
            confirmed,
            final_state,
            report,
        );
    }
}

fn check_section_at_rest(
    event: &EventSpec,
    spec: &SectionSpec,
    snapshot: &Value,
    granted: &BTreeMap<String, Granted<'_>>,
    confirmed: &BTreeSet<String>,
    final_state: &FinalState,
    report: &mut Report,
) {
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
    if sold != confirmed_units {
        report.add(
            "sold-equals-confirmed",
            format!("{place}: sold {sold} but confirmed answers add up to {confirmed_units}"),
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
    if live_units != held {
        report.add(
            "held-equals-live-holds",
            format!("{place}: held {held} but holds read back as held add up to {live_units}"),
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
        let report = check(&[general_event(4)], &log, &state);
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
        let report = check(&[general_event(4)], &log, &state);
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
        let report = check(&[general_event(4)], &log, &state);
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
        let report = check(&[event], &log, &state);
        assert_eq!(rules(&report), vec!["seat-sold-once"], "{report:?}");
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
        let report = check(
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
        let report = check(&[general_event(4)], &[first, replay], &state);
        assert_eq!(rules(&report), vec!["idempotent-replay"], "{report:?}");
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
        let report = check(&[general_event(4)], &log, &state);
        assert_eq!(
            rules(&report),
            vec!["held-equals-live-holds", "hold-readable"],
            "{report:?}"
        );
    }

    #[test]
    fn an_expiry_answer_is_judged_by_when_the_server_answered() {
        let expires_ms = NOW_MS + 10_000;
        let expires_at = humantime::format_rfc3339_millis(
            std::time::UNIX_EPOCH + std::time::Duration::from_millis(expires_ms),
        )
        .to_string();
        let mut granted = hold("h1", 1, "k1");
        granted.body["expires_at"] = json!(expires_at);
        let refused = |answered_ms: u64| {
            let mut e = ex(Route::Confirm, 410, Some("h1"), json!({}), json!({}));
            e.answered_unix_ms = answered_ms;
            e
        };
        let state = at_rest(3, 1, 0, 4, &[("h1", "held")]);
        // Sent long before expiry but answered after it: it waited in a queue.
        let late = check(
            &[general_event(4)],
            &[granted.clone(), refused(expires_ms + 1)],
            &state,
        );
        assert!(late.is_clean(), "{late:?}");
        // Answered 5 s before expiry: a live hold was refused.
        let early = check(
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
        let report = check(&[general_event(4)], &[snapshot], &at_rest(4, 0, 0, 4, &[]));
        assert_eq!(rules(&report), vec!["units-conserved"], "{report:?}");
    }
}
