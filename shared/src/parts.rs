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
use crate::changes;
use crate::context::{Ctx, Tuning};
use crate::coverage::{self, Path};
use crate::env::Env;
use crate::error::BookingError;
use crate::feed_pages;
use crate::ids::HoldRef;
use crate::invariants::transition_violation;
use crate::ledger;
use crate::limits::{
    CAS_ATTEMPTS_MAX, CLOCK_SKEW_MARGIN_SECONDS, ENDED_PARTS_RETENTION_SECONDS,
    IDEMPOTENCY_RETENTION_SECONDS,
};
use crate::meta::ready_meta;
use crate::model::{EventMeta, InventoryDoc, Occupancy, Part, PartStatus, SectionKind, Voided};
use crate::records::ChangeRecord;
use crate::store::Store;
use crate::summary::{self, Seen};

/// Read-modify-CAS of one inventory document. The layout created it with the
/// event, so a missing one is a broken store, never a reason to create it.
pub fn update_inventory<S: Store, E: Env, T>(
    ctx: &Ctx<'_, S, E>,
    meta: &EventMeta,
    section: usize,
    doc: usize,
    op: &str,
    change: impl FnMut(&mut InventoryDoc) -> Result<Change<T>, BookingError>,
) -> Result<T, BookingError> {
    update_inventory_within(ctx, meta, section, doc, op, CAS_ATTEMPTS_MAX, change)
}

/// [`update_inventory`] with at most `attempts` CAS attempts.
pub fn update_inventory_within<S: Store, E: Env, T>(
    ctx: &Ctx<'_, S, E>,
    meta: &EventMeta,
    section: usize,
    doc: usize,
    op: &str,
    attempts: u32,
    change: impl FnMut(&mut InventoryDoc) -> Result<Change<T>, BookingError>,
) -> Result<T, BookingError> {
    let key = meta.inventory_key(section, doc);
    let missing = || BookingError::Internal(format!("inventory document {key} is missing"));
    update_document(ctx, meta, (section, doc), op, attempts, missing, change)
}

/// The read-modify-CAS under every inventory write. On a general shard it
/// then records in the section summary a write that turned the shard full
/// or gave it room, and moves confirmed parts to the ledger when due; on
/// any document it copies change records to the feed pages when due (and
/// first, before writing, when too many wait: see `feed_pages`).
fn update_document<S: Store, E: Env, T>(
    ctx: &Ctx<'_, S, E>,
    meta: &EventMeta,
    (section, doc): (usize, usize),
    op: &str,
    attempts: u32,
    missing: impl Fn() -> BookingError,
    change: impl FnMut(&mut InventoryDoc) -> Result<Change<T>, BookingError>,
) -> Result<T, BookingError> {
    let key = meta.inventory_key(section, doc);
    let general = meta
        .sections
        .get(section)
        .is_some_and(|s| s.kind == SectionKind::General);
    let mut change = change;
    let mut follow_up = FollowUp::default();
    // Attempts before the one that writes: the CAS conflicts it retried.
    let mut attempts_made = 0u32;
    let result = feed_pages::copying_first(ctx, meta, (section, doc), |overdue| {
        cas::update_within(ctx, &key, op, attempts, &missing, |inventory| {
            *overdue = feed_pages::overdue(meta, inventory);
            if overdue.is_some() {
                return Err(BookingError::Contention);
            }
            let now_ms = ctx.env.now_ms();
            let full_before = inventory.full_until(now_ms) > now_ms;
            // Our own write, seen again after an ambiguous outcome: its
            // transition may not be recorded yet.
            let own_write = inventory.operation == op;
            let before = inventory.parts.clone();
            let decision = change(inventory)?;
            let wrote = matches!(decision, Change::Write(_));
            debug_assert!(
                !wrote || transition_violation(&before, inventory).is_none(),
                "{key} by {op}: {:?}",
                transition_violation(&before, inventory)
            );
            if wrote {
                // Recorded in the value this CAS writes: with the change.
                let kept_max = ctx.config.tuning.changes_per_document_max;
                changes::record(
                    inventory,
                    &before,
                    (now_ms, attempts_made),
                    (meta.feed_pages, kept_max),
                );
            }
            attempts_made += 1;
            follow_up = if general {
                let parts_min = ctx.config.tuning.ledger_move_parts_min;
                FollowUp::of(
                    inventory,
                    doc,
                    now_ms,
                    full_before,
                    wrote,
                    own_write,
                    parts_min,
                )
            } else {
                FollowUp::default()
            };
            follow_up.records = feed_pages::due(meta, inventory, wrote, &ctx.config.tuning);
            Ok(decision)
        })
    })?;
    // Best effort, all: a stale summary entry costs extra reads, or (a
    // full mark that should have gone) refusals until its time passes; a
    // move or copy not made is made by a later write.
    if let Some(seen) = follow_up.transition {
        let _ = summary::record(ctx, meta, section, &[seen]);
    }
    if !follow_up.due.is_empty() {
        let _ = move_to_ledger(ctx, meta, (section, doc), &follow_up.due);
    }
    if !follow_up.records.is_empty() {
        let _ = feed_pages::copy(ctx, meta, (section, doc), &follow_up.records);
    }
    Ok(result)
}

/// What a write to a general shard leaves to do after it.
#[derive(Debug, Default)]
struct FollowUp {
    /// The shard turned full or got room again: tell the summary.
    transition: Option<Seen>,
    /// Confirmed parts to move to the ledger.
    due: Vec<Part>,
    /// Change records to copy to the feed pages (any document).
    records: Vec<ChangeRecord>,
}

impl FollowUp {
    fn of(
        inventory: &InventoryDoc,
        doc: usize,
        now_ms: u64,
        full_before: bool,
        wrote: bool,
        own_write: bool,
        ledger_parts_min: usize,
    ) -> FollowUp {
        let full_until_ms = inventory.full_until(now_ms);
        let turned = wrote && full_before != (full_until_ms > now_ms);
        FollowUp {
            transition: (turned || !wrote && own_write).then_some(Seen {
                doc,
                // The version this write gives the document.
                version: inventory.version + u64::from(wrote),
                full_until_ms,
            }),
            due: if wrote {
                ledger::due(inventory, now_ms, ledger_parts_min)
            } else {
                Vec::new()
            },
            records: Vec::new(),
        }
    }
}

/// Moves these confirmed parts of a shard to its ledger page: first into
/// the page, then out of the shard (see `ledger`).
fn move_to_ledger<S: Store, E: Env>(
    ctx: &Ctx<'_, S, E>,
    meta: &EventMeta,
    place: (usize, usize),
    parts: &[Part],
) -> Result<(), BookingError> {
    if !ledger::append(ctx, meta, place, parts)? {
        return Ok(());
    }
    coverage::hit(Path::LedgerMovePageWritten);
    let key = meta.inventory_key(place.0, place.1);
    let missing = || BookingError::Internal(format!("inventory document {key} is missing"));
    cas::update(
        ctx,
        &key,
        "ledger",
        missing,
        |inventory: &mut InventoryDoc| {
            let mut units = 0;
            let before = inventory.parts.len();
            inventory.parts.retain(|part| {
                let moved = part.status == PartStatus::Confirmed
                    && parts.iter().any(|p| p.nonce == part.nonce);
                if moved {
                    units += part.units();
                }
                !moved
            });
            let moved = u32::try_from(before - inventory.parts.len()).unwrap_or(u32::MAX);
            inventory.sold_moved = inventory.sold_moved.saturating_add(units);
            inventory.parts_moved = inventory.parts_moved.saturating_add(moved);
            // Zero-unit parts move too: a keyed hold's primary in its home
            // shard when its units went elsewhere.
            coverage::hit_if(inventory.parts.len() < before, Path::LedgerMoveShardTrimmed);
            Ok(if inventory.parts.len() < before {
                Change::Write(())
            } else {
                Change::Keep(())
            })
        },
    )
}

/// Reads and decodes every inventory document of a section (one batch read).
pub fn load_section<S: Store, E: Env>(
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
            cas::decode_checked(key, &bytes)
        })
        .collect()
}

/// The hold a client-supplied id names: its event meta, parsed id, primary
/// document and part; 404 for anything that does not resolve.
pub fn locate<S: Store, E: Env>(
    ctx: &Ctx<'_, S, E>,
    hold_id: &str,
) -> Result<(EventMeta, HoldRef, InventoryDoc, Part), BookingError> {
    let not_found = || BookingError::NotFound("no hold with this id".into());
    let hold = HoldRef::parse(hold_id).ok_or_else(not_found)?;
    let meta = ready_meta(ctx, &hold.event_id).map_err(|e| match e {
        BookingError::NotFound(_) => not_found(),
        other => other,
    })?;
    let docs = meta.sections.get(hold.section).map_or(0, |s| s.docs);
    if hold.doc >= docs as usize {
        return Err(not_found());
    }
    let key = meta.inventory_key(hold.section, hold.doc);
    let doc: InventoryDoc = cas::load(ctx, &key)?.ok_or_else(not_found)?;
    let part = ledger::find(ctx, &meta, (hold.section, hold.doc), &doc, &hold.nonce)?
        .filter(Part::is_primary)
        .ok_or_else(not_found)?;
    coverage::hit_if(doc.part(&hold.nonce).is_none(), Path::LedgerFoundByLocate);
    Ok((meta, hold, doc, part))
}

/// Read-modify-CAS of a hold's primary part: the commit point of confirm
/// and release. `change` sees the part and the time of this attempt; a
/// written change also tidies the document.
pub fn update_primary<S: Store, E: Env>(
    ctx: &Ctx<'_, S, E>,
    meta: &EventMeta,
    hold: &HoldRef,
    verb: &str,
    mut change: impl FnMut(&mut Part, u64) -> Result<Change<Part>, BookingError>,
) -> Result<Part, BookingError> {
    let not_found = || BookingError::NotFound("no hold with this id".into());
    let op = format!("{verb}-{}", hold.nonce);
    let place = (hold.section, hold.doc);
    update_document(ctx, meta, place, &op, CAS_ATTEMPTS_MAX, not_found, |doc| {
        let now_ms = ctx.env.now_ms();
        let Some(part) = doc.part_mut(&hold.nonce).filter(|p| p.is_primary()) else {
            // Confirmed and moved to the ledger: final, so the change can
            // only answer from it.
            let mut moved = ledger::find(ctx, meta, place, doc, &hold.nonce)?
                .filter(Part::is_primary)
                .ok_or_else(not_found)?;
            coverage::hit(Path::LedgerFoundByUpdatePrimary);
            return match change(&mut moved, now_ms)? {
                Change::Keep(part) => Ok(Change::Keep(part)),
                Change::Write(_) => Err(BookingError::Internal(
                    "a change to a confirmed booking in the ledger".into(),
                )),
            };
        };
        let decision = change(part, now_ms)?;
        if matches!(decision, Change::Write(_)) {
            prune(doc, now_ms, &ctx.config.tuning);
        }
        Ok(decision)
    })
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
    meta: &EventMeta,
    section: usize,
    docs: &[usize],
    nonce: &str,
    end: End,
) -> Result<(), BookingError> {
    let op = format!("end-{nonce}");
    for doc in docs {
        update_inventory(ctx, meta, section, *doc, &op, |doc: &mut InventoryDoc| {
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
                    prune(doc, now_ms, &ctx.config.tuning);
                }
            }
            Ok(Change::Write(()))
        })?;
    }
    Ok(())
}

/// Counts of one section from all its documents: (held, sold) units.
pub fn section_counts<S: Store, E: Env>(
    ctx: &Ctx<'_, S, E>,
    meta: &EventMeta,
    section: usize,
    docs: &[InventoryDoc],
    now_ms: u64,
) -> Result<(u32, u32), BookingError> {
    let confirmed = confirmed_unresolved(ctx, meta, section, docs, now_ms)?;
    let (mut held, mut sold) = (0u32, 0u32);
    for doc in docs {
        let counted = counts(doc, now_ms, &confirmed);
        // Only a damaged stored value counts more than it holds.
        if over_capacity(doc, counted) {
            return Err(BookingError::Internal(
                "an inventory document counts more than its capacity".into(),
            ));
        }
        held = held.saturating_add(counted.0);
        sold = sold.saturating_add(counted.1);
    }
    let capacity = meta.sections.get(section).map_or(0, |s| s.capacity);
    if u64::from(held) + u64::from(sold) > u64::from(capacity) {
        return Err(BookingError::Internal(
            "a section's documents count more than its capacity".into(),
        ));
    }
    Ok((held, sold))
}

/// Counts of one document: (held, sold) units; the rest is available.
/// `sold_nonces` lists the confirmed holds whose secondary parts here
/// (held or unresolved) count as sold.
/// Saturating: a damaged document may claim any numbers; see
/// [`over_capacity`] for the check that refuses one.
pub fn counts(doc: &InventoryDoc, now_ms: u64, sold_nonces: &[String]) -> (u32, u32) {
    let (mut held, mut sold) = (0u32, doc.sold_moved);
    for part in &doc.parts {
        match part.occupancy(now_ms) {
            Occupancy::Sold => sold = sold.saturating_add(part.units()),
            // A secondary whose primary is confirmed is sold, held or not
            // yet marked (see `confirmed_unresolved`).
            Occupancy::Held | Occupancy::Unresolved if sold_nonces.contains(&part.nonce) => {
                sold = sold.saturating_add(part.units());
            }
            Occupancy::Held => held = held.saturating_add(part.units()),
            Occupancy::Unresolved | Occupancy::Free => {}
        }
    }
    (held, sold)
}

/// Whether counts of a document exceed its capacity. Every write keeps
/// held + sold within capacity, so only a damaged (or foreign) stored
/// value can: a reader must answer an error rather than report it.
pub fn over_capacity(doc: &InventoryDoc, (held, sold): (u32, u32)) -> bool {
    u64::from(held) + u64::from(sold) > u64::from(doc.capacity())
}

/// Until when a void mark for an attempt whose parts expire at
/// `expires_ms` is kept: its writer stops writing once that time has
/// passed on its own clock, and its clock may be behind ours.
pub fn void_until_ms(expires_ms: u64) -> u64 {
    expires_ms.saturating_add(CLOCK_SKEW_MARGIN_SECONDS * 1_000)
}

/// Tidies a document inside a write: records expired primaries as `X`, and
/// drops ended parts past retention or beyond the per-document cap, and
/// void marks past their time, so documents stay small however many holds
/// come and go. A keyed primary is the record of its Idempotency-Key, so it
/// stays as long as the key is remembered (plus the skew margin), under a
/// cap of its own ([`KEYED_ENDED_PARTS_PER_DOCUMENT_MAX`](crate::limits::KEYED_ENDED_PARTS_PER_DOCUMENT_MAX)): whatever clients
/// do, a document holds at most that many plus
/// [`ENDED_PARTS_PER_DOCUMENT_MAX`](crate::limits::ENDED_PARTS_PER_DOCUMENT_MAX) ended parts.
pub fn prune(doc: &mut InventoryDoc, now_ms: u64, tuning: &Tuning) {
    for part in &mut doc.parts {
        if part.status == PartStatus::Held && part.is_primary() && now_ms >= part.expires_ms {
            part.status = PartStatus::Expired;
            part.ended_ms = Some(part.expires_ms);
        }
    }
    doc.voided.retain(|v| now_ms < v.until_ms);
    let retention_ms = ENDED_PARTS_RETENTION_SECONDS * 1_000;
    let keyed_retention_ms = (IDEMPOTENCY_RETENTION_SECONDS + CLOCK_SKEW_MARGIN_SECONDS) * 1_000;
    let ended = |p: &Part| matches!(p.status, PartStatus::Released | PartStatus::Expired);
    let age_ms = |p: &Part| now_ms.saturating_sub(p.ended_ms.unwrap_or(0));
    let kept_for_key =
        |p: &Part| p.key.is_some() && p.is_primary() && age_ms(p) < keyed_retention_ms;
    doc.parts
        .retain(|p| !ended(p) || age_ms(p) < retention_ms || kept_for_key(p));
    let ended_max = tuning.ended_parts_per_document_max;
    let keyed_ended_max = tuning.keyed_ended_parts_per_document_max;
    drop_oldest(
        doc,
        |p| ended(p) && !kept_for_key(p),
        (ended_max, Path::EndedPartsCapped),
    );
    drop_oldest(
        doc,
        |p| ended(p) && kept_for_key(p),
        (keyed_ended_max, Path::KeyedEndedPartsCapped),
    );
    debug_assert!(doc.parts.iter().filter(|p| ended(p)).count() <= ended_max + keyed_ended_max);
}

/// Drops the oldest parts `chosen` picks beyond `kept_max` of them, by end
/// time; ties (holds that expired at the same millisecond) by position, so
/// the cap holds exactly.
fn drop_oldest(
    doc: &mut InventoryDoc,
    chosen: impl Fn(&Part) -> bool,
    (kept_max, path): (usize, Path),
) {
    let mut ended_indexes: Vec<(u64, usize)> = doc
        .parts
        .iter()
        .enumerate()
        .filter(|(_, p)| chosen(p))
        .map(|(index, p)| (p.ended_ms.unwrap_or(0), index))
        .collect();
    if ended_indexes.len() <= kept_max {
        return;
    }
    coverage::hit(path);
    crate::model::sort_pairs(&mut ended_indexes);
    // Which parts go, by index (a mask, not a hash set: smaller code).
    let mut dropped = vec![false; doc.parts.len()];
    for (_, index) in &ended_indexes[..ended_indexes.len() - kept_max] {
        dropped[*index] = true;
    }
    let mut index = 0;
    doc.parts.retain(|_| {
        index += 1;
        !dropped[index - 1]
    });
}

/// The final status of an expired hold whose primary is in `primary_doc`,
/// making it final first: a held-but-expired primary is recorded `X` with
/// a CAS, so a confirm that read it before expiry can no longer commit.
/// Returns true when the hold was confirmed.
pub fn finalize_primary<S: Store, E: Env>(
    ctx: &Ctx<'_, S, E>,
    meta: &EventMeta,
    section: usize,
    primary_doc: u32,
    orphan: &Part,
) -> Result<bool, BookingError> {
    let now_ms = ctx.env.now_ms();
    let nonce = orphan.nonce.as_str();
    let op = format!("expire-{nonce}");
    update_inventory(
        ctx,
        meta,
        section,
        primary_doc as usize,
        &op,
        |doc: &mut InventoryDoc| {
            let Some(part) = doc.part_mut(nonce) else {
                if doc.is_voided(nonce) {
                    return Ok(Change::Keep(false));
                }
                let place = (section, primary_doc as usize);
                if ledger::find(ctx, meta, place, doc, nonce)?.is_some() {
                    // Confirmed, and moved to the ledger.
                    coverage::hit(Path::LedgerFoundByFinalize);
                    return Ok(Change::Keep(true));
                }
                // Never written (its writer died or is stalled; the primary
                // is written after every other part), or ended and pruned
                // (confirmed parts never are). Either way not confirmed:
                // void the nonce, so a stalled writer cannot place the
                // primary after its other parts were freed.
                doc.voided.push(Voided {
                    nonce: nonce.to_owned(),
                    until_ms: void_until_ms(orphan.expires_ms),
                });
                coverage::hit(Path::PrimaryVoidedByResolver);
                return Ok(Change::Write(false));
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
                    coverage::hit(Path::PrimaryFinalizedExpired);
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
    meta: &EventMeta,
    section: usize,
    doc: &mut InventoryDoc,
    now_ms: u64,
) -> Result<bool, BookingError> {
    let mut changed = false;
    for part in &mut doc.parts {
        if part.occupancy(now_ms) != Occupancy::Unresolved {
            continue;
        }
        let Some(primary) = part.primary_doc else {
            continue;
        };
        let confirmed = finalize_primary(ctx, meta, section, primary, part)?;
        part.status = if confirmed {
            PartStatus::Confirmed
        } else {
            PartStatus::Expired
        };
        part.ended_ms = Some(now_ms);
        coverage::hit(Path::SecondaryResolved);
        changed = true;
    }
    Ok(changed)
}

/// Read-only resolution for availability: which secondary parts of these
/// documents, unresolved or still held, belong to confirmed holds. The
/// primary decides: a confirm commits on the primary and then marks the
/// secondaries, best effort, so a secondary can read held while its hold
/// is sold (until a later write resolves it); counted as sold here.
pub fn confirmed_unresolved<S: Store, E: Env>(
    ctx: &Ctx<'_, S, E>,
    meta: &EventMeta,
    section: usize,
    docs: &[InventoryDoc],
    now_ms: u64,
) -> Result<Vec<String>, BookingError> {
    let mut wanted: Vec<(u32, String)> = Vec::new();
    for doc in docs {
        for part in &doc.parts {
            let open = matches!(
                part.occupancy(now_ms),
                Occupancy::Unresolved | Occupancy::Held
            );
            if open && let Some(primary) = part.primary_doc {
                wanted.push((primary, part.nonce.clone()));
            }
        }
    }
    if wanted.is_empty() {
        return Ok(Vec::new());
    }
    let keys: Vec<String> = wanted
        .iter()
        .map(|(primary, _)| meta.inventory_key(section, *primary as usize))
        .collect();
    let values = ctx.store.get_many(&keys)?;
    let mut confirmed = Vec::new();
    for ((key, value), (primary, nonce)) in keys.iter().zip(values).zip(wanted) {
        let Some(bytes) = value else { continue };
        let doc: InventoryDoc = cas::decode(key, &bytes)?;
        let place = (section, primary as usize);
        if ledger::find(ctx, meta, place, &doc, &nonce)?
            .is_some_and(|p| p.status == PartStatus::Confirmed)
        {
            confirmed.push(nonce);
        }
    }
    Ok(confirmed)
}

#[cfg(test)]
#[path = "table_tests/parts.rs"]
mod table_tests;
