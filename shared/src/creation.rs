//! Creating an event's documents, fenced by the creation register.
//!
//! Spin's store has no create-if-absent for documents (a swap whose snapshot
//! saw no key is an unconditional upsert), so creation is decided by one
//! integer register, created atomically with `increment(key, 0)` and changed
//! only by CAS afterwards:
//!
//! 1. An attempt takes a generation number (`increment` of the claim key; a
//!    lost reply only burns a number) and writes its definition under it.
//! 2. It swaps the register from unclaimed to `Pending(generation)`. A
//!    pending generation whose definition is older than
//!    [`EVENT_CREATION_STALE_SECONDS`] may be replaced by a repeat of the
//!    same definition: the CAS on the register picks one generation.
//! 3. The owner writes every document under its own generation's keys, then
//!    swaps the register to `Ready(generation)`.
//!
//! An attempt that stalls and resumes after another took over writes only
//! under its own generation, which no reader ever looks at; the one shared
//! key it may still overwrite is the fast copy of the meta, which readers
//! trust only when its generation matches the register
//! ([`crate::meta::ready_meta`]). Ownership is never decided by a clock: the
//! clock only says when a repeat may start a competing generation.

use crate::cas;
use crate::context::Ctx;
use crate::coverage::{self, Path};
use crate::env::Env;
use crate::error::BookingError;
use crate::limits::{
    CAS_ATTEMPTS_MAX, CUSTOMER_BUCKETS, EVENT_CREATION_STALE_SECONDS, FEED_PAGES_PER_DOCUMENT,
};
use crate::model::{
    CustomerDoc, EventDefinition, EventDoc, EventMeta, FeedPage, InventoryDoc, LedgerPage,
    Register, SectionDefinition, SectionKind, SectionLayout, SectionSummary, claim_key,
    definition_key, generation_meta_key, meta_key, register_key, seat_block, shard_units,
};
use crate::store::{Store, Swap};

/// The `operation` of every initial document: creation writes are told
/// apart by their keys (one generation each), not by their contents.
const CREATION_OPERATION: &str = "create";

/// How a `PUT` of a definition ended.
#[derive(Debug)]
pub enum Created {
    /// This request created the event.
    Now(EventDoc),
    /// The event was ready already, with this generation.
    Before(u64),
}

/// Creates the event of `definition`, or finds it ready.
pub fn create<S: Store, E: Env>(
    ctx: &Ctx<'_, S, E>,
    definition: &EventDefinition,
) -> Result<Created, BookingError> {
    let event_id = &definition.event_id;
    let key = register_key(event_id);
    let mut mine: Option<u64> = None;
    for _attempt in 0..CAS_ATTEMPTS_MAX {
        let snapshot = ctx.store.read_for_swap(&key)?;
        let Some(bytes) = snapshot.value else {
            refuse_if_claimed(ctx, event_id)?;
            // Never swap an absent key: create the register atomically.
            ctx.store.increment(&key, 0)?;
            continue;
        };
        let register = Register::decode(&bytes)
            .ok_or_else(|| BookingError::Internal(format!("{key} is not a register")))?;
        match register {
            Register::Ready(generation) => return Ok(Created::Before(generation)),
            Register::Pending(generation) if mine == Some(generation) => {
                return finish(ctx, definition, generation);
            }
            Register::Pending(generation) => check_pending(ctx, definition, generation)?,
            Register::Unclaimed => {}
        }
        let generation = match mine {
            Some(generation) => generation,
            None => *mine.insert(claim(ctx, definition)?),
        };
        // A conflict or an ambiguous outcome: re-read, and recognise our
        // generation if the swap landed.
        let _ = ctx
            .store
            .swap(snapshot.cas, &Register::Pending(generation).encode());
    }
    Err(BookingError::Contention)
}

/// An absent register whose event has claimed generations: the register
/// is created before the first claim and never removed, so a register
/// still absent when read after the claim counter was seen means the store
/// lost it. Creating the event again would sell its inventory a second time
/// under a new generation; refuse (500) and leave it to the operator. (Read
/// in this order, a racing first creator, which creates the register before
/// it claims, is never mistaken for a loss.)
fn refuse_if_claimed<S: Store, E: Env>(
    ctx: &Ctx<'_, S, E>,
    event_id: &str,
) -> Result<(), BookingError> {
    let claim = claim_key(event_id);
    if ctx.store.get(&claim)?.is_none() || ctx.store.get(&register_key(event_id))?.is_some() {
        return Ok(());
    }
    Err(BookingError::Internal(format!(
        "{claim} exists but the creation register is missing"
    )))
}

/// Takes a generation number and writes the definition under it, so that a
/// pending generation can always be compared and aged.
fn claim<S: Store, E: Env>(
    ctx: &Ctx<'_, S, E>,
    definition: &EventDefinition,
) -> Result<u64, BookingError> {
    let event_id = &definition.event_id;
    let number = ctx.store.increment(&claim_key(event_id), 1)?;
    let generation = u64::try_from(number)
        .ok()
        .filter(|g| *g > 0)
        .ok_or_else(|| BookingError::Internal("claim counter out of range".into()))?;
    let doc = EventDoc {
        definition: definition.clone(),
        created_ms: ctx.env.now_ms(),
    };
    ctx.store
        .put(&definition_key(event_id, generation), &cas::encode(&doc)?)?;
    Ok(generation)
}

/// A generation is creating the event: another definition conflicts; the
/// same one waits until the owner looks stalled, then may compete.
fn check_pending<S: Store, E: Env>(
    ctx: &Ctx<'_, S, E>,
    definition: &EventDefinition,
    generation: u64,
) -> Result<(), BookingError> {
    let key = definition_key(&definition.event_id, generation);
    let Some(doc) = cas::load::<S, E, EventDoc>(ctx, &key)? else {
        // Written before the register names it; gone only if the store lost
        // it. Let a new generation replace it.
        return Ok(());
    };
    if doc.definition != *definition {
        return Err(BookingError::EventConflict);
    }
    let age_ms = ctx.env.now_ms().saturating_sub(doc.created_ms);
    if age_ms < EVENT_CREATION_STALE_SECONDS * 1_000 {
        return Err(BookingError::EventNotReady);
    }
    Ok(())
}

/// The owner of `generation` writes its documents, then makes it ready.
fn finish<S: Store, E: Env>(
    ctx: &Ctx<'_, S, E>,
    definition: &EventDefinition,
    generation: u64,
) -> Result<Created, BookingError> {
    let event_id = &definition.event_id;
    let (meta, documents) = layout(definition, generation)?;
    for (key, value) in &documents {
        ctx.store.put(key, value)?;
    }
    let encoded = cas::encode(&meta)?;
    ctx.store
        .put(&generation_meta_key(event_id, generation), &encoded)?;
    ctx.store.put(&meta_key(event_id), &encoded)?;
    let key = register_key(event_id);
    for _attempt in 0..CAS_ATTEMPTS_MAX {
        let snapshot = ctx.store.read_for_swap(&key)?;
        match snapshot.value.as_deref().and_then(Register::decode) {
            Some(Register::Ready(ready)) if ready == generation => {
                return created(ctx, event_id, generation);
            }
            Some(Register::Pending(pending)) if pending == generation => {
                // An ambiguous outcome is re-read on the next attempt.
                if let Ok(Swap::Done) = ctx
                    .store
                    .swap(snapshot.cas, &Register::Ready(generation).encode())
                {
                    return created(ctx, event_id, generation);
                }
            }
            // Another generation took over while we were stalled: it serves,
            // and what we wrote is never read.
            _ => return Err(BookingError::EventNotReady),
        }
    }
    Err(BookingError::Contention)
}

fn created<S: Store, E: Env>(
    ctx: &Ctx<'_, S, E>,
    event_id: &str,
    generation: u64,
) -> Result<Created, BookingError> {
    coverage::hit_if(generation > 1, Path::CreatedByLaterGeneration);
    cas::load::<S, E, EventDoc>(ctx, &definition_key(event_id, generation))?
        .map(Created::Now)
        .ok_or_else(|| BookingError::Internal("created event without a definition".into()))
}

/// Documents to write at creation: `(key, encoded value)`.
type InitialDocuments = Vec<(String, Vec<u8>)>;

/// The meta and every initial document of a definition's generation. Both
/// depend only on the definition and the generation.
pub fn layout(
    definition: &EventDefinition,
    generation: u64,
) -> Result<(EventMeta, InitialDocuments), BookingError> {
    let mut meta = EventMeta {
        event_id: definition.event_id.clone(),
        generation,
        fingerprint: crate::ids::stable_hash(&cas::encode(definition)?),
        hold_ttl_seconds: definition.hold_ttl_seconds,
        max_per_customer: definition.max_per_customer,
        sections: Vec::with_capacity(definition.sections.len()),
        feed_pages: true,
    };
    let mut documents = Vec::new();
    for (index, section) in definition.sections.iter().enumerate() {
        let (layout, inventory) = section_layout(section);
        if layout.kind == SectionKind::General {
            let page = cas::encode(&LedgerPage {
                operation: CREATION_OPERATION.into(),
                ..LedgerPage::default()
            })?;
            for doc in 0..inventory.len() {
                documents.push((meta.ledger_key(index, doc), page.clone()));
            }
            let summary = SectionSummary {
                operation: CREATION_OPERATION.into(),
                shards: inventory.iter().map(|doc| (0, doc.full_until(0))).collect(),
                ..SectionSummary::default()
            };
            documents.push((meta.summary_key(index), cas::encode(&summary)?));
        }
        for (doc, inventory) in inventory.into_iter().enumerate() {
            documents.push((meta.inventory_key(index, doc), cas::encode(&inventory)?));
            documents.extend(feed_pages(&meta, index, doc)?);
        }
        meta.sections.push(layout);
    }
    if definition.max_per_customer.is_some() {
        for bucket in 0..CUSTOMER_BUCKETS as usize {
            let empty = CustomerDoc {
                operation: CREATION_OPERATION.into(),
                ..CustomerDoc::default()
            };
            documents.push((meta.customer_key(bucket), cas::encode(&empty)?));
        }
    }
    Ok((meta, documents))
}

/// The empty ring of feed pages of one inventory document: slot `s` holds
/// page `s`, so the first pages are written in place and later ones
/// replace them (see `feed_pages`).
fn feed_pages(
    meta: &EventMeta,
    section: usize,
    doc: usize,
) -> Result<InitialDocuments, BookingError> {
    (0..FEED_PAGES_PER_DOCUMENT)
        .map(|slot| {
            let page = FeedPage {
                operation: CREATION_OPERATION.into(),
                page: slot as u64,
                ..FeedPage::default()
            };
            Ok((meta.feed_page_key(section, doc, slot), cas::encode(&page)?))
        })
        .collect()
}

/// Inventory documents of a section: its shards or seat blocks.
fn section_layout(section: &SectionDefinition) -> (SectionLayout, Vec<InventoryDoc>) {
    let docs = section.documents();
    let empty = |shard_units: u32, seats: Vec<String>| InventoryDoc {
        version: 0,
        operation: CREATION_OPERATION.into(),
        shard_units,
        seats,
        ..InventoryDoc::default()
    };
    let (kind, capacity, inventory) = match (&section.seats, section.capacity) {
        (Some(seats), _) => {
            let mut blocks = vec![Vec::new(); docs as usize];
            for seat in seats {
                blocks[seat_block(seat, docs)].push(seat.clone());
            }
            let capacity = u32::try_from(seats.len()).unwrap_or(u32::MAX);
            let inventory = blocks.into_iter().map(|seats| empty(0, seats)).collect();
            (SectionKind::Seated, capacity, inventory)
        }
        (None, capacity) => {
            let capacity = capacity.unwrap_or(0);
            let inventory = (0..docs)
                .map(|doc| empty(shard_units(capacity, docs, doc as usize), Vec::new()))
                .collect();
            (SectionKind::General, capacity, inventory)
        }
    };
    let layout = SectionLayout {
        id: section.id.clone(),
        kind,
        capacity,
        docs,
    };
    (layout, inventory)
}
