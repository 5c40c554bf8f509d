//! `GET /events/:event_id/stats`: live sales figures from the tallies the
//! writes keep in every inventory document (see `changes`): one batch read
//! of the event's documents, and work bounded by their number however long
//! the sale ran.
//!
//! Holds count once each, where their primary part is; a hold undone (never
//! granted: its request failed) is not counted. Expiries are counted when a
//! writer reclaims the units (the next write of that document), so they lag
//! the clock. Customer-limit refusals are counted in the customer buckets
//! (up to a cap per customer: see `customer`).

use crate::context::Ctx;
use crate::customer;
use crate::env::{Env, rfc3339};
use crate::error::BookingError;
use crate::http::{Reply, Request, authorize_organiser};
use crate::limits::{STATS_CUSTOMERS_MAX, STATS_PROJECTION_MINUTES};
use crate::meta::ready_meta;
use crate::parts;
use crate::records::Tally;
use crate::store::Store;
use serde_json::{Value, json};

/// `GET /events/:event_id/stats`: organiser data (it names customers in
/// its fraud signals), so it takes the organiser or the admin token.
pub fn get<S: Store, E: Env>(
    ctx: &Ctx<'_, S, E>,
    event_id: &str,
    request: &Request,
) -> Result<Reply, BookingError> {
    authorize_organiser(ctx, request)?;
    let meta = ready_meta(ctx, event_id)?;
    let now_ms = ctx.env.now_ms();
    let mut tally = Tally::default();
    let mut sections = Vec::with_capacity(meta.sections.len());
    let (mut units_left, mut taken_units) = (0u64, 0u64);
    for (index, layout) in meta.sections.iter().enumerate() {
        let docs = parts::load_section(ctx, &meta.inventory_keys(index))?;
        for doc in &docs {
            tally.add(&doc.tally);
        }
        let (held, sold) = parts::section_counts(ctx, &meta, index, &docs, now_ms)?;
        let available = layout.capacity.saturating_sub(held + sold);
        units_left += u64::from(available);
        taken_units += u64::from(held + sold);
        sections.push(json!({
            "id": layout.id, "capacity": layout.capacity,
            "available": available, "held": held, "sold": sold,
        }));
    }
    let granted = tally.holds.saturating_sub(tally.undone);
    let ratio = |part: u64, whole: u64| {
        if whole == 0 {
            Value::Null
        } else {
            json!(part as f64 / whole as f64)
        }
    };
    let body = json!({
        "event_id": meta.event_id,
        "as_of": rfc3339(now_ms),
        "totals": {
            "holds": granted,
            "confirmations": tally.confirmations,
            "releases": tally.releases,
            "expiries": tally.expiries,
        },
        "per_minute": per_minute(&tally),
        "conversion": ratio(tally.confirmations, granted),
        "expiry_rate": ratio(tally.expiries, granted),
        "hold_to_confirm_median_ms": tally.median_confirm_ms(),
        "sections": sections,
        "units_left": units_left,
        "sellout_projection": projection(&tally, taken_units, units_left, now_ms),
        "contention": {
            "writes": tally.writes,
            "cas_retries": tally.cas_retries,
            "retries_per_write": ratio(tally.cas_retries, tally.writes),
        },
        "fraud": fraud(&tally, customer::refusals(ctx, &meta)?),
    });
    Ok(Reply::json(200, &body))
}

fn per_minute(tally: &Tally) -> Vec<Value> {
    tally
        .minutes
        .iter()
        .map(|m| {
            json!({
                "minute": rfc3339(m.minute * 60_000),
                "holds": m.holds, "confirmations": m.confirmations,
                "releases": m.releases, "expiries": m.expiries,
            })
        })
        .collect()
}

/// When the units left would be gone at the pace of the last
/// [`STATS_PROJECTION_MINUTES`] minutes with holds (units per hold taken
/// from the sale so far); `null` when sold out or nothing moves.
fn projection(tally: &Tally, taken_units: u64, units_left: u64, now_ms: u64) -> Value {
    let granted = tally.holds.saturating_sub(tally.undone);
    let recent: Vec<_> = tally
        .minutes
        .iter()
        .rev()
        .take(STATS_PROJECTION_MINUTES)
        .collect();
    let holds: u64 = recent.iter().map(|m| m.holds).sum();
    if units_left == 0 || holds == 0 || granted == 0 || taken_units == 0 {
        return Value::Null;
    }
    let units_per_hold = taken_units as f64 / granted as f64;
    let units_per_minute = holds as f64 * units_per_hold / recent.len() as f64;
    let minutes_left = units_left as f64 / units_per_minute;
    json!(rfc3339(
        now_ms.saturating_add((minutes_left * 60_000.0) as u64)
    ))
}

fn fraud(tally: &Tally, mut refusals: Vec<(String, u32)>) -> Value {
    refusals.truncate(STATS_CUSTOMERS_MAX);
    let mut unconfirmed: Vec<(String, u64)> = tally
        .customers
        .iter()
        .map(|c| {
            (
                c.customer_id.clone(),
                c.holds.saturating_sub(c.confirmations),
            )
        })
        .filter(|(_, count)| *count > 0)
        .collect();
    unconfirmed.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    unconfirmed.truncate(STATS_CUSTOMERS_MAX);
    let mut bursts: Vec<(String, u64)> = tally
        .customers
        .iter()
        .filter(|c| c.is_burst())
        .map(|c| (c.customer_id.clone(), c.burst_holds_max))
        .collect();
    bursts.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    bursts.truncate(STATS_CUSTOMERS_MAX);
    json!({
        "customer_limit_refusals": refusals.iter().map(|(id, count)| json!({"customer_id": id, "count": count})).collect::<Vec<_>>(),
        "holds_without_confirm": unconfirmed.iter().map(|(id, count)| json!({"customer_id": id, "count": count})).collect::<Vec<_>>(),
        "bursts": bursts.iter().map(|(id, holds)| json!({"customer_id": id, "holds": holds, "seconds": crate::limits::BURST_WINDOW_SECONDS})).collect::<Vec<_>>(),
    })
}
