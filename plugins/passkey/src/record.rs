//! Store keys and the user and credential records kept under them.
//!
//! Every key the plugin writes is built here:
//!
//! | key | value | lifetime |
//! | --- | --- | --- |
//! | `passkey:user:<userID>` | [`UserRecord`] | permanent |
//! | `passkey:credential:<credentialID>` | [`CredentialRecord`] | permanent |
//! | `passkey:challenge:register:<challenge>` | registration ceremony state | `challenge_ttl` |
//! | `passkey:challenge:login:<challenge>` | login ceremony state | `challenge_ttl` |
//! | `passkey:challenge:add:<challenge>` | state of a passkey being added to an account | `challenge_ttl` |
//! | `passkey:quirk:<quirk>` | count of logins showing the quirk | 30 days from first count |
//!
//! IDs and challenges in keys are unpadded base64url.

use std::time::{SystemTime, UNIX_EPOCH};

use latchkey_sdk::capability::Store;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use webauthn_rs_core::proto::Credential;

use crate::error::PasskeyError;
use crate::quirks::Quirk;

/// Attempts of a compare-and-swap update before it gives up on a busy record.
const MAX_UPDATE_ATTEMPTS: usize = 8;

/// Returns the key of the user record of `user_id`.
pub(crate) fn user_key(user_id: &str) -> String {
    format!("passkey:user:{user_id}")
}

/// Returns the key of the credential record of `credential_id`.
pub(crate) fn credential_key(credential_id: &str) -> String {
    format!("passkey:credential:{credential_id}")
}

/// Returns the key of the registration ceremony for `challenge`.
pub(crate) fn registration_challenge_key(challenge: &str) -> String {
    format!("passkey:challenge:register:{challenge}")
}

/// Returns the key of the login ceremony for `challenge`.
pub(crate) fn login_challenge_key(challenge: &str) -> String {
    format!("passkey:challenge:login:{challenge}")
}

/// Returns the key of the ceremony that adds a passkey to an account, for `challenge`.
pub(crate) fn add_challenge_key(challenge: &str) -> String {
    format!("passkey:challenge:add:{challenge}")
}

/// Returns the key of the count of logins that showed `quirk`.
pub(crate) fn quirk_count_key(quirk: Quirk) -> String {
    format!("passkey:quirk:{}", quirk.name())
}

/// A user, stored under `passkey:user:<userID>`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct UserRecord {
    /// Display name given at registration, trimmed.
    pub(crate) display_name: String,
    /// Creation time, in seconds since the Unix epoch.
    pub(crate) created_at: u64,
    /// IDs of the user's credentials, canonical base64url, oldest first.
    pub(crate) credentials: Vec<String>,
}

/// A credential, stored under `passkey:credential:<credentialID>`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct CredentialRecord {
    /// The owner's user ID, canonical base64url.
    #[serde(rename = "userID")]
    pub(crate) user_id: String,
    /// The credential as webauthn-rs-core stores it: public key, counter, backup flags,
    /// transports and the user verification policy of its registration.
    pub(crate) credential: Credential,
    /// Registration time, in seconds since the Unix epoch.
    pub(crate) created_at: u64,
    /// Time of the last successful login, in seconds since the Unix epoch.
    pub(crate) last_used_at: Option<u64>,
    /// Name the user gave the passkey, like "Work laptop".
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) name: Option<String>,
}

/// The decision of an update closure about the record it was given.
pub(crate) enum Update<R> {
    /// Write the changed record, then return the value.
    Write(R),
    /// Leave the record as stored and return the value.
    Keep(R),
}

/// Returns the current time in seconds since the Unix epoch, or 0 on a clock set before it.
pub(crate) fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.as_secs())
}

/// Encodes a record as JSON.
pub(crate) fn encode<T: Serialize>(key: &str, record: &T) -> Result<Vec<u8>, PasskeyError> {
    serde_json::to_vec(record).map_err(|source| PasskeyError::Record {
        key: key.to_owned(),
        source,
    })
}

/// Decodes a record stored as JSON.
pub(crate) fn decode<T: DeserializeOwned>(key: &str, bytes: &[u8]) -> Result<T, PasskeyError> {
    serde_json::from_slice(bytes).map_err(|source| PasskeyError::Record {
        key: key.to_owned(),
        source,
    })
}

/// Reads and decodes the record at `key`, or returns `None` when it is absent.
pub(crate) async fn load<T: DeserializeOwned>(
    store: &dyn Store,
    key: &str,
) -> Result<Option<T>, PasskeyError> {
    match store.get(key).await? {
        Some(bytes) => decode(key, &bytes).map(Some),
        None => Ok(None),
    }
}

/// Updates the record at `key` atomically: reads it, lets `change` edit it, and writes it
/// back with compare-and-swap, starting over when another writer got there first.
///
/// Returns `None` when the record is absent, and [`PasskeyError::StoreContention`] after
/// [`MAX_UPDATE_ATTEMPTS`] lost races.
pub(crate) async fn update<T, R>(
    store: &dyn Store,
    key: &str,
    mut change: impl FnMut(&mut T) -> Update<R>,
) -> Result<Option<R>, PasskeyError>
where
    T: Serialize + DeserializeOwned,
{
    for _ in 0..MAX_UPDATE_ATTEMPTS {
        let Some(current) = store.get(key).await? else {
            return Ok(None);
        };
        let mut record: T = decode(key, &current)?;
        let result = match change(&mut record) {
            Update::Keep(result) => return Ok(Some(result)),
            Update::Write(result) => result,
        };
        let new = encode(key, &record)?;
        if store
            .compare_and_swap(key, Some(&current), &new, None)
            .await?
        {
            return Ok(Some(result));
        }
    }
    Err(PasskeyError::StoreContention {
        key: key.to_owned(),
    })
}

/// Adds `credential_id` to the credential list of user `user_id`, once.
///
/// Returns whether the user exists. Used when a signed-in user adds another passkey.
pub(crate) async fn add_user_credential(
    store: &dyn Store,
    user_id: &str,
    credential_id: &str,
) -> Result<bool, PasskeyError> {
    let outcome = update(store, &user_key(user_id), |user: &mut UserRecord| {
        if user.credentials.iter().any(|id| id == credential_id) {
            Update::Keep(())
        } else {
            user.credentials.push(credential_id.to_owned());
            Update::Write(())
        }
    })
    .await?;
    Ok(outcome.is_some())
}

#[cfg(test)]
pub(crate) mod tests {
    pub(crate) use latchkey_sdk::testing::FakeStore;

    use super::*;

    fn user(credentials: &[&str]) -> UserRecord {
        UserRecord {
            display_name: "Ada".to_owned(),
            created_at: 1,
            credentials: credentials.iter().map(|id| (*id).to_owned()).collect(),
        }
    }

    async fn put_user(store: &FakeStore, user_id: &str, record: &UserRecord) {
        let key = user_key(user_id);
        store
            .set(&key, &encode(&key, record).unwrap(), None)
            .await
            .unwrap();
    }

    async fn stored_user(store: &FakeStore, user_id: &str) -> UserRecord {
        load(store, &user_key(user_id)).await.unwrap().unwrap()
    }

    #[test]
    fn keys_are_namespaced() {
        assert_eq!(user_key("dQ"), "passkey:user:dQ");
        assert_eq!(credential_key("Yw"), "passkey:credential:Yw");
        assert_eq!(
            registration_challenge_key("Yw"),
            "passkey:challenge:register:Yw"
        );
        assert_eq!(login_challenge_key("Yw"), "passkey:challenge:login:Yw");
        assert_eq!(
            quirk_count_key(Quirk::CounterZero),
            "passkey:quirk:counter_zero"
        );
    }

    #[test]
    fn user_record_json_shape() {
        let json = serde_json::to_value(user(&["Yw"])).unwrap();
        assert_eq!(
            json,
            serde_json::json!({"displayName": "Ada", "createdAt": 1, "credentials": ["Yw"]})
        );
    }

    #[tokio::test]
    async fn credential_added_once() {
        let store = FakeStore::default();
        put_user(&store, "dQ", &user(&["Yw"])).await;

        assert!(add_user_credential(&store, "dQ", "Zg").await.unwrap());
        assert!(add_user_credential(&store, "dQ", "Zg").await.unwrap());
        assert_eq!(stored_user(&store, "dQ").await.credentials, ["Yw", "Zg"]);
    }

    #[tokio::test]
    async fn credential_not_added_to_missing_user() {
        let store = FakeStore::default();
        assert!(!add_user_credential(&store, "dQ", "Zg").await.unwrap());
        assert!(store.keys("passkey:").await.unwrap().is_empty());
    }

    #[tokio::test]
    async fn update_retries_lost_races() {
        let store = FakeStore::default();
        put_user(&store, "dQ", &user(&[])).await;
        store.lose_next_swaps(3);

        assert!(add_user_credential(&store, "dQ", "Zg").await.unwrap());
        assert_eq!(stored_user(&store, "dQ").await.credentials, ["Zg"]);
    }

    #[tokio::test]
    async fn update_gives_up_when_always_busy() {
        let store = FakeStore::default();
        put_user(&store, "dQ", &user(&[])).await;
        store.lose_next_swaps(usize::MAX);

        let error = add_user_credential(&store, "dQ", "Zg").await.unwrap_err();
        assert!(
            matches!(error, PasskeyError::StoreContention { .. }),
            "{error}"
        );
        assert!(stored_user(&store, "dQ").await.credentials.is_empty());
    }

    #[tokio::test]
    async fn corrupt_record_reported_with_key() {
        let store = FakeStore::default();
        store.set(&user_key("dQ"), b"not json", None).await.unwrap();

        let error = add_user_credential(&store, "dQ", "Zg").await.unwrap_err();
        assert!(
            matches!(&error, PasskeyError::Record { key, .. } if key == "passkey:user:dQ"),
            "{error}"
        );
    }
}
