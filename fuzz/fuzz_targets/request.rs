//! Every parser a client reaches, through the router on an intact store
//! holding the fixture's event: paths and their ids, hold ids, methods,
//! `Authorization`, `Idempotency-Key`, and request bodies (hold, confirm,
//! event definition), a few requests per run so replays are reached too.
//!
//! Properties: no panic; every reply well formed (problem+json errors);
//! no 5xx (the store is intact, so nothing a client sends is a server
//! error); a bad input (400, 401, 404, 405, 413, 422) writes nothing at
//! all, and no refusal changes the sale; a wrong bearer token on confirm
//! or admin is 401 and a malformed Idempotency-Key is 400, whatever else
//! the request says; and afterwards no document is over capacity, no seat
//! is taken twice, every confirmed hold is still confirmed and the
//! availability adds up.
#![no_main]

use booking_core::{Env, Route};
use booking_fuzz::calls::{Call, accepted, bounded, valid_key};
use booking_fuzz::fixture::{EVENT, call};
use booking_fuzz::stats::{self, Reached};
use booking_fuzz::{Sale, check_documents, check_reply, fixture};
use libfuzzer_sys::fuzz_target;
use serde_json::Value;

/// Statuses that say the input was bad: such a request writes nothing.
const BAD_INPUT: [u16; 6] = [400, 401, 404, 405, 413, 422];

fuzz_target!(|case: (u64, Vec<Call>)| {
    let (seed, calls) = case;
    stats::note(Reached::Run);
    let fixture = fixture();
    let store = fixture.store();
    let env = fixture.env(seed);
    let mut holds: Vec<String> = fixture.holds.iter().map(|h| h.id.clone()).collect();
    let mut confirmed: Vec<String> = fixture
        .holds
        .iter()
        .filter(|h| h.confirmed)
        .map(|h| h.id.clone())
        .collect();
    let mut placed = Vec::new();
    for call_input in bounded(&calls) {
        let request = call_input.request(fixture, &holds);
        let values_before: Vec<(String, Option<Vec<u8>>)> = store
            .keys()
            .into_iter()
            .map(|k| (k.clone(), store.raw(&k)))
            .collect();
        let writes_before = store.writes();
        let sale_before = Sale::read(&store, env.now_ms());
        let reply = call(&store, &env, &fixture.config, &request);
        check_reply(&request, &reply);
        let status = reply.status;
        stats::note_status(status);
        let shown = || {
            format!(
                "{} {:?} -> {status} {}",
                request.method,
                request.path,
                String::from_utf8_lossy(&reply.body)
            )
        };
        assert!(
            status < 500,
            "a client input answered as a server error: {}",
            shown()
        );
        if BAD_INPUT.contains(&status) {
            let values_after: Vec<(String, Option<Vec<u8>>)> = store
                .keys()
                .into_iter()
                .map(|k| (k.clone(), store.raw(&k)))
                .collect();
            assert!(
                store.writes() == writes_before && values_after == values_before,
                "a bad input wrote: {}",
                shown()
            );
        }
        if !(200..300).contains(&status) {
            let changed = sale_before.changed_to(&Sale::read(&store, env.now_ms()));
            assert!(
                changed.is_none(),
                "a refusal changed the sale ({changed:?}): {}",
                shown()
            );
        }
        check_oracles(&request, status, &shown);
        let body: Value = serde_json::from_slice(&reply.body).unwrap_or(Value::Null);
        let hold_id = body["hold_id"].as_str().map(str::to_owned);
        match (
            Route::parse(&request.path),
            request.method.as_str(),
            status,
            hold_id,
        ) {
            (Route::Holds(_), "POST", 201, Some(id)) => {
                holds.push(id.clone());
                placed.push(id);
            }
            (Route::Confirm(_), "POST", 200, Some(id)) => confirmed.push(id),
            _ => {}
        }
    }
    let broken = check_documents(
        &store,
        env.now_ms(),
        (|_| true, ""),
        (&confirmed, &placed),
        12,
    );
    assert!(broken.is_none(), "after the run: {broken:?}");
    stats::note(Reached::FinalCheck);
    check_availability(&store, &env, fixture);
});

/// Answers fixed by one header, whatever the rest of the request.
fn check_oracles(request: &booking_core::Request, status: u16, shown: &dyn Fn() -> String) {
    let small = request.body.len() <= booking_core::limits::REQUEST_BODY_BYTES_MAX;
    let authorized = accepted(request.header("authorization"));
    match (Route::parse(&request.path), request.method.as_str()) {
        (Route::Confirm(_), "POST") if small && !authorized => {
            assert_eq!(status, 401, "confirm without the right token: {}", shown());
        }
        (Route::Event(_), "PUT") if small && !authorized => {
            // A malformed id is refused before the token is checked.
            assert!(
                status == 401 || status == 400,
                "admin without the right token: {}",
                shown()
            );
        }
        (Route::Holds(id), "POST") if small && id == EVENT => {
            if let Some(key) = request.header("idempotency-key")
                && !valid_key(key)
            {
                assert_eq!(status, 400, "a malformed Idempotency-Key: {}", shown());
            }
        }
        _ => {}
    }
}

/// Availability of every section adds up: available + held + sold is the
/// capacity, and sold is at most the capacity.
fn check_availability(
    store: &booking_core::MemoryStore,
    env: &booking_core::ManualEnv,
    fixture: &booking_fuzz::Fixture,
) {
    let request = booking_fuzz::fixture::request(
        "GET",
        &format!("/events/{EVENT}/availability"),
        &[],
        Vec::new(),
    );
    let reply = call(store, env, &fixture.config, &request);
    assert_eq!(reply.status, 200, "availability of an intact event");
    let body: Value = serde_json::from_slice(&reply.body).unwrap_or(Value::Null);
    for section in body["sections"].as_array().into_iter().flatten() {
        let n = |field: &str| section[field].as_u64().unwrap_or(u64::MAX);
        let (available, held, sold, capacity) =
            (n("available"), n("held"), n("sold"), n("capacity"));
        assert!(
            sold <= capacity && available.saturating_add(held).saturating_add(sold) == capacity,
            "availability does not add up: {section}"
        );
    }
}
