//! The defects a review of the rewritten booking path reproduced (issue
//! 19), each as a test that failed before its fix. README's promises
//! section names the promise each protects.

mod common;

use booking_core::model::{InventoryDoc, KeyTag};
use booking_core::{Env, FailMode};
use common::{Booking, keys_homed};
use serde_json::{Value, json};

fn shard(booking: &Booking, event: &str, doc: usize) -> InventoryDoc {
    let key = format!("e/{event}/1/s/0/{doc}");
    let bytes = booking
        .store
        .raw(&key)
        .unwrap_or_else(|| panic!("no document {key}"));
    serde_json::from_slice(&bytes).expect("inventory document parses")
}

/// Two shards of 40 units; shard 0's own units held by keyed buyers homed
/// there, then `buyers` keyed buyers homed on shard 0 whose units go to
/// shard 1 (zero-unit primaries at home), each confirmed. Returns their
/// (key, body, hold id).
fn zero_unit_primaries_moved(booking: &Booking, buyers: usize) -> Vec<(String, Value, String)> {
    let event = "zero";
    let definition = json!({"name": "Zero", "hold_ttl_seconds": 600,
        "sections": [{"id": "floor", "capacity": 80, "shards": 2}]});
    assert_eq!(booking.create(event, definition).status, 201);
    let keys = keys_homed("zero", 0, 2, buyers + 4);
    // Four holds of 10 fill shard 0 (a keyed hold's units go home first).
    for key in &keys[..4] {
        let hold = booking.hold_with_key(event, json!({"section": "floor", "quantity": 10}), key);
        assert_eq!(hold.status, 201, "{:?}", hold.body);
    }
    assert_eq!(shard(booking, event, 0).room(booking.env.now_ms()), 0);
    let mut bought = Vec::new();
    for key in &keys[4..] {
        let body = json!({"section": "floor", "quantity": 1});
        let hold = booking.hold_with_key(event, body.clone(), key);
        assert_eq!(hold.status, 201, "{:?}", hold.body);
        let hold_id = hold.str("hold_id");
        assert_eq!(booking.confirm(&hold_id).status, 200);
        bought.push((key.clone(), body, hold_id));
    }
    bought
}

/// Defect 1: zero-unit keyed primaries moved to the ledger were never
/// looked up there (the page was read only when `sold_moved` > 0), so a
/// paid booking answered 404 and its key placed a second hold.
#[test]
fn a_zero_unit_primary_moved_to_the_ledger_is_still_found() {
    let booking = Booking::new(1);
    let bought = zero_unit_primaries_moved(&booking, 36);
    let home = shard(&booking, "zero", 0);
    assert!(home.parts_moved > 0, "the confirmed primaries moved");
    assert_eq!(home.sold_moved, 0, "only zero-unit parts moved");
    for (key, body, hold_id) in &bought {
        let status = booking.status(hold_id);
        assert_eq!(
            status.status, 200,
            "a paid booking is found: {:?}",
            status.body
        );
        assert_eq!(status.str("status"), "confirmed");
        assert_eq!(booking.confirm(hold_id).status, 200, "a repeated confirm");
        let replay = booking.hold_with_key("zero", body.clone(), key);
        assert_eq!(replay.status, 201);
        assert_eq!(replay.str("hold_id"), *hold_id, "the key's one hold");
        assert_eq!(replay.header("idempotency-replayed"), Some("true"));
        let other = booking.hold_with_key("zero", json!({"section": "floor", "quantity": 2}), key);
        assert_eq!(other.status, 422, "the same key with another body");
    }
    let (_, held, sold) = booking.counts("zero", "floor");
    assert_eq!((held, sold), (40, 36));
}

/// Defect 1, with a fault: the confirm's follow-up that marks the
/// secondary sold does not land; after expiry a resolver must find the
/// moved primary confirmed, not void it and free (and resell) a paid unit.
#[test]
fn a_paid_unit_behind_a_moved_zero_unit_primary_is_never_resold() {
    let booking = Booking::new(2);
    let definition = json!({"name": "Zero", "hold_ttl_seconds": 60,
        "sections": [{"id": "floor", "capacity": 80, "shards": 2}]});
    assert_eq!(booking.create("zero", definition).status, 201);
    let keys = keys_homed("paid", 0, 2, 40);
    for key in &keys[..4] {
        let hold = booking.hold_with_key("zero", json!({"section": "floor", "quantity": 10}), key);
        assert_eq!(hold.status, 201);
    }
    let secondary = "e/zero/1/s/0/1";
    let mut paid = 0;
    for key in &keys[4..] {
        let hold = booking.hold_with_key("zero", json!({"section": "floor", "quantity": 1}), key);
        assert_eq!(hold.status, 201, "{:?}", hold.body);
        // The follow-up marking the secondary sold fails every attempt.
        booking
            .store
            .fail(secondary, FailMode::ErrorWithoutWrite, 0, 2);
        assert_eq!(booking.confirm(&hold.str("hold_id")).status, 200);
        paid += 1;
    }
    assert!(shard(&booking, "zero", 0).parts_moved > 0);
    // Every hold's lifetime passes: the secondaries are unresolved now.
    booking.env.advance_ms(120_000);
    // Buyers take whatever is free: never a paid unit.
    let mut sold_again = 0;
    while booking
        .hold("zero", json!({"section": "floor", "quantity": 1}))
        .status
        == 201
    {
        sold_again += 1;
        assert!(sold_again <= 80, "more holds than units");
    }
    assert_eq!(sold_again, 80 - paid, "exactly the unpaid units are free");
    let (available, _, sold) = booking.counts("zero", "floor");
    assert_eq!((available, sold), (0, paid));
    booking.check_documents();
}

/// The customer bucket key that holds `customer`'s entry.
fn bucket_of(booking: &Booking, event: &str, customer: &str) -> String {
    let needle = format!("\"{customer}\"");
    booking
        .store
        .keys()
        .into_iter()
        .filter(|key| key.starts_with(&format!("e/{event}/")) && key.contains("/c/"))
        .find(|key| {
            booking
                .store
                .raw(key)
                .is_some_and(|value| String::from_utf8_lossy(&value).contains(&needle))
        })
        .unwrap_or_else(|| panic!("no bucket holds {customer}"))
}

/// Defect 2: a reservation left unsettled after a confirm (its bucket
/// write failed) was resolved by looking for the hold in the shards only;
/// once the booking had moved to the ledger it was judged "not confirmed",
/// dropped, and the customer could buy past the limit.
#[test]
fn the_customer_limit_counts_bookings_moved_to_the_ledger() {
    let booking = Booking::new(3);
    let definition = json!({"name": "Limit", "hold_ttl_seconds": 60, "max_per_customer": 2,
        "sections": [{"id": "floor", "capacity": 100, "shards": 1}]});
    assert_eq!(booking.create("limit", definition).status, 201);
    let mine = json!({"section": "floor", "quantity": 2, "customer_id": "alice"});
    let hold = booking.hold("limit", mine.clone());
    assert_eq!(hold.status, 201, "{:?}", hold.body);
    // Both attempts of the settle after the confirm fail.
    let bucket = bucket_of(&booking, "limit", "alice");
    booking
        .store
        .fail(&bucket, FailMode::ErrorWithoutWrite, 0, 2);
    assert_eq!(booking.confirm(&hold.str("hold_id")).status, 200);
    // Enough other bookings that the shard's confirmed parts move.
    for buyer in 0..40 {
        let other =
            json!({"section": "floor", "quantity": 1, "customer_id": format!("buyer-{buyer}")});
        let hold = booking.hold("limit", other);
        assert_eq!(hold.status, 201, "{:?}", hold.body);
        assert_eq!(booking.confirm(&hold.str("hold_id")).status, 200);
    }
    let moved = shard(&booking, "limit", 0);
    assert!(moved.parts_moved > 0, "bookings moved");
    // The reservation expires unsettled; alice's next hold resolves it.
    booking.env.advance_ms(120_000);
    let again = booking.hold("limit", mine);
    assert_eq!(again.status, 409, "alice has 2 of 2: {:?}", again.body);
    assert_eq!(again.problem(), "customer-limit");
}

/// Defect 3: a keyed hold's primary lands, its reply is lost, and the
/// re-read and the fence's read fail: the outcome is unknown (here: placed),
/// so the customer's reservation must not be given back. Before the fix
/// the 503 released it, the client's retry replayed the hold, and the
/// customer could hold 4 of 2.
#[test]
fn an_unknown_outcome_keeps_the_customer_reservation() {
    let booking = Booking::new(4);
    let definition = json!({"name": "Lost", "hold_ttl_seconds": 60, "max_per_customer": 2,
        "sections": [{"id": "floor", "capacity": 10, "shards": 1}]});
    assert_eq!(booking.create("lost", definition).status, 201);
    let mine = json!({"section": "floor", "quantity": 2, "customer_id": "alice"});
    let home = "e/lost/1/s/0/0";
    booking.store.fail_next(home, FailMode::WriteThenError);
    booking.store.fail_reads_after_write(home, 2);
    let first = booking.hold_with_key("lost", mine.clone(), "lost-reply-key-0001");
    assert_eq!(first.status, 503, "{:?}", first.body);
    let retry = booking.hold_with_key("lost", mine.clone(), "lost-reply-key-0001");
    assert_eq!(retry.status, 201, "the hold landed: {:?}", retry.body);
    assert_eq!(retry.header("idempotency-replayed"), Some("true"));
    let more = booking.hold("lost", mine.clone());
    assert_eq!(more.status, 409, "alice holds 2 of 2: {:?}", more.body);
    assert_eq!(more.problem(), "customer-limit");
    // Paid, then the reservation expires unsettled: still counted.
    assert_eq!(booking.confirm(&retry.str("hold_id")).status, 200);
    booking.env.advance_ms(120_000);
    assert_eq!(booking.hold("lost", mine).status, 409);
    let (_, held, sold) = booking.counts("lost", "floor");
    assert_eq!((held, sold), (0, 2));
}

fn inventory(booking: &Booking, key: &str) -> InventoryDoc {
    let bytes = booking
        .store
        .raw(key)
        .unwrap_or_else(|| panic!("no document {key}"));
    serde_json::from_slice(&bytes).expect("inventory document parses")
}

/// Adds `part` to the inventory document `key`, as the write of a twin.
fn write_part(booking: &Booking, key: &str, part: booking_core::model::Part) {
    let mut doc = inventory(booking, key);
    doc.parts.push(part);
    let bytes = serde_json::to_vec(&doc).expect("encodes");
    booking_core::Store::put(&booking.store, key, &bytes).expect("memory store writes");
}

/// Defect 4: twin B reads after twin A wrote its other parts but before
/// A's primary lands at home; B saw the seats taken by A and answered 409
/// without looking for its key again. Now B answers 503 (retry) while A is
/// in flight, and A's hold once A's primary is home.
#[test]
fn a_racing_twin_is_never_refused_for_its_own_key() {
    let booking = Booking::new(5);
    let seats: Vec<String> = (1..=128).map(|n| format!("A-{n}")).collect();
    let definition = json!({"name": "Twins", "hold_ttl_seconds": 600,
        "sections": [{"id": "A", "seats": seats}]});
    for event in ["twin", "mirror"] {
        assert_eq!(booking.create(event, definition.clone()).status, 201);
    }
    let key = "twin-key-000000001";
    let home = KeyTag::new(key, 0).home_doc(2);
    let seat = seats
        .iter()
        .find(|s| booking_core::model::seat_block(s, 2) != home)
        .expect("a seat outside the key's home block")
        .clone();
    let other = 1 - home;
    let body = json!({"section": "A", "seats": [seat]});
    // Twin A's two writes, taken from the same hold on an identical event.
    let placed = booking.hold_with_key("mirror", body.clone(), key);
    assert_eq!(placed.status, 201);
    let part_of = |doc: usize| {
        inventory(&booking, &format!("e/mirror/1/s/0/{doc}"))
            .parts
            .pop()
            .expect("the mirror hold's part")
    };
    let (primary, secondary) = (part_of(home), part_of(other));
    assert_eq!(secondary.primary_doc, u32::try_from(home).ok());
    // A wrote its other part; B comes.
    write_part(&booking, &format!("e/twin/1/s/0/{other}"), secondary);
    let b = booking.hold_with_key("twin", body.clone(), key);
    assert_eq!(
        b.status, 503,
        "not refused while its twin is in flight: {:?}",
        b.body
    );
    // A's primary lands; B's retry gets A's hold.
    write_part(&booking, &format!("e/twin/1/s/0/{home}"), primary.clone());
    let retry = booking.hold_with_key("twin", body, key);
    assert_eq!(retry.status, 201, "{:?}", retry.body);
    assert!(retry.str("hold_id").contains(&primary.nonce));
    let (_, held, _) = booking.counts("twin", "A");
    assert_eq!(held, 1);
}

/// Defect 5: ended keyed primaries were kept for their key's lifetime with
/// no count cap, so a hold + release loop with fresh keys homed on one
/// shard grew it without bound (260 KB in 3,000 requests). Now the
/// document levels off under its bound, and stays there.
#[test]
fn a_hold_and_release_loop_cannot_grow_a_document() {
    use booking_core::limits::{ENDED_PARTS_PER_DOCUMENT_MAX, KEYED_ENDED_PARTS_PER_DOCUMENT_MAX};
    let booking = Booking::new(6);
    let definition = json!({"name": "Loop", "hold_ttl_seconds": 600,
        "sections": [{"id": "floor", "capacity": 64, "shards": 4}]});
    assert_eq!(booking.create("loop", definition).status, 201);
    let home = "e/loop/1/s/0/0";
    let size = || booking.store.raw(home).map_or(0, |v| v.len());
    let mut sizes = Vec::new();
    for (round, key) in keys_homed("loop", 0, 4, 700).iter().enumerate() {
        let body = json!({"section": "floor", "quantity": 1, "customer_id": "mallory"});
        let hold = booking.hold_with_key("loop", body, key);
        assert_eq!(hold.status, 201, "{:?}", hold.body);
        assert_eq!(booking.release(&hold.str("hold_id")).status, 200);
        booking.env.advance_ms(10);
        if round % 100 == 99 {
            sizes.push(size());
        }
    }
    let doc = inventory(&booking, home);
    let ended = doc.parts.iter().filter(|p| p.ended_ms.is_some()).count();
    assert!(
        ended <= ENDED_PARTS_PER_DOCUMENT_MAX + KEYED_ENDED_PARTS_PER_DOCUMENT_MAX,
        "{ended} ended parts"
    );
    // Flat once the caps are reached (the records and tally are bounded too).
    let (early, late) = (sizes[2], sizes[sizes.len() - 1]);
    assert!(
        late <= early + early / 10,
        "grew from {early} to {late} bytes: {sizes:?}"
    );
    assert!(late < 96 * 1024, "{late} bytes");
    eprintln!("home document bytes every 100 rounds: {sizes:?}");
}
