//! Buyer identity (`buyer_token_key`) through the router, on the memory
//! store: who may hold, read and release, and that every refusal changes
//! nothing. Organiser data (`/stats`) behind the organiser or admin token.

mod common;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use booking_core::BuyerTokens;
use common::{Answer, Booking, START_MS, TOKEN};
use jsonwebtoken::crypto::rust_crypto::DEFAULT_PROVIDER;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};

const SECRET: &str = "a-test-secret-of-at-least-32-bytes!!";
/// An Ed25519 key pair made for these tests (`openssl genpkey -algorithm
/// ed25519`): the PKCS#8 private key and the raw public key.
const ED25519_PRIVATE_DER: &str =
    "MC4CAQAwBQYDK2VwBCIEIGY1blF+RO6uiTidLAj7RsVsvNdPkLuk2rHN8hYqFuJu";
const ED25519_PUBLIC: &str = "M1PcSOFeumRydOSPpN83EFFPxu3n2wMHuXfowwM+Czc=";
/// Another Ed25519 key, whose public half is not configured.
const OTHER_ED25519_PRIVATE_DER: &str =
    "MC4CAQAwBQYDK2VwBCIEIPE3ka1bK1MvylbxfcBHGjucZPa+LAtegFI8HK7vRdX+";
const P256_PRIVATE_DER: &str = "MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgnmf+sG8FlDfuBCM8F/AVlCWcJ6DYXreNUmnym2JR9BGhRANCAAR125Uit4yidQ2sGMYWvb4L+sjBDGjvqfgHVVge51ylVWQZjl7/BQzLafPn/Lkr8mKHTe9qiv+rgHvFCb2PYDh7";
const P256_PUBLIC_PEM: &str = "-----BEGIN PUBLIC KEY-----
MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEdduVIreMonUNrBjGFr2+C/rIwQxo
76n4B1VYHudcpVVkGY5e/wUMy2nz5/y5K/Jih03vaor/q4B7xQm9j2A4ew==
-----END PUBLIC KEY-----";
const AUDIENCE: &str = "tickets.example";
const NOW_S: u64 = START_MS / 1_000;

fn der(base64: &str) -> Vec<u8> {
    base64::engine::general_purpose::STANDARD
        .decode(base64)
        .expect("test key is base64")
}

/// A token over `claims` signed with `key` as `algorithm`, by the crate's
/// own signers (not `encode`, which would use the provider the core
/// installs, and that one verifies only).
fn sign(algorithm: Algorithm, key: &EncodingKey, claims: &Value) -> String {
    let header = serde_json::to_vec(&Header::new(algorithm)).expect("header");
    let message = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(header),
        URL_SAFE_NO_PAD.encode(claims.to_string())
    );
    let signer = (DEFAULT_PROVIDER.signer_factory)(&algorithm, key).expect("a test signer");
    let signature = signer.try_sign(message.as_bytes()).expect("sign");
    format!("{message}.{}", URL_SAFE_NO_PAD.encode(signature))
}

fn hs256(claims: &Value) -> String {
    sign(
        Algorithm::HS256,
        &EncodingKey::from_secret(SECRET.as_bytes()).expect("a test secret"),
        claims,
    )
}

fn eddsa(private: &str, claims: &Value) -> String {
    sign(
        Algorithm::EdDSA,
        &EncodingKey::from_ed_der(&der(private)),
        claims,
    )
}

/// Claims of a valid token for `sub`.
fn claims(sub: &str) -> Value {
    json!({"sub": sub, "exp": NOW_S + 600, "aud": AUDIENCE})
}

/// A booking core with buyer identity on (HS256, EdDSA and ES256 keys, the
/// audience set) and an event of 10 floor units, 4 seats, 4 per customer.
fn booking() -> Booking {
    let mut b = Booking::new(7);
    let keys = format!("HS256:{SECRET}, EdDSA:{ED25519_PUBLIC}, {P256_PUBLIC_PEM}");
    b.config.buyer_tokens =
        BuyerTokens::from_variables(&keys, AUDIENCE).expect("the test keys parse");
    let event = json!({"name": "x", "max_per_customer": 4, "sections": [
        {"id": "floor", "capacity": 10}, {"id": "A", "seats": ["A-1", "A-2", "A-3", "A-4"]}]});
    assert_eq!(b.create("gig", event).status, 201);
    b
}

fn authorization(token: &str) -> String {
    format!("Bearer {token}")
}

fn hold_as(b: &Booking, token: Option<&str>, body: Value) -> Answer {
    let bearer = token.map(authorization);
    let headers: Vec<(&str, &str)> = bearer
        .iter()
        .map(|v| ("authorization", v.as_str()))
        .collect();
    b.call_exactly("POST", "/events/gig/holds", &body, &headers)
}

fn as_buyer(b: &Booking, method: &str, path: &str, token: &str) -> Answer {
    b.call_exactly(
        method,
        path,
        &Value::Null,
        &[("authorization", &authorization(token))],
    )
}

fn floor(quantity: u32) -> Value {
    json!({"section": "floor", "quantity": quantity})
}

/// Asserts a 401 with the header RFC 6750 asks for, and nothing held.
fn assert_refused_401(b: &Booking, answer: &Answer, www_authenticate: &str, what: &str) {
    assert_eq!(answer.status, 401, "{what}: {answer:?}");
    assert_eq!(
        answer.header("www-authenticate"),
        Some(www_authenticate),
        "{what}"
    );
    assert_eq!(b.counts("gig", "floor"), (10, 0, 0), "{what}: nothing held");
}

#[test]
fn a_valid_token_holds_as_its_sub_with_every_key_kind() {
    let b = booking();
    let es256 = sign(
        Algorithm::ES256,
        &EncodingKey::from_ec_der(&der(P256_PRIVATE_DER)),
        &claims("buyer-es"),
    );
    for (token, sub) in [
        (hs256(&claims("buyer-hs")), "buyer-hs"),
        (eddsa(ED25519_PRIVATE_DER, &claims("buyer-ed")), "buyer-ed"),
        (es256, "buyer-es"),
    ] {
        let held = hold_as(&b, Some(&token), floor(1));
        assert_eq!(held.status, 201, "{sub}: {held:?}");
        assert_eq!(held.str("customer_id"), sub);
        let status = as_buyer(
            &b,
            "GET",
            &format!("/holds/{}", held.str("hold_id")),
            &token,
        );
        assert_eq!(status.status, 200, "{sub}: {status:?}");
    }
    // A body may name the buyer itself.
    let token = hs256(&claims("buyer-hs"));
    let body = json!({"section": "floor", "quantity": 1, "customer_id": "buyer-hs"});
    assert_eq!(hold_as(&b, Some(&token), body).status, 201);
}

#[test]
fn missing_or_bad_tokens_are_401_and_change_nothing() {
    let b = booking();
    let invalid = "Bearer error=\"invalid_token\"";
    let expired = json!({"sub": "c", "exp": NOW_S - 31, "aud": AUDIENCE});
    let within_leeway = json!({"sub": "c", "exp": NOW_S - 29, "aud": AUDIENCE});
    let not_yet = json!({"sub": "c", "exp": NOW_S + 600, "nbf": NOW_S + 60, "aud": AUDIENCE});
    let wrong_aud = json!({"sub": "c", "exp": NOW_S + 600, "aud": "other.example"});
    let no_aud = json!({"sub": "c", "exp": NOW_S + 600});
    let no_exp = json!({"sub": "c", "aud": AUDIENCE});
    let no_sub = json!({"exp": NOW_S + 600, "aud": AUDIENCE});
    let bad_sub = json!({"sub": "a b@c", "exp": NOW_S + 600, "aud": AUDIENCE});
    let table = [
        ("expired", hs256(&expired)),
        ("not valid yet", hs256(&not_yet)),
        ("wrong aud", hs256(&wrong_aud)),
        ("no aud", hs256(&no_aud)),
        ("no exp", hs256(&no_exp)),
        ("no sub", hs256(&no_sub)),
        ("sub breaks the id rule", hs256(&bad_sub)),
        (
            "another key's signature",
            eddsa(OTHER_ED25519_PRIVATE_DER, &claims("c")),
        ),
        ("not a JWT", "not-a-jwt".to_owned()),
        ("an admin-style token", TOKEN.to_owned()),
    ];
    for (what, token) in table {
        let answer = hold_as(&b, Some(&token), floor(1));
        assert_refused_401(&b, &answer, invalid, what);
        assert_eq!(answer.problem(), "invalid-token", "{what}");
    }
    let missing = hold_as(&b, None, floor(1));
    assert_refused_401(&b, &missing, "Bearer", "no token");
    assert_eq!(missing.problem(), "unauthorized");
    // The leeway: 29 s past exp still passes.
    assert_eq!(
        hold_as(&b, Some(&hs256(&within_leeway)), floor(1)).status,
        201
    );
}

#[test]
fn the_algorithm_comes_from_the_key_never_from_the_token() {
    let b = booking();
    let url = URL_SAFE_NO_PAD;
    let payload = url.encode(claims("c").to_string());
    // `none`: an unsigned token.
    let none = format!("{}.{payload}.", url.encode(r#"{"alg":"none","typ":"JWT"}"#));
    // HS256 keyed with the configured Ed25519 public key (the classic
    // confusion: a verifier that let the token pick the algorithm would
    // take the public key as the HMAC secret).
    let mut public_as_secret = Vec::new();
    public_as_secret.extend(der(ED25519_PUBLIC));
    let confused = sign(
        Algorithm::HS256,
        &EncodingKey::from_secret(&public_as_secret).expect("a test secret"),
        &claims("c"),
    );
    let confused_text = sign(
        Algorithm::HS256,
        &EncodingKey::from_secret(ED25519_PUBLIC.as_bytes()).expect("a test secret"),
        &claims("c"),
    );
    // An algorithm no key is for.
    let hs384 = sign(
        Algorithm::HS384,
        &EncodingKey::from_secret(SECRET.as_bytes()).expect("a test secret"),
        &claims("c"),
    );
    for (what, token) in [
        ("none", none),
        ("HS256 with the public key's bytes", confused),
        ("HS256 with the public key's text", confused_text),
        ("HS384", hs384),
    ] {
        let answer = hold_as(&b, Some(&token), floor(1));
        assert_refused_401(&b, &answer, "Bearer error=\"invalid_token\"", what);
    }
}

#[test]
fn a_body_naming_another_customer_or_more_than_max_quantity_is_403() {
    let b = booking();
    let token = hs256(&claims("alice"));
    let other = json!({"section": "floor", "quantity": 1, "customer_id": "bob"});
    let mismatch = hold_as(&b, Some(&token), other);
    assert_eq!(
        (mismatch.status, mismatch.problem().as_str()),
        (403, "customer-mismatch")
    );
    let limited =
        hs256(&json!({"sub": "carol", "exp": NOW_S + 600, "aud": AUDIENCE, "max_quantity": 2}));
    let over = hold_as(&b, Some(&limited), floor(3));
    assert_eq!(
        (over.status, over.problem().as_str()),
        (403, "token-quantity-limit")
    );
    let seats = json!({"section": "A", "seats": ["A-1", "A-2", "A-3"]});
    assert_eq!(hold_as(&b, Some(&limited), seats).status, 403);
    assert_eq!(b.counts("gig", "floor"), (10, 0, 0), "nothing held");
    assert_eq!(hold_as(&b, Some(&limited), floor(2)).status, 201);
}

#[test]
fn max_per_customer_counts_the_verified_buyer() {
    let b = booking();
    let token = hs256(&claims("dave"));
    assert_eq!(hold_as(&b, Some(&token), floor(3)).status, 201);
    // The body cannot dodge the limit by naming nobody: the hold is dave's.
    let over = hold_as(&b, Some(&token), floor(2));
    assert_eq!(
        (over.status, over.problem().as_str()),
        (409, "customer-limit")
    );
    let erin = hs256(&claims("erin"));
    assert_eq!(hold_as(&b, Some(&erin), floor(2)).status, 201);
}

#[test]
fn only_the_holds_buyer_reads_or_releases_it() {
    let b = booking();
    let alice = hs256(&claims("alice"));
    let bob = eddsa(ED25519_PRIVATE_DER, &claims("bob"));
    let held = hold_as(&b, Some(&alice), floor(2));
    let path = format!("/holds/{}", held.str("hold_id"));
    let release = format!("{path}/release");
    for (method, route) in [("GET", &path), ("POST", &release), ("DELETE", &path)] {
        let answer = as_buyer(&b, method, route, &bob);
        assert_eq!(
            (answer.status, answer.problem().as_str()),
            (403, "not-your-hold"),
            "{method} {route}"
        );
        let anonymous = b.call_exactly(method, route, &Value::Null, &[]);
        assert_eq!(anonymous.status, 401, "{method} {route} without a token");
    }
    assert_eq!(b.counts("gig", "floor"), (8, 2, 0), "still held");
    let released = as_buyer(&b, "POST", &release, &alice);
    assert_eq!(released.status, 200, "{released:?}");
    assert_eq!(released.str("status"), "released");
    assert_eq!(b.counts("gig", "floor"), (10, 0, 0));
}

#[test]
fn an_unusable_key_fails_closed_and_no_key_changes_nothing() {
    let mut b = booking();
    b.config.buyer_tokens = BuyerTokens::Misconfigured;
    let answer = hold_as(&b, Some(&hs256(&claims("c"))), floor(1));
    assert_eq!(
        (answer.status, answer.problem().as_str()),
        (500, "buyer-identity-misconfigured")
    );
    b.config.buyer_tokens = BuyerTokens::Off;
    let body = json!({"section": "floor", "quantity": 1, "customer_id": "anyone"});
    let held = hold_as(&b, None, body);
    assert_eq!(held.status, 201);
    assert_eq!(held.str("customer_id"), "anyone");
}

#[test]
fn stats_take_the_organiser_or_the_admin_token() {
    let mut b = booking();
    let organiser = "organiser-read-only-token";
    b.config.organiser_token = Some(organiser.into());
    let stats = |token: Option<&str>| {
        let bearer = token.map(authorization);
        let headers: Vec<(&str, &str)> = bearer
            .iter()
            .map(|v| ("authorization", v.as_str()))
            .collect();
        b.call_exactly("GET", "/events/gig/stats", &Value::Null, &headers)
    };
    assert_eq!(stats(Some(organiser)).status, 200);
    assert_eq!(stats(Some(TOKEN)).status, 200);
    let anonymous = stats(None);
    assert_eq!(anonymous.status, 401);
    assert_eq!(anonymous.header("www-authenticate"), Some("Bearer"));
    assert_eq!(stats(Some("organiser-read-only-tokeN")).status, 401);
    // Organiser data, not admin: the organiser token cannot define events.
    let put = b.call_exactly(
        "PUT",
        "/events/other",
        &json!({"name": "x", "sections": [{"id": "a", "capacity": 1}]}),
        &[("authorization", &authorization(organiser))],
    );
    assert_eq!(put.status, 401);
    // Availability stays public.
    let availability = b.call_exactly("GET", "/events/gig/availability", &Value::Null, &[]);
    assert_eq!(availability.status, 200);
}

#[test]
fn stats_are_disabled_without_any_organiser_credential() {
    let mut b = booking();
    b.config.admin_token = None;
    let answer = b.call("GET", "/events/gig/stats", &Value::Null, &[]);
    assert_eq!(
        (answer.status, answer.problem().as_str()),
        (503, "organiser-disabled")
    );
}

#[test]
fn the_change_feed_names_customers_only_to_the_organiser() {
    let b = booking();
    let token = hs256(&claims("frank"));
    assert_eq!(hold_as(&b, Some(&token), floor(1)).status, 201);
    let placed = |answer: &Answer| -> Value {
        let changes = answer.body["changes"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        changes
            .into_iter()
            .find(|c| c["type"] == "hold-placed")
            .unwrap_or(Value::Null)
    };
    let public = b.call_exactly("GET", "/events/gig/changes", &Value::Null, &[]);
    assert_eq!(public.status, 200);
    let record = placed(&public);
    assert_eq!(record["quantity"], json!(1), "{public:?}");
    assert!(record.get("customer_id").is_none(), "{record}");
    let stream = b.raw(
        "GET",
        "/events/gig/changes",
        &[("accept", "text/event-stream")],
    );
    assert!(
        stream.2.contains("hold-placed") && !stream.2.contains("frank"),
        "{stream:?}"
    );
    let organiser = b.call("GET", "/events/gig/changes", &Value::Null, &[]);
    assert_eq!(placed(&organiser)["customer_id"], json!("frank"));
}
