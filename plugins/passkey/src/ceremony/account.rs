//! The signed-in user's account: its passkeys, adding one, renaming and deleting one.

use std::time::SystemTime;

use latchkey_sdk::capability::CutoffClaim;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use webauthn_rs_core::proto::{RegisterPublicKeyCredential, RegistrationState};

use super::register::{self, without_attestation_chain};
use super::state;
use crate::encoding;
use crate::error::PasskeyError;
use crate::record::{self, CredentialRecord, Update, UserRecord};
use crate::relying_party::RelyingParty;

/// Maximum length of a passkey name, in characters after trimming.
const MAX_CREDENTIAL_NAME_CHARS: usize = 64;

/// Maximum length of a credential ID in a path: 1023 bytes in base64url.
const MAX_CREDENTIAL_ID_CHARS: usize = 1364;

/// A passkey being added to an account, between its challenge and its response.
#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct AddCeremony {
    /// webauthn-rs-core's state.
    state: RegistrationState,
    /// The account's user ID; only a token of this user may finish the ceremony.
    #[serde(rename = "userID")]
    user_id: String,
}

/// `GET /api/auth/me`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct AccountView {
    #[serde(rename = "userID")]
    user_id: String,
    display_name: String,
    created_at: u64,
    credentials: Vec<CredentialView>,
}

/// One passkey of an account.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct CredentialView {
    id: String,
    name: Option<String>,
    created_at: u64,
    last_used_at: Option<u64>,
    backup_eligible: bool,
    backed_up: bool,
    transports: Vec<Value>,
}

impl CredentialView {
    fn new(id: String, stored: &CredentialRecord) -> Self {
        let transports = stored
            .credential
            .transports
            .iter()
            .flatten()
            .filter_map(|transport| serde_json::to_value(transport).ok())
            .collect();
        Self {
            id,
            name: stored.name.clone(),
            created_at: stored.created_at,
            last_used_at: stored.last_used_at,
            backup_eligible: stored.credential.backup_eligible,
            backed_up: stored.credential.backup_state,
            transports,
        }
    }
}

/// The response to deleting a passkey, with what a browser passes to
/// `PublicKeyCredential.signalAllAcceptedCredentials` so its passkey picker forgets it.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct DeletedView {
    success: bool,
    deleted: String,
    /// Whether the tokens minted from the passkey were revoked; false when no plugin
    /// provides a revocation list.
    tokens_revoked: bool,
    signal: AcceptedCredentials,
}

/// The argument of `signalAllAcceptedCredentials`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct AcceptedCredentials {
    rp_id: String,
    user_id: String,
    all_accepted_credential_ids: Vec<String>,
}

impl RelyingParty {
    /// Returns the account of `user_id` with its passkeys, oldest first.
    pub(crate) async fn account(&self, user_id: &str) -> Result<AccountView, PasskeyError> {
        let user = self.user(user_id).await?;
        let mut credentials = Vec::with_capacity(user.credentials.len());
        for credential_id in &user.credentials {
            let key = record::credential_key(credential_id);
            // A credential missing from the store was deleted while this ran.
            if let Some(stored) = record::load::<CredentialRecord>(&*self.store, &key).await? {
                credentials.push(CredentialView::new(credential_id.clone(), &stored));
            }
        }
        Ok(AccountView {
            user_id: user_id.to_owned(),
            display_name: user.display_name,
            created_at: user.created_at,
            credentials,
        })
    }

    /// Starts adding a passkey to the account of `user_id` and returns the creation
    /// options, which exclude the passkeys the account has.
    pub(crate) async fn start_adding(&self, user_id: &str) -> Result<Value, PasskeyError> {
        let user = self.user(user_id).await?;
        let user_handle = encoding::decode_lenient(user_id).ok_or(PasskeyError::AccountNotFound)?;
        let exclude = user
            .credentials
            .iter()
            .filter_map(|id| encoding::decode_lenient(id))
            .collect();
        let (options, state) = self.creation_options(&user_handle, &user.display_name, exclude)?;

        let challenge = encoding::encode(&options.public_key.challenge);
        let ceremony = AddCeremony {
            state,
            user_id: user_id.to_owned(),
        };
        let key = record::add_challenge_key(&challenge);
        state::save(&*self.store, &key, &ceremony, self.policy.challenge_ttl).await?;
        state::options_json(&options.public_key)
    }

    /// Verifies the response to an add challenge started by `user_id` and adds the new
    /// passkey, called `name`, to the account.
    pub(crate) async fn finish_adding(
        &self,
        user_id: &str,
        response: RegisterPublicKeyCredential,
        name: Option<&str>,
    ) -> Result<CredentialView, PasskeyError> {
        let name = name.map(check_credential_name).transpose()?;
        let challenge = register::registration_challenge(&response)?;
        let key = record::add_challenge_key(&challenge);
        // Read before taking, so that a response over another account's challenge gets
        // the error of any unknown challenge and leaves that ceremony in place.
        let owned = record::load::<AddCeremony>(&*self.store, &key)
            .await?
            .is_some_and(|ceremony| ceremony.user_id == user_id);
        if !owned {
            return Err(PasskeyError::UnknownChallenge);
        }
        let ceremony: AddCeremony = state::take(&*self.store, &key).await?;
        let (credential_id, credential) = self.verify_registration(&response, &ceremony.state)?;

        let credential_key = record::credential_key(&credential_id);
        let stored = CredentialRecord {
            user_id: user_id.to_owned(),
            credential: without_attestation_chain(credential),
            created_at: record::unix_now(),
            last_used_at: None,
            name,
        };
        let bytes = record::encode(&credential_key, &stored)?;
        if !self.store.insert_new(&credential_key, &bytes, None).await? {
            return Err(PasskeyError::CredentialExists { credential_id });
        }
        if !record::add_user_credential(&*self.store, user_id, &credential_id).await? {
            self.store.delete(&credential_key).await?;
            return Err(PasskeyError::AccountNotFound);
        }
        tracing::info!(user_id, credential_id, "passkey added to account");
        Ok(CredentialView::new(credential_id, &stored))
    }

    /// Renames the passkey `credential_id` of `user_id`.
    pub(crate) async fn rename_credential(
        &self,
        user_id: &str,
        credential_id: &str,
        name: &str,
    ) -> Result<CredentialView, PasskeyError> {
        let name = check_credential_name(name)?;
        let credential_id = canonical_credential_id(credential_id)?;
        let key = record::credential_key(&credential_id);
        let updated = record::update(&*self.store, &key, |stored: &mut CredentialRecord| {
            if stored.user_id != user_id {
                return Update::Keep(None);
            }
            stored.name = Some(name.clone());
            Update::Write(Some(CredentialView::new(credential_id.clone(), stored)))
        })
        .await?;
        updated.flatten().ok_or(PasskeyError::CredentialNotFound)
    }

    /// Deletes the passkey `credential_id` of `user_id` and revokes every token minted
    /// from it.
    pub(crate) async fn delete_credential(
        &self,
        user_id: &str,
        credential_id: &str,
    ) -> Result<DeletedView, PasskeyError> {
        let credential_id = canonical_credential_id(credential_id)?;
        let user = self.user(user_id).await?;
        if !user.credentials.contains(&credential_id) {
            return Err(PasskeyError::CredentialNotFound);
        }
        if user.credentials.len() == 1 && !self.policy.allow_deleting_last_credential {
            return Err(PasskeyError::LastCredential);
        }

        // Remove the passkey from the account first, where the last-passkey rule is checked
        // atomically, so that a refused deletion revokes nothing.
        let allow_last = self.policy.allow_deleting_last_credential;
        let remaining = record::update(
            &*self.store,
            &record::user_key(user_id),
            |user: &mut UserRecord| {
                if !user.credentials.contains(&credential_id) {
                    return Update::Keep(Err(PasskeyError::CredentialNotFound));
                }
                if user.credentials.len() == 1 && !allow_last {
                    return Update::Keep(Err(PasskeyError::LastCredential));
                }
                user.credentials.retain(|id| *id != credential_id);
                Update::Write(Ok(user.credentials.clone()))
            },
        )
        .await?
        .ok_or(PasskeyError::AccountNotFound)??;

        let tokens_revoked = match &self.revocations {
            Some(revocations) => {
                let revoked = revocations
                    .revoke_issued_before(
                        CutoffClaim::Credential,
                        &credential_id,
                        SystemTime::now(),
                    )
                    .await;
                if let Err(error) = revoked {
                    // Put the passkey back, so that it is not gone while its tokens live.
                    record::add_user_credential(&*self.store, user_id, &credential_id).await?;
                    return Err(error.into());
                }
                true
            }
            None => false,
        };
        self.store
            .delete(&record::credential_key(&credential_id))
            .await?;

        tracing::info!(user_id, credential_id, tokens_revoked, "passkey deleted");
        Ok(DeletedView {
            success: true,
            deleted: credential_id,
            tokens_revoked,
            signal: AcceptedCredentials {
                rp_id: self.policy.rp_id.clone(),
                user_id: user_id.to_owned(),
                all_accepted_credential_ids: remaining,
            },
        })
    }

    async fn user(&self, user_id: &str) -> Result<UserRecord, PasskeyError> {
        record::load(&*self.store, &record::user_key(user_id))
            .await?
            .ok_or(PasskeyError::AccountNotFound)
    }
}

/// Returns the canonical form of a credential ID from a path, or
/// [`PasskeyError::CredentialNotFound`] for text that cannot be one.
fn canonical_credential_id(credential_id: &str) -> Result<String, PasskeyError> {
    if credential_id.len() > MAX_CREDENTIAL_ID_CHARS {
        return Err(PasskeyError::CredentialNotFound);
    }
    encoding::decode_lenient(credential_id)
        .filter(|bytes| !bytes.is_empty())
        .map(|bytes| encoding::encode(&bytes))
        .ok_or(PasskeyError::CredentialNotFound)
}

/// Trims a passkey name and checks it as a display name is checked.
fn check_credential_name(name: &str) -> Result<String, PasskeyError> {
    let invalid = |reason| PasskeyError::InvalidCredentialName { reason };
    let trimmed = name.trim();
    if trimmed.is_empty() {
        return Err(invalid("is empty"));
    }
    if trimmed.chars().count() > MAX_CREDENTIAL_NAME_CHARS {
        return Err(invalid("is longer than 64 characters"));
    }
    if trimmed
        .chars()
        .any(|c| c.is_control() || register::is_invisible(c))
    {
        return Err(invalid(
            "contains a control or invisible formatting character",
        ));
    }
    Ok(trimmed.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credential_names_checked() {
        assert_eq!(
            check_credential_name("  Work laptop ").unwrap(),
            "Work laptop"
        );
        for name in ["", "   ", "a\nb", "evil\u{202E}", &"x".repeat(65)] {
            assert!(
                matches!(
                    check_credential_name(name),
                    Err(PasskeyError::InvalidCredentialName { .. })
                ),
                "{name:?}"
            );
        }
    }

    #[test]
    fn credential_ids_from_paths_canonical() {
        assert_eq!(canonical_credential_id("AQID").unwrap(), "AQID");
        assert_eq!(canonical_credential_id("AQI=").unwrap(), "AQI");
        for id in ["", "!!", &"A".repeat(MAX_CREDENTIAL_ID_CHARS + 1)] {
            assert!(
                matches!(
                    canonical_credential_id(id),
                    Err(PasskeyError::CredentialNotFound)
                ),
                "{id:?}"
            );
        }
    }
}
