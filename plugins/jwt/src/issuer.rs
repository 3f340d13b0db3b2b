//! Signing tokens: the `token_issuer` capability.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use latchkey_sdk::capability::{IssuedToken, TokenError, TokenIssuer, TokenRequest};
use latchkey_sdk::salvo::async_trait;
use rsa::rand_core::{OsRng, RngCore};
use serde::Serialize;
use serde_json::{Map, Value};

use crate::keys::{Key, KeySet};

/// Claims that only the issuer sets: the registered claims of RFC 7519 section 4.1.
pub(crate) const REGISTERED_CLAIMS: [&str; 7] = ["sub", "iat", "exp", "nbf", "jti", "iss", "aud"];

/// Random bytes in a `jti`, so that IDs do not collide in practice.
const JTI_BYTES: usize = 16;

/// Signs RS256 JWTs with the signing key of a [`KeySet`].
///
/// A token's header is `{"alg":"RS256","typ":"JWT","kid":…}` and its claims are `sub`,
/// the request's extra claims, `iat`, `exp` (`iat` plus the token lifetime), a random
/// `jti`, and `iss` and `aud` when set. The key was parsed once, when its [`Key`] was made,
/// and clones share it.
#[must_use]
#[derive(Clone)]
pub struct JwtIssuer {
    key: Arc<Key>,
    encoded_header: Arc<str>,
    token_ttl: Duration,
    issuer: Option<Arc<str>>,
    audience: Option<Arc<str>>,
}

impl JwtIssuer {
    /// Creates an issuer that signs with the signing key of `keys`. Tokens are valid for
    /// `token_ttl`, counted in whole seconds.
    pub fn new(keys: &KeySet, token_ttl: Duration) -> Self {
        Self::for_key(Arc::clone(keys.signing_key()), token_ttl)
    }

    /// Creates an issuer that signs with `key`.
    pub fn for_key(key: Arc<Key>, token_ttl: Duration) -> Self {
        let header = serde_json::json!({
            "alg": key.algorithm().as_str(),
            "typ": "JWT",
            "kid": key.kid(),
        });
        Self {
            encoded_header: URL_SAFE_NO_PAD.encode(header.to_string()).into(),
            key,
            token_ttl,
            issuer: None,
            audience: None,
        }
    }

    /// Sets the `iss` claim of every token.
    pub fn issuer(mut self, issuer: impl Into<String>) -> Self {
        self.issuer = Some(issuer.into().into());
        self
    }

    /// Sets the `aud` claim of every token.
    pub fn audience(mut self, audience: impl Into<String>) -> Self {
        self.audience = Some(audience.into().into());
        self
    }

    /// Returns the `kid` that tokens are signed with.
    #[must_use]
    pub fn kid(&self) -> &str {
        self.key.kid()
    }

    /// Signs a token for `request` on the calling thread, the synchronous form of
    /// [`TokenIssuer::issue`].
    ///
    /// # Errors
    ///
    /// [`TokenError::ReservedClaim`] when the request sets a registered claim, and
    /// [`TokenError::Signing`] when the clock reads before 1970, the operating system's
    /// random source fails, or signing fails.
    pub fn sign(&self, request: &TokenRequest) -> Result<IssuedToken, TokenError> {
        if let Some(name) = REGISTERED_CLAIMS
            .iter()
            .find(|name| request.claims.contains_key(**name))
        {
            return Err(TokenError::ReservedClaim {
                name: (*name).to_owned(),
            });
        }

        let issued_at = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_err(|error| TokenError::Signing(Box::new(error)))?
            .as_secs();
        let expires_at = issued_at.saturating_add(self.token_ttl.as_secs());
        let id = random_id()?;
        let claims = Claims {
            sub: &request.subject,
            extra: &request.claims,
            iat: issued_at,
            exp: expires_at,
            jti: &id,
            iss: self.issuer.as_deref(),
            aud: self.audience.as_deref(),
        };
        let claims_json =
            serde_json::to_vec(&claims).map_err(|error| TokenError::Signing(Box::new(error)))?;

        // Base64 text is 4/3 the length of its bytes, plus the two dots and rounding.
        let signature_len = self.key.signature_len();
        let capacity = self.encoded_header.len() + (claims_json.len() + signature_len) * 4 / 3 + 8;
        let mut token = String::with_capacity(capacity);
        token.push_str(&self.encoded_header);
        token.push('.');
        URL_SAFE_NO_PAD.encode_string(&claims_json, &mut token);
        let signature = self
            .key
            .sign(token.as_bytes())
            .map_err(|error| TokenError::Signing(Box::new(error)))?;
        token.push('.');
        URL_SAFE_NO_PAD.encode_string(signature, &mut token);

        // `issued_at` is the clock's reading and the lifetime at most 30 days, so the sum is
        // a representable time; the fallback is never reached in practice.
        let expires_at = UNIX_EPOCH
            .checked_add(Duration::from_secs(expires_at))
            .unwrap_or(UNIX_EPOCH);
        Ok(IssuedToken::new(token, id, expires_at))
    }
}

#[async_trait]
impl TokenIssuer for JwtIssuer {
    /// Signs on tokio's blocking thread pool, or on the calling thread outside a tokio
    /// runtime.
    async fn issue(&self, request: TokenRequest) -> Result<IssuedToken, TokenError> {
        // Signing stays on the blocking pool although ring brought it down to about 0.7 ms.
        // In benches/issue.rs on a 2-core machine the hop added about 0.1 ms per token.
        // Signing inline on 2 workers instead made a trivial task wait a median of 0.7 ms
        // behind four signings, against 26 µs with the blocking pool.
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return self.sign(&request);
        };
        let issuer = self.clone();
        runtime
            .spawn_blocking(move || issuer.sign(&request))
            .await
            .map_err(|error| TokenError::Signing(Box::new(error)))?
    }
}

impl std::fmt::Debug for JwtIssuer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JwtIssuer")
            .field("kid", &self.key.kid())
            .field("token_ttl", &self.token_ttl)
            .field("issuer", &self.issuer)
            .field("audience", &self.audience)
            .finish_non_exhaustive()
    }
}

#[derive(Serialize)]
struct Claims<'a> {
    sub: &'a str,
    #[serde(flatten)]
    extra: &'a Map<String, Value>,
    iat: u64,
    exp: u64,
    jti: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    iss: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    aud: Option<&'a str>,
}

/// Returns a new `jti`: random bytes from the operating system, base64url.
fn random_id() -> Result<String, TokenError> {
    let mut bytes = [0_u8; JTI_BYTES];
    OsRng
        .try_fill_bytes(&mut bytes)
        .map_err(|error| TokenError::Signing(Box::new(error)))?;
    Ok(URL_SAFE_NO_PAD.encode(bytes))
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use jsonwebtoken::{Algorithm, DecodingKey, Validation};

    use super::*;
    use crate::testing::key_set;

    const TTL: Duration = Duration::from_secs(3600);

    fn request() -> TokenRequest {
        TokenRequest::new("user-1").claim("credentialID", "cred-1")
    }

    /// Returns a decoding key built only from the `n` and `e` the JWKS publishes.
    fn key_from_jwks() -> (String, DecodingKey) {
        let document: Value = serde_json::from_slice(&key_set().jwks_json()).unwrap();
        let jwk = &document["keys"][0];
        let key = DecodingKey::from_rsa_components(
            jwk["n"].as_str().unwrap(),
            jwk["e"].as_str().unwrap(),
        )
        .unwrap();
        (jwk["kid"].as_str().unwrap().to_owned(), key)
    }

    #[test]
    fn token_decodes_with_exported_jwk() {
        let issuer = JwtIssuer::new(key_set(), TTL)
            .issuer("https://auth.example.com")
            .audience("my-app");
        let issued = issuer.sign(&request()).unwrap();

        let (kid, key) = key_from_jwks();
        let mut validation = Validation::new(Algorithm::RS256);
        validation.set_issuer(&["https://auth.example.com"]);
        validation.set_audience(&["my-app"]);
        let data =
            jsonwebtoken::decode::<Map<String, Value>>(&issued.token, &key, &validation).unwrap();

        assert_eq!(data.header.alg, Algorithm::RS256);
        assert_eq!(data.header.typ.as_deref(), Some("JWT"));
        assert_eq!(data.header.kid.as_deref(), Some(kid.as_str()));
        let claims = data.claims;
        assert_eq!(claims["sub"], "user-1");
        assert_eq!(claims["credentialID"], "cred-1");
        assert_eq!(claims["iss"], "https://auth.example.com");
        assert_eq!(claims["aud"], "my-app");
        assert_eq!(claims["jti"], issued.id.as_str());
        let issued_at = claims["iat"].as_u64().unwrap();
        let expires_at = claims["exp"].as_u64().unwrap();
        assert_eq!(expires_at, issued_at + TTL.as_secs());
        assert_eq!(
            issued.expires_at,
            UNIX_EPOCH + Duration::from_secs(expires_at)
        );
        assert_eq!(claims.len(), 7);
    }

    #[test]
    fn header_has_only_alg_typ_kid() {
        let issued = JwtIssuer::new(key_set(), TTL).sign(&request()).unwrap();
        let encoded = issued.token.split('.').next().unwrap();
        let header: Value =
            serde_json::from_slice(&URL_SAFE_NO_PAD.decode(encoded).unwrap()).unwrap();
        let expected = serde_json::json!({
            "alg": "RS256",
            "typ": "JWT",
            "kid": key_set().signing_key().kid(),
        });
        assert_eq!(header, expected);
    }

    #[test]
    fn iss_and_aud_absent_unless_set() {
        let issued = JwtIssuer::new(key_set(), TTL).sign(&request()).unwrap();
        let encoded = issued.token.split('.').nth(1).unwrap();
        let claims: Map<String, Value> =
            serde_json::from_slice(&URL_SAFE_NO_PAD.decode(encoded).unwrap()).unwrap();
        assert!(!claims.contains_key("iss"));
        assert!(!claims.contains_key("aud"));
        assert!(!claims.contains_key("nbf"));
    }

    #[test]
    fn jti_unique_across_tokens() {
        let issuer = JwtIssuer::new(key_set(), TTL);
        let ids: HashSet<String> = (0..8)
            .map(|_| issuer.sign(&request()).unwrap().id)
            .collect();
        assert_eq!(ids.len(), 8);
        for id in &ids {
            assert_eq!(URL_SAFE_NO_PAD.decode(id).unwrap().len(), JTI_BYTES);
        }
    }

    #[test]
    fn reserved_claim_rejected() {
        let issuer = JwtIssuer::new(key_set(), TTL);
        for name in REGISTERED_CLAIMS {
            let request = request().claim(name, "forged");
            match issuer.sign(&request) {
                Err(TokenError::ReservedClaim { name: rejected }) => assert_eq!(rejected, name),
                other => panic!("claim {name}: expected ReservedClaim, got {other:?}"),
            }
        }
    }

    #[tokio::test]
    async fn issue_capability_signs() {
        let issuer: Arc<dyn TokenIssuer> = Arc::new(JwtIssuer::new(key_set(), TTL));
        let issued = issuer.issue(request()).await.unwrap();
        assert_eq!(issued.token.split('.').count(), 3);
    }

    #[test]
    fn issue_outside_runtime_signs_inline() {
        use std::task::{Context, Poll, Waker};

        let issuer = JwtIssuer::new(key_set(), TTL);
        let mut future = issuer.issue(request());
        let mut context = Context::from_waker(Waker::noop());
        let Poll::Ready(result) = future.as_mut().poll(&mut context) else {
            panic!("issue waited for a runtime that does not exist");
        };
        assert_eq!(result.unwrap().token.split('.').count(), 3);
    }

    #[test]
    fn debug_shows_no_key_material() {
        let text = format!("{:?}", JwtIssuer::new(key_set(), TTL));
        assert!(text.contains(key_set().signing_key().kid()), "{text}");
        assert!(text.len() < 300, "{text}");
    }
}
