//! Issuing and verifying the signed tokens that end a login.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use salvo::async_trait;
use serde_json::{Map, Value};

/// The claims a token should carry about its holder.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct TokenRequest {
    /// The `sub` claim: the user ID, the claim Privy and other verifiers read.
    pub subject: String,
    /// Further claims, such as `credentialID`. Registered claims (`sub`, `iat`, `exp`,
    /// `nbf`, `jti`, `iss`, `aud`) are set by the issuer and may not appear here.
    pub claims: Map<String, Value>,
}

impl TokenRequest {
    /// Creates a request for a token about `subject` with no further claims.
    #[must_use]
    pub fn new(subject: impl Into<String>) -> Self {
        Self {
            subject: subject.into(),
            claims: Map::new(),
        }
    }

    /// Adds the claim `name` with `value`.
    #[must_use]
    pub fn claim(mut self, name: impl Into<String>, value: impl Into<Value>) -> Self {
        self.claims.insert(name.into(), value.into());
        self
    }
}

/// A token that was signed, with the facts a caller may need to store about it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct IssuedToken {
    /// The compact serialization, ready for an `Authorization: Bearer` header.
    pub token: String,
    /// The `jti` claim.
    pub id: String,
    /// The `exp` claim.
    pub expires_at: SystemTime,
}

impl IssuedToken {
    /// Creates the record of a token that was just signed.
    #[must_use]
    pub fn new(token: String, id: String, expires_at: SystemTime) -> Self {
        Self {
            token,
            id,
            expires_at,
        }
    }
}

/// Errors of a [`TokenIssuer`].
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TokenError {
    /// The request set a claim that only the issuer may set.
    #[error("claim {name:?} is reserved for the issuer")]
    ReservedClaim {
        /// The offending claim.
        name: String,
    },
    /// No signing key is available, for example because the key set could not be loaded.
    #[error("no signing key available")]
    NoSigningKey,
    /// Signing failed.
    #[error("signing failed")]
    Signing(#[source] Box<dyn std::error::Error + Send + Sync>),
}

/// Signs tokens for authenticated users.
#[async_trait]
pub trait TokenIssuer: Send + Sync + 'static {
    /// Signs a token for `request` with the current signing key.
    async fn issue(&self, request: TokenRequest) -> Result<IssuedToken, TokenError>;
}

/// The claims of a token whose signature and validity period were checked.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct VerifiedToken {
    /// The `sub` claim.
    pub subject: String,
    /// The `jti` claim.
    pub id: String,
    /// The `exp` claim.
    pub expires_at: SystemTime,
    /// Every claim of the token, registered ones included.
    pub claims: Map<String, Value>,
}

impl VerifiedToken {
    /// Returns the `iat` claim, or `None` when the token has none.
    #[must_use]
    pub fn issued_at(&self) -> Option<SystemTime> {
        let seconds = self.claims.get("iat")?.as_u64()?;
        UNIX_EPOCH.checked_add(Duration::from_secs(seconds))
    }

    /// Returns the string claim `name`, or `None` when it is absent or not a string.
    #[must_use]
    pub fn string_claim(&self, name: &str) -> Option<&str> {
        self.claims.get(name).and_then(Value::as_str)
    }
}

impl VerifiedToken {
    /// Creates the record of a verified token.
    #[must_use]
    pub fn new(
        subject: String,
        id: String,
        expires_at: SystemTime,
        claims: Map<String, Value>,
    ) -> Self {
        Self {
            subject,
            id,
            expires_at,
            claims,
        }
    }
}

/// A reason a token was rejected.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum VerifyError {
    /// The token is not a well-formed JWT of the accepted algorithm.
    #[error("token is malformed")]
    Malformed,
    /// The header names a key that is not in the key set.
    #[error("token names an unknown key")]
    UnknownKey,
    /// The signature does not match.
    #[error("token signature is invalid")]
    BadSignature,
    /// The token is past its `exp`.
    #[error("token has expired")]
    Expired,
    /// A claim such as `nbf`, `iss` or `aud` does not hold.
    #[error("token claim {name:?} is invalid")]
    InvalidClaim {
        /// The claim that failed.
        name: &'static str,
    },
}

/// Checks tokens presented to protected routes.
#[async_trait]
pub trait TokenVerifier: Send + Sync + 'static {
    /// Verifies the signature, algorithm, key and validity period of `token`.
    async fn verify(&self, token: &str) -> Result<VerifiedToken, VerifyError>;

    /// Returns the longest time from `iat` to `exp` of the tokens this verifier's issuer
    /// signs, so that a record about a token can expire once the token has.
    fn max_token_lifetime(&self) -> Duration;

    /// Returns how long past `exp` a token is still accepted, to absorb clock skew.
    fn leeway(&self) -> Duration;
}
