//! `POST /events/:id/holds`: success, refusals, validation, customer limits
//! and idempotency keys.

use booking_e2e::*;

fn mixed_event(max_per_customer: Option<u32>) -> Value {
    let mut def = json!({
        "name": "Mixed",
        "hold_ttl_seconds": 300,
        "sections": [
            { "id": "floor", "capacity": 20 },
            { "id": "A", "seats": seat_ids("A", 12) },
        ],
    });
    if let Some(max) = max_per_customer {
        def["max_per_customer"] = json!(max);
    }
    def
}

/// `expires_at` lies `ttl` seconds after the hold was made (measured on the
/// server's own clock, through `as_of` of an availability read right after).
async fn assert_expiry_about(ctx: &Ctx, event_id: &str, hold: &Value, ttl: f64) {
    let expires_at = time_of(hold, "expires_at");
    let as_of = time_of(&ctx.availability(event_id).await, "as_of");
    let left = expires_at - as_of;
    assert!(
        left <= ttl + 1.0 && left > ttl - 30.0,
        "expires_at {expires_at} is {left}s after as_of, ttl {ttl}: {hold}"
    );
}

#[tokio::test]
async fn general_hold_is_201_with_every_field() {
    let ctx = Ctx::new("hold_general");
    let (id, _) = ctx.create_event(&mixed_event(None)).await;
    let reply = ctx.hold(&id, &qty("floor", 2, Some("c-1")), None).await;
    let hold = reply.expect_status(201).clone();
    let hold_id = assert_opaque_id(&hold["hold_id"], &reply);
    assert_eq!(hold["event_id"], json!(id), "{reply}");
    assert_eq!(hold["section"], json!("floor"), "{reply}");
    assert_eq!(hold["quantity"], json!(2), "{reply}");
    assert_eq!(hold["customer_id"], json!("c-1"), "{reply}");
    assert_eq!(hold["status"], json!("held"), "{reply}");
    assert!(absent(&hold, "seats"), "general hold lists seats:{reply}");
    assert!(
        absent(&hold, "booking_id"),
        "held hold has a booking:{reply}"
    );
    assert_expiry_about(&ctx, &id, &hold, 300.0).await;

    let floor = ctx.section(&id, "floor").await;
    assert_eq!(
        (
            num(&floor, "available"),
            num(&floor, "held"),
            num(&floor, "sold")
        ),
        (18, 2, 0),
        "{floor}"
    );

    let got = ctx.get_hold(&hold_id).await;
    let body = got.expect_status(200);
    for key in [
        "hold_id",
        "event_id",
        "section",
        "quantity",
        "customer_id",
        "status",
        "expires_at",
    ] {
        assert_eq!(
            body[key], hold[key],
            "{key} differs between POST and GET:{got}"
        );
    }
    assert!(absent(body, "seats") && absent(body, "booking_id"), "{got}");
}

#[tokio::test]
async fn seated_hold_is_201_with_its_seats() {
    let ctx = Ctx::new("hold_seated");
    let (id, _) = ctx.create_event(&mixed_event(None)).await;
    let reply = ctx
        .hold(&id, &seats("A", &["A-3", "A-1"], Some("c-2")), None)
        .await;
    let hold = reply.expect_status(201).clone();
    let hold_id = assert_opaque_id(&hold["hold_id"], &reply);
    assert_eq!(hold["event_id"], json!(id), "{reply}");
    assert_eq!(hold["section"], json!("A"), "{reply}");
    assert_eq!(hold["quantity"], json!(2), "{reply}");
    assert_eq!(
        string_set(&hold["seats"]),
        set_of(&["A-1", "A-3"]),
        "{reply}"
    );
    assert_eq!(hold["customer_id"], json!("c-2"), "{reply}");
    assert_eq!(hold["status"], json!("held"), "{reply}");
    assert_expiry_about(&ctx, &id, &hold, 300.0).await;

    let a = ctx.section(&id, "A").await;
    assert_eq!(
        (num(&a, "available"), num(&a, "held"), num(&a, "sold")),
        (10, 2, 0),
        "{a}"
    );
    let available = string_set(&a["available_seats"]);
    assert!(
        !available.contains("A-1") && !available.contains("A-3") && available.contains("A-2"),
        "{a}"
    );

    let got = ctx.get_hold(&hold_id).await;
    let body = got.expect_status(200);
    assert_eq!(string_set(&body["seats"]), set_of(&["A-1", "A-3"]), "{got}");
    assert_eq!(body["quantity"], json!(2), "{got}");
    assert_eq!(body["status"], json!("held"), "{got}");
}

#[tokio::test]
async fn customer_id_is_optional() {
    let ctx = Ctx::new("hold_anon");
    let (id, _) = ctx.create_event(&mixed_event(Some(4))).await;
    let hold = ctx.hold_ok(&id, &qty("floor", 1, None)).await;
    assert!(absent(&hold, "customer_id"), "{hold}");
    let got = ctx
        .get_hold(hold["hold_id"].as_str().expect("hold_id"))
        .await;
    assert!(absent(got.expect_status(200), "customer_id"), "{got}");
}

#[tokio::test]
async fn ten_units_is_the_largest_hold() {
    let ctx = Ctx::new("hold_ten");
    let (id, _) = ctx.create_event(&mixed_event(None)).await;
    let h = ctx.hold_ok(&id, &qty("floor", 10, None)).await;
    assert_eq!(h["quantity"], json!(10), "{h}");
    let ten: Vec<String> = seat_ids("A", 10);
    let ten: Vec<&str> = ten.iter().map(String::as_str).collect();
    let h = ctx.hold_ok(&id, &seats("A", &ten, None)).await;
    assert_eq!(h["quantity"], json!(10), "{h}");
    ctx.hold(&id, &qty("floor", 11, None), None)
        .await
        .expect_problem_status(422);
    let avail = ctx.availability(&id).await;
    assert_totals(&avail);
    assert_eq!(num(section_of(&avail, "floor"), "held"), 10, "{avail}");
    assert_eq!(num(section_of(&avail, "A"), "held"), 10, "{avail}");
}

#[tokio::test]
async fn not_enough_left_is_409_sold_out() {
    let ctx = Ctx::new("hold_sold_out");
    let (id, _) = ctx.create_event(&general_event(5)).await;
    ctx.hold_ok(&id, &qty("floor", 3, None)).await;
    ctx.hold(&id, &qty("floor", 3, None), None)
        .await
        .expect_problem(409, "sold-out");
    let floor = ctx.section(&id, "floor").await;
    assert_eq!(
        (num(&floor, "available"), num(&floor, "held")),
        (2, 3),
        "{floor}"
    );
    ctx.hold_ok(&id, &qty("floor", 2, None)).await;
    ctx.hold(&id, &qty("floor", 1, None), None)
        .await
        .expect_problem(409, "sold-out");
    let floor = ctx.section(&id, "floor").await;
    assert_eq!(
        (
            num(&floor, "available"),
            num(&floor, "held"),
            num(&floor, "sold")
        ),
        (0, 5, 0),
        "{floor}"
    );
}

#[tokio::test]
async fn sharded_section_sells_its_whole_capacity() {
    let ctx = Ctx::new("hold_sharded");
    let def = json!({
        "name": "Sharded",
        "sections": [{ "id": "floor", "capacity": 6, "shards": 3 }],
    });
    let (id, _) = ctx.create_event(&def).await;
    for _ in 0..4 {
        ctx.hold_ok(&id, &qty("floor", 1, None)).await;
    }
    // Two units are left, wherever they live.
    ctx.hold(&id, &qty("floor", 3, None), None)
        .await
        .expect_problem(409, "sold-out");
    let h = ctx.hold_ok(&id, &qty("floor", 2, None)).await;
    assert_eq!(h["quantity"], json!(2), "{h}");
    ctx.hold(&id, &qty("floor", 1, None), None)
        .await
        .expect_problem(409, "sold-out");
    let floor = ctx.section(&id, "floor").await;
    assert_eq!(
        (
            num(&floor, "available"),
            num(&floor, "held"),
            num(&floor, "capacity")
        ),
        (0, 6, 6),
        "{floor}"
    );
}

#[tokio::test]
async fn unevenly_sharded_section_sells_exactly_its_capacity() {
    let ctx = Ctx::new("hold_sharded_uneven");
    for (capacity, shards) in [(10u64, 4u64), (50, 8), (7, 5)] {
        let def = json!({
            "name": "Uneven shards",
            "sections": [{ "id": "floor", "capacity": capacity, "shards": shards }],
        });
        let (id, _) = ctx.create_event(&def).await;
        let mut granted = 0;
        loop {
            let reply = ctx.hold(&id, &qty("floor", 1, None), None).await;
            if reply.code() == 201 {
                granted += 1;
                assert!(
                    granted <= capacity,
                    "capacity {capacity} in {shards} shards: hold number {granted} granted:{reply}"
                );
                continue;
            }
            reply.expect_problem(409, "sold-out");
            break;
        }
        assert_eq!(
            granted, capacity,
            "capacity {capacity} in {shards} shards: single-unit holds granted before sold-out"
        );
        let floor = ctx.section(&id, "floor").await;
        assert_eq!(
            (num(&floor, "available"), num(&floor, "held")),
            (0, capacity),
            "{floor}"
        );
    }
}

#[tokio::test]
async fn taken_seats_are_409_seats_unavailable() {
    let ctx = Ctx::new("hold_seats_taken");
    let (id, _) = ctx.create_event(&mixed_event(None)).await;
    ctx.hold_ok(&id, &seats("A", &["A-1", "A-2"], None)).await;
    let reply = ctx
        .hold(&id, &seats("A", &["A-2", "A-3"], None), None)
        .await;
    let body = reply.expect_problem(409, "seats-unavailable");
    assert_eq!(
        string_set(&body["unavailable"]),
        set_of(&["A-2"]),
        "{reply}"
    );
    let reply = ctx
        .hold(&id, &seats("A", &["A-4", "A-1", "A-2"], None), None)
        .await;
    let body = reply.expect_problem(409, "seats-unavailable");
    assert_eq!(
        string_set(&body["unavailable"]),
        set_of(&["A-1", "A-2"]),
        "{reply}"
    );
    // The refused requests took nothing: are still free.
    let a = ctx.section(&id, "A").await;
    assert_eq!(num(&a, "held"), 2, "{a}");
    ctx.hold_ok(&id, &seats("A", &["A-3", "A-4"], None)).await;
}

#[tokio::test]
async fn customer_limit_counts_active_holds_and_bookings() {
    let ctx = Ctx::new("hold_customer_limit");
    let (id, _) = ctx.create_event(&mixed_event(Some(4))).await;
    let first = ctx.hold_ok(&id, &qty("floor", 3, Some("c-1"))).await;
    ctx.hold(&id, &qty("floor", 2, Some("c-1")), None)
        .await
        .expect_problem(409, "customer-limit");
    // Seats count towards the same limit.
    ctx.hold(&id, &seats("A", &["A-1", "A-2"], Some("c-1")), None)
        .await
        .expect_problem(409, "customer-limit");
    // One request alone above the limit.
    ctx.hold(&id, &qty("floor", 5, Some("c-9")), None)
        .await
        .expect_problem(409, "customer-limit");
    // Other customers are not affected.
    ctx.hold_ok(&id, &qty("floor", 2, Some("c-2"))).await;
    let a = ctx.section(&id, "A").await;
    assert_eq!(num(&a, "held"), 0, "{a}");

    ctx.release(first["hold_id"].as_str().expect("hold_id"))
        .await
        .expect_status(200);
    let second = ctx.hold_ok(&id, &qty("floor", 2, Some("c-1"))).await;
    let third = ctx
        .hold_ok(&id, &seats("A", &["A-1", "A-2"], Some("c-1")))
        .await;
    ctx.hold(&id, &qty("floor", 1, Some("c-1")), None)
        .await
        .expect_problem(409, "customer-limit");

    // A booking still counts.
    ctx.confirm(second["hold_id"].as_str().expect("hold_id"), "pay-1")
        .await
        .expect_status(200);
    ctx.hold(&id, &qty("floor", 1, Some("c-1")), None)
        .await
        .expect_problem(409, "customer-limit");
    ctx.release(third["hold_id"].as_str().expect("hold_id"))
        .await
        .expect_status(200);
    ctx.hold_ok(&id, &qty("floor", 2, Some("c-1"))).await;
    ctx.hold(&id, &qty("floor", 1, Some("c-1")), None)
        .await
        .expect_problem(409, "customer-limit");

    let avail = ctx.availability(&id).await;
    assert_totals(&avail);
    let floor = section_of(&avail, "floor");
    assert_eq!((num(floor, "held"), num(floor, "sold")), (4, 2), "{floor}");
}

#[tokio::test]
async fn invalid_hold_requests_are_refused_and_take_nothing() {
    let ctx = Ctx::new("hold_invalid");
    let (id, _) = ctx.create_event(&mixed_event(None)).await;
    let path = format!("/events/{id}/holds");

    for raw in [
        "{",
        "nope",
        "",
        "{\"section\": \"floor\", \"quantity\": 1,}",
    ] {
        ctx.send_raw(Method::POST, &path, raw)
            .await
            .expect_problem_status(400);
    }

    let bad_ids = [
        ("customer id with space", qty("floor", 1, Some("bad id"))),
        (
            "customer id 65 chars",
            qty("floor", 1, Some(&"c".repeat(65))),
        ),
        ("customer id leading dot", qty("floor", 1, Some(".c"))),
        ("section id with space", qty("bad id", 1, None)),
        ("empty section id", qty("", 1, None)),
        ("seat id with space", seats("A", &["A 1"], None)),
        ("seat id leading dash", seats("A", &["-A"], None)),
    ];
    let mut results = Cases::default();
    for (label, body) in bad_ids {
        let reply = ctx.hold(&id, &body, None).await;
        results.check(label, || {
            reply.expect_problem_status(400);
        });
    }

    let eleven: Vec<String> = seat_ids("A", 11);
    let eleven: Vec<&str> = eleven.iter().map(String::as_str).collect();
    let unprocessable = [
        ("unknown section", qty("balcony", 1, None)),
        ("unknown seated section", seats("B", &["B-1"], None)),
        ("quantity on a seated section", qty("A", 1, None)),
        ("seats on a general section", seats("floor", &["A-1"], None)),
        ("seat not in the section", seats("A", &["A-13"], None)),
        ("seat of another naming", seats("A", &["B-1"], None)),
        ("duplicate seats", seats("A", &["A-1", "A-1"], None)),
        ("quantity 0", qty("floor", 0, None)),
        ("quantity 11", qty("floor", 11, None)),
        ("11 seats", seats("A", &eleven, None)),
        ("no seats", seats("A", &[], None)),
    ];
    for (label, body) in unprocessable {
        let reply = ctx.hold(&id, &body, None).await;
        results.check(label, || {
            reply.expect_problem_status(422);
        });
    }

    let avail = ctx.availability(&id).await;
    results.check("nothing held afterwards", || {
        assert_totals(&avail);
        for s in ["floor", "A"] {
            assert_eq!(num(section_of(&avail, s), "held"), 0, "{avail}");
        }
    });
    results.finish();
}

#[tokio::test]
async fn hold_on_an_unknown_event_is_404() {
    let ctx = Ctx::new("hold_unknown_event");
    let id = ctx.event_id("never-created");
    ctx.hold(&id, &qty("floor", 1, None), None)
        .await
        .expect_problem_status(404);
    ctx.hold(&id, &seats("A", &["A-1"], None), None)
        .await
        .expect_problem_status(404);
}

#[tokio::test]
async fn invalid_idempotency_keys_are_400() {
    let ctx = Ctx::new("idem_invalid");
    let (id, _) = ctx.create_event(&general_event(10)).await;
    let path = format!("/events/{id}/holds");
    let body = qty("floor", 1, None);
    let bad: Vec<(&str, reqwest::header::HeaderValue)> = vec![
        ("empty", reqwest::header::HeaderValue::from_static("")),
        (
            "129 characters",
            reqwest::header::HeaderValue::from_str(&"k".repeat(129)).expect("header"),
        ),
        (
            "tab",
            reqwest::header::HeaderValue::from_bytes(b"key\tkey").expect("header"),
        ),
    ];
    let mut results = Cases::default();
    for (label, key) in bad {
        let reply = ctx
            .send(
                ctx.request(Method::POST, &path)
                    .header("idempotency-key", key)
                    .json(&body),
            )
            .await;
        results.check(label, || {
            reply.expect_problem_status(400);
        });
    }
    // A key with a byte that is not UTF-8 never reaches the app: Spin's HTTP
    // server turns every header value into a string before it runs a
    // component, fails the request when one is not UTF-8, and answers a bare
    // 500 (no body, no CORS headers). That is what Spin 4.0.2 does (checked
    // against `spin up`), and the local runtime does the same.
    let reply = ctx
        .send(
            ctx.request(Method::POST, &path)
                .header(
                    "idempotency-key",
                    reqwest::header::HeaderValue::from_bytes(b"key-\xff").expect("header"),
                )
                .json(&body),
        )
        .await;
    results.check("non-UTF-8 byte: Spin's bare 500", || {
        assert_eq!(reply.code(), 500, "{reply}");
        assert!(reply.text.is_empty(), "{reply}");
    });
    let floor = ctx.section(&id, "floor").await;
    results.check("nothing held afterwards", || {
        assert_eq!(num(&floor, "held"), 0, "{floor}");
    });
    results.finish();
    // 128 printable characters are fine.
    let key = format!(
        "{}~!\"#$%&'()*+,-./:;<=>?@[\\]^_`{{|}}{}",
        random_hex(),
        "k".repeat(128)
    );
    let key = &key[..128];
    ctx.hold(&id, &body, Some(key)).await.expect_status(201);
}

#[tokio::test]
async fn same_idempotency_key_and_body_replays_the_original_answer() {
    let ctx = Ctx::new("idem_replay");
    let (id, _) = ctx.create_event(&mixed_event(None)).await;
    let key = format!("k-{}", random_hex());
    let body = qty("floor", 2, Some("c-1"));
    let first = ctx.hold(&id, &body, Some(&key)).await;
    let original = first.expect_status(201).clone();
    let hold_id = assert_opaque_id(&original["hold_id"], &first);

    for _ in 0..3 {
        let again = ctx.hold(&id, &body, Some(&key)).await;
        assert_eq!(
            again.expect_status(201)["hold_id"],
            json!(hold_id),
            "{again}"
        );
        assert_eq!(
            again.body, original,
            "replay should be the original answer:{again}"
        );
    }
    let floor = ctx.section(&id, "floor").await;
    assert_eq!(
        (num(&floor, "held"), num(&floor, "available")),
        (2, 18),
        "{floor}"
    );

    // Seated, with its own key.
    let seat_key = format!("k-{}", random_hex());
    let seat_body = seats("A", &["A-5", "A-6"], None);
    let first_seated = ctx.hold(&id, &seat_body, Some(&seat_key)).await;
    let seated = first_seated.expect_status(201).clone();
    let again = ctx.hold(&id, &seat_body, Some(&seat_key)).await;
    assert_eq!(
        again.expect_status(201)["hold_id"],
        seated["hold_id"],
        "{again}"
    );
    let a = ctx.section(&id, "A").await;
    assert_eq!(num(&a, "held"), 2, "{a}");

    // A different key is a different request.
    let other = ctx
        .hold(&id, &body, Some(&format!("k-{}", random_hex())))
        .await;
    assert_ne!(
        other.expect_status(201)["hold_id"],
        json!(hold_id),
        "{other}"
    );
    let floor = ctx.section(&id, "floor").await;
    assert_eq!(num(&floor, "held"), 4, "{floor}");
}

#[tokio::test]
async fn same_idempotency_key_with_another_body_is_422() {
    let ctx = Ctx::new("idem_reused");
    let (id, _) = ctx.create_event(&mixed_event(None)).await;
    let key = format!("k-{}", random_hex());
    ctx.hold(&id, &qty("floor", 2, Some("c-1")), Some(&key))
        .await
        .expect_status(201);
    for other in [
        qty("floor", 3, Some("c-1")),
        qty("floor", 2, Some("c-2")),
        qty("floor", 2, None),
        seats("A", &["A-1"], Some("c-1")),
    ] {
        ctx.hold(&id, &other, Some(&key))
            .await
            .expect_problem(422, "idempotency-key-reused");
    }
    let avail = ctx.availability(&id).await;
    assert_totals(&avail);
    assert_eq!(num(section_of(&avail, "floor"), "held"), 2, "{avail}");
    assert_eq!(num(section_of(&avail, "A"), "held"), 0, "{avail}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn racing_requests_with_one_idempotency_key_make_one_hold() {
    let ctx = Ctx::new("idem_race");
    let (id, _) = ctx.create_event(&general_event(100)).await;
    const ROUNDS: usize = 5;
    const RACERS: usize = 8;
    for round in 0..ROUNDS {
        let key = format!("race-{round}-{}", random_hex());
        let body = qty("floor", 3, Some(&format!("c-{round}")));
        let replies = run_concurrently(RACERS, RACERS, |_| {
            let (ctx, id, key, body) = (ctx.clone(), id.clone(), key.clone(), body.clone());
            async move { ctx.hold(&id, &body, Some(&key)).await }
        })
        .await;
        let mut hold_ids = std::collections::BTreeSet::new();
        for reply in &replies {
            match reply.code() {
                201 => {
                    reply.expect_status(201);
                    hold_ids.insert(assert_opaque_id(&reply.body["hold_id"], reply));
                }
                // Racing twins all get the one hold (the home shard's CAS
                // decides); only a store in trouble may ask for a retry.
                _ => assert!(
                    reply.is_retryable_503(),
                    "unexpected answer in round {round}:{reply}"
                ),
            }
        }
        assert_eq!(
            hold_ids.len(),
            1,
            "round {round}: expected exactly one hold id among the 201s: {hold_ids:?}"
        );
        let floor = ctx.section(&id, "floor").await;
        assert_eq!(
            num(&floor, "held"),
            3 * (round as u64 + 1),
            "round {round}: {floor}"
        );
        // Once settled, the key replays the one hold.
        let replay = ctx.hold(&id, &body, Some(&key)).await;
        let replayed = assert_opaque_id(&replay.expect_status(201)["hold_id"], &replay);
        assert_eq!(
            Some(&replayed),
            hold_ids.first(),
            "replay after the race:{replay}"
        );
    }
}
