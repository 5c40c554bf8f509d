//! Shared helpers for the core's tests: a booking "server" over the memory
//! store with a hand-moved clock, called through the same router the Spin
//! components use.
#![allow(dead_code)]

use booking_core::ManualEnv;
use booking_core::MemoryStore;
use booking_core::model::{InventoryDoc, PartStatus, SectionSummary};
use booking_core::{Config, Ctx, Request, Route, Tuning};
use serde_json::{Value, json};

pub const TOKEN: &str = "secret-token";
pub const START_MS: u64 = 1_800_000_000_000;

#[derive(Clone)]
pub struct Booking {
    pub store: MemoryStore,
    pub env: ManualEnv,
    pub config: Config,
}

#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub body: Value,
    pub headers: Vec<(String, String)>,
}

impl Answer {
    pub fn problem(&self) -> String {
        let kind = self.body["type"].as_str().unwrap_or_default();
        kind.rsplit('/').next().unwrap_or_default().to_owned()
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    pub fn str(&self, field: &str) -> String {
        self.body[field].as_str().unwrap_or_default().to_owned()
    }
}

impl Booking {
    pub fn new(seed: u64) -> Self {
        Self {
            store: MemoryStore::new(),
            env: ManualEnv::new(START_MS, seed),
            config: Config {
                admin_token: Some(TOKEN.into()),
                confirm_token: Some(TOKEN.into()),
                organiser_token: None,
                buyer_tokens: booking_core::BuyerTokens::Off,
                hold_ttl_seconds_default: 300,
                tuning: Tuning::default(),
            },
        }
    }

    pub fn call(&self, method: &str, path: &str, body: &Value, headers: &[(&str, &str)]) -> Answer {
        let bearer = format!("Bearer {TOKEN}");
        let mut all = headers.to_vec();
        all.push(("authorization", &bearer));
        self.call_exactly(method, path, body, &all)
    }

    /// A call with exactly these headers (no `authorization` added).
    pub fn call_exactly(
        &self,
        method: &str,
        path: &str,
        body: &Value,
        headers: &[(&str, &str)],
    ) -> Answer {
        let all: Vec<(String, String)> = headers
            .iter()
            .map(|(n, v)| ((*n).into(), (*v).into()))
            .collect();
        let request = Request {
            method: method.into(),
            path: path.into(),
            headers: all,
            body: if body.is_null() {
                Vec::new()
            } else {
                body.to_string().into_bytes()
            },
        };
        let ctx = Ctx::new(&self.store, &self.env, &self.config);
        let reply = booking_core::handle(Route::component(path), &request, &ctx);
        Answer {
            status: reply.status,
            body: serde_json::from_slice(&reply.body).unwrap_or(Value::Null),
            headers: reply.headers,
        }
    }

    /// A GET-like call without a body: status, content type and body text.
    pub fn raw(&self, method: &str, path: &str, headers: &[(&str, &str)]) -> (u16, String, String) {
        let request = Request {
            method: method.into(),
            path: path.into(),
            headers: headers
                .iter()
                .map(|(n, v)| ((*n).into(), (*v).into()))
                .collect(),
            body: Vec::new(),
        };
        let ctx = Ctx::new(&self.store, &self.env, &self.config);
        let reply = booking_core::handle(Route::component(path), &request, &ctx);
        let text = String::from_utf8_lossy(&reply.body).into_owned();
        (reply.status, reply.content_type.to_owned(), text)
    }

    pub fn create(&self, event: &str, definition: Value) -> Answer {
        self.call("PUT", &format!("/events/{event}"), &definition, &[])
    }

    pub fn hold(&self, event: &str, body: Value) -> Answer {
        self.call("POST", &format!("/events/{event}/holds"), &body, &[])
    }

    pub fn hold_with_key(&self, event: &str, body: Value, key: &str) -> Answer {
        self.call(
            "POST",
            &format!("/events/{event}/holds"),
            &body,
            &[("idempotency-key", key)],
        )
    }

    pub fn confirm(&self, hold_id: &str) -> Answer {
        self.call(
            "POST",
            &format!("/holds/{hold_id}/confirm"),
            &json!({"payment_ref": "pay-1"}),
            &[],
        )
    }

    pub fn release(&self, hold_id: &str) -> Answer {
        self.call(
            "POST",
            &format!("/holds/{hold_id}/release"),
            &Value::Null,
            &[],
        )
    }

    pub fn status(&self, hold_id: &str) -> Answer {
        self.call("GET", &format!("/holds/{hold_id}"), &Value::Null, &[])
    }

    /// The sections of the event's availability, asserting it answers.
    pub fn sections(&self, event: &str) -> Vec<Value> {
        let answer = self.call(
            "GET",
            &format!("/events/{event}/availability"),
            &Value::Null,
            &[],
        );
        assert_eq!(answer.status, 200, "{:?}", answer.body);
        answer.body["sections"]
            .as_array()
            .cloned()
            .unwrap_or_default()
    }

    /// `(available, held, sold)` of a section, asserting they add up.
    pub fn counts(&self, event: &str, section: &str) -> (u64, u64, u64) {
        let sections = self.sections(event);
        let s = sections
            .iter()
            .find(|s| s["id"] == section)
            .unwrap_or_else(|| panic!("no section {section}"));
        let n = |f: &str| s[f].as_u64().unwrap_or(u64::MAX);
        assert_eq!(n("available") + n("held") + n("sold"), n("capacity"), "{s}");
        (n("available"), n("held"), n("sold"))
    }

    /// Every inventory document in the store.
    pub fn inventory_docs(&self) -> Vec<(String, InventoryDoc)> {
        self.store
            .keys()
            .into_iter()
            .filter(|k| k.contains("/s/"))
            .filter_map(|k| {
                let doc = self.store.inventory_with_ledger(&k)?;
                Some((k, doc))
            })
            .collect()
    }

    /// Storage invariants over every document (see [`document_violation`]).
    /// Returns the number of confirmed units.
    pub fn check_documents(&self) -> u64 {
        let now = booking_core::Env::now_ms(&self.env);
        let mut confirmed = 0u64;
        for (key, doc) in self.inventory_docs() {
            if let Some(violation) = document_violation(&doc, now) {
                panic!("{key}: {violation}");
            }
            confirmed += doc
                .parts
                .iter()
                .filter(|p| p.status == PartStatus::Confirmed)
                .map(|p| u64::from(p.units()))
                .sum::<u64>();
        }
        if let Some(violation) = self.summary_violation() {
            panic!("{violation}");
        }
        confirmed
    }

    /// A shard the section summary marks full (until a time still ahead)
    /// that has room: buyers would be told "sold out" while units are free.
    pub fn summary_violation(&self) -> Option<String> {
        let now = booking_core::Env::now_ms(&self.env);
        for key in self.store.keys().into_iter().filter(|k| k.contains("/f/")) {
            let bytes = self.store.raw(&key)?;
            let summary: SectionSummary = serde_json::from_slice(&bytes).expect("summary parses");
            for (shard, (_, until)) in summary.shards.iter().enumerate() {
                let shard_key = format!("{}/{shard}", key.replace("/f/", "/s/"));
                let doc: InventoryDoc = serde_json::from_slice(&self.store.raw(&shard_key)?)
                    .expect("inventory document parses");
                if *until > now && doc.room(now) > 0 {
                    return Some(format!(
                        "{key}: shard {shard} marked full until {until} but has room {} at {now}: summary {}, shard {}",
                        doc.room(now),
                        String::from_utf8_lossy(&bytes),
                        String::from_utf8_lossy(&self.store.raw(&shard_key)?)
                    ));
                }
            }
        }
        None
    }
}

/// `count` Idempotency-Keys whose home is document `home` of a section of
/// `docs` documents, distinct per `prefix`.
pub fn keys_homed(prefix: &str, home: usize, docs: u32, count: usize) -> Vec<String> {
    (0..)
        .map(|index| format!("{prefix}-key-{index:06}-homed"))
        .filter(|key| booking_core::model::KeyTag::new(key, 0).home_doc(docs) == home)
        .take(count)
        .collect()
}

/// What is wrong with one inventory document, if anything: more units live
/// than it has, or a seat in two live parts. Live means sold, held, or a
/// secondary part not yet resolved against its primary.
pub fn document_violation(doc: &InventoryDoc, now: u64) -> Option<String> {
    let live: Vec<_> = doc
        .parts
        .iter()
        .filter(|p| {
            p.status == PartStatus::Confirmed
                || (p.status == PartStatus::Held && (now < p.expires_ms || p.primary_doc.is_some()))
        })
        .collect();
    let used: u32 = live.iter().map(|p| p.units()).sum();
    if used > doc.capacity() {
        return Some(format!("over capacity: {used} > {}", doc.capacity()));
    }
    let mut seats: Vec<&String> = live.iter().flat_map(|p| &p.seats).collect();
    let total = seats.len();
    seats.sort();
    seats.dedup();
    (seats.len() != total).then(|| "a seat is in two live parts".to_owned())
}
