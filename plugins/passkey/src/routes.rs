//! The HTTP handlers of the passkey routes.

use std::sync::Arc;

use latchkey_sdk::guard::{self, GuardError};
use latchkey_sdk::salvo::http::StatusCode;
use latchkey_sdk::salvo::writing::Json;
use latchkey_sdk::salvo::{Depot, FlowCtrl, Handler, Request, Response, Router, async_trait};
use latchkey_sdk::{ApiError, Guard, read_json};
use serde::{Deserialize, Serialize};
use webauthn_rs_core::proto::{PublicKeyCredential, RegisterPublicKeyCredential};

use crate::aasa::AppSiteAssociation;
use crate::ceremony::CredentialView;
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

/// Returns the account routes, each behind `guard`.
pub(crate) fn account_routes(relying_party: &Arc<RelyingParty>, guard: &Guard) -> Vec<Router> {
    let account = |path: &str| Router::with_path(path).hoop(guard.clone());
    vec![
        account("api/auth/me").get(ShowAccount(Arc::clone(relying_party))),
        account("api/auth/challenge/add-passkey").get(StartAdding(Arc::clone(relying_party))),
        account("api/auth/me/passkeys").post(FinishAdding(Arc::clone(relying_party))),
        account("api/auth/me/passkeys/{id}")
            .patch(RenamePasskey(Arc::clone(relying_party)))
            .delete(DeletePasskey(Arc::clone(relying_party))),
    ]
}

/// Returns the user ID of the token the guard let through.
fn signed_in_user(depot: &Depot) -> Result<String, ApiError> {
    guard::claims(depot)
        .map(|token| token.subject.clone())
        .ok_or_else(|| ApiError::unauthorized("missing_token", GuardError::Missing.to_string()))
}

/// Returns the `{id}` segment of the path.
fn credential_param(req: &Request) -> String {
    req.param::<String>("id").unwrap_or_default()
}

/// `GET /api/auth/me`: the account and its passkeys.
struct ShowAccount(Arc<RelyingParty>);

#[async_trait]
impl Handler for ShowAccount {
    async fn handle(
        &self,
        _: &mut Request,
        depot: &mut Depot,
        res: &mut Response,
        _: &mut FlowCtrl,
    ) {
        let result = match signed_in_user(depot) {
            Ok(user_id) => self.0.account(&user_id).await.map_err(ApiError::from),
            Err(error) => Err(error),
        };
        render(res, result);
    }
}

/// `GET /api/auth/challenge/add-passkey`: creation options for another passkey.
struct StartAdding(Arc<RelyingParty>);

#[async_trait]
impl Handler for StartAdding {
    async fn handle(
        &self,
        _: &mut Request,
        depot: &mut Depot,
        res: &mut Response,
        _: &mut FlowCtrl,
    ) {
        let result = match signed_in_user(depot) {
            Ok(user_id) => self.0.start_adding(&user_id).await.map_err(ApiError::from),
            Err(error) => Err(error),
        };
        render(res, result);
    }
}

/// Body of `POST /api/auth/me/passkeys`.
#[derive(Deserialize)]
struct AddBody {
    #[serde(rename = "attestationResponse")]
    attestation_response: RegisterPublicKeyCredential,
    /// A name for the passkey, like "Work laptop".
    name: Option<String>,
}

/// `POST /api/auth/me/passkeys`: verifies and adds another passkey to the account.
struct FinishAdding(Arc<RelyingParty>);

impl FinishAdding {
    async fn finish(&self, req: &mut Request, depot: &Depot) -> Result<CredentialView, ApiError> {
        let user_id = signed_in_user(depot)?;
        let body: AddBody = read_json(req).await?;
        Ok(self
            .0
            .finish_adding(&user_id, body.attestation_response, body.name.as_deref())
            .await?)
    }
}

#[async_trait]
impl Handler for FinishAdding {
    async fn handle(
        &self,
        req: &mut Request,
        depot: &mut Depot,
        res: &mut Response,
        _: &mut FlowCtrl,
    ) {
        let result = self.finish(req, depot).await;
        if result.is_ok() {
            res.status_code(StatusCode::CREATED);
        }
        render(res, result);
    }
}

/// Body of `PATCH /api/auth/me/passkeys/{id}`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RenameBody {
    name: String,
}

/// `PATCH /api/auth/me/passkeys/{id}`: renames a passkey of the account.
struct RenamePasskey(Arc<RelyingParty>);

impl RenamePasskey {
    async fn rename(&self, req: &mut Request, depot: &Depot) -> Result<CredentialView, ApiError> {
        let user_id = signed_in_user(depot)?;
        let credential_id = credential_param(req);
        let body: RenameBody = read_json(req).await?;
        Ok(self
            .0
            .rename_credential(&user_id, &credential_id, &body.name)
            .await?)
    }
}

#[async_trait]
impl Handler for RenamePasskey {
    async fn handle(
        &self,
        req: &mut Request,
        depot: &mut Depot,
        res: &mut Response,
        _: &mut FlowCtrl,
    ) {
        let result = self.rename(req, depot).await;
        render(res, result);
    }
}

/// `DELETE /api/auth/me/passkeys/{id}`: deletes a passkey and revokes its tokens.
struct DeletePasskey(Arc<RelyingParty>);

#[async_trait]
impl Handler for DeletePasskey {
    async fn handle(
        &self,
        req: &mut Request,
        depot: &mut Depot,
        res: &mut Response,
        _: &mut FlowCtrl,
    ) {
        let credential_id = credential_param(req);
        let result = match signed_in_user(depot) {
            Ok(user_id) => self
                .0
                .delete_credential(&user_id, &credential_id)
                .await
                .map_err(ApiError::from),
            Err(error) => Err(error),
        };
        render(res, result);
    }
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
