//! Fixed windows: which window a moment falls in, its counter key and its time to live.

use std::fmt::Write as _;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use sha2::{Digest, Sha256};

/// Time a counter outlives the end of its window, at most, so that an instance whose
/// clock runs slightly behind still finds the counter it shares with the others. The TTL
/// is also capped at the window length.
const TTL_MARGIN: Duration = Duration::from_secs(1);

/// The fixed window of one rule that a moment falls in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Window {
    /// Number of the window since the Unix epoch: `unix seconds / window seconds`.
    pub(crate) index: u64,
    /// Time left until the window ends.
    pub(crate) remaining: Duration,
    /// Time to live of the counter, set when the first hit of the window creates it: the
    /// time left plus [`TTL_MARGIN`], never longer than the window.
    pub(crate) ttl: Duration,
}

impl Window {
    /// Returns the window of length `length` that `now` falls in. Windows are aligned to
    /// the Unix epoch, so every instance sharing a store agrees on them.
    pub(crate) fn at(now: SystemTime, length: Duration) -> Self {
        // A clock before 1970 counts as the epoch rather than failing the request.
        let since_epoch = now.duration_since(UNIX_EPOCH).unwrap_or_default();
        let length_secs = length.as_secs().max(1);
        let index = since_epoch.as_secs() / length_secs;
        let end = Duration::from_secs((index + 1).saturating_mul(length_secs));
        let remaining = end.saturating_sub(since_epoch);
        let ttl = (remaining + TTL_MARGIN).min(Duration::from_secs(length_secs));
        Self {
            index,
            remaining,
            ttl,
        }
    }

    /// Returns the seconds until the window ends, rounded up, so at least 1: the value of
    /// `Retry-After` and `X-RateLimit-Reset`.
    pub(crate) fn reset_seconds(&self) -> u64 {
        let whole = self.remaining.as_secs();
        let reset = if self.remaining.subsec_nanos() > 0 {
            whole + 1
        } else {
            whole
        };
        reset.max(1)
    }
}

/// Returns the store key of the counter of `rule` for `client` in window `index`:
/// `rate_limit:<rule>:<client>:<index>`. With `path`, the client part also contains the
/// first 16 bytes of the path's SHA-256 in hex, so a long path makes no long key.
pub(crate) fn counter_key(rule: &str, client: &str, path: Option<&str>, index: u64) -> String {
    let mut key = format!("rate_limit:{rule}:{client}:");
    if let Some(path) = path {
        for byte in &Sha256::digest(path.as_bytes())[..16] {
            let _ = write!(key, "{byte:02x}");
        }
        key.push(':');
    }
    let _ = write!(key, "{index}");
    key
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(unix_ms: u64, window_secs: u64) -> Window {
        Window::at(
            UNIX_EPOCH + Duration::from_millis(unix_ms),
            Duration::from_secs(window_secs),
        )
    }

    #[test]
    fn index_is_unix_seconds_over_window() {
        assert_eq!(at(0, 60).index, 0);
        assert_eq!(at(59_999, 60).index, 0);
        assert_eq!(at(60_000, 60).index, 1);
        assert_eq!(at(1_700_000_123_456, 900).index, 1_700_000_123 / 900);
    }

    #[test]
    fn remaining_counts_to_window_end() {
        assert_eq!(at(0, 60).remaining, Duration::from_secs(60));
        assert_eq!(at(59_250, 60).remaining, Duration::from_millis(750));
        assert_eq!(at(30_000, 60).remaining, Duration::from_secs(30));
    }

    #[test]
    fn ttl_adds_margin_within_window() {
        assert_eq!(at(30_000, 60).ttl, Duration::from_secs(31));
        assert_eq!(at(59_250, 60).ttl, Duration::from_millis(1750));
        // At the start of a window the margin would exceed the window, so it is capped.
        assert_eq!(at(0, 60).ttl, Duration::from_secs(60));
        assert_eq!(at(500, 1).ttl, Duration::from_secs(1));
        for ms in (0..10_000).step_by(137) {
            let window = at(ms, 2);
            assert!(window.ttl > Duration::ZERO, "{ms}: {window:?}");
            assert!(window.ttl <= Duration::from_secs(2), "{ms}: {window:?}");
            assert!(window.ttl >= window.remaining, "{ms}: {window:?}");
        }
    }

    #[test]
    fn reset_rounds_up() {
        assert_eq!(at(59_250, 60).reset_seconds(), 1);
        assert_eq!(at(30_000, 60).reset_seconds(), 30);
        assert_eq!(at(29_999, 60).reset_seconds(), 31);
        assert_eq!(at(0, 3600).reset_seconds(), 3600);
    }

    #[test]
    fn counter_key_layout() {
        assert_eq!(
            counter_key("auth", "203.0.113.1", None, 472_222),
            "rate_limit:auth:203.0.113.1:472222"
        );
        assert_eq!(
            counter_key("auth", "2001:db8::/64", None, 7),
            "rate_limit:auth:2001:db8::/64:7"
        );
        let login = counter_key("auth", "203.0.113.1", Some("/api/auth/login"), 7);
        let register = counter_key("auth", "203.0.113.1", Some("/api/auth/register"), 7);
        assert_ne!(login, register);
        assert!(login.starts_with("rate_limit:auth:203.0.113.1:"), "{login}");
        assert!(login.ends_with(":7"), "{login}");
        let long = counter_key("auth", "203.0.113.1", Some(&"/a".repeat(5000)), 7);
        assert_eq!(long.len(), login.len());
    }

    #[test]
    fn clock_before_epoch_is_window_zero() {
        let window = Window::at(UNIX_EPOCH - Duration::from_secs(5), Duration::from_secs(10));
        assert_eq!(window.index, 0);
        assert_eq!(window.remaining, Duration::from_secs(10));
    }
}
