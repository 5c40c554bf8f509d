//! The read-modify-CAS loop every state change goes through.
//!
//! A change is a closure over the decoded document. It must be idempotent by
//! effect: when it finds its own earlier write (after a swap whose outcome
//! was ambiguous) it returns [`Change::Keep`] with the same result instead of
//! applying itself twice.

use crate::context::Ctx;
use crate::env::Env;
use crate::error::BookingError;
use crate::invariants::Invariants;
use crate::limits::{
    CAS_ATTEMPTS_MAX, CAS_BACKOFF_BASE_MILLISECONDS, CAS_BACKOFF_CAP_MILLISECONDS,
};
use crate::model::Versioned;
use crate::store::{Store, StoreError, Swap};
use serde::Serialize;
use serde::de::DeserializeOwned;

/// What a change decided.
#[derive(Debug)]
pub enum Change<T> {
    /// Write the modified document, then answer `T`.
    Write(T),
    /// Leave the document as it is and answer `T`.
    Keep(T),
}

pub fn decode<D: DeserializeOwned>(key: &str, bytes: &[u8]) -> Result<D, BookingError> {
    serde_json::from_slice(bytes)
        .map_err(|e| BookingError::Internal(format!("stored document {key} does not parse: {e}")))
}

/// [`decode`], then (debug builds) the document's invariants: a value that
/// breaks one is answered as a broken store, and nothing is written on it.
pub fn decode_checked<D: DeserializeOwned + Invariants>(
    key: &str,
    bytes: &[u8],
) -> Result<D, BookingError> {
    let doc: D = decode(key, bytes)?;
    #[cfg(debug_assertions)]
    if let Some(violation) = doc.violation() {
        return Err(BookingError::Internal(format!(
            "stored document {key} breaks an invariant: {violation}"
        )));
    }
    Ok(doc)
}

pub fn encode<D: Serialize>(doc: &D) -> Result<Vec<u8>, BookingError> {
    serde_json::to_vec(doc).map_err(|e| BookingError::Internal(format!("encoding a document: {e}")))
}

/// Reads and decodes a document that must exist.
pub fn load<S: Store, E: Env, D: DeserializeOwned>(
    ctx: &Ctx<'_, S, E>,
    key: &str,
) -> Result<Option<D>, BookingError> {
    match ctx.store.get(key)? {
        None => Ok(None),
        Some(bytes) => decode(key, &bytes).map(Some),
    }
}

/// Applies `change` to the document at `key` with compare-and-swap, retrying
/// with jittered exponential back-off up to [`CAS_ATTEMPTS_MAX`] times.
/// A missing document is `missing`: absent keys are never swapped, because a
/// swap on an absent key is an unconditional upsert on Spin.
pub fn update<S, E, D, T>(
    ctx: &Ctx<'_, S, E>,
    key: &str,
    op: &str,
    missing: impl Fn() -> BookingError,
    change: impl FnMut(&mut D) -> Result<Change<T>, BookingError>,
) -> Result<T, BookingError>
where
    S: Store,
    E: Env,
    D: Serialize + DeserializeOwned + Versioned + Invariants,
{
    update_within(ctx, key, op, CAS_ATTEMPTS_MAX, missing, change)
}

/// [`update`] with at most `attempts` attempts. Running out of attempts on
/// conflicts the backend confirmed (it handed back the winning value) is
/// [`BookingError::Contention`]: nothing of ours landed. Running out on a
/// failure whose outcome is unknown is [`BookingError::Store`].
pub fn update_within<S, E, D, T>(
    ctx: &Ctx<'_, S, E>,
    key: &str,
    op: &str,
    attempts: u32,
    missing: impl Fn() -> BookingError,
    mut change: impl FnMut(&mut D) -> Result<Change<T>, BookingError>,
) -> Result<T, BookingError>
where
    S: Store,
    E: Env,
    D: Serialize + DeserializeOwned + Versioned + Invariants,
{
    // The answer of the last attempt; the loop itself is over bytes and
    // compiled once, not once per document type and change.
    let mut answer = None;
    update_bytes(ctx, key, attempts, &missing, &mut |bytes| {
        let mut doc: D = decode_checked(key, bytes)?;
        match change(&mut doc)? {
            Change::Keep(result) => {
                answer = Some(result);
                Ok(None)
            }
            Change::Write(result) => {
                answer = Some(result);
                doc.stamp(op);
                // Our own write: a broken invariant here is a bug of ours.
                debug_assert_eq!(doc.violation(), None, "a write of {key} by {op}");
                encode(&doc).map(Some)
            }
        }
    })?;
    // `update_bytes` succeeds only after the change ran.
    answer.ok_or(BookingError::Contention)
}

/// A change over stored bytes: the bytes to swap in, or `None` to keep.
type ByteChange<'a> = dyn FnMut(&[u8]) -> Result<Option<Vec<u8>>, BookingError> + 'a;

/// The loop of [`update_within`] over stored bytes: `change` returns the new
/// bytes to swap in, or `None` to leave the document as it is.
fn update_bytes<S: Store, E: Env>(
    ctx: &Ctx<'_, S, E>,
    key: &str,
    attempts: u32,
    missing: &dyn Fn() -> BookingError,
    change: &mut ByteChange<'_>,
) -> Result<(), BookingError> {
    debug_assert!((1..=CAS_ATTEMPTS_MAX).contains(&attempts));
    let mut last_error = BookingError::Contention;
    // The value a failed swap handed back, if any: no read needed for it.
    let mut fresh = None;
    for attempt in 0..attempts {
        if attempt > 0 {
            ctx.note_retry();
            let window = CAS_BACKOFF_BASE_MILLISECONDS
                .saturating_mul(1 << attempt.min(16))
                .min(CAS_BACKOFF_CAP_MILLISECONDS);
            ctx.env.sleep_ms(ctx.env.random_below(window + 1));
        }
        let snapshot = match fresh.take() {
            Some(snapshot) => snapshot,
            None => ctx.store.read_for_swap(key)?,
        };
        let Some(bytes) = snapshot.value else {
            return Err(missing());
        };
        let Some(encoded) = change(&bytes)? else {
            return Ok(());
        };
        match ctx.store.swap(snapshot.cas, &encoded) {
            Ok(Swap::Done) => return Ok(()),
            Ok(Swap::Conflict(Some(snapshot))) => {
                last_error = BookingError::Contention;
                fresh = Some(snapshot);
            }
            // A conflict reported without the winning value: a backend that
            // may report conflicts for writes that landed. Outcome unknown.
            Ok(Swap::Conflict(None)) => {
                last_error = BookingError::Store(StoreError(
                    "swap reported a conflict without the winning value".into(),
                ));
            }
            // The write may or may not have landed: the next attempt re-reads
            // and the change recognises its own effect. A store that keeps
            // failing gets a 503 soon instead.
            Err(error) => {
                if ctx.note_store_error() {
                    return Err(BookingError::Store(error));
                }
                last_error = BookingError::Store(error);
            }
        }
    }
    Err(last_error)
}
