//! What a hold part means for its document's inventory, and how parts of a
//! hold spread over several documents are resolved.
//!
//! A primary part decides its hold: held until its expiry, then expired,
//! unless confirmed or released first. A secondary part copies the expiry
//! but not the decision, so once expired it stays unresolved (its units are
//! not sellable) until a writer records the primary's final status: it
//! first marks the primary `X` (expired) with a CAS, which a confirm racing
//! on the primary cannot slip past, then frees or sells the secondary.

use crate::cas::{self, Change};
use crate::env::Env;
use crate::error::BookingError;
use crate::http::Ctx;
use crate::limits::{ENDED_PARTS_PER_DOCUMENT_MAX, ENDED_PARTS_RETENTION_SECONDS};
use crate::model::{InventoryDoc, Part, PartStatus, inventory_key};
use crate::store::Store;

/// Read-modify-CAS of one inventory document. The layout created it with the
/// event, so a missing one is a broken store, never a reason to create it.
pub fn update_inventory<S: Store, E: Env, T>(
    ctx: &Ctx<'_, S, E>,
    event_id: &str,
    section: usize,
    doc: usize,
    op: &str,
    change: impl FnMut(&mut InventoryDoc) -> Result<Change<T>, BookingError>,
) -> Result<T, BookingError> {
    let key = inventory_key(event_id, section, doc);
    let missing = || BookingError::Internal(format!("inventory document {key} is missing"));
    cas::update(ctx, &key, op, missing, change)
}

/// What a part does to its document's units at a given time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Occupancy {
    Sold,
    Held,
    Free,
    /// An expired secondary part whose primary has not been consulted.
    Unresolved,
}

pub fn occupancy(part: &Part, now_ms: u64) -> Occupancy {
    match part.status {
        PartStatus::Confirmed => Occupancy::Sold,
        PartStatus::Released | PartStatus::Expired => Occupancy::Free,
        PartStatus::Held if now_ms < part.expires_ms => Occupancy::Held,
        PartStatus::Held if part.is_primary() => Occupancy::Free,
        PartStatus::Held => Occupancy::Unresolved,
    }
}

/// The status a client sees for a primary part.
pub fn client_status(part: &Part, now_ms: u64) -> &'static str {
    match part.status {
        PartStatus::Confirmed => "confirmed",
        PartStatus::Released => "released",
        PartStatus::Expired => "expired",
        PartStatus::Held if now_ms < part.expires_ms => "held",
        PartStatus::Held => "expired",
    }
}

/// Counts of one document: (held, sold) units; the rest is available.
/// `unresolved_sold` says how each unresolved part ended (by nonce).
pub fn counts(doc: &InventoryDoc, now_ms: u64, sold_nonces: &[String]) -> (u32, u32) {
    let (mut held, mut sold) = (0u32, 0u32);
    for part in &doc.parts {
        match occupancy(part, now_ms) {
            Occupancy::Sold => sold += part.units(),
            Occupancy::Held => held += part.units(),
            Occupancy::Unresolved if sold_nonces.contains(&part.nonce) => sold += part.units(),
            Occupancy::Unresolved | Occupancy::Free => {}
        }
    }
    debug_assert!(held + sold <= doc.capacity(), "document over capacity");
    (held, sold)
}

/// Tidies a document inside a write: records expired primaries as `X` and
/// drops ended parts past retention or beyond the per-document cap, so
/// documents stay small however many holds come and go.
pub fn prune(doc: &mut InventoryDoc, now_ms: u64) {
    for part in &mut doc.parts {
        if part.status == PartStatus::Held && part.is_primary() && now_ms >= part.expires_ms {
            part.status = PartStatus::Expired;
            part.ended_ms = Some(part.expires_ms);
        }
    }
    let retention_ms = ENDED_PARTS_RETENTION_SECONDS * 1_000;
    let ended = |p: &Part| matches!(p.status, PartStatus::Released | PartStatus::Expired);
    doc.parts
        .retain(|p| !ended(p) || now_ms.saturating_sub(p.ended_ms.unwrap_or(0)) < retention_ms);
    let mut ended_times: Vec<u64> = doc
        .parts
        .iter()
        .filter(|p| ended(p))
        .map(|p| p.ended_ms.unwrap_or(0))
        .collect();
    if ended_times.len() > ENDED_PARTS_PER_DOCUMENT_MAX {
        ended_times.sort_unstable();
        let cutoff = ended_times[ended_times.len() - ENDED_PARTS_PER_DOCUMENT_MAX];
        doc.parts
            .retain(|p| !ended(p) || p.ended_ms.unwrap_or(0) >= cutoff);
    }
}

/// The final status of an expired hold whose primary is in `primary_doc`,
/// making it final first: a held-but-expired primary is recorded `X` with
/// a CAS, so a confirm that read it before expiry can no longer commit.
/// Returns true when the hold was confirmed.
pub fn finalize_primary<S: Store, E: Env>(
    ctx: &Ctx<'_, S, E>,
    event_id: &str,
    section: usize,
    primary_doc: u32,
    nonce: &str,
) -> Result<bool, BookingError> {
    let now_ms = ctx.env.now_ms();
    let op = format!("expire-{nonce}");
    update_inventory(
        ctx,
        event_id,
        section,
        primary_doc as usize,
        &op,
        |doc: &mut InventoryDoc| {
            let Some(part) = doc.part_mut(nonce) else {
                // Pruned: only ended parts are pruned, and confirmed parts never are.
                return Ok(Change::Keep(false));
            };
            match part.status {
                PartStatus::Confirmed => Ok(Change::Keep(true)),
                PartStatus::Released | PartStatus::Expired => Ok(Change::Keep(false)),
                PartStatus::Held if now_ms < part.expires_ms => {
                    // Our secondary copy says expired but the primary is not:
                    // the copies share one expiry, so this is a clock step back.
                    Err(BookingError::Contention)
                }
                PartStatus::Held => {
                    part.status = PartStatus::Expired;
                    part.ended_ms = Some(part.expires_ms);
                    Ok(Change::Write(false))
                }
            }
        },
    )
}

/// Resolves every unresolved secondary part of a document being written,
/// by finalising its primary. Returns true if anything changed.
pub fn resolve_secondaries<S: Store, E: Env>(
    ctx: &Ctx<'_, S, E>,
    event_id: &str,
    section: usize,
    doc: &mut InventoryDoc,
    now_ms: u64,
) -> Result<bool, BookingError> {
    let mut changed = false;
    for part in &mut doc.parts {
        if occupancy(part, now_ms) != Occupancy::Unresolved {
            continue;
        }
        let Some(primary) = part.primary_doc else {
            continue;
        };
        let confirmed = finalize_primary(ctx, event_id, section, primary, &part.nonce)?;
        part.status = if confirmed {
            PartStatus::Confirmed
        } else {
            PartStatus::Expired
        };
        part.ended_ms = Some(now_ms);
        changed = true;
    }
    Ok(changed)
}

/// Read-only resolution for availability: which unresolved secondary parts
/// of these documents belong to confirmed holds.
pub fn confirmed_unresolved<S: Store, E: Env>(
    ctx: &Ctx<'_, S, E>,
    event_id: &str,
    section: usize,
    docs: &[InventoryDoc],
    now_ms: u64,
) -> Result<Vec<String>, BookingError> {
    let mut wanted: Vec<(u32, String)> = Vec::new();
    for doc in docs {
        for part in &doc.parts {
            if occupancy(part, now_ms) == Occupancy::Unresolved
                && let Some(primary) = part.primary_doc
            {
                wanted.push((primary, part.nonce.clone()));
            }
        }
    }
    if wanted.is_empty() {
        return Ok(Vec::new());
    }
    let keys: Vec<String> = wanted
        .iter()
        .map(|(primary, _)| inventory_key(event_id, section, *primary as usize))
        .collect();
    let values = ctx.store.get_many(&keys)?;
    let mut confirmed = Vec::new();
    for ((key, value), (_, nonce)) in keys.iter().zip(values).zip(wanted) {
        let Some(bytes) = value else { continue };
        let doc: InventoryDoc = cas::decode(key, &bytes)?;
        if doc
            .part(&nonce)
            .is_some_and(|p| p.status == PartStatus::Confirmed)
        {
            confirmed.push(nonce);
        }
    }
    Ok(confirmed)
}
