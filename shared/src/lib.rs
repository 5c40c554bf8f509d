//! The booking core: pure Rust, no Spin dependency.
//!
//! Every state change is a compare-and-swap on one document of a key-value
//! store, so contention is resolved by the store and never by an in-process
//! lock. The Spin components are thin HTTP adapters, each over its own
//! entry point (`handle_hold`, …), so that a component links only the
//! operations it serves; [`handle`] dispatches to them for tests and the
//! local runtime.
//!
//! Map of the modules, lowest layer first: each module imports only modules
//! listed before it, so the import graph has no cycle (`router`, last, is the
//! only module that imports the operations):
//! - `coverage`: named paths the simulators must reach, counted with
//!   feature `testing` (a no-op otherwise).
//! - `limits`: every bound of the system, as named constants.
//! - `store`: the narrow storage trait (get, get-many, CAS, increment, put),
//!   with the storage contract written on it.
//! - `env`: the clock, randomness and back-off sleep, injected.
//! - `error`: the one error enum and the problem document it becomes.
//! - `ids`: identifier rules and the self-locating hold id.
//! - `token_crypto`: the three signature checks buyer tokens may use, as
//!   `jsonwebtoken`'s crypto provider (no RSA, no signing linked).
//! - `identity`: the buyer's signed token (JWT) the booking routes take
//!   when `buyer_token_key` is set, and who owns a hold.
//! - `records`: the stored form of change records and sales tallies.
//! - `model`: the stored documents, their key layout and the pure rules on
//!   them (occupancy of a part, the client's hold status, seat blocks).
//! - `invariants`: what every stored document keeps (units within
//!   capacity, no seat twice, records in sequence, ended parts final),
//!   checked after decode and before every swap in debug builds.
//! - `context`: the per-request context (store, env, settings, retries).
//! - `http`: request and reply types; the error → reply mapping.
//! - `cas`: the bounded, jittered read-modify-CAS loop.
//! - `meta`: the event meta every booking request reads first.
//! - `creation`: writing an event's documents, fenced by its register.
//! - `changes`: the change records and tallies a write of an inventory
//!   document makes from what it changed.
//! - `feed_pages`: the ring of pages an inventory document's change
//!   records are copied to before the document drops them.
//! - `summary`: which shards of a general section are full.
//! - `ledger`: pages of confirmed parts moved out of general shards.
//! - `parts`: inventory documents and hold parts: reading a section,
//!   counting, pruning, locating a hold, ending parts, resolving a hold
//!   spread over several documents.
//! - `view`: what a hold reads of its section (a bounded number of
//!   documents).
//! - `placement`: planning and writing a new hold's parts.
//! - `customer`: the customer bookkeeping buckets a limited hold uses.
//! - `keyed`: a hold with an Idempotency-Key (its home document, replays,
//!   racing twins).
//! - one module per operation, each with a parse step and the operation:
//!   `event` (create, get), `availability`, `hold`, `hold_status`,
//!   `confirm`, `release`; and, off the booking path, `feed` (the change
//!   records in order, with a resumable cursor) and `stats` (live figures
//!   from the tallies).
//! - `router`: routes and methods → operations; [`handle`].
//! - `memory` (feature `testing`): an in-memory store with Spin's exact
//!   semantics, and `ManualEnv`, a clock tests move by hand.

mod availability;
mod cas;
mod changes;
mod confirm;
mod context;
pub mod coverage;
mod creation;
mod customer;
mod env;
mod error;
mod event;
mod feed;
mod feed_pages;
mod hold;
mod hold_status;
mod http;
mod identity;
mod ids;
mod invariants;
mod keyed;
mod ledger;
pub mod limits;
#[cfg(feature = "testing")]
mod memory;
mod meta;
pub mod model;
mod parts;
mod placement;
mod records;
mod release;
mod router;
mod stats;
mod store;
mod summary;
mod token_crypto;
mod view;

pub use context::{Config, Ctx, Tuning};
pub use env::{Env, SystemEnv};
pub use error::{BookingError, PROBLEM_TYPE_PREFIX};
pub use http::{Reply, Request, allowed_origin};
pub use identity::{Buyer, BuyerTokens};
pub use ids::HoldRef;
#[cfg(feature = "testing")]
pub use memory::{FailMode, ManualEnv, MemoryCas, MemoryStore};
pub use router::{
    Component, Route, handle, handle_availability, handle_confirm, handle_feed, handle_hold,
    handle_inventory, handle_release,
};
pub use store::{Snapshot, Store, StoreError, Swap};
