//! The stored documents and their keys.
//!
//! Keys per event. Creation is decided by one register and every creation
//! attempt writes under its own generation, so an attempt that stalls and
//! resumes after another took over writes only keys nobody reads:
//! - `e/<event>/gen`: the creation register, an 8-byte counter value (see
//!   [`Register`]): which generation serves, and whether it is ready.
//! - `e/<event>/claim`: hands out generation numbers (atomic increment).
//! - `e/<event>`: [`EventMeta`], the compact layout every request reads; a
//!   copy, trusted only when its generation is the register's.
//! - `e/<event>/<generation>/meta`: the generation's own [`EventMeta`].
//! - `e/<event>/<generation>/def`: [`EventDoc`], the full definition.
//! - `e/<event>/<generation>/s/<section>/<doc>`: [`InventoryDoc`], one per
//!   shard of a general section or per block of seats, with its holds.
//! - `e/<event>/<generation>/l/<section>/<doc>`: [`LedgerPage`], the
//!   confirmed parts moved out of a general shard (one page per shard).
//! - `e/<event>/<generation>/p/<section>/<doc>/<slot>`: [`FeedPage`], a
//!   ring of pages of an inventory document's older change records.
//! - `e/<event>/<generation>/f/<section>`: [`SectionSummary`], which
//!   shards of a general section are full (and until when).
//! - `e/<event>/<generation>/c/<bucket>`: [`CustomerDoc`], per-customer
//!   counts (only for events with `max_per_customer`).
//!
//! All documents of a generation are written before its register says
//! ready, so every later write is a CAS on a key that exists.

use crate::records::{ChangeRecord, Tally};
use serde::{Deserialize, Serialize};

pub fn register_key(event_id: &str) -> String {
    format!("e/{event_id}/gen")
}
pub fn claim_key(event_id: &str) -> String {
    format!("e/{event_id}/claim")
}
pub fn meta_key(event_id: &str) -> String {
    format!("e/{event_id}")
}
pub fn generation_meta_key(event_id: &str, generation: u64) -> String {
    format!("e/{event_id}/{generation}/meta")
}
pub fn definition_key(event_id: &str, generation: u64) -> String {
    format!("e/{event_id}/{generation}/def")
}

/// The creation register's value: 0 while unclaimed, then the generation
/// that owns the creation and whether it finished. Stored as the 8-byte
/// little-endian integer Spin's `increment` keeps, so it can be created with
/// an atomic `increment(key, 0)` and then changed only by CAS.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Register {
    Unclaimed,
    Pending(u64),
    Ready(u64),
}

impl Register {
    pub fn decode(bytes: &[u8]) -> Option<Register> {
        let raw: [u8; 8] = bytes.try_into().ok()?;
        let value = u64::try_from(i64::from_le_bytes(raw)).ok()?;
        Some(match (value / 2, value % 2) {
            (0, _) => Register::Unclaimed,
            (generation, 0) => Register::Pending(generation),
            (generation, _) => Register::Ready(generation),
        })
    }

    pub fn encode(self) -> Vec<u8> {
        let value = match self {
            Register::Unclaimed => 0,
            Register::Pending(generation) => generation * 2,
            Register::Ready(generation) => generation * 2 + 1,
        };
        i64::try_from(value)
            .unwrap_or(i64::MAX)
            .to_le_bytes()
            .to_vec()
    }
}

/// The seat block a seat lives in: a stable hash, so a hold finds it from
/// the seat id alone, without reading the whole definition.
pub fn seat_block(seat: &str, blocks: u32) -> usize {
    crate::ids::bucket_of(seat.as_bytes(), blocks as usize)
}

/// Every CAS'd document carries a version and the id of the operation that
/// wrote it last, so a writer whose outcome was ambiguous can recognise its
/// own write.
pub trait Versioned {
    fn stamp(&mut self, op: &str);
}

macro_rules! versioned {
    ($($t:ty),*) => {$(
        impl Versioned for $t {
            fn stamp(&mut self, op: &str) {
                self.version += 1;
                op.clone_into(&mut self.operation);
            }
        }
    )*};
}
versioned!(
    InventoryDoc,
    CustomerDoc,
    SectionSummary,
    LedgerPage,
    FeedPage
);

/// A normalised event definition: what `PUT` stored and `GET` returns.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EventDefinition {
    pub event_id: String,
    pub name: String,
    pub hold_ttl_seconds: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_per_customer: Option<u32>,
    pub sections: Vec<SectionDefinition>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SectionDefinition {
    pub id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub capacity: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shards: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seats: Option<Vec<String>>,
}

impl SectionDefinition {
    /// Inventory documents of the section: its shards, or its seat blocks.
    pub fn documents(&self) -> u32 {
        match (&self.seats, self.shards) {
            (Some(seats), _) => {
                u32::try_from(seats.len().div_ceil(crate::limits::SEAT_BLOCK_SEATS_TARGET))
                    .unwrap_or(u32::MAX)
            }
            (None, Some(shards)) => shards,
            (None, None) => 1,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SectionKind {
    General,
    Seated,
}

/// The compact event document read by every booking request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EventMeta {
    pub event_id: String,
    /// The creation attempt whose documents serve (see [`Register`]).
    pub generation: u64,
    /// Hash of the normalised definition, to compare a repeated `PUT`.
    pub fingerprint: u64,
    pub hold_ttl_seconds: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_per_customer: Option<u32>,
    pub sections: Vec<SectionLayout>,
    /// Whether every inventory document has its [`FeedPage`]s (events
    /// created before feed pages existed have none: their documents keep
    /// only their newest records).
    #[serde(default, skip_serializing_if = "is_false")]
    pub feed_pages: bool,
}

fn is_false(value: &bool) -> bool {
    !*value
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SectionLayout {
    pub id: String,
    pub kind: SectionKind,
    pub capacity: u32,
    /// Inventory documents of the section: shards or seat blocks.
    pub docs: u32,
}

impl EventMeta {
    pub fn section_index(&self, id: &str) -> Option<usize> {
        self.sections.iter().position(|s| s.id == id)
    }

    fn prefix(&self) -> String {
        format!("e/{}/{}", self.event_id, self.generation)
    }

    pub fn inventory_key(&self, section: usize, doc: usize) -> String {
        format!("{}/s/{section}/{doc}", self.prefix())
    }

    pub fn ledger_key(&self, section: usize, doc: usize) -> String {
        format!("{}/l/{section}/{doc}", self.prefix())
    }

    /// Slot `slot` of the feed pages of inventory document `doc`.
    pub fn feed_page_key(&self, section: usize, doc: usize, slot: usize) -> String {
        format!("{}/p/{section}/{doc}/{slot}", self.prefix())
    }

    pub fn summary_key(&self, section: usize) -> String {
        format!("{}/f/{section}", self.prefix())
    }

    pub fn customer_key(&self, bucket: usize) -> String {
        format!("{}/c/{bucket}", self.prefix())
    }

    pub fn inventory_keys(&self, section: usize) -> Vec<String> {
        let docs = self.sections.get(section).map_or(0, |s| s.docs);
        (0..docs as usize)
            .map(|doc| self.inventory_key(section, doc))
            .collect()
    }
}

/// Units of shard `doc` of a general section of `capacity` units in `docs`
/// shards: spread evenly, the first `capacity % docs` shards one more.
pub fn shard_units(capacity: u32, docs: u32, doc: usize) -> u32 {
    let docs = docs.max(1);
    capacity / docs + u32::from((doc as u32) < capacity % docs)
}

/// The full definition, read only by the admin routes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EventDoc {
    pub definition: EventDefinition,
    pub created_ms: u64,
}

/// Status of one part of a hold. Stored as one letter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum PartStatus {
    /// Held until `expires_ms`; past it a primary part is expired.
    #[serde(rename = "H")]
    Held,
    /// Confirmed: sold for good.
    #[serde(rename = "C")]
    Confirmed,
    /// Released by the buyer.
    #[serde(rename = "R")]
    Released,
    /// Expired, and recorded as such by a writer.
    #[serde(rename = "X")]
    Expired,
}

/// What a part does to its document's units at a given time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Occupancy {
    Sold,
    Held,
    Free,
    /// An expired secondary part whose primary has not been consulted: its
    /// units are not sellable until a writer resolves it.
    Unresolved,
}

/// The status of a hold as clients see it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum HoldStatus {
    Held,
    Confirmed,
    Released,
    Expired,
}

/// A hold's share of one inventory document. A hold lives in one document
/// (its primary part) unless its seats or units span several; then the
/// primary lists the others (`other_docs`) and each other part points back
/// (`primary_doc`). The primary part alone decides the hold's status.
///
/// Field names are stored as one or two letters (`serde(rename)`): every CAS
/// rewrites a whole document, so short keys keep hot documents small.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Part {
    /// The hold's nonce.
    #[serde(rename = "h")]
    pub nonce: String,
    /// Units in this document (general sections).
    #[serde(rename = "q", default, skip_serializing_if = "is_zero")]
    pub quantity: u32,
    /// Seats in this document (seated sections).
    #[serde(rename = "st", default, skip_serializing_if = "Vec::is_empty")]
    pub seats: Vec<String>,
    #[serde(rename = "s")]
    pub status: PartStatus,
    /// Expiry, Unix milliseconds.
    #[serde(rename = "x")]
    pub expires_ms: u64,
    /// Creation, Unix milliseconds.
    #[serde(rename = "t")]
    pub created_ms: u64,
    /// When it was confirmed, released or recorded expired.
    #[serde(rename = "e", default, skip_serializing_if = "Option::is_none")]
    pub ended_ms: Option<u64>,
    #[serde(rename = "c", default, skip_serializing_if = "Option::is_none")]
    pub customer_id: Option<String>,
    /// Secondary parts: the primary's document index.
    #[serde(rename = "m", default, skip_serializing_if = "Option::is_none")]
    pub primary_doc: Option<u32>,
    /// Primary parts: the other parts' document indexes.
    #[serde(rename = "o", default, skip_serializing_if = "Vec::is_empty")]
    pub other_docs: Vec<u32>,
    /// Primary parts of a spread hold: total units.
    #[serde(rename = "tq", default, skip_serializing_if = "Option::is_none")]
    pub hold_quantity: Option<u32>,
    /// Primary parts of a spread hold: all seats.
    #[serde(rename = "ts", default, skip_serializing_if = "Vec::is_empty")]
    pub hold_seats: Vec<String>,
    /// Payment reference, once confirmed.
    #[serde(rename = "p", default, skip_serializing_if = "Option::is_none")]
    pub payment_ref: Option<String>,
    /// Primary parts placed with an Idempotency-Key: the key's id (see
    /// [`KeyTag`]). The part is the key's record: kept, once ended, as long
    /// as the key is remembered.
    #[serde(rename = "ik", default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    /// With `key`: the hash of the request first sent with it.
    #[serde(rename = "rq", default, skip_serializing_if = "Option::is_none")]
    pub request: Option<u64>,
}

fn is_zero(value: &u32) -> bool {
    *value == 0
}

impl Part {
    /// A primary part of hold `nonce` with nothing in it yet: no units or
    /// seats, no other parts, no customer, not ended.
    pub fn new(nonce: &str, status: PartStatus, expires_ms: u64, created_ms: u64) -> Part {
        Part {
            nonce: nonce.to_owned(),
            quantity: 0,
            seats: Vec::new(),
            status,
            expires_ms,
            created_ms,
            ended_ms: None,
            customer_id: None,
            primary_doc: None,
            other_docs: Vec::new(),
            hold_quantity: None,
            hold_seats: Vec::new(),
            payment_ref: None,
            key: None,
            request: None,
        }
    }

    pub fn is_primary(&self) -> bool {
        self.primary_doc.is_none()
    }

    /// Units of the whole hold (all its parts), for general sections.
    pub fn total_quantity(&self) -> u32 {
        self.hold_quantity.unwrap_or(self.quantity)
    }

    /// Seats of the whole hold (all its parts), for seated sections.
    pub fn all_seats(&self) -> &[String] {
        if self.hold_seats.is_empty() {
            &self.seats
        } else {
            &self.hold_seats
        }
    }

    /// What this part does to its document's units at `now_ms`.
    pub fn occupancy(&self, now_ms: u64) -> Occupancy {
        match self.status {
            PartStatus::Confirmed => Occupancy::Sold,
            PartStatus::Released | PartStatus::Expired => Occupancy::Free,
            PartStatus::Held if now_ms < self.expires_ms => Occupancy::Held,
            PartStatus::Held if self.is_primary() => Occupancy::Free,
            PartStatus::Held => Occupancy::Unresolved,
        }
    }

    /// The status a client sees, for a primary part.
    pub fn hold_status(&self, now_ms: u64) -> HoldStatus {
        match self.status {
            PartStatus::Confirmed => HoldStatus::Confirmed,
            PartStatus::Released => HoldStatus::Released,
            PartStatus::Expired => HoldStatus::Expired,
            PartStatus::Held if now_ms < self.expires_ms => HoldStatus::Held,
            PartStatus::Held => HoldStatus::Expired,
        }
    }

    /// Units this part takes: a unit count, or one per seat.
    pub fn units(&self) -> u32 {
        if self.seats.is_empty() {
            self.quantity
        } else {
            u32::try_from(self.seats.len()).unwrap_or(u32::MAX)
        }
    }
}

/// An Idempotency-Key as its hold's primary part records it: an id derived
/// from the key (a name-based UUID: fixed length, and a client cannot make
/// its key's id equal another's without knowing that key), and the hash of
/// the request first sent with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyTag {
    pub id: String,
    pub request: u64,
}

impl KeyTag {
    pub fn new(key: &str, request: u64) -> KeyTag {
        let id = uuid::Uuid::new_v5(&uuid::Uuid::NAMESPACE_OID, key.as_bytes());
        KeyTag {
            id: id.simple().to_string(),
            request,
        }
    }

    /// The document of `docs` where this key's hold has its primary part:
    /// fixed by the key alone, so a replay or a racing twin looks in that
    /// one place, and the CAS on it decides which twin wins.
    pub fn home_doc(&self, docs: u32) -> usize {
        crate::ids::bucket_of(self.id.as_bytes(), docs.max(1) as usize)
    }
}

/// One shard of a general section, or one block of seats.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct InventoryDoc {
    #[serde(rename = "v")]
    pub version: u64,
    #[serde(rename = "op")]
    pub operation: String,
    /// Units of this shard (general sections).
    #[serde(rename = "cap", default)]
    pub shard_units: u32,
    /// Seats of this block (seated sections).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub seats: Vec<String>,
    pub parts: Vec<Part>,
    /// Nonces that will never be placed here (see [`Voided`]).
    #[serde(rename = "void", default, skip_serializing_if = "Vec::is_empty")]
    pub voided: Vec<Voided>,
    /// Units of confirmed parts moved to this shard's [`LedgerPage`]: sold,
    /// and no longer read by holds and availability.
    #[serde(rename = "sd", default, skip_serializing_if = "is_zero")]
    pub sold_moved: u32,
    /// Parts moved to this shard's [`LedgerPage`], zero-unit keyed
    /// primaries included (they add nothing to `sold_moved`): a lookup that
    /// misses in the shard reads the page whenever this is not zero.
    #[serde(rename = "mp", default, skip_serializing_if = "is_zero")]
    pub parts_moved: u32,
    /// The newest change records of this document's parts, written by the
    /// CAS that made each change (see `changes`).
    #[serde(rename = "ch", default, skip_serializing_if = "Vec::is_empty")]
    pub changes: Vec<ChangeRecord>,
    /// Records ever written here: the `seq` of the newest.
    #[serde(rename = "cs", default, skip_serializing_if = "is_zero_u64")]
    pub changes_seq: u64,
    /// Records copied to this document's [`FeedPage`]s: the `seq` of the
    /// newest (every older one was copied too). Only these may be dropped.
    #[serde(rename = "pd", default, skip_serializing_if = "is_zero_u64")]
    pub paged: u64,
    /// Sales counters folded from the same changes.
    #[serde(rename = "ty", default, skip_serializing_if = "Tally::is_empty")]
    pub tally: Tally,
}

fn is_zero_u64(value: &u64) -> bool {
    *value == 0
}

/// Confirmed parts moved out of one general shard, so that the shard
/// document — read by every hold and availability request — keeps only
/// live holds and a count. Pre-created with the shard; parts are only ever
/// added. At most one part per unit of the shard (at most
/// [`crate::limits::SHARD_UNITS_MAX`]), so a page stays under 1 MB.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LedgerPage {
    #[serde(rename = "v")]
    pub version: u64,
    #[serde(rename = "op")]
    pub operation: String,
    pub parts: Vec<Part>,
}

/// One page of an inventory document's change records: page `page` holds
/// the records numbered `page × FEED_PAGE_RECORDS + 1 ..= (page + 1) ×
/// FEED_PAGE_RECORDS`, oldest first and without gaps, and lives in slot
/// `page % FEED_PAGES_PER_DOCUMENT` (see [`crate::limits::FEED_PAGE_RECORDS`]).
/// Pre-created empty, slot `s` holding page `s`; a newer page replaces an
/// older one in its slot, never the reverse.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FeedPage {
    #[serde(rename = "v")]
    pub version: u64,
    #[serde(rename = "op")]
    pub operation: String,
    #[serde(rename = "pn", default)]
    pub page: u64,
    #[serde(rename = "r", default, skip_serializing_if = "Vec::is_empty")]
    pub records: Vec<ChangeRecord>,
}

/// A hold nonce that will never be placed in this document. Written, with a
/// CAS on the document where the hold's primary part would go, by whoever
/// decides that an attempt is dead: a request that takes over an
/// Idempotency-Key, a writer whose own write had an unknown outcome, or the
/// resolver of parts whose primary never appeared. A stalled writer of that
/// nonce then loses: its own write of the primary finds the mark and stops.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Voided {
    #[serde(rename = "h")]
    pub nonce: String,
    /// Kept until then: past the latest expiry the voided attempt could
    /// have given its parts, plus a margin for clock skew.
    #[serde(rename = "u")]
    pub until_ms: u64,
}

impl InventoryDoc {
    pub fn is_voided(&self, nonce: &str) -> bool {
        self.voided.iter().any(|v| v.nonce == nonce)
    }

    pub fn part(&self, nonce: &str) -> Option<&Part> {
        self.parts.iter().find(|p| p.nonce == nonce)
    }

    /// The primary part placed with Idempotency-Key id `key_id`, if any.
    pub fn keyed_primary(&self, key_id: &str) -> Option<&Part> {
        self.parts
            .iter()
            .find(|p| p.is_primary() && p.key.as_deref() == Some(key_id))
    }

    pub fn part_mut(&mut self, nonce: &str) -> Option<&mut Part> {
        self.parts.iter_mut().find(|p| p.nonce == nonce)
    }

    /// Units of expired secondary parts not yet resolved against their
    /// primary: neither free nor known to be sold.
    pub fn unresolved_units(&self, now_ms: u64) -> u32 {
        self.parts
            .iter()
            .filter(|p| p.occupancy(now_ms) == Occupancy::Unresolved)
            .map(Part::units)
            .sum()
    }

    /// Units a new hold could take here at `now_ms`: capacity minus held
    /// and sold units. Unresolved parts count as room: the writer that
    /// needs it resolves them.
    pub fn room(&self, now_ms: u64) -> u32 {
        let taken: u32 = self
            .parts
            .iter()
            .filter(|p| matches!(p.occupancy(now_ms), Occupancy::Held | Occupancy::Sold))
            .map(Part::units)
            .sum();
        self.capacity().saturating_sub(taken + self.sold_moved)
    }

    /// For the section summary: 0 if this document has room at `now_ms`;
    /// else the earliest time it may have room again (the first expiry of
    /// a part held in it), or `u64::MAX` when nothing in it is held.
    pub fn full_until(&self, now_ms: u64) -> u64 {
        if self.room(now_ms) > 0 {
            return 0;
        }
        self.parts
            .iter()
            .filter(|p| p.occupancy(now_ms) == Occupancy::Held)
            .map(|p| p.expires_ms)
            .min()
            .unwrap_or(u64::MAX)
    }

    /// Units this document can hold.
    pub fn capacity(&self) -> u32 {
        if self.seats.is_empty() {
            self.shard_units
        } else {
            u32::try_from(self.seats.len()).unwrap_or(u32::MAX)
        }
    }
}

/// Which shards of a general section are full: a hold picks its candidate
/// shards among the others, and a sold-out answer needs this one small
/// read. Written only when a shard turns full or gets room again (not per
/// hold), and only by CAS; an entry is replaced only by one seen at a newer
/// version of its shard, so two writers that saw the shard at different
/// times cannot leave the older view in place.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SectionSummary {
    #[serde(rename = "v")]
    pub version: u64,
    #[serde(rename = "op")]
    pub operation: String,
    /// Per shard: the shard's version when seen, and its
    /// [`InventoryDoc::full_until`] then (0: it had room).
    #[serde(rename = "f")]
    pub shards: Vec<(u64, u64)>,
}

impl SectionSummary {
    /// Whether shard `doc` may have room at `now_ms` (unknown shards may).
    pub fn may_have_room(&self, doc: usize, now_ms: u64) -> bool {
        self.shards
            .get(doc)
            .is_none_or(|(_, until)| *until <= now_ms)
    }
}

/// Per-customer active holds and bookings, in a fixed number of buckets.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CustomerDoc {
    #[serde(rename = "v")]
    pub version: u64,
    #[serde(rename = "op")]
    pub operation: String,
    pub customers: std::collections::BTreeMap<String, CustomerEntry>,
    /// Customer-limit refusals per customer, for the stats' fraud signals:
    /// each counted up to [`crate::limits::CUSTOMER_REFUSALS_COUNTED_MAX`]
    /// (a customer refused more often costs no more writes), for at most
    /// [`crate::limits::CUSTOMERS_PER_BUCKET_MAX`] customers.
    #[serde(
        rename = "rf",
        default,
        skip_serializing_if = "std::collections::BTreeMap::is_empty"
    )]
    pub refusals: std::collections::BTreeMap<String, u32>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CustomerEntry {
    /// Holds not known to be over.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub active: Vec<CustomerHold>,
    /// Confirmed holds, as written by earlier versions; new bookings are
    /// only counted (`booked_units`), so an entry stays small.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub booked: Vec<CustomerHold>,
    /// Units of confirmed holds.
    #[serde(rename = "b", default, skip_serializing_if = "is_zero")]
    pub booked_units: u32,
}

impl CustomerEntry {
    /// Units held or booked: what the customer limit counts.
    pub fn units(&self) -> u32 {
        let listed: u32 = self
            .active
            .iter()
            .chain(&self.booked)
            .map(|h| h.quantity)
            .sum();
        listed + self.booked_units
    }

    /// Counts a confirmed hold as booked.
    pub fn book(&mut self, hold: &CustomerHold) {
        self.booked_units = self.booked_units.saturating_add(hold.quantity);
    }

    pub fn is_empty(&self) -> bool {
        self.active.is_empty() && self.booked.is_empty() && self.booked_units == 0
    }
}

/// One hold of a customer: its section, nonce, units and expiry. The
/// primary document is found by nonce when an expired entry is resolved.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CustomerHold {
    #[serde(rename = "s")]
    pub section: usize,
    #[serde(rename = "h")]
    pub nonce: String,
    #[serde(rename = "q")]
    pub quantity: u32,
    #[serde(rename = "x", default)]
    pub expires_ms: u64,
    /// The Idempotency-Key id of a keyed hold: the reservation stands for
    /// the key's one hold, whichever attempt (nonce) places it, so a retry
    /// or a racing twin reuses it, and it is resolved by the key's primary.
    #[serde(rename = "k", default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    /// Reused by another attempt of the same key: the attempt that made it
    /// may have lost to that one, so it is never given back by nonce, only
    /// settled with the key's hold (confirm, release) or resolved by key.
    #[serde(rename = "sh", default, skip_serializing_if = "is_false")]
    pub shared: bool,
}

/// Sorts `(key, index)` pairs ascending. The core's one sort instantiation
/// (each `sort*` call on another element type or key closure links another
/// copy of the standard sort into every component).
#[inline(never)]
pub(crate) fn sort_pairs(pairs: &mut [(u64, usize)]) {
    pairs.sort_unstable();
}

/// `items` stably sorted by `key` (equal keys keep their order), through
/// [`sort_pairs`]: a pair's index makes every pair distinct, so the unstable
/// sort of the pairs gives the stable order.
pub(crate) fn stable_sort_by_key<T>(items: Vec<T>, key: impl Fn(&T) -> u64) -> Vec<T> {
    let mut pairs: Vec<(u64, usize)> = items
        .iter()
        .enumerate()
        .map(|(index, item)| (key(item), index))
        .collect();
    sort_pairs(&mut pairs);
    let mut slots: Vec<Option<T>> = items.into_iter().map(Some).collect();
    pairs
        .into_iter()
        .filter_map(|(_, index)| slots[index].take())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Documents as the version before the field renames wrote them: they
    /// must decode, and encode back to the very same bytes.
    const STORED_BEFORE_RENAMES: [&str; 3] = [
        r#"{"v":3,"op":"hold-x","cap":64,"parts":[{"h":"abc","q":2,"st":["A-1"],"s":"C","x":10,"t":5,"e":7,"c":"cust","m":3,"o":[1,2],"tq":4,"ts":["A-1","A-2"],"p":"pay"},{"h":"def","s":"H","x":10,"t":5}]}"#,
        r#"{"v":1,"op":"o","cap":0,"seats":["A-1"],"parts":[]}"#,
        r#"{"v":2,"op":"r","customers":{"c1":{"active":[{"s":1,"h":"n","q":2,"x":99}],"booked":[{"s":0,"h":"m","q":1,"x":0}]}}}"#,
    ];

    #[test]
    fn stored_documents_are_byte_identical_across_the_renames() {
        for (index, stored) in STORED_BEFORE_RENAMES.iter().enumerate() {
            let encoded = if index < 2 {
                let doc: InventoryDoc = serde_json::from_str(stored).expect("decodes");
                serde_json::to_string(&doc)
            } else {
                let doc: CustomerDoc = serde_json::from_str(stored).expect("decodes");
                serde_json::to_string(&doc)
            };
            assert_eq!(encoded.expect("encodes"), *stored);
        }
        let first: InventoryDoc = serde_json::from_str(STORED_BEFORE_RENAMES[0]).expect("decodes");
        let part = &first.parts[0];
        assert_eq!(part.status, PartStatus::Confirmed);
        assert_eq!(part.expires_ms, 10);
        assert_eq!(part.primary_doc, Some(3));
        assert_eq!(part.payment_ref.as_deref(), Some("pay"));
        assert_eq!(first.parts[1].status, PartStatus::Held);
    }

    #[test]
    fn part_status_letters() {
        let table = [
            (PartStatus::Held, "\"H\""),
            (PartStatus::Confirmed, "\"C\""),
            (PartStatus::Released, "\"R\""),
            (PartStatus::Expired, "\"X\""),
        ];
        for (status, stored) in table {
            assert_eq!(serde_json::to_string(&status).expect("encodes"), stored);
        }
    }
}

#[cfg(test)]
#[path = "table_tests/model_part.rs"]
mod table_tests;
