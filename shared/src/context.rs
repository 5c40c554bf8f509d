//! The per-request context every operation gets: the store, the
//! environment, the settings, and a count of CAS retries.

use crate::env::Env;
use crate::store::Store;
use std::cell::Cell;

/// Settings that come from Spin variables.
#[derive(Debug, Clone)]
pub struct Config {
    /// `None` (or empty) disables the admin routes.
    pub admin_token: Option<String>,
    /// `None` (or empty) disables confirming holds: only the payment side,
    /// which holds this token, may confirm.
    pub confirm_token: Option<String>,
    pub hold_ttl_seconds_default: u32,
}

/// Everything an operation needs: the store, the environment, the settings,
/// and a counter of CAS retries for this request (reported in a header).
pub struct Ctx<'a, S, E> {
    pub store: &'a S,
    pub env: &'a E,
    pub config: &'a Config,
    retries: Cell<u32>,
}

impl<'a, S: Store, E: Env> Ctx<'a, S, E> {
    pub fn new(store: &'a S, env: &'a E, config: &'a Config) -> Self {
        Self {
            store,
            env,
            config,
            retries: Cell::new(0),
        }
    }

    pub fn note_retry(&self) {
        self.retries.set(self.retries.get().saturating_add(1));
    }

    pub fn retries(&self) -> u32 {
        self.retries.get()
    }
}
