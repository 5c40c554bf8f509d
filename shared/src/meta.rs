//! The event meta every booking request reads first.

use crate::cas;
use crate::context::Ctx;
use crate::env::Env;
use crate::error::BookingError;
use crate::limits::{
    EVENT_DOCUMENTS_MAX, HOLD_TTL_SECONDS_MAX, HOLD_TTL_SECONDS_MIN, SECTION_CAPACITY_MAX,
    SECTIONS_PER_EVENT_MAX,
};
use crate::model::{EventMeta, Register, generation_meta_key, meta_key, register_key};
use crate::store::Store;

/// The meta of a ready event, or 404. One batch read of the fast copy and
/// the creation register; the copy is trusted only when it belongs to the
/// register's ready generation, and is repaired from the generation's own
/// copy otherwise (a creation attempt that stalled past a takeover may have
/// overwritten it).
pub fn ready_meta<S: Store, E: Env>(
    ctx: &Ctx<'_, S, E>,
    event_id: &str,
) -> Result<EventMeta, BookingError> {
    let keys = [meta_key(event_id), register_key(event_id)];
    let mut values = ctx.store.get_many(&keys)?.into_iter();
    let (fast, register) = (values.next().flatten(), values.next().flatten());
    let generation = match register.as_deref().map(Register::decode) {
        Some(Some(Register::Ready(generation))) => generation,
        Some(None) => {
            return Err(BookingError::Internal(format!(
                "{} is not a register",
                keys[1]
            )));
        }
        _ => return Err(BookingError::NotFound(format!("no event {event_id}"))),
    };
    if let Some(bytes) = fast {
        let meta = within_limits(&keys[0], cas::decode(&keys[0], &bytes)?)?;
        if meta.generation == generation {
            return Ok(meta);
        }
    }
    let own_key = generation_meta_key(event_id, generation);
    let bytes = ctx
        .store
        .get(&own_key)?
        .ok_or_else(|| BookingError::Internal(format!("{own_key} is missing")))?;
    let meta = within_limits(&own_key, cas::decode(&own_key, &bytes)?)?;
    // Best effort: a failed repair only means the next reader repairs.
    let _ = ctx.store.put(&keys[0], &bytes);
    Ok(meta)
}

/// A stored meta, refused (500) when its layout breaks the limits every
/// created event keeps: readers size their key lists and batch reads by it,
/// so a damaged `docs` count would make them allocate without bound.
fn within_limits(key: &str, meta: EventMeta) -> Result<EventMeta, BookingError> {
    let documents: u64 = meta.sections.iter().map(|s| u64::from(s.docs)).sum();
    let sound = (1..=SECTIONS_PER_EVENT_MAX).contains(&meta.sections.len())
        && meta
            .sections
            .iter()
            .all(|s| s.docs >= 1 && s.capacity <= SECTION_CAPACITY_MAX)
        && documents <= EVENT_DOCUMENTS_MAX as u64
        && (HOLD_TTL_SECONDS_MIN..=HOLD_TTL_SECONDS_MAX).contains(&meta.hold_ttl_seconds);
    if sound {
        Ok(meta)
    } else {
        Err(BookingError::Internal(format!(
            "stored meta {key} breaks the layout limits"
        )))
    }
}
