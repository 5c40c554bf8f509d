//! The booking core against the memory store (Spin's semantics), through the
//! same router the components use.

mod common;

use booking_core::FailMode;
use booking_core::Store;
use booking_core::model::{EventMeta, InventoryDoc, KeyTag};
use common::{Booking, START_MS, TOKEN};
use serde_json::{Value, json};

fn general(capacity: u32) -> Value {
    json!({"name": "Concert", "hold_ttl_seconds": 60, "sections": [{"id": "floor", "capacity": capacity}]})
}

fn seated(seats: usize) -> Value {
    let seats: Vec<String> = (1..=seats).map(|i| format!("A-{i}")).collect();
    json!({"name": "Theatre", "hold_ttl_seconds": 60, "sections": [{"id": "A", "seats": seats}]})
}

#[test]
fn event_create_is_idempotent_and_immutable() {
    let b = Booking::new(1);
    assert_eq!(b.create("ev", general(100)).status, 201);
    assert_eq!(b.create("ev", general(100)).status, 200);
    let conflict = b.create("ev", general(101));
    assert_eq!(
        (conflict.status, conflict.problem().as_str()),
        (409, "event-conflict")
    );
    let got = b.call("GET", "/events/ev", &Value::Null, &[]);
    assert_eq!(got.status, 200);
    assert_eq!(got.body["sections"][0]["capacity"], 100);
    assert_eq!(b.call("GET", "/events/nope", &Value::Null, &[]).status, 404);
}

#[test]
fn admin_needs_the_token_and_a_configured_one() {
    let mut b = Booking::new(2);
    let request = |b: &Booking, auth: &str| {
        let headers = [("authorization", auth)];
        b.call("PUT", "/events/x", &general(5), &headers)
    };
    // The helper appends the right token last; a wrong one first wins.
    assert_eq!(request(&b, "Bearer wrong").status, 401);
    assert_eq!(b.call("GET", "/events/x", &Value::Null, &[]).status, 404);
    b.config.admin_token = None;
    assert_eq!(b.create("x", general(5)).status, 503);
}

#[test]
fn event_validation() {
    let b = Booking::new(3);
    let cases = [
        (json!({"name": "x", "sections": []}), 422),
        (
            json!({"name": "x", "sections": [{"id": "a", "capacity": 0}]}),
            422,
        ),
        (
            json!({"name": "x", "sections": [{"id": "a", "capacity": 1_000_001}]}),
            422,
        ),
        (
            json!({"name": "x", "sections": [{"id": "a", "capacity": 5, "seats": ["s"]}]}),
            422,
        ),
        (
            json!({"name": "x", "sections": [{"id": "a", "capacity": 5}, {"id": "a", "capacity": 5}]}),
            422,
        ),
        (
            json!({"name": "x", "sections": [{"id": "-a", "capacity": 5}]}),
            400,
        ),
        (
            json!({"name": "x", "sections": [{"id": "a", "seats": ["s", "s"]}]}),
            422,
        ),
        (
            json!({"name": "x", "sections": [{"id": "a", "seats": ["bad seat"]}]}),
            400,
        ),
        (
            json!({"name": "x", "hold_ttl_seconds": 0, "sections": [{"id": "a", "capacity": 5}]}),
            422,
        ),
        (
            json!({"name": "x", "max_per_customer": 0, "sections": [{"id": "a", "capacity": 5}]}),
            422,
        ),
        (
            json!({"name": "", "sections": [{"id": "a", "capacity": 5}]}),
            422,
        ),
        (
            json!({"name": "x", "sections": [{"id": "a", "capacity": 5000, "shards": 2}]}),
            422,
        ),
        (json!({"sections": [{"id": "a", "capacity": 5}]}), 400),
    ];
    for (i, (body, status)) in cases.into_iter().enumerate() {
        let answer = b.create(&format!("e{i}"), body.clone());
        assert_eq!(answer.status, status, "{body}: {:?}", answer.body);
    }
    assert!(
        b.store.keys().is_empty(),
        "a rejected definition wrote {:?}",
        b.store.keys()
    );
}

#[test]
fn general_sale_sells_exactly_capacity() {
    let b = Booking::new(4);
    b.create("ev", general(50));
    let mut held = Vec::new();
    loop {
        let answer = b.hold("ev", json!({"section": "floor", "quantity": 3}));
        match answer.status {
            201 => held.push(answer.str("hold_id")),
            409 => {
                assert_eq!(answer.problem(), "sold-out");
                break;
            }
            other => panic!("unexpected {other}: {:?}", answer.body),
        }
    }
    // 16 holds of 3 = 48; the last 2 units still sell as quantity 2 or 1.
    assert_eq!(held.len(), 16);
    assert_eq!(b.counts("ev", "floor"), (2, 48, 0));
    assert_eq!(
        b.hold("ev", json!({"section": "floor", "quantity": 2}))
            .status,
        201
    );
    assert_eq!(b.counts("ev", "floor"), (0, 50, 0));
    for id in &held {
        assert_eq!(b.confirm(id).status, 200);
    }
    assert_eq!(b.counts("ev", "floor"), (0, 2, 48));
    assert_eq!(b.check_documents(), 48);
}

#[test]
fn keys_are_bounded_by_the_layout_not_by_traffic() {
    let b = Booking::new(5);
    b.create("ev", general(200));
    let keys_after_create = b.store.keys().len();
    for i in 0..300 {
        let hold = b.hold_with_key(
            "ev",
            json!({"section": "floor", "quantity": 1, "customer_id": format!("c{i}")}),
            &format!("k{i}"),
        );
        if hold.status == 201 && i % 2 == 0 {
            b.release(&hold.str("hold_id"));
        }
    }
    assert_eq!(b.store.keys().len(), keys_after_create);
    let largest = b
        .store
        .keys()
        .iter()
        .filter_map(|k| b.store.raw(k))
        .map(|v| v.len())
        .max();
    assert!(
        largest.unwrap_or(0) < 64 * 1024,
        "a document grew to {largest:?} bytes"
    );
}

#[test]
fn hold_request_validation() {
    let b = Booking::new(6);
    b.create("ev", json!({"name": "Mixed", "sections": [{"id": "floor", "capacity": 10}, {"id": "A", "seats": ["A-1", "A-2"]}]}));
    let cases = [
        (
            json!({"section": "nope", "quantity": 1}),
            422,
            "unknown-section",
        ),
        (
            json!({"section": "floor", "seats": ["A-1"]}),
            422,
            "wrong-section-kind",
        ),
        (
            json!({"section": "A", "quantity": 1}),
            422,
            "wrong-section-kind",
        ),
        (
            json!({"section": "floor", "quantity": 0}),
            422,
            "quantity-out-of-range",
        ),
        (
            json!({"section": "floor", "quantity": 11}),
            422,
            "quantity-out-of-range",
        ),
        (
            json!({"section": "floor", "quantity": 1.5}),
            422,
            "quantity-out-of-range",
        ),
        (
            json!({"section": "A", "seats": ["A-1", "A-1"]}),
            422,
            "duplicate-seats",
        ),
        (
            json!({"section": "A", "seats": ["A-9"]}),
            422,
            "seats-not-in-section",
        ),
        (
            json!({"section": "A", "seats": ["A 1"]}),
            400,
            "bad-request",
        ),
        (
            json!({"section": "floor", "quantity": 1, "customer_id": "bad id"}),
            400,
            "bad-request",
        ),
        (json!("not an object"), 400, "bad-request"),
    ];
    for (body, status, problem) in cases {
        let answer = b.hold("ev", body.clone());
        assert_eq!(
            (answer.status, answer.problem().as_str()),
            (status, problem),
            "{body}"
        );
    }
    assert_eq!(
        b.hold("nope", json!({"section": "floor", "quantity": 1}))
            .status,
        404
    );
    assert_eq!(b.counts("ev", "floor"), (10, 0, 0));
    assert_eq!(b.counts("ev", "A"), (2, 0, 0));
}

#[test]
fn seats_across_blocks_hold_confirm_and_release_as_one() {
    let b = Booking::new(7);
    b.create("ev", seated(300));
    // Ten seats that land in several blocks.
    let seats: Vec<String> = (1..=10).map(|i| format!("A-{}", i * 29)).collect();
    let hold = b.hold("ev", json!({"section": "A", "seats": seats}));
    assert_eq!(hold.status, 201, "{:?}", hold.body);
    let blocks_with_parts = b
        .inventory_docs()
        .iter()
        .filter(|(_, d)| !d.parts.is_empty())
        .count();
    assert!(blocks_with_parts > 1, "the test needs a spread hold");
    assert_eq!(b.counts("ev", "A"), (290, 10, 0));
    let clash = b.hold("ev", json!({"section": "A", "seats": ["A-1", "A-58"]}));
    assert_eq!(
        (clash.status, clash.problem().as_str()),
        (409, "seats-unavailable")
    );
    assert_eq!(clash.body["unavailable"], json!(["A-58"]));
    // The failed hold took nothing, not even A-1 in another block.
    assert_eq!(b.counts("ev", "A"), (290, 10, 0));
    let confirm = b.confirm(&hold.str("hold_id"));
    assert_eq!(confirm.status, 200);
    assert_eq!(b.counts("ev", "A"), (290, 0, 10));
    // Long after the expiry time, the sold seats stay sold.
    b.env.advance_ms(3_600_000);
    assert_eq!(b.counts("ev", "A"), (290, 0, 10));
    assert_eq!(
        b.hold("ev", json!({"section": "A", "seats": ["A-58"]}))
            .status,
        409
    );
    assert_eq!(b.release(&hold.str("hold_id")).problem(), "hold-confirmed");
}

#[test]
fn expired_holds_return_their_inventory() {
    let b = Booking::new(8);
    b.create("ev", json!({"name": "x", "hold_ttl_seconds": 1, "sections": [{"id": "A", "seats": ["A-1", "A-2"]}]}));
    let hold = b.hold("ev", json!({"section": "A", "seats": ["A-1", "A-2"]}));
    assert_eq!(hold.status, 201);
    assert_eq!(
        b.hold("ev", json!({"section": "A", "seats": ["A-1"]}))
            .status,
        409
    );
    b.env.advance_ms(1_000);
    assert_eq!(b.status(&hold.str("hold_id")).str("status"), "expired");
    assert_eq!(b.counts("ev", "A"), (2, 0, 0));
    let confirm = b.confirm(&hold.str("hold_id"));
    assert_eq!(
        (confirm.status, confirm.problem().as_str()),
        (410, "hold-expired")
    );
    let again = b.hold("ev", json!({"section": "A", "seats": ["A-1"]}));
    assert_eq!(again.status, 201);
    assert_eq!(b.confirm(&again.str("hold_id")).status, 200);
    assert_eq!(b.counts("ev", "A"), (1, 0, 1));
}

#[test]
fn release_is_final_and_repeatable() {
    let b = Booking::new(9);
    b.create("ev", general(4));
    let hold = b.hold("ev", json!({"section": "floor", "quantity": 4}));
    let id = hold.str("hold_id");
    assert_eq!(b.release(&id).status, 200);
    assert_eq!(
        b.call("DELETE", &format!("/holds/{id}"), &Value::Null, &[])
            .status,
        200
    );
    assert_eq!(b.status(&id).str("status"), "released");
    assert_eq!(b.confirm(&id).problem(), "hold-released");
    assert_eq!(b.counts("ev", "floor"), (4, 0, 0));
    assert_eq!(
        b.hold("ev", json!({"section": "floor", "quantity": 4}))
            .status,
        201
    );
}

#[test]
fn confirm_repeats_with_the_same_booking() {
    let b = Booking::new(10);
    b.create("ev", general(4));
    let id = b
        .hold("ev", json!({"section": "floor", "quantity": 2}))
        .str("hold_id");
    let first = b.confirm(&id);
    let second = b.confirm(&id);
    assert_eq!((first.status, second.status), (200, 200));
    assert_eq!(first.str("booking_id"), second.str("booking_id"));
    assert!(!first.str("booking_id").is_empty());
    assert_eq!(b.status(&id).str("booking_id"), first.str("booking_id"));
    let bad = b.call(
        "POST",
        &format!("/holds/{id}/confirm"),
        &json!({"payment_ref": ""}),
        &[],
    );
    assert_eq!(bad.status, 422);
    for unknown in [
        "nope",
        "h1~ev~0~0~0123456789abcdef0123456789abcdef",
        "h1~ev~9~0~0123456789abcdef0123456789abcdef",
    ] {
        assert_eq!(b.confirm(unknown).status, 404, "{unknown}");
        assert_eq!(b.status(unknown).status, 404, "{unknown}");
    }
}

#[test]
fn idempotency_key_replays_the_first_answer() {
    let b = Booking::new(11);
    b.create("ev", general(10));
    let body = json!({"section": "floor", "quantity": 2});
    let first = b.hold_with_key("ev", body.clone(), "order-key-000001");
    let second = b.hold_with_key("ev", body.clone(), "order-key-000001");
    assert_eq!((first.status, second.status), (201, 201));
    assert_eq!(first.body, second.body);
    assert_eq!(b.counts("ev", "floor"), (8, 2, 0));
    let reused = b.hold_with_key(
        "ev",
        json!({"section": "floor", "quantity": 3}),
        "order-key-000001",
    );
    assert_eq!(
        (reused.status, reused.problem().as_str()),
        (422, "idempotency-key-reused")
    );
    let sold_out = b.hold_with_key(
        "ev",
        json!({"section": "floor", "quantity": 10}),
        "order-key-000002",
    );
    assert_eq!(sold_out.problem(), "sold-out");
    assert_eq!(
        b.hold_with_key(
            "ev",
            json!({"section": "floor", "quantity": 10}),
            "order-key-000002"
        )
        .body,
        sold_out.body
    );
    let bad = b.hold_with_key("ev", body, "bad\u{7}key");
    assert_eq!(bad.status, 400);
}

#[test]
fn a_keyed_hold_is_one_write_and_its_primary_is_the_key_record() {
    let b = Booking::new(12);
    b.create("ev", general(64));
    let body = json!({"section": "floor", "quantity": 2});
    let key = "order-key-000001";
    let before = b.store.writes();
    let first = b.hold_with_key("ev", body.clone(), key);
    assert_eq!(first.status, 201, "{:?}", first.body);
    assert_eq!(b.store.writes() - before, 1, "a keyed hold is one CAS");
    // The primary sits in the key's home document and records the key.
    let meta: EventMeta =
        serde_json::from_slice(&b.store.raw("e/ev").expect("meta")).expect("decodes");
    let hold_id = first.str("hold_id");
    let tag = KeyTag::new(key, 0);
    let home = tag.home_doc(meta.sections[0].docs);
    let home_doc: InventoryDoc =
        serde_json::from_slice(&b.store.raw(&meta.inventory_key(0, home)).expect("doc"))
            .expect("decodes");
    let part = home_doc.keyed_primary(&tag.id).expect("the key's primary");
    assert!(hold_id.ends_with(&part.nonce), "{hold_id} vs {part:?}");
    // A replay reads and writes nothing; after a confirm it still answers
    // the hold as placed.
    let before = b.store.writes();
    let replay = b.hold_with_key("ev", body.clone(), key);
    assert_eq!(b.store.writes(), before, "a replay writes nothing");
    assert_eq!(replay.body, first.body);
    assert_eq!(replay.header("idempotency-replayed"), Some("true"));
    assert_eq!(b.confirm(&hold_id).status, 200);
    assert_eq!(b.hold_with_key("ev", body.clone(), key).body, first.body);
    assert_eq!(b.counts("ev", "floor"), (62, 0, 2));
    // A refusal is not remembered: the same request asks again.
    let big = json!({"section": "floor", "quantity": 10});
    let mut holds = Vec::new();
    for n in 0..6 {
        let filler = b.hold("ev", json!({"section": "floor", "quantity": 10}));
        assert_eq!(filler.status, 201, "filler {n}: {:?}", filler.body);
        holds.push(filler.str("hold_id"));
    }
    let refused = b.hold_with_key("ev", big.clone(), "order-key-000002");
    assert_eq!(refused.problem(), "sold-out");
    assert_eq!(b.release(&holds[0]).status, 200);
    let granted = b.hold_with_key("ev", big, "order-key-000002");
    assert_eq!(granted.status, 201, "{:?}", granted.body);
    assert_eq!(granted.header("idempotency-replayed"), None);

    // A key is decided in its section, and refused in another one.
    b.create(
        "two",
        json!({"name": "x", "sections": [
            {"id": "floor", "capacity": 40, "shards": 4},
            {"id": "A", "seats": ["A-1", "A-2"]}]}),
    );
    let first = b.hold_with_key("two", json!({"section": "A", "seats": ["A-1"]}), key);
    assert_eq!(first.status, 201, "{:?}", first.body);
    let elsewhere = b.hold_with_key("two", json!({"section": "floor", "quantity": 1}), key);
    assert_eq!(
        (elsewhere.status, elsewhere.problem().as_str()),
        (422, "idempotency-key-reused")
    );
    assert_eq!(b.counts("two", "floor"), (40, 0, 0));
}

#[test]
fn ambiguous_swaps_are_recognised_not_repeated() {
    for mode in [FailMode::WriteThenError, FailMode::WriteThenConflict] {
        let b = Booking::new(13);
        b.create(
            "ev",
            json!({"name": "x", "sections": [{"id": "floor", "capacity": 10, "shards": 1}]}),
        );
        b.store.fail_next("e/ev/1/s/0/0", mode);
        let hold = b.hold("ev", json!({"section": "floor", "quantity": 3}));
        assert_eq!(hold.status, 201, "{mode:?}: {:?}", hold.body);
        assert_eq!(b.counts("ev", "floor"), (7, 3, 0), "{mode:?}");
        b.store.fail_next("e/ev/1/s/0/0", mode);
        assert_eq!(b.confirm(&hold.str("hold_id")).status, 200, "{mode:?}");
        assert_eq!(b.counts("ev", "floor"), (7, 0, 3), "{mode:?}");
    }
}

#[test]
fn fragmented_shards_still_sell_every_unit() {
    let b = Booking::new(14);
    b.create(
        "ev",
        json!({"name": "x", "sections": [{"id": "floor", "capacity": 8, "shards": 4}]}),
    );
    // Leave one unit in each shard of two.
    let mut ids = Vec::new();
    for _ in 0..8 {
        ids.push(
            b.hold("ev", json!({"section": "floor", "quantity": 1}))
                .str("hold_id"),
        );
    }
    for id in ids.iter().take(4) {
        b.release(id);
    }
    let spread = b.hold("ev", json!({"section": "floor", "quantity": 4}));
    assert_eq!(spread.status, 201, "{:?}", spread.body);
    assert_eq!(b.counts("ev", "floor"), (0, 8, 0));
    assert_eq!(b.confirm(&spread.str("hold_id")).status, 200);
    b.env.advance_ms(301_000);
    // The other holds expired; the spread booking stays sold.
    assert_eq!(b.counts("ev", "floor"), (4, 0, 4));
    assert_eq!(
        b.hold("ev", json!({"section": "floor", "quantity": 5}))
            .problem(),
        "sold-out"
    );
    assert_eq!(
        b.hold("ev", json!({"section": "floor", "quantity": 4}))
            .status,
        201
    );
}

#[test]
fn an_expired_spread_hold_frees_every_part() {
    let b = Booking::new(15);
    b.create("ev", seated(300));
    let seats: Vec<String> = (1..=10).map(|i| format!("A-{}", i * 29)).collect();
    let hold = b.hold("ev", json!({"section": "A", "seats": seats}));
    assert_eq!(hold.status, 201);
    b.env.advance_ms(61_000);
    assert_eq!(b.counts("ev", "A"), (300, 0, 0));
    assert_eq!(b.confirm(&hold.str("hold_id")).status, 410);
    let again = b.hold("ev", json!({"section": "A", "seats": seats}));
    assert_eq!(again.status, 201, "{:?}", again.body);
    assert_eq!(b.confirm(&again.str("hold_id")).status, 200);
    assert_eq!(b.counts("ev", "A"), (290, 0, 10));
}

#[test]
fn customer_limit_counts_holds_and_bookings() {
    let b = Booking::new(16);
    b.create(
        "ev",
        json!({"name": "x", "max_per_customer": 4, "sections": [{"id": "floor", "capacity": 100}]}),
    );
    let hold = |q: u32| {
        b.hold(
            "ev",
            json!({"section": "floor", "quantity": q, "customer_id": "c-1"}),
        )
    };
    let first = hold(3);
    assert_eq!(first.status, 201);
    let over = hold(2);
    assert_eq!(
        (over.status, over.problem().as_str()),
        (409, "customer-limit")
    );
    assert_eq!(
        b.hold(
            "ev",
            json!({"section": "floor", "quantity": 2, "customer_id": "c-2"})
        )
        .status,
        201
    );
    assert_eq!(b.confirm(&first.str("hold_id")).status, 200);
    assert_eq!(hold(2).problem(), "customer-limit");
    let one = hold(1);
    assert_eq!(one.status, 201);
    b.release(&one.str("hold_id"));
    assert_eq!(hold(1).status, 201);
    // Bookings count after their hold's expiry time too.
    b.env.advance_ms(400_000);
    assert_eq!(hold(1).status, 201);
    assert_eq!(hold(1).problem(), "customer-limit");
}

#[test]
fn routing_methods_and_sizes() {
    let b = Booking::new(17);
    b.create("ev", general(5));
    let wrong = b.call("PATCH", "/events/ev", &Value::Null, &[]);
    assert_eq!(wrong.status, 405);
    assert_eq!(wrong.header("allow"), Some("GET, HEAD, PUT, OPTIONS"));
    assert_eq!(
        b.call("GET", "/events/ev/holds", &Value::Null, &[]).status,
        405
    );
    assert_eq!(b.call("GET", "/nope", &Value::Null, &[]).status, 404);
    assert_eq!(
        b.call("GET", "/events/bad%20id", &Value::Null, &[]).status,
        404
    );
    let preflight = b.call("OPTIONS", "/events/ev/holds", &Value::Null, &[]);
    assert_eq!(preflight.status, 204);
    assert_eq!(
        preflight.header("access-control-allow-methods"),
        Some("POST, OPTIONS")
    );
    let big = json!({"section": "floor", "quantity": 1, "pad": "x".repeat(70_000)});
    assert_eq!(b.hold("ev", big).status, 413);
    let busy = b.hold("ev", json!({"section": "floor", "quantity": 1}));
    assert_eq!(busy.header("x-cas-retries"), Some("0"));
    let _ = START_MS;
}

#[test]
fn customer_buckets_forget_buyers_who_never_return() {
    let b = Booking::new(18);
    b.create(
        "ev",
        json!({"name": "x", "max_per_customer": 4, "hold_ttl_seconds": 60,
                          "sections": [{"id": "floor", "capacity": 10000}]}),
    );
    let hold = |customer: String| {
        b.hold(
            "ev",
            json!({"section": "floor", "quantity": 1, "customer_id": customer}),
        )
    };
    for i in 0..1_000 {
        assert_eq!(hold(format!("gone-{i}")).status, 201);
    }
    b.env.advance_ms(61_000);
    for i in 0..200 {
        assert_eq!(hold(format!("new-{i}")).status, 201);
    }
    let entries: usize = (0..16)
        .filter_map(|bucket| b.store.raw(&format!("e/ev/1/c/{bucket}")))
        .map(|bytes| {
            let doc: booking_core::model::CustomerDoc =
                serde_json::from_slice(&bytes).expect("customer doc parses");
            doc.customers
                .values()
                .map(|e| e.active.len() + e.booked.len())
                .sum::<usize>()
        })
        .sum();
    // 1,000 expired reservations of buyers who never came back, 200 live ones:
    // each write tidies up to 8 others, so almost nothing expired is left.
    assert!(entries < 400, "{entries} reservations kept");
    assert!(entries >= 200, "live reservations were dropped: {entries}");
}

#[test]
fn a_keyed_request_that_cannot_succeed_writes_nothing() {
    let b = Booking::new(19);
    b.create("ev", general(2));
    assert_eq!(
        b.hold_with_key(
            "ev",
            json!({"section": "floor", "quantity": 2}),
            "first-key-0000001"
        )
        .status,
        201
    );
    let snapshot = |b: &Booking| -> Vec<(String, Option<Vec<u8>>)> {
        b.store
            .keys()
            .into_iter()
            .map(|k| {
                let v = b.store.raw(&k);
                (k, v)
            })
            .collect()
    };
    let before = snapshot(&b);
    let sold_out = b.hold_with_key(
        "ev",
        json!({"section": "floor", "quantity": 1}),
        "second-key-000001",
    );
    assert_eq!(sold_out.problem(), "sold-out");
    assert_eq!(snapshot(&b), before, "a sold-out answer wrote to the store");
}

#[test]
fn a_replay_after_the_hold_ended_returns_it_not_a_second_hold() {
    let b = Booking::new(20);
    b.create(
        "ev",
        json!({"name": "x", "sections": [{"id": "floor", "capacity": 4, "shards": 1}]}),
    );
    let body = json!({"section": "floor", "quantity": 2});
    let key = "order-key-000001";
    let first = b.hold_with_key("ev", body.clone(), key);
    assert_eq!(first.status, 201);
    assert_eq!(b.release(&first.str("hold_id")).status, 200);
    // An hour later other writes prune released holds, and 70 more holds
    // end in the same document: a keyed hold is its key's answer, so it is
    // kept as long as the key's record, cap or not.
    b.env.advance_ms(3_601_000);
    for _ in 0..70 {
        let other = b.hold("ev", json!({"section": "floor", "quantity": 1}));
        assert_eq!(other.status, 201);
        assert_eq!(b.release(&other.str("hold_id")).status, 200);
    }
    assert_eq!(b.status(&first.str("hold_id")).str("status"), "released");
    let replay = b.hold_with_key("ev", body, key);
    assert_eq!(replay.status, 201);
    assert_eq!(replay.str("hold_id"), first.str("hold_id"));
    assert_eq!(replay.header("idempotency-replayed"), Some("true"));
    assert_eq!(b.counts("ev", "floor"), (4, 0, 0));
}

#[test]
fn only_the_payment_side_can_confirm() {
    let b = Booking::new(21);
    b.create("ev", general(10));
    let hold = b.hold("ev", json!({"section": "floor", "quantity": 2}));
    let path = format!("/holds/{}/confirm", hold.str("hold_id"));
    let body = json!({"payment_ref": "pay-1"});
    let bearer_wrong = "Bearer not-the-token".to_owned();
    for (label, headers) in [
        ("no token", vec![]),
        (
            "wrong token",
            vec![("authorization", bearer_wrong.as_str())],
        ),
        (
            "not bearer",
            vec![("authorization", "Basic c2VjcmV0LXRva2Vu")],
        ),
    ] {
        let refused = b.call_exactly("POST", &path, &body, &headers);
        assert_eq!(
            (refused.status, refused.problem().as_str()),
            (401, "unauthorized"),
            "{label}"
        );
        assert_eq!(
            refused.header("www-authenticate"),
            Some("Bearer"),
            "{label}"
        );
    }
    assert_eq!(b.counts("ev", "floor"), (8, 2, 0));
    // The same confirm again is the same booking; another payment is not.
    let confirmed = b.confirm(&hold.str("hold_id"));
    assert_eq!(confirmed.status, 200);
    assert_eq!(b.confirm(&hold.str("hold_id")).body, confirmed.body);
    let other = b.call("POST", &path, &json!({"payment_ref": "pay-2"}), &[]);
    assert_eq!(
        (other.status, other.problem().as_str()),
        (409, "payment-ref-mismatch")
    );
    assert_eq!(b.counts("ev", "floor"), (8, 0, 2));
    // Without a confirm_token, confirming is disabled.
    let mut disabled = Booking::new(22);
    disabled.config.confirm_token = None;
    disabled.create("ev", general(10));
    let hold = disabled.hold("ev", json!({"section": "floor", "quantity": 1}));
    let refused = disabled.confirm(&hold.str("hold_id"));
    assert_eq!(
        (refused.status, refused.problem().as_str()),
        (503, "confirm-disabled")
    );
    assert!(
        refused
            .str("detail")
            .contains("SPIN_VARIABLE_CONFIRM_TOKEN")
    );
}

#[test]
fn short_idempotency_keys_are_refused() {
    let b = Booking::new(23);
    b.create("ev", general(10));
    let body = json!({"section": "floor", "quantity": 1});
    for key in ["", "k", "fifteen-chars-x"] {
        let refused = b.hold_with_key("ev", body.clone(), key);
        assert_eq!(refused.status, 400, "{key:?}");
    }
    assert_eq!(b.hold_with_key("ev", body, "sixteen-chars-xx").status, 201);
    assert_eq!(b.counts("ev", "floor"), (9, 1, 0));
}

#[test]
fn a_stalled_creation_is_replaced_under_a_new_generation() {
    let b = Booking::new(24);
    // A creator took generation 1 and claimed the register, then stalled
    // before writing anything else.
    b.store.increment("e/ev/claim", 1).expect("claim");
    b.store
        .increment("e/ev/gen", 2)
        .expect("register: Pending(1)");
    // Without its definition, nothing can be compared: the id is free
    // again at once (a lost reply or a crash never makes it unusable).
    let created = b.create("ev", general(10));
    assert_eq!(created.status, 201, "{:?}", created.body);
    let hold = b.hold("ev", json!({"section": "floor", "quantity": 2}));
    assert_eq!(b.confirm(&hold.str("hold_id")).status, 200);
    // The stalled creator's writes go under generation 1, which no reader
    // uses: write one of its documents and check nothing changed.
    b.store
        .put(
            "e/ev/1/s/0/0",
            b"{\"v\":0,\"op\":\"create\",\"cap\":10,\"parts\":[]}",
        )
        .expect("stale write");
    assert_eq!(b.counts("ev", "floor"), (8, 0, 2));
    assert_eq!(b.status(&hold.str("hold_id")).str("status"), "confirmed");
}

#[test]
fn a_pending_creation_waits_then_is_taken_over() {
    let b = Booking::new(25);
    b.create("ev", general(10));
    // Another event's creator stalls after writing its definition.
    let first = b.create("other", general(5));
    assert_eq!(first.status, 201);
    b.store.increment("e/late/claim", 1).expect("claim");
    let definition = json!({"definition": {"event_id": "late", "name": "Concert",
        "hold_ttl_seconds": 60, "sections": [{"id": "floor", "capacity": 10, "shards": 1}]},
        "created_ms": START_MS});
    b.store
        .put("e/late/1/def", definition.to_string().as_bytes())
        .expect("definition");
    b.store.increment("e/late/gen", 2).expect("register");
    let waiting = b.create("late", general(10));
    assert_eq!(
        (waiting.status, waiting.problem().as_str()),
        (503, "event-not-ready")
    );
    let other = b.create("late", general(11));
    assert_eq!(
        (other.status, other.problem().as_str()),
        (409, "event-conflict")
    );
    b.env.advance_ms(30_000);
    let taken = b.create("late", general(10));
    assert_eq!(taken.status, 201, "{:?}", taken.body);
    assert_eq!(b.counts("late", "floor"), (10, 0, 0));
    assert_eq!(b.create("late", general(10)).status, 200);
}

#[test]
fn get_many_keeps_duplicate_keys() {
    use booking_core::MemoryStore;
    let store = MemoryStore::new();
    store.put("a", b"1").expect("put");
    let keys = vec!["a".to_owned(), "missing".to_owned(), "a".to_owned()];
    let values = store.get_many(&keys).expect("get_many");
    assert_eq!(values, vec![Some(b"1".to_vec()), None, Some(b"1".to_vec())]);
}

#[test]
fn releasing_an_expired_hold_keeps_it_expired() {
    let b = Booking::new(21);
    b.create("ev", general(4));
    let hold = b.hold("ev", json!({"section": "floor", "quantity": 2}));
    let id = hold.str("hold_id");
    b.env.advance_ms(301_000);
    let released = b.release(&id);
    assert_eq!(
        (released.status, released.str("status")),
        (200, "expired".to_owned())
    );
    assert_eq!(b.status(&id).str("status"), "expired");
    assert_eq!(b.confirm(&id).problem(), "hold-expired");
    assert_eq!(b.counts("ev", "floor"), (4, 0, 0));
}

#[test]
fn errors_name_the_rule_or_the_choices() {
    let b = Booking::new(22);
    let bad = b.create("-gala", general(4));
    assert_eq!(bad.status, 400, "{:?}", bad.body);
    assert!(bad.str("detail").contains("^[A-Za-z0-9]"), "{:?}", bad.body);
    b.create(
        "ev",
        json!({"name": "x", "sections": [{"id": "floor", "capacity": 4}, {"id": "balcony", "capacity": 4}]}),
    );
    let unknown = b.hold("ev", json!({"section": "stalls", "quantity": 1}));
    assert_eq!(unknown.problem(), "unknown-section");
    assert!(
        unknown.str("detail").ends_with("floor, balcony"),
        "{:?}",
        unknown.body
    );
    let invalid = b.hold("ev", json!({"section": "a b", "quantity": 1}));
    assert_eq!(invalid.status, 400);
    assert!(
        invalid.str("detail").contains("must match"),
        "{:?}",
        invalid.body
    );
}

#[test]
fn error_bodies_carry_no_store_text_or_key_names() {
    let b = Booking::new(23);
    b.create("ev", general(4));
    // The store fails: 503 with what to do, not what the store said.
    b.store
        .fail("e/ev/1/s/0/0", FailMode::ErrorWithoutWrite, 0, 100);
    b.store
        .fail("e/ev/1/f/0", FailMode::ErrorWithoutWrite, 0, 100);
    let failed = b.hold("ev", json!({"section": "floor", "quantity": 4}));
    assert_eq!(failed.status, 503, "{:?}", failed.body);
    let text = failed.body.to_string();
    assert!(
        !text.contains("injected") && !text.contains("e/ev/"),
        "{text}"
    );
    // A document that does not parse: 500, without the key's name.
    b.create("other", general(4));
    b.store.put("e/other/1/s/0/0", b"{not json").expect("put");
    let broken = b.call("GET", "/events/other/availability", &Value::Null, &[]);
    assert_eq!(broken.status, 500, "{:?}", broken.body);
    let text = broken.body.to_string();
    assert!(
        !text.contains("e/other/") && !text.contains("parse"),
        "{text}"
    );
}

#[test]
fn the_bearer_scheme_is_case_insensitive() {
    let b = Booking::new(24);
    let definition = general(4);
    for (header, status) in [
        (format!("bearer {TOKEN}"), 201),
        (format!("BEARER {TOKEN}"), 200),
        (format!("Basic {TOKEN}"), 401),
        (format!("Bearer{TOKEN}"), 401),
        (format!("Bearer {TOKEN}x"), 401),
    ] {
        let answer = b.call_exactly(
            "PUT",
            "/events/ev",
            &definition,
            &[("authorization", header.as_str())],
        );
        assert_eq!(answer.status, status, "{header}: {:?}", answer.body);
    }
}

#[test]
fn head_answers_like_get_without_a_body() {
    let b = Booking::new(25);
    b.create("ev", general(4));
    let hold = b.hold("ev", json!({"section": "floor", "quantity": 1}));
    for path in [
        "/events/ev".to_owned(),
        "/events/ev/availability".to_owned(),
        format!("/holds/{}", hold.str("hold_id")),
    ] {
        let get = b.call("GET", &path, &Value::Null, &[]);
        let head = b.call("HEAD", &path, &Value::Null, &[]);
        assert_eq!((get.status, head.status), (200, 200), "{path}");
        assert_eq!(head.body, Value::Null, "{path}: HEAD has no body");
    }
    let refused = b.call("HEAD", "/events/ev/holds", &Value::Null, &[]);
    assert_eq!(refused.status, 405);
}

/// A store that fails every write (locked, full, read-only) gets a 503 after
/// the request's second failed write, not after a dozen retries each
/// waiting on the store (SQLite's busy timeout is 5 s a call on Spin); and a
/// store that recovers serves again at once.
#[test]
fn a_failing_store_is_answered_503_after_two_failed_writes() {
    use booking_core::limits::STORE_ERRORS_PER_REQUEST_MAX;
    let b = Booking::new(29);
    b.create(
        "ev",
        json!({"name": "ev", "sections": [{"id": "floor", "capacity": 4, "shards": 1}]}),
    );
    b.store
        .fail("e/ev/1/s/0/0", FailMode::ErrorWithoutWrite, 0, 1_000);
    let before = b.store.writes();
    let failed = b.hold("ev", json!({"section": "floor", "quantity": 1}));
    assert_eq!(failed.status, 503, "{:?}", failed.body);
    assert!(failed.header("retry-after").is_some());
    // The failing document's two, and at most one write elsewhere (the
    // section summary's follow-up).
    let attempts = b.store.writes() - before;
    assert!(
        attempts <= u64::from(STORE_ERRORS_PER_REQUEST_MAX) + 1,
        "{attempts} write attempts"
    );
    b.store
        .fail("e/ev/1/s/0/0", FailMode::ErrorWithoutWrite, 0, 0);
    let served = b.hold("ev", json!({"section": "floor", "quantity": 1}));
    assert_eq!(served.status, 201, "{:?}", served.body);
    assert_eq!(b.counts("ev", "floor"), (3, 1, 0));
}
