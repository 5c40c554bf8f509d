//! Identifier rules, and the hold id that says where its hold lives.
//!
//! Client-chosen ids (event, section, seat, customer) must match
//! `^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$` before they reach a storage key.
//! Hold ids are `h1~<event>~<section index>~<document index>~<nonce>`: the
//! nonce is a v4 uuid (122 random bits) in hex, so ids are unguessable, and
//! the rest locates the hold's primary document without any lookup key.

use crate::limits::{HOLD_ID_LENGTH_MAX, ID_LENGTH_MAX};

/// The id rule as clients read it in an error (kept equal to
/// [`is_valid_id`], which a test checks against [`ID_LENGTH_MAX`]).
pub const ID_PATTERN: &str = "^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$";

/// A 400 naming the id rule: `what` (e.g. "event id") and the id as sent,
/// cut to a bounded length so the error never echoes a whole request.
pub fn invalid_id(what: &str, id: &str) -> crate::error::BookingError {
    let shown: String = id.chars().take(ID_LENGTH_MAX + 1).collect();
    crate::error::BookingError::BadRequest(format!(
        "invalid {what} {shown:?}: it must match {ID_PATTERN}"
    ))
}

pub fn is_valid_id(id: &str) -> bool {
    let bytes = id.as_bytes();
    !bytes.is_empty()
        && bytes.len() <= ID_LENGTH_MAX
        && bytes[0].is_ascii_alphanumeric()
        && bytes
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

/// Printable ASCII without control characters (space included).
pub fn is_printable_ascii(value: &str, length_max: usize) -> bool {
    !value.is_empty()
        && value.len() <= length_max
        && value.bytes().all(|b| (0x20..0x7f).contains(&b))
}

/// Where a hold's primary part lives, plus its nonce.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HoldRef {
    pub event_id: String,
    pub section: usize,
    pub doc: usize,
    pub nonce: String,
}

const HOLD_ID_PREFIX: &str = "h1";
const BOOKING_ID_PREFIX: &str = "b1-";
const NONCE_LENGTH: usize = 32;

impl HoldRef {
    pub fn new(event_id: &str, section: usize, doc: usize, nonce: uuid::Uuid) -> Self {
        Self {
            event_id: event_id.to_owned(),
            section,
            doc,
            nonce: nonce.simple().to_string(),
        }
    }

    pub fn id(&self) -> String {
        let id = format!(
            "{HOLD_ID_PREFIX}~{}~{}~{}~{}",
            self.event_id, self.section, self.doc, self.nonce
        );
        debug_assert!(id.len() <= HOLD_ID_LENGTH_MAX);
        id
    }

    /// Parses a client-supplied hold id; `None` for anything we did not make.
    pub fn parse(id: &str) -> Option<Self> {
        if id.len() > HOLD_ID_LENGTH_MAX {
            return None;
        }
        let mut fields = id.split('~');
        let (prefix, event_id, section, doc, nonce) = (
            fields.next()?,
            fields.next()?,
            fields.next()?,
            fields.next()?,
            fields.next()?,
        );
        if fields.next().is_some() || prefix != HOLD_ID_PREFIX || !is_valid_id(event_id) {
            return None;
        }
        let valid_nonce = nonce.len() == NONCE_LENGTH
            && nonce
                .bytes()
                .all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
        if !valid_nonce {
            return None;
        }
        Some(Self {
            event_id: event_id.to_owned(),
            section: parse_index(section)?,
            doc: parse_index(doc)?,
            nonce: nonce.to_owned(),
        })
    }

    /// The booking id of this hold once confirmed: derived (uuid v5), so a
    /// repeated confirm answers the same id without storing a second one.
    pub fn booking_id(&self) -> String {
        let derived = uuid::Uuid::new_v5(&uuid::Uuid::NAMESPACE_URL, self.id().as_bytes());
        format!("{BOOKING_ID_PREFIX}{}", derived.simple())
    }
}

/// A decimal index without sign or leading zeros, so each id has one spelling.
fn parse_index(text: &str) -> Option<usize> {
    if text.is_empty() || text.len() > 6 || (text.len() > 1 && text.starts_with('0')) {
        return None;
    }
    if !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse().ok()
}

/// FNV-1a, 64 bits. Stored layouts depend on it (seat blocks and buckets),
/// so it must never change; std's hasher is not stable across releases.
pub fn stable_hash(bytes: &[u8]) -> u64 {
    use std::hash::Hasher;
    let mut hasher = fnv::FnvHasher::default();
    hasher.write(bytes);
    hasher.finish()
}

/// `stable_hash(bytes) % buckets`, as an index.
pub fn bucket_of(bytes: &[u8], buckets: usize) -> usize {
    debug_assert!(buckets > 0);
    usize::try_from(stable_hash(bytes) % u64::try_from(buckets.max(1)).unwrap_or(1)).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn id_pattern_states_the_length_limit() {
        assert!(ID_PATTERN.ends_with(&format!("{{0,{}}}$", ID_LENGTH_MAX - 1)));
    }

    #[test]
    fn id_rule() {
        for good in ["a", "A-1", "floor", "x.y_z-9", &"a".repeat(64)] {
            assert!(is_valid_id(good), "{good}");
        }
        for bad in [
            "",
            "-a",
            ".a",
            "a b",
            "a/b",
            "a~b",
            "é",
            &"a".repeat(65),
            "a%20",
        ] {
            assert!(!is_valid_id(bad), "{bad}");
        }
    }

    #[test]
    fn hold_id_round_trips_and_rejects_forgeries() {
        let hold = HoldRef::new("concert.2026", 3, 17, uuid::Uuid::from_u128(0xabc));
        let id = hold.id();
        assert!(
            id.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"._~-".contains(&b))
        );
        assert_eq!(HoldRef::parse(&id), Some(hold.clone()));
        assert!(hold.booking_id().len() < HOLD_ID_LENGTH_MAX);
        for bad in [
            "",
            "h1~e~0~0",
            "h2~e~0~0~00000000000000000000000000000abc",
            "h1~e~01~0~00000000000000000000000000000abc",
            "h1~e~0~0~00000000000000000000000000000ABC",
            "h1~-e~0~0~00000000000000000000000000000abc",
            "h1~e~0~0~00000000000000000000000000000abc~x",
        ] {
            assert_eq!(HoldRef::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn stable_hash_never_changes() {
        assert_eq!(stable_hash(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(stable_hash(b"a"), 0xaf63_dc4c_8601_ec8c);
    }
}
