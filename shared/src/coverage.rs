//! Named paths through the core that the simulators must reach: a check
//! that never drives the code down a path cannot find its bugs, and a
//! workload change can silently stop reaching one. Each path is one
//! `coverage::hit(Path::…)` where the code takes it.
//!
//! The counters exist only with feature `testing` (process-wide atomics);
//! otherwise [`hit`] is an empty inline function, so the Spin components
//! pay nothing for it.

/// The paths counted. Names say what happened, in the words of the module
/// that took the path.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Path {
    /// A keyed hold's primary written with zero units in its home: every
    /// unit went to other shards (`placement`).
    ZeroUnitHomePrimary,
    /// A hold placed with parts in more than one document (`placement`).
    SpreadHold,
    /// Other parts of an attempt removed after it failed (`placement`).
    UndoOtherParts,
    /// A primary write whose outcome is unknown (a store error) (`placement`).
    PrimaryOutcomeUnknown,
    /// A fence found the primary it was settling (`placement`).
    FenceFoundPrimary,
    /// A fence wrote a void mark: the attempt is dead (`placement`).
    FenceVoidWritten,
    /// A racing twin found the key's primary inside the home's CAS
    /// (`Written::Twin`) (`placement`).
    TwinDecidedByHomeCas,
    /// A keyed request replayed from the primary in its home shard (`keyed`).
    KeyReplayFromShard,
    /// A keyed request replayed from the primary in the home's ledger
    /// page (`keyed`).
    KeyReplayFromLedger,
    /// Confirmed parts added to a ledger page: step one of a move (`parts`).
    LedgerMovePageWritten,
    /// Moved parts removed from their shard: step two of a move (`parts`).
    LedgerMoveShardTrimmed,
    /// `ledger::find` found the part in the page, not the shard.
    LedgerFoundByFind,
    /// `ledger::keyed_primary` found the key's primary in the page.
    LedgerFoundKeyedPrimary,
    /// `parts::locate` answered with a primary from the page.
    LedgerFoundByLocate,
    /// `parts::finalize_primary` found the primary confirmed in the page.
    LedgerFoundByFinalize,
    /// `parts::update_primary` answered from a primary in the page.
    LedgerFoundByUpdatePrimary,
    /// The summary recorded a shard turning full (`summary`).
    SummaryTurnedFull,
    /// The summary recorded a full shard getting room again (`summary`).
    SummaryTurnedRoom,
    /// A customer reservation moved to the customer's bookings (`customer`).
    CustomerSettledBooked,
    /// A customer reservation given back (`customer`).
    CustomerSettledReleased,
    /// An expired reservation resolved from its primary in a shard
    /// (`customer`).
    CustomerResolvedFromShard,
    /// An expired reservation resolved from a booking moved to a ledger
    /// page (`customer`).
    CustomerResolvedFromLedger,
    /// An expired keyed reservation resolved by its key's primary
    /// (`customer`).
    CustomerResolvedByKey,
    /// A reservation of the same Idempotency-Key reused by a retry or a
    /// twin (`customer`).
    ReservationReusedByKey,
    /// A failed placement whose outcome is unknown kept its customer
    /// reservation (`placement`).
    ReservationKeptOnUnknown,
    /// A customer refused with the customer limit (`customer`).
    CustomerLimitRefused,
    /// An unresolved secondary part resolved by a writer (`parts`).
    SecondaryResolved,
    /// A held primary past its expiry marked `X` by a resolver (`parts`).
    PrimaryFinalizedExpired,
    /// A resolver voided a primary never written (`parts`).
    PrimaryVoidedByResolver,
    /// An event made ready by a later generation than the first (`creation`).
    CreatedByLaterGeneration,
    /// Change records dropped beyond the per-document cap (`changes`).
    RecordsPruned,
    /// Ended parts dropped beyond the per-document cap (`parts`).
    EndedPartsCapped,
    /// An expired reservation whose hold is not found kept until the skew
    /// margin passed: a writer with a clock behind may still place it (`customer`).
    ReservationKeptUntilSkewMargin,
    /// A give-back that left a reservation another attempt of the key
    /// reused (`customer`).
    ReservationSharedKept,
    /// A keyed refusal answered with the twin's hold found by reading the
    /// home again (`keyed`).
    TwinRereadAfterRefusal,
    /// A keyed attempt found its room taken by a twin's other parts and
    /// answered 503 instead of a refusal (`placement`).
    TwinInFlight,
    /// Ended keyed primaries dropped beyond their per-document cap (`parts`).
    KeyedEndedPartsCapped,
    /// A keyed hold refused because its home holds as many live zero-unit
    /// primaries as it may (`placement`).
    ZeroUnitPrimariesFull,
    /// Change records copied to a feed page (`feed_pages`).
    FeedRecordsCopied,
    /// A feed read served records from a feed page (`feed`).
    FeedReadFromPage,
}

impl Path {
    /// Every path, in declaration order.
    #[cfg(feature = "testing")]
    pub const ALL: [Path; 40] = [
        Path::ZeroUnitHomePrimary,
        Path::SpreadHold,
        Path::UndoOtherParts,
        Path::PrimaryOutcomeUnknown,
        Path::FenceFoundPrimary,
        Path::FenceVoidWritten,
        Path::TwinDecidedByHomeCas,
        Path::KeyReplayFromShard,
        Path::KeyReplayFromLedger,
        Path::LedgerMovePageWritten,
        Path::LedgerMoveShardTrimmed,
        Path::LedgerFoundByFind,
        Path::LedgerFoundKeyedPrimary,
        Path::LedgerFoundByLocate,
        Path::LedgerFoundByFinalize,
        Path::LedgerFoundByUpdatePrimary,
        Path::SummaryTurnedFull,
        Path::SummaryTurnedRoom,
        Path::CustomerSettledBooked,
        Path::CustomerSettledReleased,
        Path::CustomerResolvedFromShard,
        Path::CustomerResolvedFromLedger,
        Path::CustomerResolvedByKey,
        Path::ReservationReusedByKey,
        Path::ReservationKeptOnUnknown,
        Path::CustomerLimitRefused,
        Path::SecondaryResolved,
        Path::PrimaryFinalizedExpired,
        Path::PrimaryVoidedByResolver,
        Path::CreatedByLaterGeneration,
        Path::RecordsPruned,
        Path::EndedPartsCapped,
        Path::ReservationKeptUntilSkewMargin,
        Path::ReservationSharedKept,
        Path::TwinRereadAfterRefusal,
        Path::TwinInFlight,
        Path::KeyedEndedPartsCapped,
        Path::ZeroUnitPrimariesFull,
        Path::FeedRecordsCopied,
        Path::FeedReadFromPage,
    ];

    /// The path's name, as the tables print it.
    #[cfg(feature = "testing")]
    pub fn name(self) -> String {
        // The variant's own name: one place to keep, not two.
        format!("{self:?}")
    }
}

#[cfg(feature = "testing")]
mod counters {
    use super::Path;
    use std::sync::atomic::{AtomicU64, Ordering};

    static COUNTS: [AtomicU64; Path::ALL.len()] = [const { AtomicU64::new(0) }; Path::ALL.len()];

    pub fn hit(path: Path) {
        COUNTS[path as usize].fetch_add(1, Ordering::Relaxed);
    }

    pub fn snapshot() -> Vec<(Path, u64)> {
        Path::ALL
            .iter()
            .map(|path| (*path, COUNTS[*path as usize].load(Ordering::Relaxed)))
            .collect()
    }

    pub fn reset() {
        for count in &COUNTS {
            count.store(0, Ordering::Relaxed);
        }
    }
}

#[cfg(feature = "testing")]
pub use counters::{reset, snapshot};

/// Counts one pass down `path` (nothing without feature `testing`).
#[inline(always)]
pub fn hit(path: Path) {
    #[cfg(feature = "testing")]
    counters::hit(path);
    #[cfg(not(feature = "testing"))]
    let _ = path;
}

/// Counts `path` when `taken`: a hook that stays one line.
#[inline(always)]
pub fn hit_if(taken: bool, path: Path) {
    if taken {
        hit(path);
    }
}

/// The counts since `before` (an earlier [`snapshot`]).
#[cfg(feature = "testing")]
pub fn since(before: &[(Path, u64)]) -> Vec<(Path, u64)> {
    snapshot()
        .into_iter()
        .map(|(path, count)| {
            let earlier = before
                .iter()
                .find(|(p, _)| *p == path)
                .map_or(0, |(_, c)| *c);
            (path, count.saturating_sub(earlier))
        })
        .collect()
}

/// One line per path: the table the simulators print.
#[cfg(feature = "testing")]
pub fn table(counts: &[(Path, u64)]) -> String {
    let mut lines = String::from("coverage (path: times reached)\n");
    for (path, count) in counts {
        lines.push_str(&format!("  {:<28} {:>9}\n", path.name(), count));
    }
    lines
}

#[cfg(all(test, feature = "testing"))]
mod tests {
    use super::*;

    #[test]
    fn every_path_is_listed_once_in_declaration_order() {
        for (index, path) in Path::ALL.iter().enumerate() {
            assert_eq!(*path as usize, index, "{path:?}");
        }
    }
}
