//! Races: confirm against release, many buyers for the same seats, and a
//! flash sale of a general-admission section. Under contention the only
//! server error a test accepts is a 503 with `Retry-After`.

use std::{collections::BTreeSet, time::Duration};

use booking_e2e::*;

/// A small deterministic generator (splitmix64), seeded per run and printed
/// in failure messages so a failing draw can be replayed by reading it.
struct Rng(u64);

impl Rng {
    fn seeded() -> (Rng, u64) {
        let seed = u64::from_str_radix(&random_hex(), 16).expect("hex seed");
        (Rng(seed), seed)
    }

    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `lo..=hi`.
    fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.next() % (hi - lo + 1)
    }
}

fn hold_id_of(reply: &Reply) -> String {
    assert_opaque_id(&reply.body["hold_id"], reply)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn confirm_and_release_race_has_exactly_one_winner() {
    const RETRIES_MAX: usize = 20;
    let ctx = Ctx::new("confirm_release_race");
    const N: usize = 32;
    let (id, _) = ctx.create_event(&general_event(N as u32)).await;
    let holds = run_concurrently(N, 8, |i| {
        let (ctx, id) = (ctx.clone(), id.clone());
        async move {
            // A careful client: a 503 with Retry-After is "try again", and
            // on a store where every call yields (Redis) eight buyers on one
            // shard do see it.
            let body = qty("floor", 1, Some(&format!("c-{i}")));
            let mut reply = ctx.hold(&id, &body, None).await;
            for _ in 0..RETRIES_MAX {
                if !reply.is_retryable_503() {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
                reply = ctx.hold(&id, &body, None).await;
            }
            reply.expect_status(201);
            hold_id_of(&reply)
        }
    })
    .await;

    let outcomes = run_concurrently(N, N, |i| {
        let (ctx, hold_id) = (ctx.clone(), holds[i].clone());
        async move {
            let pay = format!("pay-{i}");
            // Each side retries a 503 with Retry-After, as a careful client
            // does: the race is between two requests that both get answered.
            let confirm = async {
                let mut reply = ctx.confirm(&hold_id, &pay).await;
                for _ in 0..RETRIES_MAX {
                    if !reply.is_retryable_503() {
                        break;
                    }
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    reply = ctx.confirm(&hold_id, &pay).await;
                }
                reply
            };
            let release = async {
                let mut reply = ctx.release(&hold_id).await;
                for _ in 0..RETRIES_MAX {
                    if !reply.is_retryable_503() {
                        break;
                    }
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    reply = ctx.release(&hold_id).await;
                }
                reply
            };
            if i % 2 == 0 {
                tokio::join!(confirm, release)
            } else {
                let (r, c) = tokio::join!(release, confirm);
                (c, r)
            }
        }
    })
    .await;

    let mut confirmed = 0u64;
    for (i, (confirm, release)) in outcomes.iter().enumerate() {
        let hold_id = &holds[i];
        confirm.assert_no_bad_5xx();
        release.assert_no_bad_5xx();
        let confirm_won = confirm.code() == 200;
        let release_won = release.code() == 200;
        assert!(
            confirm_won != release_won,
            "hold {hold_id}: exactly one of confirm and release must win;\nconfirm:{confirm}\nrelease:{release}"
        );
        if confirm_won {
            confirmed += 1;
            assert_eq!(
                confirm.expect_status(200)["status"],
                json!("confirmed"),
                "{confirm}"
            );
            assert!(
                release.is_problem(409, "hold-confirmed") || release.is_retryable_503(),
                "release lost to confirm, expected 409 hold-confirmed:{release}"
            );
            assert_eq!(
                ctx.hold_status(hold_id).await,
                "confirmed",
                "hold {hold_id}"
            );
            ctx.release(hold_id)
                .await
                .expect_problem(409, "hold-confirmed");
        } else {
            assert_eq!(
                release.expect_status(200)["status"],
                json!("released"),
                "{release}"
            );
            assert!(
                confirm.is_problem(409, "hold-released") || confirm.is_retryable_503(),
                "confirm lost to release, expected 409 hold-released:{confirm}"
            );
            assert_eq!(ctx.hold_status(hold_id).await, "released", "hold {hold_id}");
            ctx.confirm(hold_id, "pay-late")
                .await
                .expect_problem(409, "hold-released");
        }
    }
    let floor = ctx.section(&id, "floor").await;
    assert_eq!(
        (
            num(&floor, "sold"),
            num(&floor, "held"),
            num(&floor, "available")
        ),
        (confirmed, 0, N as u64 - confirmed),
        "{floor}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn many_buyers_for_the_same_seats_get_one_hold() {
    let ctx = Ctx::new("seat_race_same");
    const BUYERS: usize = 16;
    let (id, _) = ctx.create_event(&seated_event(8)).await;
    for round in 0..4 {
        let wanted = [
            format!("A-{}", 2 * round + 1),
            format!("A-{}", 2 * round + 2),
        ];
        let replies = run_concurrently(BUYERS, BUYERS, |i| {
            let (ctx, id, wanted) = (ctx.clone(), id.clone(), wanted.clone());
            async move {
                let w: Vec<&str> = wanted.iter().map(String::as_str).collect();
                ctx.hold(&id, &seats("A", &w, Some(&format!("c-{round}-{i}"))), None)
                    .await
            }
        })
        .await;
        let mut winners = Vec::new();
        for reply in &replies {
            reply.assert_no_bad_5xx();
            match reply.code() {
                201 => {
                    assert_eq!(
                        string_set(&reply.body["seats"]),
                        wanted.iter().cloned().collect(),
                        "{reply}"
                    );
                    winners.push(hold_id_of(reply));
                }
                409 => {
                    let body = reply.expect_problem(409, "seats-unavailable");
                    let unavailable = string_set(&body["unavailable"]);
                    assert!(
                        !unavailable.is_empty() && unavailable.iter().all(|s| wanted.contains(s)),
                        "unavailable should name some of {wanted:?}:{reply}"
                    );
                }
                _ => assert!(reply.is_retryable_503(), "{reply}"),
            }
        }
        assert_eq!(
            winners.len(),
            1,
            "round {round}: {BUYERS} buyers for {wanted:?} got {} holds",
            winners.len()
        );
    }
    let a = ctx.section(&id, "A").await;
    assert_eq!((num(&a, "held"), num(&a, "available")), (8, 0), "{a}");
    assert!(string_set(&a["available_seats"]).is_empty(), "{a}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn overlapping_seat_requests_never_double_book() {
    let ctx = Ctx::new("seat_race_overlap");
    const SEATS: usize = 12;
    const BUYERS: usize = 48;
    let (id, _) = ctx.create_event(&seated_event(SEATS)).await;
    let (mut rng, seed) = Rng::seeded();
    let requests: Vec<Vec<String>> = (0..BUYERS)
        .map(|_| {
            let n = rng.range(1, 3) as usize;
            let mut picked = BTreeSet::new();
            while picked.len() < n {
                picked.insert(format!("A-{}", rng.range(1, SEATS as u64)));
            }
            picked.into_iter().collect()
        })
        .collect();
    let replies = run_concurrently(BUYERS, BUYERS, |i| {
        let (ctx, id, wanted) = (ctx.clone(), id.clone(), requests[i].clone());
        async move {
            let w: Vec<&str> = wanted.iter().map(String::as_str).collect();
            let reply = ctx
                .hold(&id, &seats("A", &w, Some(&format!("c-{i}"))), None)
                .await;
            // Half the winners buy at once, so holds and sales interleave.
            let confirmed = reply.code() == 201 && i % 2 == 0 && {
                let c = ctx.confirm(&hold_id_of(&reply), &format!("pay-{i}")).await;
                c.assert_no_bad_5xx();
                c.code() == 200
            };
            (reply, confirmed)
        }
    })
    .await;

    let mut taken: BTreeSet<String> = BTreeSet::new();
    let mut sold = 0u64;
    let mut refused_seats: BTreeSet<String> = BTreeSet::new();
    for (i, (reply, confirmed)) in replies.iter().enumerate() {
        reply.assert_no_bad_5xx();
        match reply.code() {
            201 => {
                let got = string_set(&reply.body["seats"]);
                assert_eq!(
                    got,
                    requests[i].iter().cloned().collect(),
                    "seed {seed}:{reply}"
                );
                for seat in got {
                    assert!(
                        taken.insert(seat.clone()),
                        "seed {seed}: seat {seat} held twice (buyer {i}):{reply}"
                    );
                    if *confirmed {
                        sold += 1;
                    }
                }
            }
            409 => {
                let body = reply.expect_problem(409, "seats-unavailable");
                let unavailable = string_set(&body["unavailable"]);
                assert!(
                    !unavailable.is_empty() && unavailable.iter().all(|s| requests[i].contains(s)),
                    "seed {seed}: unavailable should name some of {:?}:{reply}",
                    requests[i]
                );
                refused_seats.extend(unavailable);
            }
            _ => assert!(reply.is_retryable_503(), "seed {seed}:{reply}"),
        }
    }
    // Nothing was released, so every seat reported unavailable is held or sold by a winner.
    let orphans: Vec<&String> = refused_seats.difference(&taken).collect();
    assert!(
        orphans.is_empty(),
        "seed {seed}: seats {orphans:?} were refused but nobody got them"
    );

    let a = ctx.section(&id, "A").await;
    let available = string_set(&a["available_seats"]);
    assert!(
        available.is_disjoint(&taken),
        "seed {seed}: taken seats listed as available: {a}"
    );
    assert_eq!(available.len() + taken.len(), SEATS, "seed {seed}: {a}");
    assert_eq!(
        (num(&a, "sold"), num(&a, "held")),
        (sold, taken.len() as u64 - sold),
        "seed {seed}: {a}"
    );
}

/// What became of one flash-sale buyer.
#[derive(Debug)]
enum Outcome {
    /// 201 hold; `confirmed` if a confirm answered 200.
    Held {
        hold_id: String,
        quantity: u64,
        confirmed: bool,
    },
    SoldOut {
        quantity: u64,
    },
    /// 503 with Retry-After on the hold.
    Busy,
}

async fn buyer(ctx: Ctx, event_id: String, i: usize, quantity: u64) -> Outcome {
    let key = format!("buyer-{i}-{}", random_hex());
    let body = qty("floor", quantity as u32, Some(&format!("c-{i}")));
    let reply = ctx.hold(&event_id, &body, Some(&key)).await;
    reply.assert_no_bad_5xx();
    match reply.code() {
        201 => {
            assert_eq!(
                reply.expect_status(201)["quantity"],
                json!(quantity),
                "{reply}"
            );
            let hold_id = hold_id_of(&reply);
            let mut confirmed = false;
            for attempt in 0..5 {
                let c = ctx.confirm(&hold_id, &format!("pay-{i}")).await;
                c.assert_no_bad_5xx();
                if c.code() == 200 {
                    assert_eq!(c.body["quantity"], json!(quantity), "{c}");
                    assert_eq!(c.body["status"], json!("confirmed"), "{c}");
                    assert_opaque_id(&c.body["booking_id"], &c);
                    confirmed = true;
                    break;
                }
                assert!(
                    c.is_retryable_503(),
                    "confirm of a fresh hold, attempt {attempt}:{c}"
                );
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            Outcome::Held {
                hold_id,
                quantity,
                confirmed,
            }
        }
        409 => {
            reply.expect_problem(409, "sold-out");
            Outcome::SoldOut { quantity }
        }
        _ => {
            assert!(reply.is_retryable_503(), "{reply}");
            Outcome::Busy
        }
    }
}

async fn flash_sale(test: &str, section: Value) {
    let ctx = Ctx::new(test);
    const BUYERS: usize = 300;
    const CONCURRENCY: usize = 32;
    let capacity = num(&section, "capacity");
    let def = json!({ "name": "Flash sale", "hold_ttl_seconds": 300, "sections": [section] });
    let (id, _) = ctx.create_event(&def).await;
    let (mut rng, seed) = Rng::seeded();
    let quantities: Vec<u64> = (0..BUYERS).map(|_| rng.range(1, 3)).collect();

    let outcomes = run_concurrently(BUYERS, CONCURRENCY, |i| {
        buyer(ctx.clone(), id.clone(), i, quantities[i])
    })
    .await;

    // Every hold that was granted is readable and says what happened to it.
    let granted: Vec<(String, u64, bool)> = outcomes
        .iter()
        .filter_map(|o| match o {
            Outcome::Held {
                hold_id,
                quantity,
                confirmed,
            } => Some((hold_id.clone(), *quantity, *confirmed)),
            _ => None,
        })
        .collect();
    let reads = run_concurrently(granted.len(), CONCURRENCY, |i| {
        let ctx = ctx.clone();
        let hold_id = granted[i].0.clone();
        async move { ctx.get_hold(&hold_id).await }
    })
    .await;
    let avail = ctx.availability(&id).await;
    let floor = section_of(&avail, "floor");

    let units = |confirmed: bool| -> u64 {
        granted
            .iter()
            .filter(|g| g.2 == confirmed)
            .map(|g| g.1)
            .sum()
    };
    let (confirmed_units, held_units) = (units(true), units(false));
    let busy = outcomes
        .iter()
        .filter(|o| matches!(o, Outcome::Busy))
        .count();
    let read_units = |status: &str| -> u64 {
        reads
            .iter()
            .filter(|r| r.body["status"] == json!(status))
            .map(|r| r.body["quantity"].as_u64().unwrap_or(0))
            .sum()
    };
    let summary = format!(
        "seed {seed}; buyers answered: {} holds ({held_units} units left held, \
         {confirmed_units} units confirmed with 200), {} sold-out, {busy} busy; \
         GET /holds says {} units confirmed, {} held; availability {floor}",
        granted.len(),
        outcomes
            .iter()
            .filter(|o| matches!(o, Outcome::SoldOut { .. }))
            .count(),
        read_units("confirmed"),
        read_units("held"),
    );
    assert_totals(&avail);
    assert_eq!(num(floor, "capacity"), capacity, "{summary}");
    let (available, held, sold) = (
        num(floor, "available"),
        num(floor, "held"),
        num(floor, "sold"),
    );
    assert!(
        confirmed_units <= capacity,
        "oversold: confirmed bookings exceed capacity: {summary}"
    );
    assert!(sold <= capacity, "oversold: {summary}");
    assert_eq!(
        sold, confirmed_units,
        "sold vs confirmed quantities: {summary}"
    );
    assert_eq!(held, held_units, "held vs unconfirmed holds: {summary}");
    assert_eq!(sold, capacity - available - held, "{summary}");
    assert!(sold > 0, "nothing was sold: {summary}");
    // Inventory only shrank during the sale, so a buyer turned away for
    // `sold-out` asked for more than is left even now.
    for (i, o) in outcomes.iter().enumerate() {
        if let Outcome::SoldOut { quantity } = o {
            assert!(
                *quantity > available,
                "buyer {i} was refused {quantity} as sold-out but {available} are still available: {summary}"
            );
        }
    }
    let ids: BTreeSet<&String> = granted.iter().map(|(h, _, _)| h).collect();
    assert_eq!(ids.len(), granted.len(), "duplicate hold ids: {summary}");
    for ((_, quantity, confirmed), reply) in granted.iter().zip(&reads) {
        let body = reply.expect_status(200);
        assert_eq!(body["quantity"], json!(quantity), "{reply}");
        assert_eq!(
            body["status"],
            json!(if *confirmed { "confirmed" } else { "held" }),
            "{reply}"
        );
        if *confirmed {
            assert_opaque_id(&body["booking_id"], reply);
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn flash_sale_never_oversells() {
    flash_sale("flash_sale", json!({ "id": "floor", "capacity": 50 })).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn flash_sale_on_a_sharded_section_never_oversells() {
    flash_sale(
        "flash_sale_sharded",
        json!({ "id": "floor", "capacity": 50, "shards": 8 }),
    )
    .await;
}
