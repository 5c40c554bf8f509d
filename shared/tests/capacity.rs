//! The documented capacity limit is usable: on a sold-through section of
//! 1,000,000 units (1,000 shards of 1,000 single tickets), a hold and an
//! availability read each read at most 1 MB, because confirmed bookings sit
//! in ledger pages and the section summary says every shard is full.
//!
//! Two shards are sold through with real requests (holds with and without
//! an Idempotency-Key, confirms); their documents are then copied to the
//! other 998 shards, which is the state a full sale leaves. Timings are
//! printed (run with `--release -- --nocapture`), not asserted.

mod common;

use booking_core::Store;
use booking_core::model::{EventMeta, InventoryDoc, KeyTag, SectionSummary};
use common::{Booking, START_MS};
use serde_json::json;
use std::time::Instant;

const SHARDS: usize = 1_000;
const SHARD_UNITS: usize = 1_000;
/// Read budget of one request on the sold-through section.
const REQUEST_READ_BYTES_MAX: u64 = 1_000_000;

/// An Idempotency-Key whose home is shard 0 or 1 (a key's hold has its
/// primary part in its home shard).
fn key_homed_in_the_first_two(n: usize) -> String {
    (0..)
        .map(|salt| format!("order-key-{n:06}-{salt:04}"))
        .find(|key| KeyTag::new(key, 0).home_doc(SHARDS as u32) < 2)
        .unwrap_or_default()
}

/// Sells shards 0 and 1 of the section through with single tickets; every
/// tenth hold has an Idempotency-Key. Returns (hold id, key) per hold.
fn sell_two_shards(b: &Booking) -> Vec<(String, Option<String>)> {
    let mut ids = Vec::new();
    for n in 0..2 * SHARD_UNITS {
        let body = json!({"section": "floor", "quantity": 1});
        let key = (n % 10 == 0).then(|| key_homed_in_the_first_two(n));
        let hold = match &key {
            Some(key) => b.hold_with_key("big", body, key),
            None => b.hold("big", body),
        };
        assert_eq!(hold.status, 201, "hold {n}: {:?}", hold.body);
        let id = hold.str("hold_id");
        assert_eq!(b.confirm(&id).status, 200, "confirm {n}");
        ids.push((id, key));
    }
    ids
}

#[test]
fn a_sold_through_million_unit_section_reads_small() {
    let b = Booking::new(41);
    // While filling, only two shards may take holds: the others are marked
    // full in the summary (as a sale that went there first would leave them).
    let created = b.create(
        "big",
        json!({"name": "stadium", "sections": [{"id": "floor", "capacity": SHARDS * SHARD_UNITS, "shards": SHARDS}]}),
    );
    assert_eq!(created.status, 201, "{:?}", created.body);
    let meta: EventMeta =
        serde_json::from_slice(&b.store.raw("e/big").expect("meta")).expect("decodes");
    let summary_key = meta.summary_key(0);
    let mut summary: SectionSummary =
        serde_json::from_slice(&b.store.raw(&summary_key).expect("summary")).expect("decodes");
    for entry in summary.shards.iter_mut().skip(2) {
        *entry = (0, u64::MAX);
    }
    b.store
        .put(
            &summary_key,
            &serde_json::to_vec(&summary).expect("encodes"),
        )
        .expect("put");
    let ids = sell_two_shards(&b);

    // Both shards are sold through: their documents hold only a count.
    for shard in 0..2 {
        let hot: InventoryDoc =
            serde_json::from_slice(&b.store.raw(&meta.inventory_key(0, shard)).expect("shard"))
                .expect("decodes");
        assert_eq!(hot.sold_moved as usize, SHARD_UNITS, "{hot:?}");
        assert!(
            hot.parts.is_empty(),
            "shard {shard}: {} parts, sold_moved {}, room {}, full_until {}, statuses {:?}",
            hot.parts.len(),
            hot.sold_moved,
            hot.room(0),
            hot.full_until(0),
            hot.parts
                .iter()
                .map(|p| (p.status, p.quantity))
                .collect::<Vec<_>>()
        );
    }
    // The state a full sale leaves: every shard like shard 0.
    let hot = b.store.raw(&meta.inventory_key(0, 0)).expect("shard");
    let page = b.store.raw(&meta.ledger_key(0, 0)).expect("page");
    for shard in 2..SHARDS {
        b.store
            .put(&meta.inventory_key(0, shard), &hot)
            .expect("put");
        b.store.put(&meta.ledger_key(0, shard), &page).expect("put");
    }
    let summary: SectionSummary =
        serde_json::from_slice(&b.store.raw(&summary_key).expect("summary")).expect("decodes");
    // Every shard is marked full (the first two until their last hold's
    // expiry: a reader past it looks, sees them sold through, and records
    // that).
    assert!(summary.shards.iter().all(|(_, until)| *until > START_MS));

    let before = b.store.read_bytes();
    let started = Instant::now();
    let refused = b.hold("big", json!({"section": "floor", "quantity": 1}));
    let hold_elapsed = started.elapsed();
    let hold_read = b.store.read_bytes() - before;
    assert_eq!(refused.problem(), "sold-out", "{:?}", refused.body);

    let before = b.store.read_bytes();
    let started = Instant::now();
    let counts = b.counts("big", "floor");
    let availability_elapsed = started.elapsed();
    let availability_read = b.store.read_bytes() - before;
    assert_eq!(counts, (0, 0, (SHARDS * SHARD_UNITS) as u64));

    // A booking moved to the ledger still answers as itself.
    let (id, key) = &ids[0];
    let key = key.as_deref().expect("the first hold has a key");
    let status = b.status(id);
    assert_eq!(status.str("status"), "confirmed", "{:?}", status.body);
    assert_eq!(b.confirm(id).status, 200);
    assert_eq!(b.release(id).problem(), "hold-confirmed");
    let replay = b.hold_with_key("big", json!({"section": "floor", "quantity": 1}), key);
    assert_eq!(replay.status, 201, "{:?}", replay.body);
    assert_eq!(&replay.str("hold_id"), id);

    // Past the last holds' expiry the first two shards are looked at
    // again (they are sold through) and marked so for good.
    b.env.advance_ms(301_000);
    let before = b.store.read_bytes();
    let later = b.hold("big", json!({"section": "floor", "quantity": 1}));
    assert_eq!(later.problem(), "sold-out", "{:?}", later.body);
    assert!(b.store.read_bytes() - before <= REQUEST_READ_BYTES_MAX);
    let summary: SectionSummary =
        serde_json::from_slice(&b.store.raw(&summary_key).expect("summary")).expect("decodes");
    assert!(summary.shards.iter().all(|(_, until)| *until == u64::MAX));

    println!(
        "sold-through 1,000,000-unit section: hold (sold out) read {hold_read} bytes in {hold_elapsed:?}; availability read {availability_read} bytes in {availability_elapsed:?}"
    );
    assert!(
        hold_read <= REQUEST_READ_BYTES_MAX,
        "hold read {hold_read} bytes"
    );
    assert!(
        availability_read <= REQUEST_READ_BYTES_MAX,
        "availability read {availability_read} bytes"
    );
}

/// The documented seat limit is reachable: a section of 10,000 seats with
/// long seat ids is a definition well over the buyer routes' 64 KiB body
/// limit, and the admin route takes it; its seats can then be held, sold
/// and counted like any other.
#[test]
fn a_ten_thousand_seat_section_can_be_defined_and_sold() {
    use booking_core::limits::{
        ADMIN_REQUEST_BODY_BYTES_MAX, REQUEST_BODY_BYTES_MAX, SECTION_SEATS_MAX,
    };
    let b = Booking::new(43);
    let seats: Vec<String> = (0..SECTION_SEATS_MAX)
        .map(|n| format!("balcony-row-{:03}-seat-{:03}", n / 100, n % 100))
        .collect();
    let definition = json!({"name": "arena", "sections": [{"id": "balcony", "seats": seats}]});
    let body_bytes = definition.to_string().len();
    assert!(body_bytes > REQUEST_BODY_BYTES_MAX, "{body_bytes} bytes");
    assert!(
        body_bytes <= ADMIN_REQUEST_BODY_BYTES_MAX,
        "{body_bytes} bytes"
    );

    let created = b.create("arena", definition);
    assert_eq!(created.status, 201, "{:?}", created.body);
    let wanted = [seats[0].clone(), seats[SECTION_SEATS_MAX - 1].clone()];
    let hold = b.hold(
        "arena",
        json!({"section": "balcony", "seats": wanted, "customer_id": "c-1"}),
    );
    assert_eq!(hold.status, 201, "{:?}", hold.body);
    assert_eq!(b.confirm(&hold.str("hold_id")).status, 200);
    let seats_total = SECTION_SEATS_MAX as u64;
    assert_eq!(b.counts("arena", "balcony"), (seats_total - 2, 0, 2));
    // The same seats cannot be sold twice.
    let again = b.hold("arena", json!({"section": "balcony", "seats": [wanted[1]]}));
    assert_eq!(again.status, 409, "{:?}", again.body);
    assert_eq!(again.problem(), "seats-unavailable");
}
