//! Every stored document corrupted: the fixture's event, one of its stored
//! values (any key of the event) replaced by fuzzer bytes, foreign JSON,
//! one field changed, a truncation, a flipped byte, another key's value,
//! or nothing (deleted); then a sequence of requests.
//!
//! A value is *corrupted* when it no longer decodes as its key's document
//! (the model's types, or the 8-byte counter of a register or claim).
//! Properties:
//! - no panic, and every reply well formed;
//! - a request that read a corrupted value before writing anything (so had
//!   decided nothing) answers 500 or 503;
//! - no request overwrites a corrupted value (the meta copy's repair from
//!   its generation's own meta excepted): the damage stays for an operator;
//! - "nothing written": a request answered with an error leaves the sale as
//!   it was (see `Sale`): no hold placed, confirmed, released or moved, no
//!   document taking more units, no customer counted for more. For an
//!   operation over several documents this is what can be promised: its
//!   writes before the failure are undone (secondary parts removed, a
//!   reservation given back) or are tidying that changes no count;
//! - afterwards, in every section whose own documents were not replaced:
//!   no document over capacity, no seat taken twice or outside its block,
//!   every confirmed hold still confirmed, every placed hold still there,
//!   and availability (when it answers) adds up.
#![no_main]

use arbitrary::Arbitrary;
use booking_core::model::{
    CustomerDoc, EventDoc, EventMeta, FeedPage, InventoryDoc, LedgerPage, Register,
    SectionSummary,
};
use booking_core::{Env, HoldRef, MemoryStore, Request, Route};
use booking_fuzz::calls::{Call, bounded};
use booking_fuzz::fixture::{EVENT, TOKEN, call, request, seat};
use booking_fuzz::json::{Json, pointers};
use booking_fuzz::sale::section_of;
use booking_fuzz::stats::{self, Reached};
use booking_fuzz::{Event, Sale, Traced, check_documents, check_reply, fixture};
use libfuzzer_sys::fuzz_target;
use serde_json::{Value, json};

#[derive(Debug, Arbitrary)]
struct Case {
    seed: u64,
    target: u16,
    corruption: Corruption,
    ops: Vec<Op>,
}

#[derive(Debug, Arbitrary)]
enum Corruption {
    Bytes(Vec<u8>),
    Json(Json),
    /// One place of the stored JSON replaced.
    Edit {
        at: u16,
        with: Json,
    },
    Truncate(u16),
    /// Another key's value.
    CopyOf(u16),
    Flip {
        at: u16,
        xor: u8,
    },
    Splice {
        at: u16,
        bytes: Vec<u8>,
    },
    Delete,
}

#[derive(Debug, Arbitrary)]
enum Op {
    Hold {
        section: u8,
        quantity: u8,
        seats: Vec<u8>,
        customer: Option<u8>,
        key: Option<u8>,
    },
    Replay(u8),
    Confirm {
        hold: u8,
        other_payment: bool,
    },
    Release(u8),
    Status(u8),
    Availability,
    GetEvent,
    PutEvent,
    /// Seconds to move the clock (at most 300 per step).
    Advance(u16),
    Any(Call),
}

fuzz_target!(|case: Case| {
    let fixture = fixture();
    stats::note(Reached::Run);
    let env = fixture.env(case.seed);
    let keys: Vec<&str> = fixture.values.iter().map(|(k, _)| k.as_str()).collect();
    let target = keys[usize::from(case.target) % keys.len()].to_owned();
    let Some((store, corrupted)) = corrupt(&target, &case.corruption, &keys) else {
        return;
    };
    let kind = Kind::of(&target);
    let damaged = corrupted
        .as_deref()
        .is_some_and(|bytes| !kind.decodes(bytes));
    let mut run = Run {
        holds: fixture.holds.iter().map(|h| h.id.clone()).collect(),
        confirmed: fixture
            .holds
            .iter()
            .filter(|h| h.confirmed)
            .map(|h| h.id.clone())
            .collect(),
        placed: Vec::new(),
    };
    for op in bounded(&case.ops) {
        if let Op::Advance(seconds) = op {
            env.advance_ms(u64::from(*seconds % 301) * 1_000);
            continue;
        }
        let request = op.request(&run.holds);
        let traced = Traced::new(&store);
        let sale_before = Sale::read(&store, env.now_ms());
        let reply = call(&traced, &env, &fixture.config, &request);
        check_reply(&request, &reply);
        stats::note_status(reply.status);
        let events = traced.take();
        let shown = || {
            format!(
                "{target} corrupted; {} {} -> {} {}",
                request.method,
                request.path,
                reply.status,
                String::from_utf8_lossy(&reply.body)
            )
        };
        if damaged && kind.decides(&target, &request) {
            check_damaged_reads(&events, &target, kind, reply.status, &shown);
        }
        check_no_overwrite(&events, &target, kind, &shown);
        if !(200..300).contains(&reply.status) {
            let changed = sale_before.changed_to(&Sale::read(&store, env.now_ms()));
            assert!(
                changed.is_none(),
                "an error changed the sale ({changed:?}): {}",
                shown()
            );
        }
        run.record(&request, &reply);
    }
    let intact = |section: usize| {
        section_of(&target, "/s/") != Some(section) && section_of(&target, "/l/") != Some(section)
    };
    let broken = check_documents(
        &store,
        env.now_ms(),
        (intact, target.as_str()),
        (&run.confirmed, &run.placed),
        12,
    );
    assert!(
        broken.is_none(),
        "{target} corrupted ({:?}); after the run: {broken:?}",
        case.corruption
    );
    stats::note(Reached::FinalCheck);
    let layout_intact = !matches!(kind, Kind::Meta | Kind::Register);
    check_availability(&store, &env, &intact, layout_intact);
});

/// What a key holds, so that "does not decode" means what the core means.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Register,
    Counter,
    Meta,
    Definition,
    Inventory,
    Ledger,
    Summary,
    Customer,
    /// A feed page: read by the feed, and written by the best-effort copy
    /// that follows an inventory write.
    FeedPage,
}

impl Kind {
    fn of(key: &str) -> Kind {
        let rest = key.strip_prefix(&format!("e/{EVENT}")).unwrap_or(key);
        match rest {
            "/gen" => Kind::Register,
            "/claim" => Kind::Counter,
            "" => Kind::Meta,
            _ if rest.ends_with("/meta") => Kind::Meta,
            _ if rest.ends_with("/def") => Kind::Definition,
            _ if rest.contains("/s/") => Kind::Inventory,
            _ if rest.contains("/l/") => Kind::Ledger,
            _ if rest.contains("/f/") => Kind::Summary,
            _ if rest.contains("/p/") => Kind::FeedPage,
            _ => Kind::Customer,
        }
    }

    /// Whether `request` reads a key of this kind to decide its answer
    /// (rather than in a best-effort follow-up of a decision already
    /// stored): customer buckets and section summaries decide only a new
    /// hold; a confirm or release decides on its hold's primary document
    /// (and its ledger page), and only follows up on its other documents,
    /// also when it repeats a decision and so writes nothing.
    fn decides(self, target: &str, request: &Request) -> bool {
        let primary = |id: &str| {
            HoldRef::parse(id)
                .is_some_and(|hold| target.ends_with(&format!("/s/{}/{}", hold.section, hold.doc)))
        };
        let route = Route::parse(&request.path);
        match (self, route, request.method.as_str()) {
            (Kind::Summary | Kind::Customer, Route::Holds(_), "POST") => true,
            (Kind::Summary | Kind::Customer, _, _) => false,
            (Kind::FeedPage, route, _) => matches!(route, Route::Changes(_)),
            (Kind::Inventory, Route::Confirm(id) | Route::Release(id), "POST") => primary(&id),
            (Kind::Inventory, Route::Hold(id), "DELETE") => primary(&id),
            _ => true,
        }
    }

    fn decodes(self, bytes: &[u8]) -> bool {
        fn json<D: serde::de::DeserializeOwned>(bytes: &[u8]) -> bool {
            serde_json::from_slice::<D>(bytes).is_ok()
        }
        match self {
            Kind::Register => Register::decode(bytes).is_some(),
            Kind::Counter => bytes.len() == 8,
            Kind::Meta => json::<EventMeta>(bytes),
            Kind::Definition => json::<EventDoc>(bytes),
            Kind::Inventory => json::<InventoryDoc>(bytes),
            Kind::Ledger => json::<LedgerPage>(bytes),
            Kind::Summary => json::<SectionSummary>(bytes),
            Kind::Customer => json::<CustomerDoc>(bytes),
            Kind::FeedPage => json::<FeedPage>(bytes),
        }
    }
}

/// The fixture's values with `target`'s replaced, and its new value
/// (`None`: deleted); nothing when the corruption left it as it was.
fn corrupt(
    target: &str,
    corruption: &Corruption,
    keys: &[&str],
) -> Option<(MemoryStore, Option<Vec<u8>>)> {
    let fixture = fixture();
    let original = fixture.value(target).unwrap_or_default();
    let replaced = match corruption {
        Corruption::Bytes(bytes) => Some(bytes.clone()),
        Corruption::Json(json) => Some(json.value().to_string().into_bytes()),
        Corruption::Edit { at, with } => {
            let mut value: Value = serde_json::from_slice(original).ok()?;
            let places = pointers(&value);
            let place = places.get(usize::from(*at) % places.len())?;
            *value.pointer_mut(place)? = with.value();
            Some(value.to_string().into_bytes())
        }
        Corruption::Truncate(length) => {
            Some(original[..usize::from(*length) % original.len().max(1)].to_vec())
        }
        Corruption::CopyOf(index) => fixture
            .value(keys[usize::from(*index) % keys.len()])
            .map(<[u8]>::to_vec),
        Corruption::Flip { at, xor } => {
            let mut bytes = original.to_vec();
            let at = usize::from(*at) % bytes.len().max(1);
            if let Some(byte) = bytes.get_mut(at) {
                *byte ^= xor;
            }
            Some(bytes)
        }
        Corruption::Splice { at, bytes } => {
            let mut spliced = original.to_vec();
            let at = usize::from(*at) % (spliced.len() + 1);
            spliced.splice(at..at, bytes.iter().copied());
            Some(spliced)
        }
        Corruption::Delete => None,
    };
    if replaced.as_deref() == Some(original) {
        return None;
    }
    let values = fixture.values.iter().filter_map(|(key, value)| {
        if key != target {
            Some((key.clone(), value.clone()))
        } else {
            replaced.clone().map(|bytes| (key.clone(), bytes))
        }
    });
    Some((booking_fuzz::fixture::store_of(values), replaced))
}

/// A read of the corrupted value before any write: the request decided
/// nothing yet, so it must fail as a server error.
fn check_damaged_reads(
    events: &[Event],
    target: &str,
    kind: Kind,
    status: u16,
    shown: &dyn Fn() -> String,
) {
    for event in events {
        match event {
            Event::Wrote { .. } => return,
            Event::Read {
                key,
                value: Some(bytes),
            } if key == target && !kind.decodes(bytes) => {
                assert!(
                    status == 500 || status == 503,
                    "read a corrupted value and answered: {}",
                    shown()
                );
                stats::note(Reached::DamagedRead);
                return;
            }
            Event::Read { .. } => {}
        }
    }
}

/// No write lands on a value that does not decode, except the repair of
/// the meta copy from its generation's own meta.
fn check_no_overwrite(events: &[Event], target: &str, kind: Kind, shown: &dyn Fn() -> String) {
    let mut current: Option<Vec<u8>> = None;
    for event in events {
        match event {
            Event::Read { key, value } if key == target => current = value.clone(),
            Event::Wrote { key, value } if key == target => {
                let was_damaged = current.as_deref().is_some_and(|bytes| !kind.decodes(bytes));
                let repair = target == format!("e/{EVENT}") && kind.decodes(value);
                assert!(
                    !was_damaged || repair,
                    "overwrote a corrupted value: {}",
                    shown()
                );
                current = Some(value.clone());
            }
            _ => {}
        }
    }
}

struct Run {
    holds: Vec<String>,
    confirmed: Vec<String>,
    placed: Vec<String>,
}

impl Run {
    fn record(&mut self, request: &Request, reply: &booking_core::Reply) {
        let body: Value = serde_json::from_slice(&reply.body).unwrap_or(Value::Null);
        let Some(id) = body["hold_id"].as_str().map(str::to_owned) else {
            return;
        };
        match (
            Route::parse(&request.path),
            request.method.as_str(),
            reply.status,
        ) {
            (Route::Holds(_), "POST", 201) => {
                self.holds.push(id.clone());
                self.placed.push(id);
            }
            (Route::Confirm(_), "POST", 200) => self.confirmed.push(id),
            _ => {}
        }
    }
}

fn pick(items: &[String], index: u8) -> String {
    if items.is_empty() {
        String::new()
    } else {
        items[usize::from(index) % items.len()].clone()
    }
}

impl Op {
    fn request(&self, holds: &[String]) -> Request {
        let bearer = format!("Bearer {TOKEN}");
        let auth = [("authorization", bearer.as_str())];
        let holds_path = format!("/events/{EVENT}/holds");
        match self {
            Op::Hold {
                section,
                quantity,
                seats,
                customer,
                key,
            } => {
                let sections = ["floor", "A", "balcony"];
                let section = sections[usize::from(*section) % sections.len()];
                let mut body = json!({"section": section});
                if section == "A" {
                    let seats: Vec<String> = seats
                        .iter()
                        .take(10)
                        .map(|s| seat(usize::from(*s)))
                        .collect();
                    body["seats"] = json!(seats);
                } else {
                    body["quantity"] = json!(quantity % 11);
                }
                if let Some(customer) = customer {
                    body["customer_id"] = json!(format!("c-{}", customer % 4));
                }
                let key = key.map(|k| format!("fuzz-key-run-{:06}", k % 4));
                let mut headers = auth.to_vec();
                headers.extend(key.as_deref().map(|k| ("idempotency-key", k)));
                request("POST", &holds_path, &headers, body.to_string().into_bytes())
            }
            Op::Replay(index) => {
                let fixture = fixture();
                let hold = &fixture.holds[usize::from(*index) % fixture.holds.len()];
                let mut headers = auth.to_vec();
                headers.extend(hold.key.as_deref().map(|k| ("idempotency-key", k)));
                request(
                    "POST",
                    &holds_path,
                    &headers,
                    hold.body.to_string().into_bytes(),
                )
            }
            Op::Confirm {
                hold,
                other_payment,
            } => {
                let payment = if *other_payment {
                    "pay-other"
                } else {
                    "pay-setup"
                };
                let body = json!({"payment_ref": payment}).to_string().into_bytes();
                request(
                    "POST",
                    &format!("/holds/{}/confirm", pick(holds, *hold)),
                    &auth,
                    body,
                )
            }
            Op::Release(hold) => request(
                "POST",
                &format!("/holds/{}/release", pick(holds, *hold)),
                &[],
                Vec::new(),
            ),
            Op::Status(hold) => request(
                "GET",
                &format!("/holds/{}", pick(holds, *hold)),
                &[],
                Vec::new(),
            ),
            Op::Availability => request(
                "GET",
                &format!("/events/{EVENT}/availability"),
                &[],
                Vec::new(),
            ),
            Op::GetEvent => request("GET", &format!("/events/{EVENT}"), &[], Vec::new()),
            Op::PutEvent => {
                let body = fixture().definition.to_string().into_bytes();
                request("PUT", &format!("/events/{EVENT}"), &auth, body)
            }
            Op::Advance(_) => request("GET", "/", &[], Vec::new()),
            Op::Any(call) => call.request(fixture(), holds),
        }
    }
}

/// When availability answers 200: every section whose documents and
/// layout are intact adds up, and sells at most its capacity.
fn check_availability(
    store: &MemoryStore,
    env: &booking_core::ManualEnv,
    intact: &dyn Fn(usize) -> bool,
    layout_intact: bool,
) {
    let request = request(
        "GET",
        &format!("/events/{EVENT}/availability"),
        &[],
        Vec::new(),
    );
    let reply = call(store, env, &fixture().config, &request);
    check_reply(&request, &reply);
    if reply.status != 200 || !layout_intact {
        return;
    }
    let body: Value = serde_json::from_slice(&reply.body).unwrap_or(Value::Null);
    for (index, section) in body["sections"]
        .as_array()
        .into_iter()
        .flatten()
        .enumerate()
    {
        if !intact(index) {
            continue;
        }
        let n = |field: &str| section[field].as_u64().unwrap_or(u64::MAX);
        let (available, held, sold, capacity) =
            (n("available"), n("held"), n("sold"), n("capacity"));
        assert!(
            sold <= capacity && available.saturating_add(held).saturating_add(sold) == capacity,
            "availability does not add up: {section}"
        );
    }
}
