//! `POST /events/:event_id/holds`: take units or seats for a while.
//!
//! A hold goes, in order: customer reservation (if the event has a limit
//! and the body names a customer), then inventory; with an Idempotency-Key
//! its primary part goes to the key's home document (see `keyed`). Inventory is one CAS on one
//! shard or seat block in the common case. When the request spans several
//! documents (seats in several blocks, or more units than any one shard has
//! left) the primary part is written first and the others after it; a
//! failure releases what was written, and a crash leaves parts that expire.

use crate::context::Ctx;
use crate::env::Env;
use crate::error::BookingError;
use crate::hold_status;
use crate::http::{Reply, Request, buyer, parse_json};
use crate::identity::Buyer;
use crate::ids::{invalid_id, is_printable_ascii, is_valid_id};
use crate::keyed;
use crate::limits::{HOLD_UNITS_MAX, IDEMPOTENCY_KEY_LENGTH_MAX, IDEMPOTENCY_KEY_LENGTH_MIN};
use crate::meta::ready_meta;
use crate::model::{EventMeta, SectionKind};
use crate::placement::{Amount, HoldRequest, NotPlaced, Placement};
use crate::store::Store;
use serde::Deserialize;

#[derive(Debug, Deserialize)]
struct HoldBody {
    section: String,
    #[serde(default)]
    quantity: Option<serde_json::Value>,
    #[serde(default)]
    seats: Option<Vec<String>>,
    #[serde(default)]
    customer_id: Option<String>,
}

/// Parse step: the body against the event's layout.
pub fn parse(meta: &EventMeta, body: &[u8]) -> Result<HoldRequest, BookingError> {
    let body: HoldBody = parse_json(body)?;
    if !is_valid_id(&body.section) {
        return Err(invalid_id("section id", &body.section));
    }
    if let Some(customer) = &body.customer_id
        && !is_valid_id(customer)
    {
        return Err(invalid_id("customer_id", customer));
    }
    if let Some(seat) = body.seats.iter().flatten().find(|s| !is_valid_id(s)) {
        return Err(invalid_id("seat id", seat));
    }
    let Some(section) = meta.section_index(&body.section) else {
        let known: Vec<&str> = meta.sections.iter().map(|s| s.id.as_str()).collect();
        return Err(BookingError::invalid(
            "unknown-section",
            format!(
                "no section {:?} in this event; its sections: {}",
                body.section,
                known.join(", ")
            ),
        ));
    };
    let kind = meta.sections[section].kind;
    let amount = parse_amount(kind, &body.section, body.quantity, body.seats)?;
    Ok(HoldRequest {
        section,
        amount,
        customer_id: body.customer_id,
    })
}

/// The units or seats asked for, against the section's kind.
fn parse_amount(
    kind: SectionKind,
    section_id: &str,
    quantity: Option<serde_json::Value>,
    seats: Option<Vec<String>>,
) -> Result<Amount, BookingError> {
    match (kind, quantity, seats) {
        (SectionKind::General, Some(quantity), None) => quantity
            .as_u64()
            .and_then(|q| u32::try_from(q).ok())
            .filter(|q| (1..=HOLD_UNITS_MAX).contains(q))
            .map(Amount::Units)
            .ok_or_else(|| {
                BookingError::invalid(
                    "quantity-out-of-range",
                    format!("quantity must be an integer 1..={HOLD_UNITS_MAX}"),
                )
            }),
        (SectionKind::Seated, None, Some(seats)) => {
            if seats.is_empty() || seats.len() > HOLD_UNITS_MAX as usize {
                return Err(BookingError::invalid(
                    "quantity-out-of-range",
                    format!("hold 1..={HOLD_UNITS_MAX} seats"),
                ));
            }
            // At most HOLD_UNITS_MAX seats: pairwise, without a sort.
            if seats
                .iter()
                .enumerate()
                .any(|(i, seat)| seats[..i].contains(seat))
            {
                return Err(BookingError::invalid(
                    "duplicate-seats",
                    "a seat is listed twice",
                ));
            }
            Ok(Amount::Seats(seats))
        }
        (kind, _, _) => {
            let wanted = match kind {
                SectionKind::General => "is general admission: send quantity, not seats",
                SectionKind::Seated => "has assigned seats: send seats, not quantity",
            };
            Err(BookingError::invalid(
                "wrong-section-kind",
                format!("section {section_id} {wanted}"),
            ))
        }
    }
}

/// The `Idempotency-Key` header, if sent: 16..=128 printable ASCII
/// characters, so that keys are unguessable enough to be told apart (a
/// UUID is 36).
fn idempotency_key(request: &Request) -> Result<Option<&str>, BookingError> {
    let Some(key) = request.header("idempotency-key") else {
        return Ok(None);
    };
    let long_enough = key.len() >= IDEMPOTENCY_KEY_LENGTH_MIN;
    if long_enough && is_printable_ascii(key, IDEMPOTENCY_KEY_LENGTH_MAX) {
        Ok(Some(key))
    } else {
        Err(BookingError::BadRequest(format!(
            "Idempotency-Key must be {IDEMPOTENCY_KEY_LENGTH_MIN}..={IDEMPOTENCY_KEY_LENGTH_MAX} printable ASCII characters (a UUID is a good key)"
        )))
    }
}

/// With buyer identity on, the hold is recorded under the token's `sub`, so
/// `max_per_customer` counts verified buyers: a body naming someone else is
/// refused, and so is a hold larger than the token's `max_quantity`.
fn bind_to_buyer(hold: &mut HoldRequest, buyer: &Buyer) -> Result<(), BookingError> {
    if hold.customer_id.as_ref().is_some_and(|c| *c != buyer.id) {
        return Err(BookingError::Forbidden {
            slug: "customer-mismatch",
            detail: "customer_id differs from the buyer token's sub; leave it out or send the same"
                .into(),
        });
    }
    if let Some(max) = buyer.max_quantity
        && hold.units() > max
    {
        return Err(BookingError::Forbidden {
            slug: "token-quantity-limit",
            detail: format!(
                "{} requested; the buyer token allows at most {max} per hold (max_quantity)",
                hold.units()
            ),
        });
    }
    hold.customer_id = Some(buyer.id.clone());
    Ok(())
}

/// `POST /events/:event_id/holds`.
pub fn post<S: Store, E: Env>(
    ctx: &Ctx<'_, S, E>,
    event_id: &str,
    request: &Request,
) -> Result<Reply, BookingError> {
    let buyer = buyer(ctx, request)?;
    let key = idempotency_key(request)?;
    let meta = ready_meta(ctx, event_id)?;
    let mut hold = parse(&meta, &request.body)?;
    if let Some(buyer) = &buyer {
        bind_to_buyer(&mut hold, buyer)?;
    }
    if let Some(key) = key {
        return keyed::post(ctx, &meta, &hold, key);
    }
    let now_ms = ctx.env.now_ms();
    let nonce = ctx.env.random_id().simple().to_string();
    let placement = Placement {
        meta: &meta,
        hold: &hold,
        nonce: &nonce,
        now_ms,
        expires_ms: now_ms + u64::from(meta.hold_ttl_seconds) * 1_000,
        primary_doc: None,
        key: None,
    };
    let (doc, part) = placement
        .reserve_and_place(ctx, None)
        .map_err(NotPlaced::into_error)?;
    Ok(hold_status::placed_reply(
        &placement,
        doc,
        &part,
        ctx.env.now_ms(),
    ))
}

#[cfg(test)]
#[path = "table_tests/hold_parse.rs"]
mod table_tests;
