//! Revoking tokens before they expire, and sessions that outlive one token.

use std::time::SystemTime;

use salvo::async_trait;

use super::store::StoreError;
use super::token::{IssuedToken, TokenError, TokenRequest, VerifiedToken};

/// A claim that a cut-off can name: every token carrying the claim with a given value and
/// issued before the cut-off is revoked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum CutoffClaim {
    /// `sub`: every token of one user.
    Subject,
    /// `credentialID`: every token minted from one passkey.
    Credential,
    /// `sid`: every token of one session, refresh tokens included.
    Session,
}

impl CutoffClaim {
    /// Every claim a cut-off can name.
    pub const ALL: [Self; 3] = [Self::Subject, Self::Credential, Self::Session];

    /// Returns the name of the claim in a token.
    #[must_use]
    pub const fn claim_name(self) -> &'static str {
        match self {
            Self::Subject => "sub",
            Self::Credential => "credentialID",
            Self::Session => "sid",
        }
    }
}

/// The list of revoked tokens, shared by every instance through the store.
///
/// A token is revoked when its `jti` was revoked, or when one of its claims named by a
/// [`CutoffClaim`] has a cut-off later than the token's `iat`. Entries expire once no token
/// they revoke could still be accepted, so the list never grows without bound.
#[async_trait]
pub trait RevocationList: Send + Sync + 'static {
    /// Returns whether `token` was revoked.
    ///
    /// # Errors
    ///
    /// A [`StoreError`] when the list cannot be read; a caller must then reject the token,
    /// because it could not be checked.
    async fn is_revoked(&self, token: &VerifiedToken) -> Result<bool, StoreError>;

    /// Revokes the token with `jti` `id`, which expires at `expires_at`.
    ///
    /// # Errors
    ///
    /// A [`StoreError`] when the entry could not be written.
    async fn revoke_token(&self, id: &str, expires_at: SystemTime) -> Result<(), StoreError>;

    /// Revokes every token whose `claim` is `value` and that was issued before `before`.
    ///
    /// # Errors
    ///
    /// A [`StoreError`] when the cut-off could not be written.
    async fn revoke_issued_before(
        &self,
        claim: CutoffClaim,
        value: &str,
        before: SystemTime,
    ) -> Result<(), StoreError>;
}

/// A session that started with a login: an access token carrying the session ID in `sid`,
/// and a refresh token that buys the next access token.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Session {
    /// The access token.
    pub access: IssuedToken,
    /// The refresh token: opaque, single use, replaced on every refresh.
    pub refresh_token: String,
    /// When the refresh token expires unless it is used first.
    pub refresh_expires_at: SystemTime,
}

impl Session {
    /// Creates the record of a session's tokens.
    #[must_use]
    pub fn new(access: IssuedToken, refresh_token: String, refresh_expires_at: SystemTime) -> Self {
        Self {
            access,
            refresh_token,
            refresh_expires_at,
        }
    }
}

/// Errors of a [`SessionIssuer`].
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SessionError {
    /// The access token could not be signed.
    #[error("access token could not be issued")]
    Token(#[from] TokenError),
    /// The refresh token could not be stored.
    #[error("refresh token could not be stored")]
    Store(#[from] StoreError),
}

/// Starts sessions: the issuer a login uses when refresh tokens are on.
#[async_trait]
pub trait SessionIssuer: Send + Sync + 'static {
    /// Starts a session for `request`: signs an access token with a new `sid` claim and
    /// stores a refresh token for it.
    ///
    /// # Errors
    ///
    /// [`SessionError`] when the token cannot be signed or the refresh token stored.
    async fn start_session(&self, request: TokenRequest) -> Result<Session, SessionError>;
}
