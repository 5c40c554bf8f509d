//! The storage floor: raw compare-and-swap round trips per second against
//! SQLite with Spin's settings, from native code — the ceiling the app's
//! writes can approach. One round trip is what one CAS costs the app: read the
//! value, then `UPDATE … WHERE value = :old` (autocommit, one connection, as
//! Spin and booking-host use it).

use std::{
    path::Path,
    time::{Duration, Instant},
};

use hdrhistogram::Histogram;
use rusqlite::{Connection, OptionalExtension, named_params, params};
use serde::{Deserialize, Serialize};

/// Size of each stored value: about one shard document of a busy section.
pub const DEFAULT_VALUE_BYTES: usize = 2_048;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct FloorRun {
    pub keys: u64,
    pub journal: String,
    pub round_trips: u64,
    pub seconds: f64,
    pub round_trips_per_second: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
}

/// Runs `seconds` of CAS round trips over `keys` keys (1 = one hot key) in a
/// fresh database under `dir`.
pub fn run(
    dir: &Path,
    keys: u64,
    seconds: f64,
    value_bytes: usize,
    wal: bool,
) -> anyhow::Result<FloorRun> {
    let path = dir.join(format!(
        "floor-{keys}-{}.db",
        if wal { "wal" } else { "delete" }
    ));
    for suffix in ["", "-journal", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
    }
    let connection = Connection::open(&path)?;
    let journal = if wal {
        let mode: String =
            connection.pragma_update_and_check(None, "journal_mode", "WAL", |r| r.get(0))?;
        connection.pragma_update(None, "synchronous", "NORMAL")?;
        format!("{mode}, synchronous=NORMAL")
    } else {
        // SQLite's defaults are Spin's: rollback journal (DELETE), synchronous=FULL.
        let mode: String = connection.query_row("PRAGMA journal_mode", [], |r| r.get(0))?;
        let sync: i64 = connection.query_row("PRAGMA synchronous", [], |r| r.get(0))?;
        format!(
            "{mode}, synchronous={}",
            if sync == 2 {
                "FULL".to_owned()
            } else {
                sync.to_string()
            }
        )
    };
    connection.execute(
        "CREATE TABLE IF NOT EXISTS spin_key_value (
            store TEXT NOT NULL, key TEXT NOT NULL, value BLOB NOT NULL, PRIMARY KEY (store, key))",
        [],
    )?;
    let keys = keys.max(1);
    let mut value = vec![b'x'; value_bytes.max(16)];
    {
        let tx = connection.unchecked_transaction()?;
        for k in 0..keys {
            tx.execute(
                "INSERT INTO spin_key_value (store, key, value) VALUES ('default', ?1, ?2)",
                params![format!("k{k}"), value],
            )?;
        }
        tx.commit()?;
    }
    let mut latency = Histogram::<u64>::new(3)?;
    latency.auto(true);
    let deadline = Instant::now() + Duration::from_secs_f64(seconds);
    let started = Instant::now();
    let mut round_trips = 0u64;
    let mut version = 0u64;
    while Instant::now() < deadline {
        let t = Instant::now();
        let key = format!("k{}", round_trips % keys);
        let old: Vec<u8> = connection
            .prepare_cached("SELECT value FROM spin_key_value WHERE store='default' AND key=?1")?
            .query_row(params![key], |r| r.get(0))
            .optional()?
            .unwrap_or_default();
        // A new value of the same size, different from the old one.
        version += 1;
        value[..8].copy_from_slice(&version.to_le_bytes());
        let changed = connection
            .prepare_cached(
                "UPDATE spin_key_value SET value=:new WHERE store='default' AND key=:key AND value=:old",
            )?
            .execute(named_params! { ":new": value, ":key": key, ":old": old })?;
        if changed != 1 {
            anyhow::bail!("CAS on {key} did not apply: nothing else writes this database");
        }
        round_trips += 1;
        latency.record(
            u64::try_from(t.elapsed().as_micros())
                .unwrap_or(u64::MAX)
                .max(1),
        )?;
    }
    let seconds = started.elapsed().as_secs_f64();
    drop(connection);
    for suffix in ["", "-journal", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
    }
    Ok(FloorRun {
        keys,
        journal,
        round_trips,
        seconds,
        round_trips_per_second: round_trips as f64 / seconds,
        p50_ms: latency.value_at_quantile(0.5) as f64 / 1000.0,
        p99_ms: latency.value_at_quantile(0.99) as f64 / 1000.0,
    })
}
