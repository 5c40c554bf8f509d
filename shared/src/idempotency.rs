//! Idempotency-Key records: a fixed number of bucket documents per event,
//! each keeping the most recent keys, so replays return the first answer
//! and the key count never grows with traffic.

use crate::cas::{self, Change};
use crate::context::Ctx;
use crate::env::Env;
use crate::error::BookingError;
use crate::ids::bucket_of;
use crate::limits::*;
use crate::model::{IdempotencyDoc, IdempotencyRecord, StoredReply};
use crate::store::Store;

/// What to do with a request that carries an Idempotency-Key.
#[derive(Debug, Clone, PartialEq)]
pub enum Begin {
    /// The key has an answer: send it again.
    Replay(StoredReply),
    /// Go ahead with this hold nonce; `resumed` if a stalled earlier attempt
    /// with the same nonce may have written part of the hold already.
    Proceed { nonce: String, resumed: bool },
}

fn key_of(event_id: &str, idempotency_key: &str) -> String {
    let bucket = bucket_of(idempotency_key.as_bytes(), IDEMPOTENCY_BUCKETS as usize);
    crate::model::idempotency_key(event_id, bucket)
}

fn missing() -> BookingError {
    BookingError::Internal("idempotency bucket missing".into())
}

/// What a read-only look at a key found.
#[derive(Debug, Clone, PartialEq)]
pub enum Lookup {
    /// Never seen (or forgotten).
    Absent,
    /// Recorded, without a stored answer: a hold with this nonce is either
    /// in place (the request succeeded: successes store no answer, the hold
    /// itself is the answer) or still being placed, or its request died
    /// (`stale`; [`begin`] takes it over).
    /// `spent` when it is past the takeover window.
    Pending {
        nonce: String,
        stale: bool,
        spent: bool,
    },
    /// Answered: send the answer again.
    Replay(StoredReply),
}

/// Looks the key up without writing. Error: the key was used with another
/// request (422).
pub fn lookup<S: Store, E: Env>(
    ctx: &Ctx<'_, S, E>,
    event_id: &str,
    key: &str,
    request_hash: u64,
) -> Result<Lookup, BookingError> {
    let doc: IdempotencyDoc = cas::load(ctx, &key_of(event_id, key))?.ok_or_else(missing)?;
    let Some(record) = doc.records.iter().find(|r| r.key == key) else {
        return Ok(Lookup::Absent);
    };
    if record.request != request_hash {
        return Err(reused());
    }
    if let Some(reply) = &record.reply {
        return Ok(Lookup::Replay(reply.clone()));
    }
    let age_ms = ctx.env.now_ms().saturating_sub(record.started_ms);
    Ok(Lookup::Pending {
        nonce: record.nonce.clone(),
        stale: age_ms >= IDEMPOTENCY_PENDING_STALE_SECONDS * 1_000,
        spent: age_ms >= IDEMPOTENCY_TAKEOVER_WINDOW_SECONDS * 1_000,
    })
}

fn reused() -> BookingError {
    BookingError::invalid(
        "idempotency-key-reused",
        "this Idempotency-Key was used with a different request",
    )
}

/// Records the key as pending (or finds its earlier use).
pub fn begin<S: Store, E: Env>(
    ctx: &Ctx<'_, S, E>,
    event_id: &str,
    key: &str,
    request_hash: u64,
    owner: &str,
    fresh_nonce: &str,
) -> Result<Begin, BookingError> {
    let now_ms = ctx.env.now_ms();
    cas::update(
        ctx,
        &key_of(event_id, key),
        owner,
        missing,
        |doc: &mut IdempotencyDoc| {
            if let Some(record) = doc.records.iter_mut().find(|r| r.key == key) {
                if record.request != request_hash {
                    return Err(reused());
                }
                if let Some(reply) = &record.reply {
                    return Ok(Change::Keep(Begin::Replay(reply.clone())));
                }
                if record.owner == owner {
                    // Our own earlier write, seen again after an ambiguous swap.
                    let resumed = record.nonce != fresh_nonce;
                    return Ok(Change::Keep(Begin::Proceed {
                        nonce: record.nonce.clone(),
                        resumed,
                    }));
                }
                if now_ms.saturating_sub(record.started_ms)
                    < IDEMPOTENCY_PENDING_STALE_SECONDS * 1_000
                {
                    return Err(BookingError::RequestInProgress);
                }
                owner.clone_into(&mut record.owner);
                record.started_ms = now_ms;
                return Ok(Change::Write(Begin::Proceed {
                    nonce: record.nonce.clone(),
                    resumed: true,
                }));
            }
            prune(doc, now_ms);
            doc.records.push(IdempotencyRecord {
                key: key.to_owned(),
                request: request_hash,
                nonce: fresh_nonce.to_owned(),
                owner: owner.to_owned(),
                started_ms: now_ms,
                reply: None,
            });
            Ok(Change::Write(Begin::Proceed {
                nonce: fresh_nonce.to_owned(),
                resumed: false,
            }))
        },
    )
}

/// Stores the answer for replays, or (with `None`) forgets the key so that a
/// retry starts afresh. Only the record's current owner may do either.
pub fn finish<S: Store, E: Env>(
    ctx: &Ctx<'_, S, E>,
    event_id: &str,
    key: &str,
    owner: &str,
    reply: Option<StoredReply>,
) -> Result<(), BookingError> {
    let op = format!("{owner}-done");
    cas::update(
        ctx,
        &key_of(event_id, key),
        &op,
        missing,
        |doc: &mut IdempotencyDoc| {
            let Some(index) = doc
                .records
                .iter()
                .position(|r| r.key == key && r.owner == owner)
            else {
                return Ok(Change::Keep(()));
            };
            match &reply {
                Some(reply) if doc.records[index].reply.as_ref() == Some(reply) => {
                    Ok(Change::Keep(()))
                }
                Some(reply) => {
                    doc.records[index].reply = Some(reply.clone());
                    Ok(Change::Write(()))
                }
                None => {
                    doc.records.remove(index);
                    Ok(Change::Write(()))
                }
            }
        },
    )
}

/// Drops records past retention, then the oldest beyond the cap.
fn prune(doc: &mut IdempotencyDoc, now_ms: u64) {
    let retention_ms = IDEMPOTENCY_RETENTION_SECONDS * 1_000;
    doc.records
        .retain(|r| now_ms.saturating_sub(r.started_ms) < retention_ms);
    while doc.records.len() >= IDEMPOTENCY_RECORDS_PER_BUCKET_MAX {
        // The oldest key goes first.
        let victim = doc
            .records
            .iter()
            .enumerate()
            .min_by_key(|(_, r)| r.started_ms)
            .map(|(i, _)| i);
        match victim {
            Some(i) => doc.records.remove(i),
            None => break,
        };
    }
}

/// Hash of the parts of a request that make it "the same request".
pub fn request_hash(canonical: &serde_json::Value) -> Result<u64, BookingError> {
    Ok(crate::ids::stable_hash(&cas::encode(canonical)?))
}
