//! What a hold reads of its section: a bounded number of documents.
//!
//! A seated hold reads the blocks of its seats. A general hold reads the
//! section summary, then [`CANDIDATE_SHARDS`] random shards among those
//! that may have room ("power of two choices"): the hold goes to one with
//! room, and buyers spread over the shards. It reads more only when those
//! lack room (near the end of a sale), and none at all when the summary
//! says every shard is full: a sold-out answer is one small read.

use crate::cas;
use crate::context::Ctx;
use crate::env::Env;
use crate::error::BookingError;
use crate::model::{EventMeta, InventoryDoc, SectionKind, SectionSummary, seat_block};
use crate::parts::load_section;
use crate::store::Store;
use crate::summary::{self, Seen};

/// Shards a general hold reads first.
pub const CANDIDATE_SHARDS: usize = 2;

/// The documents of a section read so far: dense by index, with an empty
/// stand-in (no room, no seats) for every document not read, so planning
/// never picks one.
#[derive(Debug)]
pub struct SectionView {
    pub docs: Vec<InventoryDoc>,
    read: Vec<bool>,
    summary: Option<SectionSummary>,
    section: usize,
}

impl SectionView {
    /// The first look. `home`, if any, is read too (a keyed hold's home);
    /// `seats`, for a seated hold, names the blocks to read.
    pub fn open<S: Store, E: Env>(
        ctx: &Ctx<'_, S, E>,
        meta: &EventMeta,
        section: usize,
        seats: Option<&[String]>,
        home: Option<usize>,
    ) -> Result<SectionView, BookingError> {
        let layout = &meta.sections[section];
        let mut view = SectionView {
            docs: vec![stand_in(); layout.docs as usize],
            read: vec![false; layout.docs as usize],
            summary: None,
            section,
        };
        let mut wanted: Vec<usize> = home.into_iter().collect();
        if let (SectionKind::Seated, Some(seats)) = (layout.kind, seats) {
            wanted.extend(seats.iter().map(|seat| seat_block(seat, layout.docs)));
            view.read_docs(ctx, meta, wanted)?;
            return Ok(view);
        }
        // The summary and the home (if any) in one batch read.
        let mut keys = vec![meta.summary_key(section)];
        keys.extend(home.map(|doc| meta.inventory_key(section, doc)));
        let mut values = ctx.store.get_many(&keys)?.into_iter();
        view.summary = match values.next().flatten() {
            Some(bytes) => Some(cas::decode(&keys[0], &bytes)?),
            None => None,
        };
        if let (Some(doc), Some(key)) = (home, keys.get(1)) {
            let bytes = values.next().flatten().ok_or_else(|| {
                BookingError::Internal(format!("inventory document {key} is missing"))
            })?;
            view.install(ctx, meta, vec![(doc, cas::decode(key, &bytes)?)]);
        }
        if view.summary.is_none() {
            // No summary (an event from before summaries): read it all.
            wanted = (0..layout.docs as usize).collect();
        }
        view.read_docs(ctx, meta, wanted)?;
        let home_has_room = home.is_some_and(|doc| view.docs[doc].room(ctx.env.now_ms()) > 0);
        if !home_has_room {
            view.widen(ctx, meta, Some(CANDIDATE_SHARDS))?;
        }
        Ok(view)
    }

    /// Shards not read yet that may have room at `now_ms`.
    pub fn unread_with_room(&self, now_ms: u64) -> Vec<usize> {
        let Some(summary) = &self.summary else {
            return Vec::new();
        };
        (0..self.docs.len())
            .filter(|doc| !self.read[*doc] && summary.may_have_room(*doc, now_ms))
            .collect()
    }

    /// Whether every document of the section was read.
    pub fn all_read(&self) -> bool {
        self.read.iter().all(|read| *read)
    }

    /// Reads every document not read yet, full ones too (one batch read):
    /// what a keyed hold about to answer "sold out" does to see whether the
    /// units it lacks are held by a twin of its key (see `placement`).
    pub fn read_all<S: Store, E: Env>(
        &mut self,
        ctx: &Ctx<'_, S, E>,
        meta: &EventMeta,
    ) -> Result<(), BookingError> {
        let unread: Vec<usize> = (0..self.read.len())
            .filter(|doc| !self.read[*doc])
            .collect();
        self.read_docs(ctx, meta, unread)
    }

    /// Reads up to `count` (all with `None`) random unread shards that may
    /// have room; returns how many it read.
    pub fn widen<S: Store, E: Env>(
        &mut self,
        ctx: &Ctx<'_, S, E>,
        meta: &EventMeta,
        count: Option<usize>,
    ) -> Result<usize, BookingError> {
        let mut open = self.unread_with_room(ctx.env.now_ms());
        let count = count.unwrap_or(open.len()).min(open.len());
        let mut picked = Vec::with_capacity(count);
        for _ in 0..count {
            let index = usize::try_from(ctx.env.random_below(open.len() as u64)).unwrap_or(0);
            picked.push(open.swap_remove(index.min(open.len() - 1)));
        }
        self.read_docs(ctx, meta, picked)?;
        Ok(count)
    }

    /// Reads these documents (one batch), replacing their stand-ins, and
    /// tells the summary what it did not know about them.
    fn read_docs<S: Store, E: Env>(
        &mut self,
        ctx: &Ctx<'_, S, E>,
        meta: &EventMeta,
        wanted: Vec<usize>,
    ) -> Result<(), BookingError> {
        let mut pairs: Vec<(u64, usize)> = wanted.iter().map(|&doc| (doc as u64, doc)).collect();
        crate::model::sort_pairs(&mut pairs);
        let mut wanted: Vec<usize> = pairs.into_iter().map(|(_, doc)| doc).collect();
        wanted.dedup();
        wanted.retain(|doc| *doc < self.docs.len() && !self.read[*doc]);
        if wanted.is_empty() {
            return Ok(());
        }
        let keys: Vec<String> = wanted
            .iter()
            .map(|doc| meta.inventory_key(self.section, *doc))
            .collect();
        let read = wanted.into_iter().zip(load_section(ctx, &keys)?).collect();
        self.install(ctx, meta, read);
        Ok(())
    }

    /// Puts documents just read in place of their stand-ins, and tells the
    /// summary what it did not know about them.
    fn install<S: Store, E: Env>(
        &mut self,
        ctx: &Ctx<'_, S, E>,
        meta: &EventMeta,
        read: Vec<(usize, InventoryDoc)>,
    ) {
        let now_ms = ctx.env.now_ms();
        let mut news = Vec::new();
        for (doc, inventory) in read {
            let seen = Seen {
                doc,
                version: inventory.version,
                full_until_ms: inventory.full_until(now_ms),
            };
            if let Some(summary) = &self.summary
                && summary::is_news(summary, &seen, now_ms)
            {
                news.push(seen);
            }
            self.docs[doc] = inventory;
            self.read[doc] = true;
        }
        // Best effort, like the writers' own records (see `summary`).
        let _ = summary::record(ctx, meta, self.section, &news);
    }
}

/// A document not read: no room and no seats.
fn stand_in() -> InventoryDoc {
    InventoryDoc::default()
}
