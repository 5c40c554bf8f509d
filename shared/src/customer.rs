//! The per-customer limit (`max_per_customer`): each customer's active holds
//! and bookings live in one of a fixed number of bucket documents. A hold
//! reserves its units here before it takes inventory, and gives them back
//! if it fails; a crash in between leaves the reservation until it expires.

use crate::cas::{self, Change};
use crate::context::Ctx;
use crate::coverage::{self, Path};
use crate::env::Env;
use crate::error::BookingError;
use crate::ids::bucket_of;
use crate::ledger;
use crate::limits::{
    CLOCK_SKEW_MARGIN_SECONDS, CUSTOMER_BUCKETS, CUSTOMER_REFUSALS_COUNTED_MAX,
    CUSTOMER_RESOLUTIONS_PER_WRITE_MAX, CUSTOMERS_PER_BUCKET_MAX,
};

/// How long past its expiry a reservation whose hold is not found is kept:
/// until no writer whose clock is within the skew margin can still place it.
const SKEW_MARGIN_MS: u64 = CLOCK_SKEW_MARGIN_SECONDS * 1_000;
use crate::model::{CustomerDoc, CustomerHold, EventMeta, InventoryDoc, LedgerPage, PartStatus};
use crate::parts;
use crate::store::Store;

fn key_of(meta: &EventMeta, customer: &str) -> String {
    meta.customer_key(bucket_of(customer.as_bytes(), CUSTOMER_BUCKETS as usize))
}

fn missing() -> BookingError {
    BookingError::Internal("customer bucket missing".into())
}

/// Reserves `hold.quantity` units for `customer`, or fails with `CustomerLimit`.
pub fn reserve<S: Store, E: Env>(
    ctx: &Ctx<'_, S, E>,
    meta: &EventMeta,
    customer: &str,
    limit: u32,
    hold: &CustomerHold,
) -> Result<(), BookingError> {
    let op = format!("reserve-{}", hold.nonce);
    cas::update(
        ctx,
        &key_of(meta, customer),
        &op,
        missing,
        |doc: &mut CustomerDoc| {
            if let Some(active) = doc
                .customers
                .get_mut(customer)
                .and_then(|e| e.active.iter_mut().find(|a| stands_for(a, hold)))
            {
                coverage::hit_if(active.nonce != hold.nonce, Path::ReservationReusedByKey);
                // Reused by another attempt of the key: it now stands for
                // whichever attempt places the hold, so the attempt that
                // made it may no longer give it back (see `settle`).
                if active.nonce != hold.nonce && !active.shared {
                    active.shared = true;
                    active.expires_ms = active.expires_ms.max(hold.expires_ms);
                    return Ok(Change::Write(Ok(())));
                }
                // A reused reservation must outlive this attempt's hold too.
                if active.expires_ms >= hold.expires_ms {
                    return Ok(Change::Keep(Ok(())));
                }
                active.expires_ms = hold.expires_ms;
                return Ok(Change::Write(Ok(())));
            }
            let resolved = resolve_expired(ctx, meta, doc, customer)?;
            if !doc.customers.contains_key(customer)
                && doc.customers.len() >= CUSTOMERS_PER_BUCKET_MAX
            {
                return Err(BookingError::BookkeepingFull("customer"));
            }
            let entry = doc.customers.entry(customer.to_owned()).or_default();
            let current = entry.units();
            if current + hold.quantity > limit {
                coverage::hit(Path::CustomerLimitRefused);
                let refused = Err(BookingError::CustomerLimit {
                    limit,
                    current,
                    requested: hold.quantity,
                });
                if entry.is_empty() {
                    doc.customers.remove(customer);
                }
                // Keep the tidying even though the hold is refused; count
                // the refusal for the stats while it is cheap to.
                let counted = count_refusal(doc, customer);
                return Ok(if resolved || counted {
                    Change::Write(refused)
                } else {
                    Change::Keep(refused)
                });
            }
            entry.active.push(hold.clone());
            Ok(Change::Write(Ok(())))
        },
    )?
}

/// Whether the reservation `active` already reserves for `hold`: our own
/// (seen again after an unknown outcome), or the reservation of the same
/// Idempotency-Key for the same units, made by a twin or by an earlier
/// attempt whose outcome is unknown. A key places one hold at most, so
/// one reservation counts it.
fn stands_for(active: &CustomerHold, hold: &CustomerHold) -> bool {
    active.nonce == hold.nonce
        || hold.key.is_some()
            && active.key == hold.key
            && active.section == hold.section
            && active.quantity == hold.quantity
}

/// Counts a customer-limit refusal of `customer`, unless it was counted
/// [`CUSTOMER_REFUSALS_COUNTED_MAX`] times or the bucket follows as many
/// customers as it may. True when it changed the document.
fn count_refusal(doc: &mut CustomerDoc, customer: &str) -> bool {
    if !doc.refusals.contains_key(customer) && doc.refusals.len() >= CUSTOMERS_PER_BUCKET_MAX {
        return false;
    }
    let count = doc.refusals.entry(customer.to_owned()).or_default();
    if *count >= CUSTOMER_REFUSALS_COUNTED_MAX {
        return false;
    }
    *count += 1;
    true
}

/// Resolves expired reservations against their holds: confirmed ones become
/// bookings, the rest are dropped. All of `customer`'s are resolved (its
/// limit depends on them), and a few of other customers' too, so that the
/// bucket does not fill with reservations of buyers who never come back.
/// Returns true if anything changed.
fn resolve_expired<S: Store, E: Env>(
    ctx: &Ctx<'_, S, E>,
    meta: &EventMeta,
    doc: &mut CustomerDoc,
    customer: &str,
) -> Result<bool, BookingError> {
    let now_ms = ctx.env.now_ms();
    let mut sections: SectionDocs = Vec::new();
    let mut budget = CUSTOMER_RESOLUTIONS_PER_WRITE_MAX;
    let mut changed = false;
    let names: Vec<String> = doc.customers.keys().cloned().collect();
    for name in names {
        let Some(entry) = doc.customers.get_mut(&name) else {
            continue;
        };
        let mine = name == customer;
        let mut still_active = Vec::with_capacity(entry.active.len());
        for active in std::mem::take(&mut entry.active) {
            if now_ms < active.expires_ms || (!mine && budget == 0) {
                still_active.push(active);
                continue;
            }
            budget = budget.saturating_sub(1);
            match hold_confirmed(ctx, meta, &active, &mut sections)? {
                Some(true) => entry.book(&active),
                Some(false) => {}
                // Not placed, or not yet: a writer whose clock is behind
                // ours may still place it until its own clock passes the
                // expiry, so the reservation stays until no clock within
                // the skew margin can.
                None if now_ms < active.expires_ms.saturating_add(SKEW_MARGIN_MS) => {
                    coverage::hit(Path::ReservationKeptUntilSkewMargin);
                    still_active.push(active);
                    continue;
                }
                None => {}
            }
            changed = true;
        }
        entry.active = still_active;
        if entry.is_empty() {
            doc.customers.remove(&name);
        }
    }
    Ok(changed)
}

/// Moves a reservation to the customer's bookings (after a confirm), or
/// drops it (after a release or a failed hold). Best effort: if it does not
/// happen, the reservation expires and is resolved against the hold.
///
/// The reservation is found by the hold's nonce or, given the hold's
/// Idempotency-Key id, by the key (a reservation an earlier attempt of the
/// key made). A failed attempt gives back by nonce only.
pub fn settle<S: Store, E: Env>(
    ctx: &Ctx<'_, S, E>,
    meta: &EventMeta,
    customer: &str,
    (nonce, key): (&str, Option<&str>),
    booked: bool,
) -> Result<(), BookingError> {
    let op = format!("settle-{nonce}");
    cas::update(
        ctx,
        &key_of(meta, customer),
        &op,
        missing,
        |doc: &mut CustomerDoc| {
            let Some(entry) = doc.customers.get_mut(customer) else {
                return Ok(Change::Keep(()));
            };
            // A give-back (by nonce, no key) leaves a shared reservation:
            // another attempt of the key may have placed the hold.
            let Some(index) = entry.active.iter().position(|a| {
                a.nonce == nonce && (key.is_some() || booked || !a.shared)
                    || key.is_some() && a.key.as_deref() == key
            }) else {
                coverage::hit_if(
                    entry.active.iter().any(|a| a.nonce == nonce),
                    Path::ReservationSharedKept,
                );
                return Ok(Change::Keep(()));
            };
            let hold = entry.active.remove(index);
            if booked {
                entry.book(&hold);
            }
            coverage::hit(if booked {
                Path::CustomerSettledBooked
            } else {
                Path::CustomerSettledReleased
            });
            if entry.is_empty() {
                doc.customers.remove(customer);
            }
            Ok(Change::Write(()))
        },
    )
}

/// Section documents read while resolving, so each section is read once:
/// (section, its documents), a few at most.
type SectionDocs = Vec<(usize, Vec<Option<InventoryDoc>>)>;

/// Whether an expired reservation's hold was confirmed. The primary part is
/// found by nonce among the section's documents and, if still held, made
/// final first, so a confirm in flight cannot commit after we decided it
/// did not.
fn hold_confirmed<S: Store, E: Env>(
    ctx: &Ctx<'_, S, E>,
    meta: &EventMeta,
    hold: &CustomerHold,
    sections: &mut SectionDocs,
) -> Result<Option<bool>, BookingError> {
    if let Some(key_id) = &hold.key {
        return key_confirmed(ctx, meta, hold.section, key_id);
    }
    let read = match sections.iter().position(|(s, _)| *s == hold.section) {
        Some(read) => read,
        None => {
            let keys = meta.inventory_keys(hold.section);
            let mut docs = Vec::with_capacity(keys.len());
            for (key, value) in keys.iter().zip(ctx.store.get_many(&keys)?) {
                docs.push(value.map(|bytes| cas::decode(key, &bytes)).transpose()?);
            }
            sections.push((hold.section, docs));
            sections.len() - 1
        }
    };
    let docs = &sections[read].1;
    for (index, doc) in docs.iter().enumerate() {
        let Some(part) = doc
            .as_ref()
            .and_then(|d| d.part(&hold.nonce))
            .filter(|p| p.is_primary())
        else {
            continue;
        };
        coverage::hit(Path::CustomerResolvedFromShard);
        return match part.status {
            PartStatus::Confirmed => Ok(Some(true)),
            PartStatus::Released | PartStatus::Expired => Ok(Some(false)),
            PartStatus::Held => {
                let index = u32::try_from(index).unwrap_or(u32::MAX);
                parts::finalize_primary(ctx, meta, hold.section, index, part).map(Some)
            }
        };
    }
    Ok(moved_to_ledger(ctx, meta, hold, docs)?.then_some(true))
}

/// Whether the one hold of Idempotency-Key id `key_id` in `section` was
/// confirmed: its primary is in the key's home document (or its ledger
/// page), whichever attempt placed it; if still held, made final first.
fn key_confirmed<S: Store, E: Env>(
    ctx: &Ctx<'_, S, E>,
    meta: &EventMeta,
    section: usize,
    key_id: &str,
) -> Result<Option<bool>, BookingError> {
    let docs = meta.sections.get(section).map_or(0, |s| s.docs);
    let home = bucket_of(key_id.as_bytes(), docs.max(1) as usize);
    let Some(doc) = cas::load::<S, E, InventoryDoc>(ctx, &meta.inventory_key(section, home))?
    else {
        return Ok(None);
    };
    let Some(part) = ledger::keyed_primary(ctx, meta, (section, home), &doc, key_id)? else {
        return Ok(None);
    };
    coverage::hit(Path::CustomerResolvedByKey);
    match part.status {
        PartStatus::Confirmed => Ok(Some(true)),
        PartStatus::Released | PartStatus::Expired => Ok(Some(false)),
        PartStatus::Held => {
            let home = u32::try_from(home).unwrap_or(u32::MAX);
            parts::finalize_primary(ctx, meta, section, home, &part).map(Some)
        }
    }
}

/// Whether the primary of `hold`, absent from every shard of its section,
/// is a booking moved to a ledger page: the pages of the shards that moved
/// parts are read (one batch read), since only confirmed parts move.
fn moved_to_ledger<S: Store, E: Env>(
    ctx: &Ctx<'_, S, E>,
    meta: &EventMeta,
    hold: &CustomerHold,
    docs: &[Option<InventoryDoc>],
) -> Result<bool, BookingError> {
    let keys: Vec<String> = docs
        .iter()
        .enumerate()
        .filter(|(_, doc)| {
            doc.as_ref()
                .is_some_and(|d| d.parts_moved > 0 || d.sold_moved > 0)
        })
        .map(|(index, _)| meta.ledger_key(hold.section, index))
        .collect();
    if keys.is_empty() {
        return Ok(false);
    }
    for (key, value) in keys.iter().zip(ctx.store.get_many(&keys)?) {
        let Some(bytes) = value else { continue };
        let page: LedgerPage = cas::decode(key, &bytes)?;
        if page
            .parts
            .iter()
            .any(|p| p.nonce == hold.nonce && p.is_primary())
        {
            coverage::hit(Path::CustomerResolvedFromLedger);
            return Ok(true);
        }
    }
    Ok(false)
}

/// Customer-limit refusals per customer over all buckets of the event (one
/// batch read), the most refused first; empty for an event without a limit.
pub fn refusals<S: Store, E: Env>(
    ctx: &Ctx<'_, S, E>,
    meta: &EventMeta,
) -> Result<Vec<(String, u32)>, BookingError> {
    if meta.max_per_customer.is_none() {
        return Ok(Vec::new());
    }
    let keys: Vec<String> = (0..CUSTOMER_BUCKETS as usize)
        .map(|bucket| meta.customer_key(bucket))
        .collect();
    let mut found = Vec::new();
    for (key, value) in keys.iter().zip(ctx.store.get_many(&keys)?) {
        let Some(bytes) = value else { continue };
        let doc: CustomerDoc = cas::decode(key, &bytes)?;
        found.extend(doc.refusals);
    }
    found.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    Ok(found)
}
