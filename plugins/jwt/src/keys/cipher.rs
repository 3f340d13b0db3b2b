//! Encryption of stored private keys: AES-256-GCM under a key derived with HKDF-SHA256
//! from the key encryption secret and the key set's random salt.

use ring::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use ring::hkdf::{HKDF_SHA256, Salt};
use ring::rand::{SecureRandom, SystemRandom};

/// Bytes of the random salt each key set carries.
pub(crate) const SALT_LEN: usize = 16;

/// HKDF `info`, which binds derived keys to this use and format version.
const INFO: &[u8] = b"latchkey jwt signing key encryption v2";

/// Seals and opens private keys; the key ID is the associated data, so a ciphertext
/// moved to another key's entry does not open.
pub(crate) struct KeyCipher {
    key: LessSafeKey,
    random: SystemRandom,
}

impl KeyCipher {
    /// Derives the cipher of `secret` for a key set with `salt`.
    pub(crate) fn new(secret: &[u8], salt: &[u8]) -> Self {
        let prk = Salt::new(HKDF_SHA256, salt).extract(secret);
        // `expand` fails only for an output longer than 255 hash lengths, and
        // AES_256_GCM needs 32 bytes, so both steps succeed.
        let okm = prk
            .expand(&[INFO], &AES_256_GCM)
            .expect("32 bytes is a valid HKDF-SHA256 output length");
        let key = UnboundKey::from(okm);
        Self {
            key: LessSafeKey::new(key),
            random: SystemRandom::new(),
        }
    }

    /// Encrypts `plaintext` for key `kid`: a random nonce, then the ciphertext and tag.
    pub(crate) fn seal(
        &self,
        kid: &str,
        plaintext: &[u8],
    ) -> Result<Vec<u8>, ring::error::Unspecified> {
        let mut nonce = [0_u8; NONCE_LEN];
        self.random.fill(&mut nonce)?;
        let mut in_out = plaintext.to_vec();
        self.key.seal_in_place_append_tag(
            Nonce::assume_unique_for_key(nonce),
            Aad::from(kid.as_bytes()),
            &mut in_out,
        )?;
        let mut sealed = nonce.to_vec();
        sealed.extend_from_slice(&in_out);
        Ok(sealed)
    }

    /// Decrypts what [`seal`](Self::seal) returned for `kid`. Fails for another secret,
    /// another salt, another `kid`, or any changed byte.
    pub(crate) fn open(
        &self,
        kid: &str,
        sealed: &[u8],
    ) -> Result<Vec<u8>, ring::error::Unspecified> {
        if sealed.len() < NONCE_LEN {
            return Err(ring::error::Unspecified);
        }
        let (nonce, ciphertext) = sealed.split_at(NONCE_LEN);
        let nonce = Nonce::try_assume_unique_for_key(nonce)?;
        let mut in_out = ciphertext.to_vec();
        let plaintext = self
            .key
            .open_in_place(nonce, Aad::from(kid.as_bytes()), &mut in_out)?;
        Ok(plaintext.to_vec())
    }
}

/// Returns a new random salt.
pub(crate) fn random_salt() -> Result<[u8; SALT_LEN], ring::error::Unspecified> {
    let mut salt = [0_u8; SALT_LEN];
    SystemRandom::new().fill(&mut salt)?;
    Ok(salt)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_key_opens_with_same_inputs() {
        let cipher = KeyCipher::new(b"secret", b"salt");
        let sealed = cipher.seal("kid-1", b"private key").unwrap();
        assert_ne!(&sealed[NONCE_LEN..], b"private key");
        assert_eq!(cipher.open("kid-1", &sealed).unwrap(), b"private key");
    }

    #[test]
    fn other_secret_salt_kid_or_bytes_fail() {
        let sealed = KeyCipher::new(b"secret", b"salt")
            .seal("kid-1", b"key")
            .unwrap();
        assert!(
            KeyCipher::new(b"other", b"salt")
                .open("kid-1", &sealed)
                .is_err()
        );
        assert!(
            KeyCipher::new(b"secret", b"pepper")
                .open("kid-1", &sealed)
                .is_err()
        );
        let cipher = KeyCipher::new(b"secret", b"salt");
        assert!(cipher.open("kid-2", &sealed).is_err());
        let mut flipped = sealed.clone();
        flipped[NONCE_LEN] ^= 1;
        assert!(cipher.open("kid-1", &flipped).is_err());
        assert!(cipher.open("kid-1", &sealed[..5]).is_err());
    }
}
