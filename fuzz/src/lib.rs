//! Shared harness of the fuzz targets: a prepared event on the memory store
//! (built once per process through the router), a store wrapper that traces
//! what a request read and wrote, the check that a reply is well formed, and
//! the sale's invariants read straight from the stored documents.
//!
//! Every check panics with what it saw: libFuzzer records a panic as a crash
//! and saves the input under `fuzz/artifacts/<target>/`.

pub mod calls;
pub mod fixture;
pub mod json;
pub mod reply;
pub mod sale;
pub mod stats;
pub mod traced;

pub use fixture::{Fixture, KnownHold, fixture};
pub use reply::check_reply;
pub use sale::{Sale, check_documents};
pub use traced::{Event, Traced};
