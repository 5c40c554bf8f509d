//! `GET /events/:event_id/availability`: counts per section from one batch
//! read of the section documents. Expired holds count as available.
//!
//! A general section of many shards is read through its summary first:
//! a shard the summary marks sold through (full, nothing held: every unit
//! confirmed, which is final) counts as sold without being read, so a big
//! sold-through section costs one small read, not a read of every shard
//! and its change records.

use crate::cas;
use crate::context::Ctx;
use crate::env::{Env, rfc3339};
use crate::error::BookingError;
use crate::http::Reply;
use crate::limits::AVAILABILITY_SUMMARY_SHARDS_MIN;
use crate::meta::ready_meta;
use crate::model::Occupancy;
use crate::model::{EventMeta, InventoryDoc, SectionKind, SectionSummary, shard_units};
use crate::parts;
use crate::store::Store;
use serde_json::json;

/// `GET /events/:event_id/availability`.
pub fn get<S: Store, E: Env>(ctx: &Ctx<'_, S, E>, event_id: &str) -> Result<Reply, BookingError> {
    let meta = ready_meta(ctx, event_id)?;
    let now_ms = ctx.env.now_ms();
    let sold_through = sold_through_shards(ctx, &meta)?;
    let keys: Vec<Vec<String>> = (0..meta.sections.len())
        .map(|section| {
            let skipped = &sold_through[section];
            let keys = meta.inventory_keys(section).into_iter().enumerate();
            keys.filter(|(doc, _)| !skipped.contains(doc))
                .map(|(_, key)| key)
                .collect()
        })
        .collect();
    let flat: Vec<String> = keys.iter().flatten().cloned().collect();
    let mut values = ctx.store.get_many(&flat)?.into_iter();
    let mut sections = Vec::with_capacity(meta.sections.len());
    for (index, (layout, keys)) in meta.sections.iter().zip(&keys).enumerate() {
        let mut docs = Vec::with_capacity(keys.len());
        for key in keys {
            let bytes = values.next().flatten().ok_or_else(|| {
                BookingError::Internal(format!("inventory document {key} is missing"))
            })?;
            docs.push(cas::decode::<InventoryDoc>(key, &bytes)?);
        }
        let confirmed = parts::confirmed_unresolved(ctx, &meta, index, &docs, now_ms)?;
        // Shards the summary marks sold through were not read: all sold.
        let skipped: u32 = sold_through[index]
            .iter()
            .map(|doc| shard_units(layout.capacity, layout.docs, *doc))
            .sum();
        let read_capacity = layout.capacity.saturating_sub(skipped);
        let (held, sold) = section_counts(keys, &docs, now_ms, &confirmed, read_capacity)?;
        let sold = sold + skipped;
        let available = layout.capacity - held - sold;
        let mut section = json!({
            "id": layout.id,
            "kind": layout.kind,
            "capacity": layout.capacity,
            "available": available,
            "held": held,
            "sold": sold,
        });
        if layout.kind == SectionKind::Seated {
            let confirmed = &confirmed;
            let free: Vec<&String> = docs
                .iter()
                .flat_map(|doc| {
                    doc.seats.iter().filter(move |seat| {
                        !doc.parts.iter().any(|p| {
                            p.seats.contains(seat)
                                && match p.occupancy(now_ms) {
                                    Occupancy::Held | Occupancy::Sold => true,
                                    Occupancy::Unresolved => confirmed.contains(&p.nonce),
                                    Occupancy::Free => false,
                                }
                        })
                    })
                })
                .collect();
            section["available_seats"] = json!(free);
        }
        sections.push(section);
    }
    Ok(Reply::json(
        200,
        &json!({"event_id": event_id, "sections": sections, "as_of": rfc3339(now_ms)}),
    ))
}

/// (held, sold) of a section; an error when a document, or the section,
/// counts more than its capacity: only a damaged stored value can, and
/// reporting it would show a client numbers that do not add up.
fn section_counts(
    keys: &[String],
    docs: &[InventoryDoc],
    now_ms: u64,
    confirmed: &[String],
    capacity: u32,
) -> Result<(u32, u32), BookingError> {
    let (mut held, mut sold) = (0u32, 0u32);
    for (key, doc) in keys.iter().zip(docs) {
        let counted = parts::counts(doc, now_ms, confirmed);
        if parts::over_capacity(doc, counted) {
            return Err(BookingError::Internal(format!(
                "inventory document {key} counts more than its capacity"
            )));
        }
        held = held.saturating_add(counted.0);
        sold = sold.saturating_add(counted.1);
    }
    if u64::from(held) + u64::from(sold) > u64::from(capacity) {
        return Err(BookingError::Internal(
            "a section's documents count more than its capacity".into(),
        ));
    }
    Ok((held, sold))
}

/// Per section, the shards its summary marks sold through (general sections
/// of more than [`AVAILABILITY_SUMMARY_SHARDS_MIN`] shards only: a smaller
/// section is read whole in the one batch). One batch read of the summaries.
fn sold_through_shards<S: Store, E: Env>(
    ctx: &Ctx<'_, S, E>,
    meta: &EventMeta,
) -> Result<Vec<Vec<usize>>, BookingError> {
    let big: Vec<usize> = (0..meta.sections.len())
        .filter(|index| {
            let layout = &meta.sections[*index];
            layout.kind == SectionKind::General
                && layout.docs as usize > AVAILABILITY_SUMMARY_SHARDS_MIN
        })
        .collect();
    let mut sold_through = vec![Vec::new(); meta.sections.len()];
    if big.is_empty() {
        return Ok(sold_through);
    }
    let keys: Vec<String> = big.iter().map(|index| meta.summary_key(*index)).collect();
    for ((index, key), value) in big.iter().zip(&keys).zip(ctx.store.get_many(&keys)?) {
        let Some(bytes) = value else { continue };
        let summary: SectionSummary = cas::decode(key, &bytes)?;
        let docs = meta.sections[*index].docs as usize;
        sold_through[*index] = summary
            .shards
            .iter()
            .enumerate()
            .filter(|(doc, (_, until_ms))| *doc < docs && *until_ms == u64::MAX)
            .map(|(doc, _)| doc)
            .collect();
    }
    Ok(sold_through)
}
