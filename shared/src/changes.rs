//! Change records and sales tallies, written by the CAS that makes the change.
//!
//! Every write of an inventory document goes through one choke point
//! (`parts::update_document`); there, the parts as read are compared with
//! the parts about to be written, and each difference becomes a record in
//! the same document: a part placed, confirmed, released, expired, or undone
//! (deleted while held: a placement nobody was told about). So a change
//! never lands without its record, and a record never exists without its
//! change: both are one value under one compare-and-swap. A write that lost
//! its CAS is re-derived from the value it lost to, so a record is never
//! written twice.
//!
//! Each document numbers its records (`seq`, from 1, without gaps) and keeps
//! every record not yet copied to its feed pages (`feed_pages`) and the last
//! [`CHANGES_PER_DOCUMENT_MAX`](crate::limits::CHANGES_PER_DOCUMENT_MAX) of those copied; a consumer resumes from the
//! last `seq` it saw of every document (the feed's cursor). Record times never go
//! backwards within a document, even when the writers' clocks disagree, so
//! (time, document, seq) orders the records of one document exactly and of
//! different documents as well as the writers' clocks allow.
//!
//! The tally ([`Tally`]) folds the same differences into bounded counters:
//! totals, the last [`TALLY_MINUTES_MAX`] minutes, a histogram of hold →
//! confirm times, contention, and the busiest customers. The stats route
//! adds the tallies of an event's documents: bounded work however long the
//! sale ran.

use crate::limits::{BURST_WINDOW_SECONDS, TALLY_CUSTOMERS_MAX, TALLY_MINUTES_MAX};
use crate::model::{InventoryDoc, Part, PartStatus};
use crate::records::{ChangeKind, ChangeRecord, CustomerTally, MinuteTally, Tally};

/// Records in `doc` (which holds the parts about to be written) what
/// changed since `before` (its parts as read), and tallies it. Called once
/// per written value, inside the CAS loop: a retry starts again from the
/// value it lost to. `paged_feed`: the event has feed pages, so records not
/// yet copied to them stay (see [`trim`]); `kept_max`: the records a
/// document keeps ([`CHANGES_PER_DOCUMENT_MAX`](crate::limits::CHANGES_PER_DOCUMENT_MAX) but in tests).
pub fn record(
    doc: &mut InventoryDoc,
    before: &[Part],
    (now_ms, cas_retries): (u64, u32),
    (paged_feed, kept_max): (bool, usize),
) {
    // Never before the last record: the writers' clocks may disagree.
    let at_ms = doc
        .changes
        .last()
        .map_or(now_ms, |last| last.at_ms.max(now_ms));
    let mut found = Vec::new();
    for part in &doc.parts {
        let was = before.iter().find(|p| p.nonce == part.nonce);
        let kind = match (was.map(|p| p.status), part.status) {
            (None, PartStatus::Held) => ChangeKind::Placed,
            (Some(PartStatus::Held), PartStatus::Confirmed) => ChangeKind::Confirmed,
            (Some(PartStatus::Held), PartStatus::Released) => ChangeKind::Released,
            (Some(PartStatus::Held), PartStatus::Expired) => ChangeKind::Expired,
            _ => continue,
        };
        found.push((kind, part.clone()));
    }
    for part in before {
        let gone = !doc.parts.iter().any(|p| p.nonce == part.nonce);
        if gone && part.status == PartStatus::Held {
            found.push((ChangeKind::Undone, part.clone()));
        }
    }
    for (kind, part) in found {
        doc.tally.count(kind, &part, at_ms);
        doc.changes_seq += 1;
        doc.changes.push(ChangeRecord {
            seq: doc.changes_seq,
            at_ms,
            kind,
            primary_doc: part.primary_doc,
            quantity: part.quantity,
            seats: part.seats,
            customer_id: part.customer_id,
            expires_ms: (kind == ChangeKind::Placed).then_some(part.expires_ms),
            nonce: part.nonce,
        });
    }
    trim(doc, paged_feed, kept_max);
    doc.tally.writes += 1;
    doc.tally.cas_retries += u64::from(cas_retries);
    debug_assert!(
        doc.changes
            .last()
            .is_none_or(|last| last.seq == doc.changes_seq),
        "records are numbered without gaps"
    );
}

/// Drops the oldest records beyond the newest [`CHANGES_PER_DOCUMENT_MAX`](crate::limits::CHANGES_PER_DOCUMENT_MAX):
/// with feed pages (`paged_feed`) only those already copied to a page
/// (`seq <= paged`), so a record is always in the document or in a page;
/// without (an event created before pages existed) regardless.
pub fn trim(doc: &mut InventoryDoc, paged_feed: bool, kept_max: usize) {
    let excess = doc.changes.len().saturating_sub(kept_max);
    let droppable = if paged_feed {
        doc.changes
            .iter()
            .take(excess)
            .take_while(|r| r.seq <= doc.paged)
            .count()
    } else {
        excess
    };
    // Not asserted: `paged` and the records of a damaged stored value may
    // disagree, and such a value must still be writable.
    crate::coverage::hit_if(droppable > 0, crate::coverage::Path::RecordsPruned);
    doc.changes.drain(..droppable);
}

impl Tally {
    /// Counts one change of `part` at `at_ms`.
    fn count(&mut self, kind: ChangeKind, part: &Part, at_ms: u64) {
        if !part.is_primary() {
            return;
        }
        match kind {
            ChangeKind::Placed => self.holds += 1,
            ChangeKind::Confirmed => {
                self.confirmations += 1;
                let waited_ms = at_ms.saturating_sub(part.created_ms);
                let bucket = (u64::BITS - waited_ms.leading_zeros()).saturating_sub(1) as usize;
                if self.confirm_ms_log2.len() <= bucket {
                    self.confirm_ms_log2.resize(bucket + 1, 0);
                }
                self.confirm_ms_log2[bucket] += 1;
            }
            ChangeKind::Released => self.releases += 1,
            ChangeKind::Expired => self.expiries += 1,
            ChangeKind::Undone => self.undone += 1,
        }
        self.count_minute(kind, at_ms);
        if let Some(customer_id) = &part.customer_id {
            self.count_customer(kind, customer_id, at_ms);
        }
    }

    fn count_minute(&mut self, kind: ChangeKind, at_ms: u64) {
        let minute = at_ms / 60_000;
        if self.minutes.last().is_none_or(|last| last.minute < minute) {
            self.minutes.push(MinuteTally {
                minute,
                ..MinuteTally::default()
            });
        }
        // Records of one document never go back in time, so the minute is
        // the last one (or, at worst, an older one still kept).
        let Some(entry) = self.minutes.iter_mut().rev().find(|m| m.minute == minute) else {
            return;
        };
        match kind {
            ChangeKind::Placed => entry.holds += 1,
            ChangeKind::Confirmed => entry.confirmations += 1,
            ChangeKind::Released => entry.releases += 1,
            ChangeKind::Expired => entry.expiries += 1,
            // An undone hold was never granted, and its placement is
            // counted in its minute: take it back there.
            ChangeKind::Undone => entry.holds = entry.holds.saturating_sub(1),
        }
        let excess = self.minutes.len().saturating_sub(TALLY_MINUTES_MAX);
        self.minutes.drain(..excess);
    }

    fn count_customer(&mut self, kind: ChangeKind, customer_id: &str, at_ms: u64) {
        let index = match self
            .customers
            .iter()
            .position(|c| c.customer_id == customer_id)
        {
            Some(index) => index,
            None if kind != ChangeKind::Placed => return,
            None => {
                if self.customers.len() >= TALLY_CUSTOMERS_MAX {
                    let fewest = (0..self.customers.len())
                        .min_by_key(|index| self.customers[*index].holds)
                        .unwrap_or(0);
                    self.customers.swap_remove(fewest);
                }
                self.customers.push(CustomerTally {
                    customer_id: customer_id.to_owned(),
                    window_start_ms: at_ms,
                    ..CustomerTally::default()
                });
                self.customers.len() - 1
            }
        };
        let customer = &mut self.customers[index];
        match kind {
            ChangeKind::Placed => {
                customer.holds += 1;
                if at_ms.saturating_sub(customer.window_start_ms) > BURST_WINDOW_SECONDS * 1_000 {
                    customer.window_start_ms = at_ms;
                    customer.window_holds = 0;
                }
                customer.window_holds += 1;
                customer.burst_holds_max = customer.burst_holds_max.max(customer.window_holds);
            }
            ChangeKind::Confirmed => customer.confirmations += 1,
            ChangeKind::Undone => customer.holds = customer.holds.saturating_sub(1),
            ChangeKind::Released | ChangeKind::Expired => {}
        }
        debug_assert!(self.customers.len() <= TALLY_CUSTOMERS_MAX);
    }

    /// Adds another document's tally (for the event's stats).
    pub fn add(&mut self, other: &Tally) {
        self.holds += other.holds;
        self.confirmations += other.confirmations;
        self.releases += other.releases;
        self.expiries += other.expiries;
        self.undone += other.undone;
        self.writes += other.writes;
        self.cas_retries += other.cas_retries;
        for minute in &other.minutes {
            match self.minutes.iter_mut().find(|m| m.minute == minute.minute) {
                Some(entry) => {
                    entry.holds += minute.holds;
                    entry.confirmations += minute.confirmations;
                    entry.releases += minute.releases;
                    entry.expiries += minute.expiries;
                }
                None => self.minutes.push(minute.clone()),
            }
        }
        self.minutes.sort_by_key(|m| m.minute);
        if self.confirm_ms_log2.len() < other.confirm_ms_log2.len() {
            self.confirm_ms_log2.resize(other.confirm_ms_log2.len(), 0);
        }
        for (sum, count) in self.confirm_ms_log2.iter_mut().zip(&other.confirm_ms_log2) {
            *sum += count;
        }
        for customer in &other.customers {
            match self
                .customers
                .iter_mut()
                .find(|c| c.customer_id == customer.customer_id)
            {
                Some(entry) => {
                    entry.holds += customer.holds;
                    entry.confirmations += customer.confirmations;
                    entry.burst_holds_max = entry.burst_holds_max.max(customer.burst_holds_max);
                }
                None => self.customers.push(customer.clone()),
            }
        }
    }

    /// The median hold → confirm time, from the histogram: the lower bound
    /// of the bucket that holds the middle confirmation.
    pub fn median_confirm_ms(&self) -> Option<u64> {
        let total: u64 = self.confirm_ms_log2.iter().sum();
        if total == 0 {
            return None;
        }
        let mut seen = 0;
        for (bucket, count) in self.confirm_ms_log2.iter().enumerate() {
            seen += count;
            if seen * 2 >= total {
                return Some(if bucket == 0 { 0 } else { 1 << bucket });
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::limits::{BURST_HOLDS_MIN, CHANGES_PER_DOCUMENT_MAX};

    fn held(nonce: &str, quantity: u32, customer: &str) -> Part {
        let mut part = Part::new(nonce, PartStatus::Held, 10_000, 1_000);
        part.quantity = quantity;
        part.customer_id = Some(customer.into());
        part
    }

    fn doc_with(parts: Vec<Part>) -> InventoryDoc {
        InventoryDoc {
            shard_units: 100,
            parts,
            ..InventoryDoc::default()
        }
    }

    #[test]
    fn each_part_change_is_one_record_numbered_without_gaps() {
        let mut doc = doc_with(vec![held("a", 2, "c1")]);
        record(&mut doc, &[], (1_000, 0), (false, CHANGES_PER_DOCUMENT_MAX));
        let before = doc.parts.clone();
        doc.parts[0].status = PartStatus::Confirmed;
        doc.parts.push(held("b", 1, "c2"));
        record(
            &mut doc,
            &before,
            (2_000, 3),
            (false, CHANGES_PER_DOCUMENT_MAX),
        );
        let before = doc.parts.clone();
        doc.parts.retain(|p| p.nonce != "b");
        record(
            &mut doc,
            &before,
            (3_000, 0),
            (false, CHANGES_PER_DOCUMENT_MAX),
        );
        let kinds: Vec<(u64, ChangeKind, &str)> = doc
            .changes
            .iter()
            .map(|r| (r.seq, r.kind, r.nonce.as_str()))
            .collect();
        assert_eq!(
            kinds,
            vec![
                (1, ChangeKind::Placed, "a"),
                (2, ChangeKind::Confirmed, "a"),
                (3, ChangeKind::Placed, "b"),
                (4, ChangeKind::Undone, "b"),
            ]
        );
        assert_eq!(doc.tally.holds, 2);
        assert_eq!(doc.tally.undone, 1);
        assert_eq!(doc.tally.confirmations, 1);
        assert_eq!((doc.tally.writes, doc.tally.cas_retries), (3, 3));
        // The undone hold is taken back from its minute: one hold granted.
        assert_eq!(doc.tally.minutes.iter().map(|m| m.holds).sum::<u64>(), 1);
    }

    #[test]
    fn a_write_without_part_changes_records_nothing() {
        let mut doc = doc_with(vec![held("a", 2, "c1")]);
        let before = doc.parts.clone();
        record(
            &mut doc,
            &before,
            (1_000, 0),
            (false, CHANGES_PER_DOCUMENT_MAX),
        );
        assert!(doc.changes.is_empty());
        // Pruning an ended part, or moving a confirmed one to the ledger, is
        // not a change of the sale.
        doc.parts[0].status = PartStatus::Released;
        let before = doc.parts.clone();
        doc.parts.clear();
        record(
            &mut doc,
            &before,
            (2_000, 0),
            (false, CHANGES_PER_DOCUMENT_MAX),
        );
        assert!(doc.changes.is_empty());
    }

    #[test]
    fn record_times_never_go_back_within_a_document() {
        let mut doc = doc_with(vec![held("a", 1, "c1")]);
        record(&mut doc, &[], (5_000, 0), (false, CHANGES_PER_DOCUMENT_MAX));
        let before = doc.parts.clone();
        doc.parts.push(held("b", 1, "c1"));
        // A writer whose clock is behind.
        record(
            &mut doc,
            &before,
            (4_000, 0),
            (false, CHANGES_PER_DOCUMENT_MAX),
        );
        assert_eq!(doc.changes[1].at_ms, 5_000);
    }

    #[test]
    fn only_the_last_records_are_kept_and_numbering_goes_on() {
        let mut doc = doc_with(Vec::new());
        for n in 0..(CHANGES_PER_DOCUMENT_MAX + 5) {
            let before = doc.parts.clone();
            doc.parts.push(held(&format!("n{n}"), 1, "c"));
            record(
                &mut doc,
                &before,
                (1_000 + n as u64, 0),
                (false, CHANGES_PER_DOCUMENT_MAX),
            );
        }
        assert_eq!(doc.changes.len(), CHANGES_PER_DOCUMENT_MAX);
        assert_eq!(doc.changes[0].seq, 6);
        assert_eq!(doc.changes_seq, CHANGES_PER_DOCUMENT_MAX as u64 + 5);
    }

    #[test]
    fn bursts_and_busiest_customers_are_bounded() {
        let mut doc = doc_with(Vec::new());
        for n in 0..BURST_HOLDS_MIN {
            let before = doc.parts.clone();
            doc.parts.push(held(&format!("burst{n}"), 1, "greedy"));
            record(
                &mut doc,
                &before,
                (1_000 + n * 100, 0),
                (false, CHANGES_PER_DOCUMENT_MAX),
            );
        }
        for n in 0..(TALLY_CUSTOMERS_MAX as u64 + 3) {
            let before = doc.parts.clone();
            doc.parts
                .push(held(&format!("one{n}"), 1, &format!("c{n}")));
            record(
                &mut doc,
                &before,
                (60_000 + n * 100_000, 0),
                (false, CHANGES_PER_DOCUMENT_MAX),
            );
        }
        assert_eq!(doc.tally.customers.len(), TALLY_CUSTOMERS_MAX);
        let greedy = doc
            .tally
            .customers
            .iter()
            .find(|c| c.customer_id == "greedy");
        assert!(greedy.is_some_and(CustomerTally::is_burst), "{greedy:?}");
        assert_eq!(
            doc.tally.customers.iter().filter(|c| c.is_burst()).count(),
            1
        );
    }

    #[test]
    fn median_confirm_time_from_the_histogram() {
        let tally = Tally {
            confirm_ms_log2: vec![0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 3, 1],
            ..Tally::default()
        };
        assert_eq!(tally.median_confirm_ms(), Some(2_048));
        assert_eq!(Tally::default().median_confirm_ms(), None);
    }
}
