//! Test vectors for seat planning, shard planning and the room check a
//! part's write makes.

use super::{has_room, plan_seats, zero_unit_primaries_full};
use crate::context::Tuning;
use crate::error::{BookingError, PROBLEM_TYPE_PREFIX};
use crate::limits::{HOLD_UNITS_MAX, ZERO_UNIT_PRIMARIES_PER_DOCUMENT_MAX};
use crate::model::{InventoryDoc, Part, PartStatus, seat_block};

const NOW: u64 = 1_000_000;
const LIVE: u64 = NOW + 60_000;
const PAST: u64 = NOW - 1;

fn slug(error: &BookingError) -> String {
    let body = error.body();
    let kind = body["type"].as_str().unwrap_or_default();
    kind.strip_prefix(PROBLEM_TYPE_PREFIX)
        .unwrap_or(kind)
        .to_owned()
}

/// A part of hold `nonce`: `primary_doc` is `None` for a primary part.
fn part(
    nonce: &str,
    status: PartStatus,
    expires_ms: u64,
    primary_doc: Option<u32>,
    quantity: u32,
    seats: &[&str],
) -> Part {
    let mut part = Part::new(nonce, status, expires_ms, NOW - 120_000);
    part.quantity = quantity;
    part.seats = seats.iter().map(|s| (*s).to_owned()).collect();
    part.primary_doc = primary_doc;
    part
}

fn units(nonce: &str, status: PartStatus, expires_ms: u64, primary: Option<u32>, q: u32) -> Part {
    part(nonce, status, expires_ms, primary, q, &[])
}

fn seats(
    nonce: &str,
    status: PartStatus,
    expires_ms: u64,
    primary: Option<u32>,
    s: &[&str],
) -> Part {
    part(nonce, status, expires_ms, primary, 0, s)
}

fn shard(capacity: u32, parts: Vec<Part>) -> InventoryDoc {
    InventoryDoc {
        version: 1,
        operation: "test".to_owned(),
        shard_units: capacity,
        seats: Vec::new(),
        parts,
        ..InventoryDoc::default()
    }
}

fn block(seat_list: &[&str], parts: Vec<Part>) -> InventoryDoc {
    InventoryDoc {
        version: 1,
        operation: "test".to_owned(),
        shard_units: 0,
        seats: seat_list.iter().map(|s| (*s).to_owned()).collect(),
        parts,
        ..InventoryDoc::default()
    }
}

/// Seat ids `prefix1..=prefixN`, laid out in `blocks` blocks as the event
/// layout lays them out (by stable hash).
fn seat_blocks(prefix: &str, n: usize, blocks: u32) -> Vec<InventoryDoc> {
    let mut docs: Vec<InventoryDoc> = (0..blocks).map(|_| block(&[], Vec::new())).collect();
    for i in 1..=n {
        let seat = format!("{prefix}{i}");
        docs[seat_block(&seat, blocks)].seats.push(seat);
    }
    docs
}

use PartStatus::{Confirmed, Expired, Held, Released};

#[test]
fn has_room_vectors() {
    // (name, document, part to add, expected)
    let cases: Vec<(&str, InventoryDoc, Part, bool)> = vec![
        // General shards: used + quantity <= capacity.
        (
            "empty shard, quantity 0",
            shard(10, vec![]),
            units("new", Held, LIVE, None, 0),
            true,
        ),
        (
            "empty shard, quantity = capacity",
            shard(10, vec![]),
            units("new", Held, LIVE, None, 10),
            true,
        ),
        (
            "empty shard, quantity = capacity+1",
            shard(10, vec![]),
            units("new", Held, LIVE, None, 11),
            false,
        ),
        (
            "zero-capacity shard, quantity 1",
            shard(0, vec![]),
            units("new", Held, LIVE, None, 1),
            false,
        ),
        (
            "live hold leaves exactly enough",
            shard(10, vec![units("a", Held, LIVE, None, 5)]),
            units("new", Held, LIVE, None, 5),
            true,
        ),
        (
            "live hold leaves one too few",
            shard(10, vec![units("a", Held, LIVE, None, 5)]),
            units("new", Held, LIVE, None, 6),
            false,
        ),
        (
            "live secondary part occupies",
            shard(10, vec![units("a", Held, LIVE, Some(1), 5)]),
            units("new", Held, LIVE, None, 6),
            false,
        ),
        (
            "expired primary frees its units",
            shard(10, vec![units("a", Held, PAST, None, 5)]),
            units("new", Held, LIVE, None, 10),
            true,
        ),
        (
            "primary expiring exactly now frees its units",
            shard(10, vec![units("a", Held, NOW, None, 5)]),
            units("new", Held, LIVE, None, 10),
            true,
        ),
        (
            "primary expiring 1 ms from now still occupies",
            shard(10, vec![units("a", Held, NOW + 1, None, 5)]),
            units("new", Held, LIVE, None, 10),
            false,
        ),
        (
            "expired secondary is unresolved and occupies",
            shard(10, vec![units("a", Held, PAST, Some(0), 5)]),
            units("new", Held, LIVE, None, 6),
            false,
        ),
        (
            "confirmed occupies for good",
            shard(10, vec![units("a", Confirmed, PAST, None, 5)]),
            units("new", Held, LIVE, None, 6),
            false,
        ),
        (
            "released frees",
            shard(10, vec![units("a", Released, LIVE, None, 5)]),
            units("new", Held, LIVE, None, 10),
            true,
        ),
        (
            "recorded expired frees",
            shard(10, vec![units("a", Expired, PAST, Some(0), 5)]),
            units("new", Held, LIVE, None, 10),
            true,
        ),
        (
            "mixed: sold 3 + held 2 + unresolved 1 + free rest",
            shard(
                10,
                vec![
                    units("a", Confirmed, PAST, None, 3),
                    units("b", Held, LIVE, None, 2),
                    units("c", Held, PAST, Some(1), 1),
                    units("d", Held, PAST, None, 4),
                    units("e", Released, LIVE, None, 4),
                ],
            ),
            units("new", Held, LIVE, None, 4),
            true,
        ),
        (
            "mixed, one more than fits",
            shard(
                10,
                vec![
                    units("a", Confirmed, PAST, None, 3),
                    units("b", Held, LIVE, None, 2),
                    units("c", Held, PAST, Some(1), 1),
                ],
            ),
            units("new", Held, LIVE, None, 5),
            false,
        ),
        (
            "shard at HOLD_UNITS_MAX takes a max hold",
            shard(HOLD_UNITS_MAX, vec![]),
            units("new", Held, LIVE, None, HOLD_UNITS_MAX),
            true,
        ),
        // Seat blocks: every seat in the block and not occupied.
        (
            "free seat",
            block(&["A1", "A2"], vec![]),
            seats("new", Held, LIVE, None, &["A1"]),
            true,
        ),
        (
            "all seats of the block",
            block(&["A1", "A2"], vec![]),
            seats("new", Held, LIVE, None, &["A1", "A2"]),
            true,
        ),
        (
            "seat not in this block",
            block(&["A1", "A2"], vec![]),
            seats("new", Held, LIVE, None, &["B1"]),
            false,
        ),
        (
            "one of two seats not in this block",
            block(&["A1", "A2"], vec![]),
            seats("new", Held, LIVE, None, &["A1", "B1"]),
            false,
        ),
        (
            "seat held",
            block(&["A1", "A2"], vec![seats("a", Held, LIVE, None, &["A1"])]),
            seats("new", Held, LIVE, None, &["A1"]),
            false,
        ),
        (
            "other seat held",
            block(&["A1", "A2"], vec![seats("a", Held, LIVE, None, &["A1"])]),
            seats("new", Held, LIVE, None, &["A2"]),
            true,
        ),
        (
            "one of two seats held",
            block(&["A1", "A2"], vec![seats("a", Held, LIVE, None, &["A2"])]),
            seats("new", Held, LIVE, None, &["A1", "A2"]),
            false,
        ),
        (
            "seat of an expired primary",
            block(&["A1", "A2"], vec![seats("a", Held, PAST, None, &["A1"])]),
            seats("new", Held, LIVE, None, &["A1"]),
            true,
        ),
        (
            "seat of an unresolved secondary",
            block(
                &["A1", "A2"],
                vec![seats("a", Held, PAST, Some(3), &["A1"])],
            ),
            seats("new", Held, LIVE, None, &["A1"]),
            false,
        ),
        (
            "seat sold",
            block(
                &["A1", "A2"],
                vec![seats("a", Confirmed, PAST, None, &["A1"])],
            ),
            seats("new", Held, LIVE, None, &["A1"]),
            false,
        ),
        (
            "seat released",
            block(
                &["A1", "A2"],
                vec![seats("a", Released, LIVE, None, &["A1"])],
            ),
            seats("new", Held, LIVE, None, &["A1"]),
            true,
        ),
        (
            "seat recorded expired",
            block(
                &["A1", "A2"],
                vec![seats("a", Expired, PAST, Some(0), &["A1"])],
            ),
            seats("new", Held, LIVE, None, &["A1"]),
            true,
        ),
    ];
    for (name, doc, new, expect) in &cases {
        assert_eq!(has_room(doc, new, NOW), *expect, "case {name:?}");
    }
}

/// A plan as (document, units, seats).
type Planned = Vec<(usize, u32, Vec<String>)>;

fn planned(shares: &[(usize, &[&str])]) -> Result<Planned, (u16, String)> {
    Ok(shares
        .iter()
        .map(|(doc, seats)| (*doc, 0, seats.iter().map(|s| (*s).to_owned()).collect()))
        .collect())
}

fn refused(status: u16, slug: &str) -> Result<Planned, (u16, String)> {
    Err((status, slug.to_owned()))
}

#[test]
fn seat_plans() {
    // One block of A1..A4.
    let one = || block(&["A1", "A2", "A3", "A4"], vec![]);
    let with = |parts: Vec<Part>| block(&["A1", "A2", "A3", "A4"], parts);
    // Three blocks laid out by hash; find two seats in different blocks.
    let three = seat_blocks("S", 30, 3);
    let block_of = |seat: &str| seat_block(seat, 3);
    let (x, y) = {
        let first = "S1";
        let other = (2..=30)
            .map(|i| format!("S{i}"))
            .find(|s| block_of(s) != block_of(first))
            .expect("30 seats hash to more than one block");
        (first.to_owned(), other)
    };
    let (x, y): (&str, &str) = (&x, &y);
    let mut spread_expect: Planned = vec![
        (block_of(x), 0, vec![x.to_owned()]),
        (block_of(y), 0, vec![y.to_owned()]),
    ];
    spread_expect.sort();
    /// Name, documents, seats asked, expected plan or (status, slug).
    type Case<'a> = (
        &'a str,
        Vec<InventoryDoc>,
        Vec<&'a str>,
        Result<Planned, (u16, String)>,
    );
    let cases: Vec<Case> = vec![
        (
            "one free seat",
            vec![one()],
            vec!["A1"],
            planned(&[(0, &["A1"])]),
        ),
        (
            "request order kept within a block",
            vec![one()],
            vec!["A3", "A1", "A2"],
            planned(&[(0, &["A3", "A1", "A2"])]),
        ),
        ("no seats asked", vec![one()], vec![], planned(&[])),
        (
            "seat not in the section",
            vec![one()],
            vec!["Z9"],
            refused(422, "seats-not-in-section"),
        ),
        (
            "unknown seat wins over a taken one",
            vec![with(vec![seats("a", Held, LIVE, None, &["A1"])])],
            vec!["A1", "Z9"],
            refused(422, "seats-not-in-section"),
        ),
        (
            "seat held",
            vec![with(vec![seats("a", Held, LIVE, None, &["A1"])])],
            vec!["A1"],
            refused(409, "seats-unavailable"),
        ),
        (
            "seat sold",
            vec![with(vec![seats("a", Confirmed, PAST, None, &["A2"])])],
            vec!["A1", "A2"],
            refused(409, "seats-unavailable"),
        ),
        (
            "seat of a primary expiring exactly now is free",
            vec![with(vec![seats("a", Held, NOW, None, &["A1"])])],
            vec!["A1"],
            planned(&[(0, &["A1"])]),
        ),
        (
            "seat of a primary expiring 1 ms from now is taken",
            vec![with(vec![seats("a", Held, NOW + 1, None, &["A1"])])],
            vec!["A1"],
            refused(409, "seats-unavailable"),
        ),
        (
            "seat of an unresolved secondary is not taken here (the write resolves it)",
            vec![with(vec![seats("a", Held, PAST, Some(2), &["A1"])])],
            vec!["A1"],
            planned(&[(0, &["A1"])]),
        ),
        (
            "seat released",
            vec![with(vec![seats("a", Released, LIVE, None, &["A1"])])],
            vec!["A1"],
            planned(&[(0, &["A1"])]),
        ),
        (
            "seat recorded expired",
            vec![with(vec![seats("a", Expired, PAST, None, &["A1"])])],
            vec!["A1"],
            planned(&[(0, &["A1"])]),
        ),
        (
            "seats over blocks: one share per block, lowest block first",
            three.clone(),
            vec![y, x],
            Ok(spread_expect),
        ),
        (
            "seat in the section but not in its hash block",
            {
                let mut docs = seat_blocks("S", 0, 3);
                // Put S1 in a block it does not hash to.
                docs[(block_of("S1") + 1) % 3].seats.push("S1".into());
                docs
            },
            vec!["S1"],
            refused(422, "seats-not-in-section"),
        ),
    ];
    for (name, docs, asked, expect) in &cases {
        let asked: Vec<String> = asked.iter().map(|s| (*s).to_owned()).collect();
        let actual = plan_seats(docs, &asked, NOW)
            .map(|plan| {
                plan.into_iter()
                    .map(|share| (share.doc, share.units, share.seats))
                    .collect::<Planned>()
            })
            .map_err(|e| (e.status(), slug(&e)));
        assert_eq!(&actual, expect, "case {name:?}");
    }
}

#[test]
fn taken_seats_are_named_in_order() {
    /// Name, parts in the block, seats asked, seats named unavailable.
    type Case = (
        &'static str,
        Vec<Part>,
        &'static [&'static str],
        &'static [&'static str],
    );
    let cases: [Case; 3] = [
        (
            "one of three taken",
            vec![seats("a", Held, LIVE, None, &["A2"])],
            &["A1", "A2", "A3"],
            &["A2"],
        ),
        (
            "taken by a hold and a sale, in request order",
            vec![
                seats("a", Confirmed, PAST, None, &["A1"]),
                seats("b", Held, LIVE, Some(1), &["A3"]),
            ],
            &["A3", "A2", "A1"],
            &["A3", "A1"],
        ),
        (
            "expired and released holds are not named",
            vec![
                seats("a", Held, PAST, None, &["A1"]),
                seats("b", Released, LIVE, None, &["A2"]),
                seats("c", Held, LIVE, None, &["A3"]),
            ],
            &["A1", "A2", "A3"],
            &["A3"],
        ),
    ];
    for (name, parts, asked, named) in cases {
        let docs = vec![block(&["A1", "A2", "A3", "A4"], parts)];
        let asked: Vec<String> = asked.iter().map(|s| (*s).to_owned()).collect();
        let named: Vec<String> = named.iter().map(|s| (*s).to_owned()).collect();
        match plan_seats(&docs, &asked, NOW) {
            Err(BookingError::SeatsUnavailable { unavailable }) => {
                assert_eq!(unavailable, named, "case {name:?}");
            }
            other => panic!("case {name:?}: expected seats-unavailable, got {other:?}"),
        }
    }
}

/// `plan_units` needs a context (it picks a random first shard); the
/// in-memory store and the hand-moved clock come with feature `testing`,
/// which the crate's dev-dependency on itself turns on for unit tests.
#[cfg(feature = "testing")]
#[test]
fn unit_plans() {
    use super::plan_units;
    use crate::context::{Config, Ctx, Tuning};
    use crate::memory::{ManualEnv, MemoryStore};

    #[derive(Debug)]
    enum Expect {
        /// Exactly these (document, units) shares.
        Plan(&'static [(usize, u32)]),
        /// One share of `units` on any one of these documents.
        AnyOne(&'static [usize], u32),
        /// Sold out: requested, available.
        SoldOut(u32, u32),
    }
    use Expect::{AnyOne, Plan, SoldOut};

    let store = MemoryStore::new();
    let config = Config {
        admin_token: None,
        confirm_token: None,
        organiser_token: None,
        buyer_tokens: crate::BuyerTokens::Off,
        hold_ttl_seconds_default: 300,
        tuning: Tuning::default(),
    };
    /// Name, shards, quantity, expected; with a fixed primary document too.
    type Case = (&'static str, Vec<InventoryDoc>, u32, Expect);
    type FixedCase = (&'static str, Vec<InventoryDoc>, u32, Option<usize>, Expect);
    // No fixed primary: the first shard is random, so only unique answers
    // (or `AnyOne`) are expected, and every case runs under several seeds.
    let random_start: Vec<Case> = vec![
        (
            "one empty shard",
            vec![shard(10, vec![])],
            3,
            Plan(&[(0, 3)]),
        ),
        (
            "one shard, exactly full",
            vec![shard(10, vec![])],
            10,
            Plan(&[(0, 10)]),
        ),
        (
            "one shard, one unit short",
            vec![shard(10, vec![units("a", Held, LIVE, None, 1)])],
            10,
            SoldOut(10, 9),
        ),
        (
            "zero-capacity shard",
            vec![shard(0, vec![])],
            1,
            SoldOut(1, 0),
        ),
        (
            "sold out: everything sold or held",
            vec![
                shard(2, vec![units("a", Confirmed, PAST, None, 2)]),
                shard(2, vec![units("b", Held, LIVE, None, 2)]),
            ],
            1,
            SoldOut(1, 0),
        ),
        (
            "only one shard has room for the whole hold",
            vec![shard(4, vec![]), shard(2, vec![]), shard(3, vec![])],
            4,
            Plan(&[(0, 4)]),
        ),
        (
            "any shard with room will do",
            vec![shard(5, vec![]), shard(5, vec![])],
            5,
            AnyOne(&[0, 1], 5),
        ),
        (
            "expired primary frees a shard",
            vec![shard(5, vec![units("a", Held, PAST, None, 5)])],
            5,
            Plan(&[(0, 5)]),
        ),
        (
            "no one shard has room: spread, most room first",
            vec![shard(4, vec![]), shard(3, vec![]), shard(2, vec![])],
            8,
            Plan(&[(0, 4), (1, 3), (2, 1)]),
        ),
        (
            "spread over every unit of the section",
            vec![shard(4, vec![]), shard(3, vec![]), shard(2, vec![])],
            9,
            Plan(&[(0, 4), (1, 3), (2, 2)]),
        ),
        (
            "one past the section",
            vec![shard(4, vec![]), shard(3, vec![]), shard(2, vec![])],
            10,
            SoldOut(10, 9),
        ),
        (
            "spread skips full shards",
            vec![
                shard(3, vec![]),
                shard(4, vec![units("a", Confirmed, PAST, None, 4)]),
                shard(3, vec![units("b", Held, LIVE, None, 1)]),
            ],
            5,
            Plan(&[(0, 3), (2, 2)]),
        ),
        (
            "unresolved units count as room (the write resolves them)",
            vec![
                shard(5, vec![units("a", Held, PAST, Some(1), 3)]),
                shard(4, vec![]),
            ],
            9,
            Plan(&[(0, 5), (1, 4)]),
        ),
        (
            "unresolved units are room but not available",
            vec![
                shard(5, vec![units("a", Held, PAST, Some(1), 3)]),
                shard(4, vec![]),
            ],
            10,
            SoldOut(10, 6),
        ),
        (
            "a shard of unresolved units alone is planned as a spread of one",
            vec![shard(3, vec![units("a", Held, PAST, Some(1), 3)])],
            3,
            Plan(&[(0, 3)]),
        ),
        (
            "a single free shard is preferred over unresolved room",
            vec![
                shard(5, vec![units("a", Held, PAST, Some(1), 5)]),
                shard(2, vec![]),
            ],
            2,
            Plan(&[(1, 2)]),
        ),
        (
            "HOLD_UNITS_MAX over shards of one unit",
            (0..HOLD_UNITS_MAX).map(|_| shard(1, vec![])).collect(),
            HOLD_UNITS_MAX,
            Plan(&[
                (0, 1),
                (1, 1),
                (2, 1),
                (3, 1),
                (4, 1),
                (5, 1),
                (6, 1),
                (7, 1),
                (8, 1),
                (9, 1),
            ]),
        ),
    ];
    // A fixed primary (a resumed or keyed hold) is tried first, and breaks
    // ties between shards of equal room.
    let fixed_primary: Vec<FixedCase> = vec![
        (
            "fixed primary with room takes the whole hold",
            vec![shard(5, vec![]), shard(5, vec![]), shard(5, vec![])],
            3,
            Some(2),
            Plan(&[(2, 3)]),
        ),
        (
            "fixed primary without room: the next shard after it",
            vec![shard(5, vec![]), shard(5, vec![]), shard(1, vec![])],
            3,
            Some(2),
            Plan(&[(0, 3)]),
        ),
        (
            "fixed primary past the last shard: random start",
            vec![shard(5, vec![])],
            3,
            Some(7),
            Plan(&[(0, 3)]),
        ),
        (
            "fixed primary orders a spread over equal shards",
            vec![shard(3, vec![]), shard(3, vec![]), shard(3, vec![])],
            7,
            Some(1),
            Plan(&[(0, 1), (1, 3), (2, 3)]),
        ),
        (
            "fixed primary, unequal spread: most room first still",
            vec![shard(4, vec![]), shard(3, vec![]), shard(2, vec![])],
            8,
            Some(2),
            Plan(&[(0, 4), (1, 3), (2, 1)]),
        ),
        (
            "fixed primary, sold out",
            vec![shard(1, vec![])],
            2,
            Some(0),
            SoldOut(2, 1),
        ),
    ];
    let cases: Vec<FixedCase> = random_start
        .into_iter()
        .map(|(name, docs, quantity, expect)| (name, docs, quantity, None, expect))
        .chain(fixed_primary)
        .collect();
    for seed in [1, 2, 3, 0xdead_beef] {
        let env = ManualEnv::new(NOW, seed);
        let ctx = Ctx::new(&store, &env, &config);
        for (name, docs, quantity, primary, expect) in &cases {
            let actual = plan_units(&ctx, docs, *quantity, NOW, *primary, &[]).map(|plan| {
                plan.into_iter()
                    .map(|share| {
                        assert!(
                            share.seats.is_empty(),
                            "case {name:?}: seats in a unit plan"
                        );
                        (share.doc, share.units)
                    })
                    .collect::<Vec<_>>()
            });
            match (expect, actual) {
                (Plan(shares), Ok(plan)) => {
                    assert_eq!(plan, shares.to_vec(), "case {name:?} (seed {seed})");
                }
                (AnyOne(docs, units), Ok(plan)) => {
                    assert!(
                        matches!(plan.as_slice(), [(doc, u)] if docs.contains(doc) && u == units),
                        "case {name:?} (seed {seed}): {plan:?}"
                    );
                }
                (
                    SoldOut(requested, available),
                    Err(BookingError::SoldOut {
                        requested: r,
                        available: a,
                    }),
                ) => {
                    assert_eq!((r, a), (*requested, *available), "case {name:?}");
                }
                (expect, actual) => {
                    panic!("case {name:?} (seed {seed}): expected {expect:?}, got {actual:?}")
                }
            }
        }
    }
}

/// Conflicts move elsewhere: shards that kept conflicting (`busy`) are not
/// chosen for a lone share while another shard has room; when only busy
/// shards have room the plan is empty (look at the section again).
#[cfg(feature = "testing")]
#[test]
fn busy_shards_are_avoided() {
    use super::plan_units;
    use crate::context::{Config, Ctx, Tuning};
    use crate::memory::{ManualEnv, MemoryStore};
    let store = MemoryStore::new();
    let config = Config {
        admin_token: None,
        confirm_token: None,
        organiser_token: None,
        buyer_tokens: crate::BuyerTokens::Off,
        hold_ttl_seconds_default: 300,
        tuning: Tuning::default(),
    };
    let three = || vec![shard(2, vec![]), shard(2, vec![]), shard(2, vec![])];
    type Case = (
        &'static str,
        Vec<InventoryDoc>,
        u32,
        Vec<usize>,
        Option<Vec<usize>>,
    );
    let cases: Vec<Case> = vec![
        (
            "one busy, two with room",
            three(),
            2,
            vec![0],
            Some(vec![1, 2]),
        ),
        (
            "two busy, one with room",
            three(),
            2,
            vec![0, 2],
            Some(vec![1]),
        ),
        ("all busy: look again", three(), 2, vec![0, 1, 2], None),
        (
            "room only in the busy shard: look again",
            vec![shard(2, vec![]), shard(1, vec![]), shard(1, vec![])],
            2,
            vec![0],
            None,
        ),
    ];
    for seed in [1, 2, 3, 4, 5] {
        let env = ManualEnv::new(NOW, seed);
        let ctx = Ctx::new(&store, &env, &config);
        for (name, docs, quantity, busy, allowed) in &cases {
            let plan = plan_units(&ctx, docs, *quantity, NOW, None, busy)
                .unwrap_or_else(|e| panic!("case {name:?}: {e}"));
            match allowed {
                Some(allowed) => {
                    assert_eq!(plan.len(), 1, "case {name:?}: {plan:?}");
                    assert!(allowed.contains(&plan[0].doc), "case {name:?}: {plan:?}");
                }
                None => assert!(plan.is_empty(), "case {name:?}: {plan:?}"),
            }
        }
    }
}

/// The bound on live zero-unit keyed primaries per home document: ended
/// ones and primaries with units do not count; live ones up to the bound do.
#[test]
fn zero_unit_primaries_are_bounded_per_document() {
    let mut doc = InventoryDoc {
        shard_units: 10,
        ..InventoryDoc::default()
    };
    let below = ZERO_UNIT_PRIMARIES_PER_DOCUMENT_MAX - 1;
    for index in 0..below {
        doc.parts
            .push(units(&format!("z{index}"), PartStatus::Held, LIVE, None, 0));
    }
    doc.parts
        .push(units("ended", PartStatus::Released, LIVE, None, 0));
    doc.parts
        .push(units("expired", PartStatus::Held, PAST, None, 0));
    doc.parts
        .push(units("with-units", PartStatus::Held, LIVE, None, 2));
    assert!(
        !zero_unit_primaries_full(&doc, NOW, &Tuning::default()),
        "one below the bound"
    );
    doc.parts
        .push(units("last", PartStatus::Confirmed, LIVE, None, 0));
    assert!(
        zero_unit_primaries_full(&doc, NOW, &Tuning::default()),
        "at the bound"
    );
}
