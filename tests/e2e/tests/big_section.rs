//! The documented seat limit is reachable over HTTP: a section of 10,000
//! seats (SECTION_SEATS_MAX in the core) is a definition far over the buyer
//! routes' 64 KiB body limit, which the admin route takes (its limit is
//! 1 MiB); its seats are then held, sold and counted like any other.

use booking_e2e::*;

const SEATS: usize = 10_000;

#[tokio::test]
async fn a_ten_thousand_seat_section_can_be_defined_and_sold() {
    let ctx = Ctx::new("big_section");
    let seat_list: Vec<String> = (0..SEATS)
        .map(|n| format!("row-{:03}-seat-{:03}", n / 100, n % 100))
        .collect();
    let def = json!({ "name": "Arena", "sections": [{ "id": "bowl", "seats": seat_list }] });
    let body_bytes = def.to_string().len();
    assert!(
        body_bytes > BODY_LIMIT,
        "the definition is {body_bytes} bytes"
    );
    let (id, created) = ctx.create_event(&def).await;
    assert_eq!(
        created["sections"][0]["seats"].as_array().map(Vec::len),
        Some(SEATS),
        "created: the seats"
    );

    let last = seat_list[SEATS - 1].as_str();
    let hold = ctx
        .hold_ok(
            &id,
            &seats("bowl", &[seat_list[0].as_str(), last], Some("c-1")),
        )
        .await;
    let hold_id = hold["hold_id"].as_str().expect("hold_id").to_owned();
    ctx.confirm(&hold_id, "pay-big").await.expect_status(200);

    let avail = ctx.availability(&id).await;
    assert_totals(&avail);
    let bowl = section_of(&avail, "bowl");
    assert_eq!(num(bowl, "available"), (SEATS - 2) as u64, "{bowl}");
    assert_eq!(num(bowl, "sold"), 2, "{bowl}");
    let listed = string_set(&bowl["available_seats"]);
    assert_eq!(listed.len(), SEATS - 2);
    assert!(!listed.contains(last), "a sold seat listed as available");
    ctx.hold(&id, &seats("bowl", &[last], None), None)
        .await
        .expect_problem(409, "seats-unavailable");
}
