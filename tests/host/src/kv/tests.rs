//! Semantics tests run against both backends through the same [`Store`] API.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use super::{
    Backend, KvCalls, KvError, MemoryBackend, SqliteBackend, SqliteSettings, Store, Stores,
    SwapError,
};

/// Concurrent tasks used by the contention tests.
const CONCURRENT_TASKS: usize = 32;
/// Operations each concurrent task performs.
const OPERATIONS_PER_TASK: usize = 25;

/// Distinguishes the database files of tests running in parallel.
static NEXT_DATABASE: AtomicU64 = AtomicU64::new(0);

/// A SQLite database file that is removed when the test ends.
struct TempDatabase {
    path: PathBuf,
}

impl TempDatabase {
    fn new() -> Self {
        let number = NEXT_DATABASE.fetch_add(1, Ordering::Relaxed);
        let path = std::env::temp_dir().join(format!(
            "booking-host-test-{}-{number}.db",
            std::process::id()
        ));
        let _ = std::fs::remove_file(&path);
        Self { path }
    }
}

impl Drop for TempDatabase {
    fn drop(&mut self) {
        for suffix in ["", "-journal", "-wal", "-shm"] {
            let _ = std::fs::remove_file(format!("{}{suffix}", self.path.display()));
        }
    }
}

/// The backends every semantic is checked on.
#[derive(Debug, Clone, Copy)]
enum Kind {
    Sqlite,
    SqliteWal,
    Memory,
}

const ALL_KINDS: [Kind; 3] = [Kind::Sqlite, Kind::SqliteWal, Kind::Memory];

/// Builds a fresh store of the given kind; the guard keeps its file alive.
fn make_store(kind: Kind) -> (Store, Option<TempDatabase>) {
    match kind {
        Kind::Memory => (Store::new(Arc::new(MemoryBackend::new())), None),
        Kind::Sqlite | Kind::SqliteWal => {
            let database = TempDatabase::new();
            let settings = SqliteSettings {
                wal: matches!(kind, Kind::SqliteWal),
                store_wait_ms: None,
            };
            let backend = SqliteBackend::open(&database.path, "default", settings)
                .expect("open the test database");
            (Store::new(Arc::new(backend)), Some(database))
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn basic_operations() -> anyhow::Result<()> {
    for kind in ALL_KINDS {
        let (store, _guard) = make_store(kind);
        assert_eq!(store.get("a".into()).await?, None, "{kind:?}");
        assert!(!store.exists("a".into()).await?, "{kind:?}");
        store.set("a".into(), b"1".to_vec()).await?;
        store.set("a".into(), b"2".to_vec()).await?;
        assert_eq!(
            store.get("a".into()).await?,
            Some(b"2".to_vec()),
            "{kind:?}"
        );
        assert!(store.exists("a".into()).await?, "{kind:?}");
        store
            .set_many(vec![
                ("b".into(), b"x".to_vec()),
                ("c".into(), b"y".to_vec()),
            ])
            .await?;
        let mut keys = store.keys().await?;
        keys.sort();
        assert_eq!(keys, ["a", "b", "c"], "{kind:?}");
        store.delete("a".into()).await?;
        store.delete("missing".into()).await?;
        store.delete_many(vec!["b".into(), "zzz".into()]).await?;
        assert_eq!(store.keys().await?, ["c"], "{kind:?}");
    }
    Ok(())
}

/// The answer of `get-many` as a map; panics on a key answered twice. Spin promises no order,
/// so no test here looks at one.
fn answered(found: Vec<(String, Option<Vec<u8>>)>) -> BTreeMap<String, Option<Vec<u8>>> {
    let mut map = BTreeMap::new();
    for (key, value) in found {
        assert!(
            map.insert(key.clone(), value).is_none(),
            "{key} answered twice"
        );
    }
    map
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn get_many_answers_present_keys_once_and_leaves_out_absent_ones_like_spin()
-> anyhow::Result<()> {
    for kind in ALL_KINDS {
        let (store, _guard) = make_store(kind);
        store.set("a".into(), b"1".to_vec()).await?;
        store.set("b".into(), b"2".to_vec()).await?;
        let found = store
            .get_many(vec!["b".into(), "missing".into(), "a".into(), "b".into()])
            .await?;
        assert_eq!(
            answered(found),
            BTreeMap::from([
                ("a".to_owned(), Some(b"1".to_vec())),
                ("b".to_owned(), Some(b"2".to_vec())),
            ]),
            "{kind:?}"
        );
        assert!(store.get_many(Vec::new()).await?.is_empty(), "{kind:?}");
    }
    Ok(())
}

/// A key asked for twice is answered once (Spin's query is `key IN rarray(...)`), so a caller
/// that puts the answer back in request order must look each position up by key without
/// consuming the entry: then both positions get the value. A caller that takes entries out of
/// a map as it goes (`HashMap::remove`) leaves the second position empty, as if the key were
/// absent: the bug this pins down for the app's adapter.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn get_many_with_a_repeated_key_fills_both_positions_by_key() -> anyhow::Result<()> {
    for kind in ALL_KINDS {
        let (store, _guard) = make_store(kind);
        store.set("k".into(), b"v".to_vec()).await?;
        let asked: Vec<String> = vec!["k".into(), "absent".into(), "k".into()];
        let found = store.get_many(asked.clone()).await?;
        assert_eq!(found.len(), 1, "{kind:?}: {found:?}");

        let by_key: HashMap<String, Option<Vec<u8>>> = found.into_iter().collect();
        let looked_up: Vec<Option<Vec<u8>>> = asked
            .iter()
            .map(|key| by_key.get(key).cloned().flatten())
            .collect();
        assert_eq!(
            looked_up,
            vec![Some(b"v".to_vec()), None, Some(b"v".to_vec())],
            "{kind:?}: every position of a repeated key gets its value"
        );

        let mut consumed = by_key.clone();
        let removed: Vec<Option<Vec<u8>>> = asked
            .iter()
            .map(|key| consumed.remove(key).flatten())
            .collect();
        assert_eq!(
            removed,
            vec![Some(b"v".to_vec()), None, None],
            "{kind:?}: a map emptied as it is read loses the repeat"
        );
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn cas_succeeds_when_value_unchanged() -> anyhow::Result<()> {
    for kind in ALL_KINDS {
        let (store, _guard) = make_store(kind);
        store.set("k".into(), b"old".to_vec()).await?;
        let mut cas = store.new_cas("k".into());
        assert_eq!(cas.current().await?, Some(b"old".to_vec()), "{kind:?}");
        cas.swap(b"new".to_vec())
            .await
            .map_err(|error| anyhow::anyhow!("{kind:?}: swap failed: {error:?}"))?;
        assert_eq!(
            store.get("k".into()).await?,
            Some(b"new".to_vec()),
            "{kind:?}"
        );
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn cas_fails_when_value_changed_and_returns_a_fresh_handle() -> anyhow::Result<()> {
    for kind in ALL_KINDS {
        let (store, _guard) = make_store(kind);
        store.set("k".into(), b"old".to_vec()).await?;
        let mut cas = store.new_cas("k".into());
        cas.current().await?;
        store.set("k".into(), b"other".to_vec()).await?;
        let retry = match cas.swap(b"mine".to_vec()).await {
            Err(SwapError::CasFailed(retry)) => retry,
            other => anyhow::bail!("{kind:?}: expected cas-failed, got {other:?}"),
        };
        assert_eq!(
            store.get("k".into()).await?,
            Some(b"other".to_vec()),
            "{kind:?}"
        );
        assert_eq!(retry.key(), "k", "{kind:?}");
        // Spin reads the latest value into the new handle, so swapping it right away succeeds.
        retry
            .swap(b"mine".to_vec())
            .await
            .map_err(|error| anyhow::anyhow!("{kind:?}: retry failed: {error:?}"))?;
        assert_eq!(
            store.get("k".into()).await?,
            Some(b"mine".to_vec()),
            "{kind:?}"
        );
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn cas_fails_when_key_deleted() -> anyhow::Result<()> {
    for kind in ALL_KINDS {
        let (store, _guard) = make_store(kind);
        store.set("k".into(), b"old".to_vec()).await?;
        let mut cas = store.new_cas("k".into());
        cas.current().await?;
        store.delete("k".into()).await?;
        assert!(
            matches!(cas.swap(b"x".to_vec()).await, Err(SwapError::CasFailed(_))),
            "{kind:?}"
        );
        assert_eq!(store.get("k".into()).await?, None, "{kind:?}");
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn cas_without_snapshot_is_an_unconditional_upsert() -> anyhow::Result<()> {
    for kind in ALL_KINDS {
        let (store, _guard) = make_store(kind);
        // Two creators both read "absent": both swaps succeed and the last one wins.
        let mut first = store.new_cas("new".into());
        let mut second = store.new_cas("new".into());
        assert_eq!(first.current().await?, None, "{kind:?}");
        assert_eq!(second.current().await?, None, "{kind:?}");
        first
            .swap(b"first".to_vec())
            .await
            .map_err(|error| anyhow::anyhow!("{kind:?}: {error:?}"))?;
        second
            .swap(b"second".to_vec())
            .await
            .map_err(|error| anyhow::anyhow!("{kind:?}: {error:?}"))?;
        assert_eq!(
            store.get("new".into()).await?,
            Some(b"second".to_vec()),
            "{kind:?}"
        );

        // Without any current() call the swap overwrites whatever is stored.
        store.set("existing".into(), b"stored".to_vec()).await?;
        let blind_one = store.new_cas("existing".into());
        let blind_two = store.new_cas("existing".into());
        blind_one
            .swap(b"one".to_vec())
            .await
            .map_err(|error| anyhow::anyhow!("{kind:?}: {error:?}"))?;
        blind_two
            .swap(b"two".to_vec())
            .await
            .map_err(|error| anyhow::anyhow!("{kind:?}: {error:?}"))?;
        assert_eq!(
            store.get("existing".into()).await?,
            Some(b"two".to_vec()),
            "{kind:?}"
        );
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn increment_is_atomic_under_concurrency() -> anyhow::Result<()> {
    for kind in ALL_KINDS {
        let (store, _guard) = make_store(kind);
        let mut tasks = Vec::new();
        for _ in 0..CONCURRENT_TASKS {
            let store = store.clone();
            tasks.push(tokio::spawn(async move {
                for _ in 0..OPERATIONS_PER_TASK {
                    store.increment("counter".into(), 1).await?;
                }
                Ok::<_, KvError>(())
            }));
        }
        for task in tasks {
            task.await??;
        }
        let expected = i64::try_from(CONCURRENT_TASKS * OPERATIONS_PER_TASK)?;
        assert_eq!(
            store.get("counter".into()).await?,
            Some(expected.to_le_bytes().to_vec()),
            "{kind:?}"
        );
        assert_eq!(
            store.increment("counter".into(), -expected).await?,
            0,
            "{kind:?}"
        );
        store.set("text".into(), b"abc".to_vec()).await?;
        assert!(store.increment("text".into(), 1).await.is_err(), "{kind:?}");
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn cas_retry_loops_share_the_store_safely() -> anyhow::Result<()> {
    for kind in ALL_KINDS {
        let (store, _guard) = make_store(kind);
        store.set("total".into(), b"0".to_vec()).await?;
        let mut tasks = Vec::new();
        for task_number in 0..CONCURRENT_TASKS {
            let store = store.clone();
            tasks.push(tokio::spawn(async move {
                let mut retries = 0_u64;
                for operation in 0..OPERATIONS_PER_TASK {
                    // Unrelated traffic on other keys interleaves with the CAS loop.
                    store
                        .set(
                            format!("own-{task_number}"),
                            operation.to_le_bytes().to_vec(),
                        )
                        .await?;
                    let mut cas = store.new_cas("total".into());
                    loop {
                        let current = cas.current().await?.unwrap_or_default();
                        let value: u64 = String::from_utf8_lossy(&current).parse().unwrap_or(0);
                        match cas.swap((value + 1).to_string().into_bytes()).await {
                            Ok(()) => break,
                            Err(SwapError::CasFailed(retry)) => {
                                retries += 1;
                                cas = retry;
                            }
                            Err(SwapError::Store(error)) => return Err(error),
                        }
                    }
                }
                Ok::<_, KvError>(retries)
            }));
        }
        for task in tasks {
            task.await??;
        }
        let expected = (CONCURRENT_TASKS * OPERATIONS_PER_TASK)
            .to_string()
            .into_bytes();
        assert_eq!(store.get("total".into()).await?, Some(expected), "{kind:?}");
        assert_eq!(store.keys().await?.len(), CONCURRENT_TASKS + 1, "{kind:?}");
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn open_checks_the_component_list_before_the_configuration() -> anyhow::Result<()> {
    for kind in ALL_KINDS {
        let (store, _guard) = make_store(kind);
        let mut stores = Stores::new();
        stores.insert("default", store);
        let allowed: HashSet<String> = ["default".to_owned(), "listed".to_owned()].into();
        assert!(stores.open(&allowed, "default").is_ok(), "{kind:?}");
        assert_eq!(
            stores.open(&HashSet::new(), "default").err(),
            Some(KvError::AccessDenied),
            "{kind:?}"
        );
        assert_eq!(
            stores.open(&allowed, "unlisted").err(),
            Some(KvError::AccessDenied),
            "{kind:?}"
        );
        assert_eq!(
            stores.open(&allowed, "listed").err(),
            Some(KvError::NoSuchStore),
            "{kind:?}"
        );
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_data_survives_reopening() -> anyhow::Result<()> {
    let database = TempDatabase::new();
    {
        let backend = SqliteBackend::open(&database.path, "default", SqliteSettings::default())?;
        Store::new(Arc::new(backend))
            .set("kept".into(), b"yes".to_vec())
            .await?;
    }
    let backend = SqliteBackend::open(&database.path, "default", SqliteSettings::default())?;
    let other = SqliteBackend::open(&database.path, "other", SqliteSettings::default())?;
    assert_eq!(
        Store::new(Arc::new(backend)).get("kept".into()).await?,
        Some(b"yes".to_vec())
    );
    // Labels share the table but not their rows.
    assert_eq!(Store::new(Arc::new(other)).get("kept".into()).await?, None);
    Ok(())
}

/// A backend that records the thread each call runs on.
#[derive(Default)]
struct ThreadRecorder {
    threads: std::sync::Mutex<Vec<std::thread::ThreadId>>,
}

impl super::Backend for ThreadRecorder {
    fn get(&self, _key: &str) -> super::KvResult<Option<Vec<u8>>> {
        if let Ok(mut threads) = self.threads.lock() {
            threads.push(std::thread::current().id());
        }
        Ok(None)
    }
    fn set(&self, _: &str, _: &[u8]) -> super::KvResult<()> {
        Ok(())
    }
    fn delete(&self, _: &str) -> super::KvResult<()> {
        Ok(())
    }
    fn exists(&self, _: &str) -> super::KvResult<bool> {
        Ok(false)
    }
    fn keys(&self) -> super::KvResult<Vec<String>> {
        Ok(Vec::new())
    }
    fn get_many(&self, _: &[String]) -> super::KvResult<Vec<(String, Option<Vec<u8>>)>> {
        Ok(Vec::new())
    }
    fn set_many(&self, _: &[(String, Vec<u8>)]) -> super::KvResult<()> {
        Ok(())
    }
    fn delete_many(&self, _: &[String]) -> super::KvResult<()> {
        Ok(())
    }
    fn increment(&self, _: &str, delta: i64) -> super::KvResult<i64> {
        Ok(delta)
    }
    fn swap(&self, _: &str, _: Option<&[u8]>, _: &[u8]) -> super::KvResult<bool> {
        Ok(true)
    }
}

/// Store calls are scheduled as Spin schedules them: inline on the calling task's thread
/// (inside `block_in_place`), not handed to the blocking pool (`spawn_blocking` would run them
/// on another thread).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn store_calls_run_inline_on_the_calling_thread() -> anyhow::Result<()> {
    let recorder = Arc::new(ThreadRecorder::default());
    let store = Store::new(Arc::clone(&recorder) as Arc<dyn super::Backend>);
    let callers = tokio::spawn(async move {
        let mut callers = Vec::new();
        for _ in 0..20 {
            callers.push(std::thread::current().id());
            store.get("k".into()).await?;
        }
        Ok::<_, KvError>(callers)
    })
    .await??;
    let ran_on = recorder
        .threads
        .lock()
        .map(|threads| threads.clone())
        .unwrap_or_default();
    assert_eq!(ran_on, callers);
    Ok(())
}

/// Every kind of call moves its own counter, as the call is made: reads, writes, swaps that
/// wrote and swaps that conflicted (with the read the conflict makes for the fresh handle),
/// and failures.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn calls_are_counted_by_kind_as_they_are_made() -> anyhow::Result<()> {
    for kind in ALL_KINDS {
        let (store, _guard) = make_store(kind);
        assert_eq!(store.calls(), KvCalls::default(), "{kind:?}");
        let mut expected = KvCalls::default();

        store.get("a".into()).await?;
        expected.gets += 1;
        assert_eq!(store.calls(), expected, "{kind:?}");
        store.set("a".into(), b"1".to_vec()).await?;
        store.set("b".into(), b"1".to_vec()).await?;
        expected.sets += 2;
        assert_eq!(store.calls(), expected, "{kind:?}");
        store.exists("a".into()).await?;
        store.keys().await?;
        expected.exists += 1;
        expected.list_keys += 1;
        assert_eq!(store.calls(), expected, "{kind:?}");
        store
            .get_many(vec!["a".into(), "b".into(), "absent".into()])
            .await?;
        expected.get_many += 1;
        expected.get_many_keys += 3;
        assert_eq!(store.calls(), expected, "{kind:?}");
        store
            .set_many(vec![
                ("c".into(), b"1".to_vec()),
                ("d".into(), b"1".to_vec()),
            ])
            .await?;
        expected.set_many_keys += 2;
        store.delete_many(vec!["c".into(), "d".into()]).await?;
        expected.delete_many_keys += 2;
        store.delete("b".into()).await?;
        expected.deletes += 1;
        store.increment("n".into(), 5).await?;
        expected.increments += 1;
        assert_eq!(store.calls(), expected, "{kind:?}");

        // A read-then-swap that wrote.
        let mut cas = store.new_cas("a".into());
        assert_eq!(store.calls(), expected, "{kind:?}: new does not read");
        cas.current().await?;
        expected.cas_currents += 1;
        cas.swap(b"2".to_vec())
            .await
            .map_err(|e| anyhow::anyhow!("{e:?}"))?;
        expected.swaps_ok += 1;
        assert_eq!(store.calls(), expected, "{kind:?}");

        // A swap that lost the race: counted as a conflict, plus the read of the fresh handle.
        let mut stale = store.new_cas("a".into());
        stale.current().await?;
        store.set("a".into(), b"3".to_vec()).await?;
        expected.cas_currents += 2;
        expected.sets += 1;
        let Err(SwapError::CasFailed(fresh)) = stale.swap(b"4".to_vec()).await else {
            anyhow::bail!("{kind:?}: the stale swap should conflict");
        };
        expected.swaps_conflict += 1;
        assert_eq!(store.calls(), expected, "{kind:?}");
        // The fresh handle swaps without another read; a swap without a snapshot writes too.
        fresh
            .swap(b"5".to_vec())
            .await
            .map_err(|e| anyhow::anyhow!("{e:?}"))?;
        store
            .new_cas("new".into())
            .swap(b"1".to_vec())
            .await
            .map_err(|e| anyhow::anyhow!("{e:?}"))?;
        expected.swaps_ok += 2;
        assert_eq!(store.calls(), expected, "{kind:?}");

        // A failing call counts as made, and as an error.
        assert!(store.increment("a".into(), 1).await.is_err(), "{kind:?}");
        expected.increments += 1;
        expected.errors += 1;
        let calls = store.calls();
        assert_eq!(calls, expected, "{kind:?}");
        assert_eq!(calls.writes(), 14, "{kind:?}: {calls}");
        assert_eq!(calls.successful_writes(), 13, "{kind:?}: {calls}");
        assert_eq!(calls.reads(), 9, "{kind:?}: {calls}");
        assert_eq!(KvCalls::parse(&calls.to_string()), Some(calls), "{kind:?}");
    }
    Ok(())
}

/// Under contention the counters lose nothing: every conflict a retry loop sees is a
/// conflicting swap, every update that landed a successful one; and the stores' totals add up
/// their labels.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn counts_add_up_under_contention_and_across_stores() -> anyhow::Result<()> {
    let (store, _guard) = make_store(Kind::Memory);
    let (other, _other_guard) = make_store(Kind::Memory);
    let conflicts = Arc::new(AtomicU64::new(0));
    let mut tasks = Vec::new();
    for _ in 0..CONCURRENT_TASKS {
        let store = store.clone();
        let conflicts = Arc::clone(&conflicts);
        tasks.push(tokio::spawn(async move {
            for _ in 0..OPERATIONS_PER_TASK {
                let mut cas = store.new_cas("hot".into());
                let mut value = cas.current().await?;
                loop {
                    let next = value.as_deref().map_or(0, |v| v.len()) + 1;
                    match cas.swap(vec![b'x'; next]).await {
                        Ok(()) => break,
                        Err(SwapError::CasFailed(fresh)) => {
                            conflicts.fetch_add(1, Ordering::Relaxed);
                            cas = fresh;
                            value = cas.current().await?;
                        }
                        Err(SwapError::Store(error)) => return Err(error),
                    }
                }
                store.increment("n".into(), 1).await?;
            }
            Ok::<_, KvError>(())
        }));
    }
    for task in tasks {
        task.await??;
    }
    let updates = (CONCURRENT_TASKS * OPERATIONS_PER_TASK) as u64;
    let conflicts = conflicts.load(Ordering::Relaxed);
    let calls = store.calls();
    assert_eq!(calls.swaps_ok, updates, "{calls}");
    assert_eq!(calls.swaps_conflict, conflicts, "{calls}");
    assert_eq!(calls.increments, updates, "{calls}");
    // One read per loop start, and two per conflict (the fresh handle's, then the loop's).
    assert_eq!(calls.cas_currents, updates + 2 * conflicts, "{calls}");
    assert_eq!(calls.errors, 0, "{calls}");

    other.set("x".into(), b"1".to_vec()).await?;
    let mut stores = Stores::new();
    stores.insert("default", store);
    stores.insert("other", other);
    let total = stores.calls();
    assert_eq!(total.sets, 1, "{total}");
    assert_eq!(total.swaps_ok, updates, "{total}");
    let report = stores.calls_report();
    let lines: Vec<&str> = report.lines().collect();
    assert_eq!(lines.len(), 3, "{report}");
    assert_eq!(KvCalls::parse(lines[0]), Some(total), "{report}");
    assert!(
        lines[1].starts_with("kv-calls store=default: gets=0 "),
        "{report}"
    );
    assert!(
        lines[2].starts_with("kv-calls store=other: gets=0 "),
        "{report}"
    );
    Ok(())
}

/// `--store-wait-ms`: with the database locked by another process, a call fails (the app
/// answers 503) instead of waiting rusqlite's 5 s, changes nothing, and the store works again
/// as soon as the lock is gone, on the same connection.
#[test]
fn a_bounded_store_call_fails_on_a_locked_database_and_recovers() -> anyhow::Result<()> {
    let database = TempDatabase::new();
    let settings = SqliteSettings {
        wal: false,
        store_wait_ms: Some(20),
    };
    let backend = SqliteBackend::open(&database.path, "default", settings)?;
    backend.set("a", b"1")?;
    let other = rusqlite::Connection::open(&database.path)?;
    other.execute_batch("BEGIN EXCLUSIVE")?;
    let refused = backend.set("a", b"2");
    assert!(
        matches!(&refused, Err(KvError::Other(message)) if message.contains("locked")),
        "{refused:?}"
    );
    assert!(
        backend.get("a").is_err(),
        "an exclusive lock blocks readers too"
    );
    other.execute_batch("COMMIT")?;
    assert_eq!(
        backend.get("a")?,
        Some(b"1".to_vec()),
        "the refused write left nothing"
    );
    backend.set("a", b"3")?;
    assert_eq!(backend.get("a")?, Some(b"3".to_vec()));
    Ok(())
}
