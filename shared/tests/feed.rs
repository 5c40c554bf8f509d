//! The change feed and the stats, against a seeded mixed sale: a consumer
//! that pages through the feed while the sale runs gets every change once,
//! in order per document, and replaying the records gives the final counts;
//! the stats' totals equal a recount of the answers the buyers got.

mod common;

use common::Booking;
use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet};

/// What a consumer knows: records by (document, seq), and its cursor.
#[derive(Default)]
struct Consumer {
    cursor: Option<String>,
    seen: BTreeSet<(String, u64)>,
    last_seq: BTreeMap<String, u64>,
    /// (document, hold id) → the last record.
    parts: BTreeMap<(String, String), Value>,
    records: usize,
}

impl Consumer {
    /// Reads pages of `limit` until the feed has nothing new.
    fn catch_up(&mut self, b: &Booking, event: &str, limit: usize) {
        for _ in 0..10_000 {
            let after = self
                .cursor
                .as_deref()
                .map_or(String::new(), |c| format!("&after={c}"));
            let page = b.call(
                "GET",
                &format!("/events/{event}/changes?limit={limit}{after}"),
                &Value::Null,
                &[],
            );
            assert_eq!(page.status, 200, "{:?}", page.body);
            assert_eq!(page.body["missed"], json!([]), "the consumer fell behind");
            let changes = page.body["changes"].as_array().cloned().unwrap_or_default();
            assert!(changes.len() <= limit);
            for record in &changes {
                self.take(record);
            }
            self.cursor = Some(page.str("next"));
            if changes.is_empty() {
                return;
            }
        }
        panic!("the feed never ran dry");
    }

    fn take(&mut self, record: &Value) {
        let document = record["document"].as_str().unwrap_or_default().to_owned();
        let seq = record["seq"].as_u64().unwrap_or(0);
        assert!(
            self.seen.insert((document.clone(), seq)),
            "delivered twice: {record}"
        );
        let last = self.last_seq.insert(document.clone(), seq).unwrap_or(0);
        assert_eq!(seq, last + 1, "out of order or a gap: {record}");
        self.records += 1;
        if let Some(hold_id) = record["hold_id"].as_str() {
            self.parts
                .insert((document, hold_id.to_owned()), record.clone());
        }
    }

    /// (held, sold) units of `section` at `now`, replayed from the records.
    fn counts(&self, section: &str, now: &str) -> (u64, u64) {
        let (mut held, mut sold) = (0, 0);
        for record in self.parts.values().filter(|r| r["section"] == section) {
            let units = record["quantity"].as_u64().unwrap_or(0);
            match record["type"].as_str() {
                Some("hold-confirmed") => sold += units,
                // RFC 3339 UTC with milliseconds compares as text.
                Some("hold-placed") if record["expires_at"].as_str() > Some(now) => held += units,
                _ => {}
            }
        }
        (held, sold)
    }
}

#[test]
fn the_feed_delivers_every_change_once_in_order_and_replays_to_the_final_state() {
    for seed in 0..8 {
        sale(seed);
    }
}

fn sale(seed: u64) {
    let b = Booking::new(seed);
    let created = b.create(
        "gig",
        json!({"name": "gig", "hold_ttl_seconds": 60, "sections": [
            {"id": "floor", "capacity": 60, "shards": 4},
            {"id": "A", "seats": (1..=24).map(|n| format!("A-{n}")).collect::<Vec<_>>()},
        ]}),
    );
    assert_eq!(created.status, 201, "{:?}", created.body);
    let mut consumer = Consumer::default();
    let mut live: Vec<String> = Vec::new();
    let (mut granted, mut confirmed, mut released) = (0u64, 0u64, 0u64);
    let mut random = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
    let mut next = |bound: u64| {
        random = random
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (random >> 33) % bound
    };
    for step in 0..400 {
        match next(10) {
            0..=3 => {
                let body = if next(3) == 0 {
                    let seat = format!("A-{}", 1 + next(24));
                    json!({"section": "A", "seats": [seat], "customer_id": format!("c{}", next(5))})
                } else {
                    json!({"section": "floor", "quantity": 1 + next(4), "customer_id": format!("c{}", next(5))})
                };
                let answer = if next(2) == 0 {
                    b.hold_with_key("gig", body, &format!("key-{seed}-{step}-0123456789"))
                } else {
                    b.hold("gig", body)
                };
                if answer.status == 201 {
                    granted += 1;
                    live.push(answer.str("hold_id"));
                }
            }
            4..=5 if !live.is_empty() => {
                let id = live.swap_remove(next(live.len() as u64) as usize);
                let answer = b.confirm(&id);
                if answer.status == 200 {
                    confirmed += 1;
                }
            }
            6 if !live.is_empty() => {
                let id = live.swap_remove(next(live.len() as u64) as usize);
                let answer = b.release(&id);
                if answer.status == 200 && answer.body["status"] == "released" {
                    released += 1;
                }
            }
            7 => b.env.advance_ms(next(20_000)),
            _ => consumer.catch_up(&b, "gig", 1 + next(9) as usize),
        }
    }
    consumer.catch_up(&b, "gig", 50);
    let now = b.call("GET", "/events/gig/availability", &Value::Null, &[]);
    let as_of = now.str("as_of");
    for section in ["floor", "A"] {
        let (_, held, sold) = b.counts("gig", section);
        assert_eq!(
            consumer.counts(section, &as_of),
            (held, sold),
            "seed {seed}: {section} replayed from {} records",
            consumer.records
        );
    }
    let stats = b.call("GET", "/events/gig/stats", &Value::Null, &[]);
    assert_eq!(stats.status, 200, "{:?}", stats.body);
    let totals = &stats.body["totals"];
    assert_eq!(totals["holds"], json!(granted), "seed {seed}: {totals}");
    assert_eq!(totals["confirmations"], json!(confirmed), "seed {seed}");
    assert_eq!(totals["releases"], json!(released), "seed {seed}");
    let units_left: u64 = ["floor", "A"].iter().map(|s| b.counts("gig", s).0).sum();
    assert_eq!(stats.body["units_left"], json!(units_left));
}

#[test]
fn server_sent_events_resume_from_last_event_id() {
    let b = Booking::new(3);
    b.create(
        "gig",
        json!({"name": "gig", "sections": [{"id": "floor", "capacity": 10}]}),
    );
    let first = b.hold("gig", json!({"section": "floor", "quantity": 2}));
    assert_eq!(first.status, 201);
    let events = |last_event_id: Option<&str>| {
        let mut headers = vec![("accept", "text/event-stream")];
        if let Some(id) = last_event_id {
            headers.push(("last-event-id", id));
        }
        b.raw("GET", "/events/gig/changes?wait_seconds=0", &headers)
    };
    let (status, content_type, text) = events(None);
    assert_eq!((status, content_type.as_str()), (200, "text/event-stream"));
    let ids: Vec<&str> = text
        .lines()
        .filter_map(|l| l.strip_prefix("id: "))
        .collect();
    // The event's creation and the hold.
    assert_eq!(ids.len(), 2, "{text}");
    assert!(text.contains("\"type\":\"hold-placed\""), "{text}");
    let last = ids[1].to_owned();
    let (_, _, text) = events(Some(&last));
    assert!(
        !text.contains("id: "),
        "nothing new after the last id: {text}"
    );
    let second = b.hold("gig", json!({"section": "floor", "quantity": 1}));
    assert_eq!(second.status, 201);
    let (_, _, text) = events(Some(&last));
    assert_eq!(text.matches("id: ").count(), 1, "{text}");
    assert!(text.contains(&second.str("hold_id")), "{text}");
    let (status, _, _) = events(Some("c1ffff"));
    assert_eq!(status, 422, "a foreign Last-Event-ID");
    let (status, _, _) = events(Some("not a cursor"));
    assert_eq!(status, 400, "a malformed Last-Event-ID");
}

#[test]
fn stats_report_fraud_signals() {
    use booking_core::limits::{BURST_HOLDS_MIN, CUSTOMER_REFUSALS_COUNTED_MAX};
    let b = Booking::new(5);
    let created = b.create(
        "gig",
        json!({"name": "gig", "max_per_customer": 8, "sections": [{"id": "floor", "capacity": 100, "shards": 1}]}),
    );
    assert_eq!(created.status, 201, "{:?}", created.body);
    // A burst: holds from one customer within seconds, none confirmed.
    for _ in 0..BURST_HOLDS_MIN {
        let hold = b.hold(
            "gig",
            json!({"section": "floor", "quantity": 2, "customer_id": "greedy"}),
        );
        assert_eq!(hold.status, 201, "{:?}", hold.body);
        b.env.advance_ms(500);
    }
    // Past the limit: refused, counted up to the cap.
    let refusals = CUSTOMER_REFUSALS_COUNTED_MAX + 5;
    for _ in 0..refusals {
        let refused = b.hold(
            "gig",
            json!({"section": "floor", "quantity": 1, "customer_id": "greedy"}),
        );
        assert_eq!(refused.problem(), "customer-limit");
    }
    let honest = b.hold(
        "gig",
        json!({"section": "floor", "quantity": 1, "customer_id": "honest"}),
    );
    assert_eq!(b.confirm(&honest.str("hold_id")).status, 200);

    let stats = b.call("GET", "/events/gig/stats", &Value::Null, &[]);
    let fraud = &stats.body["fraud"];
    assert_eq!(
        fraud["customer_limit_refusals"],
        json!([{"customer_id": "greedy", "count": CUSTOMER_REFUSALS_COUNTED_MAX}]),
        "{fraud}"
    );
    assert_eq!(
        fraud["holds_without_confirm"],
        json!([{"customer_id": "greedy", "count": BURST_HOLDS_MIN}]),
        "{fraud}"
    );
    assert_eq!(fraud["bursts"][0]["customer_id"], "greedy", "{fraud}");
    assert_eq!(fraud["bursts"].as_array().map(Vec::len), Some(1), "{fraud}");
    assert_eq!(stats.body["totals"]["holds"], json!(BURST_HOLDS_MIN + 1));
    assert_eq!(
        stats.body["conversion"].as_f64(),
        Some(1.0 / (BURST_HOLDS_MIN + 1) as f64)
    );
}
