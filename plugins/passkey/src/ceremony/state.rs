//! Ceremony state kept in the store between the challenge and the response, and the
//! checks both ceremonies run on a response before verifying it.

use std::time::Duration;

use latchkey_sdk::capability::Store;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::encoding;
use crate::error::PasskeyError;
use crate::record;

/// The fields of `clientDataJSON` read before webauthn-rs-core parses it all.
#[derive(Deserialize)]
struct ClientDataChallenge {
    challenge: String,
    #[serde(rename = "crossOrigin", default)]
    cross_origin: Option<bool>,
}

/// Returns the challenge of `client_data_json` in canonical base64url, the form ceremony
/// keys use, rejecting a ceremony that ran cross-origin.
pub(super) fn challenge_of(client_data_json: &[u8]) -> Result<String, PasskeyError> {
    let client_data: ClientDataChallenge =
        serde_json::from_slice(client_data_json).map_err(|_| PasskeyError::ClientData)?;
    // A ceremony run in a cross-origin iframe is rejected for both registration and login;
    // webauthn-rs-core 0.6.2 checks `crossOrigin` at registration only.
    if client_data.cross_origin == Some(true) {
        return Err(PasskeyError::Verification(
            webauthn_rs_core::error::WebauthnError::CredentialCrossOrigin,
        ));
    }
    let challenge =
        encoding::decode_lenient(&client_data.challenge).ok_or(PasskeyError::ClientData)?;
    Ok(encoding::encode(&challenge))
}

/// Checks that the credential's `id` is `rawId` in base64url, padded or not, or in
/// standard base64.
pub(super) fn check_credential_id(id: &str, raw_id: &[u8]) -> Result<(), PasskeyError> {
    match encoding::decode_lenient(id) {
        Some(bytes) if bytes == raw_id => Ok(()),
        _ => Err(PasskeyError::CredentialIdMismatch),
    }
}

/// Checks that the credential's `type` is `public-key`.
pub(super) fn check_credential_type(type_: &str) -> Result<(), PasskeyError> {
    if type_ == "public-key" {
        Ok(())
    } else {
        Err(PasskeyError::CredentialType {
            found: type_.to_owned(),
        })
    }
}

/// Stores a new ceremony's `state` under `key` for `ttl`.
pub(super) async fn save<T: Serialize>(
    store: &dyn Store,
    key: &str,
    state: &T,
    ttl: Duration,
) -> Result<(), PasskeyError> {
    let bytes = record::encode(key, state)?;
    if store.insert_new(key, &bytes, Some(ttl)).await? {
        Ok(())
    } else {
        Err(PasskeyError::KeyTaken {
            key: key.to_owned(),
        })
    }
}

/// Removes and returns the ceremony state under `key`, so that a challenge serves at most one
/// response, whether that response verifies or not.
pub(super) async fn take<T: DeserializeOwned>(
    store: &dyn Store,
    key: &str,
) -> Result<T, PasskeyError> {
    let bytes = store
        .take(key)
        .await?
        .ok_or(PasskeyError::UnknownChallenge)?;
    record::decode(key, &bytes)
}

/// Serializes ceremony options as the flat JSON object `@simplewebauthn/browser` reads,
/// without null fields.
pub(super) fn options_json<T: Serialize>(options: &T) -> Result<Value, PasskeyError> {
    let mut value = serde_json::to_value(options).map_err(PasskeyError::Options)?;
    drop_nulls(&mut value);
    Ok(value)
}

fn drop_nulls(value: &mut Value) {
    match value {
        Value::Object(map) => {
            map.retain(|_, field| !field.is_null());
            map.values_mut().for_each(drop_nulls);
        }
        Value::Array(items) => items.iter_mut().for_each(drop_nulls),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn challenge_read_in_canonical_form() {
        for challenge in ["--__AQ", "--__AQ==", "++//AQ"] {
            let client_data = json!({"type": "webauthn.get", "challenge": challenge});
            let bytes = serde_json::to_vec(&client_data).unwrap();
            assert_eq!(challenge_of(&bytes).unwrap(), "--__AQ", "{challenge}");
        }
    }

    #[test]
    fn client_data_without_challenge_rejected() {
        let bytes = serde_json::to_vec(&json!({"type": "webauthn.get"})).unwrap();
        assert!(matches!(
            challenge_of(&bytes),
            Err(PasskeyError::ClientData)
        ));
        assert!(matches!(
            challenge_of(b"\xff\x00"),
            Err(PasskeyError::ClientData)
        ));
    }

    #[test]
    fn challenge_not_base64_rejected() {
        let bytes = serde_json::to_vec(&json!({"challenge": "a b"})).unwrap();
        assert!(matches!(
            challenge_of(&bytes),
            Err(PasskeyError::ClientData)
        ));
    }

    #[test]
    fn credential_id_spellings_match_raw_id() {
        let raw_id = [0xFB, 0xEF, 0xFF, 0x01];
        for id in ["--__AQ", "--__AQ==", "++//AQ"] {
            assert!(check_credential_id(id, &raw_id).is_ok(), "{id}");
        }
    }

    #[test]
    fn credential_id_other_bytes_rejected() {
        let raw_id = [0xFB, 0xEF, 0xFF, 0x01];
        for id in ["--__AA", "", "not base64!"] {
            assert!(
                matches!(
                    check_credential_id(id, &raw_id),
                    Err(PasskeyError::CredentialIdMismatch)
                ),
                "{id}"
            );
        }
    }

    #[test]
    fn credential_type_must_be_public_key() {
        assert!(check_credential_type("public-key").is_ok());
        assert!(check_credential_type("password").is_err());
    }

    #[test]
    fn nulls_dropped_at_every_depth() {
        let value = options_json(&json!({
            "challenge": "AA",
            "timeout": null,
            "authenticatorSelection": {"authenticatorAttachment": null, "residentKey": "required"},
            "allowCredentials": [],
            "list": [{"a": null, "b": 1}]
        }))
        .unwrap();
        assert_eq!(
            value,
            json!({
                "challenge": "AA",
                "authenticatorSelection": {"residentKey": "required"},
                "allowCredentials": [],
                "list": [{"b": 1}]
            })
        );
    }
}
