//! The contract check against planted violations: each case is an answer
//! that conforms but for one thing, which the check must name; and the
//! conforming answers themselves, which it must accept.

use super::*;
use reqwest::header::{HeaderName, HeaderValue};
use serde_json::json;

const HOLD_ID: &str = "h1~gig-2026~0~3~0123456789abcdef0123456789abcdef";

/// The headers every answer carries, plus `extra`.
fn headers(extra: &[(&str, &str)]) -> HeaderMap {
    let mut map = HeaderMap::new();
    let common = [
        ("access-control-allow-origin", "*"),
        (
            "access-control-allow-headers",
            "authorization, content-type, idempotency-key",
        ),
        (
            "access-control-expose-headers",
            "retry-after, allow, x-cas-retries, idempotency-replayed",
        ),
        ("access-control-max-age", "600"),
        ("vary", "origin"),
        ("x-cas-retries", "0"),
    ];
    for (name, value) in common.iter().chain(extra) {
        map.insert(
            HeaderName::from_bytes(name.as_bytes()).expect("header name"),
            HeaderValue::from_str(value).expect("header value"),
        );
    }
    map
}

fn json_headers(extra: &[(&str, &str)]) -> HeaderMap {
    let mut map = headers(extra);
    map.insert("content-type", HeaderValue::from_static("application/json"));
    map
}

fn problem_headers(extra: &[(&str, &str)]) -> HeaderMap {
    let mut map = headers(extra);
    map.insert(
        "content-type",
        HeaderValue::from_static("application/problem+json"),
    );
    map
}

fn held() -> Value {
    json!({
        "hold_id": HOLD_ID,
        "event_id": "gig-2026",
        "section": "floor",
        "quantity": 2,
        "customer_id": "c-1",
        "status": "held",
        "expires_at": "2026-11-30T06:27:56.115Z",
        "created_at": "2026-11-30T06:22:56.115Z",
    })
}

fn problem(status: u16, slug: &str) -> Value {
    json!({
        "type": format!("https://booking.example/problems/{slug}"),
        "title": "A title",
        "status": status,
        "detail": "what happened",
    })
}

fn check(
    method: &str,
    path: &str,
    status: u16,
    headers: &HeaderMap,
    body: &Value,
) -> Result<(), String> {
    let bytes = if body.is_null() {
        Vec::new()
    } else {
        serde_json::to_vec(body).expect("serialise")
    };
    workspace().check(&Exchange {
        method,
        path,
        status,
        headers,
        body: &bytes,
    })
}

/// A problem answer with the headers every answer carries.
fn check_problem(method: &str, path: &str, status: u16, slug: &str) -> Result<(), String> {
    check(
        method,
        path,
        status,
        &problem_headers(&[]),
        &problem(status, slug),
    )
}

/// Asserts a violation whose message names every one of `words`.
fn assert_violation(result: Result<(), String>, words: &[&str]) {
    let message = result.expect_err("a violation should be reported");
    for word in words {
        assert!(
            message.contains(word),
            "the message should name {word:?}: {message}"
        );
    }
}

#[test]
fn the_document_compiles_whole() {
    let schemas = workspace().compile_all().expect("every schema compiles");
    assert!(schemas > 20, "only {schemas} schemas found");
}

#[test]
fn conforming_answers_are_accepted() {
    let holds = "/events/gig-2026/holds";
    check("POST", holds, 201, &json_headers(&[]), &held()).expect("a hold");
    check(
        "POST",
        holds,
        201,
        &json_headers(&[("idempotency-replayed", "true")]),
        &held(),
    )
    .expect("a replayed hold");
    let mut sold_out = problem(409, "sold-out");
    sold_out["available"] = json!(1);
    check("POST", holds, 409, &problem_headers(&[]), &sold_out).expect("sold out");
    check(
        "POST",
        holds,
        503,
        &problem_headers(&[("retry-after", "1")]),
        &problem(503, "contention"),
    )
    .expect("contention");
    let path = format!("/holds/{HOLD_ID}");
    check("HEAD", &path, 200, &headers(&[]), &Value::Null).expect("HEAD");
    check(
        "OPTIONS",
        &path,
        204,
        &headers(&[("access-control-allow-methods", "GET, HEAD, DELETE, OPTIONS")]),
        &Value::Null,
    )
    .expect("preflight");
    check(
        "DELETE",
        &path,
        200,
        &json_headers(&[]),
        &json!({"hold_id": HOLD_ID, "status": "released"}),
    )
    .expect("release");
}

#[test]
fn answers_outside_the_routes_are_accepted_as_documented() {
    check_problem("GET", "/nope/x", 404, "not-found").expect("an unmatched path");
    check(
        "PATCH",
        "/events/gig-2026",
        405,
        &problem_headers(&[("allow", "GET, HEAD, PUT, OPTIONS")]),
        &problem(405, "method-not-allowed"),
    )
    .expect("an undocumented method");
    check_problem("OPTIONS", "/nope", 413, "payload-too-large")
        .expect("an oversized body anywhere");
}

#[test]
fn spins_bare_500_is_accepted_and_only_bare() {
    let bare = HeaderMap::new();
    check("POST", "/events/gig-2026/holds", 500, &bare, &Value::Null).expect("Spin's bare 500");
    // A 500 with a body must be the app's problem document, with its headers.
    assert_violation(
        check(
            "POST",
            "/events/gig-2026/holds",
            500,
            &bare,
            &json!({"error": "boom"}),
        ),
        &["500", "missing"],
    );
}

#[test]
fn an_undocumented_status_is_caught() {
    assert_violation(
        check_problem("GET", "/events/gig-2026", 418, "teapot"),
        &["GET /events/{event_id}", "418", "not documented"],
    );
    // 409 exists for holds, not for reading an event.
    assert_violation(
        check_problem("GET", "/events/gig-2026", 409, "sold-out"),
        &["409"],
    );
    assert_violation(
        check("GET", "/nope", 200, &json_headers(&[]), &json!({})),
        &["no route", "200"],
    );
}

#[test]
fn a_wrong_field_type_is_caught() {
    let mut hold = held();
    hold["quantity"] = json!("2");
    assert_violation(
        check(
            "POST",
            "/events/gig-2026/holds",
            201,
            &json_headers(&[]),
            &hold,
        ),
        &["/quantity", "schema"],
    );
}

#[test]
fn undocumented_fields_and_values_are_caught() {
    let mut hold = held();
    hold["seat_map"] = json!([]);
    assert_violation(
        check(
            "GET",
            &format!("/holds/{HOLD_ID}"),
            200,
            &json_headers(&[]),
            &hold,
        ),
        &["seat_map"],
    );
    hold = held();
    hold["status"] = json!("pending");
    assert_violation(
        check(
            "GET",
            &format!("/holds/{HOLD_ID}"),
            200,
            &json_headers(&[]),
            &hold,
        ),
        &["/status"],
    );
    // A problem slug this route and status do not document.
    assert_violation(
        check_problem("POST", "/events/gig-2026/holds", 422, "invalid-event"),
        &["/type"],
    );
    // A sold-out problem must say how many are left.
    assert_violation(
        check_problem("POST", "/events/gig-2026/holds", 409, "sold-out"),
        &["available"],
    );
}

#[test]
fn a_missing_header_is_caught() {
    let mut map = json_headers(&[]);
    map.remove("x-cas-retries");
    assert_violation(
        check("GET", &format!("/holds/{HOLD_ID}"), 200, &map, &held()),
        &["x-cas-retries", "missing"],
    );
    assert_violation(
        check_problem("POST", "/events/gig-2026/holds", 503, "contention"),
        &["Retry-After", "missing"],
    );
    assert_violation(
        check_problem("PUT", "/events/gig-2026", 401, "unauthorized"),
        &["WWW-Authenticate"],
    );
    assert_violation(
        check_problem("PATCH", "/holds/x", 405, "method-not-allowed"),
        &["Allow", "missing"],
    );
}

#[test]
fn a_wrong_header_value_is_caught() {
    assert_violation(
        check(
            "GET",
            &format!("/holds/{HOLD_ID}"),
            200,
            &json_headers(&[("x-cas-retries", "many")]),
            &held(),
        ),
        &["x-cas-retries", "integer"],
    );
    assert_violation(
        check(
            "OPTIONS",
            "/events/gig-2026/holds",
            204,
            &headers(&[("access-control-allow-methods", "GET, POST")]),
            &Value::Null,
        ),
        &["Access-Control-Allow-Methods"],
    );
}

#[test]
fn a_wrong_content_type_or_body_is_caught() {
    let mut map = headers(&[]);
    map.insert("content-type", HeaderValue::from_static("text/plain"));
    assert_violation(
        check("GET", &format!("/holds/{HOLD_ID}"), 200, &map, &held()),
        &["Content-Type", "text/plain"],
    );
    // A problem sent as plain JSON.
    assert_violation(
        check(
            "GET",
            "/nope",
            404,
            &json_headers(&[]),
            &problem(404, "not-found"),
        ),
        &["Content-Type"],
    );
    let path = format!("/holds/{HOLD_ID}");
    let not_json = workspace().check(&Exchange {
        method: "GET",
        path: &path,
        status: 200,
        headers: &json_headers(&[]),
        body: b"held",
    });
    assert_violation(not_json, &["not JSON"]);
    // HEAD never has a body; a 204 preflight neither.
    assert_violation(
        check("HEAD", &path, 200, &json_headers(&[]), &held()),
        &["a body where none is documented"],
    );
}

#[test]
fn a_broken_document_is_refused() {
    assert!(Contract::from_yaml("openapi: [").is_err());
    assert!(Contract::from_yaml("openapi: 3.1.0\n").is_err());
}
