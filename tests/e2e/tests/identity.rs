//! Buyer identity over HTTP, on a local runtime started here with
//! `buyer_token_key` (an HS256 secret and an Ed25519 public key) and
//! `buyer_token_audience` set (the suite's shared server runs without them,
//! as the trusted-front-end mode). Every answer is checked against
//! openapi.yaml, as in the rest of the suite. Also: `/stats` is organiser
//! data.

use booking_e2e::*;
use booking_host_spawn::{LocalRuntime, RuntimeOptions};
use jsonwebtoken::{Algorithm, EncodingKey, Header, encode};
use std::sync::{Mutex, OnceLock};
use std::time::{SystemTime, UNIX_EPOCH};

const SECRET: &str = "e2e-buyer-secret-of-at-least-32-bytes";
/// A test Ed25519 key pair (`openssl genpkey -algorithm ed25519`).
const ED25519_PRIVATE_DER: &[u8] = &[
    0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04, 0x20,
    0x66, 0x35, 0x6e, 0x51, 0x7e, 0x44, 0xee, 0xae, 0x89, 0x38, 0x9d, 0x2c, 0x08, 0xfb, 0x46, 0xc5,
    0x6c, 0xbc, 0xd7, 0x4f, 0x90, 0xbb, 0xa4, 0xda, 0xb1, 0xcd, 0xf2, 0x16, 0x2a, 0x16, 0xe2, 0x6e,
];
const ED25519_PUBLIC: &str = "M1PcSOFeumRydOSPpN83EFFPxu3n2wMHuXfowwM+Czc=";
const AUDIENCE: &str = "tickets.example";

/// The runtime with identity on, started once for this binary and kept
/// (it stops when the process exits).
fn identity_target() -> &'static Target {
    static SERVER: OnceLock<(Mutex<LocalRuntime>, Target)> = OnceLock::new();
    let (_, target) = SERVER.get_or_init(|| {
        let admin_token = format!("e2e-admin-{}", random_hex());
        let confirm_token = format!("e2e-confirm-{}", random_hex());
        let options = RuntimeOptions::for_workspace()
            .variable("admin_token", &admin_token)
            .variable("confirm_token", &confirm_token)
            .variable(
                "buyer_token_key",
                format!("HS256:{SECRET}, EdDSA:{ED25519_PUBLIC}"),
            )
            .variable("buyer_token_audience", AUDIENCE);
        let runtime = LocalRuntime::start(&options).unwrap_or_else(|e| panic!("{e}"));
        let target = Target {
            base_url: runtime.base_url().to_owned(),
            admin_token,
            confirm_token,
            cors_origin: "*".to_owned(),
            local: true,
        };
        (Mutex::new(runtime), target)
    });
    target
}

fn now_seconds() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

fn hs256(claims: &Value) -> String {
    let key = EncodingKey::from_secret(SECRET.as_bytes()).expect("test secret");
    encode(&Header::new(Algorithm::HS256), claims, &key).expect("sign")
}

fn eddsa(claims: &Value) -> String {
    let key = EncodingKey::from_ed_der(ED25519_PRIVATE_DER);
    encode(&Header::new(Algorithm::EdDSA), claims, &key).expect("sign")
}

fn claims(sub: &str) -> Value {
    json!({"sub": sub, "exp": now_seconds() + 600, "aud": AUDIENCE})
}

async fn as_buyer(
    ctx: &Ctx,
    method: Method,
    path: &str,
    token: Option<&str>,
    body: Option<&Value>,
) -> Reply {
    let mut builder = ctx.request(method, path);
    if let Some(token) = token {
        builder = builder.header("authorization", format!("Bearer {token}"));
    }
    if let Some(body) = body {
        builder = builder.json(body);
    }
    ctx.send(builder).await
}

#[tokio::test]
async fn holds_need_a_buyer_token_and_are_the_buyers() {
    let ctx = Ctx::for_target("identity_holds", identity_target());
    let mut event = general_event(10);
    event["max_per_customer"] = json!(3);
    let (id, _) = ctx.create_event(&event).await;
    let holds = format!("/events/{id}/holds");
    let one = qty("floor", 1, None);

    let missing = as_buyer(&ctx, Method::POST, &holds, None, Some(&one)).await;
    missing.expect_problem(401, "unauthorized");
    assert_eq!(
        missing.header("www-authenticate"),
        Some("Bearer"),
        "{missing}"
    );
    let expired = json!({"sub": "alice", "exp": now_seconds() - 120, "aud": AUDIENCE});
    let wrong_aud = json!({"sub": "alice", "exp": now_seconds() + 600, "aud": "other"});
    for token in [hs256(&expired), hs256(&wrong_aud), "x.y.z".to_owned()] {
        let refused = as_buyer(&ctx, Method::POST, &holds, Some(&token), Some(&one)).await;
        refused.expect_problem(401, "invalid-token");
        assert_eq!(
            refused.header("www-authenticate"),
            Some("Bearer error=\"invalid_token\""),
            "{refused}"
        );
    }
    let alice = hs256(&claims("alice"));
    let as_bob = qty("floor", 1, Some("bob"));
    let mismatch = as_buyer(&ctx, Method::POST, &holds, Some(&alice), Some(&as_bob)).await;
    mismatch.expect_problem(403, "customer-mismatch");
    let capped = hs256(
        &json!({"sub": "carol", "exp": now_seconds() + 600, "aud": AUDIENCE, "max_quantity": 1}),
    );
    let two = qty("floor", 2, None);
    let over = as_buyer(&ctx, Method::POST, &holds, Some(&capped), Some(&two)).await;
    over.expect_problem(403, "token-quantity-limit");
    assert_eq!(ctx.section(&id, "floor").await["available"], json!(10));

    let held = as_buyer(&ctx, Method::POST, &holds, Some(&alice), Some(&two)).await;
    let held = held.expect_status(201).clone();
    assert_eq!(held["customer_id"], json!("alice"));
    // max_per_customer counts the verified buyer: 2 + 2 > 3.
    let again = as_buyer(&ctx, Method::POST, &holds, Some(&alice), Some(&two)).await;
    again.expect_problem(409, "customer-limit");

    let hold_path = format!("/holds/{}", held["hold_id"].as_str().unwrap_or_default());
    let bob = eddsa(&claims("bob"));
    let release = format!("{hold_path}/release");
    for (method, path) in [
        (Method::GET, &hold_path),
        (Method::POST, &release),
        (Method::DELETE, &hold_path),
    ] {
        let other = as_buyer(&ctx, method.clone(), path, Some(&bob), None).await;
        other.expect_problem(403, "not-your-hold");
        let anonymous = as_buyer(&ctx, method, path, None, None).await;
        anonymous.expect_problem(401, "unauthorized");
    }
    let mine = as_buyer(&ctx, Method::GET, &hold_path, Some(&alice), None).await;
    assert_eq!(mine.expect_status(200)["status"], json!("held"));
    let released = as_buyer(&ctx, Method::POST, &release, Some(&alice), None).await;
    assert_eq!(released.expect_status(200)["status"], json!("released"));
    assert_eq!(ctx.section(&id, "floor").await["available"], json!(10));
}

#[tokio::test]
async fn confirm_keeps_the_payment_token_and_stats_are_organiser_data() {
    let ctx = Ctx::for_target("identity_confirm", identity_target());
    let (id, _) = ctx.create_event(&general_event(10)).await;
    let token = eddsa(&claims("dave"));
    let body = qty("floor", 1, None);
    let held = as_buyer(
        &ctx,
        Method::POST,
        &format!("/events/{id}/holds"),
        Some(&token),
        Some(&body),
    )
    .await;
    let held = held.expect_status(201).clone();
    let confirm = format!(
        "/holds/{}/confirm",
        held["hold_id"].as_str().unwrap_or_default()
    );
    let pay = json!({"payment_ref": "pay-1"});
    // The buyer's token is not the payment side's.
    let by_buyer = as_buyer(&ctx, Method::POST, &confirm, Some(&token), Some(&pay)).await;
    by_buyer.expect_problem(401, "unauthorized");
    let confirmed = ctx
        .send(
            ctx.request(Method::POST, &confirm)
                .header("authorization", ctx.confirm_bearer())
                .json(&pay),
        )
        .await;
    assert_eq!(confirmed.expect_status(200)["customer_id"], json!("dave"));

    let stats = format!("/events/{id}/stats");
    as_buyer(&ctx, Method::GET, &stats, None, None)
        .await
        .expect_problem(401, "unauthorized");
    as_buyer(&ctx, Method::GET, &stats, Some(&token), None)
        .await
        .expect_problem(401, "unauthorized");
    let figures = ctx
        .send(
            ctx.request(Method::GET, &stats)
                .header("authorization", ctx.bearer()),
        )
        .await;
    assert_eq!(
        figures.expect_status(200)["totals"]["confirmations"],
        json!(1)
    );
    // The change feed names customers only to the organiser.
    let changes = format!("/events/{id}/changes");
    let public = as_buyer(&ctx, Method::GET, &changes, None, None).await;
    assert!(
        !public.expect_status(200).to_string().contains("dave"),
        "{public}"
    );
    let full = ctx
        .send(
            ctx.request(Method::GET, &changes)
                .header("authorization", ctx.bearer()),
        )
        .await;
    assert!(
        full.expect_status(200)
            .to_string()
            .contains("\"customer_id\":\"dave\""),
        "{full}"
    );
    // Availability stays public.
    ctx.send(ctx.request(Method::GET, &format!("/events/{id}/availability")))
        .await
        .expect_status(200);
}
