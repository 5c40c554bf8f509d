//! Damaged stored values (found by the fuzz targets in `fuzz/`): each
//! answers a problem 500 or 503, never a panic or a wrong count, and the
//! request that read it writes nothing.

mod common;

use booking_core::Store;
use common::Booking;
use serde_json::{Value, json};

/// An event with one general section of one shard, and the shard's key.
fn one_shard(b: &Booking) -> String {
    let definition =
        json!({"name": "Gig", "sections": [{"id": "floor", "capacity": 4, "shards": 1}]});
    assert_eq!(b.create("gig", definition).status, 201);
    let keys = b.store.keys();
    let shard = keys.iter().find(|k| k.contains("/s/0/0"));
    shard
        .cloned()
        .unwrap_or_else(|| panic!("no shard among {keys:?}"))
}

/// Replaces `key` with `value`, then reads availability: a 500 problem
/// with nothing written.
fn availability_refuses(b: &Booking, key: &str, value: &Value) {
    b.store
        .put(key, value.to_string().as_bytes())
        .unwrap_or_else(|e| panic!("{e}"));
    let writes = b.store.writes();
    let answer = b.call("GET", "/events/gig/availability", &Value::Null, &[]);
    assert_eq!(
        (answer.status, answer.problem().as_str()),
        (500, "internal"),
        "{:?}",
        answer.body
    );
    assert_eq!(b.store.writes(), writes, "a refused read wrote");
}

#[test]
fn a_shard_counting_more_than_its_capacity_is_a_500_not_a_count() {
    let b = Booking::new(1);
    let shard = one_shard(&b);
    let part = |nonce: &str, units: u64| json!({"h": nonce, "q": units, "s": "C", "x": 0, "t": 0});
    // A ledger page's value in a shard key: no capacity, confirmed parts.
    let foreign = json!({"v": 3, "op": "ledger", "parts": [part("a", 2)]});
    availability_refuses(&b, &shard, &foreign);
    let over = json!({"v": 3, "op": "x", "cap": 4, "parts": [part("a", 3), part("b", 3)]});
    availability_refuses(&b, &shard, &over);
    // Units that overflow a u32 when added.
    let huge = u64::from(u32::MAX);
    let overflow =
        json!({"v": 3, "op": "x", "cap": 4, "parts": [part("a", huge), part("b", huge)]});
    availability_refuses(&b, &shard, &overflow);
}

#[test]
fn a_stored_time_past_year_9999_is_written_as_the_last_rfc3339_time() {
    let b = Booking::new(2);
    let shard = one_shard(&b);
    let hold = b.hold("gig", json!({"section": "floor", "quantity": 1}));
    assert_eq!(hold.status, 201, "{:?}", hold.body);
    let id = hold.str("hold_id");
    let nonce = id.rsplit('~').next().unwrap_or_default();
    let far = json!({"v": 9, "op": "x", "cap": 4, "parts": [
        {"h": nonce, "q": 1, "s": "H", "x": u64::MAX, "t": u64::MAX}
    ]});
    b.store
        .put(&shard, far.to_string().as_bytes())
        .unwrap_or_else(|e| panic!("{e}"));
    let writes = b.store.writes();
    // It panicked: humantime fails past year 9999, and `to_string` panics.
    let answer = b.status(&id);
    assert_eq!(answer.status, 200, "{:?}", answer.body);
    assert_eq!(answer.str("expires_at"), "9999-12-31T23:59:59.999Z");
    assert_eq!(b.store.writes(), writes, "a status read wrote");
}

#[test]
fn a_meta_beyond_the_layout_limits_is_a_500_not_an_unbounded_allocation() {
    let b = Booking::new(3);
    one_shard(&b);
    let meta_key = "e/gig";
    let stored = b.store.raw(meta_key).unwrap_or_default();
    let mut meta: Value = serde_json::from_slice(&stored).unwrap_or(Value::Null);
    // It allocated 40 GB of key names: 1,698,308,723 documents.
    for (field, value) in [("docs", json!(1_698_308_723u32)), ("docs", json!(0))] {
        meta["sections"][0][field] = value;
        availability_refuses(&b, meta_key, &meta);
    }
    let writes = b.store.writes();
    let hold = b.hold("gig", json!({"section": "floor", "quantity": 1}));
    assert_eq!(
        (hold.status, hold.problem().as_str()),
        (500, "internal"),
        "{:?}",
        hold.body
    );
    assert_eq!(b.store.writes(), writes, "a refused hold wrote");
}

#[test]
fn a_keyed_replay_of_a_damaged_nonce_is_a_500_not_an_unusable_hold_id() {
    let b = Booking::new(4);
    let shard = one_shard(&b);
    let body = json!({"section": "floor", "quantity": 1});
    let key = "fuzz-key-0000000001";
    let hold = b.hold_with_key("gig", body.clone(), key);
    assert_eq!(hold.status, 201, "{:?}", hold.body);
    let id = hold.str("hold_id");
    let nonce = id.rsplit('~').next().unwrap_or_default();
    // One flipped byte in the stored nonce: the replay answered 201 with a
    // hold id the core itself refuses (404 on every later request).
    let stored = String::from_utf8(b.store.raw(&shard).unwrap_or_default()).unwrap_or_default();
    let field = format!("\"h\":\"{nonce}\"");
    let damaged = stored.replacen(&field, &format!("\"h\":\"J{}\"", &nonce[1..]), 1);
    assert_ne!(damaged, stored);
    b.store
        .put(&shard, damaged.as_bytes())
        .unwrap_or_else(|e| panic!("{e}"));
    let writes = b.store.writes();
    let replay = b.hold_with_key("gig", body, key);
    assert_eq!(
        (replay.status, replay.problem().as_str()),
        (500, "internal"),
        "{:?}",
        replay.body
    );
    assert_eq!(b.store.writes(), writes, "a refused replay wrote");
}

#[test]
fn a_lost_creation_register_is_a_500_not_a_second_sale() {
    let b = Booking::new(5);
    one_shard(&b);
    let definition =
        json!({"name": "Gig", "sections": [{"id": "floor", "capacity": 4, "shards": 1}]});
    assert_eq!(
        b.hold("gig", json!({"section": "floor", "quantity": 4}))
            .status,
        201
    );
    // The store loses the register (the memory store has no delete: copy
    // every other key into a fresh one).
    let lost = Booking {
        store: booking_core::MemoryStore::new(),
        ..b.clone()
    };
    for key in b.store.keys().into_iter().filter(|k| k != "e/gig/gen") {
        let value = b.store.raw(&key).unwrap_or_default();
        lost.store
            .put(&key, &value)
            .unwrap_or_else(|e| panic!("{e}"));
    }
    // It created the event again under generation 2: four more units sold.
    let writes = lost.store.writes();
    let again = lost.create("gig", definition);
    assert_eq!(
        (again.status, again.problem().as_str()),
        (500, "internal"),
        "{:?}",
        again.body
    );
    assert_eq!(lost.store.writes(), writes, "a refused creation wrote");
}

/// Found by the fuzz target `stored_document`: a truncated section summary
/// made a customer's hold answer 500 before anything was placed, yet the
/// customer's reservation stayed counted (the 500 was taken for an unknown
/// outcome). Only a primary write that may have landed keeps it now.
#[test]
fn a_broken_summary_gives_the_customer_reservation_back() {
    let b = Booking::new(6);
    let definition = json!({"name": "Gig", "max_per_customer": 2,
        "sections": [{"id": "floor", "capacity": 40, "shards": 4}]});
    assert_eq!(b.create("gig", definition).status, 201);
    let summary = "e/gig/1/f/0";
    let stored = b
        .store
        .raw(summary)
        .unwrap_or_else(|| panic!("no summary among {:?}", b.store.keys()));
    b.store
        .put(summary, &stored[..stored.len() / 2])
        .unwrap_or_else(|e| panic!("{e}"));
    let mine = json!({"section": "floor", "quantity": 2, "customer_id": "alice"});
    for key in [None, Some("broken-summary-key-01")] {
        let hold = match key {
            Some(key) => b.hold_with_key("gig", mine.clone(), key),
            None => b.hold("gig", mine.clone()),
        };
        assert_eq!(
            (hold.status, hold.problem().as_str()),
            (500, "internal"),
            "{:?}",
            hold.body
        );
    }
    b.store
        .put(summary, &stored)
        .unwrap_or_else(|e| panic!("{e}"));
    let after = b.hold("gig", mine);
    assert_eq!(after.status, 201, "alice holds nothing: {:?}", after.body);
}
