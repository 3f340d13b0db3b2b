//! Registration: a new user with a new passkey.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use webauthn_rs_core::proto::{
    CreationChallengeResponse, Credential, CredentialID, ParsedAttestationData,
    RegisterPublicKeyCredential, RegistrationState, ResidentKeyRequirement,
};

use super::state;
use crate::encoding;
use crate::error::PasskeyError;
use crate::record::{self, CredentialRecord, UserRecord};
use crate::relying_party::{RelyingParty, TokenResponse};

/// Maximum length of a display name, in characters after trimming.
const MAX_DISPLAY_NAME_CHARS: usize = 64;

/// Length of a random user ID in bytes. WebAuthn allows user handles of up to 64 bytes.
const USER_ID_LEN: usize = 32;

/// Lengths a credential ID may have, in bytes. WebAuthn Level 3 caps credential IDs at
/// 1023 bytes and requires at least 16 bytes of entropy in them.
const CREDENTIAL_ID_LEN: std::ops::RangeInclusive<usize> = 16..=1023;

/// A registration between its challenge and its response.
#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct RegistrationCeremony {
    /// webauthn-rs-core's state: challenge, policy and algorithms offered.
    state: RegistrationState,
    /// The new user's ID, canonical base64url.
    #[serde(rename = "userID")]
    user_id: String,
    /// The trimmed display name.
    display_name: String,
}

impl RelyingParty {
    /// Starts a registration for a new user called `display_name` and returns the
    /// creation options.
    pub(crate) async fn start_registration(
        &self,
        display_name: Option<&str>,
    ) -> Result<Value, PasskeyError> {
        let display_name = check_display_name(display_name)?;
        let user_id: [u8; USER_ID_LEN] = rand::random();
        let (options, state) = self.creation_options(&user_id, &display_name, Vec::new())?;

        let challenge = encoding::encode(&options.public_key.challenge);
        let ceremony = RegistrationCeremony {
            state,
            user_id: encoding::encode(&user_id),
            display_name,
        };
        let key = record::registration_challenge_key(&challenge);
        state::save(&*self.store, &key, &ceremony, self.policy.challenge_ttl).await?;
        state::options_json(&options.public_key)
    }

    /// Builds the creation options and ceremony state of a passkey for `user_id`, excluding
    /// the credentials the user already has.
    pub(super) fn creation_options(
        &self,
        user_id: &[u8],
        display_name: &str,
        exclude: Vec<CredentialID>,
    ) -> Result<(CreationChallengeResponse, RegistrationState), PasskeyError> {
        let exclude = (!exclude.is_empty()).then_some(exclude);
        let builder = self
            .core
            .new_challenge_register_builder(user_id, display_name, display_name)
            .map_err(PasskeyError::Verification)?
            .user_verification_policy(self.policy.user_verification)
            .require_resident_key(self.policy.resident_key == ResidentKeyRequirement::Required)
            .authenticator_attachment(self.policy.authenticator_attachment)
            .exclude_credentials(exclude);
        let (mut options, state) = self
            .core
            .generate_challenge_register(builder)
            .map_err(PasskeyError::Verification)?;
        // The builder writes only required or discouraged, so put the configured value,
        // which may be preferred.
        if let Some(selection) = &mut options.public_key.authenticator_selection {
            selection.resident_key = Some(self.policy.resident_key);
        }
        Ok((options, state))
    }

    /// Verifies the response to a registration challenge, stores the new user and
    /// credential, and returns a token for the user.
    pub(crate) async fn finish_registration(
        &self,
        response: RegisterPublicKeyCredential,
    ) -> Result<TokenResponse, PasskeyError> {
        let challenge = registration_challenge(&response)?;
        let key = record::registration_challenge_key(&challenge);
        let ceremony: RegistrationCeremony = state::take(&*self.store, &key).await?;

        let (credential_id, credential) = self.verify_registration(&response, &ceremony.state)?;
        self.store_registration(&ceremony, &credential_id, credential)
            .await?;

        tracing::debug!(user_id = %ceremony.user_id, credential_id, "passkey registered");
        // NOTE: when the issuer fails here, the user and passkey stay registered, so the
        // client gets a 503 but can log in with the new passkey.
        self.token_response(ceremony.user_id, &credential_id).await
    }

    /// Verifies a registration response against its ceremony `state` and returns the new
    /// credential with its canonical ID.
    pub(super) fn verify_registration(
        &self,
        response: &RegisterPublicKeyCredential,
        state: &RegistrationState,
    ) -> Result<(String, Credential), PasskeyError> {
        let credential = self
            .core
            .register_credential(response, state, None)
            .map_err(PasskeyError::Verification)?;
        if credential.cred_id != response.raw_id {
            return Err(PasskeyError::AttestedIdMismatch);
        }
        if !CREDENTIAL_ID_LEN.contains(&credential.cred_id.len()) {
            return Err(PasskeyError::CredentialIdLength {
                length: credential.cred_id.len(),
            });
        }
        Ok((encoding::encode(&credential.cred_id), credential))
    }

    /// Writes the credential, then the user that owns it, removing the credential again
    /// when the user cannot be written.
    async fn store_registration(
        &self,
        ceremony: &RegistrationCeremony,
        credential_id: &str,
        credential: Credential,
    ) -> Result<(), PasskeyError> {
        let now = record::unix_now();
        let credential_key = record::credential_key(credential_id);
        let credential_record = CredentialRecord {
            user_id: ceremony.user_id.clone(),
            credential: without_attestation_chain(credential),
            created_at: now,
            last_used_at: None,
            name: None,
        };
        let bytes = record::encode(&credential_key, &credential_record)?;
        if !self.store.insert_new(&credential_key, &bytes, None).await? {
            return Err(PasskeyError::CredentialExists {
                credential_id: credential_id.to_owned(),
            });
        }

        let user = UserRecord {
            display_name: ceremony.display_name.clone(),
            created_at: now,
            credentials: vec![credential_id.to_owned()],
        };
        if let Err(error) = self.insert_user(&ceremony.user_id, &user).await {
            self.remove_credential(&credential_key).await;
            return Err(error);
        }
        Ok(())
    }

    async fn insert_user(&self, user_id: &str, user: &UserRecord) -> Result<(), PasskeyError> {
        let key = record::user_key(user_id);
        let bytes = record::encode(&key, user)?;
        if self.store.insert_new(&key, &bytes, None).await? {
            Ok(())
        } else {
            Err(PasskeyError::KeyTaken { key })
        }
    }

    /// Rolls back a credential whose user could not be stored. A failure is logged,
    /// because the request already fails with the error that caused the rollback.
    async fn remove_credential(&self, credential_key: &str) {
        if let Err(error) = self.store.delete(credential_key).await {
            tracing::error!(
                key = credential_key,
                error = %latchkey_sdk::error_chain(&error),
                "credential without user left in store"
            );
        }
    }
}

/// Checks the type and ID of a registration response and returns its challenge.
pub(super) fn registration_challenge(
    response: &RegisterPublicKeyCredential,
) -> Result<String, PasskeyError> {
    state::check_credential_type(&response.type_)?;
    state::check_credential_id(&response.id, &response.raw_id)?;
    state::challenge_of(&response.response.client_data_json)
}

/// Returns `credential` without its attestation certificates, keeping the attestation
/// format and metadata such as the AAGUID.
///
/// The plugin trusts no attestation CA, so the certificates are never checked again. And
/// webauthn-rs-core 0.6.2 serializes them with an `expect` on re-encoding each one, while
/// the certificates come from the client.
pub(super) fn without_attestation_chain(mut credential: Credential) -> Credential {
    credential.attestation.data = ParsedAttestationData::None;
    credential
}

/// Trims `display_name` and checks it is 1 to 64 characters with no control characters.
fn check_display_name(display_name: Option<&str>) -> Result<String, PasskeyError> {
    let invalid = |reason| PasskeyError::InvalidDisplayName { reason };
    let trimmed = display_name.ok_or(invalid("is missing"))?.trim();
    if trimmed.is_empty() {
        return Err(invalid("is empty"));
    }
    if trimmed.chars().count() > MAX_DISPLAY_NAME_CHARS {
        return Err(invalid("is longer than 64 characters"));
    }
    if trimmed.chars().any(char::is_control) {
        return Err(invalid("contains a control character"));
    }
    if trimmed.chars().any(is_invisible) {
        return Err(invalid(
            "contains an invisible formatting character or bytes that are not UTF-8",
        ));
    }
    Ok(trimmed.to_owned())
}

/// Returns whether `character` changes how a name renders without being seen: soft
/// hyphens, zero-width characters, bidirectional controls, line and paragraph separators,
/// the byte order mark, interlinear annotations, and U+FFFD, which stands for bytes that
/// were not UTF-8 in the query.
pub(super) fn is_invisible(character: char) -> bool {
    matches!(
        character,
        '\u{00AD}'
            | '\u{061C}'
            | '\u{180E}'
            | '\u{200B}'..='\u{200F}'
            | '\u{2028}'..='\u{202E}'
            | '\u{2060}'..='\u{206F}'
            | '\u{FEFF}'
            | '\u{FFF9}'..='\u{FFFB}'
            | '\u{FFFD}'
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reason_of(display_name: Option<&str>) -> &'static str {
        match check_display_name(display_name) {
            Err(PasskeyError::InvalidDisplayName { reason }) => reason,
            other => panic!("expected an invalid display name, got {other:?}"),
        }
    }

    #[test]
    fn invisible_characters_rejected() {
        for name in [
            "Ada\u{202E}evil",
            "\u{200B}",
            "Ada\u{FEFF}",
            "Ada\u{2028}Lovelace",
            "Ad\u{FFFD}a",
        ] {
            assert_eq!(
                reason_of(Some(name)),
                "contains an invisible formatting character or bytes that are not UTF-8",
                "{name:?}"
            );
        }
        assert!(check_display_name(Some("Zoë 😀")).is_ok());
    }

    #[test]
    fn display_name_trimmed() {
        assert_eq!(
            check_display_name(Some("  Ada Lovelace \t")).unwrap(),
            "Ada Lovelace"
        );
    }

    #[test]
    fn display_name_missing_or_blank_rejected() {
        assert_eq!(reason_of(None), "is missing");
        assert_eq!(reason_of(Some("")), "is empty");
        assert_eq!(reason_of(Some(" \n ")), "is empty");
    }

    #[test]
    fn display_name_length_counted_in_characters() {
        let longest = "é".repeat(64);
        assert_eq!(check_display_name(Some(&longest)).unwrap(), longest);
        assert_eq!(
            reason_of(Some(&"é".repeat(65))),
            "is longer than 64 characters"
        );
    }

    #[test]
    fn display_name_length_checked_after_trim() {
        let padded = format!("  {}  ", "a".repeat(64));
        assert_eq!(check_display_name(Some(&padded)).unwrap().len(), 64);
    }

    #[test]
    fn display_name_control_characters_rejected() {
        for name in ["Ada\nLovelace", "Ada\u{0}", "Ada\u{1b}[31m", "A\u{7f}da"] {
            assert_eq!(
                reason_of(Some(name)),
                "contains a control character",
                "{name:?}"
            );
        }
    }

    #[test]
    fn display_name_unicode_accepted() {
        assert_eq!(check_display_name(Some("Zoë 🦀")).unwrap(), "Zoë 🦀");
    }
}
