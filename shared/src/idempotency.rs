//! Idempotency-Key records: a fixed number of bucket documents per event.
//!
//! A record names the key's current attempt: its nonce, the document its
//! primary part goes to, and the expiry its parts carry. A placed hold is
//! its own answer (a replay finds it in that one document); only refusals
//! store an answer here. A record is replaced only by a request that first
//! voided the previous attempt's nonce at its primary's document
//! ([`crate::placement::fence`]), so an earlier attempt that resumes can
//! never place a hold, and never answer as the key's owner.
//!
//! Records are kept for [`IDEMPOTENCY_RETENTION_SECONDS`] whatever the
//! traffic; a bucket that holds [`IDEMPOTENCY_RECORDS_PER_BUCKET_MAX`] live
//! records refuses new keys (503) rather than forget one.

use crate::cas::{self, Change};
use crate::context::Ctx;
use crate::env::Env;
use crate::error::BookingError;
use crate::ids::bucket_of;
use crate::limits::{
    IDEMPOTENCY_BUCKETS, IDEMPOTENCY_RECORDS_PER_BUCKET_MAX, IDEMPOTENCY_RETENTION_SECONDS,
};
use crate::model::{EventMeta, IdempotencyDoc, IdempotencyRecord, StoredReply};
use crate::store::Store;

fn key_of(meta: &EventMeta, idempotency_key: &str) -> String {
    let bucket = bucket_of(idempotency_key.as_bytes(), IDEMPOTENCY_BUCKETS as usize);
    meta.idempotency_key(bucket)
}

fn missing() -> BookingError {
    BookingError::Internal("idempotency bucket missing".into())
}

fn reused() -> BookingError {
    BookingError::invalid(
        "idempotency-key-reused",
        "this Idempotency-Key was used with a different request",
    )
}

/// What a read-only look at a key found.
#[derive(Debug, Clone, PartialEq)]
pub enum Lookup {
    /// Never seen (or past retention).
    Absent,
    /// An attempt without a stored answer: placed, in flight, or dead.
    Pending(IdempotencyRecord),
    /// Answered with a refusal: send it again.
    Replay(StoredReply),
}

/// Looks the key up without writing. Error: the key was used with another
/// request (422).
pub fn lookup<S: Store, E: Env>(
    ctx: &Ctx<'_, S, E>,
    meta: &EventMeta,
    key: &str,
    request_hash: u64,
) -> Result<Lookup, BookingError> {
    let doc: IdempotencyDoc = cas::load(ctx, &key_of(meta, key))?.ok_or_else(missing)?;
    let Some(record) = doc.records.iter().find(|r| r.key == key) else {
        return Ok(Lookup::Absent);
    };
    if record.request != request_hash {
        return Err(reused());
    }
    Ok(match &record.reply {
        Some(reply) => Lookup::Replay(reply.clone()),
        None => Lookup::Pending(record.clone()),
    })
}

/// What [`begin`] decided.
#[derive(Debug, Clone, PartialEq)]
pub enum Begin {
    /// The key has a stored answer.
    Replay(StoredReply),
    /// `attempt` is now the key's attempt: go ahead.
    Proceed,
    /// Another attempt owns the key (a racing twin, or one that replaced
    /// the attempt we meant to replace).
    Other(IdempotencyRecord),
}

/// Records `attempt` as the key's attempt: a new key, or in place of the
/// attempt with nonce `replacing`, which the caller has voided.
pub fn begin<S: Store, E: Env>(
    ctx: &Ctx<'_, S, E>,
    meta: &EventMeta,
    attempt: &IdempotencyRecord,
    replacing: Option<&str>,
) -> Result<Begin, BookingError> {
    let op = format!("key-{}", attempt.nonce);
    let now_ms = ctx.env.now_ms();
    cas::update(
        ctx,
        &key_of(meta, &attempt.key),
        &op,
        missing,
        |doc: &mut IdempotencyDoc| {
            let Some(record) = doc.records.iter_mut().find(|r| r.key == attempt.key) else {
                prune(doc, now_ms);
                if doc.records.len() >= IDEMPOTENCY_RECORDS_PER_BUCKET_MAX {
                    return Err(BookingError::BookkeepingFull("idempotency"));
                }
                doc.records.push(attempt.clone());
                return Ok(Change::Write(Begin::Proceed));
            };
            if record.request != attempt.request {
                return Err(reused());
            }
            if let Some(reply) = &record.reply {
                return Ok(Change::Keep(Begin::Replay(reply.clone())));
            }
            if record.nonce == attempt.nonce {
                // Our own write, seen again after an unknown outcome.
                return Ok(Change::Keep(Begin::Proceed));
            }
            if replacing == Some(record.nonce.as_str()) {
                *record = attempt.clone();
                return Ok(Change::Write(Begin::Proceed));
            }
            Ok(Change::Keep(Begin::Other(record.clone())))
        },
    )
}

/// Stores a refusal for replays, if attempt `nonce` still owns the key.
/// Returns false when another attempt has replaced it.
pub fn finish<S: Store, E: Env>(
    ctx: &Ctx<'_, S, E>,
    meta: &EventMeta,
    key: &str,
    nonce: &str,
    reply: &StoredReply,
) -> Result<bool, BookingError> {
    let op = format!("key-{nonce}-done");
    cas::update(
        ctx,
        &key_of(meta, key),
        &op,
        missing,
        |doc: &mut IdempotencyDoc| {
            let Some(record) = doc
                .records
                .iter_mut()
                .find(|r| r.key == key && r.nonce == nonce)
            else {
                return Ok(Change::Keep(false));
            };
            if record.reply.as_ref() == Some(reply) {
                return Ok(Change::Keep(true));
            }
            record.reply = Some(reply.clone());
            Ok(Change::Write(true))
        },
    )
}

/// Drops records past retention; never a live one, whatever their number.
fn prune(doc: &mut IdempotencyDoc, now_ms: u64) {
    let retention_ms = IDEMPOTENCY_RETENTION_SECONDS * 1_000;
    doc.records
        .retain(|r| now_ms.saturating_sub(r.started_ms) < retention_ms);
}

/// Hash of the parts of a request that make it "the same request".
pub fn request_hash(canonical: &serde_json::Value) -> Result<u64, BookingError> {
    Ok(crate::ids::stable_hash(&cas::encode(canonical)?))
}
