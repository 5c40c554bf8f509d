//! A hold with an `Idempotency-Key`: the same key and body get the same
//! hold, also when requests race, stall or lose their replies — at the cost
//! of one write, like any hold.
//!
//! The key fixes the hold's *home*: the one inventory document of the
//! section where its primary part must go ([`KeyTag::home_doc`]). The
//! primary part records the key's id and the request's hash, so it is the
//! key's record, and the CAS that writes it is the decision:
//!
//! 1. Read the home (with the section's summary and candidate shards, see
//!    `view`). A primary with the key there is the answer: 201 again, marked as a replay (422 if the body differs).
//! 2. Otherwise place the hold with its primary in the home. Writing the
//!    primary re-checks the home for the key inside the CAS, so of two
//!    racing twins exactly one places it; the other finds it, removes the
//!    other parts it may have written, and answers the replay.
//!
//! A key's hold is decided within its section. So that a key reused for
//! another section is still refused (422), a keyed hold also reads the
//! key's home in each other section of the event (one batch read).
//!
//! Nothing else is recorded: a refusal (sold out, seats taken) changed
//! nothing and is not remembered, so repeating the request asks again. A
//! twin that stalls and resumes later finds the key's primary, or — if the
//! hold it would duplicate was never placed — places it once: no clock
//! decides who owns the key, the home document's CAS does.

use crate::context::Ctx;
use crate::coverage::{self, Path};
use crate::env::Env;
use crate::error::BookingError;
use crate::hold_status;
use crate::http::Reply;
use crate::ids::HoldRef;
use crate::model::{EventMeta, KeyTag, Part, PartStatus};
use crate::parts::load_section;
use crate::placement::{Amount, HoldRequest, NotPlaced, Placement, keyed_primary};
use crate::store::Store;
use crate::view::SectionView;

/// `POST /events/:event_id/holds` with an `Idempotency-Key`.
pub fn post<S: Store, E: Env>(
    ctx: &Ctx<'_, S, E>,
    meta: &EventMeta,
    hold: &HoldRequest,
    key: &str,
) -> Result<Reply, BookingError> {
    let canonical = crate::cas::encode(&hold.canonical())?;
    let tag = KeyTag::new(key, crate::ids::stable_hash(&canonical));
    let home = tag.home_doc(meta.sections[hold.section].docs);
    let seats = match &hold.amount {
        Amount::Seats(seats) => Some(seats.as_slice()),
        Amount::Units(_) => None,
    };
    let view = SectionView::open(ctx, meta, hold.section, seats, Some(home))?;
    if let Some(part) = keyed_primary(ctx, meta, (hold.section, home), &view.docs[home], &tag)? {
        coverage::hit(match view.docs[home].keyed_primary(&tag.id) {
            Some(_) => Path::KeyReplayFromShard,
            None => Path::KeyReplayFromLedger,
        });
        return replay(meta, hold.section, home, part);
    }
    refuse_if_used_elsewhere(ctx, meta, hold.section, &tag)?;
    let now_ms = ctx.env.now_ms();
    let nonce = ctx.env.random_id().simple().to_string();
    let placement = Placement {
        meta,
        hold,
        nonce: &nonce,
        now_ms,
        expires_ms: now_ms + u64::from(meta.hold_ttl_seconds) * 1_000,
        primary_doc: Some(home),
        key: Some(&tag),
    };
    match placement.reserve_and_place(ctx, Some(view)) {
        Ok((doc, part)) => Ok(hold_status::placed_reply(
            &placement,
            doc,
            &part,
            ctx.env.now_ms(),
        )),
        Err(NotPlaced::Twin(part)) => replay(meta, hold.section, home, *part),
        Err(NotPlaced::Refused(error)) if is_refusal(&error) => {
            answer_refusal(ctx, meta, (hold.section, home), &tag, error)
        }
        Err(NotPlaced::TwinInFlight) => answer_refusal(
            ctx,
            meta,
            (hold.section, home),
            &tag,
            BookingError::Contention,
        ),
        Err(not_placed) => Err(not_placed.into_error()),
    }
}

/// A refusal about the sale itself (no room, seats taken, the customer at
/// the limit): a twin with the key may be what took them.
fn is_refusal(error: &BookingError) -> bool {
    matches!(
        error,
        BookingError::SoldOut { .. }
            | BookingError::SeatsUnavailable { .. }
            | BookingError::CustomerLimit { .. }
    )
}

/// Before refusing, looks for the key's primary at home once more: a twin
/// that read before us may have placed it meanwhile, and then the answer is
/// its hold, not "sold out" (the units or seats we lacked were its own).
/// `error` otherwise: the refusal, or 503 when a twin is still in flight.
fn answer_refusal<S: Store, E: Env>(
    ctx: &Ctx<'_, S, E>,
    meta: &EventMeta,
    (section, home): (usize, usize),
    tag: &KeyTag,
    error: BookingError,
) -> Result<Reply, BookingError> {
    if cfg!(feature = "plant-twin-no-reread") {
        return Err(error);
    }
    let doc = crate::cas::load(ctx, &meta.inventory_key(section, home))?.ok_or_else(|| {
        BookingError::Internal(format!(
            "inventory document {} is missing",
            meta.inventory_key(section, home)
        ))
    })?;
    match keyed_primary(ctx, meta, (section, home), &doc, tag)? {
        Some(part) => {
            crate::coverage::hit(crate::coverage::Path::TwinRereadAfterRefusal);
            replay(meta, section, home, part)
        }
        None => Err(error),
    }
}

/// 422 if the key already placed a hold in another section of the event:
/// one batch read of the key's home in each other section (none for a
/// one-section event). Reads only, so a reuse that races the first use is
/// not caught; a key is only ever decided within its own section.
fn refuse_if_used_elsewhere<S: Store, E: Env>(
    ctx: &Ctx<'_, S, E>,
    meta: &EventMeta,
    section: usize,
    tag: &KeyTag,
) -> Result<(), BookingError> {
    let homes: Vec<(usize, usize)> = (0..meta.sections.len())
        .filter(|other| *other != section)
        .map(|other| (other, tag.home_doc(meta.sections[other].docs)))
        .collect();
    if homes.is_empty() {
        // A one-section event: no read at all (not even an empty one).
        return Ok(());
    }
    let keys: Vec<String> = homes
        .iter()
        .map(|(other, doc)| meta.inventory_key(*other, *doc))
        .collect();
    for (place, doc) in homes.into_iter().zip(load_section(ctx, &keys)?) {
        // A primary with this key id has another request hash: 422.
        keyed_primary(ctx, meta, place, &doc, tag)?;
    }
    Ok(())
}

/// The first answer again: the hold as it was when placed (status `held`,
/// whatever happened since), marked as a replay. The hold id is rebuilt
/// from the stored nonce, so a damaged one (that no hold id can carry) is a
/// 500 rather than an id the client could never use.
fn replay(
    meta: &EventMeta,
    section: usize,
    doc: usize,
    mut part: Part,
) -> Result<Reply, BookingError> {
    let hold_ref = HoldRef {
        event_id: meta.event_id.clone(),
        section,
        doc,
        nonce: part.nonce.clone(),
    };
    if HoldRef::parse(&hold_ref.id()).as_ref() != Some(&hold_ref) {
        return Err(BookingError::Internal(format!(
            "the keyed primary in {} has a damaged nonce",
            meta.inventory_key(section, doc)
        )));
    }
    part.status = PartStatus::Held;
    let view = hold_status::view(meta, &hold_ref, &part, part.created_ms);
    let mut reply = Reply::json(201, &view);
    reply
        .headers
        .push(("idempotency-replayed".into(), "true".into()));
    Ok(reply)
}
