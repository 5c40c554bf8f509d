//! booking-load: drives the booking API with flash-sale traffic, checks every
//! invariant the service promises from the answers and the state at rest, and
//! reports throughput, latency, conflicts and memory.
//!
//! - [`scenario`]: the scenarios and the closed/open load models;
//! - [`feed`]: follows the change feed during a run and checks it (and the stats) at rest;
//! - [`check`]: the invariant checker (pure: a log and a final state in, violations out);
//! - [`stats`] and [`report`]: figures, JSON, markdown and charts;
//! - [`server`]: starts the local runtime for a run;
//! - [`restart`]: process faults: kills the server (SIGKILL) during a run and restarts it;
//! - [`floor`]: the SQLite CAS micro-benchmark (the storage floor);
//! - [`ruler`]: our runs beside the ideal component's, as ratios (`booking-load ruler`).

pub mod check;
pub mod client;
pub mod feed;
pub mod floor;
pub mod log;
pub mod report;
pub mod restart;
pub mod ruler;
pub mod scenario;
pub mod server;
pub mod stats;
