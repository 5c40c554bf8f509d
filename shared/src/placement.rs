//! Placing a hold in a section's inventory documents: planning which
//! shards or seat blocks take it, and writing its parts with one CAS each.
//!
//! Inventory is one CAS on one shard or seat block in the common case. When
//! the request spans several documents (seats in several blocks, or more
//! units than any one shard has left) the primary part is written first and
//! the others after it; a failure removes what was written, and a crash
//! leaves parts that expire.

use crate::cas::Change;
use crate::context::Ctx;
use crate::env::Env;
use crate::error::BookingError;
use crate::model::{EventMeta, InventoryDoc, Occupancy, Part, PartStatus, seat_block};
use crate::parts::{self, End, end_parts, load_section};
use crate::store::Store;
use serde_json::json;
use std::collections::BTreeMap;

/// Fresh looks at a section's documents before a hold gives up.
const PLACEMENT_ROUNDS_MAX: u32 = 4;

/// A validated hold request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HoldRequest {
    pub section: usize,
    /// What is asked for.
    pub amount: Amount,
    pub customer_id: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Amount {
    Units(u32),
    Seats(Vec<String>),
}

impl HoldRequest {
    pub fn units(&self) -> u32 {
        match &self.amount {
            Amount::Units(q) => *q,
            Amount::Seats(seats) => u32::try_from(seats.len()).unwrap_or(u32::MAX),
        }
    }

    pub fn canonical(&self) -> serde_json::Value {
        match &self.amount {
            Amount::Units(q) => json!([self.section, q, self.customer_id]),
            Amount::Seats(seats) => json!([self.section, seats, self.customer_id]),
        }
    }
}

/// One hold to place: the event, the request, the nonce and the times its
/// parts carry.
#[derive(Debug)]
pub struct Placement<'a> {
    pub meta: &'a EventMeta,
    pub event_id: &'a str,
    pub hold: &'a HoldRequest,
    pub nonce: &'a str,
    pub now_ms: u64,
    pub expires_ms: u64,
    /// A stalled earlier attempt with the same nonce may have written parts.
    pub resumed: bool,
}

impl Placement<'_> {
    /// The part every written part starts from.
    fn template(&self) -> Part {
        Part {
            nonce: self.nonce.to_owned(),
            quantity: 0,
            seats: Vec::new(),
            status: PartStatus::Held,
            expires_ms: self.expires_ms,
            created_ms: self.now_ms,
            ended_ms: None,
            customer_id: self.hold.customer_id.clone(),
            primary_doc: None,
            other_docs: Vec::new(),
            hold_quantity: None,
            hold_seats: Vec::new(),
            payment_ref: None,
        }
    }

    /// Places the hold: its primary document index and part. `snapshot` is
    /// the section as [`check_available`] read it, to save a read.
    pub fn place<S: Store, E: Env>(
        &self,
        ctx: &Ctx<'_, S, E>,
        mut snapshot: Option<Vec<InventoryDoc>>,
    ) -> Result<(usize, Part), BookingError> {
        let keys = self.meta.inventory_keys(self.event_id, self.hold.section);
        let template = self.template();
        let section = self.hold.section;
        for _round in 0..PLACEMENT_ROUNDS_MAX {
            // A resumed hold must look for its earlier parts in a fresh read.
            let docs = match snapshot.take() {
                Some(docs) if !self.resumed => docs,
                _ => load_section(ctx, &keys)?,
            };
            if self.resumed
                && let Some(found) = find_earlier(ctx, self.event_id, section, &docs, self.nonce)?
            {
                return Ok(found);
            }
            let plan = plan(ctx, &docs, &self.hold.amount, self.now_ms)?;
            match write_plan(ctx, self.event_id, section, &template, &plan)? {
                Some(placed) => return Ok(placed),
                // A document changed under us and lost the room we planned on.
                None => continue,
            }
        }
        Err(BookingError::Contention)
    }
}

/// Fails as a placement would if the section cannot satisfy the request
/// now (sold out, seats taken, seats not in the section); reads only.
/// Returns the documents it read.
pub fn check_available<S: Store, E: Env>(
    ctx: &Ctx<'_, S, E>,
    meta: &EventMeta,
    event_id: &str,
    hold: &HoldRequest,
) -> Result<Vec<InventoryDoc>, BookingError> {
    let docs = load_section(ctx, &meta.inventory_keys(event_id, hold.section))?;
    plan(ctx, &docs, &hold.amount, ctx.env.now_ms())?;
    Ok(docs)
}

fn plan<S: Store, E: Env>(
    ctx: &Ctx<'_, S, E>,
    docs: &[InventoryDoc],
    amount: &Amount,
    now_ms: u64,
) -> Result<Vec<Share>, BookingError> {
    match amount {
        Amount::Units(quantity) => plan_units(ctx, docs, *quantity, now_ms),
        Amount::Seats(seats) => plan_seats(docs, seats, now_ms),
    }
}

/// Where one part goes: document index and its share.
#[derive(Debug, Clone)]
struct Share {
    doc: usize,
    units: u32,
    seats: Vec<String>,
}

/// The hold of nonce `nonce`, if it is in place in these documents: its
/// primary document and part, with every other part present too.
pub fn find_complete(docs: &[InventoryDoc], nonce: &str) -> Option<(usize, Part)> {
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

/// Free units of a document now: capacity minus held, sold and unresolved.
fn free_units(doc: &InventoryDoc, now_ms: u64) -> u32 {
    let (held, sold) = parts::counts(doc, now_ms, &[]);
    doc.capacity()
        .saturating_sub(held + sold + doc.unresolved_units(now_ms))
}

/// Picks shards for `quantity` units: one shard with room if any (starting
/// at a random one, to spread buyers), else several.
fn plan_units<S: Store, E: Env>(
    ctx: &Ctx<'_, S, E>,
    docs: &[InventoryDoc],
    quantity: u32,
    now_ms: u64,
) -> Result<Vec<Share>, BookingError> {
    let free: Vec<u32> = docs.iter().map(|d| free_units(d, now_ms)).collect();
    // Unresolved parts count as room: writing a document resolves them.
    let room: Vec<u32> = docs
        .iter()
        .zip(&free)
        .map(|(d, free)| free + d.unresolved_units(now_ms))
        .collect();
    let total_free: u32 = free.iter().sum();
    if room.iter().sum::<u32>() < quantity {
        return Err(BookingError::SoldOut {
            requested: quantity,
            available: total_free,
        });
    }
    let count = docs.len();
    let start = usize::try_from(ctx.env.random_below(count as u64)).unwrap_or(0);
    let order = (0..count).map(|i| (start + i) % count);
    if let Some(doc) = order.clone().find(|&i| free[i] >= quantity) {
        return Ok(vec![Share {
            doc,
            units: quantity,
            seats: Vec::new(),
        }]);
    }
    // Spread over several shards, most room first.
    let mut by_room: Vec<(usize, u32)> = order
        .map(|i| (i, room[i]))
        .filter(|(_, r)| *r > 0)
        .collect();
    by_room.sort_by_key(|(_, r)| std::cmp::Reverse(*r));
    let mut left = quantity;
    let mut plan = Vec::new();
    for (doc, room) in by_room {
        if left == 0 {
            break;
        }
        let units = room.min(left);
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
            && matches!(p.occupancy(now_ms), Occupancy::Held | Occupancy::Sold)
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
    let occupied = |p: &&Part| p.occupancy(now_ms) != Occupancy::Free;
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
