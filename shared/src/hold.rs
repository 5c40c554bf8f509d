//! `POST /events/:event_id/holds`: take units or seats for a while.
//!
//! A hold goes, in order: Idempotency-Key record (if the header is sent),
//! customer reservation (if the event has a limit and the body names a
//! customer), inventory, then the stored answer. Inventory is one CAS on one
//! shard or seat block in the common case. When the request spans several
//! documents (seats in several blocks, or more units than any one shard has
//! left) the primary part is written first and the others after it; a
//! failure releases what was written, and a crash leaves parts that expire.

use crate::cas::{self, Change};
use crate::customer;
use crate::env::Env;
use crate::error::BookingError;
use crate::event::{ready_meta, seat_block};
use crate::hold_status;
use crate::http::{Ctx, Reply, Request, parse_json};
use crate::idempotency::{self, Begin, Lookup};
use crate::ids::{HoldRef, is_printable_ascii, is_valid_id};
use crate::limits::*;
use crate::model::*;
use crate::parts::{self, Occupancy, occupancy};
use crate::store::Store;
use serde::Deserialize;
use serde_json::json;
use std::collections::BTreeMap;

/// Fresh looks at a section's documents before a hold gives up.
const PLACEMENT_ROUNDS_MAX: u32 = 4;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct HoldBody {
    section: String,
    #[serde(default)]
    quantity: Option<serde_json::Value>,
    #[serde(default)]
    seats: Option<Vec<String>>,
    #[serde(default)]
    customer_id: Option<String>,
}

/// A validated hold request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HoldRequest {
    pub section: usize,
    pub what: Want,
    pub customer_id: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Want {
    Units(u32),
    Seats(Vec<String>),
}

impl HoldRequest {
    pub fn units(&self) -> u32 {
        match &self.what {
            Want::Units(q) => *q,
            Want::Seats(seats) => u32::try_from(seats.len()).unwrap_or(u32::MAX),
        }
    }

    fn canonical(&self) -> serde_json::Value {
        match &self.what {
            Want::Units(q) => json!([self.section, q, self.customer_id]),
            Want::Seats(seats) => json!([self.section, seats, self.customer_id]),
        }
    }
}

/// Parse step: the body against the event's layout.
pub fn parse(meta: &EventMeta, body: &[u8]) -> Result<HoldRequest, BookingError> {
    let body: HoldBody = parse_json(body)?;
    if !is_valid_id(&body.section) {
        return Err(BookingError::BadRequest(format!(
            "invalid section id {:?}",
            body.section
        )));
    }
    if let Some(customer) = &body.customer_id
        && !is_valid_id(customer)
    {
        return Err(BookingError::BadRequest("invalid customer_id".into()));
    }
    if let Some(seat) = body.seats.iter().flatten().find(|s| !is_valid_id(s)) {
        return Err(BookingError::BadRequest(format!(
            "invalid seat id {seat:?}"
        )));
    }
    let Some(section) = meta.section_index(&body.section) else {
        return Err(BookingError::invalid(
            "unknown-section",
            format!("no section {:?} in this event", body.section),
        ));
    };
    let kind = meta.sections[section].kind;
    let what = match (kind, body.quantity, body.seats) {
        (SectionKind::General, Some(quantity), None) => {
            let quantity = quantity
                .as_u64()
                .and_then(|q| u32::try_from(q).ok())
                .filter(|q| (1..=HOLD_UNITS_MAX).contains(q))
                .ok_or_else(|| {
                    BookingError::invalid(
                        "quantity-out-of-range",
                        format!("quantity must be an integer 1..={HOLD_UNITS_MAX}"),
                    )
                })?;
            Want::Units(quantity)
        }
        (SectionKind::Seated, None, Some(seats)) => {
            if seats.is_empty() || seats.len() > HOLD_UNITS_MAX as usize {
                return Err(BookingError::invalid(
                    "quantity-out-of-range",
                    format!("hold 1..={HOLD_UNITS_MAX} seats"),
                ));
            }
            let mut sorted = seats.clone();
            sorted.sort();
            sorted.dedup();
            if sorted.len() != seats.len() {
                return Err(BookingError::invalid(
                    "duplicate-seats",
                    "a seat is listed twice",
                ));
            }
            Want::Seats(seats)
        }
        (kind, _, _) => {
            let wanted = match kind {
                SectionKind::General => "is general admission: send quantity, not seats",
                SectionKind::Seated => "has assigned seats: send seats, not quantity",
            };
            return Err(BookingError::invalid(
                "wrong-section-kind",
                format!("section {} {wanted}", body.section),
            ));
        }
    };
    Ok(HoldRequest {
        section,
        what,
        customer_id: body.customer_id,
    })
}

/// `POST /events/:event_id/holds`.
pub fn post<S: Store, E: Env>(
    ctx: &Ctx<'_, S, E>,
    event_id: &str,
    request: &Request,
) -> Result<Reply, BookingError> {
    let idempotency_key = match request.header("idempotency-key") {
        Some(key) if is_printable_ascii(key, IDEMPOTENCY_KEY_LENGTH_MAX) => Some(key),
        Some(_) => {
            return Err(BookingError::BadRequest(format!(
                "Idempotency-Key must be 1..={IDEMPOTENCY_KEY_LENGTH_MAX} printable ASCII characters"
            )));
        }
        None => None,
    };
    let meta = ready_meta(ctx, event_id)?;
    let hold = parse(&meta, &request.body)?;
    let fresh_nonce = ctx.env.random_id().simple().to_string();
    let Some(key) = idempotency_key else {
        return place_and_reply(ctx, &meta, event_id, &hold, &fresh_nonce, false, None);
    };
    let owner = format!("hold-{fresh_nonce}");
    let request_hash = idempotency::request_hash(&hold.canonical())?;
    // The section as `check_available` read it, so that placing the hold
    // starts from that read instead of reading every document again.
    let mut snapshot = None;
    match idempotency::lookup(ctx, event_id, key, request_hash)? {
        Lookup::Replay(stored) => return Ok(Reply::json(stored.status, &stored.body)),
        Lookup::Pending {
            nonce,
            stale,
            spent,
        } => {
            if let Some(reply) = replay_placed(ctx, &meta, event_id, hold.section, &nonce)? {
                return Ok(reply);
            }
            if spent {
                return Err(BookingError::IdempotencyKeySpent);
            }
            // Still being placed; or its request died: `begin` takes it
            // over and `place` finds what it wrote.
            if !stale {
                return Err(BookingError::RequestInProgress);
            }
        }
        // A request that cannot succeed changes nothing, so it is answered
        // without recording the key: in a flash sale most buyers hear "sold
        // out", and recording each would cost fsync'd writes on shared
        // buckets. Repeating it simply asks again.
        Lookup::Absent => snapshot = Some(check_available(ctx, &meta, event_id, &hold)?),
    }
    match idempotency::begin(ctx, event_id, key, request_hash, &owner, &fresh_nonce)? {
        Begin::Replay(stored) => Ok(Reply::json(stored.status, &stored.body)),
        Begin::Proceed { nonce, resumed } => {
            // A placed hold is its own record: replays find it by nonce, so
            // success costs no further write. A refusal is stored for
            // replays; a transient failure (503) forgets the key so that a
            // retry tries again. If storing fails the record stays pending,
            // and a replay, once it is stale, takes over and decides again.
            match place_and_reply(ctx, &meta, event_id, &hold, &nonce, resumed, snapshot) {
                Ok(reply) => Ok(reply),
                Err(error) if matches!(error.status(), 409 | 422) => {
                    let stored = StoredReply {
                        status: error.status(),
                        body: error.body(),
                    };
                    let _ = idempotency::finish(ctx, event_id, key, &owner, Some(stored));
                    Ok(error.into_reply())
                }
                Err(error) => {
                    let _ = idempotency::finish(ctx, event_id, key, &owner, None);
                    Err(error)
                }
            }
        }
    }
}

fn place_and_reply<S: Store, E: Env>(
    ctx: &Ctx<'_, S, E>,
    meta: &EventMeta,
    event_id: &str,
    hold: &HoldRequest,
    nonce: &str,
    resumed: bool,
    snapshot: Option<Vec<InventoryDoc>>,
) -> Result<Reply, BookingError> {
    let now_ms = ctx.env.now_ms();
    let expires_ms = now_ms + u64::from(meta.hold_ttl_seconds) * 1_000;
    let limited_customer = meta.max_per_customer.zip(hold.customer_id.as_deref());
    if let Some((limit, customer)) = limited_customer {
        let reservation = CustomerHold {
            section: hold.section,
            nonce: nonce.to_owned(),
            quantity: hold.units(),
            expires_ms,
        };
        customer::reserve(ctx, meta, event_id, customer, limit, &reservation)?;
    }
    let placed = place(
        ctx, meta, event_id, hold, nonce, now_ms, expires_ms, resumed, snapshot,
    );
    let (doc, part) = match placed {
        Ok(found) => found,
        Err(error) => {
            if let Some((_, customer)) = limited_customer {
                // Give the reservation back; if this fails it simply expires.
                let _ = customer::settle(ctx, event_id, customer, nonce, false);
            }
            return Err(error);
        }
    };
    let hold_ref = HoldRef {
        event_id: event_id.to_owned(),
        section: hold.section,
        doc,
        nonce: nonce.to_owned(),
    };
    Ok(Reply::json(
        201,
        &hold_status::view(meta, &hold_ref, &part, ctx.env.now_ms()),
    ))
}

/// Fails as a placement would if the section cannot satisfy the request
/// now (sold out, seats taken, seats not in the section); reads only.
/// Returns the documents it read.
fn check_available<S: Store, E: Env>(
    ctx: &Ctx<'_, S, E>,
    meta: &EventMeta,
    event_id: &str,
    hold: &HoldRequest,
) -> Result<Vec<InventoryDoc>, BookingError> {
    let docs = load_section(ctx, &meta.inventory_keys(event_id, hold.section))?;
    let now_ms = ctx.env.now_ms();
    match &hold.what {
        Want::Units(q) => plan_units(ctx, &docs, *q, now_ms)?,
        Want::Seats(seats) => plan_seats(&docs, seats, now_ms)?,
    };
    Ok(docs)
}

/// Where one part goes: document index and its share.
#[derive(Debug, Clone)]
struct Share {
    doc: usize,
    units: u32,
    seats: Vec<String>,
}

fn load_section<S: Store, E: Env>(
    ctx: &Ctx<'_, S, E>,
    keys: &[String],
) -> Result<Vec<InventoryDoc>, BookingError> {
    let values = ctx.store.get_many(keys)?;
    keys.iter()
        .zip(values)
        .map(|(key, value)| {
            let bytes = value.ok_or_else(|| {
                BookingError::Internal(format!("inventory document {key} is missing"))
            })?;
            cas::decode(key, &bytes)
        })
        .collect()
}

#[allow(clippy::too_many_arguments)]
fn place<S: Store, E: Env>(
    ctx: &Ctx<'_, S, E>,
    meta: &EventMeta,
    event_id: &str,
    hold: &HoldRequest,
    nonce: &str,
    now_ms: u64,
    expires_ms: u64,
    resumed: bool,
    mut snapshot: Option<Vec<InventoryDoc>>,
) -> Result<(usize, Part), BookingError> {
    let keys = meta.inventory_keys(event_id, hold.section);
    let template = Part {
        nonce: nonce.to_owned(),
        quantity: 0,
        seats: Vec::new(),
        status: PartStatus::Held,
        expires_ms,
        created_ms: now_ms,
        ended_ms: None,
        customer_id: hold.customer_id.clone(),
        primary_doc: None,
        other_docs: Vec::new(),
        hold_quantity: None,
        hold_seats: Vec::new(),
        payment_ref: None,
    };
    for _round in 0..PLACEMENT_ROUNDS_MAX {
        // A resumed hold must look for its earlier parts in a fresh read.
        let docs = match snapshot.take() {
            Some(docs) if !resumed => docs,
            _ => load_section(ctx, &keys)?,
        };
        if resumed && let Some(found) = find_earlier(ctx, event_id, hold.section, &docs, nonce)? {
            return Ok(found);
        }
        let plan = match &hold.what {
            Want::Units(q) => plan_units(ctx, &docs, *q, now_ms)?,
            Want::Seats(seats) => plan_seats(&docs, seats, now_ms)?,
        };
        match write_plan(ctx, event_id, hold.section, &template, &plan)? {
            Some(placed) => return Ok(placed),
            // A document changed under us and lost the room we planned on.
            None => continue,
        }
    }
    Err(BookingError::Contention)
}

/// The hold of nonce `nonce`, if it is in place in these documents: its
/// primary document and part, with every other part present too.
fn find_complete(docs: &[InventoryDoc], nonce: &str) -> Option<(usize, Part)> {
    let (doc, part) = docs.iter().enumerate().find_map(|(i, d)| {
        d.part(nonce)
            .filter(|p| p.is_primary())
            .map(|p| (i, p.clone()))
    })?;
    let complete = part.other_docs.iter().all(|other| {
        docs.get(*other as usize)
            .is_some_and(|d| d.part(nonce).is_some())
    });
    complete.then_some((doc, part))
}

/// The first answer of an idempotent hold that succeeded: the 201 view of
/// its hold as it was then (status `held`, whatever happened since).
fn replay_placed<S: Store, E: Env>(
    ctx: &Ctx<'_, S, E>,
    meta: &EventMeta,
    event_id: &str,
    section: usize,
    nonce: &str,
) -> Result<Option<Reply>, BookingError> {
    let docs = load_section(ctx, &meta.inventory_keys(event_id, section))?;
    let Some((doc, mut part)) = find_complete(&docs, nonce) else {
        return Ok(None);
    };
    part.status = PartStatus::Held;
    let hold_ref = HoldRef {
        event_id: event_id.to_owned(),
        section,
        doc,
        nonce: nonce.to_owned(),
    };
    // Viewed at its creation time, the part reads exactly as it did in the
    // first answer.
    let view = hold_status::view(meta, &hold_ref, &part, part.created_ms);
    Ok(Some(Reply::json(201, &view)))
}

/// After a stalled attempt with the same nonce: its hold, if complete.
/// An incomplete one is removed, and the caller places the hold afresh.
fn find_earlier<S: Store, E: Env>(
    ctx: &Ctx<'_, S, E>,
    event_id: &str,
    section: usize,
    docs: &[InventoryDoc],
    nonce: &str,
) -> Result<Option<(usize, Part)>, BookingError> {
    if let Some(found) = find_complete(docs, nonce) {
        return Ok(Some(found));
    }
    let all: Vec<usize> = (0..docs.len())
        .filter(|i| docs[*i].part(nonce).is_some())
        .collect();
    end_parts(ctx, event_id, section, &all, nonce, End::Undo)?;
    Ok(None)
}

/// Picks shards for `q` units: one shard with room if any (starting at a
/// random one, to spread buyers), else several.
fn plan_units<S: Store, E: Env>(
    ctx: &Ctx<'_, S, E>,
    docs: &[InventoryDoc],
    q: u32,
    now_ms: u64,
) -> Result<Vec<Share>, BookingError> {
    let free: Vec<u32> = docs
        .iter()
        .map(|d| {
            let (held, sold) = parts::counts(d, now_ms, &[]);
            let unresolved: u32 = d
                .parts
                .iter()
                .filter(|p| occupancy(p, now_ms) == Occupancy::Unresolved)
                .map(Part::units)
                .sum();
            d.capacity().saturating_sub(held + sold + unresolved)
        })
        .collect();
    let total: u32 = free.iter().sum();
    let unresolved_total: u32 = docs
        .iter()
        .flat_map(|d| &d.parts)
        .filter(|p| occupancy(p, now_ms) == Occupancy::Unresolved)
        .map(Part::units)
        .sum();
    if total + unresolved_total < q {
        return Err(BookingError::SoldOut {
            requested: q,
            available: total,
        });
    }
    let count = docs.len();
    let start = usize::try_from(ctx.env.random_below(count as u64)).unwrap_or(0);
    let order = (0..count).map(|i| (start + i) % count);
    if let Some(doc) = order.clone().find(|&i| free[i] >= q) {
        return Ok(vec![Share {
            doc,
            units: q,
            seats: Vec::new(),
        }]);
    }
    // Spread over several shards, fullest free first; unresolved parts are
    // counted as room because writing resolves them.
    let mut room: Vec<(usize, u32)> = order
        .map(|i| {
            let unresolved: u32 = docs[i]
                .parts
                .iter()
                .filter(|p| occupancy(p, now_ms) == Occupancy::Unresolved)
                .map(Part::units)
                .sum();
            (i, free[i] + unresolved)
        })
        .filter(|(_, r)| *r > 0)
        .collect();
    room.sort_by_key(|(_, r)| std::cmp::Reverse(*r));
    let mut left = q;
    let mut plan = Vec::new();
    for (doc, r) in room {
        if left == 0 {
            break;
        }
        let units = r.min(left);
        left -= units;
        plan.push(Share {
            doc,
            units,
            seats: Vec::new(),
        });
    }
    plan.sort_by_key(|s| s.doc);
    Ok(plan)
}

/// Groups seats by block and checks them against the blocks' seat lists and
/// a first look at who holds them.
fn plan_seats(
    docs: &[InventoryDoc],
    seats: &[String],
    now_ms: u64,
) -> Result<Vec<Share>, BookingError> {
    let blocks = u32::try_from(docs.len()).unwrap_or(u32::MAX);
    let mut by_block: BTreeMap<usize, Vec<String>> = BTreeMap::new();
    let mut unknown = Vec::new();
    for seat in seats {
        let block = seat_block(seat, blocks);
        if docs.get(block).is_some_and(|d| d.seats.contains(seat)) {
            by_block.entry(block).or_default().push(seat.clone());
        } else {
            unknown.push(seat.clone());
        }
    }
    if !unknown.is_empty() {
        return Err(BookingError::invalid(
            "seats-not-in-section",
            format!("not seats of this section: {}", unknown.join(", ")),
        ));
    }
    let taken: Vec<String> = by_block
        .iter()
        .flat_map(|(block, seats)| {
            seats
                .iter()
                .filter(|s| seat_taken(&docs[*block], s, now_ms))
        })
        .cloned()
        .collect();
    if !taken.is_empty() {
        return Err(BookingError::SeatsUnavailable { unavailable: taken });
    }
    Ok(by_block
        .into_iter()
        .map(|(doc, seats)| Share {
            doc,
            units: 0,
            seats,
        })
        .collect())
}

/// Held or sold; unresolved parts are not "taken" here: writing resolves them.
fn seat_taken(doc: &InventoryDoc, seat: &str, now_ms: u64) -> bool {
    doc.parts.iter().any(|p| {
        p.seats.iter().any(|s| s == seat)
            && matches!(occupancy(p, now_ms), Occupancy::Held | Occupancy::Sold)
    })
}

/// Writes the parts of a plan, primary (lowest document) first. `None` if a
/// general shard lost its room meanwhile (the caller plans again).
fn write_plan<S: Store, E: Env>(
    ctx: &Ctx<'_, S, E>,
    event_id: &str,
    section: usize,
    template: &Part,
    plan: &[Share],
) -> Result<Option<(usize, Part)>, BookingError> {
    let Some(primary) = plan.first() else {
        return Err(BookingError::Internal("empty placement plan".into()));
    };
    let spread = plan.len() > 1;
    let primary_doc = u32::try_from(primary.doc).unwrap_or(u32::MAX);
    let mut written: Vec<usize> = Vec::new();
    let mut primary_part = None;
    for (i, share) in plan.iter().enumerate() {
        let mut part = template.clone();
        part.quantity = share.units;
        part.seats = share.seats.clone();
        if i == 0 {
            if spread {
                part.other_docs = plan[1..]
                    .iter()
                    .map(|s| u32::try_from(s.doc).unwrap_or(u32::MAX))
                    .collect();
                part.hold_quantity = Some(plan.iter().map(|s| s.units).sum()).filter(|q| *q > 0);
                part.hold_seats = plan.iter().flat_map(|s| s.seats.clone()).collect();
            }
        } else {
            part.primary_doc = Some(primary_doc);
        }
        match write_part(ctx, event_id, section, share.doc, &part) {
            Ok(true) => {
                written.push(share.doc);
                if i == 0 {
                    primary_part = Some(part);
                }
            }
            outcome => {
                // Undo what this attempt wrote, so the nonce is unused again
                // for the next round. If that fails, stop: the parts left
                // behind expire with the hold.
                end_parts(ctx, event_id, section, &written, &template.nonce, End::Undo)?;
                return match outcome {
                    Ok(_) => Ok(None),
                    Err(error) => Err(error),
                };
            }
        }
    }
    Ok(primary_part.map(|part| (primary.doc, part)))
}

/// Adds one part with a CAS. Ok(false): a general shard has no room now.
fn write_part<S: Store, E: Env>(
    ctx: &Ctx<'_, S, E>,
    event_id: &str,
    section: usize,
    doc: usize,
    part: &Part,
) -> Result<bool, BookingError> {
    let op = format!("hold-{}", part.nonce);
    parts::update_inventory(
        ctx,
        event_id,
        section,
        doc,
        &op,
        |doc: &mut InventoryDoc| {
            if doc.part(&part.nonce).is_some() {
                return Ok(Change::Keep(true));
            }
            let now_ms = ctx.env.now_ms();
            parts::prune(doc, now_ms);
            let mut resolved = false;
            if !has_room(doc, part, now_ms) {
                resolved = parts::resolve_secondaries(ctx, event_id, section, doc, now_ms)?;
            }
            if !has_room(doc, part, now_ms) {
                if part.seats.is_empty() {
                    return if resolved {
                        Ok(Change::Write(false))
                    } else {
                        Ok(Change::Keep(false))
                    };
                }
                let unavailable = part
                    .seats
                    .iter()
                    .filter(|s| seat_taken(doc, s, now_ms))
                    .cloned()
                    .collect();
                return Err(BookingError::SeatsUnavailable { unavailable });
            }
            doc.parts.push(part.clone());
            debug_assert!({
                let (held, sold) = parts::counts(doc, now_ms, &[]);
                held + sold <= doc.capacity()
            });
            Ok(Change::Write(true))
        },
    )
}

fn has_room(doc: &InventoryDoc, part: &Part, now_ms: u64) -> bool {
    let occupied = |p: &&Part| occupancy(p, now_ms) != Occupancy::Free;
    if part.seats.is_empty() {
        let used: u32 = doc.parts.iter().filter(occupied).map(Part::units).sum();
        used + part.quantity <= doc.capacity()
    } else {
        part.seats.iter().all(|seat| {
            doc.seats.contains(seat)
                && !doc
                    .parts
                    .iter()
                    .filter(occupied)
                    .any(|p| p.seats.contains(seat))
        })
    }
}

/// How [`end_parts`] ends the held parts of a hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum End {
    /// Delete them: the undo of a placement nobody was told about. Deleting,
    /// rather than marking them released, lets a later round reuse the nonce
    /// without mistaking an undone part for its own write.
    Undo,
    /// Mark them released (kept for status reads until pruned).
    Release,
}

/// Ends the held parts of hold `nonce` in these documents, leaving
/// confirmed parts alone.
pub fn end_parts<S: Store, E: Env>(
    ctx: &Ctx<'_, S, E>,
    event_id: &str,
    section: usize,
    docs: &[usize],
    nonce: &str,
    end: End,
) -> Result<(), BookingError> {
    let op = format!("end-{nonce}");
    for doc in docs {
        parts::update_inventory(
            ctx,
            event_id,
            section,
            *doc,
            &op,
            |doc: &mut InventoryDoc| {
                let now_ms = ctx.env.now_ms();
                let Some(index) = doc
                    .parts
                    .iter()
                    .position(|p| p.nonce == nonce && p.status == PartStatus::Held)
                else {
                    return Ok(Change::Keep(()));
                };
                match end {
                    End::Undo => {
                        doc.parts.remove(index);
                    }
                    End::Release => {
                        doc.parts[index].status = PartStatus::Released;
                        doc.parts[index].ended_ms = Some(now_ms);
                        parts::prune(doc, now_ms);
                    }
                }
                Ok(Change::Write(()))
            },
        )?;
    }
    Ok(())
}
