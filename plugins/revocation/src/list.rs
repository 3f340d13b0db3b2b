//! The revocation list in the store: revoked `jti`s and per-claim cut-offs.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use latchkey_sdk::capability::{CutoffClaim, RevocationList, Store, StoreError, VerifiedToken};
use latchkey_sdk::salvo::async_trait;

/// Returns the key of the entry that revokes the token with `jti` `id`.
pub(crate) fn token_key(id: &str) -> String {
    format!("revocation:token:{id}")
}

/// Returns the key of the cut-off of tokens whose `claim` is `value`.
pub(crate) fn cutoff_key(claim: CutoffClaim, value: &str) -> String {
    format!("revocation:cutoff:{}:{value}", claim.claim_name())
}

/// Returns `time` in whole seconds since the Unix epoch, or 0 for a time before it.
pub(crate) fn unix_seconds(time: SystemTime) -> u64 {
    time.duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs()
}

/// Returns `time` in whole seconds since the Unix epoch, rounded up, so that a cut-off at
/// `time` also covers a token issued earlier in the same second.
pub(crate) fn seconds_rounded_up(time: SystemTime) -> u64 {
    let elapsed = time.duration_since(UNIX_EPOCH).unwrap_or_default();
    elapsed.as_secs() + u64::from(elapsed.subsec_nanos() > 0)
}

/// The facts a revocation check compares with the list.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Subject<'a> {
    /// The `jti`, for tokens that have one.
    pub(crate) id: Option<&'a str>,
    /// When the user logged in, in seconds: `auth_time`, or else `iat`. A token with
    /// neither counts as issued at the epoch.
    pub(crate) authenticated_at: u64,
    /// The values of the claims a cut-off can name.
    pub(crate) claims: [(CutoffClaim, Option<&'a str>); 3],
}

impl<'a> Subject<'a> {
    /// Returns what to check of `token`.
    pub(crate) fn of_token(token: &'a VerifiedToken) -> Self {
        let issued_at = token.issued_at().map_or(0, unix_seconds);
        let authenticated_at = token
            .claims
            .get("auth_time")
            .and_then(serde_json::Value::as_u64)
            .unwrap_or(issued_at);
        Self {
            id: Some(&token.id),
            authenticated_at,
            claims: CutoffClaim::ALL.map(|claim| (claim, token.string_claim(claim.claim_name()))),
        }
    }
}

/// The revocation list, kept in the store so that every instance reads every revocation.
pub(crate) struct StoreRevocationList {
    store: Arc<dyn Store>,
    /// How long past `exp` tokens are accepted.
    leeway: Duration,
    /// How long a cut-off is kept: the longest a token or refresh token it revokes lives.
    cutoff_retention: Duration,
}

impl StoreRevocationList {
    /// Creates the list. A cut-off is kept for `cutoff_retention`.
    pub(crate) fn new(store: Arc<dyn Store>, leeway: Duration, cutoff_retention: Duration) -> Self {
        Self {
            store,
            leeway,
            cutoff_retention,
        }
    }

    /// Returns whether `subject` is revoked, reading every entry that could revoke it in
    /// one store round trip.
    pub(crate) async fn check(&self, subject: Subject<'_>) -> Result<bool, StoreError> {
        let mut keys = Vec::with_capacity(4);
        if let Some(id) = subject.id {
            keys.push(token_key(id));
        }
        let mut claims = Vec::with_capacity(3);
        for (claim, value) in subject.claims {
            if let Some(value) = value {
                keys.push(cutoff_key(claim, value));
                claims.push(claim);
            }
        }
        let values = self.store.get_many(&keys).await?;
        let (tokens, cutoffs) = values.split_at(keys.len() - claims.len());
        if tokens.iter().any(Option::is_some) {
            return Ok(true);
        }
        let revoked = claims.iter().zip(cutoffs).any(|(claim, cutoff)| {
            let Some(cutoff) = cutoff else {
                return false;
            };
            match claim {
                // A user may log in again after a cut-off, so it compares login times.
                CutoffClaim::Subject => {
                    // An unreadable cut-off revokes: it was written to revoke something.
                    let cutoff = std::str::from_utf8(cutoff)
                        .ok()
                        .and_then(|text| text.parse::<u64>().ok())
                        .unwrap_or(u64::MAX);
                    subject.authenticated_at < cutoff
                }
                // An ended session or a deleted passkey mints no more tokens, so every
                // token that names one is revoked, also one a request in flight signed
                // after the cut-off was written.
                _ => true,
            }
        });
        Ok(revoked)
    }
}

#[async_trait]
impl RevocationList for StoreRevocationList {
    async fn is_revoked(&self, token: &VerifiedToken) -> Result<bool, StoreError> {
        self.check(Subject::of_token(token)).await
    }

    async fn revoke_token(&self, id: &str, expires_at: SystemTime) -> Result<(), StoreError> {
        let accepted_until = expires_at + self.leeway;
        let Ok(ttl) = accepted_until.duration_since(SystemTime::now()) else {
            // The token is no longer accepted, so there is nothing to revoke.
            return Ok(());
        };
        // Whole seconds, rounded up, so the entry outlives the token.
        let ttl = Duration::from_secs(ttl.as_secs() + 1);
        self.store.set(&token_key(id), b"1", Some(ttl)).await
    }

    async fn revoke_issued_before(
        &self,
        claim: CutoffClaim,
        value: &str,
        before: SystemTime,
    ) -> Result<(), StoreError> {
        let cutoff = seconds_rounded_up(before).to_string();
        self.store
            .set(
                &cutoff_key(claim, value),
                cutoff.as_bytes(),
                Some(self.cutoff_retention),
            )
            .await
    }
}

#[cfg(test)]
mod tests {
    use latchkey_sdk::testing::FakeStore;
    use serde_json::{Map, Value, json};

    use super::*;

    const HOUR: Duration = Duration::from_secs(3600);

    fn list() -> (Arc<FakeStore>, StoreRevocationList) {
        let store = Arc::new(FakeStore::default());
        let list = StoreRevocationList::new(
            Arc::clone(&store) as Arc<dyn Store>,
            Duration::from_secs(30),
            HOUR * 48,
        );
        (store, list)
    }

    fn token(id: &str, issued_at: u64, extra: Value) -> VerifiedToken {
        let mut claims = Map::new();
        claims.insert("sub".into(), "user-1".into());
        claims.insert("iat".into(), issued_at.into());
        if let Value::Object(extra) = extra {
            claims.extend(extra);
        }
        VerifiedToken::new(
            "user-1".to_owned(),
            id.to_owned(),
            SystemTime::now() + HOUR,
            claims,
        )
    }

    fn now_secs() -> u64 {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_secs()
    }

    #[tokio::test]
    async fn revoked_jti_found_and_others_not() {
        let (_, list) = list();
        let live = token("a", now_secs(), json!({}));
        let revoked = token("b", now_secs(), json!({}));
        list.revoke_token("b", SystemTime::now() + HOUR)
            .await
            .unwrap();

        assert!(!list.is_revoked(&live).await.unwrap());
        assert!(list.is_revoked(&revoked).await.unwrap());
    }

    #[tokio::test]
    async fn expired_token_not_written() {
        let (store, list) = list();
        let long_ago = SystemTime::now() - HOUR;
        list.revoke_token("a", long_ago).await.unwrap();
        assert!(store.keys("").await.unwrap().is_empty());
    }

    #[tokio::test]
    async fn cutoff_revokes_earlier_tokens_only() {
        let (_, list) = list();
        let now = now_secs();
        list.revoke_issued_before(
            CutoffClaim::Subject,
            "user-1",
            UNIX_EPOCH + Duration::from_secs(now),
        )
        .await
        .unwrap();

        assert!(
            list.is_revoked(&token("a", now - 1, json!({})))
                .await
                .unwrap()
        );
        assert!(!list.is_revoked(&token("b", now, json!({}))).await.unwrap());
    }

    #[tokio::test]
    async fn cutoff_within_a_second_covers_that_second() {
        let (_, list) = list();
        let before = UNIX_EPOCH + Duration::from_millis(1_000_500);
        list.revoke_issued_before(CutoffClaim::Subject, "user-1", before)
            .await
            .unwrap();
        assert!(list.is_revoked(&token("a", 1000, json!({}))).await.unwrap());
        assert!(!list.is_revoked(&token("b", 1001, json!({}))).await.unwrap());
    }

    #[tokio::test]
    async fn credential_and_session_cutoffs_apply() {
        let (_, list) = list();
        let now = now_secs();
        let later = UNIX_EPOCH + Duration::from_secs(now + 10);
        list.revoke_issued_before(CutoffClaim::Credential, "cred-1", later)
            .await
            .unwrap();
        list.revoke_issued_before(CutoffClaim::Session, "sid-1", later)
            .await
            .unwrap();

        let other = token("a", now, json!({"credentialID": "cred-2", "sid": "sid-2"}));
        assert!(!list.is_revoked(&other).await.unwrap());
        let by_credential = token("b", now, json!({"credentialID": "cred-1"}));
        assert!(list.is_revoked(&by_credential).await.unwrap());
        let by_session = token("c", now, json!({"sid": "sid-1"}));
        assert!(list.is_revoked(&by_session).await.unwrap());
    }

    #[tokio::test]
    async fn session_cutoff_revokes_later_tokens_too() {
        let (_, list) = list();
        list.revoke_issued_before(CutoffClaim::Session, "sid-1", UNIX_EPOCH)
            .await
            .unwrap();
        let later = token("a", now_secs(), json!({"sid": "sid-1"}));
        assert!(list.is_revoked(&later).await.unwrap());
    }

    #[tokio::test]
    async fn subject_cutoff_compares_login_time() {
        let (_, list) = list();
        let now = now_secs();
        list.revoke_issued_before(
            CutoffClaim::Subject,
            "user-1",
            UNIX_EPOCH + Duration::from_secs(now),
        )
        .await
        .unwrap();
        // Refreshed after the cut-off, in a session that began before it.
        let refreshed = token("a", now + 5, json!({"auth_time": now - 100}));
        assert!(list.is_revoked(&refreshed).await.unwrap());
        let new_login = token("b", now + 5, json!({"auth_time": now + 5}));
        assert!(!list.is_revoked(&new_login).await.unwrap());
    }

    #[tokio::test]
    async fn every_entry_expires() {
        let (store, list) = list();
        list.revoke_token("a", SystemTime::now() + HOUR)
            .await
            .unwrap();
        list.revoke_issued_before(CutoffClaim::Subject, "user-1", SystemTime::now())
            .await
            .unwrap();
        let keys = store.keys("").await.unwrap();
        assert_eq!(keys.len(), 2);
        for key in keys {
            let ttl = store.ttl(&key).expect("every revocation entry has a TTL");
            assert!(ttl <= HOUR * 48, "{key}: {ttl:?}");
        }
        let token_ttl = store.ttl(&token_key("a")).unwrap();
        assert!(token_ttl > HOUR, "{token_ttl:?}");
        assert!(token_ttl <= HOUR + Duration::from_secs(32), "{token_ttl:?}");
    }

    #[tokio::test]
    async fn store_failure_surfaces() {
        let (store, list) = list();
        store.set_unavailable(true);
        assert!(
            list.is_revoked(&token("a", now_secs(), json!({})))
                .await
                .is_err()
        );
    }
}
