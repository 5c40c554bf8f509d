//! A store that records, in order, every key a request read (and the value
//! it got) and every write that landed, over the memory store (Spin's exact
//! semantics). The document target needs the order: a request that read a
//! corrupted value before it wrote anything has decided nothing yet, so it
//! must answer 500 or 503.

use booking_core::{MemoryCas, MemoryStore, Snapshot, Store, StoreError, Swap};
use std::cell::RefCell;

/// One store call of a request, as the store saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// A read of `key` that returned `value`.
    Read { key: String, value: Option<Vec<u8>> },
    /// A write of `key` that landed (a swap that succeeded, a put, an
    /// increment). `value` is what the key holds after it.
    Wrote { key: String, value: Vec<u8> },
}

#[derive(Debug)]
pub struct Traced<'a> {
    pub store: &'a MemoryStore,
    events: RefCell<Vec<Event>>,
}

impl<'a> Traced<'a> {
    pub fn new(store: &'a MemoryStore) -> Self {
        Self {
            store,
            events: RefCell::new(Vec::new()),
        }
    }

    /// The events so far, and a fresh trace for the next request.
    pub fn take(&self) -> Vec<Event> {
        self.events.take()
    }

    fn read(&self, key: &str, value: &Option<Vec<u8>>) {
        self.events.borrow_mut().push(Event::Read {
            key: key.to_owned(),
            value: value.clone(),
        });
    }

    fn wrote(&self, key: &str) {
        let value = self.store.raw(key).unwrap_or_default();
        self.events.borrow_mut().push(Event::Wrote {
            key: key.to_owned(),
            value,
        });
    }
}

/// The key a CAS handle is for: the memory store keeps it private, so the
/// wrapper hands the key along with the handle.
#[derive(Debug)]
pub struct TracedCas {
    key: String,
    inner: MemoryCas,
}

impl Store for Traced<'_> {
    type Cas = TracedCas;

    fn get(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        let value = self.store.get(key)?;
        self.read(key, &value);
        Ok(value)
    }

    fn get_many(&self, keys: &[String]) -> Result<Vec<Option<Vec<u8>>>, StoreError> {
        let values = self.store.get_many(keys)?;
        for (key, value) in keys.iter().zip(&values) {
            self.read(key, value);
        }
        Ok(values)
    }

    fn read_for_swap(&self, key: &str) -> Result<Snapshot<TracedCas>, StoreError> {
        let snapshot = self.store.read_for_swap(key)?;
        self.read(key, &snapshot.value);
        Ok(Snapshot {
            cas: TracedCas {
                key: key.to_owned(),
                inner: snapshot.cas,
            },
            value: snapshot.value,
        })
    }

    fn swap(&self, cas: TracedCas, value: &[u8]) -> Result<Swap<TracedCas>, StoreError> {
        let key = cas.key;
        match self.store.swap(cas.inner, value)? {
            Swap::Done => {
                self.wrote(&key);
                Ok(Swap::Done)
            }
            Swap::Conflict(fresh) => {
                let fresh = fresh.map(|snapshot| {
                    self.read(&key, &snapshot.value);
                    Snapshot {
                        cas: TracedCas {
                            key: key.clone(),
                            inner: snapshot.cas,
                        },
                        value: snapshot.value,
                    }
                });
                Ok(Swap::Conflict(fresh))
            }
        }
    }

    fn increment(&self, key: &str, delta: i64) -> Result<i64, StoreError> {
        // An increment reads the counter it adds to: a corrupted counter is
        // read (and refused) here.
        let before = self.store.raw(key);
        self.read(key, &before);
        let value = self.store.increment(key, delta)?;
        self.wrote(key);
        Ok(value)
    }

    fn put(&self, key: &str, value: &[u8]) -> Result<(), StoreError> {
        self.store.put(key, value)?;
        self.wrote(key);
        Ok(())
    }
}
