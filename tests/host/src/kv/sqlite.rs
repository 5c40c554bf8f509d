//! The SQLite backend: the same table, statements and defaults as Spin's embedded store.

use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::time::Duration;

use parking_lot::{Mutex, MutexGuard};
use rusqlite::{Connection, OptionalExtension, params};

use super::{Backend, KvError, KvResult, add_delta, decode_counter};

/// How the SQLite connection is tuned.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SqliteSettings {
    /// Use WAL with `synchronous=NORMAL` instead of Spin's defaults (rollback journal `DELETE`,
    /// `synchronous=FULL`). Faster, but no longer what Spin does, so it is opt-in.
    pub wal: bool,
    /// Bound, in ms, on a call's wait for the connection (behind other calls) and on SQLite's
    /// busy timeout; then the call fails. `None`: Spin's behaviour, an unbounded wait for the
    /// connection and rusqlite's default 5 s busy timeout.
    pub store_wait_ms: Option<u64>,
}

/// Upsert used by `set`, `set_many`, `increment` and snapshot-less `swap`, as in Spin.
const UPSERT_SQL: &str = "INSERT INTO spin_key_value (store, key, value) VALUES (?1, ?2, ?3)
     ON CONFLICT(store, key) DO UPDATE SET value=excluded.value";
const SELECT_SQL: &str = "SELECT value FROM spin_key_value WHERE store=?1 AND key=?2";
const DELETE_SQL: &str = "DELETE FROM spin_key_value WHERE store=?1 AND key=?2";
/// Spin's `get_many` query, verbatim.
const GET_MANY_SQL: &str =
    "SELECT key, value FROM spin_key_value WHERE store=:name AND key IN rarray(:keys)";
const COMPARE_UPDATE_SQL: &str = "UPDATE spin_key_value SET value=:new_value
     WHERE store=:name AND key=:key AND value=:old_value";

/// One store label kept in a SQLite database, behind one connection and one mutex like Spin.
pub struct SqliteBackend {
    name: String,
    connection: Mutex<Connection>,
    store_wait: Option<Duration>,
}

impl SqliteBackend {
    /// Opens (creating if needed) the database file and the table, for the store `name`.
    pub fn open(path: &Path, name: &str, settings: SqliteSettings) -> anyhow::Result<Self> {
        let connection = Connection::open(path).map_err(|error| {
            anyhow::anyhow!("cannot open SQLite database {}: {error}", path.display())
        })?;
        Self::with_connection(connection, name, settings)
    }

    /// Creates a private in-memory database for the store `name`.
    pub fn open_in_memory(name: &str, settings: SqliteSettings) -> anyhow::Result<Self> {
        Self::with_connection(Connection::open_in_memory()?, name, settings)
    }

    fn with_connection(
        connection: Connection,
        name: &str,
        settings: SqliteSettings,
    ) -> anyhow::Result<Self> {
        if settings.wal {
            // `journal_mode` answers with the mode actually set, so it must be read back.
            let _mode: String =
                connection
                    .pragma_update_and_check(None, "journal_mode", "WAL", |row| row.get(0))?;
            connection.pragma_update(None, "synchronous", "NORMAL")?;
        }
        let store_wait = settings.store_wait_ms.map(Duration::from_millis);
        if let Some(wait) = store_wait {
            connection.busy_timeout(wait)?;
        }
        // The `rarray()` table function of Spin's `get_many` query.
        rusqlite::vtab::array::load_module(&connection)?;
        connection.execute(
            "CREATE TABLE IF NOT EXISTS spin_key_value (
                store TEXT NOT NULL,
                key   TEXT NOT NULL,
                value BLOB NOT NULL,
                PRIMARY KEY (store, key)
            )",
            [],
        )?;
        Ok(Self {
            name: name.to_owned(),
            connection: Mutex::new(connection),
            store_wait,
        })
    }

    /// Locks the connection, waiting at most `store_wait` when one is set. A call that panicked
    /// while holding it left it usable: every multi-statement operation runs in a transaction
    /// that rolls back when dropped.
    fn lock(&self) -> KvResult<MutexGuard<'_, Connection>> {
        match self.store_wait {
            None => Ok(self.connection.lock()),
            Some(wait) => self.connection.try_lock_for(wait).ok_or_else(|| {
                KvError::Other(format!(
                    "store busy: no turn on the connection within {} ms (--store-wait-ms)",
                    wait.as_millis()
                ))
            }),
        }
    }
}

/// Turns a SQLite error into the `other` variant, as Spin's `log_error` does.
fn sql_error(error: rusqlite::Error) -> KvError {
    KvError::Other(format!("{error:?}"))
}

fn select(connection: &Connection, name: &str, key: &str) -> KvResult<Option<Vec<u8>>> {
    connection
        .prepare_cached(SELECT_SQL)
        .map_err(sql_error)?
        .query_row(params![name, key], |row| row.get::<_, Vec<u8>>(0))
        .optional()
        .map_err(sql_error)
}

fn upsert(connection: &Connection, name: &str, key: &str, value: &[u8]) -> KvResult<usize> {
    connection
        .prepare_cached(UPSERT_SQL)
        .map_err(sql_error)?
        .execute(params![name, key, value])
        .map_err(sql_error)
}

impl Backend for SqliteBackend {
    fn get(&self, key: &str) -> KvResult<Option<Vec<u8>>> {
        select(&*self.lock()?, &self.name, key)
    }

    fn set(&self, key: &str, value: &[u8]) -> KvResult<()> {
        upsert(&*self.lock()?, &self.name, key, value).map(drop)
    }

    fn delete(&self, key: &str) -> KvResult<()> {
        self.lock()?
            .prepare_cached(DELETE_SQL)
            .map_err(sql_error)?
            .execute(params![self.name, key])
            .map(drop)
            .map_err(sql_error)
    }

    fn exists(&self, key: &str) -> KvResult<bool> {
        self.lock()?
            .prepare_cached("SELECT 1 FROM spin_key_value WHERE store=?1 AND key=?2 LIMIT 1")
            .map_err(sql_error)?
            .exists(params![self.name, key])
            .map_err(sql_error)
    }

    fn keys(&self) -> KvResult<Vec<String>> {
        let connection = self.lock()?;
        let mut statement = connection
            .prepare_cached("SELECT key FROM spin_key_value WHERE store=?1")
            .map_err(sql_error)?;
        let rows = statement
            .query_map(params![self.name], |row| row.get::<_, String>(0))
            .map_err(sql_error)?;
        rows.collect::<Result<Vec<_>, _>>().map_err(sql_error)
    }

    fn get_many(&self, keys: &[String]) -> KvResult<Vec<(String, Option<Vec<u8>>)>> {
        // Spin's own query: `key IN rarray(...)` yields each present row once, in the order
        // SQLite's plan produces (not the request's), and nothing for absent keys.
        let values: Vec<rusqlite::types::Value> = keys
            .iter()
            .map(|key| rusqlite::types::Value::from(key.clone()))
            .collect();
        let connection = self.lock()?;
        let mut statement = connection.prepare_cached(GET_MANY_SQL).map_err(sql_error)?;
        let rows = statement
            .query_map(
                rusqlite::named_params! {":name": self.name, ":keys": Rc::new(values)},
                |row| <(String, Option<Vec<u8>>)>::try_from(row),
            )
            .map_err(sql_error)?;
        rows.collect::<Result<Vec<_>, _>>().map_err(sql_error)
    }

    fn set_many(&self, key_values: &[(String, Vec<u8>)]) -> KvResult<()> {
        let mut connection = self.lock()?;
        let transaction = connection.transaction().map_err(sql_error)?;
        for (key, value) in key_values {
            upsert(&transaction, &self.name, key, value)?;
        }
        transaction.commit().map_err(sql_error)
    }

    fn delete_many(&self, keys: &[String]) -> KvResult<()> {
        let mut connection = self.lock()?;
        let transaction = connection.transaction().map_err(sql_error)?;
        {
            let mut statement = transaction.prepare_cached(DELETE_SQL).map_err(sql_error)?;
            for key in keys {
                statement
                    .execute(params![self.name, key])
                    .map_err(sql_error)?;
            }
        }
        transaction.commit().map_err(sql_error)
    }

    fn increment(&self, key: &str, delta: i64) -> KvResult<i64> {
        let mut connection = self.lock()?;
        let transaction = connection.transaction().map_err(sql_error)?;
        let current = decode_counter(select(&transaction, &self.name, key)?)?;
        let new_value = add_delta(current, delta)?;
        upsert(&transaction, &self.name, key, &new_value.to_le_bytes())?;
        transaction.commit().map_err(sql_error)?;
        Ok(new_value)
    }

    fn swap(&self, key: &str, expected: Option<&[u8]>, new: &[u8]) -> KvResult<bool> {
        let mut connection = self.lock()?;
        let changed = match expected {
            Some(old_value) => connection
                .prepare_cached(COMPARE_UPDATE_SQL)
                .map_err(sql_error)?
                .execute(rusqlite::named_params! {
                    ":name": self.name,
                    ":key": key,
                    ":old_value": old_value,
                    ":new_value": new,
                })
                .map_err(sql_error)?,
            None => {
                let transaction = connection.transaction().map_err(sql_error)?;
                let rows = upsert(&transaction, &self.name, key, new)?;
                transaction.commit().map_err(sql_error)?;
                rows
            }
        };
        // Spin expects exactly one changed row; zero means the value moved on.
        Ok(changed == 1)
    }
}

/// The database file Spin uses by default inside the state directory.
pub const DEFAULT_DATABASE_FILE_NAME: &str = "sqlite_key_value.db";

/// The default database path for a state directory.
pub fn default_database_path(state_dir: &Path) -> PathBuf {
    state_dir.join(DEFAULT_DATABASE_FILE_NAME)
}
