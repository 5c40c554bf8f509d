//! Test vectors for the counts of an inventory document and for pruning
//! (expired primaries recorded, ended parts dropped past retention or
//! beyond the per-document cap).

use super::{counts, prune, void_until_ms};
use crate::context::Tuning;
use crate::limits::{
    CLOCK_SKEW_MARGIN_SECONDS, ENDED_PARTS_PER_DOCUMENT_MAX, ENDED_PARTS_RETENTION_SECONDS,
    IDEMPOTENCY_RETENTION_SECONDS,
};
use crate::model::{InventoryDoc, Part, PartStatus, Voided};

const NOW: u64 = 100_000_000;
const LIVE: u64 = NOW + 60_000;
const RETENTION_MS: u64 = ENDED_PARTS_RETENTION_SECONDS * 1_000;
const CAP: usize = ENDED_PARTS_PER_DOCUMENT_MAX;
/// An ended keyed primary is its Idempotency-Key's answer: kept as long as
/// the key's record, plus the clock-skew margin.
const KEYED_RETENTION_MS: u64 = (IDEMPOTENCY_RETENTION_SECONDS + CLOCK_SKEW_MARGIN_SECONDS) * 1_000;

use PartStatus::{Confirmed, Expired, Held, Released};

fn part(
    nonce: &str,
    status: PartStatus,
    expires_ms: u64,
    primary_doc: Option<u32>,
    ended_ms: Option<u64>,
) -> Part {
    let mut part = Part::new(nonce, status, expires_ms, 0);
    part.quantity = 1;
    part.primary_doc = primary_doc;
    part.ended_ms = ended_ms;
    part
}

fn with_units(mut part: Part, quantity: u32) -> Part {
    part.quantity = quantity;
    part
}

fn with_seats(mut part: Part, seats: &[&str]) -> Part {
    part.quantity = 0;
    part.seats = seats.iter().map(|s| (*s).to_owned()).collect();
    part
}

fn doc(capacity: u32, seats: &[&str], parts: Vec<Part>) -> InventoryDoc {
    InventoryDoc {
        version: 1,
        operation: "test".to_owned(),
        shard_units: capacity,
        seats: seats.iter().map(|s| (*s).to_owned()).collect(),
        parts,
        ..InventoryDoc::default()
    }
}

#[test]
fn document_counts() {
    let held = |nonce: &str, q: u32, primary: Option<u32>| {
        with_units(part(nonce, Held, LIVE, primary, None), q)
    };
    let lapsed = |nonce: &str, q: u32, primary: Option<u32>| {
        with_units(part(nonce, Held, NOW - 1, primary, None), q)
    };
    let sold = |nonce: &str, q: u32| with_units(part(nonce, Confirmed, NOW - 1, None, Some(1)), q);
    let none: &[&str] = &[];
    /// Name, document, sold nonces, (held, sold), unresolved units.
    type Case = (
        &'static str,
        InventoryDoc,
        &'static [&'static str],
        (u32, u32),
        u32,
    );
    let cases: Vec<Case> = vec![
        ("empty shard", doc(10, &[], vec![]), none, (0, 0), 0),
        ("zero-capacity shard", doc(0, &[], vec![]), none, (0, 0), 0),
        (
            "live primary",
            doc(10, &[], vec![held("a", 3, None)]),
            none,
            (3, 0),
            0,
        ),
        (
            "live secondary",
            doc(10, &[], vec![held("a", 3, Some(0))]),
            none,
            (3, 0),
            0,
        ),
        (
            "shard exactly full of holds",
            doc(10, &[], vec![held("a", 10, None)]),
            none,
            (10, 0),
            0,
        ),
        (
            "confirmed",
            doc(10, &[], vec![sold("a", 2)]),
            none,
            (0, 2),
            0,
        ),
        (
            "expired primary is free",
            doc(10, &[], vec![lapsed("a", 3, None)]),
            none,
            (0, 0),
            0,
        ),
        (
            "primary expiring exactly now is free",
            doc(
                10,
                &[],
                vec![with_units(part("a", Held, NOW, None, None), 3)],
            ),
            none,
            (0, 0),
            0,
        ),
        (
            "primary expiring 1 ms from now is held",
            doc(
                10,
                &[],
                vec![with_units(part("a", Held, NOW + 1, None, None), 3)],
            ),
            none,
            (3, 0),
            0,
        ),
        (
            "unresolved secondary is neither held nor sold",
            doc(10, &[], vec![lapsed("a", 3, Some(1))]),
            none,
            (0, 0),
            3,
        ),
        (
            "unresolved secondary of a confirmed hold is sold",
            doc(10, &[], vec![lapsed("a", 3, Some(1))]),
            &["a"],
            (0, 3),
            3,
        ),
        (
            "sold nonces name another hold",
            doc(10, &[], vec![lapsed("a", 3, Some(1))]),
            &["b"],
            (0, 0),
            3,
        ),
        (
            "a live secondary of a confirmed hold is sold (its primary decides)",
            doc(10, &[], vec![held("a", 3, Some(1))]),
            &["a"],
            (0, 3),
            0,
        ),
        (
            "a live secondary of a hold not confirmed is held",
            doc(10, &[], vec![held("a", 3, Some(1))]),
            &["b"],
            (3, 0),
            0,
        ),
        (
            "an expired primary in the sold nonces is still free",
            doc(10, &[], vec![lapsed("a", 3, None)]),
            &["a"],
            (0, 0),
            0,
        ),
        (
            "released and recorded expired are free",
            doc(
                10,
                &[],
                vec![
                    with_units(part("a", Released, LIVE, None, Some(NOW)), 4),
                    with_units(part("b", Expired, NOW - 1, Some(0), Some(NOW)), 4),
                ],
            ),
            &["a", "b"],
            (0, 0),
            0,
        ),
        (
            "everything at once",
            doc(
                10,
                &[],
                vec![
                    sold("s", 3),
                    held("h", 2, None),
                    lapsed("u1", 1, Some(2)),
                    lapsed("u2", 1, Some(2)),
                    lapsed("x", 2, None),
                    with_units(part("r", Released, LIVE, None, Some(NOW)), 1),
                ],
            ),
            &["u1"],
            (2, 4),
            2,
        ),
        (
            "seats count one unit each",
            doc(
                0,
                &["A1", "A2", "A3", "A4"],
                vec![
                    with_seats(part("a", Held, LIVE, None, None), &["A1", "A2"]),
                    with_seats(part("b", Confirmed, NOW - 1, None, Some(1)), &["A3"]),
                    with_seats(part("c", Held, NOW - 1, Some(0), None), &["A4"]),
                ],
            ),
            none,
            (2, 1),
            1,
        ),
    ];
    for (name, doc, sold_nonces, expect, unresolved) in &cases {
        let sold_nonces: Vec<String> = sold_nonces.iter().map(|s| (*s).to_owned()).collect();
        assert_eq!(
            counts(doc, NOW, &sold_nonces),
            *expect,
            "case {name:?}: counts"
        );
        assert_eq!(
            doc.unresolved_units(NOW),
            *unresolved,
            "case {name:?}: unresolved units"
        );
    }
}

/// What is left of a part after pruning: nonce, status, end time.
type Row = (String, PartStatus, Option<u64>);

fn row(part: &Part) -> Row {
    (part.nonce.clone(), part.status, part.ended_ms)
}

fn released(nonce: &str, ended_ms: u64) -> Part {
    part(nonce, Released, LIVE, None, Some(ended_ms))
}

/// `n` released parts `r0..`, `r0` the newest, ended 1 s apart, all inside
/// retention.
fn released_run(n: usize) -> Vec<Part> {
    (0..n)
        .map(|i| released(&format!("r{i}"), NOW - 1_000 * (i as u64 + 1)))
        .collect()
}

#[test]
fn prune_vectors() {
    let rows = |parts: &[Part]| parts.iter().map(row).collect::<Vec<Row>>();
    let r = |nonce: &str, status, ended| (nonce.to_owned(), status, ended);
    let newest = |n: usize| rows(&released_run(CAP + 1)[..n]);

    let mut cases: Vec<(&str, Vec<Part>, Vec<Row>)> = vec![
        ("empty document", vec![], vec![]),
        (
            "live primary untouched",
            vec![part("a", Held, LIVE, None, None)],
            vec![r("a", Held, None)],
        ),
        (
            "primary expiring 1 ms from now untouched",
            vec![part("a", Held, NOW + 1, None, None)],
            vec![r("a", Held, None)],
        ),
        (
            "primary expiring exactly now recorded expired at its expiry",
            vec![part("a", Held, NOW, None, None)],
            vec![r("a", Expired, Some(NOW))],
        ),
        (
            "expired primary recorded expired at its expiry, not now",
            vec![part("a", Held, NOW - 5_000, None, None)],
            vec![r("a", Expired, Some(NOW - 5_000))],
        ),
        (
            "expired secondary stays held: only its primary decides",
            vec![part("a", Held, NOW - 5_000, Some(2), None)],
            vec![r("a", Held, None)],
        ),
        (
            "unresolved secondary far past retention is never dropped",
            vec![part("a", Held, 0, Some(2), None)],
            vec![r("a", Held, None)],
        ),
        (
            "confirmed parts are never dropped, however old",
            vec![part("a", Confirmed, 0, None, Some(0))],
            vec![r("a", Confirmed, Some(0))],
        ),
        (
            "released 1 ms inside retention kept",
            vec![released("a", NOW - RETENTION_MS + 1)],
            vec![r("a", Released, Some(NOW - RETENTION_MS + 1))],
        ),
        (
            "released exactly at retention dropped",
            vec![released("a", NOW - RETENTION_MS)],
            vec![],
        ),
        (
            "recorded expired secondary past retention dropped",
            vec![part("a", Expired, 0, Some(1), Some(NOW - RETENTION_MS - 1))],
            vec![],
        ),
        (
            "primary expired longer ago than retention: recorded and dropped at once",
            vec![part("a", Held, NOW - RETENTION_MS, None, None)],
            vec![],
        ),
        (
            "primary expired just inside retention: recorded and kept",
            vec![part("a", Held, NOW - RETENTION_MS + 1, None, None)],
            vec![r("a", Expired, Some(NOW - RETENTION_MS + 1))],
        ),
        (
            "an ended part without an end time counts as ended at 0",
            vec![part("a", Released, LIVE, None, None)],
            vec![],
        ),
        (
            "an ended part in the future (clock stepped back) is kept",
            vec![released("a", NOW + 10_000)],
            vec![r("a", Released, Some(NOW + 10_000))],
        ),
        (
            "order of the parts kept",
            vec![
                part("c", Confirmed, 0, None, Some(5)),
                released("old", NOW - RETENTION_MS),
                part("h", Held, LIVE, None, None),
                released("new", NOW - 1),
            ],
            vec![
                r("c", Confirmed, Some(5)),
                r("h", Held, None),
                r("new", Released, Some(NOW - 1)),
            ],
        ),
        // The per-document cap on ended parts.
        (
            "cap: max ended parts all kept",
            released_run(CAP),
            newest(CAP),
        ),
        (
            "cap: max+1 ended parts, the oldest goes",
            released_run(CAP + 1),
            newest(CAP),
        ),
    ];

    // Live and confirmed parts are not ended: they neither count toward the
    // cap nor go because of it.
    let mut mixed = released_run(CAP + 1);
    mixed.insert(0, part("h", Held, LIVE, None, None));
    mixed.push(part("c", Confirmed, 0, None, Some(0)));
    mixed.push(part("u", Held, 0, Some(1), None));
    let mut mixed_expect = vec![r("h", Held, None)];
    mixed_expect.extend(newest(CAP));
    mixed_expect.push(r("c", Confirmed, Some(0)));
    mixed_expect.push(r("u", Held, None));
    cases.push(("cap: only ended parts count", mixed, mixed_expect));

    // A primary this very prune records expired counts toward the cap, at
    // its expiry time: older than every released part, it is the one to go.
    let mut lapsing = released_run(CAP);
    lapsing.push(part("x", Held, NOW - 1_000 * (CAP as u64 + 10), None, None));
    cases.push((
        "cap: a primary recorded expired here, oldest, goes",
        lapsing,
        newest(CAP),
    ));

    // The same primary, expired most recently: it stays and the oldest
    // released part goes.
    let mut lapsing = released_run(CAP);
    lapsing.push(part("x", Held, NOW - 1, None, None));
    let mut lapsing_expect = newest(CAP - 1);
    lapsing_expect.push(r("x", Expired, Some(NOW - 1)));
    cases.push((
        "cap: a primary recorded expired here, newest, stays",
        lapsing,
        lapsing_expect,
    ));

    // Retention goes first: the ones past it leave room under the cap.
    let mut aged = released_run(CAP);
    for i in 0..10 {
        aged.push(released(&format!("old{i}"), NOW - RETENTION_MS - i));
    }
    cases.push((
        "cap after retention: max inside + 10 past retention",
        aged,
        newest(CAP),
    ));

    // Keyed primaries: kept past the ended-part retention and outside the
    // cap, for as long as their key's record.
    let keyed = |mut part: Part| {
        part.key = Some("key-id".into());
        part
    };
    cases.extend([
        (
            "keyed primary past ended-part retention is kept for its key",
            vec![keyed(released("k", NOW - RETENTION_MS - 1))],
            vec![r("k", Released, Some(NOW - RETENTION_MS - 1))],
        ),
        (
            "keyed primary 1 ms inside the key's retention is kept",
            vec![keyed(released("k", NOW - KEYED_RETENTION_MS + 1))],
            vec![r("k", Released, Some(NOW - KEYED_RETENTION_MS + 1))],
        ),
        (
            "keyed primary at the key's retention is dropped",
            vec![keyed(released("k", NOW - KEYED_RETENTION_MS))],
            vec![],
        ),
        (
            "keyed primary expired long ago: recorded expired and kept",
            vec![keyed(part("k", Held, NOW - RETENTION_MS - 5, None, None))],
            vec![r("k", Expired, Some(NOW - RETENTION_MS - 5))],
        ),
        (
            "a keyed secondary is not kept for the key",
            vec![keyed(part(
                "k",
                Expired,
                0,
                Some(0),
                Some(NOW - RETENTION_MS),
            ))],
            vec![],
        ),
        (
            "a keyed confirmed primary is kept like any confirmed part",
            vec![keyed(part("k", Confirmed, 0, None, Some(0)))],
            vec![r("k", Confirmed, Some(0))],
        ),
    ]);
    // Keyed primaries neither count toward the cap nor go because of it,
    // even when older than every other ended part.
    let mut over = released_run(CAP + 1);
    let mut over_expect = newest(CAP);
    for i in 0..3 {
        let ended = NOW - RETENTION_MS - 1 - i;
        over.push(keyed(released(&format!("k{i}"), ended)));
        over_expect.push(r(&format!("k{i}"), Released, Some(ended)));
    }
    cases.push(("cap: keyed primaries are outside it", over, over_expect));

    // Far beyond the cap: only the newest max are kept.
    cases.push((
        "cap: 3 x max ended parts",
        released_run(3 * CAP),
        rows(&released_run(CAP)),
    ));

    for (name, parts, expect) in cases {
        let mut doc = doc(1_000, &[], parts);
        prune(&mut doc, NOW, &Tuning::default());
        let ended = doc
            .parts
            .iter()
            .filter(|p| {
                matches!(p.status, Released | Expired) && !(p.key.is_some() && p.is_primary())
            })
            .count();
        assert!(ended <= CAP, "case {name:?}: {ended} ended parts kept");
        assert_eq!(rows(&doc.parts), expect, "case {name:?}");
        // Pruning twice changes nothing more.
        let once = doc.clone();
        prune(&mut doc, NOW, &Tuning::default());
        assert_eq!(doc, once, "case {name:?}: prune is idempotent");
    }
}

#[test]
fn prune_void_marks() {
    let mark = |nonce: &str, until_ms| Voided {
        nonce: nonce.to_owned(),
        until_ms,
    };
    // (name, marks, nonces kept)
    let cases: [(&str, Vec<Voided>, &[&str]); 6] = [
        ("no marks", vec![], &[]),
        (
            "mark until 1 ms from now kept",
            vec![mark("a", NOW + 1)],
            &["a"],
        ),
        ("mark until exactly now dropped", vec![mark("a", NOW)], &[]),
        ("mark until the past dropped", vec![mark("a", 0)], &[]),
        (
            "mark until the end of time kept",
            vec![mark("a", u64::MAX)],
            &["a"],
        ),
        (
            "only the lapsed marks go, in order",
            vec![mark("a", NOW + 5), mark("b", NOW - 5), mark("c", NOW + 1)],
            &["a", "c"],
        ),
    ];
    for (name, marks, kept) in cases {
        let mut doc = doc(10, &[], vec![part("h", Held, LIVE, None, None)]);
        doc.voided = marks;
        prune(&mut doc, NOW, &Tuning::default());
        let left: Vec<&str> = doc.voided.iter().map(|v| v.nonce.as_str()).collect();
        assert_eq!(left, kept, "case {name:?}");
        assert_eq!(doc.parts.len(), 1, "case {name:?}: parts untouched");
    }
}

#[test]
fn void_mark_lifetimes() {
    let margin_ms = CLOCK_SKEW_MARGIN_SECONDS * 1_000;
    // (name, expiry of the voided attempt, mark kept until)
    let cases: [(&str, u64, u64); 4] = [
        ("expiry 0", 0, margin_ms),
        ("expiry now", NOW, NOW + margin_ms),
        ("expiry at the edge of u64", u64::MAX - margin_ms, u64::MAX),
        ("expiry past the edge saturates", u64::MAX - 1, u64::MAX),
    ];
    for (name, expires_ms, until_ms) in cases {
        assert_eq!(void_until_ms(expires_ms), until_ms, "case {name:?}");
    }
}

/// Ended parts that share one end time (holds created in the same
/// millisecond with the same TTL expire together) still respect the cap.
#[test]
fn prune_cap_holds_when_end_times_tie() {
    let now_ms = 10_000;
    for extra in [1usize, 2, 100] {
        let parts: Vec<Part> = (0..ENDED_PARTS_PER_DOCUMENT_MAX + extra)
            .map(|i| released(&format!("n{i}"), now_ms - 5))
            .collect();
        let mut document = doc(1_000, &[], parts);
        prune(&mut document, now_ms, &Tuning::default());
        assert_eq!(
            document.parts.len(),
            ENDED_PARTS_PER_DOCUMENT_MAX,
            "{extra} over the cap at one end time"
        );
        // The newest by position stay.
        assert_eq!(
            document.parts.last().map(|p| p.nonce.clone()),
            Some(format!("n{}", ENDED_PARTS_PER_DOCUMENT_MAX + extra - 1))
        );
    }
}
