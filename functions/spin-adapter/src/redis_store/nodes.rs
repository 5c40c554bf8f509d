//! Which Redis primary holds a key, when `redis_address` lists several.
//!
//! The contract with the core: **every key it reads or writes begins with
//! `e/<event_id>`** (followed by the end of the key or a `/`), and event ids
//! never contain a `/` (they match `^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$`). An
//! event lives on one primary, picked by FNV-1a 64 of its id (the algorithm of
//! `booking_core`'s stable hash) modulo the number of primaries, so every
//! operation, which only ever touches one event, runs on one server. A key
//! outside the contract is refused rather than routed somewhere arbitrary.
//!
//! Adding, removing or reordering primaries moves events between them: the
//! list is fixed for the life of the data (re-sharding means copying each
//! event's keys to its new primary while the app is stopped).

use std::hash::Hasher;

use booking_core::StoreError;

/// The addresses in `redis_address`: comma-separated `redis://host:port[/db]`
/// entries, blanks ignored. At least one.
pub fn addresses(list: &str) -> Result<Vec<String>, StoreError> {
    let addresses: Vec<String> = list
        .split(',')
        .map(str::trim)
        .filter(|address| !address.is_empty())
        .map(str::to_owned)
        .collect();
    if addresses.is_empty() {
        return Err(StoreError("redis: redis_address lists no server".into()));
    }
    Ok(addresses)
}

/// The event id a key belongs to: the segment after `e/`.
pub fn event_of(key: &str) -> Result<&str, StoreError> {
    let event = key
        .strip_prefix("e/")
        .map(|rest| rest.split_once('/').map_or(rest, |(event, _)| event))
        .filter(|event| !event.is_empty());
    event.ok_or_else(|| {
        StoreError(format!(
            "redis: key {key:?} does not begin with e/<event_id>"
        ))
    })
}

/// FNV-1a, 64 bits, as `booking_core`'s stable hash.
pub fn stable_hash(bytes: &[u8]) -> u64 {
    let mut hasher = fnv::FnvHasher::default();
    hasher.write(bytes);
    hasher.finish()
}

/// The index, among `count` primaries, of the one that holds `key`'s event.
pub fn node_of(key: &str, count: usize) -> Result<usize, StoreError> {
    let event = event_of(key)?;
    let count = u64::try_from(count.max(1)).unwrap_or(1);
    Ok(usize::try_from(stable_hash(event.as_bytes()) % count).unwrap_or(0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_are_split_on_commas() {
        assert_eq!(
            addresses(" redis://a:1, redis://b:2/3 ,,").map_err(|e| e.0),
            Ok(vec!["redis://a:1".to_owned(), "redis://b:2/3".to_owned()])
        );
        assert!(addresses(" , ").is_err());
    }

    #[test]
    fn keys_route_by_their_event() {
        assert_eq!(event_of("e/gig").map_err(|e| e.0), Ok("gig"));
        assert_eq!(event_of("e/gig/gen").map_err(|e| e.0), Ok("gig"));
        assert_eq!(event_of("e/gig/3/s/floor/0").map_err(|e| e.0), Ok("gig"));
        assert!(event_of("x/gig").is_err());
        assert!(event_of("e/").is_err());
        assert!(event_of("e//x").is_err());
        // The core's values: FNV-1a 64 of "" and "a".
        assert_eq!(stable_hash(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(stable_hash(b"a"), 0xaf63_dc4c_8601_ec8c);
        let node = node_of("e/gig/gen", 3).map_err(|e| e.0);
        assert_eq!(node, node_of("e/gig/7/c/3", 3).map_err(|e| e.0));
        assert_eq!(
            node,
            Ok(usize::try_from(stable_hash(b"gig") % 3).unwrap_or(9))
        );
    }
}
