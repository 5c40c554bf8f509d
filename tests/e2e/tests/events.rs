//! `PUT /events/:id`, `GET /events/:id` and `GET /events/:id/availability`.

use booking_e2e::*;

fn two_section_event() -> Value {
    json!({
        "name": "Spring concert",
        "hold_ttl_seconds": 300,
        "max_per_customer": 8,
        "sections": [
            { "id": "floor", "capacity": 500 },
            { "id": "A", "seats": ["A-1", "A-2"] },
        ],
    })
}

/// Checks that an event body reflects `def` (the members the contract names).
fn assert_event_matches(body: &Value, event_id: &str, def: &Value, ttl: u64) {
    assert_eq!(body["event_id"], json!(event_id), "event_id in {body}");
    assert_eq!(body["name"], def["name"], "name in {body}");
    assert_eq!(
        body["hold_ttl_seconds"],
        json!(ttl),
        "hold_ttl_seconds in {body}"
    );
    if let Some(max) = def.get("max_per_customer") {
        assert_eq!(body["max_per_customer"], *max, "max_per_customer in {body}");
    }
    let got = body["sections"]
        .as_array()
        .unwrap_or_else(|| panic!("sections should be an array in {body}"));
    let want = def["sections"].as_array().expect("definition has sections");
    assert_eq!(got.len(), want.len(), "number of sections in {body}");
    for (g, w) in got.iter().zip(want) {
        assert_eq!(g["id"], w["id"], "section id in {body}");
        if let Some(capacity) = w.get("capacity") {
            assert_eq!(g["capacity"], *capacity, "capacity of {g}");
            assert!(absent(g, "seats"), "general section lists seats: {g}");
        } else {
            assert_eq!(
                string_set(&g["seats"]),
                string_set(&w["seats"]),
                "seats of {g}"
            );
            assert!(
                absent(g, "capacity")
                    || g["capacity"] == json!(w["seats"].as_array().map(Vec::len)),
                "seated section with a foreign capacity: {g}"
            );
        }
        if let Some(shards) = w.get("shards") {
            assert_eq!(g["shards"], *shards, "shards of {g}");
        }
    }
}

#[tokio::test]
async fn put_creates_201_and_get_returns_the_definition() {
    let ctx = Ctx::new("put_creates");
    let def = two_section_event();
    let id = ctx.event_id("ev");
    let created = ctx.put_event(&id, &def).await;
    let body = created.expect_status(201).clone();
    assert_event_matches(&body, &id, &def, 300);

    let got = ctx.get_event(&id).await;
    assert_event_matches(got.expect_status(200), &id, &def, 300);
    assert_eq!(got.body, body, "GET should return what PUT created");
}

#[tokio::test]
async fn same_definition_again_is_200_and_a_different_one_is_409() {
    let ctx = Ctx::new("put_idempotent");
    let def = two_section_event();
    let id = ctx.event_id("ev");
    let first = ctx.put_event(&id, &def).await;
    first.expect_status(201);

    let again = ctx.put_event(&id, &def).await;
    assert_event_matches(again.expect_status(200), &id, &def, 300);

    let mut renamed = def.clone();
    renamed["name"] = json!("Another name");
    ctx.put_event(&id, &renamed)
        .await
        .expect_problem(409, "event-conflict");

    let mut bigger = def.clone();
    bigger["sections"][0]["capacity"] = json!(501);
    ctx.put_event(&id, &bigger)
        .await
        .expect_problem(409, "event-conflict");

    let mut fewer_seats = def.clone();
    fewer_seats["sections"][1]["seats"] = json!(["A-1"]);
    ctx.put_event(&id, &fewer_seats)
        .await
        .expect_problem(409, "event-conflict");

    let mut ttl = def.clone();
    ttl["hold_ttl_seconds"] = json!(60);
    ctx.put_event(&id, &ttl)
        .await
        .expect_problem(409, "event-conflict");

    // The original definition is untouched.
    let got = ctx.get_event(&id).await;
    assert_event_matches(got.expect_status(200), &id, &def, 300);
    // And the same definition is still accepted after the conflicts.
    ctx.put_event(&id, &def).await.expect_status(200);
}

#[tokio::test]
async fn optional_fields_take_their_defaults() {
    let ctx = Ctx::new("put_defaults");
    let def = json!({ "name": "Defaults", "sections": [{ "id": "floor", "capacity": 3 }] });
    let (id, body) = ctx.create_event(&def).await;
    assert_event_matches(&body, &id, &def, 300);
    assert!(
        absent(&body, "max_per_customer"),
        "max_per_customer was not given: {body}"
    );
    // No per-customer limit: one customer may take everything.
    ctx.hold_ok(&id, &qty("floor", 3, Some("c-1"))).await;
}

#[tokio::test]
async fn put_without_the_admin_token_is_401_and_creates_nothing() {
    let ctx = Ctx::new("put_auth");
    let id = ctx.event_id("ev");
    let body = serde_json::to_vec(&general_event(5)).expect("serialize");
    let wrong = format!("Bearer {}x", ctx.admin_token);
    let basic = format!("Basic {}", ctx.admin_token);
    let lower = format!("bearer{}", ctx.admin_token);
    for auth in [
        None,
        Some(wrong.as_str()),
        Some("Bearer "),
        Some(basic.as_str()),
        Some(lower.as_str()),
        Some(""),
    ] {
        let reply = ctx.put_event_raw(&id, body.clone(), auth).await;
        reply.expect_problem_status(401);
        ctx.get_event(&id).await.expect_problem_status(404);
    }
    ctx.send(ctx.request(Method::GET, &format!("/events/{id}/availability")))
        .await
        .expect_problem_status(404);
    // The right token works.
    ctx.put_event_raw(&id, body, Some(&ctx.bearer()))
        .await
        .expect_status(201);
}

#[tokio::test]
async fn get_unknown_event_is_404() {
    let ctx = Ctx::new("get_unknown");
    let id = ctx.event_id("never-created");
    ctx.get_event(&id).await.expect_problem_status(404);
    ctx.send(ctx.request(Method::GET, &format!("/events/{id}/availability")))
        .await
        .expect_problem_status(404);
}

/// Path segments that are not valid ids (already percent-encoded).
fn bad_path_ids() -> Vec<String> {
    vec![
        "bad%20id".to_owned(),
        "a".repeat(65),
        "-leading-dash".to_owned(),
        "_leading-underscore".to_owned(),
        ".leading-dot".to_owned(),
        "caf%C3%A9".to_owned(),
        "a%2Fb".to_owned(),
        "semi%3Bcolon".to_owned(),
    ]
}

#[tokio::test]
async fn invalid_event_ids_in_the_path_are_404_and_creating_one_is_400() {
    let ctx = Ctx::new("bad_path_ids");
    let def = general_event(5);
    for id in bad_path_ids() {
        // Creating one is a client error that names the id rule.
        let put = ctx.put_event(&id, &def).await;
        put.expect_problem_status(400);
        assert!(
            put.body["detail"]
                .as_str()
                .unwrap_or_default()
                .contains("must match"),
            "{put}"
        );
        ctx.get_event(&id).await.expect_problem_status(404);
        ctx.send(ctx.request(Method::GET, &format!("/events/{id}/availability")))
            .await
            .expect_problem_status(404);
        ctx.hold(&id, &qty("floor", 1, None), None)
            .await
            .expect_problem_status(404);
    }
    // 64 characters is still a valid id.
    let long = format!("{}-{}", random_hex(), "x".repeat(47));
    assert_eq!(long.len(), 64);
    ctx.put_event(&long, &def).await.expect_status(201);
    ctx.get_event(&long).await.expect_status(200);
}

#[tokio::test]
async fn malformed_json_is_400() {
    let ctx = Ctx::new("put_malformed");
    for body in [
        "{",
        "not json",
        "",
        "{\"name\": \"x\",}",
        "{\"name\": \"x\" \"sections\": []}",
    ] {
        let id = ctx.event_id("ev");
        let reply = ctx.put_event_raw(&id, body, Some(&ctx.bearer())).await;
        reply.expect_problem_status(400);
        ctx.get_event(&id).await.expect_problem_status(404);
    }
}

fn with(mut def: Value, key: &str, value: Value) -> Value {
    def[key] = value;
    def
}

fn with_sections(sections: Value) -> Value {
    json!({ "name": "Rules", "hold_ttl_seconds": 300, "sections": sections })
}

/// `n` distinct short seat ids (3 characters each, to stay under 64 KiB).
fn short_seat_ids(n: usize) -> Vec<String> {
    const ALPHABET: &[u8] = b"0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ";
    let k = ALPHABET.len();
    (0..n)
        .map(|i| {
            [i / (k * k), (i / k) % k, i % k]
                .iter()
                .map(|&d| ALPHABET[d] as char)
                .collect()
        })
        .collect()
}

#[tokio::test]
async fn rule_violations_are_422() {
    let ctx = Ctx::new("put_rules");
    let base = general_event(10);
    let many_sections: Vec<Value> = (0..101)
        .map(|i| json!({ "id": format!("s{i}"), "capacity": 1 }))
        .collect();
    let cases: Vec<(&str, Value)> = vec![
        ("empty name", with(base.clone(), "name", json!(""))),
        (
            "name of 201 chars",
            with(base.clone(), "name", json!("n".repeat(201))),
        ),
        ("ttl 0", with(base.clone(), "hold_ttl_seconds", json!(0))),
        (
            "ttl 86401",
            with(base.clone(), "hold_ttl_seconds", json!(86_401)),
        ),
        (
            "max_per_customer 0",
            with(base.clone(), "max_per_customer", json!(0)),
        ),
        (
            "max_per_customer 1001",
            with(base.clone(), "max_per_customer", json!(1001)),
        ),
        (
            "capacity 0",
            with_sections(json!([{ "id": "floor", "capacity": 0 }])),
        ),
        (
            "capacity 1000001",
            with_sections(json!([{ "id": "floor", "capacity": 1_000_001 }])),
        ),
        (
            "shards 0",
            with_sections(json!([{ "id": "floor", "capacity": 10, "shards": 0 }])),
        ),
        (
            "more shards than units",
            with_sections(json!([{ "id": "floor", "capacity": 7, "shards": 8 }])),
        ),
        (
            "shards 1001",
            with_sections(json!([{ "id": "floor", "capacity": 1_000_000, "shards": 1001 }])),
        ),
        (
            "over 1000 units per shard",
            with_sections(json!([{ "id": "floor", "capacity": 5_000, "shards": 4 }])),
        ),
        (
            "capacity and seats",
            with_sections(json!([{ "id": "A", "capacity": 2, "seats": ["A-1", "A-2"] }])),
        ),
        (
            "neither capacity nor seats",
            with_sections(json!([{ "id": "A" }])),
        ),
        (
            "no seats",
            with_sections(json!([{ "id": "A", "seats": [] }])),
        ),
        (
            "duplicate seats",
            with_sections(json!([{ "id": "A", "seats": ["A-1", "A-2", "A-1"] }])),
        ),
        (
            "10001 seats",
            with_sections(json!([{ "id": "A", "seats": short_seat_ids(10_001) }])),
        ),
        ("no sections", with_sections(json!([]))),
        ("101 sections", with_sections(json!(many_sections))),
        (
            "duplicate section ids",
            with_sections(json!([{ "id": "A", "capacity": 1 }, { "id": "A", "seats": ["A-1"] }])),
        ),
    ];
    let mut results = Cases::default();
    for (label, def) in cases {
        let id = ctx.event_id("ev");
        let body = serde_json::to_vec(&def).expect("serialize");
        assert!(body.len() <= BODY_LIMIT, "{label}: test body too large");
        let reply = ctx.put_event(&id, &def).await;
        let after = ctx.get_event(&id).await;
        results.check(label, || {
            reply.expect_problem_status(422);
            after.expect_problem_status(404);
        });
    }
    results.finish();
}

#[tokio::test]
async fn missing_or_mistyped_fields_are_rejected() {
    let ctx = Ctx::new("put_shape");
    let cases: Vec<(&str, Value)> = vec![
        (
            "no name",
            json!({ "sections": [{ "id": "floor", "capacity": 1 }] }),
        ),
        ("no sections", json!({ "name": "x" })),
        (
            "negative capacity",
            with_sections(json!([{ "id": "floor", "capacity": -1 }])),
        ),
        (
            "string capacity",
            with_sections(json!([{ "id": "floor", "capacity": "ten" }])),
        ),
        ("array body", json!([1, 2])),
    ];
    let mut results = Cases::default();
    for (label, def) in cases {
        let id = ctx.event_id("ev");
        let reply = ctx.put_event(&id, &def).await;
        let after = ctx.get_event(&id).await;
        results.check(label, || {
            reply.expect_problem_in(&[400, 422]);
            after.expect_problem_status(404);
        });
    }
    results.finish();
}

#[tokio::test]
async fn invalid_ids_inside_the_body_are_400() {
    let ctx = Ctx::new("put_body_ids");
    let cases: Vec<(&str, Value)> = vec![
        (
            "section id with space",
            with_sections(json!([{ "id": "bad id", "capacity": 1 }])),
        ),
        (
            "section id leading dash",
            with_sections(json!([{ "id": "-a", "capacity": 1 }])),
        ),
        (
            "section id 65 chars",
            with_sections(json!([{ "id": "s".repeat(65), "capacity": 1 }])),
        ),
        (
            "empty section id",
            with_sections(json!([{ "id": "", "capacity": 1 }])),
        ),
        (
            "seat id with space",
            with_sections(json!([{ "id": "A", "seats": ["A 1"] }])),
        ),
        (
            "seat id non-ascii",
            with_sections(json!([{ "id": "A", "seats": ["caf\u{e9}"] }])),
        ),
        (
            "seat id with slash",
            with_sections(json!([{ "id": "A", "seats": ["A/1"] }])),
        ),
        (
            "seat id 65 chars",
            with_sections(json!([{ "id": "A", "seats": ["s".repeat(65)] }])),
        ),
    ];
    let mut results = Cases::default();
    for (label, def) in cases {
        let id = ctx.event_id("ev");
        let reply = ctx.put_event(&id, &def).await;
        let after = ctx.get_event(&id).await;
        results.check(label, || {
            reply.expect_problem_status(400);
            after.expect_problem_status(404);
        });
    }
    results.finish();
}

#[tokio::test]
async fn boundary_values_are_accepted() {
    let ctx = Ctx::new("put_bounds");
    let id64 = "i".repeat(64);
    let hundred: Vec<Value> = (0..100)
        .map(|i| json!({ "id": format!("s{i}"), "capacity": 1 }))
        .collect();
    let cases: Vec<(&str, Value)> = vec![
        (
            "name of 200 chars",
            with(general_event(1), "name", json!("n".repeat(200))),
        ),
        (
            "ttl 1",
            with(general_event(1), "hold_ttl_seconds", json!(1)),
        ),
        (
            "ttl 86400",
            with(general_event(1), "hold_ttl_seconds", json!(86_400)),
        ),
        (
            "max_per_customer 1",
            with(general_event(1), "max_per_customer", json!(1)),
        ),
        (
            "max_per_customer 1000",
            with(general_event(1), "max_per_customer", json!(1000)),
        ),
        (
            "capacity 1",
            with_sections(json!([{ "id": "floor", "capacity": 1 }])),
        ),
        (
            "capacity 1000000 in 1000 shards",
            with_sections(json!([{ "id": "floor", "capacity": 1_000_000, "shards": 1000 }])),
        ),
        (
            "capacity 1000000",
            with_sections(json!([{ "id": "floor", "capacity": 1_000_000 }])),
        ),
        (
            "64 shards",
            with_sections(json!([{ "id": "floor", "capacity": 64, "shards": 64 }])),
        ),
        (
            "one unit per shard",
            with_sections(json!([{ "id": "floor", "capacity": 7, "shards": 7 }])),
        ),
        (
            "1 shard",
            with_sections(json!([{ "id": "floor", "capacity": 5, "shards": 1 }])),
        ),
        (
            "64-char ids",
            with_sections(json!([{ "id": id64, "seats": [id64] }])),
        ),
        ("100 sections", with_sections(json!(hundred))),
        (
            "10000 seats",
            with_sections(json!([{ "id": "A", "seats": short_seat_ids(10_000) }])),
        ),
    ];
    let mut results = Cases::default();
    for (label, def) in cases {
        let id = ctx.event_id("ev");
        let reply = ctx.put_event(&id, &def).await;
        let ttl = def
            .get("hold_ttl_seconds")
            .and_then(Value::as_u64)
            .unwrap_or(300);
        let created = reply.code() == 201;
        results.check(label, || {
            reply.expect_status(201);
            assert_event_matches(&reply.body, &id, &def, ttl);
        });
        if !created {
            continue;
        }
        let avail = ctx.availability(&id).await;
        results.check(label, || check_fresh_availability(label, &def, &avail));
    }
    results.finish();
}

fn check_fresh_availability(label: &str, def: &Value, avail: &Value) {
    assert_totals(avail);
    let sections = avail["sections"].as_array().expect("sections array");
    assert_eq!(
        sections.len(),
        def["sections"].as_array().map_or(0, Vec::len),
        "{label}: {avail}"
    );
    for (s, d) in sections
        .iter()
        .zip(def["sections"].as_array().expect("sections"))
    {
        assert_eq!(s["id"], d["id"], "{label}: section order");
        let capacity = d
            .get("capacity")
            .cloned()
            .unwrap_or_else(|| json!(d["seats"].as_array().map(Vec::len)));
        assert_eq!(s["capacity"], capacity, "{label}: capacity of {}", s["id"]);
        assert_eq!(
            s["available"], capacity,
            "{label}: available of {}",
            s["id"]
        );
    }
}

#[tokio::test]
async fn availability_of_a_new_event() {
    let ctx = Ctx::new("avail_new");
    let (id, _) = ctx.create_event(&two_section_event()).await;
    let avail = ctx.availability(&id).await;
    assert_totals(&avail);
    assert!(time_of(&avail, "as_of") > 1.6e9, "as_of in {avail}");
    let sections = avail["sections"].as_array().expect("sections array");
    assert_eq!(sections.len(), 2, "{avail}");

    let floor = section_of(&avail, "floor");
    assert_eq!(floor["kind"], json!("general"), "{floor}");
    assert_eq!(
        (
            num(floor, "capacity"),
            num(floor, "available"),
            num(floor, "held"),
            num(floor, "sold")
        ),
        (500, 500, 0, 0),
        "{floor}"
    );
    assert!(
        absent(floor, "available_seats"),
        "general section lists seats: {floor}"
    );

    let a = section_of(&avail, "A");
    assert_eq!(a["kind"], json!("seated"), "{a}");
    assert_eq!(
        (
            num(a, "capacity"),
            num(a, "available"),
            num(a, "held"),
            num(a, "sold")
        ),
        (2, 2, 0, 0),
        "{a}"
    );
    assert_eq!(
        string_set(&a["available_seats"]),
        set_of(&["A-1", "A-2"]),
        "{a}"
    );
}

#[tokio::test]
async fn availability_tracks_holds_and_sales_per_section() {
    let ctx = Ctx::new("avail_tracks");
    let (id, _) = ctx.create_event(&two_section_event()).await;
    let h1 = ctx.hold_ok(&id, &qty("floor", 3, None)).await;
    let h2 = ctx.hold_ok(&id, &seats("A", &["A-2"], None)).await;
    let h3 = ctx.hold_ok(&id, &qty("floor", 4, None)).await;
    ctx.confirm(h1["hold_id"].as_str().expect("hold_id"), "pay-1")
        .await
        .expect_status(200);
    ctx.confirm(h2["hold_id"].as_str().expect("hold_id"), "pay-2")
        .await
        .expect_status(200);
    let _ = h3;
    let avail = ctx.availability(&id).await;
    assert_totals(&avail);
    let floor = section_of(&avail, "floor");
    assert_eq!(
        (
            num(floor, "available"),
            num(floor, "held"),
            num(floor, "sold")
        ),
        (493, 4, 3),
        "{floor}"
    );
    let a = section_of(&avail, "A");
    assert_eq!(
        (num(a, "available"), num(a, "held"), num(a, "sold")),
        (1, 0, 1),
        "{a}"
    );
    assert_eq!(string_set(&a["available_seats"]), set_of(&["A-1"]), "{a}");
}

#[tokio::test]
async fn path_ids_are_percent_decoded_once() {
    let ctx = Ctx::new("pct_ids");
    let (id, _) = ctx.create_event(&general_event(5)).await;
    // The same id with its dashes percent-encoded names the same event.
    let encoded = id.replace('-', "%2D");
    assert_ne!(encoded, id, "the test's ids contain a dash");
    let plain = ctx
        .send(ctx.request(Method::GET, &format!("/events/{id}")))
        .await;
    let same = ctx
        .send(ctx.request(Method::GET, &format!("/events/{encoded}")))
        .await;
    assert_eq!((plain.code(), same.code()), (200, 200), "{same}");
    assert_eq!(plain.body, same.body, "{same}");
    // Decoded once only: %252D is the three characters %2D, not a dash.
    let twice = id.replace('-', "%252D");
    ctx.send(ctx.request(Method::GET, &format!("/events/{twice}")))
        .await
        .expect_problem_status(404);
}
