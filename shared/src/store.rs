//! The narrow storage trait the booking logic is written against.
//!
//! It mirrors what `wasi:keyvalue` atomics give on Spin: a CAS handle that
//! snapshots a value, and a swap that succeeds only if the stored value still
//! equals the snapshot. A second backend (for example Redis reached through
//! server-side scripts) implements the same five calls.

use std::fmt;

/// A store failure. The outcome of the call that failed is unknown: a write
/// may or may not have landed, so callers re-read and recognise their own
/// write (every write carries an operation id or an effect that can be
/// found again) instead of applying it twice.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoreError(pub String);

impl fmt::Display for StoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "key-value store: {}", self.0)
    }
}

impl std::error::Error for StoreError {}

/// What a swap did.
#[derive(Debug)]
pub enum Swap<C> {
    /// The new value is stored.
    Done,
    /// Someone else wrote first (or the backend says so). With a snapshot of
    /// the value that won, when the backend hands one back (Spin's failed
    /// swap returns a handle on which `current` was already called): the
    /// next attempt starts from it without another read.
    Conflict(Option<Snapshot<C>>),
}

/// A value read for a later conditional write.
#[derive(Debug)]
pub struct Snapshot<C> {
    pub cas: C,
    pub value: Option<Vec<u8>>,
}

pub trait Store {
    /// The backend's CAS handle: on Spin, a `wasi:keyvalue/atomics.cas`
    /// resource that holds the snapshot.
    type Cas;

    fn get(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError>;

    /// Reads many keys in one round trip, in the order given.
    fn get_many(&self, keys: &[String]) -> Result<Vec<Option<Vec<u8>>>, StoreError>;

    /// Snapshots `key` for a conditional write.
    fn read_for_swap(&self, key: &str) -> Result<Snapshot<Self::Cas>, StoreError>;

    /// Writes `value` only if the key still holds the snapshot's value.
    ///
    /// Beware Spin's semantics: if the snapshot was `None` (absent key) the
    /// swap is an unconditional upsert. The core therefore never swaps a key
    /// it did not find; absent documents are created only by [`Store::put`]
    /// under an exclusive claim.
    fn swap(&self, cas: Self::Cas, value: &[u8]) -> Result<Swap<Self::Cas>, StoreError>;

    /// Atomic add; returns the new value. Absent keys count from zero.
    fn increment(&self, key: &str, delta: i64) -> Result<i64, StoreError>;

    /// Unconditional write, used only by the owner of a creation claim.
    fn put(&self, key: &str, value: &[u8]) -> Result<(), StoreError>;
}
