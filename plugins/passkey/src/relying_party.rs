//! The relying party: everything a ceremony needs, built once at start-up.

use std::sync::Arc;

use std::time::UNIX_EPOCH;

use latchkey_sdk::capability::{RevocationList, SessionIssuer, Store, TokenIssuer, TokenRequest};
use serde::Serialize;
use webauthn_rs_core::WebauthnCore;

use crate::config::PasskeyPolicy;
use crate::error::PasskeyError;

/// The WebAuthn verifier, the policy, the store and the token issuer, shared by every
/// handler.
pub(crate) struct RelyingParty {
    /// The webauthn-rs-core verifier for this RP ID and these origins.
    pub(crate) core: WebauthnCore,
    /// The validated config.
    pub(crate) policy: PasskeyPolicy,
    /// The store of ceremonies, users and credentials.
    pub(crate) store: Arc<dyn Store>,
    /// The signer of the token that ends a ceremony.
    pub(crate) issuer: Arc<dyn TokenIssuer>,
    /// Starts a session with a refresh token instead, when a plugin provides sessions.
    pub(crate) sessions: Option<Arc<dyn SessionIssuer>>,
    /// Revokes the tokens of a deleted passkey, when a plugin provides a revocation list.
    pub(crate) revocations: Option<Arc<dyn RevocationList>>,
}

/// The response body of a finished ceremony: `{"success": true, "token", "userID"}`, and
/// `refreshToken` with `refreshTokenExpiresAt` when the login started a session.
#[derive(Serialize)]
pub(crate) struct TokenResponse {
    success: bool,
    token: String,
    #[serde(rename = "userID")]
    user_id: String,
    #[serde(rename = "refreshToken", skip_serializing_if = "Option::is_none")]
    refresh_token: Option<String>,
    #[serde(
        rename = "refreshTokenExpiresAt",
        skip_serializing_if = "Option::is_none"
    )]
    refresh_expires_at: Option<u64>,
}

impl RelyingParty {
    /// Creates the relying party for `policy`.
    pub(crate) fn new(
        policy: PasskeyPolicy,
        store: Arc<dyn Store>,
        issuer: Arc<dyn TokenIssuer>,
        sessions: Option<Arc<dyn SessionIssuer>>,
        revocations: Option<Arc<dyn RevocationList>>,
    ) -> Self {
        // Origins match exactly on scheme, host and port: no subdomain or port wildcards.
        let core = WebauthnCore::new_unsafe_experts_only(
            &policy.rp_name,
            &policy.rp_id,
            policy.origins.clone(),
            policy.timeout,
            Some(false),
            Some(false),
        );
        Self {
            core,
            policy,
            store,
            issuer,
            sessions,
            revocations,
        }
    }

    /// Signs a token for `user_id` that names the credential used, starting a session
    /// when sessions are on, and wraps it in the response body.
    pub(crate) async fn token_response(
        &self,
        user_id: String,
        credential_id: &str,
    ) -> Result<TokenResponse, PasskeyError> {
        let request = TokenRequest::new(user_id.clone()).claim("credentialID", credential_id);
        if let Some(sessions) = &self.sessions {
            let session = sessions
                .start_session(request)
                .await
                .map_err(PasskeyError::Session)?;
            let expires_at = session
                .refresh_expires_at
                .duration_since(UNIX_EPOCH)
                .map_or(0, |elapsed| elapsed.as_secs());
            return Ok(TokenResponse {
                success: true,
                token: session.access.token,
                user_id,
                refresh_token: Some(session.refresh_token),
                refresh_expires_at: Some(expires_at),
            });
        }
        let issued = self
            .issuer
            .issue(request)
            .await
            .map_err(PasskeyError::Token)?;
        Ok(TokenResponse {
            success: true,
            token: issued.token,
            user_id,
            refresh_token: None,
            refresh_expires_at: None,
        })
    }
}
