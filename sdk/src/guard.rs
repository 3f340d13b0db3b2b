//! The guard of protected routes: a Bearer token, verified and checked for revocation.
//!
//! Mount a [`Guard`] as a hoop on the routes it protects. It reads the token from the
//! `Authorization` header, verifies it with the `token_verifier` capability, checks the
//! `revocation_list` capability when one is provided, and puts the [`VerifiedToken`] in the
//! depot, where handlers read it with [`claims`]. A request without a valid token is
//! rejected with 401 and a `WWW-Authenticate: Bearer` header, and 503 when the
//! revocation list cannot be read, so a token that could not be checked is never accepted.

use std::sync::Arc;

use salvo::http::StatusCode;
use salvo::http::header::{AUTHORIZATION, HeaderValue, WWW_AUTHENTICATE};
use salvo::{Depot, FlowCtrl, Handler, Request, Response, async_trait};

use crate::capability::{RevocationList, StoreError, TokenVerifier, VerifiedToken, VerifyError};
use crate::plugin::StartContext;
use crate::{ApiError, PluginError};

/// Maximum length of a token the guard reads, in bytes. Latchkey's tokens are well under 2 KiB.
pub const MAX_TOKEN_LEN: usize = 8192;

/// The realm named in `WWW-Authenticate`.
const REALM: &str = "latchkey";

/// The reason a request was rejected.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum GuardError {
    /// The request has no `Authorization` header.
    #[error("request has no bearer token")]
    Missing,
    /// The `Authorization` header is not one well-formed Bearer token.
    #[error("authorization header is malformed: {0}")]
    Malformed(&'static str),
    /// The token failed verification.
    #[error(transparent)]
    Invalid(#[from] VerifyError),
    /// The token was revoked.
    #[error("token has been revoked")]
    Revoked,
    /// The revocation list could not be read.
    #[error("revocation list unavailable")]
    Store(#[from] StoreError),
}

impl GuardError {
    /// Writes the response to a rejected request: the `WWW-Authenticate` challenge of RFC 6750
    /// and the JSON error.
    pub fn render(&self, res: &mut Response) {
        let (error, description) = match self {
            Self::Missing => (None, None),
            Self::Malformed(reason) => (Some("invalid_request"), Some(*reason)),
            Self::Invalid(reason) => (Some("invalid_token"), Some(verify_reason(reason))),
            Self::Revoked => (Some("invalid_token"), Some("token has been revoked")),
            Self::Store(error) => {
                res.render(ApiError::store_unavailable(error));
                return;
            }
        };
        let mut challenge = format!("Bearer realm=\"{REALM}\"");
        if let (Some(error), Some(description)) = (error, description) {
            challenge.push_str(&format!(
                ", error=\"{error}\", error_description=\"{description}\""
            ));
        }
        if let Ok(value) = HeaderValue::from_str(&challenge) {
            res.headers_mut().insert(WWW_AUTHENTICATE, value);
        }
        res.render(self.api_error());
    }

    fn api_error(&self) -> ApiError {
        let status = StatusCode::UNAUTHORIZED;
        match self {
            Self::Missing => ApiError::new(
                status,
                "missing_token",
                "this route needs a token: send an Authorization: Bearer <token> header",
            ),
            Self::Malformed(reason) => ApiError::new(
                status,
                "invalid_request",
                format!("authorization header is malformed: {reason}"),
            ),
            Self::Invalid(reason) => ApiError::new(
                status,
                "invalid_token",
                format!("{}: log in again for a new token", verify_reason(reason)),
            ),
            Self::Revoked => ApiError::new(
                status,
                "token_revoked",
                "token has been revoked: log in again for a new token",
            ),
            Self::Store(error) => ApiError::store_unavailable(error),
        }
    }
}

fn verify_reason(error: &VerifyError) -> &'static str {
    match error {
        VerifyError::Malformed => "token is not a well-formed JWT",
        VerifyError::UnknownKey => "token was signed with an unknown key",
        VerifyError::BadSignature => "token signature is invalid",
        VerifyError::Expired => "token has expired",
        VerifyError::InvalidClaim { name: "nbf" } => "token is not valid yet",
        VerifyError::InvalidClaim { .. } => "token has an invalid claim",
    }
}

/// Returns the Bearer token of `req`.
///
/// The scheme is matched without regard to case and may be followed by several spaces
/// (RFC 9110 section 11.1); the token must be one token68 of at most [`MAX_TOKEN_LEN`]
/// bytes.
///
/// # Errors
///
/// [`GuardError::Missing`] without an `Authorization` header, and
/// [`GuardError::Malformed`] for two headers, another scheme, or a malformed token.
pub fn bearer_token(req: &Request) -> Result<&str, GuardError> {
    let mut values = req.headers().get_all(AUTHORIZATION).iter();
    let Some(value) = values.next() else {
        return Err(GuardError::Missing);
    };
    if values.next().is_some() {
        return Err(GuardError::Malformed("send one Authorization header"));
    }
    let value = value
        .to_str()
        .map_err(|_| GuardError::Malformed("header is not visible ASCII"))?;
    let (scheme, rest) = value.split_once(' ').unwrap_or((value, ""));
    if !scheme.eq_ignore_ascii_case("bearer") {
        return Err(GuardError::Malformed("use the Bearer scheme"));
    }
    let token = rest.trim_matches(' ');
    if token.is_empty() {
        return Err(GuardError::Malformed("the token after Bearer is empty"));
    }
    if token.len() > MAX_TOKEN_LEN {
        return Err(GuardError::Malformed("token is longer than 8192 bytes"));
    }
    if token.contains(' ') {
        return Err(GuardError::Malformed("send one token after Bearer"));
    }
    if !is_token68(token) {
        return Err(GuardError::Malformed(
            "token has characters a JWT cannot have",
        ));
    }
    Ok(token)
}

/// Returns whether `token` is a token68 of RFC 9110: base64url or base64 characters, then
/// optional `=` padding.
fn is_token68(token: &str) -> bool {
    let body = token.trim_end_matches('=');
    !body.is_empty()
        && body
            .bytes()
            .all(|byte| byte.is_ascii_alphanumeric() || b"-._~+/".contains(&byte))
}

/// Returns the token the guard verified for this request, if one ran and let it through.
#[must_use]
pub fn claims(depot: &Depot) -> Option<&VerifiedToken> {
    depot
        .get_typed::<Arc<VerifiedToken>>()
        .ok()
        .map(|token| &**token)
}

/// Verifies Bearer tokens for protected routes.
#[derive(Clone)]
pub struct Guard {
    verifier: Arc<dyn TokenVerifier>,
    revocations: Option<Arc<dyn RevocationList>>,
}

impl Guard {
    /// Creates a guard that verifies tokens with `verifier` and checks no revocation list.
    #[must_use]
    pub fn new(verifier: Arc<dyn TokenVerifier>) -> Self {
        Self {
            verifier,
            revocations: None,
        }
    }

    /// Checks every verified token against `revocations` as well.
    #[must_use]
    pub fn with_revocations(mut self, revocations: Arc<dyn RevocationList>) -> Self {
        self.revocations = Some(revocations);
        self
    }

    /// Creates the guard of a starting plugin: the `token_verifier` capability, and the
    /// `revocation_list` capability when a plugin provides it. A plugin that mounts the
    /// guard requires the first and uses the second.
    ///
    /// # Errors
    ///
    /// [`PluginError::MissingCapability`] when no plugin provides a token verifier.
    pub fn from_context(context: &StartContext) -> Result<Self, PluginError> {
        let guard = Self::new(context.require::<dyn TokenVerifier>()?);
        Ok(match context.get::<dyn RevocationList>() {
            Some(revocations) => guard.with_revocations(revocations),
            None => guard,
        })
    }

    /// Returns whether the guard checks a revocation list.
    #[must_use]
    pub fn checks_revocation(&self) -> bool {
        self.revocations.is_some()
    }

    /// Authenticates `req`, once per request: the first call verifies the token and keeps
    /// it in `depot`, later calls (from another hoop or handler) return the kept token.
    ///
    /// # Errors
    ///
    /// [`GuardError`] saying why the request carries no acceptable token.
    pub async fn authenticate(
        &self,
        req: &Request,
        depot: &mut Depot,
    ) -> Result<Arc<VerifiedToken>, GuardError> {
        if let Ok(token) = depot.get_typed::<Arc<VerifiedToken>>() {
            return Ok(Arc::clone(token));
        }
        let token = bearer_token(req)?;
        let verified = self.verifier.verify(token).await?;
        if let Some(revocations) = &self.revocations
            && revocations.is_revoked(&verified).await?
        {
            return Err(GuardError::Revoked);
        }
        let verified = Arc::new(verified);
        depot.insert_typed(Arc::clone(&verified));
        Ok(verified)
    }
}

impl std::fmt::Debug for Guard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Guard")
            .field("checks_revocation", &self.checks_revocation())
            .finish_non_exhaustive()
    }
}

#[async_trait]
impl Handler for Guard {
    async fn handle(
        &self,
        req: &mut Request,
        depot: &mut Depot,
        res: &mut Response,
        ctrl: &mut FlowCtrl,
    ) {
        if let Err(error) = self.authenticate(req, depot).await {
            tracing::debug!(%error, "request rejected by the token guard");
            error.render(res);
            ctrl.skip_rest();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(values: &[&str]) -> Request {
        let mut req = Request::new();
        for value in values {
            let value = HeaderValue::from_str(value).expect("test header is valid");
            req.headers_mut().append(AUTHORIZATION, value);
        }
        req
    }

    fn parse(values: &[&str]) -> Result<String, String> {
        bearer_token(&request(values))
            .map(str::to_owned)
            .map_err(|error| error.to_string())
    }

    #[test]
    fn bearer_scheme_any_case_and_spacing() {
        assert_eq!(parse(&["Bearer abc.def.ghi"]).unwrap(), "abc.def.ghi");
        assert_eq!(parse(&["bearer abc.def.ghi"]).unwrap(), "abc.def.ghi");
        assert_eq!(parse(&["BEARER   abc.def.ghi"]).unwrap(), "abc.def.ghi");
    }

    #[test]
    fn malformed_headers_named() {
        for (values, reason) in [
            (&["Basic dXNlcjpwYXNz"][..], "Bearer scheme"),
            (&["Bearer"][..], "empty"),
            (&["Bearer    "][..], "empty"),
            (&["Bearer a.b.c d.e.f"][..], "one token"),
            (
                &["Bearer a.b.c", "Bearer d.e.f"][..],
                "one Authorization header",
            ),
            (&["Bearer a\"b"][..], "characters"),
            (&["Bearer ==="][..], "characters"),
        ] {
            let error = parse(values).unwrap_err();
            assert!(error.contains(reason), "{values:?}: {error}");
        }
    }

    #[test]
    fn long_token_refused_before_verification() {
        let header = format!("Bearer {}", "a".repeat(MAX_TOKEN_LEN + 1));
        let error = parse(&[&header]).unwrap_err();
        assert!(error.contains("8192"), "{error}");
        let header = format!("Bearer {}", "a".repeat(MAX_TOKEN_LEN));
        assert_eq!(parse(&[&header]).unwrap().len(), MAX_TOKEN_LEN);
    }

    #[test]
    fn missing_header_is_missing() {
        assert!(matches!(
            bearer_token(&request(&[])),
            Err(GuardError::Missing)
        ));
    }
}
