//! Ledger pages: where confirmed parts of a general shard go once there
//! are enough of them, so that the shard document every hold and
//! availability request reads keeps only live holds and a sold count.
//!
//! A move is two CAS writes, in this order: the parts are added to the
//! shard's page (parts already there are skipped), then removed from the
//! shard, whose `sold_moved` grows by their units. So a confirmed part is
//! always in the shard, or in the page, or both (after a crash between the
//! two writes, until the next move finishes the job), and a reader that
//! does not find a part in the shard finds it in the page. Parts are never
//! removed from a page.

use crate::cas::{self, Change};
use crate::context::Ctx;
use crate::coverage::{self, Path};
use crate::env::Env;
use crate::error::BookingError;
use crate::model::{EventMeta, InventoryDoc, LedgerPage, Part, PartStatus};
use crate::store::Store;

/// The confirmed parts of `doc` to move now: once there are `parts_min`
/// of them ([`crate::limits::LEDGER_MOVE_PARTS_MIN`] unless a test lowers
/// it), or once the shard is sold through (no room, nothing held), so that
/// a sold-through shard reads small.
pub fn due(doc: &InventoryDoc, now_ms: u64, parts_min: usize) -> Vec<Part> {
    let confirmed: Vec<&Part> = doc
        .parts
        .iter()
        .filter(|p| p.status == PartStatus::Confirmed)
        .collect();
    let sold_through = doc.full_until(now_ms) == u64::MAX;
    if confirmed.len() >= parts_min || sold_through && !confirmed.is_empty() {
        confirmed.into_iter().cloned().collect()
    } else {
        Vec::new()
    }
}

/// Adds `parts` to the page of shard `doc` (skipping those already there).
/// Returns false when the shard has no page (an event created before
/// pages existed): then nothing moves.
pub fn append<S: Store, E: Env>(
    ctx: &Ctx<'_, S, E>,
    meta: &EventMeta,
    (section, doc): (usize, usize),
    parts: &[Part],
) -> Result<bool, BookingError> {
    let key = meta.ledger_key(section, doc);
    let absent = || BookingError::NotFound("no ledger page".into());
    let added = cas::update(ctx, &key, "ledger", absent, |page: &mut LedgerPage| {
        let before = page.parts.len();
        for part in parts {
            if !page.parts.iter().any(|p| p.nonce == part.nonce) {
                page.parts.push(part.clone());
            }
        }
        Ok(if page.parts.len() > before {
            Change::Write(())
        } else {
            Change::Keep(())
        })
    });
    match added {
        Ok(()) => Ok(true),
        Err(BookingError::NotFound(_)) => Ok(false),
        Err(error) => Err(error),
    }
}

/// The page of shard `doc`, if the shard moved anything to it.
fn page<S: Store, E: Env>(
    ctx: &Ctx<'_, S, E>,
    meta: &EventMeta,
    (section, doc): (usize, usize),
    shard: &InventoryDoc,
) -> Result<Option<LedgerPage>, BookingError> {
    // Not `sold_moved` alone: a keyed hold's zero-unit primary moves
    // without adding to it, and must still be found.
    if cfg!(feature = "plant-skip-ledger-lookup") || shard.sold_moved == 0 && shard.parts_moved == 0
    {
        return Ok(None);
    }
    cas::load(ctx, &meta.ledger_key(section, doc))
}

/// Part `nonce` of `shard` (document `doc`): from the shard, else from its
/// page.
pub fn find<S: Store, E: Env>(
    ctx: &Ctx<'_, S, E>,
    meta: &EventMeta,
    place: (usize, usize),
    shard: &InventoryDoc,
    nonce: &str,
) -> Result<Option<Part>, BookingError> {
    if let Some(part) = shard.part(nonce) {
        return Ok(Some(part.clone()));
    }
    let found = page(ctx, meta, place, shard)?
        .and_then(|page| page.parts.into_iter().find(|p| p.nonce == nonce));
    coverage::hit_if(found.is_some(), Path::LedgerFoundByFind);
    Ok(found)
}

/// The primary placed with Idempotency-Key id `key_id` in `shard`
/// (document `doc`, the key's home): from the shard, else from its page.
pub fn keyed_primary<S: Store, E: Env>(
    ctx: &Ctx<'_, S, E>,
    meta: &EventMeta,
    place: (usize, usize),
    shard: &InventoryDoc,
    key_id: &str,
) -> Result<Option<Part>, BookingError> {
    if let Some(part) = shard.keyed_primary(key_id) {
        return Ok(Some(part.clone()));
    }
    let found = page(ctx, meta, place, shard)?.and_then(|page| {
        page.parts
            .into_iter()
            .find(|p| p.is_primary() && p.key.as_deref() == Some(key_id))
    });
    coverage::hit_if(found.is_some(), Path::LedgerFoundKeyedPrimary);
    Ok(found)
}
