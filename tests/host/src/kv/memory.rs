//! The in-memory backend: the same semantics as the SQLite one, without a file.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Mutex, MutexGuard, PoisonError};

use super::{Backend, KvResult, add_delta, decode_counter};

/// One store label held in a map behind one mutex.
#[derive(Default)]
pub struct MemoryBackend {
    rows: Mutex<BTreeMap<String, Vec<u8>>>,
}

impl MemoryBackend {
    /// Creates an empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// Locks the map; no operation leaves it half-updated, so a poisoned lock is still sound.
    fn lock(&self) -> MutexGuard<'_, BTreeMap<String, Vec<u8>>> {
        self.rows.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Backend for MemoryBackend {
    fn get(&self, key: &str) -> KvResult<Option<Vec<u8>>> {
        Ok(self.lock().get(key).cloned())
    }

    fn set(&self, key: &str, value: &[u8]) -> KvResult<()> {
        self.lock().insert(key.to_owned(), value.to_vec());
        Ok(())
    }

    fn delete(&self, key: &str) -> KvResult<()> {
        self.lock().remove(key);
        Ok(())
    }

    fn exists(&self, key: &str) -> KvResult<bool> {
        Ok(self.lock().contains_key(key))
    }

    fn keys(&self) -> KvResult<Vec<String>> {
        Ok(self.lock().keys().cloned().collect())
    }

    fn get_many(&self, keys: &[String]) -> KvResult<Vec<(String, Option<Vec<u8>>)>> {
        // The same answer as Spin's SQLite query: each present key once, absent keys left out,
        // in key order (the order SQLite's plan yields), not the request's.
        let rows = self.lock();
        let asked: BTreeSet<&str> = keys.iter().map(String::as_str).collect();
        Ok(asked
            .into_iter()
            .filter_map(|key| {
                rows.get(key)
                    .map(|value| (key.to_owned(), Some(value.clone())))
            })
            .collect())
    }

    fn set_many(&self, key_values: &[(String, Vec<u8>)]) -> KvResult<()> {
        let mut rows = self.lock();
        for (key, value) in key_values {
            rows.insert(key.clone(), value.clone());
        }
        Ok(())
    }

    fn delete_many(&self, keys: &[String]) -> KvResult<()> {
        let mut rows = self.lock();
        for key in keys {
            rows.remove(key);
        }
        Ok(())
    }

    fn increment(&self, key: &str, delta: i64) -> KvResult<i64> {
        let mut rows = self.lock();
        let new_value = add_delta(decode_counter(rows.get(key).cloned())?, delta)?;
        rows.insert(key.to_owned(), new_value.to_le_bytes().to_vec());
        Ok(new_value)
    }

    fn swap(&self, key: &str, expected: Option<&[u8]>, new: &[u8]) -> KvResult<bool> {
        let mut rows = self.lock();
        match expected {
            None => {
                rows.insert(key.to_owned(), new.to_vec());
                Ok(true)
            }
            Some(old_value) => match rows.get_mut(key) {
                Some(stored) if stored.as_slice() == old_value => {
                    *stored = new.to_vec();
                    Ok(true)
                }
                _ => Ok(false),
            },
        }
    }
}
