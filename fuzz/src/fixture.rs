//! The prepared event every request-level target starts from, made once
//! per process through the router (the same path a component takes): a
//! general section spread over shards, a seated section in two seat blocks,
//! a small general section whose shards sell through (so ledger pages hold
//! parts), a customer limit (so customer buckets exist), and holds of every
//! kind: live, confirmed, released, keyed, and spread over several
//! documents. Each run copies its stored values into a fresh store.

use booking_core::model::{InventoryDoc, LedgerPage};
use booking_core::{
    Config, Ctx, ManualEnv, MemoryStore, Reply, Request, Route, Store, Tuning,
};
use serde_json::{Value, json};
use std::sync::OnceLock;

/// Both bearer tokens (admin and confirm); 16+ characters as the admin
/// token must be.
pub const TOKEN: &str = "fuzz-token-0123456789";
pub const EVENT: &str = "gig";
pub const START_MS: u64 = 1_800_000_000_000;
/// Seats of section `A`.
pub const SEATS: usize = 70;
/// Requests a run may make at most (both request-level targets).
pub const REQUESTS_PER_RUN_MAX: usize = 8;

/// A hold the fixture placed.
#[derive(Debug, Clone)]
pub struct KnownHold {
    pub id: String,
    /// The request body that placed it (a replay sends it again).
    pub body: Value,
    pub key: Option<String>,
    pub confirmed: bool,
}

#[derive(Debug)]
pub struct Fixture {
    /// Every stored key and value after the set-up, sorted by key.
    pub values: Vec<(String, Vec<u8>)>,
    pub holds: Vec<KnownHold>,
    pub definition: Value,
    pub config: Config,
    pub now_ms: u64,
}

/// The fixture, built on first use.
pub fn fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(build)
}

pub fn seat(index: usize) -> String {
    format!("A-{}", index % SEATS + 1)
}

pub fn request(method: &str, path: &str, headers: &[(&str, &str)], body: Vec<u8>) -> Request {
    Request {
        method: method.to_owned(),
        path: path.to_owned(),
        headers: headers
            .iter()
            .map(|(name, value)| ((*name).to_owned(), (*value).to_owned()))
            .collect(),
        body,
    }
}

/// Answers `request` as the component spin.toml routes its path to.
pub fn call<S: Store>(store: &S, env: &ManualEnv, config: &Config, request: &Request) -> Reply {
    let ctx = Ctx::new(store, env, config);
    booking_core::handle(Route::component(&request.path), request, &ctx)
}

impl Fixture {
    /// A fresh store holding the fixture's values.
    pub fn store(&self) -> MemoryStore {
        store_of(self.values.iter().cloned())
    }

    /// A clock at the fixture's time, with a seeded random source.
    pub fn env(&self, seed: u64) -> ManualEnv {
        ManualEnv::new(self.now_ms, seed)
    }

    pub fn value(&self, key: &str) -> Option<&[u8]> {
        self.values
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_slice())
    }
}

/// A fresh store holding these values.
pub fn store_of(values: impl Iterator<Item = (String, Vec<u8>)>) -> MemoryStore {
    let store = MemoryStore::new();
    for (key, value) in values {
        if store.put(&key, &value).is_err() {
            panic!("the memory store refused a put of {key}");
        }
    }
    store
}

fn definition() -> Value {
    let seats: Vec<String> = (0..SEATS).map(seat).collect();
    json!({
        "name": "Fuzz Gig",
        "hold_ttl_seconds": 600,
        "max_per_customer": 12,
        "sections": [
            {"id": "floor", "capacity": 24, "shards": 3},
            {"id": "A", "seats": seats},
            {"id": "balcony", "capacity": 6, "shards": 3},
        ],
    })
}

/// What the set-up places: (body, Idempotency-Key, then confirm, then release).
fn placements() -> Vec<(Value, Option<&'static str>, bool, bool)> {
    vec![
        (
            json!({"section": "floor", "quantity": 3, "customer_id": "c-1"}),
            None,
            true,
            false,
        ),
        (
            json!({"section": "floor", "quantity": 2}),
            Some("fuzz-key-floor-00001"),
            false,
            false,
        ),
        (
            json!({"section": "floor", "quantity": 10, "customer_id": "c-2"}),
            None,
            false,
            false,
        ),
        (
            json!({"section": "floor", "quantity": 4}),
            Some("fuzz-key-floor-00002"),
            true,
            false,
        ),
        (
            json!({"section": "balcony", "quantity": 2}),
            None,
            true,
            false,
        ),
        (
            json!({"section": "balcony", "quantity": 2}),
            None,
            true,
            false,
        ),
        (
            json!({"section": "balcony", "quantity": 1}),
            None,
            false,
            true,
        ),
        (
            json!({"section": "A", "seats": ["A-1", "A-2"], "customer_id": "c-1"}),
            None,
            true,
            false,
        ),
        (
            json!({"section": "A", "seats": ["A-3", "A-4", "A-5", "A-6"]}),
            Some("fuzz-key-seats-00001"),
            false,
            false,
        ),
        (
            json!({"section": "A", "seats": ["A-10"]}),
            None,
            false,
            true,
        ),
        (
            json!({"section": "A", "seats": ["A-20", "A-40", "A-60", "A-69"]}),
            None,
            false,
            false,
        ),
    ]
}

fn build() -> Fixture {
    let store = MemoryStore::new();
    let env = ManualEnv::new(START_MS, 7);
    let config = Config {
        admin_token: Some(TOKEN.to_owned()),
        confirm_token: Some(TOKEN.to_owned()),
        organiser_token: None,
        buyer_tokens: booking_core::BuyerTokens::Off,
        hold_ttl_seconds_default: 300,
        tuning: Tuning::default(),
    };
    let bearer = format!("Bearer {TOKEN}");
    let auth = [("authorization", bearer.as_str())];
    let definition = definition();
    let put = request(
        "PUT",
        &format!("/events/{EVENT}"),
        &auth,
        definition.to_string().into_bytes(),
    );
    expect(call(&store, &env, &config, &put), 201, "create the event");
    let mut holds = Vec::new();
    for (body, key, confirm, release) in placements() {
        let mut headers = auth.to_vec();
        headers.extend(key.map(|key| ("idempotency-key", key)));
        let post = request(
            "POST",
            &format!("/events/{EVENT}/holds"),
            &headers,
            body.to_string().into_bytes(),
        );
        let placed = expect(call(&store, &env, &config, &post), 201, "place a hold");
        let id = placed["hold_id"].as_str().unwrap_or_default().to_owned();
        if confirm {
            let payment = json!({"payment_ref": "pay-setup"}).to_string().into_bytes();
            let confirm = request("POST", &format!("/holds/{id}/confirm"), &auth, payment);
            expect(call(&store, &env, &config, &confirm), 200, "confirm a hold");
        }
        if release {
            let release = request("POST", &format!("/holds/{id}/release"), &[], Vec::new());
            expect(call(&store, &env, &config, &release), 200, "release a hold");
        }
        holds.push(KnownHold {
            id,
            body,
            key: key.map(str::to_owned),
            confirmed: confirm,
        });
    }
    env.advance_ms(1_000);
    let values: Vec<(String, Vec<u8>)> = store
        .keys()
        .into_iter()
        .filter_map(|key| store.raw(&key).map(|value| (key, value)))
        .collect();
    check_coverage(&values);
    Fixture {
        values,
        holds,
        definition,
        config,
        now_ms: START_MS + 1_000,
    }
}

fn expect(reply: Reply, status: u16, what: &str) -> Value {
    let body: Value = serde_json::from_slice(&reply.body).unwrap_or(Value::Null);
    if reply.status != status {
        panic!("fixture: {what}: {} {body}", reply.status);
    }
    body
}

/// The set-up must leave what the targets mean to corrupt: a ledger page
/// with parts and a hold spread over documents.
fn check_coverage(values: &[(String, Vec<u8>)]) {
    let ledger_parts: usize = values
        .iter()
        .filter(|(key, _)| key.contains("/l/"))
        .filter_map(|(_, value)| serde_json::from_slice::<LedgerPage>(value).ok())
        .map(|page| page.parts.len())
        .sum();
    let spread = values
        .iter()
        .filter(|(key, _)| key.contains("/s/"))
        .filter_map(|(_, value)| serde_json::from_slice::<InventoryDoc>(value).ok())
        .any(|doc| doc.parts.iter().any(|part| !part.other_docs.is_empty()));
    if ledger_parts == 0 || !spread {
        panic!(
            "fixture: ledger parts {ledger_parts}, a spread hold {spread}: the set-up no longer covers them"
        );
    }
}
