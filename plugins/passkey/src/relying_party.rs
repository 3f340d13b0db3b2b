//! The relying party: everything a ceremony needs, built once at start-up.

use std::sync::Arc;

use latchkey_sdk::capability::{Store, TokenIssuer, TokenRequest};
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
}

/// The response body of a finished ceremony: `{"success": true, "token", "userID"}`.
#[derive(Serialize)]
pub(crate) struct TokenResponse {
    success: bool,
    token: String,
    #[serde(rename = "userID")]
    user_id: String,
}

impl RelyingParty {
    /// Creates the relying party for `policy`.
    pub(crate) fn new(
        policy: PasskeyPolicy,
        store: Arc<dyn Store>,
        issuer: Arc<dyn TokenIssuer>,
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
        }
    }

    /// Signs a token for `user_id` that names the credential used, and wraps it in the
    /// response body.
    pub(crate) async fn token_response(
        &self,
        user_id: String,
        credential_id: &str,
    ) -> Result<TokenResponse, PasskeyError> {
        let request = TokenRequest::new(user_id.clone()).claim("credentialID", credential_id);
        let issued = self
            .issuer
            .issue(request)
            .await
            .map_err(PasskeyError::Token)?;
        Ok(TokenResponse {
            success: true,
            token: issued.token,
            user_id,
        })
    }
}
