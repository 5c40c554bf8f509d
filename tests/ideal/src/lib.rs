//! The benchmark's ruler (issue 20): the least a correct booking can do with
//! a key-value store, served on the same runtime and store as the app, under
//! the same load tool and checker. Not a product.
//!
//! One document per shard of a general section holds the shard's capacity
//! and its holds. A hold is one CAS on one shard document (the next shard
//! only when one has no room); a confirm or a release is one CAS on the
//! hold's document; a read is one read. Nothing else: no change records, no
//! summary, no ledger, no customer limit, no pruning (every hold stays in its
//! document, which a one-sale run allows and a product must not), no seated
//! sections, and the confirm token is not checked. A hold takes its units
//! from one shard: a refusal's `available` is the most one hold could take,
//! so a buyer may be refused while the section's free units, spread over
//! shards, would add up to the request (the app spreads such a hold).
//!
//! On Redis, a hold, confirm or release is instead one Lua script that
//! decides in the server (`place.lua`, `resolve.lua`): no conflict, no retry.
//!
//! An Idempotency-Key homes its hold: a keyed hold goes to its key's home
//! shard only, where the same CAS (or script) that places it looks for the
//! key first, so twins meet there and one replays the other's hold. A keyed
//! hold whose home is full is refused (`sold-out`, with what the home has
//! free), though another shard may have room: the least that keeps one hold
//! per key with one write. (Walking on to other shards let twins place two
//! holds when units were freed between their walks: the checker caught it.)
//! An unkeyed hold starts at a random shard and walks on.
//!
//! Routes (the subset the load tool uses, as the PostgreSQL peer has it):
//! `PUT /events/:id`, `GET /events/:id/availability`, `POST /events/:id/holds`,
//! `GET /holds/:id`, `POST /holds/:id/confirm`, `POST /holds/:id/release`.

use booking_core::limits::{
    CAS_ATTEMPTS_BEFORE_MOVING, CAS_ATTEMPTS_MAX, CAS_BACKOFF_BASE_MILLISECONDS,
    CAS_BACKOFF_CAP_MILLISECONDS, SHARD_UNITS_TARGET, SHARDS_DEFAULT_MAX,
};
use booking_core::{Ctx, Env, Reply, Request, Snapshot, Store, StoreError, Swap};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

/// Units one hold may ask for, as in the app.
const HOLD_UNITS_MAX: u32 = 10;
/// Retry-After of a 503, in seconds.
const RETRY_AFTER_SECONDS: u32 = 1;
const PROBLEM_BASE: &str = "https://booking.example/problems/";

/// An event: its sections, shards and hold lifetime.
#[derive(Debug, Serialize, Deserialize)]
struct EventDoc {
    definition: Value,
    ttl_seconds: u32,
    sections: Vec<SectionDoc>,
}

#[derive(Debug, Serialize, Deserialize)]
struct SectionDoc {
    id: String,
    capacity: u32,
    shards: u32,
}

/// One shard: its capacity and every hold placed in it.
#[derive(Debug, Default, Serialize, Deserialize)]
struct ShardDoc {
    cap: u32,
    holds: Vec<Hold>,
}

/// A hold as its shard document stores it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Hold {
    /// The hold's nonce: the last part of its id.
    n: String,
    q: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    c: Option<String>,
    /// The Idempotency-Key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    k: Option<String>,
    t: u64,
    x: u64,
    /// `H` held, `C` confirmed, `R` released.
    s: char,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    p: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    b: Option<u64>,
}

impl Hold {
    fn live_units(&self, now_ms: u64) -> u32 {
        match self.s {
            'C' => self.q,
            'H' if now_ms < self.x => self.q,
            _ => 0,
        }
    }

    fn status(&self, now_ms: u64) -> &'static str {
        match self.s {
            'C' => "confirmed",
            'R' => "released",
            _ if now_ms >= self.x => "expired",
            _ => "held",
        }
    }
}

impl ShardDoc {
    fn taken(&self, now_ms: u64) -> u32 {
        self.holds.iter().map(|h| h.live_units(now_ms)).sum()
    }
}

/// Where a hold lives, from its id `i~<event>~<section>~<shard>~<nonce>`.
struct HoldAt {
    event: String,
    section: usize,
    shard: u32,
    nonce: String,
}

impl HoldAt {
    fn parse(id: &str) -> Option<HoldAt> {
        let mut parts = id.split('~');
        let (Some("i"), Some(event), Some(section), Some(shard), Some(nonce), None) = (
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
        ) else {
            return None;
        };
        Some(HoldAt {
            event: event.to_owned(),
            section: section.parse().ok()?,
            shard: shard.parse().ok()?,
            nonce: nonce.to_owned(),
        })
    }

    fn id(&self) -> String {
        let HoldAt {
            event,
            section,
            shard,
            nonce,
        } = self;
        format!("i~{event}~{section}~{shard}~{nonce}")
    }
}

/// Keys begin `e/<event>/`, as the app's: the Redis store places an event
/// on a primary by them. `i` keeps them apart from the app's own keys.
fn event_key(event: &str) -> String {
    format!("e/{event}/i")
}

fn shard_key(event: &str, section: usize, shard: u32) -> String {
    format!("e/{event}/i/{section}/{shard}")
}

/// How a request failed.
#[derive(Debug, Clone)]
pub enum Failure {
    Problem(u16, &'static str, String),
    /// Sold out: the most units one hold could still take.
    SoldOut(u32),
    Store(String),
}

impl From<StoreError> for Failure {
    fn from(error: StoreError) -> Self {
        Failure::Store(error.to_string())
    }
}

fn problem(status: u16, slug: &'static str, detail: impl Into<String>) -> Failure {
    Failure::Problem(status, slug, detail.into())
}

fn reply(result: Result<(u16, Value), Failure>, retries: u32) -> Reply {
    let mut answer = match result {
        Ok((status, body)) => Reply::json(status, &body),
        Err(Failure::Problem(status, slug, detail)) => problem_reply(status, slug, &detail),
        Err(Failure::SoldOut(available)) => {
            let detail = format!("at most {available} units fit one hold");
            let mut answer = problem_reply(409, "sold-out", &detail);
            let mut body: Value = serde_json::from_slice(&answer.body).unwrap_or(Value::Null);
            body["available"] = json!(available);
            answer.body = encode(&body);
            answer
        }
        Err(Failure::Store(error)) => {
            let mut answer = problem_reply(503, "store-unavailable", "retry shortly");
            answer.log = Some(format!("ideal: store: {error}"));
            answer
        }
    };
    if answer.status == 503 {
        answer
            .headers
            .push(("retry-after".into(), RETRY_AFTER_SECONDS.to_string()));
    }
    answer
        .headers
        .push(("x-cas-retries".into(), retries.to_string()));
    answer
}

fn problem_reply(status: u16, slug: &str, detail: &str) -> Reply {
    let body = json!({"type": format!("{PROBLEM_BASE}{slug}"), "title": slug.replace('-', " "),
        "status": status, "detail": detail});
    let mut answer = Reply::json(status, &body);
    answer.content_type = "application/problem+json";
    answer
}

/// Answers one request, changing shard documents by CAS.
pub fn handle<S: Store, E: Env>(request: &Request, ctx: &Ctx<'_, S, E>) -> Reply {
    handle_with(request, ctx, &CasWrites(ctx))
}

/// Answers one request, changing shard documents with `writes`.
pub fn handle_with<W: Writes, S: Store, E: Env>(
    request: &Request,
    ctx: &Ctx<'_, S, E>,
    writes: &W,
) -> Reply {
    let segments: Vec<&str> = request.path.trim_matches('/').split('/').collect();
    let mut retries = 0;
    let with = (request, ctx, writes);
    let result = match (request.method.as_str(), segments.as_slice()) {
        ("PUT", ["events", event]) => create(request, ctx, event),
        ("GET", ["events", event, "availability"]) => availability(ctx, event),
        ("POST", ["events", event, "holds"]) => place(with, event, &mut retries),
        ("GET", ["holds", id]) => read(ctx, id),
        ("POST", ["holds", id, "confirm"]) => resolve(with, id, true, &mut retries),
        ("POST", ["holds", id, "release"]) | ("DELETE", ["holds", id]) => {
            resolve(with, id, false, &mut retries)
        }
        _ => Err(problem(404, "not-found", "no such route")),
    };
    reply(result, retries)
}

fn decode<T: for<'a> Deserialize<'a>>(bytes: &[u8]) -> Result<T, Failure> {
    serde_json::from_slice(bytes).map_err(|e| problem(500, "internal", format!("stored: {e}")))
}

fn encode<T: Serialize>(value: &T) -> Vec<u8> {
    serde_json::to_vec(value).unwrap_or_default()
}

fn create<S: Store, E: Env>(
    request: &Request,
    ctx: &Ctx<'_, S, E>,
    event: &str,
) -> Result<(u16, Value), Failure> {
    let expected = ctx.config.admin_token.as_deref();
    let given = request
        .header("authorization")
        .and_then(|v| v.strip_prefix("Bearer "));
    if expected.is_none() || given != expected {
        return Err(problem(401, "unauthorized", "admin token required"));
    }
    let definition: Value = serde_json::from_slice(&request.body)
        .map_err(|_| problem(400, "invalid-json", "body is not JSON"))?;
    let doc = event_doc(&definition, ctx.config.hold_ttl_seconds_default)?;
    if let Some(stored) = ctx.store.get(&event_key(event))? {
        let stored: EventDoc = decode(&stored)?;
        return if stored.definition == definition {
            Ok((200, definition))
        } else {
            Err(problem(409, "event-conflict", "another definition exists"))
        };
    }
    for (index, section) in doc.sections.iter().enumerate() {
        for shard in 0..section.shards {
            let units = section.capacity / section.shards
                + u32::from(shard < section.capacity % section.shards);
            let shard_doc = ShardDoc {
                cap: units,
                holds: Vec::new(),
            };
            ctx.store
                .put(&shard_key(event, index, shard), &encode(&shard_doc))?;
        }
    }
    // The event last: a hold finds its shards once the event exists.
    ctx.store.put(&event_key(event), &encode(&doc))?;
    Ok((201, definition))
}

fn event_doc(definition: &Value, ttl_default_seconds: u32) -> Result<EventDoc, Failure> {
    let invalid = || {
        problem(
            422,
            "invalid-event",
            "general sections with id and capacity",
        )
    };
    let sections = definition["sections"].as_array().ok_or_else(invalid)?;
    let mut docs = Vec::with_capacity(sections.len());
    for section in sections {
        let id = section["id"].as_str().ok_or_else(invalid)?.to_owned();
        let capacity = section["capacity"]
            .as_u64()
            .and_then(|c| u32::try_from(c).ok())
            .filter(|c| *c > 0)
            .ok_or_else(invalid)?;
        let default_shards = capacity
            .div_ceil(SHARD_UNITS_TARGET)
            .min(SHARDS_DEFAULT_MAX);
        let shards = section["shards"]
            .as_u64()
            .and_then(|s| u32::try_from(s).ok())
            .unwrap_or(default_shards)
            .clamp(1, capacity);
        docs.push(SectionDoc {
            id,
            capacity,
            shards,
        });
    }
    let ttl_seconds = definition["hold_ttl_seconds"]
        .as_u64()
        .and_then(|t| u32::try_from(t).ok())
        .unwrap_or(ttl_default_seconds);
    Ok(EventDoc {
        definition: definition.clone(),
        ttl_seconds,
        sections: docs,
    })
}

fn load_event<S: Store, E: Env>(ctx: &Ctx<'_, S, E>, event: &str) -> Result<EventDoc, Failure> {
    match ctx.store.get(&event_key(event))? {
        Some(bytes) => decode(&bytes),
        None => Err(problem(404, "event-not-found", "no such event")),
    }
}

fn availability<S: Store, E: Env>(
    ctx: &Ctx<'_, S, E>,
    event: &str,
) -> Result<(u16, Value), Failure> {
    let doc = load_event(ctx, event)?;
    let now_ms = ctx.env.now_ms();
    let mut sections = Vec::with_capacity(doc.sections.len());
    for (index, section) in doc.sections.iter().enumerate() {
        let keys: Vec<String> = (0..section.shards)
            .map(|shard| shard_key(event, index, shard))
            .collect();
        let (mut held, mut sold) = (0u32, 0u32);
        for bytes in ctx.store.get_many(&keys)?.into_iter().flatten() {
            let shard: ShardDoc = decode(&bytes)?;
            for hold in &shard.holds {
                match hold.s {
                    'C' => sold += hold.q,
                    _ => held += hold.live_units(now_ms),
                }
            }
        }
        sections.push(
            json!({"id": section.id, "kind": "general", "capacity": section.capacity,
            "available": section.capacity.saturating_sub(held + sold), "held": held, "sold": sold}),
        );
    }
    let as_of = rfc3339(now_ms);
    Ok((
        200,
        json!({"event_id": event, "sections": sections, "as_of": as_of}),
    ))
}

fn rfc3339(ms: u64) -> String {
    let time = std::time::UNIX_EPOCH + std::time::Duration::from_millis(ms);
    humantime::format_rfc3339_millis(time).to_string()
}

fn hold_json(at: &HoldAt, section: &SectionDoc, hold: &Hold, now_ms: u64) -> Value {
    let mut body = json!({"hold_id": at.id(), "event_id": at.event, "section": section.id,
        "quantity": hold.q, "customer_id": hold.c, "status": hold.status(now_ms),
        "created_at": rfc3339(hold.t), "expires_at": rfc3339(hold.x)});
    if let Some(confirmed_ms) = hold.b {
        body["booking_id"] = json!(format!("b-{}", at.nonce));
        body["payment_ref"] = json!(hold.p);
        body["confirmed_at"] = json!(rfc3339(confirmed_ms));
    }
    body
}

/// A validated hold request.
struct Ask<'a> {
    section: usize,
    quantity: u32,
    customer: Option<String>,
    key: Option<&'a str>,
}

fn ask<'a>(request: &'a Request, event: &EventDoc) -> Result<Ask<'a>, Failure> {
    let body: Value = serde_json::from_slice(&request.body)
        .map_err(|_| problem(400, "invalid-json", "body is not JSON"))?;
    let name = body["section"].as_str().unwrap_or_default();
    let section = event
        .sections
        .iter()
        .position(|s| s.id == name)
        .ok_or_else(|| problem(404, "section-not-found", "no such section"))?;
    let quantity = body["quantity"]
        .as_u64()
        .and_then(|q| u32::try_from(q).ok())
        .filter(|q| (1..=HOLD_UNITS_MAX).contains(q))
        .ok_or_else(|| problem(422, "invalid-quantity", "1..=10 units"))?;
    Ok(Ask {
        section,
        quantity,
        customer: body["customer_id"].as_str().map(str::to_owned),
        key: request.header("idempotency-key"),
    })
}

/// FNV-1a: the key's home shard, the same in every instance.
fn home(key: &str, shards: u32) -> u32 {
    let hash = key.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    });
    u32::try_from(hash % u64::from(shards)).unwrap_or(0)
}

/// What placing a hold in one shard decided.
#[derive(Debug)]
pub enum Placed {
    New(Hold),
    Replay(Hold),
    Mismatch,
    /// The shard has only this many units free.
    NoRoom(u32),
}

/// A confirm (with its payment reference) or a release.
pub struct Resolve {
    pub confirm: bool,
    pub payment_ref: Option<String>,
}

/// How a shard document is changed: by CAS through the `Store` (any store:
/// [`CasWrites`]), or, on Redis, by one script that decides in the server.
pub trait Writes {
    /// Places `fresh` in shard `key` if it fits, or finds the hold of its
    /// Idempotency-Key there; `attempts` bounds CAS attempts.
    fn place(
        &self,
        key: &str,
        fresh: &Hold,
        attempts: u32,
        retries: &mut u32,
    ) -> Result<Placed, Failure>;

    /// Confirms or releases hold `nonce` of shard `key`: the hold after.
    fn resolve(
        &self,
        key: &str,
        nonce: &str,
        change: &Resolve,
        now_ms: u64,
        retries: &mut u32,
    ) -> Result<Hold, Failure>;
}

/// The decision of placing `fresh` in `doc`: the key's hold if it is here,
/// else the new hold if it fits (`None`: added to `doc`, to be written).
fn place_in(doc: &mut ShardDoc, fresh: &Hold) -> Option<Placed> {
    if let Some(key) = &fresh.k
        && let Some(hold) = doc.holds.iter().find(|h| h.k.as_ref() == Some(key))
    {
        let same = hold.q == fresh.q && hold.c == fresh.c;
        return Some(if same {
            Placed::Replay(hold.clone())
        } else {
            Placed::Mismatch
        });
    }
    let free = doc.cap.saturating_sub(doc.taken(fresh.t));
    if free < fresh.q {
        return Some(Placed::NoRoom(free));
    }
    doc.holds.push(fresh.clone());
    None
}

/// The decision of a confirm or release on `hold`: `Ok(true)` when it
/// changed, `Ok(false)` when it already is so (a repeat).
fn resolve_in(hold: &mut Hold, change: &Resolve, now_ms: u64) -> Result<bool, Failure> {
    match (hold.status(now_ms), change.confirm) {
        ("confirmed", true) | ("released", false) | ("expired", false) => Ok(false),
        ("confirmed", false) => Err(problem(409, "hold-confirmed", "the hold is confirmed")),
        ("released", true) => Err(problem(409, "hold-released", "the hold was released")),
        ("expired", true) => Err(problem(410, "hold-expired", "the hold has expired")),
        _ => {
            hold.s = if change.confirm { 'C' } else { 'R' };
            if change.confirm {
                hold.p.clone_from(&change.payment_ref);
                hold.b = Some(now_ms);
            }
            Ok(true)
        }
    }
}

fn hold_not_found() -> Failure {
    problem(404, "hold-not-found", "no such hold")
}

/// Changes by CAS through the `Store`, with the app's bounded loop and
/// jittered exponential backoff.
pub struct CasWrites<'a, 'b, S, E>(pub &'a Ctx<'b, S, E>);

impl<S: Store, E: Env> Writes for CasWrites<'_, '_, S, E> {
    fn place(
        &self,
        key: &str,
        fresh: &Hold,
        attempts: u32,
        retries: &mut u32,
    ) -> Result<Placed, Failure> {
        let mut placed = None;
        cas(self.0, key, (attempts, retries), |doc| {
            placed = place_in(doc, fresh);
            placed.is_none()
        })?;
        Ok(placed.unwrap_or_else(|| Placed::New(fresh.clone())))
    }

    fn resolve(
        &self,
        key: &str,
        nonce: &str,
        change: &Resolve,
        now_ms: u64,
        retries: &mut u32,
    ) -> Result<Hold, Failure> {
        let mut outcome = Err(hold_not_found());
        cas(self.0, key, (CAS_ATTEMPTS_MAX, retries), |doc| {
            let Some(hold) = doc.holds.iter_mut().find(|h| h.n == nonce) else {
                outcome = Err(hold_not_found());
                return false;
            };
            let changed = resolve_in(hold, change, now_ms);
            outcome = changed
                .as_ref()
                .map(|_| hold.clone())
                .map_err(Failure::clone);
            changed.unwrap_or(false)
        })?;
        outcome
    }
}

fn place<W: Writes, S: Store, E: Env>(
    (request, ctx, writes): (&Request, &Ctx<'_, S, E>, &W),
    event: &str,
    retries: &mut u32,
) -> Result<(u16, Value), Failure> {
    let doc = load_event(ctx, event)?;
    let ask = ask(request, &doc)?;
    let section = &doc.sections[ask.section];
    let start = match ask.key {
        Some(key) => home(key, section.shards),
        None => u32::try_from(ctx.env.random_below(u64::from(section.shards))).unwrap_or(0),
    };
    let nonce = format!("{:016x}", ctx.env.random_below(u64::MAX));
    // The most one hold could take: what a refusal reports as available
    // (a hold takes units from one shard only; see the module's comment).
    let mut free_most = 0;
    // As the app: an unkeyed hold moves on after a few conflicts.
    let attempts = if ask.key.is_some() {
        CAS_ATTEMPTS_MAX
    } else {
        CAS_ATTEMPTS_BEFORE_MOVING
    };
    // A keyed hold tries its home only (see the module's comment).
    let steps = if ask.key.is_some() { 1 } else { section.shards };
    for step in 0..steps {
        let shard = (start + step) % section.shards;
        let now_ms = ctx.env.now_ms();
        let fresh = Hold {
            n: nonce.clone(),
            q: ask.quantity,
            c: ask.customer.clone(),
            k: ask.key.map(str::to_owned),
            t: now_ms,
            x: now_ms + u64::from(doc.ttl_seconds) * 1_000,
            s: 'H',
            p: None,
            b: None,
        };
        let placed = writes.place(
            &shard_key(event, ask.section, shard),
            &fresh,
            attempts,
            retries,
        );
        let hold = match placed {
            Err(Failure::Problem(503, ..)) if ask.key.is_none() => continue,
            Ok(Placed::New(hold) | Placed::Replay(hold)) => hold,
            Ok(Placed::Mismatch) => {
                return Err(problem(422, "idempotency-key-reused", "other body"));
            }
            Ok(Placed::NoRoom(free)) => {
                free_most = free_most.max(free);
                continue;
            }
            Err(failure) => return Err(failure),
        };
        let at = HoldAt {
            event: event.to_owned(),
            section: ask.section,
            shard,
            nonce: hold.n.clone(),
        };
        return Ok((201, hold_json(&at, section, &hold, now_ms)));
    }
    Err(Failure::SoldOut(free_most))
}

/// One bounded CAS loop over a shard document, with the app's jittered
/// exponential backoff: `change` changes the document and says whether to
/// write it (`false`: leave it, decided).
fn cas<S: Store, E: Env>(
    ctx: &Ctx<'_, S, E>,
    key: &str,
    (attempts, retries): (u32, &mut u32),
    mut change: impl FnMut(&mut ShardDoc) -> bool,
) -> Result<(), Failure> {
    let mut snapshot: Option<Snapshot<S::Cas>> = None;
    for attempt in 0..attempts {
        if attempt > 0 {
            *retries += 1;
            let window = CAS_BACKOFF_BASE_MILLISECONDS
                .saturating_mul(1 << attempt.min(16))
                .min(CAS_BACKOFF_CAP_MILLISECONDS);
            ctx.env.sleep_ms(ctx.env.random_below(window + 1));
        }
        let current = match snapshot.take() {
            Some(current) => current,
            None => ctx.store.read_for_swap(key)?,
        };
        let Some(bytes) = current.value else {
            return Err(problem(404, "not-found", "no such shard"));
        };
        let mut doc: ShardDoc = decode(&bytes)?;
        if !change(&mut doc) {
            return Ok(());
        }
        match ctx.store.swap(current.cas, &encode(&doc))? {
            Swap::Done => return Ok(()),
            Swap::Conflict(fresh) => snapshot = fresh,
        }
    }
    Err(problem(503, "contention", "the shard stayed busy"))
}

fn read<S: Store, E: Env>(ctx: &Ctx<'_, S, E>, id: &str) -> Result<(u16, Value), Failure> {
    let at = HoldAt::parse(id).ok_or_else(hold_not_found)?;
    let doc = load_event(ctx, &at.event)?;
    let section = doc.sections.get(at.section).ok_or_else(hold_not_found)?;
    let bytes = ctx
        .store
        .get(&shard_key(&at.event, at.section, at.shard))?
        .ok_or_else(hold_not_found)?;
    let shard: ShardDoc = decode(&bytes)?;
    let hold = shard
        .holds
        .iter()
        .find(|h| h.n == at.nonce)
        .ok_or_else(hold_not_found)?;
    Ok((200, hold_json(&at, section, hold, ctx.env.now_ms())))
}

/// Confirm or release a hold with one write on its document.
fn resolve<W: Writes, S: Store, E: Env>(
    (request, ctx, writes): (&Request, &Ctx<'_, S, E>, &W),
    id: &str,
    confirm: bool,
    retries: &mut u32,
) -> Result<(u16, Value), Failure> {
    let at = HoldAt::parse(id).ok_or_else(hold_not_found)?;
    let doc = load_event(ctx, &at.event)?;
    let section = doc.sections.get(at.section).ok_or_else(hold_not_found)?;
    let payment_ref = serde_json::from_slice::<Value>(&request.body)
        .ok()
        .and_then(|b| b["payment_ref"].as_str().map(str::to_owned));
    let change = Resolve {
        confirm,
        payment_ref,
    };
    let key = shard_key(&at.event, at.section, at.shard);
    let now_ms = ctx.env.now_ms();
    let hold = writes.resolve(&key, &at.nonce, &change, now_ms, retries)?;
    Ok((200, hold_json(&at, section, &hold, now_ms)))
}

/// The Spin component: the same adapter as the app's components, so the
/// same store (the default key-value store, or Redis with `redis_address`).
/// On Redis a hold, confirm or release is one script that decides in the
/// server (`place.lua`, `resolve.lua`): the least Redis allows.
#[cfg(target_arch = "wasm32")]
mod component {
    // The export glue `#[http_component]` generates is unsafe code by necessity.
    #![allow(unsafe_code)]

    use super::{Failure, Hold, Placed, Resolve, Writes, decode, encode, problem};
    use booking_core::{Component, Ctx, Reply, Request, SystemEnv};
    use spin_adapter::{Backend, RedisStore};
    use spin_sdk::http::{IncomingRequest, ResponseOutparam};
    use spin_sdk::http_component;
    use spin_sdk::redis::{RedisParameter, RedisResult};

    const PLACE_SCRIPT: &str = include_str!("place.lua");
    /// SHA-1 of [`PLACE_SCRIPT`] (a stale value only costs an `EVAL`).
    const PLACE_SCRIPT_SHA1: &str = "329fa0a820721850239d28d6dceef7b5f90e4d26";
    const RESOLVE_SCRIPT: &str = include_str!("resolve.lua");
    /// SHA-1 of [`RESOLVE_SCRIPT`].
    const RESOLVE_SCRIPT_SHA1: &str = "dadacce4bcdf4e2c439cc8f45891031cfd498811";

    struct LuaWrites<'a>(&'a RedisStore);

    fn binary(text: &str) -> RedisParameter {
        RedisParameter::Binary(text.as_bytes().to_vec())
    }

    fn unexpected(reply: &[RedisResult]) -> Failure {
        problem(
            500,
            "internal",
            format!("unexpected script reply {reply:?}"),
        )
    }

    impl Writes for LuaWrites<'_> {
        fn place(&self, key: &str, fresh: &Hold, _: u32, _: &mut u32) -> Result<Placed, Failure> {
            let args = vec![
                RedisParameter::Binary(encode(fresh)),
                binary(fresh.k.as_deref().unwrap_or_default()),
            ];
            let reply = self
                .0
                .script(PLACE_SCRIPT, PLACE_SCRIPT_SHA1, &[key], args)?;
            match reply.as_slice() {
                [RedisResult::Int64(1)] => Ok(Placed::New(fresh.clone())),
                [RedisResult::Int64(2), RedisResult::Binary(hold)] => {
                    let hold: Hold = decode(hold)?;
                    let same = hold.q == fresh.q && hold.c == fresh.c;
                    Ok(if same {
                        Placed::Replay(hold)
                    } else {
                        Placed::Mismatch
                    })
                }
                [RedisResult::Int64(0), RedisResult::Binary(free)] => {
                    let free = String::from_utf8_lossy(free).parse().unwrap_or(0);
                    Ok(Placed::NoRoom(free))
                }
                _ => Err(unexpected(&reply)),
            }
        }

        fn resolve(
            &self,
            key: &str,
            nonce: &str,
            change: &Resolve,
            now_ms: u64,
            _: &mut u32,
        ) -> Result<Hold, Failure> {
            let args = vec![
                binary(nonce),
                binary(if change.confirm { "C" } else { "R" }),
                binary(&now_ms.to_string()),
                binary(change.payment_ref.as_deref().unwrap_or_default()),
            ];
            let reply = self
                .0
                .script(RESOLVE_SCRIPT, RESOLVE_SCRIPT_SHA1, &[key], args)?;
            match reply.as_slice() {
                [RedisResult::Int64(1), RedisResult::Binary(hold)] => decode(hold),
                [RedisResult::Int64(404)] => Err(super::hold_not_found()),
                [RedisResult::Int64(409), RedisResult::Binary(state)] if state == b"C" => {
                    Err(problem(409, "hold-confirmed", "the hold is confirmed"))
                }
                [RedisResult::Int64(409), _] => {
                    Err(problem(409, "hold-released", "the hold was released"))
                }
                [RedisResult::Int64(410)] => {
                    Err(problem(410, "hold-expired", "the hold has expired"))
                }
                _ => Err(unexpected(&reply)),
            }
        }
    }

    fn handle(request: &Request, ctx: &Ctx<'_, Backend, SystemEnv>) -> Reply {
        match ctx.store {
            Backend::Redis(store) => super::handle_with(request, ctx, &LuaWrites(store)),
            _ => super::handle(request, ctx),
        }
    }

    #[http_component]
    async fn serve(request: IncomingRequest, response_out: ResponseOutparam) {
        // The inventory component's settings: the admin token and the
        // default hold lifetime.
        spin_adapter::serve(Component::Inventory, handle, request, response_out).await
    }
}

#[cfg(test)]
mod tests;
