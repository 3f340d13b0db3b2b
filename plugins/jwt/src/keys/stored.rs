//! The key set's form in the store: versioned JSON with each private key as base64
//! PKCS#8 DER.
//!
//! ```json
//! {"version":1,"keys":[{"kid":"…","alg":"RS256","created_at":1733270400,"private_key":"MIIEv…"}]}
//! ```
//!
//! Unknown members are ignored, so that a later version may add some without breaking
//! instances that still run this one. A change that older instances must not read raises
//! `version`.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use rsa::RsaPrivateKey;
use rsa::pkcs8::DecodePrivateKey;
use serde::{Deserialize, Serialize};

use super::key::Key;
use super::set::KeySet;
use crate::config::Algorithm;
use crate::error::KeySetError;

/// Format version that this build writes and reads.
const VERSION: u32 = 1;

#[derive(Serialize, Deserialize)]
struct StoredKeySet {
    version: u32,
    keys: Vec<StoredKey>,
}

#[derive(Serialize, Deserialize)]
struct StoredKey {
    kid: String,
    alg: String,
    /// Seconds since the Unix epoch.
    created_at: u64,
    /// PKCS#8 DER, standard base64 with padding.
    private_key: String,
}

/// Serializes `set` in the stored form.
pub(crate) fn encode(set: &KeySet) -> Result<Vec<u8>, KeySetError> {
    let mut keys = Vec::with_capacity(set.keys().len());
    for key in set.keys() {
        // NOTE: the private key is stored unencrypted until key encryption at rest with
        // key_encryption_secret arrives, so anyone who can read the store can sign tokens.
        keys.push(StoredKey {
            kid: key.kid().to_owned(),
            alg: key.algorithm().as_str().to_owned(),
            created_at: key.created_at_secs(),
            private_key: STANDARD.encode(key.pkcs8_der()),
        });
    }
    let stored = StoredKeySet {
        version: VERSION,
        keys,
    };
    serde_json::to_vec(&stored).map_err(KeySetError::Shape)
}

/// Parses the stored form into a key set.
pub(crate) fn decode(bytes: &[u8]) -> Result<KeySet, KeySetError> {
    let stored: StoredKeySet = serde_json::from_slice(bytes).map_err(KeySetError::Shape)?;
    if stored.version != VERSION {
        return Err(KeySetError::UnsupportedVersion {
            found: stored.version,
            expected: VERSION,
        });
    }
    let keys = stored
        .keys
        .into_iter()
        .map(decode_key)
        .collect::<Result<Vec<_>, _>>()?;
    KeySet::new(keys)
}

fn decode_key(stored: StoredKey) -> Result<Key, KeySetError> {
    let StoredKey {
        kid,
        alg,
        created_at,
        private_key,
    } = stored;
    let algorithm = match alg.as_str() {
        "RS256" => Algorithm::Rs256,
        _ => {
            return Err(KeySetError::UnsupportedAlgorithm {
                kid,
                algorithm: alg,
            });
        }
    };
    let der = match STANDARD.decode(private_key.as_bytes()) {
        Ok(der) => der,
        Err(source) => return Err(KeySetError::Base64 { kid, source }),
    };
    let private_key = match RsaPrivateKey::from_pkcs8_der(&der) {
        Ok(private_key) => private_key,
        Err(source) => return Err(KeySetError::Pkcs8 { kid, source }),
    };
    Key::from_parts(kid, algorithm, created_at, private_key)
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use super::*;
    use crate::testing::key_set;

    fn stored_json() -> Value {
        serde_json::from_slice(&key_set().to_stored().unwrap()).unwrap()
    }

    fn decode_value(value: &Value) -> Result<KeySet, KeySetError> {
        decode(&serde_json::to_vec(value).unwrap())
    }

    #[test]
    fn stored_form_round_trips() {
        let original = key_set();
        let decoded = KeySet::from_stored(&original.to_stored().unwrap()).unwrap();
        let (before, after) = (original.signing_key(), decoded.signing_key());
        assert_eq!(after.kid(), before.kid());
        assert_eq!(after.created_at(), before.created_at());
        assert_eq!(after.public_key(), before.public_key());
        assert_eq!(decoded.jwks_json(), original.jwks_json());
    }

    #[test]
    fn stored_form_has_expected_members() {
        let value = stored_json();
        assert_eq!(value["version"], 1);
        let key = &value["keys"][0];
        assert_eq!(key["kid"], key_set().signing_key().kid());
        assert_eq!(key["alg"], "RS256");
        assert!(key["created_at"].is_u64());
        let der = STANDARD
            .decode(key["private_key"].as_str().unwrap())
            .unwrap();
        assert!(RsaPrivateKey::from_pkcs8_der(&der).is_ok());
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
            ("version", Box::new(|v| v["version"] = json!(2))),
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
                "pkcs8",
                Box::new(|v| v["keys"][0]["private_key"] = json!("AAAA")),
            ),
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
                "version" => matches!(error, KeySetError::UnsupportedVersion { found: 2, .. }),
                "empty" => matches!(error, KeySetError::Empty),
                "algorithm" => matches!(error, KeySetError::UnsupportedAlgorithm { .. }),
                "base64" => matches!(error, KeySetError::Base64 { .. }),
                "pkcs8" => matches!(error, KeySetError::Pkcs8 { .. }),
                _ => matches!(error, KeySetError::Shape(_)),
            };
            assert!(matched, "case {case}: got {error}");
        }
    }

    #[test]
    fn non_json_rejected() {
        assert!(matches!(decode(b"\x00\xff"), Err(KeySetError::Shape(_))));
        assert!(matches!(decode(b"[]"), Err(KeySetError::Shape(_))));
    }
}
