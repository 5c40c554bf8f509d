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
        let (mut held, mut sold) = (0u32, 0u32);
        for doc in &docs {
            let (h, s) = parts::counts(doc, now_ms, &confirmed);
            held += h;
            sold += s;
        }
        let available = layout.capacity.saturating_sub(held + sold);
        debug_assert_eq!(available + held + sold, layout.capacity);
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
