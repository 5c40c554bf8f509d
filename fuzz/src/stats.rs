//! Counts of what the runs reached, so that a quiet fuzz run can be told
//! apart from one whose checks never fire: with `BOOKING_FUZZ_STATS=1` a
//! target prints them to stderr every 4,096 runs.

use std::sync::atomic::{AtomicU64, Ordering};

/// What a run reached.
#[derive(Debug, Clone, Copy)]
pub enum Reached {
    Run,
    /// A request answered 2xx.
    Success,
    /// A request answered 4xx: its writes were checked.
    Refused,
    /// A request answered 5xx.
    ServerError,
    /// A request read a corrupted value before writing: its 500/503 was checked.
    DamagedRead,
    /// The final document invariants were checked over a sale with holds.
    FinalCheck,
}

const KINDS: usize = 6;
static COUNTS: [AtomicU64; KINDS] = [const { AtomicU64::new(0) }; KINDS];
const NAMES: [&str; KINDS] = ["runs", "2xx", "4xx", "5xx", "damaged-reads", "final-checks"];

pub fn note(reached: Reached) {
    let index = reached as usize;
    let count = COUNTS[index].fetch_add(1, Ordering::Relaxed) + 1;
    if matches!(reached, Reached::Run) && count.is_multiple_of(4_096) && enabled() {
        let shown: Vec<String> = NAMES
            .iter()
            .zip(&COUNTS)
            .map(|(name, count)| format!("{name} {}", count.load(Ordering::Relaxed)))
            .collect();
        eprintln!("booking-fuzz stats: {}", shown.join(", "));
    }
}

/// Notes the class of a reply's status.
pub fn note_status(status: u16) {
    note(match status {
        200..=299 => Reached::Success,
        400..=499 => Reached::Refused,
        _ => Reached::ServerError,
    });
}

fn enabled() -> bool {
    std::env::var_os("BOOKING_FUZZ_STATS").is_some_and(|v| v == "1")
}
