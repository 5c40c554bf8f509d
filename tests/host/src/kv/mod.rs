//! The key-value store behind `wasi:keyvalue`, with the semantics of Spin's default store.
//!
//! A [`Backend`] is the blocking storage engine (SQLite or memory). [`Store`] wraps one backend
//! for one store label and schedules every call as Spin 4.0.2's SQLite store does: inline, on
//! the calling task's thread, inside `tokio::task::block_in_place`, holding the backend's one
//! mutex for the call. So a guest does not yield at a store call; while the call runs (or
//! waits for the mutex) tokio moves the worker's other tasks to another thread. The
//! compare-and-swap handle [`Cas`] mirrors Spin's `CompareAndSwap`: `new` does not read,
//! `current` reads and keeps a snapshot, and `swap` is an unconditional upsert when there is no
//! snapshot, or a value-compare update otherwise.
//!
//! Every [`Store`] also counts the calls made on it, by kind ([`KvCalls`]): one relaxed atomic
//! add per call, beside a mutex and a SQLite statement.

mod memory;
mod sqlite;

#[cfg(test)]
mod tests;

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

pub use booking_host_spawn::KvCalls;
use booking_host_spawn::KvCallsOf;

pub use memory::MemoryBackend;
pub use sqlite::{SqliteBackend, SqliteSettings, default_database_path};

/// An error from a store operation, shaped like `wasi:keyvalue/store.error`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KvError {
    /// The label is not configured in this runtime.
    NoSuchStore,
    /// The component did not list the label in `key_value_stores`.
    AccessDenied,
    /// An implementation-specific failure, such as an I/O or SQL error.
    Other(String),
}

impl std::fmt::Display for KvError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::NoSuchStore => f.write_str("no such store"),
            Self::AccessDenied => f.write_str("access denied"),
            Self::Other(message) => write!(f, "key-value error: {message}"),
        }
    }
}

impl std::error::Error for KvError {}

/// The result type of every store operation.
pub type KvResult<T> = Result<T, KvError>;

/// A blocking key-value engine holding the rows of one store label.
///
/// Implementations are shared by many tasks at once, so every method takes `&self` and does its
/// own locking; each method is one atomic step, which is what Spin's SQLite store offers.
pub trait Backend: Send + Sync + 'static {
    /// Reads one value.
    fn get(&self, key: &str) -> KvResult<Option<Vec<u8>>>;
    /// Inserts or replaces one value.
    fn set(&self, key: &str, value: &[u8]) -> KvResult<()>;
    /// Removes one key; a missing key is not an error.
    fn delete(&self, key: &str) -> KvResult<()>;
    /// Tells whether a key is present.
    fn exists(&self, key: &str) -> KvResult<bool>;
    /// Lists every key of the store.
    fn keys(&self) -> KvResult<Vec<String>>;
    /// Reads many values, with Spin's SQLite store's answer shape: one `(key, Some(value))` per
    /// distinct key that is present; absent keys are left out, a key asked for twice is
    /// answered once, and the order is the store's, not the request's (Spin promises none).
    fn get_many(&self, keys: &[String]) -> KvResult<Vec<(String, Option<Vec<u8>>)>>;
    /// Writes many values in one transaction.
    fn set_many(&self, key_values: &[(String, Vec<u8>)]) -> KvResult<()>;
    /// Removes many keys.
    fn delete_many(&self, keys: &[String]) -> KvResult<()>;
    /// Adds `delta` to the little-endian i64 at `key` (absent means 0) and returns the sum.
    fn increment(&self, key: &str, delta: i64) -> KvResult<i64>;
    /// Writes `new` if the stored value still equals `expected`, returning whether a row changed.
    ///
    /// `expected == None` means "no snapshot": the write is an unconditional upsert that always
    /// succeeds, which is the quirk of Spin's store that lets two racing creators both win.
    fn swap(&self, key: &str, expected: Option<&[u8]>, new: &[u8]) -> KvResult<bool>;
}

/// Decodes a stored counter, rejecting values that are not 8 bytes long.
///
/// Spin panics on such a value; an error is kinder and the guest sees the same failure.
fn decode_counter(value: Option<Vec<u8>>) -> KvResult<i64> {
    match value {
        None => Ok(0),
        Some(bytes) => {
            let array: [u8; 8] = bytes.try_into().map_err(|bytes: Vec<u8>| {
                KvError::Other(format!(
                    "increment: stored value has {} bytes, expected an 8-byte little-endian i64",
                    bytes.len()
                ))
            })?;
            Ok(i64::from_le_bytes(array))
        }
    }
}

/// Adds with overflow reported as a store error instead of a host panic.
fn add_delta(current: i64, delta: i64) -> KvResult<i64> {
    current
        .checked_add(delta)
        .ok_or_else(|| KvError::Other("increment: i64 overflow".to_owned()))
}

/// The calls made on one store, one atomic counter per kind.
type CallCounters = KvCallsOf<AtomicU64>;

/// Adds `n` to a counter. Relaxed: each counter is a sum on its own, read only for reports.
fn count(counter: &AtomicU64, n: usize) {
    counter.fetch_add(n as u64, Ordering::Relaxed);
}

/// One opened store label, cheap to clone, whose calls run inline as on Spin.
#[derive(Clone)]
pub struct Store {
    backend: Arc<dyn Backend>,
    /// Shared by every clone: the calls made on this label.
    calls: Arc<CallCounters>,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store").finish_non_exhaustive()
    }
}

impl Store {
    /// Wraps a backend.
    pub fn new(backend: Arc<dyn Backend>) -> Self {
        Self {
            backend,
            calls: Arc::new(CallCounters::default()),
        }
    }

    /// The calls made on this store so far (a moment's reading of each counter).
    pub fn calls(&self) -> KvCalls {
        let mut calls = KvCalls::default();
        for ((_, value), (_, counter)) in calls.fields_mut().into_iter().zip(self.calls.fields()) {
            *value = counter.load(Ordering::Relaxed);
        }
        calls
    }

    /// Runs one backend call the way Spin's SQLite store runs it: inline, inside
    /// `tokio::task::block_in_place`.
    ///
    /// Spin calls `block_in_place` unconditionally, which panics on a current-thread runtime
    /// (Spin always runs a multi-thread one, and so does `booking-host up`); here such a
    /// runtime (some unit tests) runs the call inline without it, which is the same thing for
    /// a runtime with one thread.
    async fn run<T, F>(&self, call: F) -> KvResult<T>
    where
        F: FnOnce(&dyn Backend) -> KvResult<T>,
    {
        let backend = self.backend.as_ref();
        let multi_thread = tokio::runtime::Handle::try_current().is_ok_and(|handle| {
            handle.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread
        });
        let result = if multi_thread {
            tokio::task::block_in_place(|| call(backend))
        } else {
            call(backend)
        };
        if result.is_err() {
            count(&self.calls.errors, 1);
        }
        result
    }

    /// See [`Backend::get`].
    pub async fn get(&self, key: String) -> KvResult<Option<Vec<u8>>> {
        count(&self.calls.gets, 1);
        self.run(move |b| b.get(&key)).await
    }

    /// See [`Backend::set`].
    pub async fn set(&self, key: String, value: Vec<u8>) -> KvResult<()> {
        count(&self.calls.sets, 1);
        self.run(move |b| b.set(&key, &value)).await
    }

    /// See [`Backend::delete`].
    pub async fn delete(&self, key: String) -> KvResult<()> {
        count(&self.calls.deletes, 1);
        self.run(move |b| b.delete(&key)).await
    }

    /// See [`Backend::exists`].
    pub async fn exists(&self, key: String) -> KvResult<bool> {
        count(&self.calls.exists, 1);
        self.run(move |b| b.exists(&key)).await
    }

    /// See [`Backend::keys`].
    pub async fn keys(&self) -> KvResult<Vec<String>> {
        count(&self.calls.list_keys, 1);
        self.run(|b| b.keys()).await
    }

    /// See [`Backend::get_many`]; an empty request does not touch the store, as on Spin.
    pub async fn get_many(&self, keys: Vec<String>) -> KvResult<Vec<(String, Option<Vec<u8>>)>> {
        count(&self.calls.get_many, 1);
        count(&self.calls.get_many_keys, keys.len());
        if keys.is_empty() {
            return Ok(Vec::new());
        }
        self.run(move |b| b.get_many(&keys)).await
    }

    /// See [`Backend::set_many`]; an empty request does not touch the store, as on Spin.
    pub async fn set_many(&self, key_values: Vec<(String, Vec<u8>)>) -> KvResult<()> {
        count(&self.calls.set_many_keys, key_values.len());
        if key_values.is_empty() {
            return Ok(());
        }
        self.run(move |b| b.set_many(&key_values)).await
    }

    /// See [`Backend::delete_many`]; an empty request does not touch the store, as on Spin.
    pub async fn delete_many(&self, keys: Vec<String>) -> KvResult<()> {
        count(&self.calls.delete_many_keys, keys.len());
        if keys.is_empty() {
            return Ok(());
        }
        self.run(move |b| b.delete_many(&keys)).await
    }

    /// See [`Backend::increment`].
    pub async fn increment(&self, key: String, delta: i64) -> KvResult<i64> {
        count(&self.calls.increments, 1);
        self.run(move |b| b.increment(&key, delta)).await
    }

    /// Starts a compare-and-swap on `key` without reading it, like Spin's `Cas::new`.
    pub fn new_cas(&self, key: String) -> Cas {
        Cas {
            store: self.clone(),
            key,
            snapshot: None,
        }
    }
}

/// The outcome of [`Cas::swap`].
#[derive(Debug)]
pub enum SwapError {
    /// The value changed since `current()`: here is a fresh handle to retry with.
    CasFailed(Cas),
    /// The store itself failed.
    Store(KvError),
}

/// A compare-and-swap handle with Spin's semantics.
#[derive(Debug)]
pub struct Cas {
    store: Store,
    key: String,
    /// The value read by the last `current()`; `None` both before any read and after reading an
    /// absent key, exactly as in Spin, which is why both cases swap unconditionally.
    snapshot: Option<Vec<u8>>,
}

impl Cas {
    /// The key this handle works on.
    pub fn key(&self) -> &str {
        &self.key
    }

    /// Reads the current value and remembers it as the value `swap` will compare against.
    pub async fn current(&mut self) -> KvResult<Option<Vec<u8>>> {
        count(&self.store.calls.cas_currents, 1);
        let key = self.key.clone();
        let value = self.store.run(move |b| b.get(&key)).await?;
        self.snapshot.clone_from(&value);
        Ok(value)
    }

    /// Writes `value`, conditionally on the snapshot if there is one.
    ///
    /// On a failed compare, Spin opens a new handle for the same key and calls `current()` on
    /// it before returning it, so the returned handle already holds the latest value as its
    /// snapshot; this does the same.
    pub async fn swap(self, value: Vec<u8>) -> Result<(), SwapError> {
        let key = self.key.clone();
        let expected = self.snapshot;
        let changed = self
            .store
            .run(move |b| b.swap(&key, expected.as_deref(), &value))
            .await
            .map_err(SwapError::Store)?;
        if changed {
            count(&self.store.calls.swaps_ok, 1);
            return Ok(());
        }
        count(&self.store.calls.swaps_conflict, 1);
        let mut retry = self.store.new_cas(self.key);
        retry.current().await.map_err(SwapError::Store)?;
        Err(SwapError::CasFailed(retry))
    }
}

/// Every configured store label of the runtime.
#[derive(Debug, Clone, Default)]
pub struct Stores {
    by_label: HashMap<String, Store>,
}

impl Stores {
    /// Creates an empty set of stores.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds (or replaces) the store for a label.
    pub fn insert(&mut self, label: impl Into<String>, store: Store) {
        self.by_label.insert(label.into(), store);
    }

    /// The calls made on every store, summed.
    pub fn calls(&self) -> KvCalls {
        let mut total = KvCalls::default();
        for store in self.by_label.values() {
            total.add(&store.calls());
        }
        total
    }

    /// The calls made on each store, in label order.
    pub fn calls_by_label(&self) -> Vec<(String, KvCalls)> {
        let mut by_label: Vec<(String, KvCalls)> = self
            .by_label
            .iter()
            .map(|(label, store)| (label.clone(), store.calls()))
            .collect();
        by_label.sort_by(|a, b| a.0.cmp(&b.0));
        by_label
    }

    /// The counts as `--kv-calls-endpoint` answers them: the totals line, then one
    /// `kv-calls store=LABEL: ...` line per store.
    pub fn calls_report(&self) -> String {
        let mut text = format!("{}\n", self.calls());
        for (label, calls) in self.calls_by_label() {
            let line = calls.to_string();
            let fields = line
                .strip_prefix(booking_host_spawn::KV_CALLS_PREFIX)
                .unwrap_or(&line);
            text.push_str(&format!("kv-calls store={label}:{fields}\n"));
        }
        text
    }

    /// Tells whether a label is configured.
    pub fn contains(&self, label: &str) -> bool {
        self.by_label.contains_key(label)
    }

    /// Opens a store for a component, checking its `key_value_stores` list first as Spin does:
    /// an unlisted label is `access-denied` whether or not it exists.
    pub fn open(&self, allowed: &HashSet<String>, label: &str) -> KvResult<Store> {
        if !allowed.contains(label) {
            return Err(KvError::AccessDenied);
        }
        self.by_label
            .get(label)
            .cloned()
            .ok_or(KvError::NoSuchStore)
    }
}
