//! A hold with an `Idempotency-Key`: the same key and body get the same
//! answer, also when requests race, stall or lose their replies.
//!
//! 1. Look the key up (a read). Unknown: check the section (a read); a
//!    request that cannot succeed changes nothing and is answered without
//!    recording the key, so the "sold out" answers of a flash sale cost no
//!    write. Repeating it asks again.
//! 2. Record the attempt (nonce, primary document, expiry) with a CAS on
//!    the key's bucket; a racing twin finds the record instead.
//! 3. Place the hold with its primary part in the recorded document. The
//!    placed hold is the key's answer; a refusal is stored with the key.
//!
//! A replay finds the attempt's primary in that one document and answers
//! 201 again. While the attempt may still be running it answers 409
//! `request-in-progress`. Once the attempt is older than
//! [`IDEMPOTENCY_PENDING_STALE_SECONDS`] (or voided itself after a failure)
//! a replay fences it — one CAS that finds its primary or voids its nonce —
//! and only then records a new attempt in its place. The clock only decides
//! when to fence; the fence decides who owns the key.

use crate::context::Ctx;
use crate::env::Env;
use crate::error::BookingError;
use crate::hold_status;
use crate::http::Reply;
use crate::idempotency::{self, Begin, Lookup};
use crate::ids::HoldRef;
use crate::limits::IDEMPOTENCY_PENDING_STALE_SECONDS;
use crate::model::{EventMeta, IdempotencyRecord, InventoryDoc, Part, PartStatus, StoredReply};
use crate::placement::{HoldRequest, NotPlaced, Placement, check_available, fence};
use crate::store::Store;

/// Takeovers one request may try before it asks the client to retry.
const TAKEOVERS_PER_REQUEST_MAX: u32 = 3;

/// What became of a recorded attempt.
#[derive(Debug)]
enum Attempt {
    /// Its hold is in place: this is its primary part.
    Placed(Part),
    /// It may still be running.
    InFlight,
    /// It never placed its hold and never will (its nonce is void).
    Dead,
}

/// `POST /events/:event_id/holds` with an `Idempotency-Key`.
pub fn post<S: Store, E: Env>(
    ctx: &Ctx<'_, S, E>,
    meta: &EventMeta,
    hold: &HoldRequest,
    key: &str,
) -> Result<Reply, BookingError> {
    let request_hash = idempotency::request_hash(&hold.canonical())?;
    let mut replacing = None;
    match idempotency::lookup(ctx, meta, key, request_hash)? {
        Lookup::Replay(stored) => return Ok(stored_reply(&stored)),
        Lookup::Pending(record) => match settle(ctx, meta, hold, &record)? {
            Attempt::Placed(part) => return Ok(replay(meta, hold, &record, part)),
            Attempt::InFlight => return Err(BookingError::RequestInProgress),
            Attempt::Dead => replacing = Some(record.nonce),
        },
        Lookup::Absent => {}
    }
    for _takeover in 0..TAKEOVERS_PER_REQUEST_MAX {
        // The section as it is now; placing the hold starts from this read.
        let (docs, primary_doc) = check_available(ctx, meta, hold)?;
        let attempt = new_attempt(ctx, meta, hold, key, request_hash, primary_doc);
        match idempotency::begin(ctx, meta, &attempt, replacing.as_deref())? {
            Begin::Replay(stored) => return Ok(stored_reply(&stored)),
            Begin::Proceed => return run(ctx, meta, hold, &attempt, Some(docs)),
            Begin::Other(record) => match settle(ctx, meta, hold, &record)? {
                Attempt::Placed(part) => return Ok(replay(meta, hold, &record, part)),
                Attempt::InFlight => return Err(BookingError::RequestInProgress),
                Attempt::Dead => replacing = Some(record.nonce),
            },
        }
    }
    Err(BookingError::RequestInProgress)
}

fn new_attempt<S: Store, E: Env>(
    ctx: &Ctx<'_, S, E>,
    meta: &EventMeta,
    hold: &HoldRequest,
    key: &str,
    request_hash: u64,
    primary_doc: usize,
) -> IdempotencyRecord {
    let now_ms = ctx.env.now_ms();
    debug_assert!(primary_doc < meta.sections[hold.section].docs as usize);
    IdempotencyRecord {
        key: key.to_owned(),
        request: request_hash,
        nonce: ctx.env.random_id().simple().to_string(),
        doc: primary_doc,
        expires_ms: now_ms + u64::from(meta.hold_ttl_seconds) * 1_000,
        started_ms: now_ms,
        reply: None,
    }
}

/// Runs the recorded attempt: places its hold, or stores its refusal.
fn run<S: Store, E: Env>(
    ctx: &Ctx<'_, S, E>,
    meta: &EventMeta,
    hold: &HoldRequest,
    attempt: &IdempotencyRecord,
    snapshot: Option<Vec<InventoryDoc>>,
) -> Result<Reply, BookingError> {
    let placement = Placement {
        meta,
        hold,
        nonce: &attempt.nonce,
        now_ms: ctx.env.now_ms(),
        expires_ms: attempt.expires_ms,
        primary_doc: Some(attempt.doc),
        keyed: true,
    };
    match placement.reserve_and_place(ctx, snapshot) {
        Ok((doc, part)) => Ok(hold_status::placed_reply(
            &placement,
            doc,
            &part,
            ctx.env.now_ms(),
        )),
        // Another request voided this attempt and owns the key now.
        Err(NotPlaced::Voided) => Err(BookingError::RequestInProgress),
        Err(NotPlaced::Refused(error)) if matches!(error.status(), 409 | 422) => {
            let stored = StoredReply {
                status: error.status(),
                body: error.body(),
            };
            match idempotency::finish(ctx, meta, &attempt.key, &attempt.nonce, &stored) {
                Ok(true) => Ok(Reply::from(error)),
                Ok(false) => Err(BookingError::RequestInProgress),
                // Not stored: the record stays pending and a replay will
                // settle it (the attempt placed nothing, so it is voided).
                Err(store_error) => {
                    let _ = void_own(ctx, meta, hold, attempt);
                    Err(store_error)
                }
            }
        }
        Err(NotPlaced::Refused(error)) => {
            // Void our own nonce when we can, so that a retry takes over at
            // once instead of waiting for the attempt to look stale.
            let _ = void_own(ctx, meta, hold, attempt);
            Err(error)
        }
    }
}

fn void_own<S: Store, E: Env>(
    ctx: &Ctx<'_, S, E>,
    meta: &EventMeta,
    hold: &HoldRequest,
    attempt: &IdempotencyRecord,
) -> Result<Option<Part>, BookingError> {
    fence(
        ctx,
        meta,
        hold.section,
        attempt.doc,
        &attempt.nonce,
        attempt.expires_ms,
    )
}

/// What became of `record`'s attempt: one read of its primary's document;
/// if it is neither placed nor void and old enough, a fence decides.
fn settle<S: Store, E: Env>(
    ctx: &Ctx<'_, S, E>,
    meta: &EventMeta,
    hold: &HoldRequest,
    record: &IdempotencyRecord,
) -> Result<Attempt, BookingError> {
    let key = meta.inventory_key(hold.section, record.doc);
    let doc: InventoryDoc = crate::cas::load(ctx, &key)?
        .ok_or_else(|| BookingError::Internal(format!("inventory document {key} is missing")))?;
    if let Some(part) = doc.part(&record.nonce).filter(|p| p.is_primary()) {
        return Ok(Attempt::Placed(part.clone()));
    }
    if doc.is_voided(&record.nonce) {
        return Ok(Attempt::Dead);
    }
    let age_ms = ctx.env.now_ms().saturating_sub(record.started_ms);
    if age_ms < IDEMPOTENCY_PENDING_STALE_SECONDS * 1_000 {
        return Ok(Attempt::InFlight);
    }
    Ok(
        match fence(
            ctx,
            meta,
            hold.section,
            record.doc,
            &record.nonce,
            record.expires_ms,
        )? {
            Some(part) => Attempt::Placed(part),
            None => Attempt::Dead,
        },
    )
}

/// The first answer again: the hold as it was when placed (status `held`,
/// whatever happened since), marked as a replay.
fn replay(
    meta: &EventMeta,
    hold: &HoldRequest,
    record: &IdempotencyRecord,
    mut part: Part,
) -> Reply {
    let hold_ref = HoldRef {
        event_id: meta.event_id.clone(),
        section: hold.section,
        doc: record.doc,
        nonce: record.nonce.clone(),
    };
    part.status = PartStatus::Held;
    let view = hold_status::view(meta, &hold_ref, &part, part.created_ms);
    let mut reply = Reply::json(201, &view);
    reply
        .headers
        .push(("idempotency-replayed".into(), "true".into()));
    reply
}

/// A stored refusal, sent again as the problem document it was.
fn stored_reply(stored: &StoredReply) -> Reply {
    let mut reply = Reply::json(stored.status, &stored.body);
    reply.content_type = "application/problem+json";
    reply
        .headers
        .push(("idempotency-replayed".into(), "true".into()));
    reply
}
