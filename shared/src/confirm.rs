//! `POST /holds/:hold_id/confirm`: turn a live hold into a booking.
//!
//! The commit point is one CAS on the hold's primary part (held and not yet
//! expired → confirmed). Parts in other documents follow; if that is cut
//! short, a writer that later finds them expired asks the primary, sees
//! "confirmed", and records them as sold.

use crate::cas::Change;
use crate::context::Ctx;
use crate::customer;
use crate::env::Env;
use crate::error::{BookingError, Token};
use crate::hold_status::view;
use crate::http::{Reply, Request, authorize, parse_json};
use crate::ids::is_printable_ascii;
use crate::limits::PAYMENT_REF_LENGTH_MAX;
use crate::model::{EventMeta, InventoryDoc, PartStatus};
use crate::parts;
use crate::parts::{locate, update_primary};
use crate::store::Store;
use serde::Deserialize;

#[derive(Debug, Deserialize)]
struct ConfirmBody {
    payment_ref: String,
}

/// Parse step: the payment reference.
pub fn parse(body: &[u8]) -> Result<String, BookingError> {
    let body: ConfirmBody = parse_json(body)?;
    if !is_printable_ascii(&body.payment_ref, PAYMENT_REF_LENGTH_MAX) {
        return Err(BookingError::invalid(
            "invalid-payment-ref",
            format!("payment_ref must be 1..={PAYMENT_REF_LENGTH_MAX} printable ASCII characters"),
        ));
    }
    Ok(body.payment_ref)
}

/// `POST /holds/:hold_id/confirm`.
pub fn post<S: Store, E: Env>(
    ctx: &Ctx<'_, S, E>,
    hold_id: &str,
    request: &Request,
) -> Result<Reply, BookingError> {
    authorize(request, Token::Confirm, ctx.config.confirm_token.as_deref())?;
    let (meta, hold, _, _) = locate(ctx, hold_id)?;
    let payment_ref = parse(&request.body)?;
    let part = update_primary(ctx, &meta, &hold, "confirm", |part, now_ms| {
        match part.status {
            // A repeat (or our own write seen after an ambiguous swap).
            PartStatus::Confirmed if part.payment_ref.as_deref() == Some(payment_ref.as_str()) => {
                Ok(Change::Keep(part.clone()))
            }
            PartStatus::Confirmed => Err(BookingError::PaymentRefMismatch),
            PartStatus::Released => Err(BookingError::HoldReleased),
            PartStatus::Expired => Err(BookingError::HoldExpired),
            PartStatus::Held if now_ms >= part.expires_ms => Err(BookingError::HoldExpired),
            PartStatus::Held => {
                part.status = PartStatus::Confirmed;
                part.ended_ms = Some(now_ms);
                part.payment_ref = Some(payment_ref.clone());
                Ok(Change::Write(part.clone()))
            }
        }
    })?;
    // Committed. The rest is follow-up that readers can also work out.
    for other in &part.other_docs {
        let _ = mark_secondary_sold(ctx, &meta, hold.section, *other as usize, &hold.nonce);
    }
    if let (Some(customer), Some(_)) = (&part.customer_id, meta.max_per_customer) {
        let _ = customer::settle(
            ctx,
            &meta,
            customer,
            (&hold.nonce, part.key.as_deref()),
            true,
        );
    }
    let mut body = view(&meta, &hold, &part, ctx.env.now_ms());
    body["status"] = "confirmed".into();
    Ok(Reply::json(200, &body))
}

fn mark_secondary_sold<S: Store, E: Env>(
    ctx: &Ctx<'_, S, E>,
    meta: &EventMeta,
    section: usize,
    doc: usize,
    nonce: &str,
) -> Result<(), BookingError> {
    let op = format!("confirm-{nonce}");
    parts::update_inventory(
        ctx,
        meta,
        section,
        doc,
        &op,
        |doc: &mut InventoryDoc| match doc.part_mut(nonce) {
            Some(part) if part.status == PartStatus::Held => {
                part.status = PartStatus::Confirmed;
                part.ended_ms = Some(ctx.env.now_ms());
                Ok(Change::Write(()))
            }
            Some(part) => {
                // A secondary is freed only after its primary was made final
                // as expired, which a committed confirm rules out.
                debug_assert_eq!(
                    part.status,
                    PartStatus::Confirmed,
                    "secondary of a confirmed hold was freed"
                );
                Ok(Change::Keep(()))
            }
            None => Ok(Change::Keep(())),
        },
    )
}
