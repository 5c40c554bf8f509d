//! The change feed and the stats, against a seeded mixed sale: a consumer
//! that pages through the feed while the sale runs gets every change once,
//! in order per document, and replaying the records gives the final counts;
//! the stats' totals equal a recount of the answers the buyers got. A
//! consumer that polls rarely through a one-shard flash sale misses
//! nothing (records wait in feed pages), documents stay bounded when the
//! copies to pages fail, and past the pages' retention the consumer is told
//! exactly what it missed.

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
    /// `missed` entries the pages reported.
    missed: Vec<Value>,
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
            for missed in page.body["missed"].as_array().cloned().unwrap_or_default() {
                // What was missed is skipped: the next record follows it.
                let document = missed["document"].as_str().unwrap_or_default().to_owned();
                let to_seq = missed["to_seq"].as_u64().unwrap_or(0);
                self.last_seq.insert(document, to_seq);
                self.missed.push(missed);
            }
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
    assert_eq!(consumer.missed, Vec::<Value>::new(), "seed {seed}");
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

/// A pseudo-random source for a test's choices.
fn random_source(seed: u64) -> impl FnMut(u64) -> u64 {
    let mut random = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
    move |bound: u64| {
        random = random
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (random >> 33) % bound
    }
}

/// The most change records any inventory document holds now.
fn records_held_max(b: &Booking) -> usize {
    b.inventory_docs()
        .iter()
        .map(|(_, doc)| doc.changes.len())
        .max()
        .unwrap_or(0)
}

const RECORDS_PER_DOCUMENT_MAX: usize =
    CHANGES_PER_DOCUMENT_MAX + FEED_UNPAGED_RECORDS_MAX as usize;

use booking_core::limits::{
    CHANGES_PER_DOCUMENT_MAX, FEED_PAGE_RECORDS, FEED_PAGES_PER_DOCUMENT, FEED_UNPAGED_RECORDS_MAX,
};

#[test]
fn a_consumer_polling_every_30_seconds_through_a_one_shard_flash_sale_misses_nothing() {
    let b = Booking::new(11);
    let created = b.create(
        "gig",
        json!({"name": "gig", "hold_ttl_seconds": 60, "sections": [
            {"id": "floor", "capacity": 500, "shards": 1}]}),
    );
    assert_eq!(created.status, 201, "{:?}", created.body);
    let mut consumer = Consumer::default();
    consumer.catch_up(&b, "gig", 1_000);
    let mut next = random_source(11);
    let mut live: Vec<String> = Vec::new();
    let (mut granted, mut confirmed, mut released) = (0u64, 0u64, 0u64);
    let mut between_polls_max = 0;
    let mut records_at_last_poll = consumer.records;
    // 4,800 steps of 25 simulated ms: 120 s, a poll every 30 s.
    for step in 1..=4_800u64 {
        match next(10) {
            0..=5 => {
                let body = json!({"section": "floor", "quantity": 1 + next(2),
                                  "customer_id": format!("c{}", next(50))});
                let answer = b.hold("gig", body);
                if answer.status == 201 {
                    granted += 1;
                    live.push(answer.str("hold_id"));
                }
            }
            6..=7 if !live.is_empty() => {
                let id = live.swap_remove(next(live.len() as u64) as usize);
                confirmed += u64::from(b.confirm(&id).status == 200);
            }
            8 if !live.is_empty() => {
                let id = live.swap_remove(next(live.len() as u64) as usize);
                let answer = b.release(&id);
                released += u64::from(answer.status == 200 && answer.body["status"] == "released");
            }
            _ => {}
        }
        b.env.advance_ms(25);
        if step % 50 == 0 {
            assert!(
                records_held_max(&b) <= RECORDS_PER_DOCUMENT_MAX,
                "step {step}"
            );
        }
        if step % 1_200 == 0 {
            consumer.catch_up(&b, "gig", 1_000);
            between_polls_max = between_polls_max.max(consumer.records - records_at_last_poll);
            records_at_last_poll = consumer.records;
        }
    }
    consumer.catch_up(&b, "gig", 1_000);
    assert_eq!(consumer.missed, Vec::<Value>::new());
    // The test means something: between two polls the one document took
    // many more records than it keeps itself.
    assert!(
        between_polls_max > 4 * CHANGES_PER_DOCUMENT_MAX,
        "{between_polls_max} records between polls"
    );
    let now = b.call("GET", "/events/gig/availability", &Value::Null, &[]);
    let (_, held, sold) = b.counts("gig", "floor");
    assert_eq!(consumer.counts("floor", &now.str("as_of")), (held, sold));
    assert!(sold >= 100, "a sale, not a trickle: {sold} sold");
    let stats = b.call("GET", "/events/gig/stats", &Value::Null, &[]);
    let totals = &stats.body["totals"];
    assert_eq!(totals["holds"], json!(granted), "{totals}");
    assert_eq!(totals["confirmations"], json!(confirmed), "{totals}");
    assert_eq!(totals["releases"], json!(released), "{totals}");
}

#[test]
fn a_document_holds_a_bounded_number_of_records_when_copies_to_pages_fail() {
    use booking_core::FailMode::{ErrorWithoutWrite, WriteThenError};
    // (case, how the first page's writes fail, how many fail)
    let cases = [
        ("copies succeed", ErrorWithoutWrite, 0),
        ("a few copies fail", ErrorWithoutWrite, 20),
        ("copies land but answer an error", WriteThenError, 50),
        ("every copy fails", ErrorWithoutWrite, u32::MAX),
    ];
    for (case, mode, times) in cases {
        let b = Booking::new(7);
        let created = b.create(
            "gig",
            json!({"name": "gig", "sections": [{"id": "floor", "capacity": 100, "shards": 1}]}),
        );
        assert_eq!(created.status, 201, "{case}: {:?}", created.body);
        let page_key = b
            .store
            .keys()
            .into_iter()
            .find(|k| k.contains("/p/0/0/0"))
            .expect("the first feed page is pre-created");
        if times > 0 {
            b.store.fail(&page_key, mode, 0, times);
        }
        let mut refused = 0;
        for cycle in 0..600 {
            let hold = b.hold("gig", json!({"section": "floor", "quantity": 1}));
            let released = (hold.status == 201).then(|| b.release(&hold.str("hold_id")).status);
            match (hold.status, released) {
                (201, Some(200)) => {}
                (503, None) | (201, Some(503)) => refused += 1,
                other => panic!("{case}: cycle {cycle}: {other:?} {:?}", hold.body),
            }
            let held = records_held_max(&b);
            assert!(
                held <= RECORDS_PER_DOCUMENT_MAX,
                "{case}: cycle {cycle}: {held} records"
            );
        }
        // Pages written or not, a consumer from the start misses nothing.
        let mut consumer = Consumer::default();
        consumer.catch_up(&b, "gig", 1_000);
        assert_eq!(consumer.missed, Vec::<Value>::new(), "{case}");
        if times == u32::MAX {
            // Nothing copies: the document fills to its bound, then writes
            // are refused (503, to retry) rather than drop a record.
            assert!(refused > 0, "{case}");
            assert!(consumer.records <= RECORDS_PER_DOCUMENT_MAX + 1, "{case}");
        } else {
            assert_eq!(refused, 0, "{case}");
            assert_eq!(consumer.records, 1 + 2 * 600, "{case}");
        }
    }
}

#[test]
fn past_the_pages_retention_the_consumer_is_told_what_it_missed() {
    let b = Booking::new(13);
    let created = b.create(
        "gig",
        json!({"name": "gig", "sections": [{"id": "floor", "capacity": 100, "shards": 1}]}),
    );
    assert_eq!(created.status, 201, "{:?}", created.body);
    let mut consumer = Consumer::default();
    consumer.catch_up(&b, "gig", 1_000);
    // 2 records a cycle: past the ring's pages (and the 64 the
    // document keeps) by about half a page.
    let retained = FEED_PAGES_PER_DOCUMENT as u64 * FEED_PAGE_RECORDS;
    let cycles = (retained + FEED_PAGE_RECORDS / 2 + 64) / 2;
    for _ in 0..cycles {
        let hold = b.hold("gig", json!({"section": "floor", "quantity": 1}));
        assert_eq!(hold.status, 201, "{:?}", hold.body);
        assert_eq!(b.release(&hold.str("hold_id")).status, 200);
    }
    consumer.catch_up(&b, "gig", 1_000);
    // Page 0's slot now holds a newer page: its records are gone, and only
    // they; every later one comes, once, in order.
    assert_eq!(
        consumer.missed,
        vec![json!({"document": "floor/0", "from_seq": 1, "to_seq": FEED_PAGE_RECORDS})]
    );
    assert_eq!(consumer.records as u64, 1 + 2 * cycles - FEED_PAGE_RECORDS);
}
