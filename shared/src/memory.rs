//! For tests (feature `testing`): an in-memory store with the exact
//! semantics of Spin's default (SQLite) key-value store, quirks included, so
//! tests see what production sees:
//! CAS compares whole values, a swap whose snapshot was `None` is an
//! unconditional upsert, and increment is atomic.

use crate::env::Env;
use crate::store::{Snapshot, Store, StoreError, Swap};
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

/// Cheap to clone: clones share one map, like components sharing one store.
#[derive(Debug, Clone, Default)]
pub struct MemoryStore {
    inner: Arc<Mutex<Inner>>,
}

#[derive(Debug, Default)]
struct Inner {
    map: HashMap<String, Vec<u8>>,
    /// Keys whose swaps or puts fail, to test ambiguous outcomes.
    failures: HashMap<String, Failure>,
    /// Keys whose reads (a get, or the read before a swap) fail once the
    /// next write of the key landed (reads to fail, armed), so a test can
    /// make a lost reply unknowable: the re-read fails too.
    read_failures: HashMap<String, (u32, bool)>,
    /// Write calls so far (swaps, puts, increments; conflicts included):
    /// what a test counts to bound the writes an operation costs.
    writes: u64,
    /// Bytes of values read so far (gets, batch gets, reads for a swap).
    read_bytes: u64,
}

/// An injected failure: let `skip` writes pass, then fail `times` writes.
#[derive(Debug, Clone, Copy)]
struct Failure {
    mode: FailMode,
    skip: u32,
    times: u32,
}

/// How an injected failure behaves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailMode {
    /// The swap writes, then reports an error (a lost response).
    WriteThenError,
    /// The swap writes, then reports a conflict (Spin's Redis store does this).
    WriteThenConflict,
    /// The call fails without writing.
    ErrorWithoutWrite,
}

/// The memory store's CAS handle: the key and the snapshot, if one was taken.
#[derive(Debug)]
pub struct MemoryCas {
    key: String,
    snapshot: Option<Vec<u8>>,
}

impl MemoryStore {
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A poisoned lock only means a test thread panicked; the map itself
        // is never left half-written, so keep using it.
        match self.inner.lock() {
            Ok(guard) => guard,
            Err(poisoned) => poisoned.into_inner(),
        }
    }

    /// Makes the next swap or put of `key` fail as `mode` says.
    pub fn fail_next(&self, key: &str, mode: FailMode) {
        self.fail(key, mode, 0, 1);
    }

    /// Lets `skip` swaps or puts of `key` pass, then fails the next `times`.
    pub fn fail(&self, key: &str, mode: FailMode, skip: u32, times: u32) {
        let failure = Failure { mode, skip, times };
        self.lock().failures.insert(key.to_owned(), failure);
    }

    /// Makes `times` reads of `key` (gets and reads for a swap; batch
    /// reads are left alone) fail without reading, from the first read
    /// after the next write of `key` that lands.
    pub fn fail_reads_after_write(&self, key: &str, times: u32) {
        self.lock()
            .read_failures
            .insert(key.to_owned(), (times, false));
    }

    /// All keys, sorted; for tests that bound the key count.
    pub fn keys(&self) -> Vec<String> {
        let mut keys: Vec<String> = self.lock().map.keys().cloned().collect();
        keys.sort();
        keys
    }

    /// Write calls so far: swaps (conflicting ones too), puts, increments.
    pub fn writes(&self) -> u64 {
        self.lock().writes
    }

    /// Bytes of values read so far: gets, batch gets, reads for a swap.
    pub fn read_bytes(&self) -> u64 {
        self.lock().read_bytes
    }

    /// The raw value of `key`; for tests.
    pub fn raw(&self, key: &str) -> Option<Vec<u8>> {
        self.lock().map.get(key).cloned()
    }

    /// The inventory document `key` as if no confirmed part had moved to
    /// its ledger page: the page's parts merged in (each once), and
    /// `sold_moved` zero. For tests that check every part.
    pub fn inventory_with_ledger(&self, key: &str) -> Option<crate::model::InventoryDoc> {
        let mut doc: crate::model::InventoryDoc = serde_json::from_slice(&self.raw(key)?).ok()?;
        let ledger_key = key.replacen("/s/", "/l/", 1);
        if let Some(bytes) = self.raw(&ledger_key)
            && let Ok(page) = serde_json::from_slice::<crate::model::LedgerPage>(&bytes)
        {
            for part in page.parts {
                if doc.part(&part.nonce).is_none() {
                    doc.parts.push(part);
                }
            }
        }
        doc.sold_moved = 0;
        doc.parts_moved = 0;
        Some(doc)
    }

    /// Spin's CAS without a prior `current()`: an unconditional upsert.
    pub fn swap_without_snapshot(
        &self,
        key: &str,
        value: &[u8],
    ) -> Result<Swap<MemoryCas>, StoreError> {
        self.swap(
            MemoryCas {
                key: key.to_owned(),
                snapshot: None,
            },
            value,
        )
    }
}

impl Inner {
    /// Whether this read of `key` fails (see [`MemoryStore::fail_reads`]).
    fn take_read_failure(&mut self, key: &str) -> Result<(), StoreError> {
        let Some((times, true)) = self.read_failures.get_mut(key) else {
            return Ok(());
        };
        *times = times.saturating_sub(1);
        if *times == 0 {
            self.read_failures.remove(key);
        }
        Err(StoreError("injected failure of a read".into()))
    }

    /// The failure, if any, that this write of `key` suffers.
    fn take_failure(&mut self, key: &str) -> Option<FailMode> {
        let failure = self.failures.get_mut(key)?;
        if failure.skip > 0 {
            failure.skip -= 1;
            return None;
        }
        let mode = failure.mode;
        failure.times = failure.times.saturating_sub(1);
        if failure.times == 0 {
            self.failures.remove(key);
        }
        Some(mode)
    }
}

impl Store for MemoryStore {
    type Cas = MemoryCas;

    fn get(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        let mut inner = self.lock();
        inner.take_read_failure(key)?;
        let value = inner.map.get(key).cloned();
        inner.read_bytes += value.as_ref().map_or(0, |v| v.len() as u64);
        Ok(value)
    }

    fn get_many(&self, keys: &[String]) -> Result<Vec<Option<Vec<u8>>>, StoreError> {
        let mut inner = self.lock();
        let values: Vec<Option<Vec<u8>>> =
            keys.iter().map(|key| inner.map.get(key).cloned()).collect();
        inner.read_bytes += values.iter().flatten().map(|v| v.len() as u64).sum::<u64>();
        Ok(values)
    }

    fn read_for_swap(&self, key: &str) -> Result<Snapshot<MemoryCas>, StoreError> {
        let mut inner = self.lock();
        inner.take_read_failure(key)?;
        let value = inner.map.get(key).cloned();
        inner.read_bytes += value.as_ref().map_or(0, |v| v.len() as u64);
        drop(inner);
        Ok(Snapshot {
            cas: MemoryCas {
                key: key.to_owned(),
                snapshot: value.clone(),
            },
            value,
        })
    }

    fn swap(&self, cas: MemoryCas, value: &[u8]) -> Result<Swap<MemoryCas>, StoreError> {
        let mut inner = self.lock();
        inner.writes += 1;
        let failure = inner.take_failure(&cas.key);
        if failure == Some(FailMode::ErrorWithoutWrite) {
            return Err(StoreError("injected failure before the write".into()));
        }
        let matches = match &cas.snapshot {
            // Spin's SQLite store: no snapshot means INSERT .. ON CONFLICT DO UPDATE.
            None => true,
            Some(old) => inner.map.get(&cas.key) == Some(old),
        };
        if !matches {
            // As Spin does: the value that won, as a new snapshot.
            let current = inner.map.get(&cas.key).cloned();
            let fresh = Snapshot {
                cas: MemoryCas {
                    key: cas.key,
                    snapshot: current.clone(),
                },
                value: current,
            };
            return Ok(Swap::Conflict(Some(fresh)));
        }
        if let Some((_, armed)) = inner.read_failures.get_mut(&cas.key) {
            *armed = true;
        }
        inner.map.insert(cas.key, value.to_vec());
        match failure {
            Some(FailMode::WriteThenError) => Err(StoreError("injected lost response".into())),
            // A backend that reports a conflict for a write that landed
            // hands back no snapshot: the caller reads again.
            Some(FailMode::WriteThenConflict) => Ok(Swap::Conflict(None)),
            _ => Ok(Swap::Done),
        }
    }

    fn increment(&self, key: &str, delta: i64) -> Result<i64, StoreError> {
        let mut inner = self.lock();
        inner.writes += 1;
        let current = match inner.map.get(key) {
            None => 0,
            Some(bytes) => {
                let raw: [u8; 8] = bytes
                    .as_slice()
                    .try_into()
                    .map_err(|_| StoreError(format!("{key} does not hold a counter")))?;
                i64::from_le_bytes(raw)
            }
        };
        let next = current
            .checked_add(delta)
            .ok_or_else(|| StoreError(format!("{key} would overflow")))?;
        inner
            .map
            .insert(key.to_owned(), next.to_le_bytes().to_vec());
        Ok(next)
    }

    fn put(&self, key: &str, value: &[u8]) -> Result<(), StoreError> {
        let mut inner = self.lock();
        inner.writes += 1;
        if inner.take_failure(key) == Some(FailMode::ErrorWithoutWrite) {
            return Err(StoreError("injected failure before the write".into()));
        }
        inner.map.insert(key.to_owned(), value.to_vec());
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cas_compares_whole_values() -> Result<(), StoreError> {
        let store = MemoryStore::new();
        store.put("k", b"a")?;
        let first = store.read_for_swap("k")?;
        let second = store.read_for_swap("k")?;
        assert!(matches!(store.swap(first.cas, b"b")?, Swap::Done));
        // The conflict hands back the value that won, as Spin does, and a
        // swap from it succeeds.
        let Swap::Conflict(Some(fresh)) = store.swap(second.cas, b"c")? else {
            panic!("a stale snapshot must conflict and hand back the winner");
        };
        assert_eq!(fresh.value, Some(b"b".to_vec()));
        assert_eq!(store.get("k")?, Some(b"b".to_vec()));
        assert!(matches!(store.swap(fresh.cas, b"d")?, Swap::Done));
        assert_eq!(store.get("k")?, Some(b"d".to_vec()));
        Ok(())
    }

    #[test]
    fn swap_on_absent_key_is_an_unconditional_upsert() -> Result<(), StoreError> {
        let store = MemoryStore::new();
        let a = store.read_for_swap("new")?;
        let b = store.read_for_swap("new")?;
        assert_eq!(a.value, None);
        // Both racing creators "win": the lost update that Spin really shows.
        assert!(matches!(store.swap(a.cas, b"A")?, Swap::Done));
        assert!(matches!(store.swap(b.cas, b"B")?, Swap::Done));
        assert_eq!(store.get("new")?, Some(b"B".to_vec()));
        assert!(matches!(
            store.swap_without_snapshot("new", b"C")?,
            Swap::Done
        ));
        assert_eq!(store.get("new")?, Some(b"C".to_vec()));
        Ok(())
    }

    #[test]
    fn increment_is_atomic_across_threads() -> Result<(), StoreError> {
        let store = MemoryStore::new();
        let threads: Vec<_> = (0..8)
            .map(|_| {
                let store = store.clone();
                std::thread::spawn(move || {
                    for _ in 0..500 {
                        store.increment("n", 1).map(|_| ())?;
                    }
                    Ok::<(), StoreError>(())
                })
            })
            .collect();
        for thread in threads {
            thread.join().map_err(|_| StoreError("thread".into()))??;
        }
        assert_eq!(store.increment("n", 0)?, 4_000);
        assert_eq!(store.raw("n"), Some(4_000i64.to_le_bytes().to_vec()));
        Ok(())
    }
}

/// A clock that tests move by hand, with a seeded random source and no
/// real waiting.
#[derive(Debug, Clone)]
pub struct ManualEnv {
    now_ms: Arc<AtomicU64>,
    seed: Arc<AtomicU64>,
}

impl ManualEnv {
    pub fn new(now_ms: u64, seed: u64) -> Self {
        Self {
            now_ms: Arc::new(AtomicU64::new(now_ms)),
            seed: Arc::new(AtomicU64::new(seed | 1)),
        }
    }

    pub fn advance_ms(&self, ms: u64) {
        self.now_ms.fetch_add(ms, Ordering::SeqCst);
    }

    fn next(&self) -> u64 {
        // splitmix64: good enough for test randomness, and reproducible.
        let mut z = self
            .seed
            .fetch_add(0x9E37_79B9_7F4A_7C15, Ordering::SeqCst)
            .wrapping_add(0x9E37_79B9_7F4A_7C15);
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
}

impl Env for ManualEnv {
    fn now_ms(&self) -> u64 {
        self.now_ms.load(Ordering::SeqCst)
    }

    fn random_id(&self) -> uuid::Uuid {
        let high = u128::from(self.next()) << 64;
        uuid::Builder::from_random_bytes((high | u128::from(self.next())).to_be_bytes()).into_uuid()
    }

    fn random_below(&self, bound: u64) -> u64 {
        if bound == 0 { 0 } else { self.next() % bound }
    }

    fn sleep_ms(&self, _ms: u64) {
        std::thread::yield_now();
    }
}
