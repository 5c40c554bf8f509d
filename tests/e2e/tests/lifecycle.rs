//! A hold's life: `GET /holds/:id`, confirm, release (POST and DELETE),
//! expiry, and selling released or expired inventory again.

use std::time::Duration;

use booking_e2e::*;

fn mixed_event(ttl: u32) -> Value {
    json!({
        "name": "Lifecycle",
        "hold_ttl_seconds": ttl,
        "sections": [
            { "id": "floor", "capacity": 4 },
            { "id": "A", "seats": seat_ids("A", 4) },
        ],
    })
}

fn id_of(hold: &Value) -> String {
    hold["hold_id"]
        .as_str()
        .unwrap_or_else(|| panic!("no hold_id in {hold}"))
        .to_owned()
}

#[tokio::test]
async fn unknown_or_malformed_hold_ids_are_404() {
    let ctx = Ctx::new("hold_ids_404");
    let (id, _) = ctx.create_event(&mixed_event(300)).await;
    let real = id_of(&ctx.hold_ok(&id, &qty("floor", 1, None)).await);
    let mut ids = vec![
        format!("h-{}", random_hex()),
        "bad%20id".to_owned(),
        "a".repeat(201),
        "caf%C3%A9".to_owned(),
        "a%2Fb".to_owned(),
        "a%00b".to_owned(),
    ];
    // A well-formed id that starts like the real one but is not it.
    ids.push(format!("{real}x"));
    for hold_id in ids {
        ctx.get_hold(&hold_id).await.expect_problem_status(404);
        ctx.confirm(&hold_id, "pay-1")
            .await
            .expect_problem_status(404);
        ctx.release(&hold_id).await.expect_problem_status(404);
        ctx.delete_hold(&hold_id).await.expect_problem_status(404);
    }
    // The real hold was not touched by any of that.
    assert_eq!(ctx.hold_status(&real).await, "held");
    let floor = ctx.section(&id, "floor").await;
    assert_eq!(
        (num(&floor, "held"), num(&floor, "sold")),
        (1, 0),
        "{floor}"
    );
}

#[tokio::test]
async fn confirm_is_200_and_repeating_it_returns_the_same_booking() {
    let ctx = Ctx::new("confirm_general");
    let (id, _) = ctx.create_event(&mixed_event(300)).await;
    let hold = ctx.hold_ok(&id, &qty("floor", 3, Some("c-1"))).await;
    let hold_id = id_of(&hold);
    let reply = ctx.confirm(&hold_id, "pay-123").await;
    let booking = reply.expect_status(200).clone();
    let booking_id = assert_opaque_id(&booking["booking_id"], &reply);
    assert_eq!(booking["hold_id"], json!(hold_id), "{reply}");
    assert_eq!(booking["event_id"], json!(id), "{reply}");
    assert_eq!(booking["section"], json!("floor"), "{reply}");
    assert_eq!(booking["quantity"], json!(3), "{reply}");
    assert_eq!(booking["status"], json!("confirmed"), "{reply}");
    assert_eq!(booking["payment_ref"], json!("pay-123"), "{reply}");
    assert!(
        absent(&booking, "seats"),
        "general booking lists seats:{reply}"
    );

    let floor = ctx.section(&id, "floor").await;
    assert_eq!(
        (
            num(&floor, "available"),
            num(&floor, "held"),
            num(&floor, "sold")
        ),
        (1, 0, 3),
        "{floor}"
    );

    for _ in 0..2 {
        let again = ctx.confirm(&hold_id, "pay-123").await;
        assert_eq!(
            again.expect_status(200)["booking_id"],
            json!(booking_id),
            "{again}"
        );
        assert_eq!(again.body["status"], json!("confirmed"), "{again}");
    }
    let got = ctx.get_hold(&hold_id).await;
    let body = got.expect_status(200);
    assert_eq!(body["status"], json!("confirmed"), "{got}");
    assert_eq!(body["booking_id"], json!(booking_id), "{got}");
    assert_eq!(body["quantity"], json!(3), "{got}");
    assert_eq!(body["customer_id"], json!("c-1"), "{got}");

    let floor = ctx.section(&id, "floor").await;
    assert_eq!(
        num(&floor, "sold"),
        3,
        "repeated confirms sold more: {floor}"
    );
}

#[tokio::test]
async fn confirming_a_seated_hold_sells_its_seats() {
    let ctx = Ctx::new("confirm_seated");
    let (id, _) = ctx.create_event(&mixed_event(300)).await;
    let hold_id = id_of(&ctx.hold_ok(&id, &seats("A", &["A-2", "A-4"], None)).await);
    let reply = ctx.confirm(&hold_id, "pay-9").await;
    let booking = reply.expect_status(200);
    assert_eq!(
        string_set(&booking["seats"]),
        set_of(&["A-2", "A-4"]),
        "{reply}"
    );
    assert_eq!(booking["quantity"], json!(2), "{reply}");
    assert_eq!(booking["section"], json!("A"), "{reply}");
    let a = ctx.section(&id, "A").await;
    assert_eq!(
        (num(&a, "available"), num(&a, "held"), num(&a, "sold")),
        (2, 0, 2),
        "{a}"
    );
    assert_eq!(
        string_set(&a["available_seats"]),
        set_of(&["A-1", "A-3"]),
        "{a}"
    );
    ctx.hold(&id, &seats("A", &["A-2"], None), None)
        .await
        .expect_problem(409, "seats-unavailable");
}

#[tokio::test]
async fn invalid_payment_refs_are_refused() {
    let ctx = Ctx::new("confirm_invalid");
    let (id, _) = ctx.create_event(&mixed_event(300)).await;
    let hold_id = id_of(&ctx.hold_ok(&id, &qty("floor", 1, None)).await);
    // With the confirm token: the body is what is refused, not the caller.
    for raw in ["{", "nope", "", "{\"payment_ref\": }"] {
        ctx.confirm_raw(&hold_id, raw)
            .await
            .expect_problem_status(400);
    }
    let bad = [
        json!({ "payment_ref": "" }),
        json!({ "payment_ref": "p".repeat(129) }),
        json!({ "payment_ref": "caf\u{e9}" }),
        json!({ "payment_ref": "tab\there" }),
        json!({ "payment_ref": "new\nline" }),
        json!({ "payment_ref": 42 }),
        json!({}),
    ];
    for body in bad {
        let reply = ctx.confirm_json(&hold_id, &body).await;
        reply.expect_problem_in(&[400, 422]);
    }
    assert_eq!(ctx.hold_status(&hold_id).await, "held");
    let floor = ctx.section(&id, "floor").await;
    assert_eq!(num(&floor, "sold"), 0, "{floor}");
    // 128 printable characters are fine.
    let long = format!("~!\"#$%&'()*+,-./:;<=>?@[\\]^_`{{|}}{}", "p".repeat(128));
    let reply = ctx.confirm(&hold_id, &long[..128]).await;
    assert_eq!(
        reply.expect_status(200)["payment_ref"],
        json!(&long[..128]),
        "{reply}"
    );
}

#[tokio::test]
async fn release_and_delete_are_200_and_repeatable() {
    let ctx = Ctx::new("release_ok");
    let (id, _) = ctx.create_event(&mixed_event(300)).await;
    let h1 = id_of(&ctx.hold_ok(&id, &qty("floor", 2, None)).await);
    let h2 = id_of(&ctx.hold_ok(&id, &seats("A", &["A-1"], None)).await);

    for _ in 0..2 {
        let reply = ctx.release(&h1).await;
        let body = reply.expect_status(200);
        assert_eq!(body["hold_id"], json!(h1), "{reply}");
        assert_eq!(body["status"], json!("released"), "{reply}");
    }
    for _ in 0..2 {
        let reply = ctx.delete_hold(&h2).await;
        let body = reply.expect_status(200);
        assert_eq!(body["hold_id"], json!(h2), "{reply}");
        assert_eq!(body["status"], json!("released"), "{reply}");
    }
    // Either form after the other is still fine.
    ctx.delete_hold(&h1).await.expect_status(200);
    ctx.release(&h2).await.expect_status(200);

    assert_eq!(ctx.hold_status(&h1).await, "released");
    assert_eq!(ctx.hold_status(&h2).await, "released");
    let avail = ctx.availability(&id).await;
    assert_totals(&avail);
    let floor = section_of(&avail, "floor");
    assert_eq!(
        (num(floor, "available"), num(floor, "held")),
        (4, 0),
        "{floor}"
    );
    let a = section_of(&avail, "A");
    assert_eq!((num(a, "available"), num(a, "held")), (4, 0), "{a}");
    assert!(string_set(&a["available_seats"]).contains("A-1"), "{a}");
}

#[tokio::test]
async fn confirming_a_released_hold_is_409() {
    let ctx = Ctx::new("confirm_released");
    let (id, _) = ctx.create_event(&mixed_event(300)).await;
    let hold_id = id_of(&ctx.hold_ok(&id, &qty("floor", 1, None)).await);
    ctx.release(&hold_id).await.expect_status(200);
    ctx.confirm(&hold_id, "pay-1")
        .await
        .expect_problem(409, "hold-released");
    assert_eq!(ctx.hold_status(&hold_id).await, "released");
    let floor = ctx.section(&id, "floor").await;
    assert_eq!(
        (num(&floor, "available"), num(&floor, "sold")),
        (4, 0),
        "{floor}"
    );
}

#[tokio::test]
async fn releasing_a_confirmed_hold_is_409() {
    let ctx = Ctx::new("release_confirmed");
    let (id, _) = ctx.create_event(&mixed_event(300)).await;
    let hold_id = id_of(&ctx.hold_ok(&id, &seats("A", &["A-3"], None)).await);
    ctx.confirm(&hold_id, "pay-1").await.expect_status(200);
    ctx.release(&hold_id)
        .await
        .expect_problem(409, "hold-confirmed");
    ctx.delete_hold(&hold_id)
        .await
        .expect_problem(409, "hold-confirmed");
    assert_eq!(ctx.hold_status(&hold_id).await, "confirmed");
    let a = ctx.section(&id, "A").await;
    assert_eq!((num(&a, "sold"), num(&a, "held")), (1, 0), "{a}");
    assert!(!string_set(&a["available_seats"]).contains("A-3"), "{a}");
}

#[tokio::test]
async fn released_inventory_is_sellable_at_once() {
    let ctx = Ctx::new("release_rebuy");
    let (id, _) = ctx.create_event(&mixed_event(300)).await;
    let floor_hold = id_of(&ctx.hold_ok(&id, &qty("floor", 4, Some("c-1"))).await);
    let seat_hold = id_of(
        &ctx.hold_ok(&id, &seats("A", &["A-1", "A-2"], Some("c-1")))
            .await,
    );
    ctx.hold(&id, &qty("floor", 1, None), None)
        .await
        .expect_problem(409, "sold-out");
    ctx.hold(&id, &seats("A", &["A-2"], None), None)
        .await
        .expect_problem(409, "seats-unavailable");

    ctx.release(&floor_hold).await.expect_status(200);
    ctx.delete_hold(&seat_hold).await.expect_status(200);

    // No waiting: the very next requests get the inventory.
    let again = ctx.hold_ok(&id, &qty("floor", 4, Some("c-2"))).await;
    let seats_again = ctx
        .hold_ok(&id, &seats("A", &["A-1", "A-2"], Some("c-2")))
        .await;
    ctx.confirm(&id_of(&again), "pay-1")
        .await
        .expect_status(200);
    ctx.confirm(&id_of(&seats_again), "pay-2")
        .await
        .expect_status(200);
    let avail = ctx.availability(&id).await;
    assert_totals(&avail);
    let floor = section_of(&avail, "floor");
    assert_eq!(
        (
            num(floor, "available"),
            num(floor, "held"),
            num(floor, "sold")
        ),
        (0, 0, 4),
        "{floor}"
    );
    let a = section_of(&avail, "A");
    assert_eq!(
        (num(a, "available"), num(a, "held"), num(a, "sold")),
        (2, 0, 2),
        "{a}"
    );
    assert_eq!(
        string_set(&a["available_seats"]),
        set_of(&["A-3", "A-4"]),
        "{a}"
    );
}

#[tokio::test]
async fn expired_holds_free_their_inventory_and_cannot_be_confirmed() {
    let ctx = Ctx::new("expiry");
    let (id, body) = ctx.create_event(&mixed_event(1)).await;
    assert_eq!(body["hold_ttl_seconds"], json!(1), "{body}");
    let seat_hold = ctx
        .hold_ok(&id, &seats("A", &["A-1", "A-2"], Some("c-1")))
        .await;
    let floor_hold = ctx.hold_ok(&id, &qty("floor", 4, Some("c-1"))).await;
    let (seat_id, floor_id) = (id_of(&seat_hold), id_of(&floor_hold));
    let ttl = time_of(&seat_hold, "expires_at") - time_of(&ctx.availability(&id).await, "as_of");
    assert!(ttl < 2.0, "expires_at more than 1 s ahead: {seat_hold}");

    tokio::time::sleep(Duration::from_millis(2200)).await;

    assert_eq!(ctx.hold_status(&seat_id).await, "expired");
    assert_eq!(ctx.hold_status(&floor_id).await, "expired");
    let avail = ctx.availability(&id).await;
    assert_totals(&avail);
    let floor = section_of(&avail, "floor");
    assert_eq!(
        (
            num(floor, "available"),
            num(floor, "held"),
            num(floor, "sold")
        ),
        (4, 0, 0),
        "{floor}"
    );
    let a = section_of(&avail, "A");
    assert_eq!((num(a, "available"), num(a, "held")), (4, 0), "{a}");
    assert_eq!(
        string_set(&a["available_seats"]),
        set_of(&["A-1", "A-2", "A-3", "A-4"]),
        "{a}"
    );

    ctx.confirm(&seat_id, "pay-1")
        .await
        .expect_problem(410, "hold-expired");
    ctx.confirm(&floor_id, "pay-2")
        .await
        .expect_problem(410, "hold-expired");

    // The same seats and units sell again.
    let new_seats = ctx
        .hold_ok(&id, &seats("A", &["A-1", "A-2"], Some("c-2")))
        .await;
    let new_floor = ctx.hold_ok(&id, &qty("floor", 4, Some("c-2"))).await;
    ctx.confirm(&id_of(&new_seats), "pay-3")
        .await
        .expect_status(200);
    ctx.confirm(&id_of(&new_floor), "pay-4")
        .await
        .expect_status(200);
    // The old holds stay expired and still cannot be confirmed.
    assert_eq!(ctx.hold_status(&seat_id).await, "expired");
    ctx.confirm(&seat_id, "pay-1")
        .await
        .expect_problem(410, "hold-expired");
    let avail = ctx.availability(&id).await;
    assert_totals(&avail);
    assert_eq!(num(section_of(&avail, "floor"), "sold"), 4, "{avail}");
    assert_eq!(num(section_of(&avail, "A"), "sold"), 2, "{avail}");
}

#[tokio::test]
async fn expired_holds_do_not_count_against_the_customer_limit() {
    let ctx = Ctx::new("expiry_limit");
    let mut def = mixed_event(1);
    def["max_per_customer"] = json!(2);
    let (id, _) = ctx.create_event(&def).await;
    ctx.hold_ok(&id, &qty("floor", 2, Some("c-1"))).await;
    ctx.hold(&id, &qty("floor", 1, Some("c-1")), None)
        .await
        .expect_problem(409, "customer-limit");
    tokio::time::sleep(Duration::from_millis(2200)).await;
    ctx.hold_ok(&id, &qty("floor", 2, Some("c-1"))).await;
}
