//! `POST /events/:event_id/holds`: take units or seats for a while.
//!
//! A hold goes, in order: Idempotency-Key record (if the header is sent),
//! customer reservation (if the event has a limit and the body names a
//! customer), inventory, then the stored answer. Inventory is one CAS on one
//! shard or seat block in the common case. When the request spans several
//! documents (seats in several blocks, or more units than any one shard has
//! left) the primary part is written first and the others after it; a
//! failure releases what was written, and a crash leaves parts that expire.

use crate::context::Ctx;
use crate::customer;
use crate::env::Env;
use crate::error::BookingError;
use crate::hold_status;
use crate::http::{Reply, Request, parse_json};
use crate::idempotency::{self, Begin, Lookup};
use crate::ids::{HoldRef, is_printable_ascii, is_valid_id};
use crate::limits::{HOLD_UNITS_MAX, IDEMPOTENCY_KEY_LENGTH_MAX};
use crate::meta::ready_meta;
use crate::model::{CustomerHold, EventMeta, InventoryDoc, PartStatus, SectionKind, StoredReply};
use crate::parts::load_section;
use crate::placement::{Amount, HoldRequest, Placement, check_available, find_complete};
use crate::store::Store;
use serde::Deserialize;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
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
        return Err(BookingError::BadRequest(format!(
            "invalid section id {:?}",
            body.section
        )));
    }
    if let Some(customer) = &body.customer_id
        && !is_valid_id(customer)
    {
        return Err(BookingError::BadRequest("invalid customer_id".into()));
    }
    if let Some(seat) = body.seats.iter().flatten().find(|s| !is_valid_id(s)) {
        return Err(BookingError::BadRequest(format!(
            "invalid seat id {seat:?}"
        )));
    }
    let Some(section) = meta.section_index(&body.section) else {
        return Err(BookingError::invalid(
            "unknown-section",
            format!("no section {:?} in this event", body.section),
        ));
    };
    let kind = meta.sections[section].kind;
    let amount = match (kind, body.quantity, body.seats) {
        (SectionKind::General, Some(quantity), None) => {
            let quantity = quantity
                .as_u64()
                .and_then(|q| u32::try_from(q).ok())
                .filter(|q| (1..=HOLD_UNITS_MAX).contains(q))
                .ok_or_else(|| {
                    BookingError::invalid(
                        "quantity-out-of-range",
                        format!("quantity must be an integer 1..={HOLD_UNITS_MAX}"),
                    )
                })?;
            Amount::Units(quantity)
        }
        (SectionKind::Seated, None, Some(seats)) => {
            if seats.is_empty() || seats.len() > HOLD_UNITS_MAX as usize {
                return Err(BookingError::invalid(
                    "quantity-out-of-range",
                    format!("hold 1..={HOLD_UNITS_MAX} seats"),
                ));
            }
            let mut sorted = seats.clone();
            sorted.sort();
            sorted.dedup();
            if sorted.len() != seats.len() {
                return Err(BookingError::invalid(
                    "duplicate-seats",
                    "a seat is listed twice",
                ));
            }
            Amount::Seats(seats)
        }
        (kind, _, _) => {
            let wanted = match kind {
                SectionKind::General => "is general admission: send quantity, not seats",
                SectionKind::Seated => "has assigned seats: send seats, not quantity",
            };
            return Err(BookingError::invalid(
                "wrong-section-kind",
                format!("section {} {wanted}", body.section),
            ));
        }
    };
    Ok(HoldRequest {
        section,
        amount,
        customer_id: body.customer_id,
    })
}

/// `POST /events/:event_id/holds`.
pub fn post<S: Store, E: Env>(
    ctx: &Ctx<'_, S, E>,
    event_id: &str,
    request: &Request,
) -> Result<Reply, BookingError> {
    let idempotency_key = match request.header("idempotency-key") {
        Some(key) if is_printable_ascii(key, IDEMPOTENCY_KEY_LENGTH_MAX) => Some(key),
        Some(_) => {
            return Err(BookingError::BadRequest(format!(
                "Idempotency-Key must be 1..={IDEMPOTENCY_KEY_LENGTH_MAX} printable ASCII characters"
            )));
        }
        None => None,
    };
    let meta = ready_meta(ctx, event_id)?;
    let hold = parse(&meta, &request.body)?;
    let fresh_nonce = ctx.env.random_id().simple().to_string();
    let Some(key) = idempotency_key else {
        return place_and_reply(ctx, &meta, event_id, &hold, &fresh_nonce, false, None);
    };
    let owner = format!("hold-{fresh_nonce}");
    let request_hash = idempotency::request_hash(&hold.canonical())?;
    // The section as `check_available` read it, so that placing the hold
    // starts from that read instead of reading every document again.
    let mut snapshot = None;
    match idempotency::lookup(ctx, event_id, key, request_hash)? {
        Lookup::Replay(stored) => return Ok(Reply::json(stored.status, &stored.body)),
        Lookup::Pending {
            nonce,
            stale,
            spent,
        } => {
            if let Some(reply) = replay_placed(ctx, &meta, event_id, hold.section, &nonce)? {
                return Ok(reply);
            }
            if spent {
                return Err(BookingError::IdempotencyKeySpent);
            }
            // Still being placed; or its request died: `begin` takes it
            // over and `place` finds what it wrote.
            if !stale {
                return Err(BookingError::RequestInProgress);
            }
        }
        // A request that cannot succeed changes nothing, so it is answered
        // without recording the key: in a flash sale most buyers hear "sold
        // out", and recording each would cost fsync'd writes on shared
        // buckets. Repeating it simply asks again.
        Lookup::Absent => snapshot = Some(check_available(ctx, &meta, event_id, &hold)?),
    }
    match idempotency::begin(ctx, event_id, key, request_hash, &owner, &fresh_nonce)? {
        Begin::Replay(stored) => Ok(Reply::json(stored.status, &stored.body)),
        Begin::Proceed { nonce, resumed } => {
            // A placed hold is its own record: replays find it by nonce, so
            // success costs no further write. A refusal is stored for
            // replays; a transient failure (503) forgets the key so that a
            // retry tries again. If storing fails the record stays pending,
            // and a replay, once it is stale, takes over and decides again.
            match place_and_reply(ctx, &meta, event_id, &hold, &nonce, resumed, snapshot) {
                Ok(reply) => Ok(reply),
                Err(error) if matches!(error.status(), 409 | 422) => {
                    let stored = StoredReply {
                        status: error.status(),
                        body: error.body(),
                    };
                    let _ = idempotency::finish(ctx, event_id, key, &owner, Some(stored));
                    Ok(Reply::from(error))
                }
                Err(error) => {
                    let _ = idempotency::finish(ctx, event_id, key, &owner, None);
                    Err(error)
                }
            }
        }
    }
}

fn place_and_reply<S: Store, E: Env>(
    ctx: &Ctx<'_, S, E>,
    meta: &EventMeta,
    event_id: &str,
    hold: &HoldRequest,
    nonce: &str,
    resumed: bool,
    snapshot: Option<Vec<InventoryDoc>>,
) -> Result<Reply, BookingError> {
    let now_ms = ctx.env.now_ms();
    let expires_ms = now_ms + u64::from(meta.hold_ttl_seconds) * 1_000;
    let limited_customer = meta.max_per_customer.zip(hold.customer_id.as_deref());
    if let Some((limit, customer)) = limited_customer {
        let reservation = CustomerHold {
            section: hold.section,
            nonce: nonce.to_owned(),
            quantity: hold.units(),
            expires_ms,
        };
        customer::reserve(ctx, meta, event_id, customer, limit, &reservation)?;
    }
    let placement = Placement {
        meta,
        event_id,
        hold,
        nonce,
        now_ms,
        expires_ms,
        resumed,
    };
    let placed = placement.place(ctx, snapshot);
    let (doc, part) = match placed {
        Ok(found) => found,
        Err(error) => {
            if let Some((_, customer)) = limited_customer {
                // Give the reservation back; if this fails it simply expires.
                let _ = customer::settle(ctx, event_id, customer, nonce, false);
            }
            return Err(error);
        }
    };
    let hold_ref = HoldRef {
        event_id: event_id.to_owned(),
        section: hold.section,
        doc,
        nonce: nonce.to_owned(),
    };
    Ok(Reply::json(
        201,
        &hold_status::view(meta, &hold_ref, &part, ctx.env.now_ms()),
    ))
}

/// The first answer of an idempotent hold that succeeded: the 201 view of
/// its hold as it was then (status `held`, whatever happened since).
fn replay_placed<S: Store, E: Env>(
    ctx: &Ctx<'_, S, E>,
    meta: &EventMeta,
    event_id: &str,
    section: usize,
    nonce: &str,
) -> Result<Option<Reply>, BookingError> {
    let docs = load_section(ctx, &meta.inventory_keys(event_id, section))?;
    let Some((doc, mut part)) = find_complete(&docs, nonce) else {
        return Ok(None);
    };
    part.status = PartStatus::Held;
    let hold_ref = HoldRef {
        event_id: event_id.to_owned(),
        section,
        doc,
        nonce: nonce.to_owned(),
    };
    // Viewed at its creation time, the part reads exactly as it did in the
    // first answer.
    let view = hold_status::view(meta, &hold_ref, &part, part.created_ms);
    Ok(Some(Reply::json(201, &view)))
}
