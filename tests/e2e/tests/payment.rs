//! Only the payment side confirms: `POST /holds/:id/confirm` needs
//! `Authorization: Bearer <confirm_token>`; a repeat with the same
//! `payment_ref` is the same booking, another one is 409. And an
//! `Idempotency-Key` shorter than 16 characters is refused.

use booking_e2e::*;

fn hold_id(hold: &Value) -> String {
    hold["hold_id"]
        .as_str()
        .unwrap_or_else(|| panic!("no hold_id in {hold}"))
        .to_owned()
}

#[tokio::test]
async fn confirm_needs_the_confirm_token() {
    let ctx = Ctx::new("confirm_auth");
    let (id, _) = ctx.create_event(&general_event(10)).await;
    let hold = hold_id(&ctx.hold_ok(&id, &qty("floor", 2, None)).await);
    let path = format!("/holds/{hold}/confirm");
    let body = json!({ "payment_ref": "pay-1" });
    let mut results = Cases::default();
    let cases: Vec<(&str, Option<String>)> = vec![
        ("no Authorization", None),
        ("wrong token", Some("Bearer not-the-confirm-token".into())),
        ("admin token is not the confirm token", Some(ctx.bearer())),
        ("not a bearer token", Some("Basic Y29uZmlybQ==".into())),
    ];
    for (label, authorization) in cases {
        let mut builder = ctx.request(Method::POST, &path).json(&body);
        if let Some(value) = authorization {
            builder = builder.header("authorization", value);
        }
        let reply = ctx.send(builder).await;
        results.check(label, || {
            reply.expect_problem(401, "unauthorized");
            assert_eq!(reply.header("www-authenticate"), Some("Bearer"), "{reply}");
        });
    }
    let floor = ctx.section(&id, "floor").await;
    results.check("still held, nothing sold", || {
        assert_eq!(
            (num(&floor, "held"), num(&floor, "sold")),
            (2, 0),
            "{floor}"
        );
    });
    results.finish();
    ctx.confirm(&hold, "pay-1").await.expect_status(200);
}

#[tokio::test]
async fn a_second_confirm_must_name_the_same_payment() {
    let ctx = Ctx::new("confirm_payment_ref");
    let (id, _) = ctx.create_event(&general_event(10)).await;
    let hold = hold_id(&ctx.hold_ok(&id, &qty("floor", 1, None)).await);
    let first = ctx.confirm(&hold, "pay-1").await;
    let booking = first.expect_status(200)["booking_id"].clone();
    let again = ctx.confirm(&hold, "pay-1").await;
    assert_eq!(again.expect_status(200)["booking_id"], booking);
    ctx.confirm(&hold, "pay-2")
        .await
        .expect_problem(409, "payment-ref-mismatch");
    let floor = ctx.section(&id, "floor").await;
    assert_eq!(num(&floor, "sold"), 1, "{floor}");
}

#[tokio::test]
async fn idempotency_keys_shorter_than_16_characters_are_400() {
    let ctx = Ctx::new("idem_short");
    let (id, _) = ctx.create_event(&general_event(10)).await;
    let body = qty("floor", 1, None);
    ctx.hold(&id, &body, Some("fifteen-chars-x"))
        .await
        .expect_problem(400, "bad-request");
    let floor = ctx.section(&id, "floor").await;
    assert_eq!(num(&floor, "held"), 0, "{floor}");
    ctx.hold(&id, &body, Some("sixteen-chars-xx"))
        .await
        .expect_status(201);
}
