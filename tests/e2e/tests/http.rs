//! Protocol-level behaviour shared by every route: unknown paths, wrong
//! methods, CORS (on answers and preflight) and the request body limit.

use std::collections::BTreeSet;

use booking_e2e::*;

/// The methods named in a comma-separated header, upper-cased.
fn methods_of(value: Option<&str>) -> BTreeSet<String> {
    value
        .unwrap_or_default()
        .split(',')
        .map(|m| m.trim().to_ascii_uppercase())
        .filter(|m| !m.is_empty())
        .collect()
}

#[tokio::test]
async fn unknown_paths_are_404_problems_with_cors() {
    let ctx = Ctx::new("unknown_paths");
    for path in [
        "/nope",
        "/",
        "/events",
        "/holds",
        "/events/x/nope",
        "/holds/x/nope/y",
    ] {
        for method in [Method::GET, Method::POST, Method::DELETE] {
            let reply = ctx.send(ctx.request(method.clone(), path)).await;
            reply.expect_problem_status(404);
        }
    }
}

#[tokio::test]
async fn wrong_methods_are_405_with_allow() {
    let ctx = Ctx::new("wrong_methods");
    // A real event and hold, so a 404 can't stand in for the 405.
    let (id, _) = ctx.create_event(&general_event(5)).await;
    let hold = ctx.hold_ok(&id, &qty("floor", 1, None)).await;
    let hold_id = hold["hold_id"].as_str().expect("hold_id").to_owned();
    let event = format!("/events/{id}");
    let cases: Vec<(Method, String, &[&str])> = vec![
        (Method::PATCH, event.clone(), &["GET", "PUT"]),
        (Method::DELETE, event.clone(), &["GET", "PUT"]),
        (Method::POST, event.clone(), &["GET", "PUT"]),
        (Method::POST, format!("{event}/availability"), &["GET"]),
        (Method::PUT, format!("{event}/availability"), &["GET"]),
        (Method::GET, format!("{event}/holds"), &["POST"]),
        (Method::DELETE, format!("{event}/holds"), &["POST"]),
        (Method::GET, format!("/holds/{hold_id}/confirm"), &["POST"]),
        (Method::PUT, format!("/holds/{hold_id}/confirm"), &["POST"]),
        (Method::GET, format!("/holds/{hold_id}/release"), &["POST"]),
        (
            Method::DELETE,
            format!("/holds/{hold_id}/release"),
            &["POST"],
        ),
        (Method::PUT, format!("/holds/{hold_id}"), &["GET", "DELETE"]),
        (
            Method::POST,
            format!("/holds/{hold_id}"),
            &["GET", "DELETE"],
        ),
        (
            Method::PATCH,
            format!("/holds/{hold_id}"),
            &["GET", "DELETE"],
        ),
        // The examples of the contract, on ids that do not exist.
        (Method::PATCH, "/events/x".to_owned(), &["GET", "PUT"]),
        (Method::GET, "/events/x/holds".to_owned(), &["POST"]),
        (Method::GET, "/holds/x/confirm".to_owned(), &["POST"]),
    ];
    for (method, path, allowed) in cases {
        let reply = ctx
            .send(ctx.request(method.clone(), &path).json(&json!({})))
            .await;
        reply.expect_problem_status(405);
        let mut got = methods_of(reply.header("allow"));
        got.remove("OPTIONS");
        got.remove("HEAD");
        let want: BTreeSet<String> = allowed.iter().map(|m| (*m).to_owned()).collect();
        assert_eq!(got, want, "Allow header of {method} {path}:{reply}");
    }
    // Nothing happened to the hold.
    assert_eq!(ctx.hold_status(&hold_id).await, "held");
    let floor = ctx.section(&id, "floor").await;
    assert_eq!(
        (num(&floor, "held"), num(&floor, "sold")),
        (1, 0),
        "{floor}"
    );
}

#[tokio::test]
async fn preflight_is_204_with_methods_and_headers() {
    let ctx = Ctx::new("preflight");
    let (id, _) = ctx.create_event(&general_event(5)).await;
    let hold = ctx.hold_ok(&id, &qty("floor", 1, None)).await;
    let hold_id = hold["hold_id"].as_str().expect("hold_id").to_owned();
    let cases: Vec<(String, &str, &[&str])> = vec![
        (
            format!("/events/{id}"),
            "PUT",
            &["authorization", "content-type"],
        ),
        (format!("/events/{id}"), "GET", &[]),
        (format!("/events/{id}/availability"), "GET", &[]),
        (
            format!("/events/{id}/holds"),
            "POST",
            &["content-type", "idempotency-key"],
        ),
        (format!("/holds/{hold_id}"), "GET", &[]),
        (format!("/holds/{hold_id}"), "DELETE", &[]),
        (
            format!("/holds/{hold_id}/confirm"),
            "POST",
            &["content-type"],
        ),
        (
            format!("/holds/{hold_id}/release"),
            "POST",
            &["content-type"],
        ),
        (
            "/events/x".to_owned(),
            "PUT",
            &["authorization", "content-type"],
        ),
        ("/holds/x/confirm".to_owned(), "POST", &["content-type"]),
    ];
    for (path, method, headers) in cases {
        // A browser's preflight.
        let mut builder = ctx
            .request(Method::OPTIONS, &path)
            .header("origin", "https://shop.example")
            .header("access-control-request-method", method);
        if !headers.is_empty() {
            builder = builder.header("access-control-request-headers", headers.join(","));
        }
        let reply = ctx.send(builder).await;
        assert_eq!(reply.code(), 204, "preflight of {method} {path}:{reply}");
        reply.assert_cors();
        let methods = methods_of(reply.header("access-control-allow-methods"));
        assert!(
            methods.contains(method) || methods.contains("*"),
            "Access-Control-Allow-Methods lacks {method} for {path}:{reply}"
        );
        let allowed_headers: BTreeSet<String> = reply
            .header("access-control-allow-headers")
            .unwrap_or_else(|| panic!("no Access-Control-Allow-Headers:{reply}"))
            .split(',')
            .map(|h| h.trim().to_ascii_lowercase())
            .collect();
        for h in headers {
            // `*` does not cover Authorization (Fetch standard).
            let covered = allowed_headers.contains(*h)
                || (allowed_headers.contains("*") && *h != "authorization");
            assert!(
                covered,
                "Access-Control-Allow-Headers lacks {h} for {path}:{reply}"
            );
        }
        // A bare OPTIONS is answered the same way.
        let bare = ctx.send(ctx.request(Method::OPTIONS, &path)).await;
        assert_eq!(bare.code(), 204, "OPTIONS {path}:{bare}");
        bare.assert_cors();
        assert!(
            bare.header("access-control-allow-methods").is_some(),
            "{bare}"
        );
        assert!(
            bare.header("access-control-allow-headers").is_some(),
            "{bare}"
        );
    }
    // Preflights change nothing.
    assert_eq!(ctx.hold_status(&hold_id).await, "held");
}

#[tokio::test]
async fn every_answer_carries_cors_headers() {
    let ctx = Ctx::new("cors_everywhere");
    let (id, _) = ctx.create_event(&general_event(2)).await; // 201 (checked)
    ctx.put_event(&id, &general_event(2))
        .await
        .expect_status(200);
    ctx.get_event(&id).await.expect_status(200);
    ctx.send(ctx.request(Method::GET, &format!("/events/{id}/availability")))
        .await
        .expect_status(200);
    let hold_id = ctx.hold_ok(&id, &qty("floor", 1, None)).await["hold_id"]
        .as_str()
        .expect("hold_id")
        .to_owned();
    ctx.get_hold(&hold_id).await.expect_status(200);
    ctx.confirm(&hold_id, "pay-1").await.expect_status(200);
    let other = ctx.hold_ok(&id, &qty("floor", 1, None)).await["hold_id"]
        .as_str()
        .expect("hold_id")
        .to_owned();
    ctx.release(&other).await.expect_status(200);
    ctx.delete_hold(&other).await.expect_status(200);

    // Problems: every status the API can produce without contention.
    ctx.send_raw(Method::POST, &format!("/events/{id}/holds"), "{")
        .await
        .expect_problem_status(400);
    ctx.put_event_raw(&id, "{}", None)
        .await
        .expect_problem_status(401);
    ctx.get_event(&ctx.event_id("missing"))
        .await
        .expect_problem_status(404);
    ctx.send(ctx.request(Method::GET, "/nope"))
        .await
        .expect_problem_status(404);
    ctx.send(ctx.request(Method::PATCH, &format!("/events/{id}")))
        .await
        .expect_problem_status(405);
    ctx.hold(&id, &qty("floor", 2, None), None)
        .await
        .expect_problem(409, "sold-out");
    ctx.release(&hold_id)
        .await
        .expect_problem(409, "hold-confirmed");
    ctx.hold(&id, &qty("floor", 0, None), None)
        .await
        .expect_problem_status(422);
    ctx.send_raw(
        Method::POST,
        &format!("/events/{id}/holds"),
        vec![b' '; BODY_LIMIT + 1],
    )
    .await
    .expect_problem_status(413);
}

/// The admin route's body limit (`ADMIN_REQUEST_BODY_BYTES_MAX` in the core).
const ADMIN_BODY_LIMIT: usize = 1024 * 1024;

/// A JSON body padded with trailing spaces to exactly `len` bytes.
fn padded(body: &Value, len: usize) -> Vec<u8> {
    let mut bytes = serde_json::to_vec(body).expect("serialize");
    assert!(bytes.len() <= len);
    bytes.resize(len, b' ');
    bytes
}

#[tokio::test]
async fn bodies_over_64_kib_are_413() {
    let ctx = Ctx::new("oversized");
    let (id, _) = ctx.create_event(&general_event(10)).await;
    let holds = format!("/events/{id}/holds");
    let hold_id = ctx.hold_ok(&id, &qty("floor", 1, None)).await["hold_id"]
        .as_str()
        .expect("hold_id")
        .to_owned();

    // PUT /events (admin) has its own, larger limit, so a 10,000-seat
    // section fits: over 64 KiB is taken, a valid definition over 1 MiB is
    // not created.
    let roomy_id = ctx.event_id("roomy");
    let roomy_def = padded(&general_event(5), BODY_LIMIT + 1);
    ctx.put_event_raw(&roomy_id, roomy_def, Some(&ctx.bearer()))
        .await
        .expect_status(201);
    let new_id = ctx.event_id("big");
    let big_def = padded(&general_event(5), ADMIN_BODY_LIMIT + 1);
    ctx.put_event_raw(&new_id, big_def, Some(&ctx.bearer()))
        .await
        .expect_problem_status(413);
    ctx.get_event(&new_id).await.expect_problem_status(404);
    // A huge name makes the JSON itself oversized.
    let mut huge = general_event(5);
    huge["name"] = json!("n".repeat(ADMIN_BODY_LIMIT + 10));
    ctx.put_event(&new_id, &huge)
        .await
        .expect_problem_status(413);
    ctx.get_event(&new_id).await.expect_problem_status(404);

    // Holds: exactly 64 KiB is accepted, one byte more is not.
    let at_limit = ctx
        .send_raw(
            Method::POST,
            &holds,
            padded(&qty("floor", 1, None), BODY_LIMIT),
        )
        .await;
    at_limit.expect_status(201);
    ctx.send_raw(
        Method::POST,
        &holds,
        padded(&qty("floor", 1, None), BODY_LIMIT + 1),
    )
    .await
    .expect_problem_status(413);
    ctx.send_raw(
        Method::POST,
        &holds,
        padded(&qty("floor", 1, None), 1024 * 1024),
    )
    .await
    .expect_problem_status(413);

    // Chunked (no Content-Length): the server must count, not trust a header.
    let chunks: Vec<Result<bytes::Bytes, std::io::Error>> =
        padded(&qty("floor", 1, None), BODY_LIMIT + 4096)
            .chunks(8192)
            .map(|c| Ok(bytes::Bytes::copy_from_slice(c)))
            .collect();
    let reply = ctx
        .send(
            ctx.request(Method::POST, &holds)
                .header("content-type", "application/json")
                .body(reqwest::Body::wrap_stream(futures::stream::iter(chunks))),
        )
        .await;
    reply.expect_problem_status(413);

    // Confirm and release bodies too.
    let confirm = format!("/holds/{hold_id}/confirm");
    ctx.send_raw(
        Method::POST,
        &confirm,
        padded(&json!({ "payment_ref": "pay-1" }), BODY_LIMIT + 1),
    )
    .await
    .expect_problem_status(413);
    ctx.send_raw(
        Method::POST,
        &format!("/holds/{hold_id}/release"),
        vec![b' '; BODY_LIMIT + 1],
    )
    .await
    .expect_problem_status(413);
    ctx.send_raw(
        Method::DELETE,
        &format!("/holds/{hold_id}"),
        vec![b' '; BODY_LIMIT + 1],
    )
    .await
    .expect_problem_status(413);

    // None of the refused requests changed anything.
    assert_eq!(ctx.hold_status(&hold_id).await, "held");
    let floor = ctx.section(&id, "floor").await;
    assert_eq!(
        (num(&floor, "held"), num(&floor, "sold")),
        (2, 0),
        "{floor}"
    );
}

#[tokio::test]
async fn head_answers_like_get_without_a_body() {
    let ctx = Ctx::new("head");
    let (id, _) = ctx.create_event(&general_event(5)).await;
    for path in [
        format!("/events/{id}"),
        format!("/events/{id}/availability"),
    ] {
        let get = ctx.send(ctx.request(Method::GET, &path)).await;
        let head = ctx.send(ctx.request(Method::HEAD, &path)).await;
        assert_eq!((get.code(), head.code()), (200, 200), "{head}");
        assert!(head.text.is_empty(), "HEAD has no body:{head}");
    }
    let missing = ctx
        .send(ctx.request(Method::HEAD, "/events/no-such-event-here"))
        .await;
    assert_eq!(missing.code(), 404, "{missing}");
}
