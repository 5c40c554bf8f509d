//! `GET /holds/:hold_id`, and the JSON view of a hold every route returns.

use crate::cas::{self, Change};
use crate::env::{Env, rfc3339};
use crate::error::BookingError;
use crate::event::ready_meta;
use crate::http::{Ctx, Reply};
use crate::ids::HoldRef;
use crate::model::{EventMeta, InventoryDoc, Part, SectionKind, inventory_key};
use crate::parts::{self, client_status};
use crate::store::Store;
use serde_json::{Value, json};

/// The client's view of a hold, from its primary part.
pub fn view(meta: &EventMeta, hold: &HoldRef, part: &Part, now_ms: u64) -> Value {
    let section = &meta.sections[hold.section];
    let status = client_status(part, now_ms);
    let mut body = json!({
        "hold_id": hold.id(),
        "event_id": hold.event_id,
        "section": section.id,
        "quantity": part.total_quantity().max(u32::try_from(part.all_seats().len()).unwrap_or(0)),
        "customer_id": part.customer_id,
        "status": status,
        "expires_at": rfc3339(part.expires_ms),
        "created_at": rfc3339(part.created_ms),
    });
    if section.kind == SectionKind::Seated {
        body["seats"] = json!(part.all_seats());
    }
    if status == "confirmed" {
        body["booking_id"] = json!(hold.booking_id());
        body["payment_ref"] = json!(part.payment_ref);
        if let Some(at) = part.ended_ms {
            body["confirmed_at"] = json!(rfc3339(at));
        }
    }
    body
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
    let key = inventory_key(&hold.event_id, hold.section, hold.doc);
    let doc: InventoryDoc = cas::load(ctx, &key)?.ok_or_else(not_found)?;
    let part = doc
        .part(&hold.nonce)
        .filter(|p| p.is_primary())
        .cloned()
        .ok_or_else(not_found)?;
    Ok((meta, hold, doc, part))
}

/// `GET /holds/:hold_id`.
pub fn get<S: Store, E: Env>(ctx: &Ctx<'_, S, E>, hold_id: &str) -> Result<Reply, BookingError> {
    let (meta, hold, _, part) = locate(ctx, hold_id)?;
    Ok(Reply::json(
        200,
        &view(&meta, &hold, &part, ctx.env.now_ms()),
    ))
}

/// Read-modify-CAS of a hold's primary part: the commit point of confirm
/// and release. `change` sees the part and the time of this attempt; a
/// written change also tidies the document.
pub fn update_primary<S: Store, E: Env>(
    ctx: &Ctx<'_, S, E>,
    hold: &HoldRef,
    verb: &str,
    mut change: impl FnMut(&mut Part, u64) -> Result<Change<Part>, BookingError>,
) -> Result<Part, BookingError> {
    let not_found = || BookingError::NotFound("no hold with this id".into());
    let key = inventory_key(&hold.event_id, hold.section, hold.doc);
    let op = format!("{verb}-{}", hold.nonce);
    cas::update(ctx, &key, &op, not_found, |doc: &mut InventoryDoc| {
        let now_ms = ctx.env.now_ms();
        let part = doc
            .part_mut(&hold.nonce)
            .filter(|p| p.is_primary())
            .ok_or_else(not_found)?;
        let decision = change(part, now_ms)?;
        if matches!(decision, Change::Write(_)) {
            parts::prune(doc, now_ms);
        }
        Ok(decision)
    })
}
