//! Feed pages: where an inventory document's change records are copied
//! before the document drops them, so that a feed consumer far behind still
//! reads every record, up to a documented retention.
//!
//! Each inventory document has a ring of [`FEED_PAGES_PER_DOCUMENT`] pages,
//! pre-created with the event (a swap on a missing key is an upsert on
//! Spin). Page `n` holds records `n × FEED_PAGE_RECORDS + 1 ..= (n + 1) ×
//! FEED_PAGE_RECORDS`, oldest first, and lives in slot `n %
//! FEED_PAGES_PER_DOCUMENT`; writing page `n` into a slot that holds an older
//! page replaces it, which is the retention. A writer never replaces a
//! newer page with an older one (a stalled writer): the page numbers are
//! compared inside the CAS.
//!
//! A copy is two or more CAS writes, in this order: the records go into
//! their pages (those already there are skipped), then the document's
//! `paged` rises to the newest record copied (never falls). The document
//! drops only records at or below `paged` (see `changes::trim`), so every
//! record is in the document, or in a page, or both (after a crash between
//! the writes, until the next copy finishes the job). Copies follow writes,
//! best effort, once [`FEED_MOVE_RECORDS_MIN`](crate::limits::FEED_MOVE_RECORDS_MIN) records wait; a write that
//! finds more than [`FEED_UNPAGED_RECORDS_MAX`] waiting (the copies kept
//! failing) copies them first or answers 503, so a document stays bounded.

use crate::cas::{self, Change};
use crate::changes;
use crate::context::{Ctx, Tuning};
use crate::env::Env;
use crate::error::BookingError;
use crate::limits::{FEED_PAGE_RECORDS, FEED_PAGES_PER_DOCUMENT, FEED_UNPAGED_RECORDS_MAX};
use crate::model::{EventMeta, FeedPage, InventoryDoc};
use crate::records::ChangeRecord;
use crate::store::Store;

/// The page that holds record `seq` (from 1).
pub fn page_of(seq: u64) -> u64 {
    seq.saturating_sub(1) / FEED_PAGE_RECORDS
}

/// The slot of the ring that holds page `page`.
pub fn slot_of(page: u64) -> usize {
    (page % FEED_PAGES_PER_DOCUMENT as u64) as usize
}

/// The first record of page `page`.
pub fn first_seq(page: u64) -> u64 {
    page.saturating_mul(FEED_PAGE_RECORDS).saturating_add(1)
}

/// Records of `doc` not yet copied to its pages.
pub fn unpaged(doc: &InventoryDoc) -> u64 {
    doc.changes_seq.saturating_sub(doc.paged)
}

fn unpaged_records(doc: &InventoryDoc) -> Vec<ChangeRecord> {
    doc.changes
        .iter()
        .filter(|r| r.seq > doc.paged)
        .cloned()
        .collect()
}

/// The records to copy after a write (`wrote`) that left `doc`: once
/// [`FEED_MOVE_RECORDS_MIN`](crate::limits::FEED_MOVE_RECORDS_MIN) wait, and only for an event with pages.
pub fn due(
    meta: &EventMeta,
    doc: &InventoryDoc,
    wrote: bool,
    tuning: &Tuning,
) -> Vec<ChangeRecord> {
    if !wrote || !meta.feed_pages || unpaged(doc) < tuning.feed_move_records_min {
        return Vec::new();
    }
    unpaged_records(doc)
}

/// The records a write must copy before it writes `doc` as read: more than
/// [`FEED_UNPAGED_RECORDS_MAX`] wait, because the copies after earlier
/// writes failed. `None` when it may write.
pub fn overdue(meta: &EventMeta, doc: &InventoryDoc) -> Option<Vec<ChangeRecord>> {
    (meta.feed_pages && unpaged(doc) > FEED_UNPAGED_RECORDS_MAX).then(|| unpaged_records(doc))
}

/// Runs a write of document `place` (`attempt`), which stops with an
/// error after setting its argument to the records that are
/// [`overdue`]; then copies them and runs it once more. Overdue again (the
/// document is written faster than records can be copied), the answer is
/// the error: 503. So a document never holds more than
/// [`FEED_UNPAGED_RECORDS_MAX`] waiting records as read.
pub fn copying_first<S: Store, E: Env, T>(
    ctx: &Ctx<'_, S, E>,
    meta: &EventMeta,
    place: (usize, usize),
    mut attempt: impl FnMut(&mut Option<Vec<ChangeRecord>>) -> Result<T, BookingError>,
) -> Result<T, BookingError> {
    let mut overdue = None;
    let result = attempt(&mut overdue);
    let Some(records) = overdue.take() else {
        return result;
    };
    copy(ctx, meta, place, &records)?;
    attempt(&mut overdue)
}

/// Copies `records` (records of document `doc` not yet in its pages,
/// oldest first) to their pages, then raises the document's `paged` to the
/// newest copied without a gap. On an error, what was copied is still
/// recorded (best effort) and the error returned.
pub fn copy<S: Store, E: Env>(
    ctx: &Ctx<'_, S, E>,
    meta: &EventMeta,
    place: (usize, usize),
    records: &[ChangeRecord],
) -> Result<(), BookingError> {
    let mut copied = 0u64;
    let mut failure = None;
    for chunk in records.chunk_by(|a, b| page_of(a.seq) == page_of(b.seq)) {
        let Some(last) = chunk.last() else { continue };
        match write_page(ctx, meta, place, chunk) {
            Ok(through) => copied = through,
            Err(error) => {
                failure = Some(error);
                break;
            }
        }
        if copied < last.seq {
            // The page lacks records before ours (a damaged store): never
            // claim records it does not hold.
            break;
        }
    }
    if copied > 0 {
        crate::coverage::hit(crate::coverage::Path::FeedRecordsCopied);
        raise(ctx, meta, place, copied)?;
    }
    failure.map_or(Ok(()), Err)
}

/// Adds `records` (all of one page, oldest first) to their page, skipping
/// those already there. Returns the newest record the page now holds
/// without a gap from its start, or, when a newer page took the slot, the
/// newest of `records`: they are past the retention, copied or not.
fn write_page<S: Store, E: Env>(
    ctx: &Ctx<'_, S, E>,
    meta: &EventMeta,
    (section, doc): (usize, usize),
    records: &[ChangeRecord],
) -> Result<u64, BookingError> {
    let (Some(first), Some(last)) = (records.first(), records.last()) else {
        return Ok(0);
    };
    let page = page_of(first.seq);
    let key = meta.feed_page_key(section, doc, slot_of(page));
    let missing = || BookingError::Internal(format!("feed page {key} is missing"));
    cas::update(ctx, &key, "feed", missing, |stored: &mut FeedPage| {
        if stored.page > page {
            return Ok(Change::Keep(last.seq));
        }
        let mut changed = false;
        if stored.page < page {
            stored.page = page;
            stored.records.clear();
            changed = true;
        }
        let mut next = stored.records.last().map_or(first_seq(page), |r| r.seq + 1);
        for record in records {
            if record.seq < next {
                continue; // already there
            }
            if record.seq > next {
                break;
            }
            stored.records.push(record.clone());
            next += 1;
            changed = true;
        }
        debug_assert!(stored.records.len() as u64 <= FEED_PAGE_RECORDS);
        let through = next - 1;
        Ok(if changed {
            Change::Write(through)
        } else {
            Change::Keep(through)
        })
    })
}

/// Raises document `doc`'s `paged` to `copied` (never lowers it), dropping
/// the records that are now both copied and beyond the newest kept.
fn raise<S: Store, E: Env>(
    ctx: &Ctx<'_, S, E>,
    meta: &EventMeta,
    (section, doc): (usize, usize),
    copied: u64,
) -> Result<(), BookingError> {
    let key = meta.inventory_key(section, doc);
    let missing = || BookingError::Internal(format!("inventory document {key} is missing"));
    cas::update(
        ctx,
        &key,
        "feed",
        missing,
        |inventory: &mut InventoryDoc| {
            let paged = copied.min(inventory.changes_seq);
            if inventory.paged >= paged {
                return Ok(Change::Keep(()));
            }
            inventory.paged = paged;
            changes::trim(inventory, true, ctx.config.tuning.changes_per_document_max);
            Ok(Change::Write(()))
        },
    )
}

/// The pages of these documents holding these pages, one batch read:
/// `(section, doc, page)` → the stored page of that slot, whichever page it
/// holds now (`None` when the slot is missing: an event created before
/// pages existed, or a broken store).
pub fn read<S: Store, E: Env>(
    ctx: &Ctx<'_, S, E>,
    meta: &EventMeta,
    wanted: &[(usize, usize, u64)],
) -> Result<Vec<Option<FeedPage>>, BookingError> {
    if wanted.is_empty() {
        return Ok(Vec::new());
    }
    let keys: Vec<String> = wanted
        .iter()
        .map(|(section, doc, page)| meta.feed_page_key(*section, *doc, slot_of(*page)))
        .collect();
    let values = ctx.store.get_many(&keys)?;
    keys.iter()
        .zip(values)
        .map(|(key, value)| value.map(|bytes| cas::decode(key, &bytes)).transpose())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::context::Config;
    use crate::memory::{ManualEnv, MemoryStore};
    use crate::model::{SectionKind, SectionLayout};
    use crate::records::ChangeKind;

    fn meta() -> EventMeta {
        EventMeta {
            event_id: "gig".into(),
            generation: 1,
            fingerprint: 0,
            hold_ttl_seconds: 300,
            max_per_customer: None,
            sections: vec![SectionLayout {
                id: "floor".into(),
                kind: SectionKind::General,
                capacity: 10,
                docs: 1,
            }],
            feed_pages: true,
        }
    }

    fn config() -> Config {
        Config {
            admin_token: None,
            confirm_token: None,
            organiser_token: None,
            buyer_tokens: crate::BuyerTokens::Off,
            hold_ttl_seconds_default: 300,
            tuning: crate::context::Tuning::default(),
        }
    }

    fn records(from: u64, to: u64) -> Vec<ChangeRecord> {
        (from..=to)
            .map(|seq| ChangeRecord {
                seq,
                at_ms: seq,
                kind: ChangeKind::Placed,
                nonce: format!("n{seq}"),
                primary_doc: None,
                quantity: 1,
                seats: Vec::new(),
                customer_id: None,
                expires_ms: None,
            })
            .collect()
    }

    /// The store of an event's one document with `changes_seq` records, all
    /// in the document, and its empty ring of pages.
    fn store(meta: &EventMeta, changes_seq: u64) -> MemoryStore {
        let store = MemoryStore::new();
        for slot in 0..FEED_PAGES_PER_DOCUMENT {
            let page = FeedPage {
                page: slot as u64,
                ..FeedPage::default()
            };
            let encoded = cas::encode(&page).expect("encodes");
            store
                .put(&meta.feed_page_key(0, 0, slot), &encoded)
                .expect("put");
        }
        let doc = InventoryDoc {
            changes: records(1, changes_seq),
            changes_seq,
            ..InventoryDoc::default()
        };
        let encoded = cas::encode(&doc).expect("encodes");
        store.put(&meta.inventory_key(0, 0), &encoded).expect("put");
        store
    }

    fn stored<D: serde::de::DeserializeOwned>(store: &MemoryStore, key: &str) -> D {
        let bytes = store.raw(key).expect("stored");
        cas::decode(key, &bytes).expect("decodes")
    }

    #[test]
    fn an_older_page_never_replaces_a_newer_one_in_its_slot() {
        let (meta, env, config) = (meta(), ManualEnv::new(1_000, 1), config());
        let store = store(&meta, 4_200);
        let ctx = Ctx::new(&store, &env, &config);
        let newer = first_seq(FEED_PAGES_PER_DOCUMENT as u64);
        // Page 8 takes slot 0 from the empty page 0.
        assert_eq!(
            write_page(&ctx, &meta, (0, 0), &records(newer, newer + 3)).ok(),
            Some(newer + 3)
        );
        // A stalled writer's page 0: past the retention, not written.
        assert_eq!(
            write_page(&ctx, &meta, (0, 0), &records(1, 10)).ok(),
            Some(10)
        );
        let slot: FeedPage = stored(&store, &meta.feed_page_key(0, 0, 0));
        assert_eq!(slot.page, FEED_PAGES_PER_DOCUMENT as u64);
        assert_eq!(slot.records, records(newer, newer + 3));
    }

    #[test]
    fn a_page_takes_each_record_once_and_never_with_a_gap() {
        let (meta, env, config) = (meta(), ManualEnv::new(1_000, 1), config());
        let store = store(&meta, 40);
        let ctx = Ctx::new(&store, &env, &config);
        assert_eq!(
            write_page(&ctx, &meta, (0, 0), &records(1, 5)).ok(),
            Some(5)
        );
        // Overlapping copies (two writers): each record once.
        assert_eq!(
            write_page(&ctx, &meta, (0, 0), &records(3, 8)).ok(),
            Some(8)
        );
        // A gap (never made by copies): refused, and `paged` not raised past it.
        assert!(copy(&ctx, &meta, (0, 0), &records(20, 40)).is_ok());
        let slot: FeedPage = stored(&store, &meta.feed_page_key(0, 0, 0));
        assert_eq!(slot.records, records(1, 8));
        let doc: InventoryDoc = stored(&store, &meta.inventory_key(0, 0));
        assert_eq!(doc.paged, 8);
        // The rest: `paged` rises to the newest, the document keeps the
        // newest records beyond it.
        assert!(copy(&ctx, &meta, (0, 0), &records(9, 40)).is_ok());
        let doc: InventoryDoc = stored(&store, &meta.inventory_key(0, 0));
        assert_eq!((doc.paged, doc.changes.len()), (40, 40));
    }
}
