//! The change feed under load: a consumer follows every event's
//! `GET /events/:id/changes` while the run goes on (a poll every
//! [`FOLLOW_INTERVAL_MS`], or every `--feed-poll-seconds` for a slow
//! consumer, each reading pages from the cursor until one comes back not
//! full), drains it at rest, and reads `GET /events/:id/stats`. [`check`] then proves, from
//! what it heard and the run's log and final state:
//!
//! - `feed-readable`: every page read at rest answered 200 (while the load
//!   runs, under a killed server or a failing store, a page may fail: the
//!   consumer asks again from the same cursor);
//! - `feed-nothing-missed`: no page reported records the consumer missed;
//! - `feed-exactly-once` and `feed-in-order`: each document's records came
//!   once each, numbered 1, 2, 3, … without gaps;
//! - `feed-matches-answers`: every granted hold has its `hold-placed`
//!   record, every 200 confirm its `hold-confirmed`, every 200 release that
//!   released its `hold-released`;
//! - `feed-matches-final-state`: replaying the records gives the units sold
//!   and held at rest (a hold is sold once any of its records says
//!   confirmed: its primary decides);
//! - `stats-match-recount`: the stats' confirmations and releases equal the
//!   holds confirmed and released, and its holds the holds granted (at
//!   least, where an answer was lost: a hold may have been granted unheard).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use serde_json::Value;

use crate::check::rfc3339_unix_ms;
use crate::log::{FinalState, Record, Route};

/// How often the consumer asks for a new page while the load runs.
pub const FOLLOW_INTERVAL_MS: u64 = 50;
/// Records per page.
const PAGE_RECORDS: u32 = 1_000;
/// Pages read at rest before the feed must have run dry.
const DRAIN_PAGES_MAX: u32 = 10_000;

/// What the consumer heard of one event.
#[derive(Debug, Default, Clone)]
pub struct EventFeed {
    pub records: Vec<Value>,
    pub missed: Vec<Value>,
    /// Pages read at rest that did not answer 200 (status or error, and
    /// body): violations.
    pub errors: Vec<String>,
    /// Pages that did not answer 200 while the load ran: counted, not
    /// violations (a killed server, a locked store answer so); the consumer
    /// asks again from the same cursor, so nothing is lost by them.
    pub errors_while_following: u64,
    pub stats: Option<Value>,
    cursor: Option<String>,
}

/// event id → what was heard.
pub type FeedLog = BTreeMap<String, EventFeed>;

/// Follows `events` until `stop`, a poll every `interval_ms`.
pub async fn follow(
    base_url: String,
    events: Vec<String>,
    interval_ms: u64,
    stop: Arc<AtomicBool>,
) -> FeedLog {
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap_or_default();
    let mut feeds: FeedLog = events
        .iter()
        .map(|id| (id.clone(), EventFeed::default()))
        .collect();
    while !stop.load(Ordering::Relaxed) {
        for (event, feed) in feeds.iter_mut() {
            for _ in 0..DRAIN_PAGES_MAX {
                if read_page(&client, &base_url, event, feed).await < PAGE_RECORDS as usize {
                    break;
                }
            }
            feed.errors_while_following += feed.errors.len() as u64;
            feed.errors.clear();
        }
        // Slept in short steps, so a slow consumer does not hold up the end
        // of the run.
        let mut slept_ms = 0;
        while slept_ms < interval_ms && !stop.load(Ordering::Relaxed) {
            let step_ms = (interval_ms - slept_ms).min(FOLLOW_INTERVAL_MS);
            tokio::time::sleep(Duration::from_millis(step_ms)).await;
            slept_ms += step_ms;
        }
    }
    feeds
}

/// Reads every event's feed until a page comes back empty, then its stats
/// (organiser data: read with the admin token).
pub async fn drain(base_url: &str, admin_token: &str, feeds: &mut FeedLog) {
    let client = reqwest::Client::new();
    for (event, feed) in feeds.iter_mut() {
        for _ in 0..DRAIN_PAGES_MAX {
            if read_page(&client, base_url, event, feed).await == 0 {
                break;
            }
        }
        let url = format!("{base_url}/events/{event}/stats");
        if let Ok(answer) = client.get(&url).bearer_auth(admin_token).send().await
            && answer.status().as_u16() == 200
        {
            feed.stats = answer.json().await.ok();
        }
    }
}

/// One page after the event's cursor; the number of records it brought.
async fn read_page(
    client: &reqwest::Client,
    base_url: &str,
    event: &str,
    feed: &mut EventFeed,
) -> usize {
    let after = feed
        .cursor
        .as_deref()
        .map_or(String::new(), |cursor| format!("&after={cursor}"));
    let url = format!("{base_url}/events/{event}/changes?limit={PAGE_RECORDS}{after}");
    let answer = match client.get(&url).send().await {
        Ok(answer) => answer,
        Err(error) => {
            feed.errors.push(format!("GET {url}: {error}"));
            return 0;
        }
    };
    let status = answer.status().as_u16();
    let body: Value = answer.json().await.unwrap_or(Value::Null);
    if status != 200 {
        feed.errors.push(format!("GET {url}: {status} {body}"));
        return 0;
    }
    let changes = body["changes"].as_array().cloned().unwrap_or_default();
    feed.missed
        .extend(body["missed"].as_array().cloned().unwrap_or_default());
    if let Some(next) = body["next"].as_str() {
        feed.cursor = Some(next.to_owned());
    }
    let count = changes.len();
    feed.records.extend(changes);
    count
}

/// A broken promise of the feed or the stats: (rule, evidence).
pub type Finding = (&'static str, String);

/// Checks what the consumer heard against the run (see the module's rules).
pub fn check(feeds: &FeedLog, log: &[Record], final_state: &FinalState) -> Vec<Finding> {
    let mut found = Vec::new();
    for (event, feed) in feeds {
        for error in &feed.errors {
            found.push(("feed-readable", format!("{event}: {error}")));
        }
        for missed in &feed.missed {
            found.push(("feed-nothing-missed", format!("{event}: {missed}")));
        }
        found.extend(sequence(event, &feed.records));
        let answers: Vec<&Record> = log.iter().filter(|r| r.event_id == *event).collect();
        found.extend(against_answers(event, &feed.records, &answers));
        if feed.missed.is_empty()
            && let Some(availability) = final_state.availability.get(event)
        {
            found.extend(against_final_state(
                event,
                &feed.records,
                &availability.body,
            ));
        }
        match &feed.stats {
            Some(stats) => found.extend(against_stats(event, stats, &answers)),
            None => found.push(("stats-match-recount", format!("{event}: no stats read"))),
        }
    }
    found
}

/// Each document's records once each, in sequence from 1.
fn sequence(event: &str, records: &[Value]) -> Vec<Finding> {
    let mut found = Vec::new();
    let mut last: BTreeMap<&str, u64> = BTreeMap::new();
    let mut seen: BTreeSet<(&str, u64)> = BTreeSet::new();
    for record in records {
        let document = record["document"].as_str().unwrap_or_default();
        let seq = record["seq"].as_u64().unwrap_or(0);
        if !seen.insert((document, seq)) {
            found.push((
                "feed-exactly-once",
                format!("{event}: delivered again: {record}"),
            ));
            continue;
        }
        let before = last.insert(document, seq).unwrap_or(0);
        if seq != before + 1 {
            found.push((
                "feed-in-order",
                format!("{event}: {document} seq {seq} after {before}: {record}"),
            ));
        }
    }
    found
}

/// The hold an answer is about: the one acted on, or the one a 201 granted.
fn hold_of(answer: &Record) -> Option<&str> {
    answer
        .hold_id
        .as_deref()
        .or_else(|| answer.body.get("hold_id").and_then(Value::as_str))
}

/// Holds with a record of `kind`.
fn holds_with(records: &[Value], kind: &str) -> BTreeSet<String> {
    records
        .iter()
        .filter(|r| r["type"] == kind)
        .filter_map(|r| r["hold_id"].as_str().map(str::to_owned))
        .collect()
}

/// Answers the buyers got, each with its record.
fn against_answers(event: &str, records: &[Value], answers: &[&Record]) -> Vec<Finding> {
    let placed = holds_with(records, "hold-placed");
    let confirmed = holds_with(records, "hold-confirmed");
    let released = holds_with(records, "hold-released");
    let mut found = Vec::new();
    for answer in answers {
        let Some(hold_id) = hold_of(answer) else {
            continue;
        };
        let missing = match (answer.route, answer.status) {
            (Route::Hold | Route::HoldReplay, Some(201)) => {
                (!placed.contains(hold_id)).then_some("hold-placed")
            }
            (Route::Confirm, Some(200)) => {
                (!confirmed.contains(hold_id)).then_some("hold-confirmed")
            }
            (Route::Release, Some(200)) if answer.body["status"] == "released" => {
                (!released.contains(hold_id)).then_some("hold-released")
            }
            _ => None,
        };
        if let Some(kind) = missing {
            found.push((
                "feed-matches-answers",
                format!("{event}: no {kind} record for {}", answer.evidence()),
            ));
        }
    }
    found
}

/// The records replayed to the moment of the final availability read.
fn against_final_state(event: &str, records: &[Value], availability: &Value) -> Vec<Finding> {
    let as_of_ms = rfc3339_unix_ms(&availability["as_of"]).unwrap_or(0);
    let confirmed = holds_with(records, "hold-confirmed");
    // (document, hold) → its last record.
    let mut parts: BTreeMap<(&str, &str), &Value> = BTreeMap::new();
    for record in records {
        if let (Some(document), Some(hold_id)) =
            (record["document"].as_str(), record["hold_id"].as_str())
        {
            parts.insert((document, hold_id), record);
        }
    }
    let mut found = Vec::new();
    for section in availability["sections"].as_array().into_iter().flatten() {
        let id = section["id"].as_str().unwrap_or_default();
        let (mut held, mut sold) = (0u64, 0u64);
        for ((_, hold_id), record) in &parts {
            if record["section"] != id {
                continue;
            }
            let units = record["quantity"].as_u64().unwrap_or(0);
            let live = matches!(
                record["type"].as_str(),
                Some("hold-placed" | "hold-confirmed")
            );
            if live && confirmed.contains(*hold_id) {
                sold += units;
            } else if record["type"] == "hold-placed"
                && rfc3339_unix_ms(&record["expires_at"]).is_some_and(|expires| expires > as_of_ms)
            {
                held += units;
            }
        }
        let at_rest = (section["held"].as_u64(), section["sold"].as_u64());
        if at_rest != (Some(held), Some(sold)) {
            found.push((
                "feed-matches-final-state",
                format!(
                    "{event} {id}: the feed replays to held {held}, sold {sold}; at rest {section}"
                ),
            ));
        }
    }
    found
}

/// The stats' totals against a recount of the answers.
fn against_stats(event: &str, stats: &Value, answers: &[&Record]) -> Vec<Finding> {
    let distinct = |route: &[Route], status: u16, released: bool| -> BTreeSet<&str> {
        answers
            .iter()
            .filter(|a| route.contains(&a.route) && a.status == Some(status))
            .filter(|a| !released || a.body["status"] == "released")
            .filter_map(|a| hold_of(a))
            .collect()
    };
    let granted = distinct(&[Route::Hold, Route::HoldReplay], 201, false).len() as u64;
    let confirmed = distinct(&[Route::Confirm], 200, false).len() as u64;
    let released = distinct(&[Route::Release], 200, true).len() as u64;
    // An unanswered write may have landed: the stats may count it.
    let unknown = |route: &[Route]| {
        answers
            .iter()
            .any(|a| route.contains(&a.route) && a.status.is_none_or(|s| s >= 500))
    };
    let totals = &stats["totals"];
    let mut found = Vec::new();
    let mut compare = |name: &str, counted: u64, may_be_more: bool| {
        let reported = totals[name].as_u64().unwrap_or(u64::MAX);
        if reported != counted && !(may_be_more && reported > counted && reported != u64::MAX) {
            found.push((
                "stats-match-recount",
                format!(
                    "{event}: stats say {name} {reported}, the answers count {counted}: {totals}"
                ),
            ));
        }
    };
    compare("holds", granted, unknown(&[Route::Hold, Route::HoldReplay]));
    compare("confirmations", confirmed, unknown(&[Route::Confirm]));
    compare("releases", released, unknown(&[Route::Release]));
    found
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::log::Exchange;
    use serde_json::json;

    fn record(document: &str, seq: u64, kind: &str, hold: &str, quantity: u64) -> Value {
        json!({"document": document, "seq": seq, "type": kind, "hold_id": hold,
               "section": "floor", "quantity": quantity, "expires_at": "2030-01-01T00:00:00Z"})
    }

    fn answer(route: Route, status: u16, hold: &str, body: Value) -> Record {
        Record {
            exchange: Exchange {
                route,
                event_id: "gig".into(),
                hold_id: Some(hold.into()),
                request: Value::Null,
                idempotency_key: None,
                status: Some(status),
                error: None,
                retry_after: None,
                cas_retries: 0,
                body,
                sent_unix_ms: 0,
                answered_unix_ms: 0,
                intended_start_us: 0,
                latency_us: 0,
            },
            buyer: Some(1),
            attempt: 1,
            attempt_start_us: 0,
        }
    }

    /// A 201, which names its hold in the body only.
    fn granted(hold: &str) -> Record {
        let mut record = answer(Route::Hold, 201, hold, json!({"hold_id": hold}));
        record.exchange.hold_id = None;
        record
    }

    /// A clean sale: h1 confirmed, h2 released, h3 still held.
    fn clean() -> (FeedLog, Vec<Record>, FinalState) {
        let records = vec![
            record("floor/0", 1, "hold-placed", "h1", 2),
            record("floor/0", 2, "hold-placed", "h2", 1),
            record("floor/0", 3, "hold-confirmed", "h1", 2),
            record("floor/1", 1, "hold-placed", "h3", 3),
            record("floor/0", 4, "hold-released", "h2", 1),
        ];
        let stats =
            json!({"totals": {"holds": 3, "confirmations": 1, "releases": 1, "expiries": 0}});
        let feed = EventFeed {
            records,
            stats: Some(stats),
            ..EventFeed::default()
        };
        let log = vec![
            granted("h1"),
            granted("h2"),
            granted("h3"),
            answer(Route::Confirm, 200, "h1", json!({})),
            answer(Route::Release, 200, "h2", json!({"status": "released"})),
        ];
        let mut final_state = FinalState::default();
        let mut at_rest = answer(
            Route::Availability,
            200,
            "",
            json!({
                "as_of": "2029-01-01T00:00:00Z",
                "sections": [{"id": "floor", "held": 3, "sold": 2, "available": 5, "capacity": 10}],
            }),
        );
        at_rest.exchange.hold_id = None;
        final_state
            .availability
            .insert("gig".into(), at_rest.exchange);
        (BTreeMap::from([("gig".to_owned(), feed)]), log, final_state)
    }

    fn rules(feeds: &FeedLog, log: &[Record], final_state: &FinalState) -> Vec<&'static str> {
        check(feeds, log, final_state)
            .into_iter()
            .map(|(rule, _)| rule)
            .collect()
    }

    #[test]
    fn a_clean_feed_passes() {
        let (feeds, log, final_state) = clean();
        assert_eq!(check(&feeds, &log, &final_state), Vec::new());
    }

    #[test]
    fn a_record_delivered_twice_or_skipped_is_caught() {
        let (mut feeds, log, final_state) = clean();
        let feed = feeds.get_mut("gig").expect("gig");
        let again = feed.records[0].clone();
        feed.records.push(again);
        assert!(rules(&feeds, &log, &final_state).contains(&"feed-exactly-once"));
        let (mut feeds, log, final_state) = clean();
        feeds.get_mut("gig").expect("gig").records.remove(1);
        let found = rules(&feeds, &log, &final_state);
        assert!(found.contains(&"feed-in-order"), "{found:?}");
    }

    #[test]
    fn a_granted_hold_without_its_record_is_caught() {
        let (mut feeds, log, final_state) = clean();
        let feed = feeds.get_mut("gig").expect("gig");
        feed.records.retain(|r| r["hold_id"] != "h3");
        let found = rules(&feeds, &log, &final_state);
        assert!(found.contains(&"feed-matches-answers"), "{found:?}");
    }

    #[test]
    fn a_confirm_without_its_record_is_caught() {
        let (mut feeds, log, final_state) = clean();
        feeds.get_mut("gig").expect("gig").records.remove(2);
        let found = rules(&feeds, &log, &final_state);
        assert!(found.contains(&"feed-matches-answers"), "{found:?}");
        assert!(found.contains(&"feed-matches-final-state"), "{found:?}");
    }

    #[test]
    fn a_feed_that_disagrees_with_the_state_at_rest_is_caught() {
        let (feeds, log, mut final_state) = clean();
        let at_rest = final_state.availability.get_mut("gig").expect("gig");
        at_rest.body["sections"][0]["sold"] = json!(3);
        assert_eq!(
            rules(&feeds, &log, &final_state),
            vec!["feed-matches-final-state"]
        );
    }

    #[test]
    fn stats_that_miscount_are_caught_and_lost_answers_allowed_for() {
        let (mut feeds, mut log, final_state) = clean();
        let feed = feeds.get_mut("gig").expect("gig");
        feed.stats = Some(json!({"totals": {"holds": 4, "confirmations": 1, "releases": 1}}));
        assert_eq!(
            rules(&feeds, &log, &final_state),
            vec!["stats-match-recount"]
        );
        // A hold request without an answer may have been granted.
        let mut lost = answer(Route::Hold, 0, "h4", Value::Null);
        lost.exchange.status = None;
        lost.exchange.hold_id = None;
        log.push(lost);
        assert_eq!(check(&feeds, &log, &final_state), Vec::new());
    }

    #[test]
    fn missed_records_and_unreadable_pages_are_caught() {
        let (mut feeds, log, final_state) = clean();
        let feed = feeds.get_mut("gig").expect("gig");
        feed.missed
            .push(json!({"document": "floor/0", "from_seq": 1, "to_seq": 2}));
        feed.errors.push("GET …: 503".into());
        let found = rules(&feeds, &log, &final_state);
        assert!(
            found.contains(&"feed-nothing-missed") && found.contains(&"feed-readable"),
            "{found:?}"
        );
    }
}
