//! The ruler must itself be correct: the checker judges its runs too.

use super::handle;
use booking_core::{Config, Ctx, ManualEnv, MemoryStore, Request, Tuning};
use serde_json::{Value, json};

const TOKEN: &str = "ideal-admin-token-0001";
const START_MS: u64 = 1_800_000_000_000;

struct Ruler {
    store: MemoryStore,
    env: ManualEnv,
    config: Config,
}

impl Ruler {
    fn new() -> Ruler {
        let ruler = Ruler {
            store: MemoryStore::new(),
            env: ManualEnv::new(START_MS, 7),
            config: Config {
                admin_token: Some(TOKEN.into()),
                confirm_token: None,
                organiser_token: None,
                buyer_tokens: booking_core::BuyerTokens::Off,
                hold_ttl_seconds_default: 300,
                tuning: Tuning::default(),
            },
        };
        let definition = json!({"name": "Gig", "hold_ttl_seconds": 60,
            "sections": [{"id": "floor", "capacity": 5, "shards": 2}]});
        assert_eq!(ruler.call("PUT", "/events/gig", &definition, None).0, 201);
        ruler
    }

    fn call(&self, method: &str, path: &str, body: &Value, key: Option<&str>) -> (u16, Value) {
        let mut headers = vec![("authorization".to_owned(), format!("Bearer {TOKEN}"))];
        headers.extend(key.map(|k| ("idempotency-key".to_owned(), k.to_owned())));
        let request = Request {
            method: method.into(),
            path: path.into(),
            headers,
            body: if body.is_null() {
                Vec::new()
            } else {
                body.to_string().into_bytes()
            },
        };
        let reply = handle(&request, &Ctx::new(&self.store, &self.env, &self.config));
        (
            reply.status,
            serde_json::from_slice(&reply.body).unwrap_or(Value::Null),
        )
    }

    fn hold(&self, quantity: u32, key: Option<&str>) -> (u16, Value) {
        let body = json!({"section": "floor", "quantity": quantity, "customer_id": "c1"});
        self.call("POST", "/events/gig/holds", &body, key)
    }

    fn counts(&self) -> (u64, u64, u64) {
        let (status, body) = self.call("GET", "/events/gig/availability", &Value::Null, None);
        assert_eq!(status, 200);
        let section = &body["sections"][0];
        let field = |name: &str| section[name].as_u64().unwrap_or(u64::MAX);
        (field("available"), field("held"), field("sold"))
    }
}

#[test]
fn holds_fill_every_shard_then_sell_out() {
    let ruler = Ruler::new();
    // Shards of 3 and 2 units: 2 + 2 fit in either order, then 1 more.
    assert_eq!(ruler.hold(2, None).0, 201);
    assert_eq!(ruler.hold(2, None).0, 201);
    assert_eq!(ruler.counts(), (1, 4, 0));
    assert_eq!(ruler.hold(2, None).0, 409);
    assert_eq!(ruler.hold(1, None).0, 201);
    assert_eq!(ruler.hold(1, None).0, 409);
    assert_eq!(ruler.counts(), (0, 5, 0));
    // Expired holds give their units back.
    ruler.env.advance_ms(61_000);
    assert_eq!(ruler.counts(), (5, 0, 0));
}

#[test]
fn a_key_replays_its_hold_and_refuses_another_body() {
    let ruler = Ruler::new();
    let (status, first) = ruler.hold(2, Some("key-0000000000000001"));
    assert_eq!(status, 201);
    let (status, again) = ruler.hold(2, Some("key-0000000000000001"));
    assert_eq!((status, &again["hold_id"]), (201, &first["hold_id"]));
    assert_eq!(ruler.hold(3, Some("key-0000000000000001")).0, 422);
    assert_eq!(ruler.counts(), (3, 2, 0));
}

#[test]
fn confirm_and_release_settle_once() {
    let ruler = Ruler::new();
    let id = |body: &Value| body["hold_id"].as_str().unwrap_or_default().to_owned();
    let (_, sold) = ruler.hold(2, None);
    let (_, freed) = ruler.hold(1, None);
    let confirm = |hold: &str| {
        let path = format!("/holds/{hold}/confirm");
        ruler.call("POST", &path, &json!({"payment_ref": "p-1"}), None)
    };
    let release = |hold: &str| {
        ruler.call(
            "POST",
            &format!("/holds/{hold}/release"),
            &Value::Null,
            None,
        )
    };
    let (status, body) = confirm(&id(&sold));
    assert_eq!((status, body["status"].as_str()), (200, Some("confirmed")));
    assert_eq!(confirm(&id(&sold)).0, 200, "a confirm is idempotent");
    assert_eq!(release(&id(&sold)).0, 409, "a confirmed hold stays sold");
    assert_eq!(release(&id(&freed)).0, 200);
    assert_eq!(confirm(&id(&freed)).0, 409, "a released hold is not sold");
    assert_eq!(ruler.counts(), (3, 0, 2));
    let (status, body) = ruler.call("GET", &format!("/holds/{}", id(&sold)), &Value::Null, None);
    assert_eq!((status, body["status"].as_str()), (200, Some("confirmed")));
    assert_eq!(
        ruler
            .call("GET", "/holds/i~gig~0~9~x", &Value::Null, None)
            .0,
        404
    );
    assert_eq!(
        ruler.call("GET", "/holds/nonsense", &Value::Null, None).0,
        404
    );
}

#[test]
fn an_expired_hold_cannot_be_confirmed() {
    let ruler = Ruler::new();
    let (_, held) = ruler.hold(1, None);
    ruler.env.advance_ms(61_000);
    let path = format!(
        "/holds/{}/confirm",
        held["hold_id"].as_str().unwrap_or_default()
    );
    assert_eq!(ruler.call("POST", &path, &json!({}), None).0, 410);
    assert_eq!(ruler.counts(), (5, 0, 0));
}

#[test]
fn bad_requests_change_nothing() {
    let ruler = Ruler::new();
    let writes = ruler.store.writes();
    let bad = [
        json!({"section": "floor", "quantity": 0}),
        json!({"section": "floor", "quantity": 11}),
        json!({"section": "balcony", "quantity": 1}),
        json!("not an object"),
    ];
    for body in bad {
        let (status, _) = ruler.call("POST", "/events/gig/holds", &body, None);
        assert!((400..500).contains(&status), "{body}: {status}");
    }
    assert_eq!(
        ruler.call("POST", "/events/none/holds", &json!({}), None).0,
        404
    );
    assert_eq!(ruler.store.writes(), writes);
}

/// A keyed hold goes to its key's home only: twins always meet there, so a
/// key never gets two holds, even when units elsewhere free up in between.
#[test]
fn a_keyed_hold_stays_at_its_home() {
    let ruler = Ruler::new();
    let keys: Vec<String> = (0..64).map(|n| format!("home-key-{n:010}")).collect();
    let home = super::home(&keys[0], 2);
    let same: Vec<&String> = keys.iter().filter(|k| super::home(k, 2) == home).collect();
    // Shard 0 has 3 units, shard 1 has 2: fill the home.
    let units = if home == 0 { 3 } else { 2 };
    assert_eq!(ruler.hold(units, Some(same[0])).0, 201);
    let (status, refused) = ruler.hold(1, Some(same[1]));
    assert_eq!((status, refused["available"].as_u64()), (409, Some(0)));
    let (available, _, _) = ruler.counts();
    assert_eq!(
        available,
        5 - u64::from(units),
        "the other shard still has room"
    );
    assert_eq!(
        ruler.hold(units, Some(same[0])).0,
        201,
        "the key's hold, replayed"
    );
}
