//! The sale as the stored documents say it, read straight from the store
//! (not through the core), and its invariants.
//!
//! "Nothing written that changes the sale" is judged on [`Sale`], what a
//! client could ever observe or buy: every hold's status as a client sees
//! it, the units each inventory document has taken, and each customer's
//! counted units. Tidying is allowed (recording an expiry, pruning ended
//! parts, resolving a secondary part, moving confirmed parts to the ledger,
//! giving back a reservation), since it changes none of these the wrong way.

use booking_core::model::{
    CustomerDoc, HoldStatus, InventoryDoc, LedgerPage, Occupancy, Part, PartStatus,
};
use booking_core::{HoldRef, MemoryStore};
use std::collections::{BTreeMap, BTreeSet};

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Sale {
    /// (shard or block key, nonce) of every primary part: the status its
    /// hold shows a client. Parts moved to a ledger page count under their
    /// shard's key.
    holds: BTreeMap<(String, String), HoldStatus>,
    /// Per inventory document: units held, sold or unresolved (not
    /// sellable), counting `sold_moved`.
    taken: BTreeMap<String, u64>,
    /// (bucket key, customer): units the customer limit counts.
    customers: BTreeMap<(String, String), u64>,
}

impl Sale {
    /// The sale in `store` at `now_ms`; values that do not decode are left
    /// out (the corrupted one).
    pub fn read(store: &MemoryStore, now_ms: u64) -> Sale {
        let mut sale = Sale::default();
        for key in store.keys() {
            let Some(bytes) = store.raw(&key) else {
                continue;
            };
            if key.contains("/s/") {
                if let Ok(doc) = serde_json::from_slice::<InventoryDoc>(&bytes) {
                    sale.add_inventory(&key, &doc, now_ms);
                }
            } else if key.contains("/l/") {
                if let Ok(page) = serde_json::from_slice::<LedgerPage>(&bytes) {
                    let shard = key.replacen("/l/", "/s/", 1);
                    sale.add_primaries(&shard, &page.parts, now_ms);
                }
            } else if key.contains("/c/")
                && let Ok(doc) = serde_json::from_slice::<CustomerDoc>(&bytes)
            {
                for (customer, entry) in &doc.customers {
                    let units = entry
                        .active
                        .iter()
                        .chain(&entry.booked)
                        .map(|h| u64::from(h.quantity))
                        .sum::<u64>()
                        + u64::from(entry.booked_units);
                    sale.customers
                        .insert((key.clone(), customer.clone()), units);
                }
            }
        }
        sale
    }

    fn add_inventory(&mut self, key: &str, doc: &InventoryDoc, now_ms: u64) {
        let taken: u64 = doc
            .parts
            .iter()
            .filter(|part| part.occupancy(now_ms) != Occupancy::Free)
            .map(|part| u64::from(part.units()))
            .sum();
        self.taken
            .insert(key.to_owned(), taken + u64::from(doc.sold_moved));
        self.add_primaries(key, &doc.parts, now_ms);
    }

    fn add_primaries(&mut self, key: &str, parts: &[Part], now_ms: u64) {
        for part in parts.iter().filter(|part| part.is_primary()) {
            self.holds.insert(
                (key.to_owned(), part.nonce.clone()),
                part.hold_status(now_ms),
            );
        }
    }

    /// How `after` changed the sale, if it did: a hold that appeared or
    /// changed status (disappearing is allowed for ended holds: pruning),
    /// a document that took more units, a customer counted for more.
    pub fn changed_to(&self, after: &Sale) -> Option<String> {
        for (place, status) in &after.holds {
            match self.holds.get(place) {
                None => return Some(format!("a new hold {place:?} ({status:?})")),
                Some(before) if before != status => {
                    return Some(format!("hold {place:?} went {before:?} -> {status:?}"));
                }
                Some(_) => {}
            }
        }
        for (place, status) in &self.holds {
            let ended = matches!(status, HoldStatus::Released | HoldStatus::Expired);
            if !ended && !after.holds.contains_key(place) {
                return Some(format!("hold {place:?} ({status:?}) vanished"));
            }
        }
        for (key, units) in &after.taken {
            if let Some(before) = self.taken.get(key)
                && units > before
            {
                return Some(format!("{key} took {before} -> {units} units"));
            }
        }
        for (customer, units) in &after.customers {
            if units > self.customers.get(customer).unwrap_or(&0) {
                return Some(format!("customer {customer:?} counted for more: {units}"));
            }
        }
        None
    }
}

/// The invariants of the stored documents at `now_ms`, in every section
/// for which `intact(section)`: no document over its capacity, every
/// occupied seat one of its block's seats and in one live part only, every
/// hold of `confirmed` still confirmed and every hold of `placed` still
/// there. `limit` is the customer limit, checked on every bucket that
/// decodes except `damaged` (the key a run corrupted, if any). Returns the
/// first violation.
pub fn check_documents(
    store: &MemoryStore,
    now_ms: u64,
    (intact, damaged): (impl Fn(usize) -> bool, &str),
    (confirmed, placed): (&[String], &[String]),
    limit: u32,
) -> Option<String> {
    // Per generation and section: a register damaged into another valid
    // value can let a `PUT` create the event again under a new generation
    // (a known limit: the register is the root of trust), whose documents
    // are a sale of their own.
    let mut seats_taken: BTreeMap<(String, usize), BTreeSet<String>> = BTreeMap::new();
    for key in store.keys() {
        let Some(bytes) = store.raw(&key) else {
            continue;
        };
        if let Some(section) = section_of(&key, "/s/").filter(|s| intact(*s)) {
            let Ok(doc) = serde_json::from_slice::<InventoryDoc>(&bytes) else {
                continue;
            };
            let generation = key.split("/s/").next().unwrap_or_default().to_owned();
            let taken = seats_taken.entry((generation, section)).or_default();
            if let Some(broken) = document_violation(&key, &doc, now_ms, taken) {
                return Some(broken);
            }
        } else if key.contains("/c/")
            && key != damaged
            && let Ok(doc) = serde_json::from_slice::<CustomerDoc>(&bytes)
            && let Some((customer, entry)) = doc.customers.iter().find(|(_, e)| e.units() > limit)
        {
            return Some(format!(
                "{key}: customer {customer} counts {} units, over {limit}",
                entry.units()
            ));
        }
    }
    for (ids, wanted) in [(confirmed, true), (placed, false)] {
        for id in ids {
            if let Some(broken) = hold_violation(store, id, wanted, &intact) {
                return Some(broken);
            }
        }
    }
    None
}

/// The section index of an inventory (`/s/`) or ledger (`/l/`) key.
pub fn section_of(key: &str, kind: &str) -> Option<usize> {
    let (_, rest) = key.split_once(kind)?;
    rest.split('/').next()?.parse().ok()
}

fn document_violation(
    key: &str,
    doc: &InventoryDoc,
    now_ms: u64,
    seats_taken: &mut BTreeSet<String>,
) -> Option<String> {
    let occupying = |part: &&Part| {
        matches!(
            part.occupancy(now_ms),
            Occupancy::Held | Occupancy::Sold | Occupancy::Unresolved
        )
    };
    let units: u64 = doc
        .parts
        .iter()
        .filter(occupying)
        .map(|p| u64::from(p.units()))
        .sum();
    let sold_or_held = units + u64::from(doc.sold_moved);
    if sold_or_held > u64::from(doc.capacity()) {
        return Some(format!(
            "{key}: {sold_or_held} units taken of {}",
            doc.capacity()
        ));
    }
    for part in doc.parts.iter().filter(occupying) {
        for seat in &part.seats {
            if !doc.seats.contains(seat) {
                return Some(format!(
                    "{key}: part {} takes seat {seat} of another block",
                    part.nonce
                ));
            }
            if !seats_taken.insert(seat.clone()) {
                return Some(format!("{key}: seat {seat} taken twice"));
            }
        }
    }
    None
}

/// A hold of the run that must still be there (`confirmed`: and confirmed).
fn hold_violation(
    store: &MemoryStore,
    id: &str,
    confirmed: bool,
    intact: &impl Fn(usize) -> bool,
) -> Option<String> {
    let Some(hold) = HoldRef::parse(id) else {
        return Some(format!("the core answered a hold id it cannot parse: {id}"));
    };
    if !intact(hold.section) {
        return None;
    }
    // The hold's shard in any generation: a damaged register can make a
    // repeated `PUT` create the event again under a new generation.
    let suffix = format!("/s/{}/{}", hold.section, hold.doc);
    let shards: Vec<String> = store
        .keys()
        .into_iter()
        .filter(|k| k.starts_with(&format!("e/{}/", hold.event_id)) && k.ends_with(&suffix))
        .collect();
    let parts: Vec<Part> = shards
        .iter()
        .filter_map(|shard| store.inventory_with_ledger(shard))
        .filter_map(|doc| doc.part(&hold.nonce).filter(|p| p.is_primary()).cloned())
        .collect();
    if shards
        .iter()
        .any(|shard| store.inventory_with_ledger(shard).is_none())
    {
        // A shard that does not decode may hold it.
        return None;
    }
    match parts.first() {
        None => Some(format!(
            "hold {id} answered to a client is gone from {shards:?}"
        )),
        Some(part) if confirmed && part.status != PartStatus::Confirmed => {
            Some(format!("confirmed hold {id} is now {:?}", part.status))
        }
        Some(_) => None,
    }
}
