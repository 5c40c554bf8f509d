//! `PUT /events/:event_id` (create, admin) and `GET /events/:event_id`.
//!
//! Creation is the only place documents are written without CAS, so it is
//! guarded by an exclusive claim: an atomic increment of the claim counter,
//! whose first caller (the one that sees 1) owns the creation. The owner
//! writes the compact meta document first in state `Pending`, then every
//! document the event will ever CAS, then flips the meta to `Ready` with a
//! CAS. A creation that died midway is taken over, after
//! [`EVENT_CREATION_STALE_SECONDS`], by a repeat of the same definition.

use crate::cas::{self, Change};
use crate::context::Ctx;
use crate::env::{Env, rfc3339};
use crate::error::BookingError;
use crate::http::{Reply, Request, parse_json};
use crate::ids::{is_valid_id, stable_hash};
use crate::limits::*;
use crate::meta::ready_meta;
use crate::model::*;
use crate::store::Store;
use serde::Deserialize;
use serde_json::json;
use std::collections::HashSet;

/// The body of `PUT /events/:event_id`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct EventRequest {
    name: String,
    #[serde(default)]
    hold_ttl_seconds: Option<u32>,
    #[serde(default)]
    max_per_customer: Option<u32>,
    sections: Vec<SectionRequest>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SectionRequest {
    id: String,
    #[serde(default)]
    capacity: Option<u32>,
    #[serde(default)]
    shards: Option<u32>,
    #[serde(default)]
    seats: Option<Vec<String>>,
}

/// Parse step: validates the body and normalises it (defaults filled in).
pub fn parse(
    event_id: &str,
    body: &[u8],
    ttl_default: u32,
) -> Result<EventDefinition, BookingError> {
    let request: EventRequest = parse_json(body)?;
    let invalid = |detail: String| BookingError::invalid("invalid-event", detail);
    let name_ok = !request.name.trim().is_empty()
        && request.name.chars().count() <= EVENT_NAME_LENGTH_MAX
        && !request.name.chars().any(char::is_control);
    if !name_ok {
        return Err(invalid(format!(
            "name must be 1..={EVENT_NAME_LENGTH_MAX} characters without control characters"
        )));
    }
    let hold_ttl_seconds = request.hold_ttl_seconds.unwrap_or(ttl_default);
    if !(HOLD_TTL_SECONDS_MIN..=HOLD_TTL_SECONDS_MAX).contains(&hold_ttl_seconds) {
        return Err(invalid(format!(
            "hold_ttl_seconds must be {HOLD_TTL_SECONDS_MIN}..={HOLD_TTL_SECONDS_MAX}"
        )));
    }
    if let Some(limit) = request.max_per_customer
        && !(1..=CUSTOMER_UNITS_MAX).contains(&limit)
    {
        return Err(invalid(format!(
            "max_per_customer must be 1..={CUSTOMER_UNITS_MAX}"
        )));
    }
    if request.sections.is_empty() || request.sections.len() > SECTIONS_PER_EVENT_MAX {
        return Err(invalid(format!(
            "an event has 1..={SECTIONS_PER_EVENT_MAX} sections"
        )));
    }
    let mut section_ids = HashSet::new();
    let mut sections = Vec::with_capacity(request.sections.len());
    let mut documents = 0usize;
    for section in request.sections {
        if !is_valid_id(&section.id) {
            return Err(BookingError::BadRequest(format!(
                "invalid section id {:?}",
                section.id
            )));
        }
        if !section_ids.insert(section.id.clone()) {
            return Err(invalid(format!("duplicate section id {}", section.id)));
        }
        let normalised = parse_section(section)?;
        documents += section_documents(&normalised) as usize;
        sections.push(normalised);
    }
    if documents > EVENT_DOCUMENTS_MAX {
        return Err(invalid(format!(
            "the layout needs {documents} inventory documents; the limit is {EVENT_DOCUMENTS_MAX}"
        )));
    }
    Ok(EventDefinition {
        event_id: event_id.to_owned(),
        name: request.name,
        hold_ttl_seconds,
        max_per_customer: request.max_per_customer,
        sections,
    })
}

fn parse_section(section: SectionRequest) -> Result<SectionDefinition, BookingError> {
    let invalid = |detail: String| BookingError::invalid("invalid-event", detail);
    let id = section.id;
    match (section.capacity, section.seats) {
        (Some(capacity), None) => {
            if !(1..=SECTION_CAPACITY_MAX).contains(&capacity) {
                return Err(invalid(format!(
                    "section {id}: capacity must be 1..={SECTION_CAPACITY_MAX}"
                )));
            }
            let shards_min = capacity.div_ceil(SHARD_UNITS_MAX);
            let shards_max = capacity.min(SHARDS_PER_SECTION_MAX);
            let shards = section.shards.unwrap_or_else(|| {
                shards_min.max(
                    capacity
                        .div_ceil(SHARD_UNITS_TARGET)
                        .min(SHARDS_DEFAULT_MAX),
                )
            });
            if !(shards_min..=shards_max).contains(&shards) {
                return Err(invalid(format!(
                    "section {id}: shards must be {shards_min}..={shards_max} (at most {SHARD_UNITS_MAX} units per shard)"
                )));
            }
            Ok(SectionDefinition {
                id,
                capacity: Some(capacity),
                shards: Some(shards),
                seats: None,
            })
        }
        (None, Some(seats)) => {
            if section.shards.is_some() {
                return Err(invalid(format!(
                    "section {id}: shards apply to capacity sections only"
                )));
            }
            if seats.is_empty() || seats.len() > SECTION_SEATS_MAX {
                return Err(invalid(format!(
                    "section {id}: 1..={SECTION_SEATS_MAX} seats"
                )));
            }
            let mut seen = HashSet::new();
            for seat in &seats {
                if !is_valid_id(seat) {
                    return Err(BookingError::BadRequest(format!(
                        "invalid seat id {seat:?}"
                    )));
                }
                if !seen.insert(seat.as_str()) {
                    return Err(invalid(format!("section {id}: duplicate seat {seat}")));
                }
            }
            Ok(SectionDefinition {
                id,
                capacity: None,
                shards: None,
                seats: Some(seats),
            })
        }
        _ => Err(invalid(format!(
            "section {id}: give exactly one of capacity or seats"
        ))),
    }
}

fn section_documents(section: &SectionDefinition) -> u32 {
    match (&section.seats, section.shards) {
        (Some(seats), _) => {
            u32::try_from(seats.len().div_ceil(SEAT_BLOCK_SEATS_TARGET)).unwrap_or(u32::MAX)
        }
        (None, Some(shards)) => shards,
        (None, None) => 1,
    }
}

fn fingerprint(definition: &EventDefinition) -> Result<u64, BookingError> {
    Ok(stable_hash(&cas::encode(definition)?))
}

/// Documents to write at creation: `(key, encoded value)`.
type InitialDocuments = Vec<(String, Vec<u8>)>;

/// The compact meta and every initial document of a definition.
fn layout(
    definition: &EventDefinition,
    op: &str,
    now_ms: u64,
) -> Result<(EventMeta, InitialDocuments), BookingError> {
    let event_id = &definition.event_id;
    let mut documents = Vec::new();
    let mut sections = Vec::with_capacity(definition.sections.len());
    for (index, section) in definition.sections.iter().enumerate() {
        let docs = section_documents(section);
        let empty = |cap: u32, seats: Vec<String>| InventoryDoc {
            version: 0,
            operation: op.to_owned(),
            shard_units: cap,
            seats,
            parts: Vec::new(),
        };
        let (kind, capacity) = match (&section.seats, section.capacity) {
            (Some(seats), _) => {
                let mut blocks = vec![Vec::new(); docs as usize];
                for seat in seats {
                    blocks[seat_block(seat, docs)].push(seat.clone());
                }
                for (doc, seats) in blocks.into_iter().enumerate() {
                    let key = inventory_key(event_id, index, doc);
                    documents.push((key, cas::encode(&empty(0, seats))?));
                }
                (
                    SectionKind::Seated,
                    u32::try_from(seats.len()).unwrap_or(u32::MAX),
                )
            }
            (None, capacity) => {
                let capacity = capacity.unwrap_or(0);
                // Spread units evenly; the first `capacity % docs` shards get one more.
                for doc in 0..docs {
                    let units = capacity / docs + u32::from(doc < capacity % docs);
                    let key = inventory_key(event_id, index, doc as usize);
                    documents.push((key, cas::encode(&empty(units, Vec::new()))?));
                }
                (SectionKind::General, capacity)
            }
        };
        sections.push(SectionLayout {
            id: section.id.clone(),
            kind,
            capacity,
            docs,
        });
    }
    if definition.max_per_customer.is_some() {
        for bucket in 0..CUSTOMER_BUCKETS as usize {
            documents.push((
                customer_key(event_id, bucket),
                cas::encode(&CustomerDoc::default())?,
            ));
        }
    }
    for bucket in 0..IDEMPOTENCY_BUCKETS as usize {
        documents.push((
            idempotency_key(event_id, bucket),
            cas::encode(&IdempotencyDoc::default())?,
        ));
    }
    let meta = EventMeta {
        version: 0,
        operation: op.to_owned(),
        state: CreationState::Pending,
        fingerprint: fingerprint(definition)?,
        updated_ms: now_ms,
        hold_ttl_seconds: definition.hold_ttl_seconds,
        max_per_customer: definition.max_per_customer,
        sections,
    };
    Ok((meta, documents))
}

fn event_body(doc: &EventDoc) -> serde_json::Value {
    let mut body = json!(doc.definition);
    body["created_at"] = json!(rfc3339(doc.created_ms));
    body
}

/// `PUT /events/:event_id`.
pub fn put<S: Store, E: Env>(
    ctx: &Ctx<'_, S, E>,
    event_id: &str,
    request: &Request,
) -> Result<Reply, BookingError> {
    authorize(ctx, request)?;
    let definition = parse(event_id, &request.body, ctx.config.hold_ttl_seconds_default)?;
    let op = format!("create-{}", ctx.env.random_id().simple());
    let now_ms = ctx.env.now_ms();
    let (meta, documents) = layout(&definition, &op, now_ms)?;

    let existing: Option<EventMeta> = cas::load(ctx, &meta_key(event_id))?;
    let existing = match existing {
        Some(existing) => existing,
        None => {
            if ctx.store.increment(&claim_key(event_id), 1)? != 1 {
                // Someone else owns the creation; it may not have written
                // the meta yet. Look once more, then ask the caller to retry.
                match cas::load::<S, E, EventMeta>(ctx, &meta_key(event_id))? {
                    Some(existing) => existing,
                    None => return Err(BookingError::EventNotReady),
                }
            } else {
                ctx.store.put(&meta_key(event_id), &cas::encode(&meta)?)?;
                return finish_creation(ctx, &definition, &op, documents, now_ms, 201);
            }
        }
    };
    if existing.fingerprint != meta.fingerprint {
        return Err(BookingError::EventConflict);
    }
    if existing.state == CreationState::Ready {
        let doc: EventDoc = cas::load(ctx, &definition_key(event_id))?
            .ok_or_else(|| BookingError::Internal("ready event without a definition".into()))?;
        return if doc.definition == definition {
            Ok(Reply::json(200, &event_body(&doc)))
        } else {
            Err(BookingError::EventConflict)
        };
    }
    // Pending with the same definition: take over only if the owner stalled.
    let stale_ms = EVENT_CREATION_STALE_SECONDS * 1_000;
    cas::update(
        ctx,
        &meta_key(event_id),
        &op,
        || BookingError::EventNotReady,
        |meta: &mut EventMeta| {
            if meta.state == CreationState::Pending
                && now_ms.saturating_sub(meta.updated_ms) >= stale_ms
            {
                meta.updated_ms = now_ms;
                Ok(Change::Write(()))
            } else {
                Err(BookingError::EventNotReady)
            }
        },
    )?;
    finish_creation(ctx, &definition, &op, documents, now_ms, 201)
}

/// Writes every document of the event, then flips the meta to `Ready`.
fn finish_creation<S: Store, E: Env>(
    ctx: &Ctx<'_, S, E>,
    definition: &EventDefinition,
    op: &str,
    documents: InitialDocuments,
    now_ms: u64,
    status: u16,
) -> Result<Reply, BookingError> {
    let event_id = &definition.event_id;
    let doc = EventDoc {
        definition: definition.clone(),
        created_ms: now_ms,
    };
    ctx.store
        .put(&definition_key(event_id), &cas::encode(&doc)?)?;
    for (key, value) in &documents {
        ctx.store.put(key, value)?;
    }
    cas::update(
        ctx,
        &meta_key(event_id),
        op,
        || BookingError::EventNotReady,
        |meta: &mut EventMeta| {
            match meta.state {
                CreationState::Ready => Ok(Change::Keep(())),
                // Someone took over a creation they thought stalled; they finish it.
                CreationState::Pending if meta.operation != op => Err(BookingError::EventNotReady),
                CreationState::Pending => {
                    meta.state = CreationState::Ready;
                    Ok(Change::Write(()))
                }
            }
        },
    )?;
    Ok(Reply::json(status, &event_body(&doc)))
}

fn authorize<S: Store, E: Env>(ctx: &Ctx<'_, S, E>, request: &Request) -> Result<(), BookingError> {
    let Some(token) = ctx.config.admin_token.as_deref().filter(|t| !t.is_empty()) else {
        return Err(BookingError::AdminDisabled);
    };
    let presented = request
        .header("authorization")
        .and_then(|value| value.strip_prefix("Bearer "))
        .unwrap_or_default();
    if constant_time_eq(presented.as_bytes(), token.as_bytes()) {
        Ok(())
    } else {
        Err(BookingError::Unauthorized)
    }
}

/// Compares in constant time, so response timing does not leak how much
/// of a guessed token was right.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    use subtle::ConstantTimeEq;
    a.ct_eq(b).into()
}

/// `GET /events/:event_id`.
pub fn get<S: Store, E: Env>(ctx: &Ctx<'_, S, E>, event_id: &str) -> Result<Reply, BookingError> {
    ready_meta(ctx, event_id)?;
    let doc: EventDoc = cas::load(ctx, &definition_key(event_id))?
        .ok_or_else(|| BookingError::Internal("ready event without a definition".into()))?;
    Ok(Reply::json(200, &event_body(&doc)))
}
