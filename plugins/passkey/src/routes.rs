//! The HTTP handlers of the passkey routes.

use std::sync::Arc;

use latchkey_sdk::salvo::writing::Json;
use latchkey_sdk::salvo::{Depot, FlowCtrl, Handler, Request, Response, Router, async_trait};
use latchkey_sdk::{ApiError, read_json};
use serde::{Deserialize, Serialize};
use webauthn_rs_core::proto::{PublicKeyCredential, RegisterPublicKeyCredential};

use crate::aasa::AppSiteAssociation;
use crate::relying_party::{RelyingParty, TokenResponse};

/// Returns the routes of the plugin, served under the host's root router.
pub(crate) fn routes(relying_party: &Arc<RelyingParty>) -> Vec<Router> {
    let app_id = relying_party.policy.apple_app_id.as_deref();
    vec![
        Router::with_path("api/auth/challenge/register")
            .get(StartRegistration(Arc::clone(relying_party))),
        Router::with_path("api/auth/register-passkey")
            .post(FinishRegistration(Arc::clone(relying_party))),
        Router::with_path("api/auth/challenge/login").get(StartLogin(Arc::clone(relying_party))),
        Router::with_path("api/auth/login-passkey").post(FinishLogin(Arc::clone(relying_party))),
        Router::with_path(".well-known/apple-app-site-association")
            .get(AppSiteAssociation::new(app_id)),
    ]
}

/// Renders `result` as JSON: the body on success, the error shape on failure.
fn render<T: Serialize + Send>(res: &mut Response, result: Result<T, ApiError>) {
    match result {
        Ok(body) => res.render(Json(body)),
        Err(error) => res.render(error),
    }
}

/// `GET /api/auth/challenge/register?displayName=...`: creation options.
struct StartRegistration(Arc<RelyingParty>);

#[async_trait]
impl Handler for StartRegistration {
    async fn handle(&self, req: &mut Request, _: &mut Depot, res: &mut Response, _: &mut FlowCtrl) {
        let display_name = req.queries().get("displayName").map(String::as_str);
        let result = self.0.start_registration(display_name).await;
        render(res, result.map_err(ApiError::from));
    }
}

/// Body of `POST /api/auth/register-passkey`.
#[derive(Deserialize)]
struct RegistrationBody {
    #[serde(rename = "attestationResponse")]
    attestation_response: RegisterPublicKeyCredential,
}

/// `POST /api/auth/register-passkey`: verifies a new passkey and returns a token.
struct FinishRegistration(Arc<RelyingParty>);

impl FinishRegistration {
    async fn finish(&self, req: &mut Request) -> Result<TokenResponse, ApiError> {
        let body: RegistrationBody = read_json(req).await?;
        Ok(self
            .0
            .finish_registration(body.attestation_response)
            .await?)
    }
}

#[async_trait]
impl Handler for FinishRegistration {
    async fn handle(&self, req: &mut Request, _: &mut Depot, res: &mut Response, _: &mut FlowCtrl) {
        let result = self.finish(req).await;
        render(res, result);
    }
}

/// `GET /api/auth/challenge/login`: request options for a usernameless login.
struct StartLogin(Arc<RelyingParty>);

#[async_trait]
impl Handler for StartLogin {
    async fn handle(&self, _: &mut Request, _: &mut Depot, res: &mut Response, _: &mut FlowCtrl) {
        let result = self.0.start_login().await;
        render(res, result.map_err(ApiError::from));
    }
}

/// Body of `POST /api/auth/login-passkey`.
#[derive(Deserialize)]
struct LoginBody {
    #[serde(rename = "authenticationResponse")]
    authentication_response: PublicKeyCredential,
}

/// `POST /api/auth/login-passkey`: verifies an assertion and returns a token.
struct FinishLogin(Arc<RelyingParty>);

impl FinishLogin {
    async fn finish(&self, req: &mut Request) -> Result<TokenResponse, ApiError> {
        let body: LoginBody = read_json(req).await?;
        Ok(self.0.finish_login(body.authentication_response).await?)
    }
}

#[async_trait]
impl Handler for FinishLogin {
    async fn handle(&self, req: &mut Request, _: &mut Depot, res: &mut Response, _: &mut FlowCtrl) {
        let result = self.finish(req).await;
        render(res, result);
    }
}
