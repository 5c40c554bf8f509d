//! The invariants every stored document keeps, checked where they must
//! hold: after every decode of a document a change is made on (a broken one
//! is answered 500 and changed no further) and before every swap (our own
//! write must keep them: a bug, so a panic) — in debug builds, which is how
//! the unit, interleaving and simulation tests and the fuzzers run. Release
//! builds skip them: they cost a pass over the document per write.
//!
//! The checks are time-free on purpose: every write that adds units first
//! records expired primaries as expired (`parts::prune`) and checks room,
//! so whatever any clock says, held and confirmed parts never exceed a
//! document's units and never share a seat.

use crate::limits::FEED_PAGE_RECORDS;
use crate::model::{
    CustomerDoc, FeedPage, InventoryDoc, LedgerPage, Part, PartStatus, SectionSummary,
};

/// A document type whose stored values have invariants.
pub trait Invariants {
    /// What is wrong with this value, if anything.
    fn violation(&self) -> Option<String>;
}

/// Held (whatever their expiry) or confirmed: what a document promised.
fn promised(part: &Part) -> bool {
    matches!(part.status, PartStatus::Held | PartStatus::Confirmed)
}

impl Invariants for InventoryDoc {
    fn violation(&self) -> Option<String> {
        let promised_units: u64 = self
            .parts
            .iter()
            .filter(|p| promised(p))
            .map(|p| u64::from(p.units()))
            .sum();
        let capacity = u64::from(self.capacity());
        if promised_units + u64::from(self.sold_moved) > capacity {
            return Some(format!(
                "{promised_units} units held or confirmed and {} moved, of {capacity}",
                self.sold_moved
            ));
        }
        if !self.seats.is_empty() {
            let mut seats: Vec<&String> = self
                .parts
                .iter()
                .filter(|p| promised(p))
                .flat_map(|p| &p.seats)
                .collect();
            if let Some(seat) = seats.iter().find(|s| !self.seats.contains(s)) {
                return Some(format!("seat {seat} is not a seat of this block"));
            }
            let total = seats.len();
            seats.sort_unstable();
            seats.dedup();
            if seats.len() != total {
                return Some("a seat is in two held or confirmed parts".into());
            }
        }
        records_violation(self)
    }
}

/// Records are numbered without gaps and end at the document's count.
fn records_violation(doc: &InventoryDoc) -> Option<String> {
    let gap = doc.changes.windows(2).any(|w| w[1].seq != w[0].seq + 1);
    let last_ok = doc.changes.last().is_none_or(|r| r.seq == doc.changes_seq);
    (gap || !last_ok).then(|| "change records out of sequence".into())
}

impl Invariants for LedgerPage {
    fn violation(&self) -> Option<String> {
        if self.parts.iter().any(|p| p.status != PartStatus::Confirmed) {
            return Some("a ledger page holds a part that is not confirmed".into());
        }
        let mut nonces: Vec<&String> = self.parts.iter().map(|p| &p.nonce).collect();
        let total = nonces.len();
        nonces.sort_unstable();
        nonces.dedup();
        (nonces.len() != total).then(|| "a ledger page holds a part twice".into())
    }
}

impl Invariants for FeedPage {
    fn violation(&self) -> Option<String> {
        // Page n holds records n × size + 1 ..= (n + 1) × size, in order.
        let first = self.page.saturating_mul(FEED_PAGE_RECORDS) + 1;
        let last = first + FEED_PAGE_RECORDS - 1;
        let gap = self.records.windows(2).any(|w| w[1].seq != w[0].seq + 1);
        let outside = self.records.iter().any(|r| r.seq < first || r.seq > last);
        (gap || outside).then(|| format!("feed page {} holds records out of place", self.page))
    }
}

impl Invariants for CustomerDoc {
    fn violation(&self) -> Option<String> {
        let over = self.customers.len() > crate::limits::CUSTOMERS_PER_BUCKET_MAX;
        over.then(|| "a customer bucket follows more customers than it may".into())
    }
}

impl Invariants for SectionSummary {
    fn violation(&self) -> Option<String> {
        let over = self.shards.len() > crate::limits::SHARDS_PER_SECTION_MAX as usize;
        over.then(|| "a section summary lists more shards than a section has".into())
    }
}

/// What a write of an inventory document did wrong, from its parts as read
/// (`before`) to the value about to be swapped in: a part that had ended
/// (confirmed, released, expired) never changes status again, and a
/// confirmed part never leaves the document except by a ledger move (which
/// does not come through here).
pub fn transition_violation(before: &[Part], after: &InventoryDoc) -> Option<String> {
    for old in before.iter().filter(|p| p.status != PartStatus::Held) {
        match after.part(&old.nonce) {
            Some(new) if new.status != old.status => {
                return Some(format!(
                    "part {} went from {:?} to {:?}",
                    old.nonce, old.status, new.status
                ));
            }
            None if old.status == PartStatus::Confirmed => {
                return Some(format!("confirmed part {} was dropped", old.nonce));
            }
            _ => {}
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn part(nonce: &str, status: PartStatus, quantity: u32) -> Part {
        let mut part = Part::new(nonce, status, 10, 0);
        part.quantity = quantity;
        part
    }

    #[test]
    fn inventory_vectors() {
        let shard = |parts: Vec<Part>, sold_moved: u32| InventoryDoc {
            shard_units: 4,
            parts,
            sold_moved,
            ..InventoryDoc::default()
        };
        let cases = [
            (shard(vec![part("a", PartStatus::Held, 4)], 0), true),
            (shard(vec![part("a", PartStatus::Held, 3)], 1), true),
            (shard(vec![part("a", PartStatus::Held, 3)], 2), false),
            (
                shard(
                    vec![
                        part("a", PartStatus::Confirmed, 3),
                        part("b", PartStatus::Released, 4),
                    ],
                    0,
                ),
                true,
            ),
            (
                shard(
                    vec![
                        part("a", PartStatus::Confirmed, 3),
                        part("b", PartStatus::Held, 2),
                    ],
                    0,
                ),
                false,
            ),
        ];
        for (index, (doc, ok)) in cases.iter().enumerate() {
            assert_eq!(doc.violation().is_none(), *ok, "case {index}: {doc:?}");
        }
    }

    #[test]
    fn seat_vectors() {
        let seated = |parts: Vec<(&str, PartStatus, &str)>| InventoryDoc {
            seats: vec!["A-1".into(), "A-2".into()],
            parts: parts
                .into_iter()
                .map(|(nonce, status, seat)| {
                    let mut part = Part::new(nonce, status, 10, 0);
                    part.seats = vec![seat.into()];
                    part
                })
                .collect(),
            ..InventoryDoc::default()
        };
        let held = PartStatus::Held;
        assert!(
            seated(vec![("a", held, "A-1"), ("b", held, "A-2")])
                .violation()
                .is_none()
        );
        assert!(
            seated(vec![("a", held, "A-1"), ("b", PartStatus::Expired, "A-1")])
                .violation()
                .is_none()
        );
        assert!(
            seated(vec![
                ("a", held, "A-1"),
                ("b", PartStatus::Confirmed, "A-1")
            ])
            .violation()
            .is_some()
        );
        assert!(seated(vec![("a", held, "B-9")]).violation().is_some());
    }

    #[test]
    fn transition_vectors() {
        let doc = |parts: Vec<Part>| InventoryDoc {
            shard_units: 10,
            parts,
            ..InventoryDoc::default()
        };
        let confirmed = part("a", PartStatus::Confirmed, 1);
        let released = part("a", PartStatus::Released, 1);
        let held = part("a", PartStatus::Held, 1);
        let before = [confirmed.clone()];
        assert!(transition_violation(&before, &doc(vec![confirmed.clone()])).is_none());
        assert!(transition_violation(&before, &doc(vec![released.clone()])).is_some());
        assert!(
            transition_violation(&before, &doc(vec![])).is_some(),
            "lost"
        );
        assert!(
            transition_violation(std::slice::from_ref(&released), &doc(vec![])).is_none(),
            "pruned"
        );
        assert!(transition_violation(&[released], &doc(vec![held.clone()])).is_some());
        assert!(transition_violation(&[held], &doc(vec![confirmed])).is_none());
    }
}
