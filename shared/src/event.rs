//! `PUT /events/:event_id` (create, admin) and `GET /events/:event_id`:
//! the definition's parse step and the admin check. Creation itself, fenced
//! by the creation register, is [`crate::creation`].

use crate::cas;
use crate::context::Ctx;
use crate::creation::{self, Created};
use crate::env::{Env, rfc3339};
use crate::error::{BookingError, Token};
use crate::http::{Reply, Request, authorize, parse_json};
use crate::ids::{invalid_id, is_valid_id};
use crate::limits::*;
use crate::meta::ready_meta;
use crate::model::*;
use crate::store::Store;
use serde::Deserialize;
use serde_json::json;
use std::collections::HashSet;

/// The body of `PUT /events/:event_id`.
#[derive(Debug, Deserialize)]
struct EventRequest {
    name: String,
    #[serde(default)]
    hold_ttl_seconds: Option<u32>,
    #[serde(default)]
    max_per_customer: Option<u32>,
    sections: Vec<SectionRequest>,
}

#[derive(Debug, Deserialize)]
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
        && !request
            .name
            .chars()
            .any(|c| c.is_control() || is_invisible(c));
    if !name_ok {
        return Err(invalid(format!(
            "name must be 1..={EVENT_NAME_LENGTH_MAX} characters without control, bidirectional-control or invisible characters"
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
            return Err(invalid_id("section id", &section.id));
        }
        if !section_ids.insert(section.id.clone()) {
            return Err(invalid(format!("duplicate section id {}", section.id)));
        }
        let normalised = parse_section(section)?;
        documents += normalised.documents() as usize;
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
                    return Err(invalid_id("seat id", seat));
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

fn event_body(doc: &EventDoc) -> serde_json::Value {
    let mut body = json!(doc.definition);
    body["created_at"] = json!(rfc3339(doc.created_ms));
    body
}

/// `PUT /events/:event_id`: 201 when this request created the event, 200
/// when it exists with the same definition, 409 when it differs.
pub fn put<S: Store, E: Env>(
    ctx: &Ctx<'_, S, E>,
    event_id: &str,
    request: &Request,
) -> Result<Reply, BookingError> {
    authorize(request, Token::Admin, ctx.config.admin_token.as_deref())?;
    let definition = parse(event_id, &request.body, ctx.config.hold_ttl_seconds_default)?;
    match creation::create(ctx, &definition)? {
        Created::Now(doc) => Ok(Reply::json(201, &event_body(&doc))),
        Created::Before(generation) => {
            let doc = definition_of(ctx, event_id, generation)?;
            if doc.definition == definition {
                Ok(Reply::json(200, &event_body(&doc)))
            } else {
                Err(BookingError::EventConflict)
            }
        }
    }
}

fn definition_of<S: Store, E: Env>(
    ctx: &Ctx<'_, S, E>,
    event_id: &str,
    generation: u64,
) -> Result<EventDoc, BookingError> {
    cas::load(ctx, &definition_key(event_id, generation))?
        .ok_or_else(|| BookingError::Internal("ready event without a definition".into()))
}

/// `GET /events/:event_id`.
pub fn get<S: Store, E: Env>(ctx: &Ctx<'_, S, E>, event_id: &str) -> Result<Reply, BookingError> {
    let meta = ready_meta(ctx, event_id)?;
    let doc = definition_of(ctx, event_id, meta.generation)?;
    Ok(Reply::json(200, &event_body(&doc)))
}

/// Characters that change how a name displays without showing themselves:
/// bidirectional controls (a name could read differently than it sorts or
/// compares) and zero-width or invisible format characters.
fn is_invisible(c: char) -> bool {
    matches!(
        c,
        '\u{061C}'
            | '\u{200B}'..='\u{200F}'
            | '\u{202A}'..='\u{202E}'
            | '\u{2060}'..='\u{2064}'
            | '\u{2066}'..='\u{2069}'
            | '\u{FEFF}'
    )
}

#[cfg(test)]
#[path = "table_tests/event_parse.rs"]
mod table_tests;
