//! The key-value calls `booking-host` counted, and the one-line text form it prints them in.
//!
//! `booking-host` counts every key-value call its components make, per store, and prints the
//! totals over every store as one line on standard error when it stops (Ctrl-C / SIGINT,
//! SIGTERM, its standard input closing with `--exit-on-stdin-eof`, or the accept loop ending):
//!
//! ```text
//! kv-calls: gets=12 get_many=3 get_many_keys=9 cas_currents=40 exists=0 list_keys=0 sets=1 set_many_keys=0 swaps_ok=30 swaps_conflict=4 increments=2 deletes=1 delete_many_keys=0 errors=0 reads=61 writes=38
//! ```
//!
//! Every field is `name=unsigned integer`, separated by single spaces, in this order; `reads`
//! and `writes` are the sums defined by [`KvCalls::reads`] and [`KvCalls::writes`]. With
//! `--kv-calls-endpoint`, `GET` [`KV_CALLS_PATH`] answers the same line at any moment (then one
//! `kv-calls store=LABEL: ...` line per store). A reader should ignore fields it does not
//! know, so fields can be added at the end.
//!
//! This module is the one definition of the format: the runtime prints with it and the
//! harnesses (`booking-load`) parse with it.

use std::fmt;

/// The line's first word.
pub const KV_CALLS_PREFIX: &str = "kv-calls:";

/// The path that answers the counts while the runtime serves, with `--kv-calls-endpoint`
/// only (without it the path goes to the application, as on Spin).
pub const KV_CALLS_PATH: &str = "/.well-known/booking-host/kv-calls";

/// Defines [`KvCallsOf`] from one list of fields (in line order), with name-and-field
/// iterators, so the list is written once.
macro_rules! kv_call_fields {
    ($($(#[$doc:meta])* $name:ident,)*) => {
        /// Key-value calls, by kind: [`KvCalls`] (counts), or in the runtime one atomic
        /// counter per kind. A call counts once whether it succeeded or not (failures are also
        /// counted in `errors`).
        #[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
        pub struct KvCallsOf<T> {
            $($(#[$doc])* pub $name: T,)*
        }

        /// How many kinds of call are counted.
        pub const KV_CALL_KINDS: usize = [$(stringify!($name)),*].len();

        impl<T> KvCallsOf<T> {
            /// Every kind in line order, with its name.
            pub fn fields(&self) -> [(&'static str, &T); KV_CALL_KINDS] {
                [$((stringify!($name), &self.$name)),*]
            }

            /// Every kind in line order, with its name, to change.
            pub fn fields_mut(&mut self) -> [(&'static str, &mut T); KV_CALL_KINDS] {
                [$((stringify!($name), &mut self.$name)),*]
            }
        }
    };
}

kv_call_fields! {
    /// `store.get` calls.
    gets,
    /// `batch.get-many` calls.
    get_many,
    /// Keys asked for by `batch.get-many`.
    get_many_keys,
    /// Reads by compare-and-swap handles: `atomics.cas.current`, and the read a conflicting
    /// swap makes for the handle it hands back (as Spin does).
    cas_currents,
    /// `store.exists` calls.
    exists,
    /// `store.list-keys` calls.
    list_keys,
    /// `store.set` calls.
    sets,
    /// Keys written by `batch.set-many`.
    set_many_keys,
    /// `atomics.swap` calls that wrote (including a swap without a snapshot, which is an
    /// unconditional upsert).
    swaps_ok,
    /// `atomics.swap` calls refused because the value had changed (`cas-failed`).
    swaps_conflict,
    /// `atomics.increment` calls.
    increments,
    /// `store.delete` calls.
    deletes,
    /// Keys removed by `batch.delete-many`.
    delete_many_keys,
    /// Calls of any kind that failed with a store error.
    errors,
}

/// Counts of key-value calls.
pub type KvCalls = KvCallsOf<u64>;

impl KvCalls {
    fn field_mut(&mut self, name: &str) -> Option<&mut u64> {
        self.fields_mut()
            .into_iter()
            .find_map(|(field, value)| (field == name).then_some(value))
    }

    /// Rows read: `gets + get_many_keys + cas_currents + exists + list_keys` (a list-keys
    /// call counts once).
    pub fn reads(&self) -> u64 {
        self.gets + self.get_many_keys + self.cas_currents + self.exists + self.list_keys
    }

    /// Write attempts: `sets + set_many_keys + swaps_ok + swaps_conflict + increments +
    /// deletes + delete_many_keys`. A conflicting swap counts: the store ran the compare.
    pub fn writes(&self) -> u64 {
        self.sets
            + self.set_many_keys
            + self.swaps_ok
            + self.swaps_conflict
            + self.increments
            + self.deletes
            + self.delete_many_keys
    }

    /// Writes that changed the store: [`KvCalls::writes`] less the conflicting swaps.
    pub fn successful_writes(&self) -> u64 {
        self.writes() - self.swaps_conflict
    }

    /// The calls made since `earlier` (field by field; a counter never goes down, so a field
    /// smaller than `earlier`'s means the two come from different runtimes and gives 0).
    pub fn since(&self, earlier: &KvCalls) -> KvCalls {
        let mut delta = *self;
        for ((_, value), (_, before)) in delta.fields_mut().into_iter().zip(earlier.fields()) {
            *value = value.saturating_sub(*before);
        }
        delta
    }

    /// Adds `other`'s counts to these.
    pub fn add(&mut self, other: &KvCalls) {
        for ((_, value), (_, more)) in self.fields_mut().into_iter().zip(other.fields()) {
            *value += *more;
        }
    }

    /// Parses one line, `kv-calls: name=value ...` (the totals line, not a per-store line);
    /// unknown fields (and the derived `reads`, `writes`) are ignored. `None` if the line is
    /// not such a line or a known field is not a number.
    pub fn parse(line: &str) -> Option<KvCalls> {
        let rest = line.trim().strip_prefix(KV_CALLS_PREFIX)?;
        let mut calls = KvCalls::default();
        for pair in rest.split_whitespace() {
            let (name, value) = pair.split_once('=')?;
            if let Some(field) = calls.field_mut(name) {
                *field = value.parse().ok()?;
            }
        }
        Some(calls)
    }

    /// The last totals line in `text` (say, a runtime's standard error), parsed.
    pub fn last_in(text: &str) -> Option<KvCalls> {
        text.lines().rev().find_map(KvCalls::parse)
    }
}

/// The totals line: `kv-calls: gets=… … errors=… reads=… writes=…`.
impl fmt::Display for KvCallsOf<u64> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(KV_CALLS_PREFIX)?;
        for (name, value) in self.fields() {
            write!(f, " {name}={value}")?;
        }
        write!(f, " reads={} writes={}", self.reads(), self.writes())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> KvCalls {
        KvCalls {
            gets: 1,
            get_many: 2,
            get_many_keys: 3,
            cas_currents: 4,
            exists: 5,
            list_keys: 6,
            sets: 7,
            set_many_keys: 8,
            swaps_ok: 9,
            swaps_conflict: 10,
            increments: 11,
            deletes: 12,
            delete_many_keys: 13,
            errors: 14,
        }
    }

    #[test]
    fn the_line_reads_back() {
        let calls = sample();
        let line = calls.to_string();
        assert_eq!(
            line,
            "kv-calls: gets=1 get_many=2 get_many_keys=3 cas_currents=4 exists=5 list_keys=6 \
             sets=7 set_many_keys=8 swaps_ok=9 swaps_conflict=10 increments=11 deletes=12 \
             delete_many_keys=13 errors=14 reads=19 writes=70"
        );
        assert_eq!(KvCalls::parse(&line), Some(calls));
        assert_eq!(calls.successful_writes(), 60);
    }

    #[test]
    fn parsing_ignores_unknown_fields_and_finds_the_last_line() {
        let text = "booking-host: started\nkv-calls: gets=1 new_kind=5\n\
                    kv-calls store=default: gets=9\nkv-calls: gets=2 swaps_ok=3\nbye\n";
        let last = KvCalls::last_in(text);
        assert_eq!(
            last,
            Some(KvCalls {
                gets: 2,
                swaps_ok: 3,
                ..KvCalls::default()
            })
        );
        assert_eq!(KvCalls::parse("kv-calls: gets=x"), None);
        assert_eq!(KvCalls::parse("gets=1"), None);
    }

    #[test]
    fn deltas_and_sums_go_field_by_field() {
        let mut total = sample();
        total.add(&sample());
        assert_eq!(total.since(&sample()), sample());
        assert_eq!(sample().since(&total), KvCalls::default());
    }
}
