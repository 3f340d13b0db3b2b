//! The HTTP routes: logout, refresh, RFC 7009 revocation, RFC 7662 introspection, and the
//! admin revocation API.

use std::sync::Arc;
use std::time::SystemTime;

use latchkey_sdk::capability::{
    CutoffClaim, RevocationList, Session, TokenVerifier, VerifiedToken,
};
use latchkey_sdk::guard::{self, GuardError};
use latchkey_sdk::salvo::http::StatusCode;
use latchkey_sdk::salvo::writing::Json;
use latchkey_sdk::salvo::{Depot, FlowCtrl, Handler, Request, Response, Router, async_trait};
use latchkey_sdk::{AdminKeys, ApiError, Guard, read_form, read_json};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::list::{StoreRevocationList, seconds_rounded_up, unix_seconds};
use crate::sessions::{RefreshError, Sessions};

/// Longest `jti` or `sub` the admin API accepts.
const MAX_ID_LEN: usize = 128;

/// Scope of admin keys that may revoke.
const REVOKE_SCOPE: &str = "revoke";

/// Scope of admin keys that may introspect.
const INTROSPECT_SCOPE: &str = "introspect";

/// The state every route of the plugin shares.
pub(crate) struct Revocation {
    pub(crate) verifier: Arc<dyn TokenVerifier>,
    pub(crate) list: Arc<StoreRevocationList>,
    pub(crate) sessions: Option<Arc<Sessions>>,
    pub(crate) admin_keys: AdminKeys,
}

/// Returns the plugin's routes.
pub(crate) fn routes(revocation: &Arc<Revocation>, guard: Guard) -> Vec<Router> {
    let mut routes = vec![
        Router::with_path("api/auth/logout")
            .hoop(guard)
            .post(Logout(Arc::clone(revocation))),
        Router::with_path("api/auth/revoke").post(RevokeToken(Arc::clone(revocation))),
        Router::with_path("api/auth/introspect").post(Introspect(Arc::clone(revocation))),
        Router::with_path("api/admin/revocations").post(AdminRevoke(Arc::clone(revocation))),
    ];
    if revocation.sessions.is_some() {
        routes.push(Router::with_path("api/auth/refresh").post(Refresh(Arc::clone(revocation))));
    }
    routes
}

/// Renders `result`: the body on success, the error shape on failure.
fn render<T: Serialize + Send>(res: &mut Response, result: Result<T, ApiError>) {
    match result {
        Ok(body) => res.render(Json(body)),
        Err(error) => res.render(error),
    }
}

/// Renders an OAuth error (RFC 6749 section 5.2), the shape RFC 7009 and RFC 7662 clients
/// read: `{"error": "<code>", "error_description": "<sentence>"}`.
fn render_oauth_error(res: &mut Response, status: StatusCode, code: &str, description: &str) {
    res.status_code(status);
    res.render(Json(
        json!({"error": code, "error_description": description}),
    ));
}

/// Reads the form body of an OAuth endpoint and returns its one non-empty `token` field,
/// or writes the OAuth error and returns `None`. `purpose` completes the hint of the error,
/// like "revoke" in "send token=<the token to revoke>".
async fn read_token_field(req: &mut Request, res: &mut Response, purpose: &str) -> Option<String> {
    let form = match read_form(req).await {
        Ok(form) => form,
        Err(error) => {
            render_oauth_error(res, error.status(), "invalid_request", error.message());
            return None;
        }
    };
    match form_field(&form, "token") {
        Ok(Some(token)) if !token.is_empty() => Some(token.to_owned()),
        Ok(_) => {
            let message =
                format!("form field token is missing: send token=<the token to {purpose}>");
            render_oauth_error(res, StatusCode::BAD_REQUEST, "invalid_request", &message);
            None
        }
        Err(message) => {
            render_oauth_error(res, StatusCode::BAD_REQUEST, "invalid_request", &message);
            None
        }
    }
}

/// Returns the value of form field `name`, refusing a repeated field (RFC 6749 section 3.2).
fn form_field<'a>(form: &'a [(String, String)], name: &str) -> Result<Option<&'a str>, String> {
    let mut values = form.iter().filter(|(field, _)| field == name);
    let first = values.next().map(|(_, value)| value.as_str());
    if values.next().is_some() {
        return Err(format!("field {name} appears more than once: send it once"));
    }
    Ok(first)
}

/// `POST /api/auth/logout`: revokes the caller's token, and its session when it has one.
struct Logout(Arc<Revocation>);

impl Logout {
    async fn logout(&self, token: &VerifiedToken) -> Result<Value, ApiError> {
        self.0
            .list
            .revoke_token(&token.id, token.expires_at)
            .await?;
        let session_id = token.string_claim("sid");
        if let Some(session_id) = session_id
            && let Some(sessions) = &self.0.sessions
        {
            sessions.end(session_id).await?;
        }
        tracing::info!(user_id = %token.subject, "logged out");
        Ok(json!({"success": true, "sessionEnded": session_id.is_some()}))
    }
}

#[async_trait]
impl Handler for Logout {
    async fn handle(
        &self,
        _: &mut Request,
        depot: &mut Depot,
        res: &mut Response,
        _: &mut FlowCtrl,
    ) {
        let Some(token) = guard::claims(depot).cloned() else {
            GuardError::Missing.render(res);
            return;
        };
        let result = self.logout(&token).await;
        render(res, result);
    }
}

/// Body of `POST /api/auth/refresh`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RefreshBody {
    #[serde(rename = "refreshToken")]
    refresh_token: String,
}

/// The response body of a login or refresh that started or continued a session.
#[derive(Serialize)]
struct SessionResponse {
    success: bool,
    token: String,
    #[serde(rename = "userID")]
    user_id: String,
    #[serde(rename = "refreshToken")]
    refresh_token: String,
    #[serde(rename = "refreshTokenExpiresAt")]
    refresh_expires_at: u64,
}

impl SessionResponse {
    fn new(user_id: String, session: Session) -> Self {
        Self {
            success: true,
            token: session.access.token,
            user_id,
            refresh_token: session.refresh_token,
            refresh_expires_at: unix_seconds(session.refresh_expires_at),
        }
    }
}

/// `POST /api/auth/refresh`: trades a refresh token for a new access and refresh token.
struct Refresh(Arc<Revocation>);

impl Refresh {
    async fn refresh(&self, req: &mut Request) -> Result<SessionResponse, ApiError> {
        let body: RefreshBody = read_json(req).await?;
        let Some(sessions) = &self.0.sessions else {
            return Err(ApiError::not_found("refresh tokens are off"));
        };
        let session = sessions.refresh(&body.refresh_token).await.map_err(|error| {
            let unauthorized = |code, message: &str| ApiError::unauthorized(code, message);
            match error {
                RefreshError::Unknown => unauthorized(
                    "invalid_refresh_token",
                    "refresh token is unknown or expired: log in again",
                ),
                RefreshError::Reused => unauthorized(
                    "refresh_token_reused",
                    "refresh token was already used, so its session was ended: log in again",
                ),
                RefreshError::Revoked => unauthorized(
                    "session_revoked",
                    "this session has been revoked: log in again",
                ),
                RefreshError::Store(error) => ApiError::store_unavailable(&error),
                error @ (RefreshError::Corrupt { .. } | RefreshError::Issue(_)) => {
                    tracing::error!(error = %latchkey_sdk::error_chain(&error), "refresh failed");
                    ApiError::new(
                        StatusCode::SERVICE_UNAVAILABLE,
                        "refresh_unavailable",
                        "the server cannot refresh sessions right now: retry later",
                    )
                }
            }
        })?;
        let (user_id, session) = session;
        Ok(SessionResponse::new(user_id, session))
    }
}

#[async_trait]
impl Handler for Refresh {
    async fn handle(&self, req: &mut Request, _: &mut Depot, res: &mut Response, _: &mut FlowCtrl) {
        let result = self.refresh(req).await;
        render(res, result);
    }
}

/// `POST /api/auth/revoke`, RFC 7009: revokes the access or refresh token in field `token`.
///
/// Holding a token is what allows revoking it, so no client authentication is needed. Following
/// RFC 7009 section 2.2, an invalid, expired or unknown token gets 200, and
/// nothing is written for it.
struct RevokeToken(Arc<Revocation>);

#[async_trait]
impl Handler for RevokeToken {
    async fn handle(&self, req: &mut Request, _: &mut Depot, res: &mut Response, _: &mut FlowCtrl) {
        let Some(token) = read_token_field(req, res, "revoke").await else {
            return;
        };
        match self.0.revoke_any(&token).await {
            // RFC 7009 defines no body; an empty object keeps the response JSON like the rest.
            Ok(_) => res.render(Json(json!({}))),
            Err(error) => res.render(error),
        }
    }
}

/// The kind of token a revocation by token found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Revoked {
    /// A live access token, now revoked.
    AccessToken,
    /// A live refresh token, whose session is now revoked.
    RefreshToken,
    /// Nothing that is accepted: an invalid, expired or unknown token.
    Nothing,
}

impl Revocation {
    /// Revokes `token`, an access token or a refresh token.
    async fn revoke_any(&self, token: &str) -> Result<Revoked, ApiError> {
        if let Ok(verified) = self.verifier.verify(token).await {
            self.list
                .revoke_token(&verified.id, verified.expires_at)
                .await?;
            // RFC 7009 section 2.1 lets revoking an access token end its session too, which
            // a client that revokes on sign-out expects.
            if let (Some(session_id), Some(sessions)) =
                (verified.string_claim("sid"), &self.sessions)
            {
                sessions.end(session_id).await?;
            }
            return Ok(Revoked::AccessToken);
        }
        if let Some(sessions) = &self.sessions
            && let Some((_, _, record)) = sessions.find(token).await.map_err(refresh_store_error)?
        {
            sessions.end(&record.session_id).await?;
            return Ok(Revoked::RefreshToken);
        }
        Ok(Revoked::Nothing)
    }

    /// Returns the RFC 7662 response for `token`.
    async fn introspect(&self, token: &str) -> Result<Value, ApiError> {
        if let Ok(verified) = self.verifier.verify(token).await {
            if self.list.is_revoked(&verified).await? {
                return Ok(json!({"active": false}));
            }
            let mut answer = verified.claims;
            answer.insert("active".into(), true.into());
            answer.insert("token_type".into(), "Bearer".into());
            return Ok(Value::Object(answer));
        }
        if let Some(sessions) = &self.sessions
            && let Some((_, _, record)) = sessions.find(token).await.map_err(refresh_store_error)?
            && sessions.is_live(&record).await?
        {
            return Ok(json!({
                "active": true,
                "token_type": "refresh_token",
                "sub": record.subject,
                "sid": record.session_id,
                "iat": record.issued_at,
                "exp": record.expires_at,
            }));
        }
        Ok(json!({"active": false}))
    }
}

fn refresh_store_error(error: RefreshError) -> ApiError {
    match error {
        RefreshError::Store(error) => ApiError::store_unavailable(&error),
        error => {
            tracing::error!(error = %latchkey_sdk::error_chain(&error), "refresh token lookup failed");
            ApiError::internal()
        }
    }
}

/// `POST /api/auth/introspect`, RFC 7662: whether the token in field `token` is active,
/// and its claims when it is. Needs an admin key with scope `introspect`.
struct Introspect(Arc<Revocation>);

#[async_trait]
impl Handler for Introspect {
    async fn handle(&self, req: &mut Request, _: &mut Depot, res: &mut Response, _: &mut FlowCtrl) {
        if let Err(error) = self.0.admin_keys.authorize(req, INTROSPECT_SCOPE) {
            error.render(res);
            return;
        }
        let Some(token) = read_token_field(req, res, "check").await else {
            return;
        };
        let result = self.0.introspect(&token).await;
        render(res, result);
    }
}

/// Body of `POST /api/admin/revocations`: exactly one of the fields.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AdminRevokeBody {
    /// A `jti` to revoke.
    jti: Option<String>,
    /// A token to revoke.
    token: Option<String>,
    /// A user whose tokens issued until now are revoked.
    sub: Option<String>,
}

/// `POST /api/admin/revocations`: revokes by `jti`, by token, or every token of a `sub`.
/// Needs an admin key with scope `revoke`.
struct AdminRevoke(Arc<Revocation>);

impl AdminRevoke {
    async fn revoke(&self, req: &mut Request, key: &str) -> Result<Value, ApiError> {
        let body: AdminRevokeBody = read_json(req).await?;
        match (body.jti, body.token, body.sub) {
            (Some(jti), None, None) => self.revoke_jti(key, &jti).await,
            (None, Some(token), None) => {
                let revoked = self.0.revoke_any(&token).await?;
                tracing::info!(admin_key = key, ?revoked, "token revoked by admin");
                Ok(match revoked {
                    Revoked::AccessToken => json!({"revoked": true, "kind": "access_token"}),
                    Revoked::RefreshToken => json!({"revoked": true, "kind": "refresh_token"}),
                    Revoked::Nothing => json!({
                        "revoked": false,
                        "reason": "the token is invalid, expired or unknown, so it is not accepted anyway",
                    }),
                })
            }
            (None, None, Some(sub)) => {
                let Some(sub) = well_formed_id(&sub) else {
                    return Err(ApiError::bad_request(
                        "invalid_body",
                        "invalid field sub: send the user ID, 1 to 128 base64url characters",
                    ));
                };
                let now = SystemTime::now();
                self.0
                    .list
                    .revoke_issued_before(CutoffClaim::Subject, sub, now)
                    .await?;
                tracing::info!(
                    admin_key = key,
                    user_id = sub,
                    "every token of user revoked by admin"
                );
                Ok(json!({"revoked": true, "kind": "sub", "issuedBefore": seconds_rounded_up(now)}))
            }
            _ => Err(ApiError::bad_request(
                "invalid_body",
                "send exactly one of the fields jti, token and sub",
            )),
        }
    }

    async fn revoke_jti(&self, key: &str, jti: &str) -> Result<Value, ApiError> {
        let Some(jti) = well_formed_id(jti) else {
            // RFC 7009 section 2.2: revoking what cannot be a token is not an error, and
            // writes nothing.
            return Ok(json!({
                "revoked": false,
                "reason": "jti is not 1 to 128 base64url characters, so no token carries it",
            }));
        };
        // The token is not at hand, so keep the entry as long as any token can live.
        let expires_at = SystemTime::now() + self.0.verifier.max_token_lifetime();
        self.0.list.revoke_token(jti, expires_at).await?;
        tracing::info!(admin_key = key, jti, "token revoked by admin");
        Ok(json!({"revoked": true, "kind": "jti"}))
    }
}

#[async_trait]
impl Handler for AdminRevoke {
    async fn handle(&self, req: &mut Request, _: &mut Depot, res: &mut Response, _: &mut FlowCtrl) {
        let key = match self.0.admin_keys.authorize(req, REVOKE_SCOPE) {
            Ok(key) => key.name().to_owned(),
            Err(error) => {
                error.render(res);
                return;
            }
        };
        let result = self.revoke(req, &key).await;
        render(res, result);
    }
}

/// Returns `id` if it is 1 to [`MAX_ID_LEN`] base64url characters, the shape of every ID
/// Latchkey issues.
fn well_formed_id(id: &str) -> Option<&str> {
    let well_formed = (1..=MAX_ID_LEN).contains(&id.len())
        && id
            .bytes()
            .all(|byte| byte.is_ascii_alphanumeric() || byte == b'-' || byte == b'_');
    well_formed.then_some(id)
}
