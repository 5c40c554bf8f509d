//! `GET /holds/:hold_id`, and the JSON view of a hold every route returns.

use crate::context::Ctx;
use crate::env::{Env, rfc3339};
use crate::error::BookingError;
use crate::http::{Reply, Request, buyer};
use crate::ids::HoldRef;
use crate::model::{EventMeta, HoldStatus, Part, SectionKind};
use crate::parts::locate;
use crate::placement::Placement;
use crate::store::Store;
use serde_json::{Value, json};

/// The client's view of a hold, from its primary part.
pub fn view(meta: &EventMeta, hold: &HoldRef, part: &Part, now_ms: u64) -> Value {
    let section = &meta.sections[hold.section];
    let status = part.hold_status(now_ms);
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
    if status == HoldStatus::Confirmed {
        body["booking_id"] = json!(hold.booking_id());
        body["payment_ref"] = json!(part.payment_ref);
        if let Some(at) = part.ended_ms {
            body["confirmed_at"] = json!(rfc3339(at));
        }
    }
    body
}

/// `GET /holds/:hold_id`.
pub fn get<S: Store, E: Env>(
    ctx: &Ctx<'_, S, E>,
    hold_id: &str,
    request: &Request,
) -> Result<Reply, BookingError> {
    let buyer = buyer(ctx, request)?;
    let (meta, hold, _, part) = locate(ctx, hold_id)?;
    if let Some(buyer) = &buyer {
        buyer.owns(part.customer_id.as_deref())?;
    }
    Ok(Reply::json(
        200,
        &view(&meta, &hold, &part, ctx.env.now_ms()),
    ))
}

/// The 201 answer of a placed hold.
pub fn placed_reply(placement: &Placement<'_>, doc: usize, part: &Part, now_ms: u64) -> Reply {
    let hold_ref = HoldRef {
        event_id: placement.meta.event_id.clone(),
        section: placement.hold.section,
        doc,
        nonce: placement.nonce.to_owned(),
    };
    Reply::json(201, &view(placement.meta, &hold_ref, part, now_ms))
}
