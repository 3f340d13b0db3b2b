//! One RSA key pair of the key set, parsed once and held for signing.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use ring::rand::SystemRandom;
use ring::signature::{
    ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair as _, RSA_PKCS1_SHA256, RsaKeyPair,
};
use rsa::pkcs8::{EncodePrivateKey, SecretDocument};
use rsa::traits::PublicKeyParts;
use rsa::{RsaPrivateKey, RsaPublicKey};

use super::generate::generate_private_key;
use super::jwk::{ec_thumbprint, thumbprint};
use crate::config::Algorithm;
use crate::error::KeySetError;

/// Smallest RSA modulus accepted for RS256, in bits (RFC 7518 section 3.3).
const MIN_RSA_BITS: usize = 2048;

/// A signing key of the key set: its `kid`, algorithm, creation time and the parsed
/// private key.
///
/// The private key is parsed once, into a `ring` key pair that signs without reparsing.
/// `ring` 0.17 signed RS256 about three times as fast as the `rsa` 0.9 crate in
/// `benches/issue.rs`. The `rsa` crate still generates keys and provides the public key
/// for the JWKS. The `Debug` output shows no key material.
pub struct Key {
    kid: String,
    algorithm: Algorithm,
    created_at: u64,
    material: Material,
    random: SystemRandom,
    /// The private key as PKCS#8 DER, the form it is stored in, zeroized on drop.
    pkcs8: SecretDocument,
}

/// The parsed key pair of one algorithm.
enum Material {
    Rsa {
        key_pair: RsaKeyPair,
        public_key: RsaPublicKey,
    },
    /// A P-256 key pair and its public point, uncompressed: `0x04`, then x, then y.
    Ec {
        key_pair: EcdsaKeyPair,
        public_point: Vec<u8>,
    },
}

/// The public half of a key, as the JWKS publishes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PublicKey<'a> {
    /// An RSA public key.
    Rsa(&'a RsaPublicKey),
    /// A P-256 point, each coordinate 32 big-endian bytes.
    Ec {
        /// The x coordinate.
        x: &'a [u8],
        /// The y coordinate.
        y: &'a [u8],
    },
}

impl Key {
    /// Creates an RS256 key from `private_key`, with the RFC 7638 thumbprint of its public
    /// key as `kid`.
    ///
    /// # Errors
    ///
    /// [`KeySetError::KeyTooShort`] for a modulus shorter than 2048 bits,
    /// [`KeySetError::Encoding`] if the key cannot be encoded as PKCS#8, and
    /// [`KeySetError::KeyRejected`] if `ring` does not accept the key for signing.
    pub fn new(private_key: RsaPrivateKey, created_at: SystemTime) -> Result<Self, KeySetError> {
        let kid = thumbprint(&private_key.to_public_key());
        let created_at = created_at
            .duration_since(UNIX_EPOCH)
            .map_or(0, |elapsed| elapsed.as_secs());
        Self::from_parts(kid, Algorithm::Rs256, created_at, private_key)
    }

    /// Generates a new key of `algorithm`, created now. `bits` is the RSA modulus size.
    ///
    /// Blocking and slow: call it on the blocking thread pool.
    ///
    /// # Errors
    ///
    /// As [`Key::new`], and [`KeySetError::UnsupportedKeySize`] for a size other than
    /// 2048, 3072 or 4096 bits.
    pub fn generate(algorithm: Algorithm, bits: usize) -> Result<Self, KeySetError> {
        match algorithm {
            Algorithm::Rs256 => Self::new(generate_private_key(bits)?, SystemTime::now()),
            Algorithm::Es256 => {
                let random = SystemRandom::new();
                let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &random)
                    .map_err(|_| KeySetError::Random)?;
                let created_at = SystemTime::now()
                    .duration_since(UNIX_EPOCH)
                    .map_or(0, |elapsed| elapsed.as_secs());
                Self::from_ec_pkcs8(None, created_at, pkcs8.as_ref())
            }
        }
    }

    /// Creates an ES256 key from its PKCS#8 DER, with the RFC 7638 thumbprint as `kid`
    /// when `kid` is `None`.
    pub(crate) fn from_ec_pkcs8(
        kid: Option<String>,
        created_at: u64,
        der: &[u8],
    ) -> Result<Self, KeySetError> {
        let random = SystemRandom::new();
        let key_pair = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, der, &random)
            .map_err(|source| KeySetError::KeyRejected {
                kid: kid.clone().unwrap_or_default(),
                source,
            })?;
        let public_point = key_pair.public_key().as_ref().to_vec();
        let (x, y) = public_point[1..].split_at(32);
        let kid = kid.unwrap_or_else(|| ec_thumbprint(x, y));
        let pkcs8 = SecretDocument::try_from(der).map_err(|source| KeySetError::Encoding {
            kid: kid.clone(),
            source: source.into(),
        })?;
        Ok(Self {
            kid,
            algorithm: Algorithm::Es256,
            created_at,
            material: Material::Ec {
                key_pair,
                public_point,
            },
            random,
            pkcs8,
        })
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
        let pkcs8 = match private_key.to_pkcs8_der() {
            Ok(pkcs8) => pkcs8,
            Err(source) => return Err(KeySetError::Encoding { kid, source }),
        };
        // ring 0.17 accepts two primes of equal size, a multiple of 512 bits, and a public
        // exponent of at least 65537. Every key that generate.rs makes meets these rules.
        let key_pair = match RsaKeyPair::from_pkcs8(pkcs8.as_bytes()) {
            Ok(key_pair) => key_pair,
            Err(source) => return Err(KeySetError::KeyRejected { kid, source }),
        };
        Ok(Self {
            kid,
            algorithm,
            created_at,
            material: Material::Rsa {
                key_pair,
                public_key: private_key.to_public_key(),
            },
            random: SystemRandom::new(),
            pkcs8,
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

    /// Returns the key size in bits: the RSA modulus, or 256 for P-256.
    #[must_use]
    pub fn bits(&self) -> usize {
        match &self.material {
            Material::Rsa { public_key, .. } => public_key.n().bits(),
            Material::Ec { .. } => 256,
        }
    }

    /// Returns the public key.
    #[must_use]
    pub fn public_key(&self) -> PublicKey<'_> {
        match &self.material {
            Material::Rsa { public_key, .. } => PublicKey::Rsa(public_key),
            Material::Ec { public_point, .. } => {
                let (x, y) = public_point[1..].split_at(32);
                PublicKey::Ec { x, y }
            }
        }
    }

    /// Returns the length of a signature: the RSA modulus length in bytes, or 64 for
    /// ES256, whose JWS signature is r and s of 32 bytes each.
    pub(crate) fn signature_len(&self) -> usize {
        match &self.material {
            Material::Rsa { key_pair, .. } => key_pair.public().modulus_len(),
            Material::Ec { .. } => 64,
        }
    }

    /// Signs `message` with RSASSA-PKCS1-v1_5 and SHA-256 (RS256, RFC 7518 section 3.3) or
    /// ECDSA P-256 with SHA-256 (ES256, section 3.4), and returns the signature.
    ///
    /// `ring` exponentiates in constant time and checks the signature against the public
    /// key before returning it, so a computation fault does not leak the private key.
    pub(crate) fn sign(&self, message: &[u8]) -> Result<Vec<u8>, ring::error::Unspecified> {
        match &self.material {
            Material::Rsa { key_pair, .. } => {
                let mut signature = vec![0; self.signature_len()];
                key_pair.sign(&RSA_PKCS1_SHA256, &self.random, message, &mut signature)?;
                Ok(signature)
            }
            // The fixed form is r then s, the JWS encoding of RFC 7518 section 3.4.
            Material::Ec { key_pair, .. } => {
                Ok(key_pair.sign(&self.random, message)?.as_ref().to_vec())
            }
        }
    }

    pub(crate) fn created_at_secs(&self) -> u64 {
        self.created_at
    }

    /// Returns the private key as PKCS#8 DER.
    pub(crate) fn pkcs8_der(&self) -> &[u8] {
        self.pkcs8.as_bytes()
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
    use crate::testing::{key_set, private_key};

    #[test]
    fn kid_is_thumbprint() {
        let key = key_set().signing_key();
        let PublicKey::Rsa(public_key) = key.public_key() else {
            panic!("the test key is RSA");
        };
        assert_eq!(key.kid(), thumbprint(public_key));
        assert_eq!(key.kid().len(), 43);
        assert_eq!(key.bits(), 2048);
    }

    #[test]
    fn ring_signature_matches_rsa_crate() {
        use rsa::pkcs1v15::SigningKey;
        use rsa::signature::{SignatureEncoding, Signer};

        // RSASSA-PKCS1-v1_5 is deterministic, so both implementations must agree to the byte.
        let message = b"eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ1c2VyLTEifQ";
        let signature = key_set().signing_key().sign(message).unwrap();
        let expected = SigningKey::<sha2::Sha256>::new(private_key().clone()).sign(message);
        assert_eq!(signature.len(), 256);
        assert_eq!(signature, expected.to_vec());
    }

    #[test]
    fn ring_signed_token_verifies_from_jwk() {
        use base64::Engine;
        use base64::engine::general_purpose::URL_SAFE_NO_PAD;
        use jsonwebtoken::{DecodingKey, Validation};
        use serde_json::{Map, Value, json};

        let key = key_set().signing_key();
        let header = json!({"alg": "RS256", "typ": "JWT", "kid": key.kid()});
        let claims = json!({"sub": "user-1", "exp": 4_102_444_800_u64});
        let message = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(header.to_string()),
            URL_SAFE_NO_PAD.encode(claims.to_string())
        );
        let signature = key.sign(message.as_bytes()).unwrap();
        let token = format!("{message}.{}", URL_SAFE_NO_PAD.encode(signature));

        // Only the JWK members a verifier such as Privy reads: `n` and `e`.
        let jwks: Value = serde_json::from_slice(&key_set().jwks_json()).unwrap();
        let jwk = &jwks["keys"][0];
        let decoding_key = DecodingKey::from_rsa_components(
            jwk["n"].as_str().unwrap(),
            jwk["e"].as_str().unwrap(),
        )
        .unwrap();
        let validation = Validation::new(jsonwebtoken::Algorithm::RS256);
        let data =
            jsonwebtoken::decode::<Map<String, Value>>(&token, &decoding_key, &validation).unwrap();
        assert_eq!(data.claims["sub"], "user-1");
        assert_eq!(data.header.kid.as_deref(), Some(key.kid()));
    }

    #[test]
    fn small_exponent_key_rejected() {
        // The rsa crate accepts e = 3, but ring 0.17 signs only with e >= 65537.
        let exponent = rsa::BigUint::from(3_u32);
        let private_key =
            RsaPrivateKey::new_with_exp(&mut rsa::rand_core::OsRng, 2048, &exponent).unwrap();
        let error = Key::new(private_key, SystemTime::now()).unwrap_err();
        assert!(matches!(error, KeySetError::KeyRejected { .. }), "{error}");
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
