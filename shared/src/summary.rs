//! The section summary: which shards of a general section are full, and
//! until when (see [`SectionSummary`]).
//!
//! It is a hint with one guarantee. A hint: a hold reads its candidate
//! shards among those that may have room, and answers "sold out" from it
//! alone only when every shard is marked full until a time still ahead.
//! The guarantee: every write that turns a shard full, or gives a full
//! shard room again, records that in the summary right after (one more CAS,
//! per transition, not per hold), and an entry is only ever replaced by one
//! seen at a newer version of the shard. A mark past its time means "look".
//! If recording fails (the store failed between the two writes), the entry
//! is stale until its time passes (at most a hold's lifetime) or a reader
//! that sees the shard records it.

use crate::cas::{self, Change};
use crate::context::Ctx;
use crate::coverage::{self, Path};
use crate::env::Env;
use crate::error::BookingError;
use crate::model::{EventMeta, SectionSummary};
use crate::store::Store;

/// What a reader or writer saw of one shard.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Seen {
    pub doc: usize,
    pub version: u64,
    /// [`crate::model::InventoryDoc::full_until`] at that version.
    pub full_until_ms: u64,
}

/// Whether `seen` tells the summary something it does not know at
/// `now_ms`: the shard turned full, or got room again. (A reader records
/// only news; a writer records every transition it makes.)
pub fn is_news(summary: &SectionSummary, seen: &Seen, now_ms: u64) -> bool {
    let Some((version, until_ms)) = summary.shards.get(seen.doc) else {
        return false;
    };
    let marked_full = *until_ms > now_ms;
    let is_full = seen.full_until_ms > now_ms;
    // While a shard stays full its time only moves later (the set of held
    // parts shrinks), so a mark's time is never later than the truth.
    seen.version >= *version && marked_full != is_full
}

/// Whether `seen` replaces `entry`: a newer version always does (so that a
/// writer delayed with an older view can never overwrite it), the same
/// version when it is news.
fn supersedes((version, until_ms): (u64, u64), seen: &Seen, now_ms: u64) -> bool {
    seen.version > version
        || seen.version == version && (until_ms > now_ms) != (seen.full_until_ms > now_ms)
}

/// Records what was seen of these shards, keeping for each the newest
/// version. A section without a summary records nothing.
pub fn record<S: Store, E: Env>(
    ctx: &Ctx<'_, S, E>,
    meta: &EventMeta,
    section: usize,
    seen: &[Seen],
) -> Result<(), BookingError> {
    if seen.is_empty() {
        return Ok(());
    }
    let key = meta.summary_key(section);
    let absent = || BookingError::NotFound("no section summary".into());
    let updated = cas::update(
        ctx,
        &key,
        "summary",
        absent,
        |summary: &mut SectionSummary| {
            let now_ms = ctx.env.now_ms();
            let mut changed = false;
            for seen in seen {
                if let Some(entry) = summary.shards.get_mut(seen.doc)
                    && supersedes(*entry, seen, now_ms)
                {
                    let (was_full, is_full) = (entry.1 > now_ms, seen.full_until_ms > now_ms);
                    coverage::hit_if(!was_full && is_full, Path::SummaryTurnedFull);
                    coverage::hit_if(was_full && !is_full, Path::SummaryTurnedRoom);
                    *entry = (seen.version, seen.full_until_ms);
                    changed = true;
                }
            }
            Ok(if changed {
                Change::Write(())
            } else {
                Change::Keep(())
            })
        },
    );
    match updated {
        Err(BookingError::NotFound(_)) => Ok(()),
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: u64 = 1_000;

    #[test]
    fn news_is_a_newer_view_that_changes_full_or_not() {
        let summary = SectionSummary {
            shards: vec![(5, 0), (5, 2_000), (5, 500), (5, u64::MAX)],
            ..SectionSummary::default()
        };
        let seen = |doc, version, full_until_ms| Seen {
            doc,
            version,
            full_until_ms,
        };
        let table = [
            (
                "room, seen full at a newer version",
                seen(0, 6, 1_500),
                true,
            ),
            (
                "room, seen full at an older version",
                seen(0, 4, 1_500),
                false,
            ),
            ("room, seen with room again", seen(0, 6, 0), false),
            (
                "full, seen with room at a newer version",
                seen(1, 6, 0),
                true,
            ),
            (
                "full, seen with room at the same version (time passed)",
                seen(1, 5, 0),
                true,
            ),
            ("full, seen full until later", seen(1, 6, 3_000), false),
            ("mark past its time, seen full", seen(2, 6, 3_000), true),
            (
                "mark past its time, seen full at the same version",
                seen(2, 5, 3_000),
                true,
            ),
            (
                "full, seen full at a newer version",
                seen(3, 6, u64::MAX),
                false,
            ),
            ("sold through, older view with room", seen(3, 4, 0), false),
            ("no such shard", seen(9, 9, 9), false),
        ];
        for (name, seen, expected) in table {
            assert_eq!(is_news(&summary, &seen, NOW), expected, "{name}");
        }
    }

    #[test]
    fn a_newer_version_always_supersedes_an_older_never_does() {
        let seen = |version, full_until_ms| Seen {
            doc: 0,
            version,
            full_until_ms,
        };
        let table = [
            ("newer, same state (room)", (5, 0), seen(6, 0), true),
            ("newer, full", (5, 0), seen(6, 2_000), true),
            (
                "older, full: a delayed writer",
                (6, 0),
                seen(5, 2_000),
                false,
            ),
            ("older, room", (6, 2_000), seen(5, 0), false),
            (
                "same version, mark past its time, now room",
                (5, 500),
                seen(5, 0),
                false,
            ),
            ("same version, full vs room", (5, 2_000), seen(5, 0), true),
            (
                "same version, same state",
                (5, 2_000),
                seen(5, 3_000),
                false,
            ),
        ];
        for (name, entry, seen, expected) in table {
            assert_eq!(supersedes(entry, &seen, NOW), expected, "{name}");
        }
    }
}
