//! The stored documents and their keys.
//!
//! Keys per event (all created when the event is created, so every later
//! write is a CAS on a key that exists, and the key count depends only on
//! the layout, never on traffic):
//! - `e/<event>/claim`: creation claim counter (atomic increment).
//! - `e/<event>`: [`EventMeta`], the compact layout every request reads.
//! - `e/<event>/def`: [`EventDoc`], the full definition (admin reads only).
//! - `e/<event>/s/<section>/<doc>`: [`InventoryDoc`], one per shard of a
//!   general section or per block of seats, holding its holds and bookings.
//! - `e/<event>/c/<bucket>`: [`CustomerDoc`], per-customer counts (only
//!   for events with `max_per_customer`).
//! - `e/<event>/i/<bucket>`: [`IdempotencyDoc`], recent Idempotency-Keys.

use serde::{Deserialize, Serialize};

pub fn claim_key(event_id: &str) -> String {
    format!("e/{event_id}/claim")
}
pub fn meta_key(event_id: &str) -> String {
    format!("e/{event_id}")
}
pub fn definition_key(event_id: &str) -> String {
    format!("e/{event_id}/def")
}
pub fn inventory_key(event_id: &str, section: usize, doc: usize) -> String {
    format!("e/{event_id}/s/{section}/{doc}")
}
pub fn customer_key(event_id: &str, bucket: usize) -> String {
    format!("e/{event_id}/c/{bucket}")
}
pub fn idempotency_key(event_id: &str, bucket: usize) -> String {
    format!("e/{event_id}/i/{bucket}")
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
                self.v += 1;
                op.clone_into(&mut self.op);
            }
        }
    )*};
}
versioned!(EventMeta, InventoryDoc, CustomerDoc, IdempotencyDoc);

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

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SectionKind {
    General,
    Seated,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum CreationState {
    Pending,
    Ready,
}

/// The compact event document read by every booking request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EventMeta {
    pub v: u64,
    pub op: String,
    pub state: CreationState,
    /// Hash of the normalised definition, to compare a repeated `PUT`.
    pub fingerprint: u64,
    pub updated_ms: u64,
    pub hold_ttl_seconds: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_per_customer: Option<u32>,
    pub sections: Vec<SectionLayout>,
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

    pub fn inventory_keys(&self, event_id: &str, section: usize) -> Vec<String> {
        let docs = self.sections.get(section).map_or(0, |s| s.docs);
        (0..docs as usize)
            .map(|doc| inventory_key(event_id, section, doc))
            .collect()
    }
}

/// The full definition, read only by the admin routes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EventDoc {
    pub definition: EventDefinition,
    pub created_ms: u64,
}

/// Status of one part of a hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum PartStatus {
    /// Held until `x`; past `x` a primary part is expired.
    H,
    /// Confirmed: sold for good.
    C,
    /// Released by the buyer.
    R,
    /// Expired, and recorded as such by a writer.
    X,
}

/// A hold's share of one inventory document. A hold lives in one document
/// (its primary part) unless its seats or units span several; then the
/// primary lists the others (`o`) and each other part points back (`m`).
/// The primary part alone decides the hold's status.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Part {
    /// The hold's nonce.
    pub h: String,
    /// Units in this document (general sections).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub q: u32,
    /// Seats in this document (seated sections).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub st: Vec<String>,
    pub s: PartStatus,
    /// Expiry, Unix milliseconds.
    pub x: u64,
    /// Creation, Unix milliseconds.
    pub t: u64,
    /// When it was confirmed, released or recorded expired.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub e: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub c: Option<String>,
    /// Secondary parts: the primary's document index.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub m: Option<u32>,
    /// Primary parts: the other parts' document indexes.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub o: Vec<u32>,
    /// Primary parts of a spread hold: total units.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tq: Option<u32>,
    /// Primary parts of a spread hold: all seats.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ts: Vec<String>,
    /// Payment reference, once confirmed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub p: Option<String>,
}

fn is_zero(value: &u32) -> bool {
    *value == 0
}

impl Part {
    pub fn is_primary(&self) -> bool {
        self.m.is_none()
    }

    pub fn total_quantity(&self) -> u32 {
        self.tq.unwrap_or(self.q)
    }

    pub fn all_seats(&self) -> &[String] {
        if self.ts.is_empty() {
            &self.st
        } else {
            &self.ts
        }
    }

    /// Units this part takes: a unit count, or one per seat.
    pub fn units(&self) -> u32 {
        if self.st.is_empty() {
            self.q
        } else {
            u32::try_from(self.st.len()).unwrap_or(u32::MAX)
        }
    }
}

/// One shard of a general section, or one block of seats.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InventoryDoc {
    pub v: u64,
    pub op: String,
    /// Units of this shard (general sections).
    #[serde(default)]
    pub cap: u32,
    /// Seats of this block (seated sections).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub seats: Vec<String>,
    pub parts: Vec<Part>,
}

impl InventoryDoc {
    pub fn part(&self, nonce: &str) -> Option<&Part> {
        self.parts.iter().find(|p| p.h == nonce)
    }

    pub fn part_mut(&mut self, nonce: &str) -> Option<&mut Part> {
        self.parts.iter_mut().find(|p| p.h == nonce)
    }

    /// Units this document can hold.
    pub fn capacity(&self) -> u32 {
        if self.seats.is_empty() {
            self.cap
        } else {
            u32::try_from(self.seats.len()).unwrap_or(u32::MAX)
        }
    }
}

/// Per-customer active holds and bookings, in a fixed number of buckets.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CustomerDoc {
    pub v: u64,
    pub op: String,
    pub customers: std::collections::BTreeMap<String, CustomerEntry>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CustomerEntry {
    /// Holds not known to be over.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub active: Vec<CustomerHold>,
    /// Confirmed holds.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub booked: Vec<CustomerHold>,
}

impl CustomerEntry {
    pub fn units(&self) -> u32 {
        self.active.iter().chain(&self.booked).map(|h| h.q).sum()
    }
}

/// One hold of a customer: its section, nonce, units and expiry. The
/// primary document is found by nonce when an expired entry is resolved.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CustomerHold {
    pub s: usize,
    pub h: String,
    pub q: u32,
    #[serde(default)]
    pub x: u64,
}

/// Recent Idempotency-Keys of an event, in a fixed number of buckets.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct IdempotencyDoc {
    pub v: u64,
    pub op: String,
    pub records: Vec<IdempotencyRecord>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IdempotencyRecord {
    pub key: String,
    /// Hash of the request this key was first used with.
    pub request: u64,
    /// The hold's nonce, fixed when the key is first seen, so a takeover
    /// after a crash finishes the same hold instead of making a second one.
    pub nonce: String,
    /// The operation that owns the pending record (a takeover changes it).
    pub owner: String,
    pub started_ms: u64,
    /// The stored answer, once there is one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reply: Option<StoredReply>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredReply {
    pub status: u16,
    pub body: serde_json::Value,
}
