//! The event meta every booking request reads first.

use crate::cas;
use crate::context::Ctx;
use crate::env::Env;
use crate::error::BookingError;
use crate::model::{CreationState, EventMeta, meta_key};
use crate::store::Store;

/// The meta of a ready event, or 404.
pub fn ready_meta<S: Store, E: Env>(
    ctx: &Ctx<'_, S, E>,
    event_id: &str,
) -> Result<EventMeta, BookingError> {
    match cas::load::<S, E, EventMeta>(ctx, &meta_key(event_id))? {
        Some(meta) if meta.state == CreationState::Ready => Ok(meta),
        _ => Err(BookingError::NotFound(format!("no event {event_id}"))),
    }
}
