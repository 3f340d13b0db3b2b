//! The set of keys that tokens are signed and verified with.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use super::cipher::{self, SALT_LEN};
use super::jwk::jwks_json;
use super::key::Key;
use super::stored;
use crate::config::Algorithm;
use crate::error::KeySetError;

/// A key of the set with its schedule, in seconds since the Unix epoch.
#[derive(Debug, Clone)]
pub struct Entry {
    /// The key.
    pub key: Arc<Key>,
    /// When the key starts signing. Before that it is only published.
    pub activates_at: u64,
    /// When the key leaves the JWKS, once a successor is scheduled.
    pub retires_at: Option<u64>,
}

impl Entry {
    /// Returns the lifecycle state of the key at `now`, for listings.
    #[must_use]
    pub fn state(&self, now: u64, signing_kid: &str) -> &'static str {
        if self.retires_at.is_some_and(|retires_at| retires_at <= now) {
            "retired"
        } else if self.activates_at > now {
            "next"
        } else if self.key.kid() == signing_kid {
            "signing"
        } else {
            "retiring"
        }
    }
}

/// When keys rotate: how often, how long a key is published before it signs, and how long
/// it stays published after its last signature.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Schedule {
    /// Time between two keys starting to sign.
    pub rotate_every: Duration,
    /// Time a new key is published before it signs.
    pub publish_ahead: Duration,
    /// Time a replaced key stays published after its last signature.
    pub retain: Duration,
}

/// Every key a verifier may still meet, one of which signs new tokens.
///
/// At a given time the signing key is the one that activated last, and every key not yet
/// retired is published, including a next key that does not sign yet. No two keys share
/// a `kid`, and the set is never empty.
#[derive(Debug, Clone)]
pub struct KeySet {
    entries: Vec<Entry>,
    salt: [u8; SALT_LEN],
}

impl KeySet {
    /// Creates a key set of `keys`, each active from its creation and never retired, with
    /// a new random salt for encrypting them.
    ///
    /// # Errors
    ///
    /// [`KeySetError::Empty`] when `keys` is empty, [`KeySetError::DuplicateKid`] when
    /// two keys share a `kid`, and [`KeySetError::Random`] when no salt can be drawn.
    pub fn new(keys: Vec<Key>) -> Result<Self, KeySetError> {
        let entries = keys
            .into_iter()
            .map(|key| Entry {
                activates_at: key.created_at_secs(),
                retires_at: None,
                key: Arc::new(key),
            })
            .collect();
        let salt = cipher::random_salt().map_err(|_| KeySetError::Random)?;
        Self::from_entries(entries, salt)
    }

    /// Creates a key set of scheduled `entries` with `salt`.
    ///
    /// # Errors
    ///
    /// As [`KeySet::new`].
    pub fn from_entries(entries: Vec<Entry>, salt: [u8; SALT_LEN]) -> Result<Self, KeySetError> {
        if entries.is_empty() {
            return Err(KeySetError::Empty);
        }
        let mut seen = HashSet::new();
        for entry in &entries {
            if !seen.insert(entry.key.kid()) {
                return Err(KeySetError::DuplicateKid {
                    kid: entry.key.kid().to_owned(),
                });
            }
        }
        Ok(Self { entries, salt })
    }

    /// Generates a key set of one new key of `algorithm`, signing at once. `bits` is the
    /// RSA modulus size.
    ///
    /// Blocking and slow for RSA: a 2048-bit key typically takes tens to a few hundred
    /// milliseconds of CPU, and larger keys longer. On an async runtime, call it inside
    /// `spawn_blocking`.
    ///
    /// # Errors
    ///
    /// [`KeySetError::UnsupportedKeySize`] unless `bits` is 2048, 3072 or 4096, and
    /// [`KeySetError::Generation`] if key generation fails.
    pub fn generate(algorithm: Algorithm, bits: usize) -> Result<Self, KeySetError> {
        Self::new(vec![Key::generate(algorithm, bits)?])
    }

    /// Returns this set with `next` added: published from `now`, signing from
    /// `now + publish_ahead`. The key signing last is retired `retain` after `next` takes
    /// over, and keys already retired at `now` are dropped.
    #[must_use]
    pub fn rotated(&self, next: Key, now: u64, schedule: &Schedule) -> Self {
        let activates_at = now + schedule.publish_ahead.as_secs();
        let retires_at = activates_at + schedule.retain.as_secs();
        let mut entries: Vec<Entry> = self
            .entries
            .iter()
            .filter(|entry| entry.retires_at.is_none_or(|at| at > now))
            .cloned()
            .collect();
        for entry in &mut entries {
            if entry.retires_at.is_none() {
                entry.retires_at = Some(retires_at);
            }
        }
        entries.push(Entry {
            key: Arc::new(next),
            activates_at,
            retires_at: None,
        });
        Self {
            entries,
            salt: self.salt,
        }
    }

    /// Returns whether a new key should be made at `now`: none is waiting to sign, and the
    /// newest key has signed for `rotate_every - publish_ahead`. With `forced`, whenever
    /// none is waiting.
    #[must_use]
    pub fn rotation_due(&self, now: u64, schedule: &Schedule, forced: bool) -> bool {
        let Some(newest) = self.entries.iter().map(|entry| entry.activates_at).max() else {
            return true;
        };
        if newest > now {
            return false;
        }
        let lead = schedule
            .rotate_every
            .saturating_sub(schedule.publish_ahead)
            .as_secs();
        forced || now >= newest + lead
    }

    /// Returns the key that signs at `now`: the one that activated last among the keys not
    /// retired. If none has activated, because the clock went back, the first to activate.
    #[must_use]
    pub fn signing_key_at(&self, now: u64) -> &Arc<Key> {
        let published = self
            .entries
            .iter()
            .filter(|entry| entry.retires_at.is_none_or(|at| at > now));
        let active = published
            .clone()
            .filter(|entry| entry.activates_at <= now)
            .max_by_key(|entry| entry.activates_at);
        let entry = active
            .or_else(|| published.min_by_key(|entry| entry.activates_at))
            .or_else(|| self.entries.iter().max_by_key(|entry| entry.activates_at));
        // `from_entries` refused an empty set, so one of the three found an entry.
        &entry.unwrap_or(&self.entries[0]).key
    }

    /// Returns the key that signs now.
    #[must_use]
    pub fn signing_key(&self) -> &Arc<Key> {
        self.signing_key_at(unix_now())
    }

    /// Returns the keys published at `now`: every key not yet retired.
    pub fn published_at(&self, now: u64) -> impl Iterator<Item = &Arc<Key>> + Clone {
        self.entries
            .iter()
            .filter(move |entry| entry.retires_at.is_none_or(|at| at > now))
            .map(|entry| &entry.key)
    }

    /// Returns every entry, in stored order.
    #[must_use]
    pub fn entries(&self) -> &[Entry] {
        &self.entries
    }

    /// Returns the salt the stored private keys are encrypted with.
    pub fn salt(&self) -> &[u8; SALT_LEN] {
        &self.salt
    }

    /// Returns every key, in stored order.
    #[must_use]
    pub fn keys(&self) -> Vec<Arc<Key>> {
        self.entries
            .iter()
            .map(|entry| Arc::clone(&entry.key))
            .collect()
    }

    /// Returns the key with ID `kid`.
    #[must_use]
    pub fn get(&self, kid: &str) -> Option<&Arc<Key>> {
        self.entries
            .iter()
            .map(|entry| &entry.key)
            .find(|key| key.kid() == kid)
    }

    /// Parses a key set in the stored JSON form, decrypting its private keys with
    /// `secret`.
    ///
    /// # Errors
    ///
    /// A [`KeySetError`] naming the first problem: a wrong shape or version, an unknown
    /// algorithm, a private key that does not decrypt or decode, or a set rule broken.
    pub fn from_stored(bytes: &[u8], secret: &[u8]) -> Result<Self, KeySetError> {
        stored::decode(bytes, secret)
    }

    /// Serializes the key set in its stored JSON form, private keys encrypted with
    /// `secret`.
    ///
    /// # Errors
    ///
    /// [`KeySetError::Random`] when no nonce can be drawn.
    pub fn to_stored(&self, secret: &[u8]) -> Result<Vec<u8>, KeySetError> {
        stored::encode(self, secret)
    }

    /// Serializes the keys published at `now` as the JWKS document `{"keys": [...]}`.
    #[must_use]
    pub fn jwks_json_at(&self, now: u64) -> Vec<u8> {
        jwks_json(self.published_at(now).map(AsRef::as_ref))
    }

    /// Serializes the keys published now as the JWKS document.
    #[must_use]
    pub fn jwks_json(&self) -> Vec<u8> {
        self.jwks_json_at(unix_now())
    }
}

/// Returns the current time in seconds since the Unix epoch.
pub(crate) fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.as_secs())
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::testing::private_key;

    fn key_at(seconds: u64) -> Key {
        let created_at = SystemTime::UNIX_EPOCH + Duration::from_secs(seconds);
        Key::new(private_key().clone(), created_at).unwrap()
    }

    fn other_key(kid: &str, seconds: u64) -> Key {
        Key::from_parts(kid.into(), Algorithm::Rs256, seconds, private_key().clone()).unwrap()
    }

    const SCHEDULE: Schedule = Schedule {
        rotate_every: Duration::from_secs(1000),
        publish_ahead: Duration::from_secs(100),
        retain: Duration::from_secs(500),
    };

    #[test]
    fn empty_set_rejected() {
        assert!(matches!(KeySet::new(Vec::new()), Err(KeySetError::Empty)));
    }

    #[test]
    fn duplicate_kid_rejected() {
        let error = KeySet::new(vec![key_at(1), key_at(2)]).unwrap_err();
        assert!(matches!(error, KeySetError::DuplicateKid { .. }), "{error}");
    }

    #[test]
    fn newest_active_key_signs() {
        let set = KeySet::new(vec![key_at(100), other_key("newer", 200)]).unwrap();
        assert_eq!(set.signing_key_at(300).kid(), "newer");
        assert_eq!(set.keys().len(), 2);
        assert!(set.get("newer").is_some());
        assert!(set.get("missing").is_none());
    }

    #[test]
    fn next_key_published_before_it_signs() {
        let set = KeySet::new(vec![key_at(0)]).unwrap();
        let first = set.signing_key_at(0).kid().to_owned();
        let rotated = set.rotated(other_key("next", 1000), 1000, &SCHEDULE);

        assert_eq!(rotated.signing_key_at(1099).kid(), first);
        assert_eq!(rotated.published_at(1000).count(), 2);
        assert_eq!(rotated.signing_key_at(1100).kid(), "next");
        // The first key signed until 1100, so it stays published until 1600.
        assert_eq!(rotated.published_at(1599).count(), 2);
        let after: Vec<_> = rotated.published_at(1600).map(|key| key.kid()).collect();
        assert_eq!(after, ["next"]);
    }

    #[test]
    fn retired_keys_dropped_at_next_rotation() {
        let set = KeySet::new(vec![key_at(0)])
            .unwrap()
            .rotated(other_key("second", 1000), 1000, &SCHEDULE)
            .rotated(other_key("third", 2000), 2000, &SCHEDULE);
        let kids: Vec<_> = set.entries().iter().map(|entry| entry.key.kid()).collect();
        assert_eq!(kids, ["second", "third"]);
        assert_eq!(set.entries()[0].retires_at, Some(2600));
    }

    #[test]
    fn rotation_due_on_schedule_and_never_twice() {
        let set = KeySet::new(vec![key_at(0)]).unwrap();
        assert!(!set.rotation_due(899, &SCHEDULE, false));
        assert!(set.rotation_due(900, &SCHEDULE, false));
        assert!(set.rotation_due(10, &SCHEDULE, true));
        let rotated = set.rotated(other_key("next", 900), 900, &SCHEDULE);
        assert!(
            !rotated.rotation_due(950, &SCHEDULE, true),
            "a key is already waiting"
        );
        assert!(rotated.rotation_due(1900, &SCHEDULE, false));
    }

    #[test]
    fn unsupported_size_not_generated() {
        let error = KeySet::generate(Algorithm::Rs256, 1024).unwrap_err();
        assert!(
            matches!(error, KeySetError::UnsupportedKeySize { bits: 1024 }),
            "{error}"
        );
    }
}
