//! `POST /holds/:hold_id/release` and `DELETE /holds/:hold_id`: give a hold
//! back (200 with status `released`; `expired` if it had expired first). One CAS on the primary part commits; other parts follow at once, so
//! released inventory is sellable again immediately.

use crate::cas::Change;
use crate::context::Ctx;
use crate::customer;
use crate::env::Env;
use crate::error::BookingError;
use crate::http::{Reply, Request, buyer};
use crate::model::PartStatus;
use crate::parts::{End, end_parts, locate, update_primary};
use crate::store::Store;
use serde_json::json;

/// `POST /holds/:hold_id/release`, `DELETE /holds/:hold_id`.
pub fn release<S: Store, E: Env>(
    ctx: &Ctx<'_, S, E>,
    hold_id: &str,
    request: &Request,
) -> Result<Reply, BookingError> {
    let buyer = buyer(ctx, request)?;
    let (meta, hold, _, part) = locate(ctx, hold_id)?;
    // The owner is fixed when the hold is placed, so the copy read here is
    // as good as the one the swap below sees.
    if let Some(buyer) = &buyer {
        buyer.owns(part.customer_id.as_deref())?;
    }
    let part = update_primary(ctx, &meta, &hold, "release", |part, now_ms| {
        match part.status {
            PartStatus::Confirmed => Err(BookingError::HoldConfirmed),
            // Already released, or expired: either way nothing is held.
            PartStatus::Released | PartStatus::Expired => Ok(Change::Keep(part.clone())),
            // Past its expiry: recorded expired (final, so that no confirm
            // can follow once the other parts are freed), and said so.
            PartStatus::Held if now_ms >= part.expires_ms => {
                part.status = PartStatus::Expired;
                part.ended_ms = Some(part.expires_ms);
                Ok(Change::Write(part.clone()))
            }
            PartStatus::Held => {
                part.status = PartStatus::Released;
                part.ended_ms = Some(now_ms);
                Ok(Change::Write(part.clone()))
            }
        }
    })?;
    let others: Vec<usize> = part.other_docs.iter().map(|o| *o as usize).collect();
    let _ = end_parts(ctx, &meta, hold.section, &others, &hold.nonce, End::Release);
    if let (Some(customer), Some(_)) = (&part.customer_id, meta.max_per_customer) {
        let _ = customer::settle(
            ctx,
            &meta,
            customer,
            (&hold.nonce, part.key.as_deref()),
            false,
        );
    }
    // An expired hold stays reported as expired, whoever asks.
    let status = part.hold_status(ctx.env.now_ms());
    Ok(Reply::json(
        200,
        &json!({"hold_id": hold.id(), "status": status}),
    ))
}
