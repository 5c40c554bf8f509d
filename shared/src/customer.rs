//! The per-customer limit (`max_per_customer`): each customer's active holds
//! and bookings live in one of a fixed number of bucket documents. A hold
//! reserves its units here before it takes inventory, and gives them back
//! if it fails; a crash in between leaves the reservation until it expires.

use crate::cas::{self, Change};
use crate::env::Env;
use crate::error::BookingError;
use crate::http::Ctx;
use crate::ids::bucket_of;
use crate::limits::CUSTOMER_BUCKETS;
use crate::model::{CustomerDoc, CustomerHold, EventMeta, InventoryDoc, customer_key};
use crate::parts;
use crate::store::Store;

fn key_of(event_id: &str, customer: &str) -> String {
    customer_key(
        event_id,
        bucket_of(customer.as_bytes(), CUSTOMER_BUCKETS as usize),
    )
}

fn missing() -> BookingError {
    BookingError::Internal("customer bucket missing".into())
}

/// Reserves `hold.q` units for `customer`, or fails with `CustomerLimit`.
pub fn reserve<S: Store, E: Env>(
    ctx: &Ctx<'_, S, E>,
    meta: &EventMeta,
    event_id: &str,
    customer: &str,
    limit: u32,
    hold: &CustomerHold,
) -> Result<(), BookingError> {
    let op = format!("reserve-{}", hold.h);
    cas::update(
        ctx,
        &key_of(event_id, customer),
        &op,
        missing,
        |doc: &mut CustomerDoc| {
            let now_ms = ctx.env.now_ms();
            let entry = doc.customers.entry(customer.to_owned()).or_default();
            if entry.active.iter().any(|a| a.h == hold.h) {
                return Ok(Change::Keep(()));
            }
            // Expired reservations are resolved against their holds: confirmed
            // ones become bookings, the rest are dropped.
            let mut still_active = Vec::with_capacity(entry.active.len());
            for active in std::mem::take(&mut entry.active) {
                if now_ms < active.x {
                    still_active.push(active);
                } else if hold_confirmed(ctx, meta, event_id, &active)? {
                    entry.booked.push(active);
                }
            }
            entry.active = still_active;
            let current = entry.units();
            if current + hold.q > limit {
                return Err(BookingError::CustomerLimit {
                    limit,
                    current,
                    requested: hold.q,
                });
            }
            entry.active.push(hold.clone());
            Ok(Change::Write(()))
        },
    )
}

/// Moves a reservation to the customer's bookings (after a confirm), or
/// drops it (after a release or a failed hold). Best effort: if it does not
/// happen, the reservation expires and is resolved against the hold.
pub fn settle<S: Store, E: Env>(
    ctx: &Ctx<'_, S, E>,
    event_id: &str,
    customer: &str,
    nonce: &str,
    booked: bool,
) -> Result<(), BookingError> {
    let op = format!("settle-{nonce}");
    cas::update(
        ctx,
        &key_of(event_id, customer),
        &op,
        missing,
        |doc: &mut CustomerDoc| {
            let Some(entry) = doc.customers.get_mut(customer) else {
                return Ok(Change::Keep(()));
            };
            let Some(index) = entry.active.iter().position(|a| a.h == nonce) else {
                return Ok(Change::Keep(()));
            };
            let hold = entry.active.remove(index);
            if booked {
                entry.booked.push(hold);
            }
            if entry.active.is_empty() && entry.booked.is_empty() {
                doc.customers.remove(customer);
            }
            Ok(Change::Write(()))
        },
    )
}

/// Whether an expired reservation's hold was confirmed. The primary part is
/// found by nonce among the section's documents and made final first, so a
/// confirm in flight cannot commit after we decided it did not.
fn hold_confirmed<S: Store, E: Env>(
    ctx: &Ctx<'_, S, E>,
    meta: &EventMeta,
    event_id: &str,
    hold: &CustomerHold,
) -> Result<bool, BookingError> {
    let keys = meta.inventory_keys(event_id, hold.s);
    for (index, (key, value)) in keys.iter().zip(ctx.store.get_many(&keys)?).enumerate() {
        let Some(bytes) = value else { continue };
        let doc: InventoryDoc = cas::decode(key, &bytes)?;
        if doc.part(&hold.h).is_some_and(|p| p.is_primary()) {
            let index = u32::try_from(index).unwrap_or(u32::MAX);
            return parts::finalize_primary(ctx, event_id, hold.s, index, &hold.h);
        }
    }
    Ok(false)
}
