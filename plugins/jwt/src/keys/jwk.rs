//! Public keys as JSON Web Keys (RFC 7517), their thumbprints, and the JWKS document.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rsa::RsaPublicKey;
use rsa::traits::PublicKeyParts;
use serde::Serialize;
use sha2::{Digest, Sha256};

use super::key::{Key, PublicKey};

/// The public half of one signing key, as published in the JWKS.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub(crate) struct Jwk<'a> {
    kty: &'static str,
    kid: &'a str,
    #[serde(rename = "use")]
    public_key_use: &'static str,
    alg: &'static str,
    #[serde(flatten)]
    parameters: Parameters,
}

/// The members of a JWK that depend on the key type (RFC 7518 section 6).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(untagged)]
enum Parameters {
    Rsa {
        n: String,
        e: String,
    },
    Ec {
        crv: &'static str,
        x: String,
        y: String,
    },
}

impl<'a> Jwk<'a> {
    pub(crate) fn of(key: &'a Key) -> Self {
        let (kty, parameters) = match key.public_key() {
            PublicKey::Rsa(public_key) => {
                let (n, e) = encoded_components(public_key);
                ("RSA", Parameters::Rsa { n, e })
            }
            PublicKey::Ec { x, y } => (
                "EC",
                Parameters::Ec {
                    crv: "P-256",
                    x: URL_SAFE_NO_PAD.encode(x),
                    y: URL_SAFE_NO_PAD.encode(y),
                },
            ),
        };
        Self {
            kty,
            kid: key.kid(),
            public_key_use: "sig",
            alg: key.algorithm().as_str(),
            parameters,
        }
    }
}

#[derive(Serialize)]
struct Jwks<'a> {
    keys: Vec<Jwk<'a>>,
}

/// Serializes `keys` as the JWKS document `{"keys": [...]}`.
pub(crate) fn jwks_json<'a>(keys: impl Iterator<Item = &'a Key>) -> Vec<u8> {
    let document = Jwks {
        keys: keys.map(Jwk::of).collect(),
    };
    // A struct of strings always serializes, so this never falls back in practice.
    serde_json::to_vec(&document).unwrap_or_else(|_| b"{\"keys\":[]}".to_vec())
}

/// Returns the RFC 7638 thumbprint of `public_key`: the base64url SHA-256 digest of its
/// required JWK members in lexicographic order with no whitespace.
pub(crate) fn thumbprint(public_key: &RsaPublicKey) -> String {
    let (n, e) = encoded_components(public_key);
    // Base64url text needs no JSON escaping, so the canonical form can be written directly.
    let canonical = format!(r#"{{"e":"{e}","kty":"RSA","n":"{n}"}}"#);
    URL_SAFE_NO_PAD.encode(Sha256::digest(canonical.as_bytes()))
}

/// Returns the RFC 7638 thumbprint of the P-256 point (`x`, `y`).
pub(crate) fn ec_thumbprint(x: &[u8], y: &[u8]) -> String {
    let (x, y) = (URL_SAFE_NO_PAD.encode(x), URL_SAFE_NO_PAD.encode(y));
    let canonical = format!(r#"{{"crv":"P-256","kty":"EC","x":"{x}","y":"{y}"}}"#);
    URL_SAFE_NO_PAD.encode(Sha256::digest(canonical.as_bytes()))
}

/// Returns the modulus and exponent as base64url without padding of their big-endian
/// bytes with no leading zero bytes (RFC 7518 section 6.3.1).
fn encoded_components(public_key: &RsaPublicKey) -> (String, String) {
    let n = URL_SAFE_NO_PAD.encode(public_key.n().to_bytes_be());
    let e = URL_SAFE_NO_PAD.encode(public_key.e().to_bytes_be());
    (n, e)
}

#[cfg(test)]
mod tests {
    use serde_json::Value;

    use super::*;
    use crate::testing::key_set;

    #[test]
    fn jwks_has_one_entry_per_key() {
        let keys = key_set();
        let document: Value = serde_json::from_slice(&keys.jwks_json()).unwrap();
        let entries = document["keys"].as_array().unwrap();
        assert_eq!(entries.len(), 1);
        let entry = &entries[0];
        assert_eq!(entry["kty"], "RSA");
        assert_eq!(entry["kid"], keys.signing_key().kid());
        assert_eq!(entry["use"], "sig");
        assert_eq!(entry["alg"], "RS256");
        assert_eq!(entry["e"], "AQAB");
        assert_eq!(entry.as_object().unwrap().len(), 6);
    }

    #[test]
    fn modulus_has_no_leading_zero() {
        let key = key_set().signing_key();
        let PublicKey::Rsa(public_key) = key.public_key() else {
            panic!("the test key is RSA");
        };
        let (n, _) = encoded_components(public_key);
        let bytes = URL_SAFE_NO_PAD.decode(n).unwrap();
        assert_eq!(bytes.len(), 256);
        assert_ne!(bytes[0], 0);
        assert!(!key_set().jwks_json().contains(&b'='));
    }

    #[test]
    fn ec_jwk_has_curve_and_coordinates() {
        let key = Key::generate(crate::config::Algorithm::Es256, 0).unwrap();
        let jwk = serde_json::to_value(Jwk::of(&key)).unwrap();
        assert_eq!(jwk["kty"], "EC");
        assert_eq!(jwk["crv"], "P-256");
        assert_eq!(jwk["alg"], "ES256");
        assert_eq!(jwk["use"], "sig");
        assert_eq!(
            URL_SAFE_NO_PAD
                .decode(jwk["x"].as_str().unwrap())
                .unwrap()
                .len(),
            32
        );
        assert_eq!(
            URL_SAFE_NO_PAD
                .decode(jwk["y"].as_str().unwrap())
                .unwrap()
                .len(),
            32
        );
        assert_eq!(jwk.as_object().unwrap().len(), 7);
        assert_eq!(key.kid().len(), 43);
    }

    #[test]
    fn thumbprint_matches_rfc7638_example() {
        // The RSA key of RFC 7638 section 3.1 and the thumbprint given there.
        let n = "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw";
        let e = "AQAB";
        let modulus = rsa::BigUint::from_bytes_be(&URL_SAFE_NO_PAD.decode(n).unwrap());
        let exponent = rsa::BigUint::from_bytes_be(&URL_SAFE_NO_PAD.decode(e).unwrap());
        let public_key = RsaPublicKey::new(modulus, exponent).unwrap();
        assert_eq!(
            thumbprint(&public_key),
            "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"
        );
    }
}
