//! Login: usernameless, with a discoverable passkey.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use webauthn_rs_core::proto::{AuthenticationState, PublicKeyCredential};

use super::state;
use crate::encoding;
use crate::error::PasskeyError;
use crate::quirks::{self, Assessment, AuthenticatorData};
use crate::record::{self, CredentialRecord, Update};
use crate::relying_party::{RelyingParty, TokenResponse};

/// A login between its challenge and its response.
#[derive(Serialize, Deserialize)]
struct LoginCeremony {
    /// webauthn-rs-core's state: challenge and policy, with no allowed credentials.
    state: AuthenticationState,
}

impl RelyingParty {
    /// Starts a usernameless login and returns the request options.
    pub(crate) async fn start_login(&self) -> Result<Value, PasskeyError> {
        let builder = self
            .core
            .new_challenge_authenticate_builder(Vec::new(), Some(self.policy.user_verification))
            .map_err(PasskeyError::Verification)?;
        let (options, state) = self
            .core
            .generate_challenge_authenticate(builder)
            .map_err(PasskeyError::Verification)?;

        let challenge = encoding::encode(&options.public_key.challenge);
        let key = record::login_challenge_key(&challenge);
        state::save(
            &*self.store,
            &key,
            &LoginCeremony { state },
            self.policy.challenge_ttl,
        )
        .await?;
        state::options_json(&options.public_key)
    }

    /// Verifies the response to a login challenge, records the credential's new counter
    /// and flags, and returns a token for the credential's owner.
    pub(crate) async fn finish_login(
        &self,
        response: PublicKeyCredential,
    ) -> Result<TokenResponse, PasskeyError> {
        state::check_credential_type(&response.type_)?;
        state::check_credential_id(&response.id, &response.raw_id)?;
        let challenge = state::challenge_of(&response.response.client_data_json)?;
        let key = record::login_challenge_key(&challenge);
        let ceremony: LoginCeremony = state::take(&*self.store, &key).await?;

        let observed = read_authenticator_data(&response)?;
        let credential_id = encoding::encode(&response.raw_id);
        let stored: CredentialRecord =
            record::load(&*self.store, &record::credential_key(&credential_id))
                .await?
                .ok_or_else(|| PasskeyError::UnknownCredential {
                    credential_id: credential_id.clone(),
                })?;
        check_user_handle(&response, &stored, &credential_id)?;

        let copy = quirks::credential_for_verification(&stored.credential, &observed);
        self.core
            .authenticate_single_credential(&response, &ceremony.state, &copy)
            .map_err(PasskeyError::Verification)?;

        self.record_login(&credential_id, &observed).await?;
        tracing::debug!(user_id = %stored.user_id, credential_id, "passkey login verified");
        self.token_response(stored.user_id, &credential_id).await
    }

    /// Applies the quirk policy to a verified login against the credential as stored now,
    /// and writes the new counter, backup flags and last-used time in one atomic update.
    async fn record_login(
        &self,
        credential_id: &str,
        observed: &AuthenticatorData,
    ) -> Result<(), PasskeyError> {
        let key = record::credential_key(credential_id);
        let now = record::unix_now();
        let assessment = record::update(&*self.store, &key, |stored: &mut CredentialRecord| {
            let assessment = quirks::assess(&stored.credential, observed, &self.policy.quirks);
            if assessment.rejection().is_some() {
                return Update::Keep(assessment);
            }
            quirks::apply_login(&mut stored.credential, observed);
            stored.last_used_at = Some(now);
            Update::Write(assessment)
        })
        .await?
        .ok_or_else(|| PasskeyError::UnknownCredential {
            credential_id: credential_id.to_owned(),
        })?;

        self.finish_assessment(&assessment, credential_id).await
    }

    async fn finish_assessment(
        &self,
        assessment: &Assessment,
        credential_id: &str,
    ) -> Result<(), PasskeyError> {
        assessment.report(&*self.store, credential_id).await;
        match assessment.rejection() {
            Some(quirk) => Err(PasskeyError::QuirkRejected { quirk }),
            None => Ok(()),
        }
    }
}

/// Parses the flags and counter of the assertion, rejecting a backup state without
/// backup eligibility, which no valid authenticator reports.
fn read_authenticator_data(
    response: &PublicKeyCredential,
) -> Result<AuthenticatorData, PasskeyError> {
    let bytes = &response.response.authenticator_data;
    let observed = AuthenticatorData::parse(bytes).ok_or(PasskeyError::AuthenticatorData {
        length: bytes.len(),
    })?;
    if observed.backed_up_without_eligibility() {
        return Err(PasskeyError::BackupStateWithoutEligibility);
    }
    Ok(observed)
}

/// Checks that the assertion's `userHandle` is present and names the credential's owner,
/// as usernameless login requires.
fn check_user_handle(
    response: &PublicKeyCredential,
    stored: &CredentialRecord,
    credential_id: &str,
) -> Result<(), PasskeyError> {
    let user_handle = response
        .response
        .user_handle
        .as_deref()
        .ok_or(PasskeyError::MissingUserHandle)?;
    if encoding::encode(user_handle) == stored.user_id {
        Ok(())
    } else {
        Err(PasskeyError::UserHandleMismatch {
            credential_id: credential_id.to_owned(),
        })
    }
}
