//! The booking core: pure Rust, no Spin dependency.
//!
//! Every state change is a compare-and-swap on one document of a key-value
//! store, so contention is resolved by the store and never by an in-process
//! lock. The Spin components are thin HTTP adapters over [`http::handle`].
//!
//! Map of the modules:
//! - [`limits`]: every bound of the system, as named constants.
//! - [`store`]: the narrow storage trait (get, get-many, CAS, increment, put).
//! - [`memory`]: an in-memory store with Spin's exact semantics, for tests.
//! - [`env`]: the clock, randomness and back-off sleep, injected.
//! - [`error`]: the one error enum, mapped to problem+json in one place.
//! - [`ids`]: identifier rules and the self-locating hold id.
//! - [`model`]: the stored documents and their key layout.
//! - [`cas`]: the bounded, jittered read-modify-CAS loop.
//! - [`http`]: request/reply types and the router used by every component.
//! - one module per operation, each with a pure `parse` and an `apply` that
//!   does I/O: [`event`] (create, get), [`availability`], [`hold`],
//!   [`confirm`], [`release`], [`hold_status`].
//! - [`customer`] and [`idempotency`]: the bookkeeping buckets a hold uses.
//! - [`parts`]: how a hold spread over several documents is resolved.

pub mod availability;
pub mod cas;
pub mod confirm;
pub mod customer;
pub mod env;
pub mod error;
pub mod event;
pub mod hold;
pub mod hold_status;
pub mod http;
pub mod idempotency;
pub mod ids;
pub mod limits;
pub mod memory;
pub mod model;
pub mod parts;
pub mod release;
pub mod store;
