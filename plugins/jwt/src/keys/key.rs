//! One RSA key pair of the key set, parsed once and held for signing.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rsa::pkcs1v15::SigningKey;
use rsa::traits::PublicKeyParts;
use rsa::{RsaPrivateKey, RsaPublicKey};
use sha2::Sha256;

use super::jwk::thumbprint;
use crate::config::Algorithm;
use crate::error::KeySetError;

/// Smallest RSA modulus accepted for RS256, in bits (RFC 7518 section 3.3).
const MIN_RSA_BITS: usize = 2048;

/// A signing key of the key set: its `kid`, algorithm, creation time and the parsed
/// private key.
///
/// Parsing a private key costs far more than one signature, so a `Key` keeps the parsed
/// form and signs without reparsing. Its `Debug` output shows no key material.
pub struct Key {
    kid: String,
    algorithm: Algorithm,
    created_at: u64,
    signer: SigningKey<Sha256>,
    public_key: RsaPublicKey,
}

impl Key {
    /// Creates an RS256 key from `private_key`, with the RFC 7638 thumbprint of its public
    /// key as `kid`.
    ///
    /// # Errors
    ///
    /// [`KeySetError::KeyTooShort`] for a modulus shorter than 2048 bits.
    pub fn new(private_key: RsaPrivateKey, created_at: SystemTime) -> Result<Self, KeySetError> {
        let kid = thumbprint(&private_key.to_public_key());
        let created_at = created_at
            .duration_since(UNIX_EPOCH)
            .map_or(0, |elapsed| elapsed.as_secs());
        Self::from_parts(kid, Algorithm::Rs256, created_at, private_key)
    }

    /// Creates a key from its stored parts, `created_at` in seconds since the Unix epoch.
    pub(crate) fn from_parts(
        kid: String,
        algorithm: Algorithm,
        created_at: u64,
        private_key: RsaPrivateKey,
    ) -> Result<Self, KeySetError> {
        let bits = private_key.n().bits();
        if bits < MIN_RSA_BITS {
            return Err(KeySetError::KeyTooShort { kid, bits });
        }
        let public_key = private_key.to_public_key();
        Ok(Self {
            kid,
            algorithm,
            created_at,
            signer: SigningKey::new(private_key),
            public_key,
        })
    }

    /// Returns the key ID, the `kid` of token headers and JWKS entries.
    #[must_use]
    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// Returns the signing algorithm.
    #[must_use]
    pub fn algorithm(&self) -> Algorithm {
        self.algorithm
    }

    /// Returns when the key was created, to the second.
    #[must_use]
    pub fn created_at(&self) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(self.created_at)
    }

    /// Returns the modulus size in bits.
    #[must_use]
    pub fn bits(&self) -> usize {
        self.public_key.n().bits()
    }

    /// Returns the public key.
    #[must_use]
    pub fn public_key(&self) -> &RsaPublicKey {
        &self.public_key
    }

    /// Returns the parsed PKCS#1 v1.5 SHA-256 signer.
    pub(crate) fn signer(&self) -> &SigningKey<Sha256> {
        &self.signer
    }

    pub(crate) fn created_at_secs(&self) -> u64 {
        self.created_at
    }

    pub(crate) fn private_key(&self) -> &RsaPrivateKey {
        self.signer.as_ref()
    }
}

impl std::fmt::Debug for Key {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Key")
            .field("kid", &self.kid)
            .field("algorithm", &self.algorithm)
            .field("created_at", &self.created_at)
            .field("bits", &self.bits())
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::key_set;

    #[test]
    fn kid_is_thumbprint() {
        let key = key_set().signing_key();
        assert_eq!(key.kid(), thumbprint(key.public_key()));
        assert_eq!(key.kid().len(), 43);
        assert_eq!(key.bits(), 2048);
    }

    #[test]
    fn debug_shows_no_key_material() {
        let key = key_set().signing_key();
        let text = format!("{key:?}");
        assert!(text.contains(key.kid()), "{text}");
        assert!(!text.to_lowercase().contains("prime"), "{text}");
        assert!(text.len() < 200, "{text}");
    }
}
