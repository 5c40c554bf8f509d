//! Concurrent operations under a deterministic scheduler: every store call
//! of every simulated request waits for its turn, a seeded random choice
//! picks which request moves next, and the storage invariants are checked
//! after every single step. Many seeds explore many interleavings; a failing
//! seed replays exactly.

mod common;

use booking_core::coverage;
use booking_core::model::seat_block;
use booking_core::model::{InventoryDoc, PartStatus};
use booking_core::{Config, Ctx, Request, Route};
use booking_core::{Env, ManualEnv};
use booking_core::{MemoryCas, MemoryStore};
use booking_core::{Snapshot, Store, StoreError, Swap};
use common::{Booking, START_MS, TOKEN};
use serde_json::{Value, json};
use std::collections::BTreeSet;
use std::io::Write;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};

/// Seeds explored by default; `BOOKING_INTERLEAVING_SEEDS` asks for more.
const SEEDS_DEFAULT: u64 = 300;
const WORKERS: usize = 4;
const OPERATIONS_PER_WORKER: usize = 6;

#[derive(Default)]
struct Schedule {
    active: usize,
    waiting: Vec<usize>,
    turn: Option<usize>,
    rng: u64,
    /// Parts seen confirmed: they must stay confirmed forever.
    confirmed: BTreeSet<(String, String)>,
    steps: u64,
    /// The first broken invariant; every thread stops when it is set.
    failed: Option<String>,
}

struct Scheduler {
    state: Mutex<Schedule>,
    wake: Condvar,
    store: MemoryStore,
    now: ManualEnv,
}

impl Scheduler {
    fn lock(&self) -> MutexGuard<'_, Schedule> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Blocks until it is `me`'s turn to make one store call.
    fn enter(&self, me: usize) {
        let mut state = self.lock();
        state.waiting.push(me);
        loop {
            if state.turn.is_none() && state.waiting.len() == state.active {
                state.rng = state
                    .rng
                    .wrapping_mul(6_364_136_223_846_793_005)
                    .wrapping_add(1_442_695_040_888_963_407);
                let pick =
                    usize::try_from((state.rng >> 33) % state.waiting.len() as u64).unwrap_or(0);
                let chosen = state.waiting.remove(pick);
                state.turn = Some(chosen);
                self.wake.notify_all();
            }
            if let Some(failure) = &state.failed {
                panic!("another request broke an invariant: {failure}");
            }
            if state.turn == Some(me) {
                return;
            }
            state = self.wake.wait(state).unwrap_or_else(|p| p.into_inner());
        }
    }

    /// Ends `me`'s store call: checks every invariant, passes the turn on.
    fn leave(&self) {
        let mut state = self.lock();
        if let Err(failure) = check_invariants(&self.store, &self.now, &mut state) {
            state.failed.get_or_insert(failure);
        }
        state.steps += 1;
        state.turn = None;
        self.wake.notify_all();
    }

    fn finish(&self) {
        let mut state = self.lock();
        state.active -= 1;
        self.wake.notify_all();
    }
}

/// Ends a worker's part in the schedule even if it panics, so the other
/// workers never wait for it forever.
struct Finish(Arc<Scheduler>);

impl Drop for Finish {
    fn drop(&mut self) {
        self.0.finish();
    }
}

fn check_invariants(
    store: &MemoryStore,
    env: &ManualEnv,
    state: &mut Schedule,
) -> Result<(), String> {
    let now = env.now_ms();
    for key in store.keys().into_iter().filter(|k| k.contains("/s/")) {
        let doc: InventoryDoc = store
            .inventory_with_ledger(&key)
            .ok_or_else(|| format!("{key} does not parse"))?;
        if let Some(violation) = common::document_violation(&doc, now) {
            return Err(format!("step {}: {key}: {violation}", state.steps));
        }
        for part in &doc.parts {
            if part.status == PartStatus::Confirmed {
                state.confirmed.insert((key.clone(), part.nonce.clone()));
            }
        }
        for (confirmed_key, nonce) in state.confirmed.iter().filter(|(k, _)| *k == key) {
            if !doc
                .part(nonce)
                .is_some_and(|p| p.status == PartStatus::Confirmed)
            {
                return Err(format!(
                    "step {}: confirmed part {nonce} in {confirmed_key} was lost",
                    state.steps
                ));
            }
        }
    }
    Ok(())
}

/// One simulated request's view of the store: every call takes a turn.
struct Turnstile {
    scheduler: Arc<Scheduler>,
    me: usize,
}

impl Turnstile {
    fn step<T>(&self, call: impl FnOnce(&MemoryStore) -> T) -> T {
        self.scheduler.enter(self.me);
        let result = call(&self.scheduler.store);
        self.scheduler.leave();
        result
    }
}

impl Store for Turnstile {
    type Cas = MemoryCas;
    fn get(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        self.step(|s| s.get(key))
    }
    fn get_many(&self, keys: &[String]) -> Result<Vec<Option<Vec<u8>>>, StoreError> {
        self.step(|s| s.get_many(keys))
    }
    fn read_for_swap(&self, key: &str) -> Result<Snapshot<MemoryCas>, StoreError> {
        self.step(|s| s.read_for_swap(key))
    }
    fn swap(&self, cas: MemoryCas, value: &[u8]) -> Result<Swap<MemoryCas>, StoreError> {
        self.step(|s| s.swap(cas, value))
    }
    fn increment(&self, key: &str, delta: i64) -> Result<i64, StoreError> {
        self.step(|s| s.increment(key, delta))
    }
    fn put(&self, key: &str, value: &[u8]) -> Result<(), StoreError> {
        self.step(|s| s.put(key, value))
    }
}

fn call(
    store: &Turnstile,
    env: &ManualEnv,
    config: &Config,
    method: &str,
    path: &str,
    body: Value,
    key: Option<&str>,
) -> (u16, Value) {
    let mut headers = vec![("authorization".to_owned(), format!("Bearer {TOKEN}"))];
    if let Some(key) = key {
        headers.push(("idempotency-key".into(), key.into()));
    }
    let component = Route::component(path);
    let request = Request {
        method: method.into(),
        path: path.into(),
        headers,
        body: if body.is_null() {
            Vec::new()
        } else {
            body.to_string().into_bytes()
        },
    };
    let reply = booking_core::handle(component, &request, &Ctx::new(store, env, config));
    (
        reply.status,
        serde_json::from_slice(&reply.body).unwrap_or(Value::Null),
    )
}

/// Seats of the seated section that fall in different blocks, so holds of
/// a few of them are often spread over several documents.
fn contested_seats(blocks: u32) -> Vec<String> {
    let mut chosen = Vec::new();
    for block in 0..blocks as usize {
        chosen.extend(
            (1..=130)
                .map(|i| format!("A-{i}"))
                .filter(|s| seat_block(s, blocks) == block)
                .take(3),
        );
    }
    chosen
}

fn run_seed(seed: u64) -> u64 {
    let setup = Booking::new(seed);
    let seats: Vec<String> = (1..=130).map(|i| format!("A-{i}")).collect();
    let created = setup.create(
        "ev",
        json!({"name": "x", "hold_ttl_seconds": 1, "max_per_customer": 6,
               "sections": [{"id": "floor", "capacity": 12, "shards": 3}, {"id": "A", "seats": seats}]}),
    );
    assert_eq!(created.status, 201);
    let pool = contested_seats(3);
    let scheduler = Arc::new(Scheduler {
        state: Mutex::new(Schedule {
            active: WORKERS,
            rng: seed,
            ..Schedule::default()
        }),
        wake: Condvar::new(),
        store: setup.store.clone(),
        now: setup.env.clone(),
    });
    let threads: Vec<_> = (0..WORKERS)
        .map(|me| {
            let scheduler = Arc::clone(&scheduler);
            let env = setup.env.clone();
            let config = setup.config.clone();
            let pool = pool.clone();
            std::thread::spawn(move || {
                let _finish = Finish(Arc::clone(&scheduler));
                let store = Turnstile {
                    scheduler: Arc::clone(&scheduler),
                    me,
                };
                let mut pick = seed.wrapping_mul(31).wrapping_add(me as u64 * 7919);
                let mut next = |n: u64| {
                    pick = pick.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
                    (pick >> 33) % n
                };
                let mut confirmed: Vec<(String, u64)> = Vec::new();
                for op in 0..OPERATIONS_PER_WORKER {
                    let customer = format!("c{}", next(3));
                    let (body, key) = if next(2) == 0 {
                        (json!({"section": "floor", "quantity": next(4) + 1, "customer_id": customer}), None)
                    } else {
                        let a = &pool[next(pool.len() as u64) as usize];
                        let b = &pool[next(pool.len() as u64) as usize];
                        let seats: Vec<&String> = if a == b { vec![a] } else { vec![a, b] };
                        (json!({"section": "A", "seats": seats}), Some(format!("interleaving-key-{}", next(4))))
                    };
                    let (status, hold) = call(&store, &env, &config, "POST", "/events/ev/holds", body, key.as_deref());
                    assert!(
                        matches!(status, 201 | 409 | 422 | 503),
                        "worker {me} op {op}: hold answered {status}: {hold}"
                    );
                    if status == 201 {
                        let id = hold["hold_id"].as_str().unwrap_or_default().to_owned();
                        match next(3) {
                            0 => {
                                let (s, b) = call(&store, &env, &config, "POST", &format!("/holds/{id}/confirm"), json!({"payment_ref": "p"}), None);
                                assert!(matches!(s, 200 | 409 | 410 | 503), "confirm answered {s}: {b}");
                                if s == 200 {
                                    let units = b["quantity"].as_u64().unwrap_or(0);
                                    confirmed.push((id, units));
                                }
                            }
                            1 => {
                                let (s, b) = call(&store, &env, &config, "POST", &format!("/holds/{id}/release"), Value::Null, None);
                                assert!(matches!(s, 200 | 409 | 503), "release answered {s}: {b}");
                            }
                            _ => {}
                        }
                    }
                    env.advance_ms(150);
                }
                confirmed
            })
        })
        .collect();
    let mut confirmed = Vec::new();
    for thread in threads {
        confirmed.extend(thread.join().expect("worker thread"));
    }
    // At rest: every confirmed hold still reads confirmed, and the counts add up.
    for (id, _) in &confirmed {
        let status = setup.status(id);
        assert_eq!(status.str("status"), "confirmed", "seed {seed}: {id}");
    }
    // What buyers were told they bought is exactly what the store sold.
    // Replays of one Idempotency-Key hand two workers the same hold: count it once.
    confirmed.sort();
    confirmed.dedup();
    let promised: u64 = confirmed.iter().map(|(_, units)| units).sum();
    let (_, _, sold_floor) = setup.counts("ev", "floor");
    let (_, _, sold_seats) = setup.counts("ev", "A");
    assert_eq!(sold_floor + sold_seats, promised, "seed {seed}");
    assert_eq!(setup.check_documents(), promised, "seed {seed}");
    let steps = scheduler.lock().steps;
    let _ = START_MS;
    steps
}

#[test]
fn no_interleaving_breaks_an_invariant() {
    let seeds = std::env::var("BOOKING_INTERLEAVING_SEEDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(SEEDS_DEFAULT);
    let before = coverage::snapshot();
    let mut steps = 0;
    for seed in 0..seeds {
        steps += run_seed(seed);
    }
    // Past the harness's capture (it takes only `print!`/`eprint!`), so a
    // passing run shows it too. Counts include the racing test's, which
    // runs alongside.
    let table = coverage::table(&coverage::since(&before));
    let _ = std::io::stderr().write_all(format!("interleaving, {seeds} seeds: {table}").as_bytes());
    assert!(steps > seeds * 50, "the scheduler ran only {steps} steps");
}

/// Free-running threads with real contention on one hot shard: exact totals.
#[test]
fn racing_buyers_never_oversell() {
    const CONFIRM_RETRIES_MAX: usize = 50;
    let b = Booking::new(99);
    b.create(
        "ev",
        json!({"name": "x", "sections": [{"id": "floor", "capacity": 40, "shards": 1}]}),
    );
    let threads: Vec<_> = (0..8)
        .map(|t| {
            let b = b.clone();
            std::thread::spawn(move || {
                let mut mine = 0u64;
                for i in 0..20 {
                    let q = (t + i) % 3 + 1;
                    let hold = b.hold("ev", json!({"section": "floor", "quantity": q}));
                    match hold.status {
                        201 => {
                            // A careful client retries a 503 (contention):
                            // with real threads and no real back-off sleep,
                            // eight buyers on one document can exhaust the
                            // CAS attempts of a request.
                            let id = hold.str("hold_id");
                            let mut confirm = b.confirm(&id);
                            for _ in 0..CONFIRM_RETRIES_MAX {
                                if confirm.status != 503 {
                                    break;
                                }
                                confirm = b.confirm(&id);
                            }
                            if confirm.status == 200 {
                                mine += q as u64;
                            }
                        }
                        409 | 503 => {}
                        other => panic!("hold answered {other}: {:?}", hold.body),
                    }
                }
                mine
            })
        })
        .collect();
    let sold: u64 = threads.into_iter().map(|t| t.join().expect("thread")).sum();
    let (available, held, sold_counted) = b.counts("ev", "floor");
    assert_eq!(sold, sold_counted);
    assert_eq!(held, 0);
    assert!(sold <= 40);
    assert_eq!(available + sold, 40);
    assert_eq!(b.check_documents(), sold);
}
