//! The set of keys that tokens are signed and verified with.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::SystemTime;

use super::generate::generate_private_key;
use super::jwk::jwks_json;
use super::key::Key;
use super::stored;
use crate::error::KeySetError;

/// Every key a verifier may still meet, one of which signs new tokens.
///
/// The signing key is the newest by `created_at`, and the others stay for verification. The
/// set is never empty and no two keys share a `kid`.
#[derive(Debug, Clone)]
pub struct KeySet {
    keys: Vec<Arc<Key>>,
    signing: usize,
}

impl KeySet {
    /// Creates a key set of `keys`.
    ///
    /// # Errors
    ///
    /// [`KeySetError::Empty`] when `keys` is empty and [`KeySetError::DuplicateKid`] when
    /// two keys share a `kid`.
    pub fn new(keys: Vec<Key>) -> Result<Self, KeySetError> {
        let mut seen = HashSet::new();
        for key in &keys {
            if !seen.insert(key.kid()) {
                return Err(KeySetError::DuplicateKid {
                    kid: key.kid().to_owned(),
                });
            }
        }
        // On equal creation times the key listed first signs.
        let signing = keys
            .iter()
            .enumerate()
            .max_by_key(|(index, key)| (key.created_at_secs(), std::cmp::Reverse(*index)))
            .map(|(index, _)| index)
            .ok_or(KeySetError::Empty)?;
        Ok(Self {
            keys: keys.into_iter().map(Arc::new).collect(),
            signing,
        })
    }

    /// Generates a key set of one new RS256 key with a `bits`-bit modulus.
    ///
    /// Blocking and slow: a 2048-bit key typically takes tens to a few hundred milliseconds
    /// of CPU, and larger keys longer. On an async runtime, call it inside `spawn_blocking`.
    ///
    /// # Errors
    ///
    /// [`KeySetError::UnsupportedKeySize`] unless `bits` is 2048, 3072 or 4096, and
    /// [`KeySetError::Generation`] if key generation fails.
    pub fn generate(bits: usize) -> Result<Self, KeySetError> {
        let key = Key::new(generate_private_key(bits)?, SystemTime::now())?;
        Self::new(vec![key])
    }

    /// Parses a key set in the stored JSON form that [`KeySet::to_stored`] writes.
    ///
    /// # Errors
    ///
    /// A [`KeySetError`] naming the first problem: a wrong shape or version, an unknown
    /// algorithm, a private key that does not decode, or a set rule broken.
    pub fn from_stored(bytes: &[u8]) -> Result<Self, KeySetError> {
        stored::decode(bytes)
    }

    /// Serializes the key set, private keys included, in its stored JSON form.
    ///
    /// # Errors
    ///
    /// [`KeySetError::Shape`] if JSON serialization fails. The keys were encoded as
    /// PKCS#8 when they were created, so this does not fail in practice.
    pub fn to_stored(&self) -> Result<Vec<u8>, KeySetError> {
        stored::encode(self)
    }

    /// Returns the key that signs new tokens.
    #[must_use]
    pub fn signing_key(&self) -> &Arc<Key> {
        // `new` checked that `signing` indexes `keys`.
        &self.keys[self.signing]
    }

    /// Returns every key, in stored order.
    #[must_use]
    pub fn keys(&self) -> &[Arc<Key>] {
        &self.keys
    }

    /// Returns the key with ID `kid`.
    #[must_use]
    pub fn get(&self, kid: &str) -> Option<&Arc<Key>> {
        self.keys.iter().find(|key| key.kid() == kid)
    }

    /// Serializes the public keys as the JWKS document `{"keys": [...]}`, one entry per
    /// key with `kty`, `kid`, `use`, `alg`, `n` and `e`.
    #[must_use]
    pub fn jwks_json(&self) -> Vec<u8> {
        jwks_json(self.keys.iter().map(AsRef::as_ref))
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::config::Algorithm;
    use crate::testing::private_key;

    fn key_at(seconds: u64) -> Key {
        let created_at = SystemTime::UNIX_EPOCH + Duration::from_secs(seconds);
        Key::new(private_key().clone(), created_at).unwrap()
    }

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
    fn newest_key_signs() {
        let older = key_at(100);
        let newer =
            Key::from_parts("newer".into(), Algorithm::Rs256, 200, private_key().clone()).unwrap();
        let set = KeySet::new(vec![older, newer]).unwrap();
        assert_eq!(set.signing_key().kid(), "newer");
        assert_eq!(set.keys().len(), 2);
        assert!(set.get("newer").is_some());
        assert!(set.get("missing").is_none());
    }

    #[test]
    fn unsupported_size_not_generated() {
        let error = KeySet::generate(1024).unwrap_err();
        assert!(
            matches!(error, KeySetError::UnsupportedKeySize { bits: 1024 }),
            "{error}"
        );
    }
}
