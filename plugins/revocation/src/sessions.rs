//! Sessions: refresh tokens that are single use, stored hashed, and rotated on every use.
//!
//! A login starts a session with a random ID, the `sid` claim of every access token of the
//! session. Each refresh token is stored under the SHA-256 of its text, so the store never
//! contains one that could be presented. Using a refresh token marks it used and returns a
//! new one; presenting a used one again means it leaked, so the whole session is revoked:
//! a cut-off on its `sid` rejects its access tokens and its newest refresh token.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use latchkey_sdk::capability::{
    CutoffClaim, IssuedToken, RevocationList, Session, SessionError, SessionIssuer, Store,
    StoreError, TokenIssuer, TokenRequest,
};
use latchkey_sdk::salvo::async_trait;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

use crate::list::{StoreRevocationList, Subject, unix_seconds};

/// Random bytes in a refresh token.
const REFRESH_TOKEN_BYTES: usize = 32;

/// Random bytes in a session ID.
const SESSION_ID_BYTES: usize = 16;

/// Prefix of every refresh token, so that one can be distinguished from a JWT in logs and scans.
const REFRESH_TOKEN_PREFIX: &str = "lkrt_";

/// Maximum length of a refresh token looked up. Longer input is not one of ours.
const MAX_REFRESH_TOKEN_LEN: usize = 128;

/// Returns the key of the record of `refresh_token`.
pub(crate) fn refresh_key(refresh_token: &str) -> String {
    let digest = Sha256::digest(refresh_token.as_bytes());
    format!("revocation:refresh:{}", URL_SAFE_NO_PAD.encode(digest))
}

/// A refresh token, stored under `revocation:refresh:<SHA-256 of the token>`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct RefreshRecord {
    /// The `sub` of the session.
    pub(crate) subject: String,
    /// The session ID, the `sid` claim.
    pub(crate) session_id: String,
    /// Claims the session's access tokens carry besides `sub` and `sid`, like
    /// `credentialID`.
    pub(crate) claims: Map<String, Value>,
    /// When the token was issued, in seconds since the Unix epoch.
    pub(crate) issued_at: u64,
    /// When the session began with a login, the `auth_time` of its access tokens. Absent
    /// in records written before it existed, which count from `issued_at`.
    #[serde(default)]
    pub(crate) session_started_at: Option<u64>,
    /// When the token expires, in seconds since the Unix epoch.
    pub(crate) expires_at: u64,
    /// Whether the token was used; a used token presented again revokes the session.
    pub(crate) used: bool,
}

impl RefreshRecord {
    /// Returns what a revocation check of this token looks at.
    fn subject(&self) -> Subject<'_> {
        let credential = self.claims.get("credentialID").and_then(Value::as_str);
        Subject {
            id: None,
            authenticated_at: self.session_started_at.unwrap_or(self.issued_at),
            claims: [
                (CutoffClaim::Subject, Some(&self.subject)),
                (CutoffClaim::Credential, credential),
                (CutoffClaim::Session, Some(&self.session_id)),
            ],
        }
    }
}

/// The reason a refresh was rejected.
#[derive(Debug, thiserror::Error)]
pub(crate) enum RefreshError {
    /// The token is not one of ours, or it expired.
    #[error("refresh token is unknown or expired")]
    Unknown,
    /// The token was used before, so its session was revoked.
    #[error("refresh token was already used")]
    Reused,
    /// The session or its user was revoked.
    #[error("session has been revoked")]
    Revoked,
    /// A stored record could not be decoded.
    #[error("refresh token record at {key} is corrupt")]
    Corrupt {
        /// The key of the record.
        key: String,
    },
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The new tokens could not be issued.
    #[error(transparent)]
    Issue(#[from] SessionError),
}

/// Starts, refreshes and ends sessions.
pub(crate) struct Sessions {
    store: Arc<dyn Store>,
    issuer: Arc<dyn TokenIssuer>,
    revocations: Arc<StoreRevocationList>,
    ttl: Duration,
}

impl Sessions {
    /// Creates the sessions of refresh tokens that live `ttl`.
    pub(crate) fn new(
        store: Arc<dyn Store>,
        issuer: Arc<dyn TokenIssuer>,
        revocations: Arc<StoreRevocationList>,
        ttl: Duration,
    ) -> Self {
        Self {
            store,
            issuer,
            revocations,
            ttl,
        }
    }

    /// Returns the stored record of `refresh_token`, if it is one of ours and live.
    pub(crate) async fn find(
        &self,
        refresh_token: &str,
    ) -> Result<Option<(String, Vec<u8>, RefreshRecord)>, RefreshError> {
        if !refresh_token.starts_with(REFRESH_TOKEN_PREFIX)
            || refresh_token.len() > MAX_REFRESH_TOKEN_LEN
        {
            return Ok(None);
        }
        let key = refresh_key(refresh_token);
        let Some(bytes) = self.store.get(&key).await? else {
            return Ok(None);
        };
        let record = serde_json::from_slice(&bytes)
            .map_err(|_| RefreshError::Corrupt { key: key.clone() })?;
        Ok(Some((key, bytes, record)))
    }

    /// Returns whether the session of `record` is live: the token unused and unrevoked.
    pub(crate) async fn is_live(&self, record: &RefreshRecord) -> Result<bool, StoreError> {
        Ok(!record.used && !self.revocations.check(record.subject()).await?)
    }

    /// Trades `refresh_token` for a new access token and a new refresh token, and returns
    /// them with the user ID.
    pub(crate) async fn refresh(
        &self,
        refresh_token: &str,
    ) -> Result<(String, Session), RefreshError> {
        let Some((key, current, record)) = self.find(refresh_token).await? else {
            return Err(RefreshError::Unknown);
        };
        if record.used {
            self.end(&record.session_id).await?;
            tracing::warn!(
                user_id = %record.subject,
                session_id = %record.session_id,
                "refresh token presented twice: session revoked"
            );
            return Err(RefreshError::Reused);
        }
        if self.revocations.check(record.subject()).await? {
            return Err(RefreshError::Revoked);
        }

        let mut used = record.clone();
        used.used = true;
        let used_bytes =
            serde_json::to_vec(&used).map_err(|_| RefreshError::Corrupt { key: key.clone() })?;
        let left = remaining(record.expires_at);
        if !self
            .store
            .compare_and_swap(&key, Some(&current), &used_bytes, Some(left))
            .await?
        {
            // Another request used the same token at the same moment: one of them has a
            // leaked copy, and there is no telling which.
            self.end(&record.session_id).await?;
            return Err(RefreshError::Reused);
        }

        let request = record.claims.iter().fold(
            TokenRequest::new(record.subject.clone()),
            |request, (name, value)| request.claim(name.clone(), value.clone()),
        );
        let started_at = record.session_started_at.unwrap_or(record.issued_at);
        let session = self.issue(request, record.session_id, started_at).await?;
        Ok((record.subject, session))
    }

    /// Revokes session `session_id`: every access and refresh token issued in it so far.
    pub(crate) async fn end(&self, session_id: &str) -> Result<(), StoreError> {
        self.revocations
            .revoke_issued_before(CutoffClaim::Session, session_id, SystemTime::now())
            .await
    }

    /// Signs an access token for `request` in session `session_id` and stores a new refresh
    /// token for it.
    async fn issue(
        &self,
        request: TokenRequest,
        session_id: String,
        started_at: u64,
    ) -> Result<Session, SessionError> {
        let claims = request.claims.clone();
        let subject = request.subject.clone();
        let request = request
            .claim("sid", session_id.clone())
            .claim("auth_time", started_at);
        let access: IssuedToken = self.issuer.issue(request).await?;

        let refresh_token = format!(
            "{REFRESH_TOKEN_PREFIX}{}",
            URL_SAFE_NO_PAD.encode(rand::random::<[u8; REFRESH_TOKEN_BYTES]>())
        );
        let now = SystemTime::now();
        let expires_at = now + self.ttl;
        let record = RefreshRecord {
            subject,
            session_id,
            claims,
            issued_at: unix_seconds(now),
            session_started_at: Some(started_at),
            expires_at: unix_seconds(expires_at),
            used: false,
        };
        let key = refresh_key(&refresh_token);
        let bytes = serde_json::to_vec(&record).map_err(|error| StoreError::Backend {
            operation: "encode refresh token",
            source: Box::new(error),
        })?;
        if !self.store.insert_new(&key, &bytes, Some(self.ttl)).await? {
            // 256 random bits do not collide; a taken key means the store misbehaves.
            return Err(SessionError::Store(StoreError::Backend {
                operation: "insert refresh token",
                source: "refresh token key already taken".into(),
            }));
        }
        Ok(Session::new(access, refresh_token, expires_at))
    }
}

#[async_trait]
impl SessionIssuer for Sessions {
    async fn start_session(&self, request: TokenRequest) -> Result<Session, SessionError> {
        let session_id = URL_SAFE_NO_PAD.encode(rand::random::<[u8; SESSION_ID_BYTES]>());
        self.issue(request, session_id, unix_seconds(SystemTime::now()))
            .await
    }
}

/// Returns the time left until `expires_at` (Unix seconds), at least one second.
fn remaining(expires_at: u64) -> Duration {
    let left = expires_at.saturating_sub(unix_seconds(SystemTime::now()));
    Duration::from_secs(left.max(1))
}
