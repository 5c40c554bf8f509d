//! `GET /events/:id/changes` and `GET /events/:id/stats` over HTTP (every
//! answer checked against openapi.yaml by `Ctx::send`): a page resumes from
//! its cursor, server-sent events resume from Last-Event-ID, bad cursors are
//! 400, and the stats count what the buyers were answered.

use booking_e2e::*;

async fn page(ctx: &Ctx, id: &str, query: &str) -> Value {
    let reply = ctx
        .send(ctx.request(Method::GET, &format!("/events/{id}/changes{query}")))
        .await;
    reply.expect_status(200).clone()
}

#[tokio::test]
async fn the_feed_pages_resume_exactly_and_the_stats_count_the_sale() {
    let ctx = Ctx::new("feed");
    let (id, _) = ctx.create_event(&general_event(10)).await;
    let first = ctx.hold_ok(&id, &qty("floor", 2, Some("c-1"))).await;
    let first_id = first["hold_id"].as_str().expect("hold_id").to_owned();
    ctx.confirm(&first_id, "pay-feed").await.expect_status(200);
    let second = ctx.hold_ok(&id, &qty("floor", 1, Some("c-2"))).await;
    let second_id = second["hold_id"].as_str().expect("hold_id").to_owned();
    ctx.release(&second_id).await.expect_status(200);

    // One record at a time, resuming from each page's cursor.
    let mut types = Vec::new();
    let mut query = "?limit=1".to_owned();
    for _ in 0..10 {
        let body = page(&ctx, &id, &query).await;
        let changes = body["changes"].as_array().cloned().unwrap_or_default();
        assert!(changes.len() <= 1, "{body}");
        let Some(record) = changes.first() else { break };
        types.push((
            record["type"].as_str().unwrap_or_default().to_owned(),
            record["hold_id"].as_str().unwrap_or_default().to_owned(),
        ));
        query = format!(
            "?limit=1&after={}",
            body["next"].as_str().unwrap_or_default()
        );
    }
    let expected = [
        ("event-created", ""),
        ("hold-placed", first_id.as_str()),
        ("hold-confirmed", first_id.as_str()),
        ("hold-placed", second_id.as_str()),
        ("hold-released", second_id.as_str()),
    ];
    let got: Vec<(&str, &str)> = types
        .iter()
        .map(|(t, h)| (t.as_str(), h.as_str()))
        .collect();
    assert_eq!(got, expected);

    // Bad cursors and limits are 400 and name the parameter.
    for query in ["?after=nope", "?after=c1f", "?limit=0", "?limit=1001"] {
        let reply = ctx
            .send(ctx.request(Method::GET, &format!("/events/{id}/changes{query}")))
            .await;
        reply.expect_problem(400, "bad-request");
    }
    // Well formed, but not this event's (another layout, or altered).
    let reply = ctx
        .send(ctx.request(Method::GET, &format!("/events/{id}/changes?after=c1ff")))
        .await;
    reply.expect_problem(422, "cursor-not-of-this-event");

    // Organiser data: refused without a credential, read with the admin token.
    let path = format!("/events/{id}/stats");
    let refused = ctx.send(ctx.request(Method::GET, &path)).await;
    refused.expect_problem(401, "unauthorized");
    let stats = ctx
        .send(
            ctx.request(Method::GET, &path)
                .header("authorization", ctx.bearer()),
        )
        .await;
    let stats = stats.expect_status(200);
    assert_eq!(
        stats["totals"],
        json!({"holds": 2, "confirmations": 1, "releases": 1, "expiries": 0})
    );
    assert_eq!(stats["units_left"], json!(8));
    assert_eq!(stats["conversion"], json!(0.5));
}

#[tokio::test]
async fn server_sent_events_resume_from_last_event_id() {
    let ctx = Ctx::new("feed_sse");
    let (id, _) = ctx.create_event(&general_event(10)).await;
    let events = |last: Option<String>| {
        let mut request = ctx
            .request(Method::GET, &format!("/events/{id}/changes?wait_seconds=0"))
            .header("accept", "text/event-stream");
        if let Some(last) = last {
            request = request.header("last-event-id", last);
        }
        ctx.send(request)
    };
    let reply = events(None).await;
    assert_eq!(reply.code(), 200);
    assert_eq!(reply.header("content-type"), Some("text/event-stream"));
    let last = reply
        .text
        .lines()
        .filter_map(|line| line.strip_prefix("id: "))
        .next_back()
        .expect("the event's creation")
        .to_owned();
    let hold = ctx.hold_ok(&id, &qty("floor", 1, None)).await;
    let reply = events(Some(last)).await;
    assert_eq!(
        reply.text.matches("\nevent: change\n").count(),
        1,
        "{}",
        reply.text
    );
    assert!(
        reply
            .text
            .contains(hold["hold_id"].as_str().expect("hold_id")),
        "{}",
        reply.text
    );
}
