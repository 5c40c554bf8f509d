//! Placing a hold in a section's inventory documents: planning which
//! shards or seat blocks take it, and writing its parts with one CAS each.
//!
//! Inventory is one CAS on one shard or seat block in the common case. When
//! the request spans several documents (seats in several blocks, or more
//! units than any one shard has left) the other parts are written first and
//! the primary part last: the primary is the hold's commit point, so a hold
//! exists exactly when its primary does, and then all of it exists.
//!
//! A write whose outcome is unknown is settled by a fence: a CAS on the
//! primary's document that either finds the primary or marks the nonce void
//! there, so the write can never land later. A failure removes the other
//! parts written; a crash leaves parts that expire, and a writer that finds
//! them expired voids their nonce before it frees them.

use crate::cas::Change;
use crate::context::{Ctx, Tuning};
use crate::coverage::{self, Path};
use crate::customer;
use crate::env::Env;
use crate::error::BookingError;
use crate::ledger;
use crate::limits::{
    CAS_ATTEMPTS_BEFORE_MOVING, CAS_ATTEMPTS_MAX, KEYED_SOLD_OUT_CHECK_DOCUMENTS_MAX,
};
use crate::model::{
    CustomerHold, EventMeta, InventoryDoc, KeyTag, Occupancy, Part, PartStatus, Voided, seat_block,
};
use crate::parts::{
    self, End, end_parts, update_inventory, update_inventory_within, void_until_ms,
};
use crate::store::Store;
use crate::view::{CANDIDATE_SHARDS, SectionView};
use serde_json::json;

/// Fresh looks at a section's documents before a hold gives up.
const PLACEMENT_ROUNDS_MAX: u32 = 4;
/// Plans a hold makes (each ends in a write or a read) before it gives up.
const PLACEMENT_STEPS_MAX: u32 = 16;

/// A validated hold request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HoldRequest {
    pub section: usize,
    /// What is asked for.
    pub amount: Amount,
    pub customer_id: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Amount {
    Units(u32),
    Seats(Vec<String>),
}

impl HoldRequest {
    pub fn units(&self) -> u32 {
        match &self.amount {
            Amount::Units(q) => *q,
            Amount::Seats(seats) => u32::try_from(seats.len()).unwrap_or(u32::MAX),
        }
    }

    pub fn canonical(&self) -> serde_json::Value {
        match &self.amount {
            Amount::Units(q) => json!([self.section, q, self.customer_id]),
            Amount::Seats(seats) => json!([self.section, seats, self.customer_id]),
        }
    }
}

/// One hold to place: the event, the request, the nonce and the times its
/// parts carry.
#[derive(Debug)]
pub struct Placement<'a> {
    pub meta: &'a EventMeta,
    pub hold: &'a HoldRequest,
    /// The attempt's nonce: never reused by another attempt.
    pub nonce: &'a str,
    pub now_ms: u64,
    /// Fixed before the first write: every part carries it, a void mark
    /// for this attempt is kept past it, and the primary is not written
    /// once it has passed.
    pub expires_ms: u64,
    /// Where the primary part must go: a keyed hold's home document, so a
    /// replay or a racing twin looks in one document.
    pub primary_doc: Option<usize>,
    /// The Idempotency-Key, recorded on the primary part.
    pub key: Option<&'a KeyTag>,
}

/// How a placement ended without a hold.
#[derive(Debug)]
pub enum NotPlaced {
    /// Sold out, seats taken, contention, store trouble: the answer.
    Refused(BookingError),
    /// The nonce was voided at the primary's document: a resolver or a
    /// fence decided this attempt is dead.
    Voided,
    /// A twin with the same Idempotency-Key placed its primary first: this
    /// is it, and this attempt wrote nothing that is left.
    Twin(Box<Part>),
    /// The room or seats this attempt lacks are held by the other parts of
    /// a twin with the same Idempotency-Key whose primary is not (yet) at
    /// home: the key's hold may be about to exist, so no refusal may be
    /// answered. This attempt wrote nothing that is left.
    TwinInFlight,
    /// The primary's write may have landed and the fence that would settle
    /// it failed too (a lost reply, then a failed read): the hold may
    /// exist. The only variant whose outcome is unknown.
    Unknown(BookingError),
}

impl NotPlaced {
    /// Whether this attempt is known to have left no hold: every way but
    /// [`NotPlaced::Unknown`]. Errors before the primary's write (a broken
    /// document, a store error on another part, an undo cut short) leave
    /// no primary, so no hold; an unknown outcome keeps the customer's
    /// reservation until it expires and is resolved against the hold.
    fn is_known(&self) -> bool {
        !matches!(self, NotPlaced::Unknown(_))
    }

    /// The error to answer with when no hold or twin is to be replied.
    pub fn into_error(self) -> BookingError {
        match self {
            NotPlaced::Refused(error) | NotPlaced::Unknown(error) => error,
            // Voided by a fence or a resolver: nothing of it is left; a
            // retry places the hold afresh. A twin is replied by the
            // keyed path before it gets here.
            NotPlaced::Voided | NotPlaced::Twin(_) | NotPlaced::TwinInFlight => {
                BookingError::Contention
            }
        }
    }
}

impl From<BookingError> for NotPlaced {
    fn from(error: BookingError) -> Self {
        NotPlaced::Refused(error)
    }
}

/// How writing a plan ended.
#[derive(Debug)]
enum Outcome {
    Placed(usize, Box<Part>),
    /// A document lost the room the plan counted on: plan from a new read.
    Replan,
    /// The lone shard of the plan kept conflicting: plan again from the
    /// same read without it.
    Busy(usize),
}

/// What writing one part found.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Written {
    Done,
    /// A general shard has no room now.
    NoRoom,
    /// The primary's nonce is void here.
    Voided,
    /// The attempt's expiry passed before its primary was written.
    Late,
    /// The key's primary is there already, placed by a twin.
    Twin(Box<Part>),
    /// Seats this part needs are held by a twin's other parts.
    TwinInFlight,
}

impl Placement<'_> {
    /// Reserves the customer's units (with a limit), then places the hold;
    /// gives the reservation back if placing fails.
    pub fn reserve_and_place<S: Store, E: Env>(
        &self,
        ctx: &Ctx<'_, S, E>,
        view: Option<SectionView>,
    ) -> Result<(usize, Part), NotPlaced> {
        let limited_customer = self
            .meta
            .max_per_customer
            .zip(self.hold.customer_id.as_deref());
        if let Some((limit, customer)) = limited_customer {
            let reservation = CustomerHold {
                section: self.hold.section,
                nonce: self.nonce.to_owned(),
                quantity: self.hold.units(),
                expires_ms: self.expires_ms,
                key: self.key.map(|tag| tag.id.clone()),
                shared: false,
            };
            customer::reserve(ctx, self.meta, customer, limit, &reservation)?;
        }
        let placed = self.place(ctx, view);
        let unknown = placed.as_ref().is_err_and(|e| !e.is_known());
        coverage::hit_if(
            unknown && limited_customer.is_some(),
            Path::ReservationKeptOnUnknown,
        );
        if let Err(not_placed) = &placed
            && (not_placed.is_known() || cfg!(feature = "plant-unknown-as-not-placed"))
            && let Some((_, customer)) = limited_customer
        {
            // Give this attempt's reservation back (by nonce only: one of the
            // key's reused by a twin stays); if this fails it simply expires.
            let _ = customer::settle(ctx, self.meta, customer, (self.nonce, None), false);
        }
        placed
    }

    /// The part every written part starts from.
    fn template(&self) -> Part {
        let mut part = Part::new(self.nonce, PartStatus::Held, self.expires_ms, self.now_ms);
        part.customer_id = self.hold.customer_id.clone();
        // Every part carries the key id, so a twin that finds the room it
        // needs taken can tell its own key's parts (see `twin_in_flight`).
        part.key = self.key.map(|tag| tag.id.clone());
        part
    }

    /// Whether `doc` holds a part of another attempt with this hold's
    /// Idempotency-Key, other than its primary: a twin between writing its
    /// other parts and its primary (or one that died there; its parts
    /// expire).
    fn twin_in_flight(&self, doc: &InventoryDoc, now_ms: u64) -> bool {
        let Some(tag) = self.key.filter(|_| !cfg!(feature = "plant-twin-no-reread")) else {
            return false;
        };
        doc.parts.iter().any(|p| {
            !p.is_primary()
                && p.nonce != self.nonce
                && p.key.as_deref() == Some(tag.id.as_str())
                && p.occupancy(now_ms) == Occupancy::Held
        })
    }

    /// Places the hold: its primary document index and part. `view` is
    /// the section as the caller read it, to save a read.
    pub fn place<S: Store, E: Env>(
        &self,
        ctx: &Ctx<'_, S, E>,
        view: Option<SectionView>,
    ) -> Result<(usize, Part), NotPlaced> {
        let mut view = match view {
            Some(view) => view,
            None => self.look(ctx)?,
        };
        // Shards that kept conflicting since the last read: the next plan,
        // from the same read, picks another shard with room.
        let mut busy: Vec<usize> = Vec::new();
        // Moving needs somewhere to move to; once every shard with room was
        // busy, the next write stays on its shard with every attempt.
        let mut may_move = view.docs.len() > 1;
        let mut looks = 1;
        for _step in 0..PLACEMENT_STEPS_MAX {
            let now_ms = ctx.env.now_ms();
            let planned = plan(ctx, &view.docs, self.hold, now_ms, self.primary_doc, &busy);
            let plan = match planned {
                // Not enough room in what was read: read every shard that
                // may have room before answering "sold out".
                Err(BookingError::SoldOut { .. }) if !view.unread_with_room(now_ms).is_empty() => {
                    view.widen(ctx, self.meta, None)?;
                    continue;
                }
                // A keyed hold in a small section reads the rest before it
                // refuses: shards a stale summary marks full may have room,
                // or hold a twin's parts (see `twin_in_flight`).
                Err(BookingError::SoldOut { .. } | BookingError::SeatsUnavailable { .. })
                    if self.key.is_some()
                        && view.docs.len() <= KEYED_SOLD_OUT_CHECK_DOCUMENTS_MAX
                        && !view.all_read() =>
                {
                    view.read_all(ctx, self.meta)?;
                    continue;
                }
                Err(BookingError::SoldOut { .. } | BookingError::SeatsUnavailable { .. })
                    if view.docs.iter().any(|doc| self.twin_in_flight(doc, now_ms)) =>
                {
                    coverage::hit(Path::TwinInFlight);
                    return Err(NotPlaced::TwinInFlight);
                }
                other => other?,
            };
            if plan.is_empty() {
                // Room only in busy shards: look at two more, else stay on
                // one of them from now on.
                if view.widen(ctx, self.meta, Some(CANDIDATE_SHARDS))? == 0 {
                    busy.clear();
                    may_move = false;
                }
                continue;
            }
            match self.write_plan(ctx, &plan, may_move)? {
                Outcome::Placed(doc, part) => return Ok((doc, *part)),
                Outcome::Busy(doc) => busy.push(doc),
                // A document changed under us and lost the room we planned on.
                Outcome::Replan if looks < PLACEMENT_ROUNDS_MAX => {
                    looks += 1;
                    busy.clear();
                    view = self.look(ctx)?;
                }
                Outcome::Replan => break,
            }
        }
        Err(NotPlaced::Refused(BookingError::Contention))
    }

    /// A fresh look at the section (see [`SectionView::open`]).
    fn look<S: Store, E: Env>(&self, ctx: &Ctx<'_, S, E>) -> Result<SectionView, NotPlaced> {
        let seats = match &self.hold.amount {
            Amount::Seats(seats) => Some(seats.as_slice()),
            Amount::Units(_) => None,
        };
        Ok(SectionView::open(
            ctx,
            self.meta,
            self.hold.section,
            seats,
            self.primary_doc,
        )?)
    }

    /// Writes the other parts, then the primary.
    fn write_plan<S: Store, E: Env>(
        &self,
        ctx: &Ctx<'_, S, E>,
        plan: &[Share],
        may_move: bool,
    ) -> Result<Outcome, NotPlaced> {
        let Some((primary, others)) = plan.split_first() else {
            return Err(BookingError::Internal("empty placement plan".into()).into());
        };
        let primary_part = self.primary_part(primary, others);
        let mut written: Vec<usize> = Vec::with_capacity(others.len());
        for share in others {
            let mut part = self.template();
            part.quantity = share.units;
            part.seats = share.seats.clone();
            part.primary_doc = Some(u32::try_from(primary.doc).unwrap_or(u32::MAX));
            match self.write_part(ctx, share.doc, &part, CAS_ATTEMPTS_MAX) {
                Ok(Written::Done) => written.push(share.doc),
                Ok(_) => return self.undo(ctx, &written).map(|()| Outcome::Replan),
                Err(error) => {
                    // Its outcome is unknown: include it in the undo.
                    written.push(share.doc);
                    self.undo(ctx, &written)?;
                    return Err(error.into());
                }
            }
        }
        // A lone unit share whose shard is not fixed may move elsewhere.
        let movable =
            may_move && others.is_empty() && self.primary_doc.is_none() && primary.seats.is_empty();
        let attempts = if movable {
            CAS_ATTEMPTS_BEFORE_MOVING
        } else {
            CAS_ATTEMPTS_MAX
        };
        match self.write_part(ctx, primary.doc, &primary_part, attempts) {
            Ok(Written::Done) => {
                coverage::hit_if(!others.is_empty(), Path::SpreadHold);
                let zero_units = primary.units == 0 && primary.seats.is_empty();
                coverage::hit_if(zero_units && self.key.is_some(), Path::ZeroUnitHomePrimary);
                Ok(Outcome::Placed(primary.doc, Box::new(primary_part)))
            }
            Ok(Written::NoRoom) => self.undo(ctx, &written).map(|()| Outcome::Replan),
            Ok(Written::Voided) => {
                self.undo(ctx, &written)?;
                Err(NotPlaced::Voided)
            }
            Ok(Written::Late) => {
                self.undo(ctx, &written)?;
                Err(BookingError::Contention.into())
            }
            Ok(Written::Twin(part)) => {
                coverage::hit(Path::TwinDecidedByHomeCas);
                self.undo(ctx, &written)?;
                Err(NotPlaced::Twin(part))
            }
            Ok(Written::TwinInFlight) => {
                self.undo(ctx, &written)?;
                Err(NotPlaced::TwinInFlight)
            }
            // Conflicts the store confirmed: nothing landed; try elsewhere.
            Err(BookingError::Contention) if movable => Ok(Outcome::Busy(primary.doc)),
            Err(error) if outcome_unknown(&error) => match self.fence(ctx, primary.doc) {
                Ok(Some(part)) => Ok(Outcome::Placed(primary.doc, Box::new(part))),
                Err(fence_error) => Err(NotPlaced::Unknown(fence_error)),
                Ok(None) => {
                    self.undo(ctx, &written)?;
                    Err(error.into())
                }
            },
            Err(error) => {
                self.undo(ctx, &written)?;
                Err(error.into())
            }
        }
    }

    fn primary_part(&self, primary: &Share, others: &[Share]) -> Part {
        let mut part = self.template();
        part.key = self.key.map(|tag| tag.id.clone());
        part.request = self.key.map(|tag| tag.request);
        part.quantity = primary.units;
        part.seats = primary.seats.clone();
        if !others.is_empty() {
            part.other_docs = others
                .iter()
                .map(|s| u32::try_from(s.doc).unwrap_or(u32::MAX))
                .collect();
            let total: u32 = primary.units + others.iter().map(|s| s.units).sum::<u32>();
            part.hold_quantity = Some(total).filter(|q| *q > 0);
            part.hold_seats = std::iter::once(primary)
                .chain(others)
                .flat_map(|s| s.seats.clone())
                .collect();
        }
        part
    }

    /// Removes the other parts this attempt wrote (its primary was not
    /// written). If that fails the attempt stops: what is left expires.
    fn undo<S: Store, E: Env>(
        &self,
        ctx: &Ctx<'_, S, E>,
        written: &[usize],
    ) -> Result<(), NotPlaced> {
        coverage::hit_if(!written.is_empty(), Path::UndoOtherParts);
        end_parts(
            ctx,
            self.meta,
            self.hold.section,
            written,
            self.nonce,
            End::Undo,
        )
        .map_err(NotPlaced::Refused)
    }

    /// Settles an unknown outcome of the primary's write: the primary, if
    /// it landed, or `None` after voiding the nonce so that it never will.
    fn fence<S: Store, E: Env>(
        &self,
        ctx: &Ctx<'_, S, E>,
        doc: usize,
    ) -> Result<Option<Part>, BookingError> {
        coverage::hit(Path::PrimaryOutcomeUnknown);
        fence(
            ctx,
            self.meta,
            self.hold.section,
            doc,
            self.nonce,
            self.expires_ms,
        )
    }

    /// Why the primary part must not be written into `doc` (document
    /// `place`), if it must not: a twin with the key placed its own (in the
    /// shard, or moved to its ledger page by now), the nonce is void here,
    /// or the attempt's expiry passed.
    fn primary_stop<S: Store, E: Env>(
        &self,
        ctx: &Ctx<'_, S, E>,
        place: (usize, usize),
        doc: &InventoryDoc,
        part: &Part,
    ) -> Result<Option<Written>, BookingError> {
        if let Some(tag) = self.key
            && let Some(twin) = keyed_primary(ctx, self.meta, place, doc, tag)?
        {
            return Ok(Some(Written::Twin(Box::new(twin))));
        }
        if doc.is_voided(&part.nonce) {
            return Ok(Some(Written::Voided));
        }
        Ok((ctx.env.now_ms() >= part.expires_ms).then_some(Written::Late))
    }

    /// Adds one part with at most `attempts` CAS attempts.
    fn write_part<S: Store, E: Env>(
        &self,
        ctx: &Ctx<'_, S, E>,
        doc: usize,
        part: &Part,
        attempts: u32,
    ) -> Result<Written, BookingError> {
        let op = format!("hold-{}", part.nonce);
        let section = self.hold.section;
        let doc_index = doc;
        update_inventory_within(
            ctx,
            self.meta,
            section,
            doc,
            &op,
            attempts,
            |doc: &mut InventoryDoc| {
                if doc.part(&part.nonce).is_some() {
                    // Our own write, seen again after an unknown outcome.
                    return Ok(Change::Keep(Written::Done));
                }
                let now_ms = ctx.env.now_ms();
                if part.is_primary()
                    && let Some(stop) = self.primary_stop(ctx, (section, doc_index), doc, part)?
                {
                    return Ok(Change::Keep(stop));
                }
                parts::prune(doc, now_ms, &ctx.config.tuning);
                if part.is_primary()
                    && part.units() == 0
                    && zero_unit_primaries_full(doc, now_ms, &ctx.config.tuning)
                {
                    coverage::hit(Path::ZeroUnitPrimariesFull);
                    return Err(BookingError::BookkeepingFull("key"));
                }
                let mut resolved = false;
                if !has_room(doc, part, now_ms) {
                    resolved = parts::resolve_secondaries(ctx, self.meta, section, doc, now_ms)?;
                }
                if has_room(doc, part, now_ms) {
                    doc.parts.push(part.clone());
                    debug_assert!({
                        let (held, sold) = parts::counts(doc, now_ms, &[]);
                        held + sold <= doc.capacity()
                    });
                    return Ok(Change::Write(Written::Done));
                }
                if !part.seats.is_empty() {
                    if self.twin_in_flight(doc, now_ms) {
                        coverage::hit(Path::TwinInFlight);
                        return Ok(Change::Keep(Written::TwinInFlight));
                    }
                    let unavailable = part
                        .seats
                        .iter()
                        .filter(|s| seat_taken(doc, s, now_ms))
                        .cloned()
                        .collect();
                    return Err(BookingError::SeatsUnavailable { unavailable });
                }
                // Keep the resolution even though this part does not fit.
                Ok(if resolved {
                    Change::Write(Written::NoRoom)
                } else {
                    Change::Keep(Written::NoRoom)
                })
            },
        )
    }
}

/// The primary placed with `tag`'s key in `doc` (the key's home) or in
/// its ledger page, if any; 422 if the key was sent with another request.
pub fn keyed_primary<S: Store, E: Env>(
    ctx: &Ctx<'_, S, E>,
    meta: &EventMeta,
    place: (usize, usize),
    doc: &InventoryDoc,
    tag: &KeyTag,
) -> Result<Option<Part>, BookingError> {
    match ledger::keyed_primary(ctx, meta, place, doc, &tag.id)? {
        Some(part) if part.request != Some(tag.request) => Err(key_reused()),
        other => Ok(other),
    }
}

/// The same Idempotency-Key with another request.
fn key_reused() -> BookingError {
    BookingError::invalid(
        "idempotency-key-reused",
        "this Idempotency-Key was used with a different request",
    )
}

/// Whether a failed write may have landed anyway: a store error (which
/// includes a conflict reported without the winning value). Conflicts the
/// store confirmed, and refusals decided inside the change (seats taken),
/// wrote nothing.
fn outcome_unknown(error: &BookingError) -> bool {
    matches!(error, BookingError::Store(_))
}

/// Decides, with one CAS on the document where hold `nonce`'s primary part
/// goes, whether that hold exists: the primary part if it is there; else
/// the nonce is marked void there (kept past `expires_ms`, the attempt's
/// expiry), so a stalled writer of it can never place it, and `None`.
pub fn fence<S: Store, E: Env>(
    ctx: &Ctx<'_, S, E>,
    meta: &EventMeta,
    section: usize,
    doc: usize,
    nonce: &str,
    expires_ms: u64,
) -> Result<Option<Part>, BookingError> {
    let op = format!("void-{nonce}");
    update_inventory(ctx, meta, section, doc, &op, |doc: &mut InventoryDoc| {
        if let Some(part) = doc.part(nonce).filter(|p| p.is_primary()) {
            coverage::hit(Path::FenceFoundPrimary);
            return Ok(Change::Keep(Some(part.clone())));
        }
        if doc.is_voided(nonce) {
            return Ok(Change::Keep(None));
        }
        doc.voided.push(Voided {
            nonce: nonce.to_owned(),
            until_ms: void_until_ms(expires_ms),
        });
        coverage::hit(Path::FenceVoidWritten);
        Ok(Change::Write(None))
    })
}

/// Shares of a hold, primary first. With `primary_doc`, that document is
/// the primary's (with whatever share fits there, possibly none). Empty when
/// the only shards with room for a lone share are `busy`.
fn plan<S: Store, E: Env>(
    ctx: &Ctx<'_, S, E>,
    docs: &[InventoryDoc],
    hold: &HoldRequest,
    now_ms: u64,
    primary_doc: Option<usize>,
    busy: &[usize],
) -> Result<Vec<Share>, BookingError> {
    let mut plan = match &hold.amount {
        Amount::Units(quantity) => plan_units(ctx, docs, *quantity, now_ms, primary_doc, busy)?,
        Amount::Seats(seats) => plan_seats(docs, seats, now_ms)?,
    };
    if plan.is_empty() {
        return Ok(plan);
    }
    if let Some(primary) = primary_doc {
        match plan.iter().position(|share| share.doc == primary) {
            Some(index) => plan.swap(0, index),
            None => plan.insert(
                0,
                Share {
                    doc: primary,
                    units: 0,
                    seats: Vec::new(),
                },
            ),
        }
    }
    Ok(plan)
}

/// Where one part goes: document index and its share.
#[derive(Debug, Clone)]
struct Share {
    doc: usize,
    units: u32,
    seats: Vec<String>,
}

/// Free units of a document now: capacity minus held, sold and unresolved.
fn free_units(doc: &InventoryDoc, now_ms: u64) -> u32 {
    let (held, sold) = parts::counts(doc, now_ms, &[]);
    doc.capacity()
        .saturating_sub(held + sold + doc.unresolved_units(now_ms))
}

/// Picks shards for `quantity` units: one shard with room if any (starting
/// at a random one, to spread buyers), else several.
fn plan_units<S: Store, E: Env>(
    ctx: &Ctx<'_, S, E>,
    docs: &[InventoryDoc],
    quantity: u32,
    now_ms: u64,
    primary_doc: Option<usize>,
    busy: &[usize],
) -> Result<Vec<Share>, BookingError> {
    let free: Vec<u32> = docs.iter().map(|d| free_units(d, now_ms)).collect();
    // Unresolved parts count as room: writing a document resolves them.
    let room: Vec<u32> = docs
        .iter()
        .zip(&free)
        .map(|(d, free)| free + d.unresolved_units(now_ms))
        .collect();
    let total_free: u32 = free.iter().sum();
    if room.iter().sum::<u32>() < quantity {
        return Err(BookingError::SoldOut {
            requested: quantity,
            available: total_free,
        });
    }
    let count = docs.len();
    // A fixed primary is tried first; otherwise start at a random shard.
    let start = primary_doc
        .filter(|doc| *doc < count)
        .unwrap_or_else(|| usize::try_from(ctx.env.random_below(count as u64)).unwrap_or(0));
    let order = (0..count).map(|i| (start + i) % count);
    if let Some(doc) = order
        .clone()
        .find(|&i| free[i] >= quantity && !busy.contains(&i))
    {
        return Ok(vec![Share {
            doc,
            units: quantity,
            seats: Vec::new(),
        }]);
    }
    if busy
        .iter()
        .any(|&i| free.get(i).is_some_and(|f| *f >= quantity))
    {
        return Ok(Vec::new());
    }
    // Spread over several shards, most room first (a fixed primary takes
    // what it has, and [`plan`] puts it first).
    let by_room: Vec<(usize, u32)> = order
        .map(|i| (i, room[i]))
        .filter(|(_, r)| *r > 0)
        .collect();
    // Most room first; equal room keeps the order (a stable sort).
    let by_room = crate::model::stable_sort_by_key(by_room, |(_, r)| u64::from(u32::MAX - *r));
    let mut left = quantity;
    let mut plan = Vec::new();
    for (doc, room) in by_room {
        if left == 0 {
            break;
        }
        let units = room.min(left);
        left -= units;
        plan.push(Share {
            doc,
            units,
            seats: Vec::new(),
        });
    }
    Ok(crate::model::stable_sort_by_key(plan, |s| s.doc as u64))
}

/// Groups seats by block and checks them against the blocks' seat lists and
/// a first look at who holds them.
fn plan_seats(
    docs: &[InventoryDoc],
    seats: &[String],
    now_ms: u64,
) -> Result<Vec<Share>, BookingError> {
    let blocks = u32::try_from(docs.len()).unwrap_or(u32::MAX);
    // (block, its seats), in block order once sorted below.
    let mut by_block: Vec<(usize, Vec<String>)> = Vec::new();
    let mut unknown = Vec::new();
    for seat in seats {
        let block = seat_block(seat, blocks);
        if docs.get(block).is_some_and(|d| d.seats.contains(seat)) {
            match by_block.iter_mut().find(|(b, _)| *b == block) {
                Some((_, seats)) => seats.push(seat.clone()),
                None => by_block.push((block, vec![seat.clone()])),
            }
        } else {
            unknown.push(seat.clone());
        }
    }
    if !unknown.is_empty() {
        return Err(BookingError::invalid(
            "seats-not-in-section",
            format!("not seats of this section: {}", unknown.join(", ")),
        ));
    }
    let by_block = crate::model::stable_sort_by_key(by_block, |(block, _)| *block as u64);
    let taken: Vec<String> = by_block
        .iter()
        .flat_map(|(block, seats)| {
            seats
                .iter()
                .filter(|s| seat_taken(&docs[*block], s, now_ms))
        })
        .cloned()
        .collect();
    if !taken.is_empty() {
        return Err(BookingError::SeatsUnavailable { unavailable: taken });
    }
    Ok(by_block
        .into_iter()
        .map(|(doc, seats)| Share {
            doc,
            units: 0,
            seats,
        })
        .collect())
}

/// Held or sold; unresolved parts are not "taken" here: writing resolves them.
fn seat_taken(doc: &InventoryDoc, seat: &str, now_ms: u64) -> bool {
    doc.parts.iter().any(|p| {
        p.seats.iter().any(|s| s == seat)
            && matches!(p.occupancy(now_ms), Occupancy::Held | Occupancy::Sold)
    })
}

/// Whether `doc` holds as many live zero-unit primaries as it may
/// ([`ZERO_UNIT_PRIMARIES_PER_DOCUMENT_MAX`](crate::limits::ZERO_UNIT_PRIMARIES_PER_DOCUMENT_MAX)): the bound that keeps a home
/// document small however many keyed holds are homed on it.
fn zero_unit_primaries_full(doc: &InventoryDoc, now_ms: u64, tuning: &Tuning) -> bool {
    let live = doc
        .parts
        .iter()
        .filter(|p| p.is_primary() && p.units() == 0 && p.occupancy(now_ms) != Occupancy::Free)
        .count();
    live >= tuning.zero_unit_primaries_per_document_max
}

fn has_room(doc: &InventoryDoc, part: &Part, now_ms: u64) -> bool {
    let occupied = |p: &&Part| p.occupancy(now_ms) != Occupancy::Free;
    if part.seats.is_empty() {
        let used: u32 = doc.parts.iter().filter(occupied).map(Part::units).sum();
        used + doc.sold_moved + part.quantity <= doc.capacity()
    } else {
        part.seats.iter().all(|seat| {
            doc.seats.contains(seat)
                && !doc
                    .parts
                    .iter()
                    .filter(occupied)
                    .any(|p| p.seats.contains(seat))
        })
    }
}

#[cfg(test)]
#[path = "table_tests/placement.rs"]
mod table_tests;
