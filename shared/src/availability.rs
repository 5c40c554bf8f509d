//! `GET /events/:event_id/availability`: counts per section from one batch
//! read of the section documents. Expired holds count as available.

use crate::cas;
use crate::context::Ctx;
use crate::env::{Env, rfc3339};
use crate::error::BookingError;
use crate::http::Reply;
use crate::meta::ready_meta;
use crate::model::Occupancy;
use crate::model::{InventoryDoc, SectionKind};
use crate::parts;
use crate::store::Store;
use serde_json::json;

/// `GET /events/:event_id/availability`.
pub fn get<S: Store, E: Env>(ctx: &Ctx<'_, S, E>, event_id: &str) -> Result<Reply, BookingError> {
    let meta = ready_meta(ctx, event_id)?;
    let now_ms = ctx.env.now_ms();
    let keys: Vec<Vec<String>> = (0..meta.sections.len())
        .map(|section| meta.inventory_keys(section))
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
        let (held, sold) = section_counts(keys, &docs, now_ms, &confirmed, layout.capacity)?;
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
