//! The stored form of change records and sales tallies (see `changes` for
//! how writes make them and the stats route reads them): plain data kept in
//! every inventory document, with short field names because every CAS
//! rewrites the whole document.

use crate::limits::BURST_HOLDS_MIN;
use serde::{Deserialize, Serialize};

/// What happened to a part. Stored as one letter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ChangeKind {
    #[serde(rename = "P")]
    Placed,
    #[serde(rename = "C")]
    Confirmed,
    #[serde(rename = "R")]
    Released,
    #[serde(rename = "X")]
    Expired,
    /// Deleted while held: the undo of a placement whose hold was never
    /// granted (its request failed or lost a race).
    #[serde(rename = "U")]
    Undone,
}

impl ChangeKind {
    /// The record's `type` in the feed.
    pub fn name(self) -> &'static str {
        match self {
            ChangeKind::Placed => "hold-placed",
            ChangeKind::Confirmed => "hold-confirmed",
            ChangeKind::Released => "hold-released",
            ChangeKind::Expired => "hold-expired",
            ChangeKind::Undone => "hold-undone",
        }
    }
}

/// One change of one part, as its document keeps it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChangeRecord {
    /// Position in the document's records: 1, 2, 3, … without gaps.
    #[serde(rename = "n")]
    pub seq: u64,
    /// When it was written, Unix milliseconds; never before the record
    /// ahead of it in the document.
    #[serde(rename = "t")]
    pub at_ms: u64,
    #[serde(rename = "k")]
    pub kind: ChangeKind,
    /// The hold's nonce.
    #[serde(rename = "h")]
    pub nonce: String,
    /// A secondary part's primary document (the hold id names it).
    #[serde(rename = "m", default, skip_serializing_if = "Option::is_none")]
    pub primary_doc: Option<u32>,
    /// Units of the part in this document (general sections).
    #[serde(rename = "q", default, skip_serializing_if = "is_zero")]
    pub quantity: u32,
    /// Seats of the part in this document (seated sections).
    #[serde(rename = "st", default, skip_serializing_if = "Vec::is_empty")]
    pub seats: Vec<String>,
    #[serde(rename = "c", default, skip_serializing_if = "Option::is_none")]
    pub customer_id: Option<String>,
    /// Placed parts: when the hold expires unless confirmed, Unix ms.
    #[serde(rename = "x", default, skip_serializing_if = "Option::is_none")]
    pub expires_ms: Option<u64>,
}

fn is_zero(value: &u32) -> bool {
    *value == 0
}

/// Bounded counters of one document's holds (primary parts only: a hold
/// spread over several documents counts once, where its primary is).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tally {
    #[serde(rename = "h", default)]
    pub holds: u64,
    #[serde(rename = "c", default)]
    pub confirmations: u64,
    #[serde(rename = "r", default)]
    pub releases: u64,
    #[serde(rename = "x", default)]
    pub expiries: u64,
    #[serde(rename = "u", default)]
    pub undone: u64,
    /// Writes of this document, and the CAS conflicts they retried.
    #[serde(rename = "w", default)]
    pub writes: u64,
    #[serde(rename = "rt", default)]
    pub cas_retries: u64,
    /// The last minutes with changes, oldest first.
    #[serde(rename = "mn", default, skip_serializing_if = "Vec::is_empty")]
    pub minutes: Vec<MinuteTally>,
    /// Hold → confirm times: bucket `i` counts times in [2^i, 2^(i+1)) ms
    /// (bucket 0 also counts 0 ms).
    #[serde(rename = "hc", default, skip_serializing_if = "Vec::is_empty")]
    pub confirm_ms_log2: Vec<u64>,
    /// The customers with the most holds here (at most
    /// [`crate::limits::TALLY_CUSTOMERS_MAX`]; when full, the one with the fewest holds
    /// makes room, so the counts of a busy customer are exact from the
    /// moment it entered).
    #[serde(rename = "cu", default, skip_serializing_if = "Vec::is_empty")]
    pub customers: Vec<CustomerTally>,
}

/// Changes of one minute.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MinuteTally {
    /// Minutes since the Unix epoch.
    #[serde(rename = "m")]
    pub minute: u64,
    #[serde(rename = "h", default)]
    pub holds: u64,
    #[serde(rename = "c", default)]
    pub confirmations: u64,
    #[serde(rename = "r", default)]
    pub releases: u64,
    #[serde(rename = "x", default)]
    pub expiries: u64,
}

/// One customer's holds in one document.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CustomerTally {
    #[serde(rename = "id")]
    pub customer_id: String,
    #[serde(rename = "h", default)]
    pub holds: u64,
    #[serde(rename = "c", default)]
    pub confirmations: u64,
    /// The current burst window: its start and the holds in it.
    #[serde(rename = "ws", default)]
    pub window_start_ms: u64,
    #[serde(rename = "wh", default)]
    pub window_holds: u64,
    /// The most holds seen in one window of [`crate::limits::BURST_WINDOW_SECONDS`].
    #[serde(rename = "b", default)]
    pub burst_holds_max: u64,
}

impl CustomerTally {
    /// Holds in one window of [`crate::limits::BURST_WINDOW_SECONDS`] that make a burst.
    pub fn is_burst(&self) -> bool {
        self.burst_holds_max >= BURST_HOLDS_MIN
    }
}

impl Tally {
    pub fn is_empty(&self) -> bool {
        *self == Tally::default()
    }
}
