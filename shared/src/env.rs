//! The outside world the core needs: a clock, randomness and a way to wait.
//! Injected so that tests control time and interleavings.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

pub trait Env {
    /// Wall-clock time, milliseconds since the Unix epoch.
    fn now_ms(&self) -> u64;
    /// 128 random bits for ids (uuid v4 carries 122 of them).
    fn random_id(&self) -> uuid::Uuid;
    /// A random number below `bound` (for back-off jitter and shard choice).
    fn random_below(&self, bound: u64) -> u64;
    /// Waits between CAS attempts.
    fn sleep_ms(&self, ms: u64);
}

/// The real clock and random source; works natively and in `wasm32-wasip2`.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemEnv;

impl Env for SystemEnv {
    fn now_ms(&self) -> u64 {
        // A clock before 1970 is a broken host; treat it as the epoch.
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
            .unwrap_or(0)
    }

    fn random_id(&self) -> uuid::Uuid {
        uuid::Uuid::new_v4()
    }

    fn random_below(&self, bound: u64) -> u64 {
        if bound == 0 {
            return 0;
        }
        let bits = uuid::Uuid::new_v4().as_u128();
        u64::try_from(bits % u128::from(bound)).unwrap_or(0)
    }

    fn sleep_ms(&self, ms: u64) {
        std::thread::sleep(Duration::from_millis(ms));
    }
}

/// The last millisecond RFC 3339 can write: its years have four digits.
const RFC3339_LAST_MS: u64 = 253_402_300_799_999;

/// RFC 3339 UTC with milliseconds, from Unix milliseconds. A later time
/// (only a damaged stored value holds one) is written as the last
/// millisecond of year 9999: the formatter fails past it, and a failed
/// format would panic in `to_string`.
pub fn rfc3339(ms: u64) -> String {
    let ms = ms.min(RFC3339_LAST_MS);
    humantime::format_rfc3339_millis(UNIX_EPOCH + Duration::from_millis(ms)).to_string()
}

#[cfg(test)]
mod tests {
    use super::rfc3339;

    #[test]
    fn formats_rfc3339_utc() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(rfc3339(951_782_400_123), "2000-02-29T00:00:00.123Z");
        assert_eq!(rfc3339(1_795_900_000_000), "2026-11-28T21:06:40.000Z");
        // Past year 9999 (found by fuzz/stored_document: a damaged expiry
        // panicked a status read): the last time RFC 3339 can write.
        assert_eq!(rfc3339(253_402_300_799_999), "9999-12-31T23:59:59.999Z");
        assert_eq!(rfc3339(253_402_300_800_000), "9999-12-31T23:59:59.999Z");
        assert_eq!(rfc3339(u64::MAX), "9999-12-31T23:59:59.999Z");
    }
}
