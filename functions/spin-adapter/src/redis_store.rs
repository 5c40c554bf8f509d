//! [`RedisStore`]: the core's [`Store`] on a Redis server, reached through
//! Spin's outbound Redis interface (`fermyon:spin/redis@2.0.0`).
//!
//! Keys and values are the same as on Spin's key-value store, so an event's
//! documents read the same way on either backend. Every call is one round
//! trip:
//!
//! - `get`: `GET`; `get_many`: `MGET` (the host flattens the reply array into
//!   one nil or binary per key, in order); `put`: `SET`.
//! - `swap`: the script in `redis_store/cas.lua`, run by `EVALSHA` and, if the
//!   server answers `NOSCRIPT` (its script cache was flushed or it restarted),
//!   by `EVAL`, which also caches it again. Redis runs one script at a time,
//!   so the compare and the write are atomic. A conflict hands back the
//!   winning value read inside the same script.
//! - `increment`: the script in `redis_store/incr.lua` (same fallback): the
//!   counter is kept as the 8-byte little-endian integer Spin's store keeps,
//!   so `get` returns what the core decodes (the creation register). Values
//!   beyond ±2^53 are refused (Lua numbers are doubles).
//!
//! One difference from Spin's store: a snapshot of an absent key swaps as
//! **create-if-absent** (it writes only if the key is still absent, else
//! conflicts), where Spin upserts unconditionally. The core never swaps a
//! key it did not find, so it behaves the same on both.
//!
//! **Several primaries**: `redis_address` may list several servers
//! (comma-separated). Each event lives on one, picked by a stable hash of its
//! id, which every key of the core begins with (`e/<event_id>`; see
//! [`nodes`]), so no operation spans two servers. A connection is opened only
//! to the primaries a request touches (one, for every request the core
//! makes), on first use.
//!
//! **`WAIT`** (`redis_wait_replicas` > 0): each write is followed by `WAIT`
//! on its connection; see [`RedisStore::open`].
//!
//! **Turns** (`redis_turns`, on by default): Redis answers so fast that the
//! writers of one hot document all read the same version and all but one
//! lose their compare-and-swap, again and again (14 failed attempts per
//! successful write in a flash sale at 1,000 buyers/s). So a
//! `read_for_swap` first takes the document's turn (`take_turn.lua`, else
//! `BLPOP` on the document's turn list for at most [`TURN_WAIT_SECONDS`]),
//! and a swap that wrote gives it back (`give_turn.lua`; the store's drop
//! gives back a turn still held): the writers queue in Redis, first come
//! first served. A turn is a hint, not a lock: the compare-and-swap still
//! decides, and a waiter that times out goes on without one. A turn lost
//! with a crashed request is replaced after [`TURN_MINT_LIFETIME_MS`]; a
//! request never holds two turns.

use std::cell::{OnceCell, RefCell};

use booking_core::{Snapshot, Store, StoreError, Swap};
use spin_sdk::redis::{Connection, Error, RedisParameter, RedisResult};

pub mod nodes;

const CAS_SCRIPT: &str = include_str!("redis_store/cas.lua");
/// SHA-1 of [`CAS_SCRIPT`], as `SCRIPT LOAD` names it (checked against a real
/// server by booking-host's tests; a stale value only costs an `EVAL`).
pub const CAS_SCRIPT_SHA1: &str = "5abc853c6596f7f25a84b925fcd516eefc03b66d";
const TAKE_TURN_SCRIPT: &str = include_str!("redis_store/take_turn.lua");
/// SHA-1 of [`TAKE_TURN_SCRIPT`].
const TAKE_TURN_SCRIPT_SHA1: &str = "362ab5ae52cb8cb8889ed47262d0f92bf62dfe2a";
const GIVE_TURN_SCRIPT: &str = include_str!("redis_store/give_turn.lua");
/// SHA-1 of [`GIVE_TURN_SCRIPT`].
const GIVE_TURN_SCRIPT_SHA1: &str = "e52589419937a4a2a86a551b6530485c7bc0b5e2";
/// How long a writer waits for a document's turn before it goes on without
/// one (`BLPOP`'s timeout, in seconds).
pub const TURN_WAIT_SECONDS: &str = "0.1";
/// At most one new turn per document per this long: the time a turn lost
/// with a crashed request stays missing.
pub const TURN_MINT_LIFETIME_MS: i64 = 10_000;
const INCR_SCRIPT: &str = include_str!("redis_store/incr.lua");
/// SHA-1 of [`INCR_SCRIPT`].
pub const INCR_SCRIPT_SHA1: &str = "87235cd75cf87b39e976e84496b126039a5b4879";

/// Approximate length an event's change stream is trimmed to (`XADD MAXLEN
/// ~`): the oldest entries go first.
pub const CHANGE_STREAM_ENTRIES_MAX: u64 = 100_000;

/// Where the compare-and-swap script appends an inventory document's new
/// change records: the event's stream `e/<event>/changes`, one entry per
/// record with the fields of the HTTP feed's records (`document` is
/// `<section index>/<document index>` here).
struct ChangeStream {
    key: String,
    document: String,
    hold_id_prefix: String,
}

impl ChangeStream {
    /// For an inventory document's key, `e/<event>/<generation>/s/<section>/<doc>`;
    /// `None` for every other key.
    fn of(key: &str) -> Option<ChangeStream> {
        let mut parts = key.split('/');
        let (Some("e"), Some(event), Some(_generation), Some("s"), Some(section), Some(doc), None) = (
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
        ) else {
            return None;
        };
        Some(ChangeStream {
            key: format!("e/{event}/changes"),
            document: format!("{section}/{doc}"),
            hold_id_prefix: format!("h1~{event}~{section}~"),
        })
    }
}

/// How long `WAIT` waits for replicas (`redis_wait_replicas`), in
/// milliseconds.
pub const WAIT_TIMEOUT_MS: i64 = 1000;

/// The core's store on one or more Redis primaries.
pub struct RedisStore {
    nodes: Vec<Node>,
    /// `redis_wait_replicas`: after each write, `WAIT` for this many replicas
    /// (0: no `WAIT`).
    wait_replicas: u32,
    /// Why a `WAIT` fell short, once one did: every later call fails with it,
    /// so the request answers 503 rather than a retry inside the request
    /// finding its own write on the primary and acknowledging it.
    unreplicated: RefCell<Option<String>>,
    /// `redis_turns`: writers of a document take turns (see the module).
    turns: bool,
    /// The document whose turn this request holds, if any.
    turn: RefCell<Option<String>>,
}

/// One primary: its address, and the connection once a call needed it.
struct Node {
    address: String,
    connection: OnceCell<Connection>,
}

/// A snapshot for [`RedisStore::swap`]: the key and the value it held.
#[derive(Debug)]
pub struct RedisCas {
    key: String,
    value: Option<Vec<u8>>,
}

fn redis_error(error: Error) -> StoreError {
    StoreError(match error {
        Error::InvalidAddress => "redis: invalid address (or not in allowed_outbound_hosts)".into(),
        Error::TooManyConnections => "redis: too many connections".into(),
        Error::TypeError => "redis: type error".into(),
        Error::Other(message) => format!("redis: {message}"),
    })
}

fn unexpected(what: &str, reply: &[RedisResult]) -> StoreError {
    StoreError(format!("redis: unexpected reply to {what}: {reply:?}"))
}

fn binary(bytes: &[u8]) -> RedisParameter {
    RedisParameter::Binary(bytes.to_vec())
}

impl RedisStore {
    /// The store on the primaries `addresses` lists (comma-separated
    /// `redis://host:port[/db]`); each host must be in the component's
    /// `allowed_outbound_hosts`. Connects lazily: an unreachable or refused
    /// primary fails the first call that needs it.
    ///
    /// With `wait_replicas` > 0, every write (a swap that wrote, an
    /// increment, a put) is followed by `WAIT wait_replicas`
    /// [`WAIT_TIMEOUT_MS`] on the same connection, and fails (503) when fewer
    /// replicas acknowledged it in time. Such a write may still have landed on
    /// the primary (and may yet reach the replicas): the core's retries
    /// recognise it by its operation ids, as after any lost answer.
    /// With `turns`, writers of one document take turns (see the module).
    pub fn open(addresses: &str, wait_replicas: u32, turns: bool) -> Result<Self, StoreError> {
        let nodes = nodes::addresses(addresses)?
            .into_iter()
            .map(|address| Node {
                address,
                connection: OnceCell::new(),
            })
            .collect();
        Ok(Self {
            nodes,
            wait_replicas,
            unreplicated: RefCell::new(None),
            turns,
            turn: RefCell::new(None),
        })
    }

    /// Takes `key`'s turn, unless turns are off or this request holds it
    /// already; gives back any other turn first (never two at once). Waits
    /// at most [`TURN_WAIT_SECONDS`], then goes on without one.
    fn take_turn(&self, key: &str) -> Result<(), StoreError> {
        if !self.turns || self.turn.borrow().as_deref() == Some(key) {
            return Ok(());
        }
        self.give_turn();
        let list = format!("{key}/turn");
        let marker = format!("{key}/turn-mint");
        let lifetime = RedisParameter::Int64(TURN_MINT_LIFETIME_MS);
        let reply = self.script(
            TAKE_TURN_SCRIPT,
            TAKE_TURN_SCRIPT_SHA1,
            &[&list, &marker],
            vec![lifetime],
        )?;
        let held = match reply.as_slice() {
            [RedisResult::Int64(1)] => true,
            [RedisResult::Int64(0)] => {
                let wait = [
                    binary(list.as_bytes()),
                    binary(TURN_WAIT_SECONDS.as_bytes()),
                ];
                let waited = self
                    .route(&list)?
                    .execute("BLPOP", &wait)
                    .map_err(redis_error)?;
                // Nil on a time-out; the list's name and the turn otherwise.
                matches!(waited.as_slice(), [_, RedisResult::Binary(_)])
            }
            _ => return Err(unexpected("the take-turn script", &reply)),
        };
        if held {
            self.turn.replace(Some(key.to_owned()));
        }
        Ok(())
    }

    /// Gives back the turn this request holds, if any. A failure loses the
    /// turn: another is minted after [`TURN_MINT_LIFETIME_MS`].
    fn give_turn(&self) {
        let Some(key) = self.turn.take() else {
            return;
        };
        let list = format!("{key}/turn");
        let _ = self.script(
            GIVE_TURN_SCRIPT,
            GIVE_TURN_SCRIPT_SHA1,
            &[&list],
            Vec::new(),
        );
    }

    /// Fails if a `WAIT` of this request fell short.
    fn replicated_so_far(&self) -> Result<(), StoreError> {
        match self.unreplicated.borrow().as_ref() {
            Some(message) => Err(StoreError(message.clone())),
            None => Ok(()),
        }
    }

    /// After a write on `connection`: `WAIT` for the replicas asked for, if
    /// any.
    fn replicated(&self, connection: &Connection) -> Result<(), StoreError> {
        if self.wait_replicas == 0 {
            return Ok(());
        }
        let wanted = i64::from(self.wait_replicas);
        let reply = connection
            .execute(
                "WAIT",
                &[
                    RedisParameter::Int64(wanted),
                    RedisParameter::Int64(WAIT_TIMEOUT_MS),
                ],
            )
            .map_err(redis_error)?;
        match reply.as_slice() {
            [RedisResult::Int64(acknowledged)] if *acknowledged >= wanted => Ok(()),
            [RedisResult::Int64(acknowledged)] => {
                let message = format!(
                    "redis: {acknowledged} of {wanted} replicas acknowledged a write within \
                     {WAIT_TIMEOUT_MS} ms (it may still have landed on the primary)"
                );
                self.unreplicated.replace(Some(message.clone()));
                Err(StoreError(message))
            }
            _ => Err(unexpected("WAIT", &reply)),
        }
    }

    /// The connection to primary `index`, opened on first use.
    fn node(&self, index: usize) -> Result<&Connection, StoreError> {
        self.replicated_so_far()?;
        let node = self
            .nodes
            .get(index)
            .ok_or_else(|| StoreError(format!("redis: no primary {index}")))?;
        if let Some(connection) = node.connection.get() {
            return Ok(connection);
        }
        let connection = Connection::open(&node.address).map_err(|error| {
            let StoreError(message) = redis_error(error);
            StoreError(format!("{message} ({})", node.address))
        })?;
        Ok(node.connection.get_or_init(|| connection))
    }

    /// The connection to the primary that holds `key`'s event (every call
    /// goes through here, or through [`RedisStore::node`] for a batch read).
    fn route(&self, key: &str) -> Result<&Connection, StoreError> {
        self.node(nodes::node_of(key, self.nodes.len())?)
    }

    /// Runs a cached script by hash, or sends it whole when the server does
    /// not have it (`NOSCRIPT`).
    /// `keys[0]` routes the call; every key belongs to its event. Public for
    /// the benchmark's ideal component (tests/ideal), which decides in Redis.
    pub fn script(
        &self,
        script: &str,
        sha1: &str,
        keys: &[&str],
        args: Vec<RedisParameter>,
    ) -> Result<Vec<RedisResult>, StoreError> {
        let key = keys.first().copied().unwrap_or_default();
        let mut params = vec![
            binary(sha1.as_bytes()),
            RedisParameter::Int64(i64::try_from(keys.len()).unwrap_or(i64::MAX)),
        ];
        params.extend(keys.iter().map(|key| binary(key.as_bytes())));
        params.extend(args);
        let connection = self.route(key)?;
        match connection.execute("EVALSHA", &params) {
            // Spin's host passes the client's message on: "... - NoScriptError:
            // No matching script ..." (the redis crate's wording).
            Err(Error::Other(message)) if message.to_ascii_uppercase().contains("NOSCRIPT") => {
                params[0] = binary(script.as_bytes());
                connection.execute("EVAL", &params).map_err(redis_error)
            }
            other => other.map_err(redis_error),
        }
    }
}

impl Store for RedisStore {
    type Cas = RedisCas;

    fn get(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        self.route(key)?.get(key).map_err(redis_error)
    }

    /// One `MGET` per primary the keys live on: one, for the core's reads,
    /// which stay within one event.
    fn get_many(&self, keys: &[String]) -> Result<Vec<Option<Vec<u8>>>, StoreError> {
        let routes = keys
            .iter()
            .map(|key| nodes::node_of(key, self.nodes.len()))
            .collect::<Result<Vec<usize>, StoreError>>()?;
        let mut values = vec![None; keys.len()];
        let mut pending: Vec<usize> = (0..keys.len()).collect();
        while let Some(&first) = pending.first() {
            let node = routes[first];
            let (here, elsewhere): (Vec<usize>, Vec<usize>) =
                pending.into_iter().partition(|&i| routes[i] == node);
            pending = elsewhere;
            let params: Vec<RedisParameter> =
                here.iter().map(|&i| binary(keys[i].as_bytes())).collect();
            let reply = self
                .node(node)?
                .execute("MGET", &params)
                .map_err(redis_error)?;
            if reply.len() != here.len() {
                return Err(unexpected("MGET", &reply));
            }
            for (i, value) in here.into_iter().zip(reply) {
                values[i] = match value {
                    RedisResult::Nil => None,
                    RedisResult::Binary(bytes) => Some(bytes),
                    other => return Err(unexpected("MGET", &[other])),
                };
            }
        }
        Ok(values)
    }

    fn read_for_swap(&self, key: &str) -> Result<Snapshot<RedisCas>, StoreError> {
        self.take_turn(key)?;
        let value = self.get(key)?;
        Ok(Snapshot {
            cas: RedisCas {
                key: key.to_owned(),
                value: value.clone(),
            },
            value,
        })
    }

    fn swap(&self, cas: RedisCas, value: &[u8]) -> Result<Swap<RedisCas>, StoreError> {
        let mut args = vec![
            binary(if cas.value.is_some() { b"1" } else { b"0" }),
            binary(cas.value.as_deref().unwrap_or_default()),
            binary(value),
        ];
        let mut keys = vec![cas.key.as_str()];
        let stream = ChangeStream::of(&cas.key);
        if let Some(stream) = &stream {
            keys.push(&stream.key);
            args.push(binary(stream.document.as_bytes()));
            args.push(binary(stream.hold_id_prefix.as_bytes()));
            args.push(binary(CHANGE_STREAM_ENTRIES_MAX.to_string().as_bytes()));
        }
        let reply = self.script(CAS_SCRIPT, CAS_SCRIPT_SHA1, &keys, args)?;
        let winner = match reply.as_slice() {
            [RedisResult::Int64(1)] => {
                self.give_turn();
                self.replicated(self.route(&cas.key)?)?;
                return Ok(Swap::Done);
            }
            [RedisResult::Int64(0)] => None,
            [RedisResult::Int64(0), RedisResult::Binary(current)] => Some(current.clone()),
            _ => return Err(unexpected("the compare-and-swap script", &reply)),
        };
        Ok(Swap::Conflict(Some(Snapshot {
            cas: RedisCas {
                key: cas.key,
                value: winner.clone(),
            },
            value: winner,
        })))
    }

    fn increment(&self, key: &str, delta: i64) -> Result<i64, StoreError> {
        let reply = self.script(
            INCR_SCRIPT,
            INCR_SCRIPT_SHA1,
            &[key],
            vec![RedisParameter::Int64(delta)],
        )?;
        match reply.as_slice() {
            [RedisResult::Int64(value)] => {
                self.replicated(self.route(key)?)?;
                Ok(*value)
            }
            _ => Err(unexpected("the increment script", &reply)),
        }
    }

    fn put(&self, key: &str, value: &[u8]) -> Result<(), StoreError> {
        let connection = self.route(key)?;
        connection.set(key, value).map_err(redis_error)?;
        self.replicated(connection)
    }
}

impl Drop for RedisStore {
    /// A turn still held (the request decided without writing, or failed)
    /// goes back as the request ends.
    fn drop(&mut self) {
        self.give_turn();
    }
}
