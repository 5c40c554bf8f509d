//! The per-request context every operation gets: the store, the
//! environment, the settings, and a count of CAS retries.

use crate::env::Env;
use crate::identity::BuyerTokens;
use crate::limits::{
    ADMIN_TOKEN_LENGTH_MIN, CHANGES_PER_DOCUMENT_MAX, ENDED_PARTS_PER_DOCUMENT_MAX,
    FEED_MOVE_RECORDS_MIN, KEYED_ENDED_PARTS_PER_DOCUMENT_MAX, LEDGER_MOVE_PARTS_MIN,
    ZERO_UNIT_PRIMARIES_PER_DOCUMENT_MAX,
};
use crate::store::Store;
use std::cell::Cell;

/// Settings that come from Spin variables.
#[derive(Debug, Clone)]
pub struct Config {
    /// `None` (or empty) disables the admin routes; adapters build it with
    /// [`Config::admin_token_from`].
    pub admin_token: Option<String>,
    /// `None` (or empty) disables confirming holds: only the payment side,
    /// which holds this token, may confirm.
    pub confirm_token: Option<String>,
    /// A read-only credential for organiser data (`/stats`), besides the
    /// admin token; built with [`Config::admin_token_from`]'s rule too.
    pub organiser_token: Option<String>,
    /// How the booking routes know the buyer: off (a body's `customer_id`
    /// as sent) or by a signed token (`buyer_token_key`).
    pub buyer_tokens: BuyerTokens,
    pub hold_ttl_seconds_default: u32,
    /// Bounds a test lowers to reach rare paths often; deployments use the
    /// defaults (the constants of `limits`).
    pub tuning: Tuning,
}

/// Bounds of `limits` that tests may lower (see [`Config::tuning`]), so
/// that a few hundred requests reach the paths a cap opens.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tuning {
    /// [`LEDGER_MOVE_PARTS_MIN`].
    pub ledger_move_parts_min: usize,
    /// [`CHANGES_PER_DOCUMENT_MAX`].
    pub changes_per_document_max: usize,
    /// [`FEED_MOVE_RECORDS_MIN`].
    pub feed_move_records_min: u64,
    /// [`ENDED_PARTS_PER_DOCUMENT_MAX`].
    pub ended_parts_per_document_max: usize,
    /// [`KEYED_ENDED_PARTS_PER_DOCUMENT_MAX`].
    pub keyed_ended_parts_per_document_max: usize,
    /// [`ZERO_UNIT_PRIMARIES_PER_DOCUMENT_MAX`].
    pub zero_unit_primaries_per_document_max: usize,
}

impl Default for Tuning {
    fn default() -> Self {
        Tuning {
            ledger_move_parts_min: LEDGER_MOVE_PARTS_MIN,
            changes_per_document_max: CHANGES_PER_DOCUMENT_MAX,
            feed_move_records_min: FEED_MOVE_RECORDS_MIN,
            ended_parts_per_document_max: ENDED_PARTS_PER_DOCUMENT_MAX,
            keyed_ended_parts_per_document_max: KEYED_ENDED_PARTS_PER_DOCUMENT_MAX,
            zero_unit_primaries_per_document_max: ZERO_UNIT_PRIMARIES_PER_DOCUMENT_MAX,
        }
    }
}

impl Config {
    /// The admin token as configured: trimmed, and refused (with the reason,
    /// for the operator's log) when shorter than [`ADMIN_TOKEN_LENGTH_MIN`]
    /// characters or empty.
    pub fn admin_token_from(raw: &str) -> Result<String, String> {
        Self::token_from("admin_token", raw)
    }

    /// A bearer token variable (`admin_token`, `organiser_token`) under the
    /// admin token's rule: trimmed, at least [`ADMIN_TOKEN_LENGTH_MIN`]
    /// characters, else refused with the reason.
    pub fn token_from(variable: &str, raw: &str) -> Result<String, String> {
        let token = raw.trim();
        if token.chars().count() < ADMIN_TOKEN_LENGTH_MIN {
            return Err(format!(
                "{variable} has {} characters after trimming; at least {ADMIN_TOKEN_LENGTH_MIN} are needed, so the routes it guards stay disabled",
                token.chars().count()
            ));
        }
        Ok(token.to_owned())
    }
}

/// Everything an operation needs: the store, the environment, the settings,
/// and a counter of CAS retries for this request (reported in a header).
pub struct Ctx<'a, S, E> {
    pub store: &'a S,
    pub env: &'a E,
    pub config: &'a Config,
    retries: Cell<u32>,
    store_errors: Cell<u32>,
}

impl<'a, S: Store, E: Env> Ctx<'a, S, E> {
    pub fn new(store: &'a S, env: &'a E, config: &'a Config) -> Self {
        Self {
            store,
            env,
            config,
            retries: Cell::new(0),
            store_errors: Cell::new(0),
        }
    }

    /// Counts a failed store write of this request; true once the request
    /// has met [`crate::limits::STORE_ERRORS_PER_REQUEST_MAX`] of them and
    /// should answer 503 instead of trying again: a locked or full store
    /// fails every call, each after the runtime's own wait (SQLite's busy
    /// timeout), so retrying would only stretch the answer.
    pub fn note_store_error(&self) -> bool {
        let errors = self.store_errors.get().saturating_add(1);
        self.store_errors.set(errors);
        errors >= crate::limits::STORE_ERRORS_PER_REQUEST_MAX
    }

    pub fn note_retry(&self) {
        self.retries.set(self.retries.get().saturating_add(1));
    }

    pub fn retries(&self) -> u32 {
        self.retries.get()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn admin_tokens_are_trimmed_and_at_least_16_characters() {
        let sixteen = "0123456789abcdef";
        let table = [
            ("exactly the minimum", sixteen.to_owned(), Some(sixteen)),
            ("trimmed", format!("  {sixteen}\n"), Some(sixteen)),
            ("one short", sixteen[1..].to_owned(), None),
            (
                "short once trimmed",
                format!("   {}   ", &sixteen[1..]),
                None,
            ),
            ("a placeholder", "change-me".to_owned(), None),
            ("empty", String::new(), None),
            (
                "characters, not bytes",
                "é".repeat(16),
                Some("éééééééééééééééé"),
            ),
        ];
        for (name, raw, expected) in table {
            assert_eq!(
                Config::admin_token_from(&raw).ok().as_deref(),
                expected,
                "{name}"
            );
        }
    }
}
