//! The key set's form in the store: versioned JSON with each private key encrypted.
//!
//! ```json
//! {"version":2,"salt":"…","keys":[{"kid":"…","alg":"RS256","created_at":1733270400,
//!   "activates_at":1733270770,"retires_at":null,"private_key":"…"}]}
//! ```
//!
//! `private_key` is standard base64 of a 12-byte nonce, then the PKCS#8 DER encrypted
//! with AES-256-GCM (the `kid` as associated data) under the key HKDF-SHA256 derives from
//! the key encryption secret and `salt`. Version 1 sets, written before encryption, held
//! the PKCS#8 DER in plain base64; they are read, and written back as version 2 at the
//! next rotation.
//!
//! Unknown members are ignored, so that a later version may add some without breaking
//! instances that still run this one. A change that older instances must not read raises
//! `version`.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use rsa::RsaPrivateKey;
use rsa::pkcs8::DecodePrivateKey;
use serde::{Deserialize, Serialize};
use std::sync::Arc;

use super::cipher::{KeyCipher, SALT_LEN};
use super::key::Key;
use super::set::{Entry, KeySet};
use crate::config::Algorithm;
use crate::error::KeySetError;

/// Format version that this build writes.
const VERSION: u32 = 2;

/// The unencrypted format, still read.
const PLAINTEXT_VERSION: u32 = 1;

#[derive(Serialize, Deserialize)]
struct StoredKeySet {
    version: u32,
    /// Standard base64 of the HKDF salt. Absent in version 1.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    salt: Option<String>,
    keys: Vec<StoredKey>,
}

#[derive(Serialize, Deserialize)]
struct StoredKey {
    kid: String,
    alg: String,
    /// Seconds since the Unix epoch, as are the two times below.
    created_at: u64,
    /// Absent in version 1, where a key signs from its creation.
    #[serde(default)]
    activates_at: Option<u64>,
    #[serde(default)]
    retires_at: Option<u64>,
    /// Version 2: nonce and AES-256-GCM ciphertext; version 1: PKCS#8 DER. Standard base64.
    private_key: String,
}

/// Serializes `set` in the stored form, encrypting each private key with `secret`.
pub(crate) fn encode(set: &KeySet, secret: &[u8]) -> Result<Vec<u8>, KeySetError> {
    let cipher = KeyCipher::new(secret, set.salt());
    let mut keys = Vec::with_capacity(set.entries().len());
    for entry in set.entries() {
        let key = &entry.key;
        let sealed = cipher
            .seal(key.kid(), key.pkcs8_der())
            .map_err(|_| KeySetError::Random)?;
        keys.push(StoredKey {
            kid: key.kid().to_owned(),
            alg: key.algorithm().as_str().to_owned(),
            created_at: key.created_at_secs(),
            activates_at: Some(entry.activates_at),
            retires_at: entry.retires_at,
            private_key: STANDARD.encode(sealed),
        });
    }
    let stored = StoredKeySet {
        version: VERSION,
        salt: Some(STANDARD.encode(set.salt())),
        keys,
    };
    serde_json::to_vec(&stored).map_err(KeySetError::Shape)
}

/// Parses the stored form into a key set, decrypting with `secret`.
pub(crate) fn decode(bytes: &[u8], secret: &[u8]) -> Result<KeySet, KeySetError> {
    let stored: StoredKeySet = serde_json::from_slice(bytes).map_err(KeySetError::Shape)?;
    let (salt, cipher) = match stored.version {
        VERSION => {
            let salt = stored
                .salt
                .as_deref()
                .and_then(|salt| STANDARD.decode(salt).ok())
                .and_then(|salt| <[u8; SALT_LEN]>::try_from(salt).ok())
                .ok_or(KeySetError::Salt)?;
            (salt, Some(KeyCipher::new(secret, &salt)))
        }
        PLAINTEXT_VERSION => {
            let salt = super::cipher::random_salt().map_err(|_| KeySetError::Random)?;
            (salt, None)
        }
        found => {
            return Err(KeySetError::UnsupportedVersion {
                found,
                expected: VERSION,
            });
        }
    };
    let entries = stored
        .keys
        .into_iter()
        .map(|key| decode_key(key, cipher.as_ref()))
        .collect::<Result<Vec<_>, _>>()?;
    KeySet::from_entries(entries, salt)
}

fn decode_key(stored: StoredKey, cipher: Option<&KeyCipher>) -> Result<Entry, KeySetError> {
    let StoredKey {
        kid,
        alg,
        created_at,
        activates_at,
        retires_at,
        private_key,
    } = stored;
    let algorithm = match alg.as_str() {
        "RS256" => Algorithm::Rs256,
        "ES256" => Algorithm::Es256,
        _ => {
            return Err(KeySetError::UnsupportedAlgorithm {
                kid,
                algorithm: alg,
            });
        }
    };
    let bytes = match STANDARD.decode(private_key.as_bytes()) {
        Ok(bytes) => bytes,
        Err(source) => return Err(KeySetError::Base64 { kid, source }),
    };
    let der = match cipher {
        Some(cipher) => match cipher.open(&kid, &bytes) {
            Ok(der) => der,
            Err(_) => return Err(KeySetError::Undecryptable { kid }),
        },
        None => bytes,
    };
    let key = match algorithm {
        Algorithm::Rs256 => {
            let private_key = match RsaPrivateKey::from_pkcs8_der(&der) {
                Ok(private_key) => private_key,
                Err(source) => return Err(KeySetError::Pkcs8 { kid, source }),
            };
            Key::from_parts(kid, algorithm, created_at, private_key)?
        }
        Algorithm::Es256 => Key::from_ec_pkcs8(Some(kid), created_at, &der)?,
    };
    Ok(Entry {
        key: Arc::new(key),
        activates_at: activates_at.unwrap_or(created_at),
        retires_at,
    })
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use super::*;
    use crate::testing::key_set;

    const SECRET: &[u8] = b"a key encryption secret for tests";

    fn stored_json() -> Value {
        serde_json::from_slice(&key_set().to_stored(SECRET).unwrap()).unwrap()
    }

    fn decode_value(value: &Value) -> Result<KeySet, KeySetError> {
        decode(&serde_json::to_vec(value).unwrap(), SECRET)
    }

    #[test]
    fn stored_form_round_trips() {
        let original = key_set();
        let decoded = KeySet::from_stored(&original.to_stored(SECRET).unwrap(), SECRET).unwrap();
        let (before, after) = (original.signing_key(), decoded.signing_key());
        assert_eq!(after.kid(), before.kid());
        assert_eq!(after.created_at(), before.created_at());
        assert_eq!(after.public_key(), before.public_key());
        assert_eq!(decoded.jwks_json(), original.jwks_json());
    }

    #[test]
    fn es256_key_round_trips() {
        let key = Key::generate(Algorithm::Es256, 0).unwrap();
        let kid = key.kid().to_owned();
        let set = KeySet::new(vec![key]).unwrap();
        let decoded = KeySet::from_stored(&set.to_stored(SECRET).unwrap(), SECRET).unwrap();
        let after = decoded.signing_key();
        assert_eq!(after.kid(), kid);
        assert_eq!(after.algorithm(), Algorithm::Es256);
        assert_eq!(after.public_key(), set.signing_key().public_key());
        assert_eq!(decoded.jwks_json(), set.jwks_json());
    }

    #[test]
    fn stored_form_has_expected_members() {
        let value = stored_json();
        assert_eq!(value["version"], 2);
        assert_eq!(
            STANDARD
                .decode(value["salt"].as_str().unwrap())
                .unwrap()
                .len(),
            16
        );
        let key = &value["keys"][0];
        assert_eq!(key["kid"], key_set().signing_key().kid());
        assert_eq!(key["alg"], "RS256");
        assert!(key["created_at"].is_u64());
        assert!(key["activates_at"].is_u64());
        assert!(key["retires_at"].is_null());
    }

    #[test]
    fn stored_private_key_is_not_plaintext() {
        let value = stored_json();
        let sealed = STANDARD
            .decode(value["keys"][0]["private_key"].as_str().unwrap())
            .unwrap();
        let der = key_set().signing_key().pkcs8_der();
        assert!(RsaPrivateKey::from_pkcs8_der(&sealed).is_err());
        assert!(
            !sealed
                .windows(32)
                .any(|window| window == &der[der.len() - 32..]),
            "no run of the key's DER appears in the stored bytes"
        );
    }

    #[test]
    fn wrong_secret_refused_by_kid() {
        let bytes = key_set().to_stored(SECRET).unwrap();
        let error = decode(&bytes, b"another secret").unwrap_err();
        assert!(
            matches!(&error, KeySetError::Undecryptable { kid } if kid == key_set().signing_key().kid()),
            "{error}"
        );
    }

    #[test]
    fn plaintext_version_one_still_read() {
        let der = key_set().signing_key().pkcs8_der();
        let value = json!({"version": 1, "keys": [{
            "kid": "old", "alg": "RS256", "created_at": 7,
            "private_key": STANDARD.encode(der),
        }]});
        let set = decode_value(&value).unwrap();
        assert_eq!(set.entries()[0].activates_at, 7);
        assert_eq!(set.entries()[0].retires_at, None);
        let rewritten: Value = serde_json::from_slice(&set.to_stored(SECRET).unwrap()).unwrap();
        assert_eq!(rewritten["version"], 2);
    }

    #[test]
    fn unknown_members_ignored() {
        let mut value = stored_json();
        value["rotation"] = json!({"next_at": 1});
        value["keys"][0]["retire_at"] = json!(2);
        assert!(decode_value(&value).is_ok());
    }

    #[test]
    fn malformed_sets_rejected() {
        type Change = Box<dyn Fn(&mut Value)>;
        let cases: Vec<(&str, Change)> = vec![
            ("version", Box::new(|v| v["version"] = json!(3))),
            ("empty", Box::new(|v| v["keys"] = json!([]))),
            (
                "algorithm",
                Box::new(|v| v["keys"][0]["alg"] = json!("HS256")),
            ),
            (
                "base64",
                Box::new(|v| v["keys"][0]["private_key"] = json!("not base64!")),
            ),
            (
                "undecryptable",
                Box::new(|v| v["keys"][0]["private_key"] = json!("AAAA")),
            ),
            ("salt", Box::new(|v| v["salt"] = json!("AAAA"))),
            (
                "shape",
                Box::new(|v| v["keys"][0]["created_at"] = json!("yesterday")),
            ),
        ];
        for (case, change) in cases {
            let mut value = stored_json();
            change(&mut value);
            let error = decode_value(&value).unwrap_err();
            let matched = match case {
                "version" => matches!(error, KeySetError::UnsupportedVersion { found: 3, .. }),
                "empty" => matches!(error, KeySetError::Empty),
                "algorithm" => matches!(error, KeySetError::UnsupportedAlgorithm { .. }),
                "base64" => matches!(error, KeySetError::Base64 { .. }),
                "undecryptable" => matches!(error, KeySetError::Undecryptable { .. }),
                "salt" => matches!(error, KeySetError::Salt),
                _ => matches!(error, KeySetError::Shape(_)),
            };
            assert!(matched, "case {case}: got {error}");
        }
    }

    #[test]
    fn non_json_rejected() {
        assert!(matches!(
            decode(b"\x00\xff", SECRET),
            Err(KeySetError::Shape(_))
        ));
        assert!(matches!(decode(b"[]", SECRET), Err(KeySetError::Shape(_))));
    }
}
