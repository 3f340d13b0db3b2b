//! Verifying tokens: the `token_verifier` capability.

use std::collections::HashMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use latchkey_sdk::capability::{TokenVerifier, VerifiedToken, VerifyError};
use latchkey_sdk::salvo::async_trait;
use rsa::traits::PublicKeyParts;
use serde_json::{Map, Value};

use crate::keys::{Key, KeySet, PublicKey};

/// Maximum token length accepted, in bytes. Tokens this plugin issues are well under 1 KiB
/// unless callers add large claims, and the limit bounds the work a garbage token causes.
const MAX_TOKEN_LEN: usize = 8 * 1024;

/// Verifies RS256 and ES256 JWTs against the public keys of a [`KeySet`].
///
/// Each key verifies only its own algorithm, so neither `none`, nor an HMAC algorithm
/// keyed with a public key, nor another algorithm than the key's can pass. The header
/// must name a `kid` of the set and carry no `crit` member, and the signature must match. The claims `exp` and `sub` must be present, and `exp` and any
/// `nbf` must hold within the leeway. When configured, `iss` and `aud` must match, and
/// without a configured audience a token that has `aud` is rejected, because RFC 7519
/// section 4.1.3 requires a recipient to reject a token whose audience it is not in.
#[must_use]
pub struct JwtVerifier {
    keys: HashMap<String, (DecodingKey, Algorithm)>,
    validation: Validation,
    max_token_lifetime: Duration,
}

impl JwtVerifier {
    /// Creates a verifier for every key `keys` publishes now, with a leeway of 60 seconds, no `iss` or
    /// `aud` check, and tokens assumed to live at most a day.
    pub fn new(keys: &KeySet) -> Self {
        Self::for_keys(keys.published_at(crate::keys::unix_now()))
    }

    /// Creates a verifier for `keys`, with the defaults of [`JwtVerifier::new`].
    pub fn for_keys<'a>(keys: impl Iterator<Item = &'a std::sync::Arc<Key>>) -> Self {
        let keys = keys
            .filter_map(|key| {
                let entry = match key.public_key() {
                    PublicKey::Rsa(public_key) => (
                        DecodingKey::from_rsa_raw_components(
                            &public_key.n().to_bytes_be(),
                            &public_key.e().to_bytes_be(),
                        ),
                        Algorithm::RS256,
                    ),
                    PublicKey::Ec { x, y } => {
                        // Coordinates of a parsed P-256 key always decode.
                        let decoding_key = DecodingKey::from_ec_components(
                            &URL_SAFE_NO_PAD.encode(x),
                            &URL_SAFE_NO_PAD.encode(y),
                        )
                        .ok()?;
                        (decoding_key, Algorithm::ES256)
                    }
                };
                Some((key.kid().to_owned(), entry))
            })
            .collect();

        let mut validation = Validation::new(Algorithm::RS256);
        validation.set_required_spec_claims(&["exp", "sub"]);
        validation.validate_exp = true;
        validation.validate_nbf = true;
        validation.leeway = 60;
        Self {
            keys,
            validation,
            max_token_lifetime: Duration::from_secs(24 * 3600),
        }
    }

    /// Sets the longest lifetime of the tokens checked, the issuer's token lifetime.
    pub fn max_token_lifetime(mut self, lifetime: Duration) -> Self {
        self.max_token_lifetime = lifetime;
        self
    }

    /// Sets the clock skew tolerated on `exp` and `nbf`, in whole seconds.
    pub fn leeway(mut self, leeway: Duration) -> Self {
        self.validation.leeway = leeway.as_secs();
        self
    }

    /// Requires the `iss` claim to equal `issuer`.
    pub fn issuer(mut self, issuer: impl Into<String>) -> Self {
        self.validation.set_issuer(&[issuer.into()]);
        self.validation
            .required_spec_claims
            .insert("iss".to_owned());
        self
    }

    /// Requires the `aud` claim to equal or contain `audience`.
    pub fn audience(mut self, audience: impl Into<String>) -> Self {
        self.validation.set_audience(&[audience.into()]);
        self.validation
            .required_spec_claims
            .insert("aud".to_owned());
        self
    }

    /// Verifies `token`, the synchronous form of [`TokenVerifier::verify`].
    ///
    /// # Errors
    ///
    /// [`VerifyError::Malformed`] for a token that is not a compact RS256 JWT,
    /// [`VerifyError::UnknownKey`] for a missing or unknown `kid`,
    /// [`VerifyError::BadSignature`], [`VerifyError::Expired`], and
    /// [`VerifyError::InvalidClaim`] naming the claim that failed.
    pub fn verify_token(&self, token: &str) -> Result<VerifiedToken, VerifyError> {
        let result = self.check(token);
        if let Err(error) = &result {
            tracing::debug!(%error, "token rejected");
        }
        result
    }

    fn check(&self, token: &str) -> Result<VerifiedToken, VerifyError> {
        if token.len() > MAX_TOKEN_LEN {
            return Err(VerifyError::Malformed);
        }
        // An unknown `alg` such as "none" fails to parse here.
        let header = jsonwebtoken::decode_header(token).map_err(|_| VerifyError::Malformed)?;
        if !matches!(header.alg, Algorithm::RS256 | Algorithm::ES256) || header.crit.is_some() {
            return Err(VerifyError::Malformed);
        }
        let (key, algorithm) = header
            .kid
            .as_deref()
            .and_then(|kid| self.keys.get(kid))
            .ok_or(VerifyError::UnknownKey)?;
        if header.alg != *algorithm {
            return Err(VerifyError::Malformed);
        }

        let mut validation = self.validation.clone();
        validation.algorithms = vec![*algorithm];
        let data = jsonwebtoken::decode::<Map<String, Value>>(token, key, &validation)
            .map_err(|error| map_error(error.kind()))?;
        let claims = data.claims;

        let expires_at = claims
            .get("exp")
            .and_then(Value::as_u64)
            .ok_or(VerifyError::InvalidClaim { name: "exp" })?;
        // RFC 7519 section 4.1.4: a token must not be accepted on or after its `exp`, so
        // compare with `>=` (jsonwebtoken 10.4 still accepts `exp` equal to now minus the
        // leeway) and let the leeway absorb clock skew.
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |elapsed| elapsed.as_secs());
        if now >= expires_at.saturating_add(self.validation.leeway) {
            return Err(VerifyError::Expired);
        }
        // A token issued in the future comes from a clock running ahead, or a forger; its
        // `iat` would also outlive cut-offs that compare with it.
        if let Some(issued_at) = claims.get("iat") {
            let issued_at = issued_at
                .as_u64()
                .ok_or(VerifyError::InvalidClaim { name: "iat" })?;
            if issued_at > now.saturating_add(self.validation.leeway) {
                return Err(VerifyError::InvalidClaim { name: "iat" });
            }
        }
        let subject = string_claim(&claims, "sub")?;
        let id = string_claim(&claims, "jti")?;

        let expires_at = UNIX_EPOCH
            .checked_add(Duration::from_secs(expires_at))
            .ok_or(VerifyError::InvalidClaim { name: "exp" })?;
        Ok(VerifiedToken::new(subject, id, expires_at, claims))
    }
}

#[async_trait]
impl TokenVerifier for JwtVerifier {
    async fn verify(&self, token: &str) -> Result<VerifiedToken, VerifyError> {
        self.verify_token(token)
    }

    fn max_token_lifetime(&self) -> Duration {
        self.max_token_lifetime
    }

    fn leeway(&self) -> Duration {
        Duration::from_secs(self.validation.leeway)
    }
}

impl std::fmt::Debug for JwtVerifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JwtVerifier")
            .field("kids", &self.keys.keys().collect::<Vec<_>>())
            .field("leeway", &self.validation.leeway)
            .field("issuer", &self.validation.iss)
            .field("audience", &self.validation.aud)
            .finish_non_exhaustive()
    }
}

fn string_claim(claims: &Map<String, Value>, name: &'static str) -> Result<String, VerifyError> {
    claims
        .get(name)
        .and_then(Value::as_str)
        .map(str::to_owned)
        .ok_or(VerifyError::InvalidClaim { name })
}

/// Maps a jsonwebtoken failure onto the SDK's verification errors.
fn map_error(kind: &ErrorKind) -> VerifyError {
    match kind {
        ErrorKind::InvalidSignature => VerifyError::BadSignature,
        ErrorKind::ExpiredSignature => VerifyError::Expired,
        ErrorKind::ImmatureSignature => VerifyError::InvalidClaim { name: "nbf" },
        ErrorKind::InvalidIssuer => VerifyError::InvalidClaim { name: "iss" },
        ErrorKind::InvalidAudience => VerifyError::InvalidClaim { name: "aud" },
        ErrorKind::InvalidSubject => VerifyError::InvalidClaim { name: "sub" },
        ErrorKind::MissingRequiredClaim(name) | ErrorKind::InvalidClaimFormat(name) => {
            claim_name(name).map_or(VerifyError::Malformed, |name| VerifyError::InvalidClaim {
                name,
            })
        }
        _ => VerifyError::Malformed,
    }
}

fn claim_name(name: &str) -> Option<&'static str> {
    ["exp", "nbf", "sub", "iss", "aud"]
        .into_iter()
        .find(|known| *known == name)
}

#[cfg(test)]
mod tests {
    use base64::Engine;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use jsonwebtoken::{EncodingKey, Header};
    use latchkey_sdk::capability::TokenRequest;
    use rsa::pkcs1::{EncodeRsaPrivateKey, EncodeRsaPublicKey};
    use rsa::pkcs8::LineEnding;
    use serde_json::json;

    use super::*;
    use crate::issuer::JwtIssuer;
    use crate::testing::{key_set, private_key};

    const TTL: Duration = Duration::from_secs(3600);

    fn now() -> u64 {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_secs()
    }

    fn issue(issuer: &JwtIssuer) -> String {
        let request = TokenRequest::new("user-1").claim("credentialID", "cred-1");
        issuer.sign(&request).unwrap().token
    }

    fn verifier() -> JwtVerifier {
        JwtVerifier::new(key_set())
    }

    /// Signs `claims` with the test key through jsonwebtoken, under `header`.
    fn sign_rs256(header: &Header, claims: &Value) -> String {
        let der = private_key().to_pkcs1_der().unwrap();
        let key = EncodingKey::from_rsa_der(der.as_bytes());
        jsonwebtoken::encode(header, claims, &key).unwrap()
    }

    fn rs256_header(kid: Option<&str>) -> Header {
        let mut header = Header::new(Algorithm::RS256);
        header.kid = kid.map(str::to_owned);
        header
    }

    fn kid() -> &'static str {
        key_set().signing_key().kid()
    }

    fn claims_expiring_at(exp: u64) -> Value {
        json!({"sub": "user-1", "jti": "id-1", "iat": exp.saturating_sub(60), "exp": exp})
    }

    fn encode_part(value: &Value) -> String {
        URL_SAFE_NO_PAD.encode(value.to_string())
    }

    #[test]
    fn issued_token_verified() {
        let issuer = JwtIssuer::new(key_set(), TTL);
        let token = issue(&issuer);
        let verified = verifier().verify_token(&token).unwrap();
        assert_eq!(verified.subject, "user-1");
        assert_eq!(verified.claims["credentialID"], "cred-1");
        assert_eq!(verified.id, verified.claims["jti"].as_str().unwrap());
        let exp = verified.claims["exp"].as_u64().unwrap();
        assert_eq!(verified.expires_at, UNIX_EPOCH + Duration::from_secs(exp));
    }

    #[test]
    fn es256_token_verified_and_bound_to_its_key() {
        let key = std::sync::Arc::new(Key::generate(crate::config::Algorithm::Es256, 0).unwrap());
        let issuer = JwtIssuer::for_key(std::sync::Arc::clone(&key), TTL);
        let token = issue(&issuer);
        let header = jsonwebtoken::decode_header(&token).unwrap();
        assert_eq!(header.alg, Algorithm::ES256);
        assert_eq!(
            token
                .rsplit('.')
                .next()
                .map(|signature| URL_SAFE_NO_PAD.decode(signature).unwrap().len()),
            Some(64)
        );

        let keys = [
            std::sync::Arc::clone(key_set().signing_key()),
            std::sync::Arc::clone(&key),
        ];
        let verifier = JwtVerifier::for_keys(keys.iter());
        assert_eq!(verifier.verify_token(&token).unwrap().subject, "user-1");

        // An RS256 signature over an ES256 key's kid is algorithm switching.
        let claims = claims_expiring_at(now() + 600);
        let switched = sign_rs256(&rs256_header(Some(key.kid())), &claims);
        let result = verifier.verify_token(&switched);
        assert!(matches!(result, Err(VerifyError::Malformed)), "{result:?}");
    }

    #[test]
    fn exp_beyond_the_clock_range_rejected() {
        for exp in [1_u64 << 63, u64::MAX] {
            let claims = json!({"sub": "u", "jti": "a", "iat": now(), "exp": exp});
            let token = sign_rs256(&rs256_header(Some(kid())), &claims);
            let result = verifier().verify_token(&token);
            assert!(
                matches!(result, Err(VerifyError::InvalidClaim { name: "exp" })),
                "{exp}: {result:?}"
            );
        }
    }

    #[test]
    fn future_iat_rejected_past_leeway() {
        let within = json!({"sub": "u", "jti": "a", "iat": now() + 30, "exp": now() + 600});
        let token = sign_rs256(&rs256_header(Some(kid())), &within);
        assert!(
            verifier().verify_token(&token).is_ok(),
            "within the 60 s leeway"
        );

        let ahead = json!({"sub": "u", "jti": "b", "iat": now() + 3600, "exp": now() + 7200});
        let token = sign_rs256(&rs256_header(Some(kid())), &ahead);
        let result = verifier().verify_token(&token);
        assert!(
            matches!(result, Err(VerifyError::InvalidClaim { name: "iat" })),
            "{result:?}"
        );
    }

    #[test]
    fn alg_none_rejected() {
        let header = json!({"alg": "none", "typ": "JWT", "kid": kid()});
        let claims = claims_expiring_at(now() + 600);
        for signature in ["", "AAAA"] {
            let token = format!(
                "{}.{}.{signature}",
                encode_part(&header),
                encode_part(&claims)
            );
            let result = verifier().verify_token(&token);
            assert!(matches!(result, Err(VerifyError::Malformed)), "{result:?}");
        }
    }

    #[test]
    fn hs256_keyed_with_public_key_rejected() {
        let public_key = private_key().to_public_key();
        let der = public_key.to_pkcs1_der().unwrap();
        let pem = public_key.to_pkcs1_pem(LineEnding::LF).unwrap();
        let jwks = key_set().jwks_json();
        let claims = claims_expiring_at(now() + 600);
        for secret in [der.as_bytes(), pem.as_bytes(), &jwks[..]] {
            let mut header = Header::new(Algorithm::HS256);
            header.kid = Some(kid().to_owned());
            let key = EncodingKey::from_secret(secret);
            let token = jsonwebtoken::encode(&header, &claims, &key).unwrap();
            let result = verifier().verify_token(&token);
            assert!(matches!(result, Err(VerifyError::Malformed)), "{result:?}");
        }
    }

    #[test]
    fn other_rsa_algorithms_rejected() {
        let claims = claims_expiring_at(now() + 600);
        for algorithm in [Algorithm::RS512, Algorithm::PS256] {
            let mut header = Header::new(algorithm);
            header.kid = Some(kid().to_owned());
            let der = private_key().to_pkcs1_der().unwrap();
            let key = EncodingKey::from_rsa_der(der.as_bytes());
            let token = jsonwebtoken::encode(&header, &claims, &key).unwrap();
            let result = verifier().verify_token(&token);
            assert!(matches!(result, Err(VerifyError::Malformed)), "{result:?}");
        }
    }

    #[test]
    fn unknown_kid_rejected() {
        let claims = claims_expiring_at(now() + 600);
        for header in [rs256_header(Some("not-a-known-kid")), rs256_header(None)] {
            let token = sign_rs256(&header, &claims);
            let result = verifier().verify_token(&token);
            assert!(matches!(result, Err(VerifyError::UnknownKey)), "{result:?}");
        }
    }

    #[test]
    fn crit_header_rejected() {
        let mut header = rs256_header(Some(kid()));
        header.crit = Some(vec!["exp".to_owned()]);
        let token = sign_rs256(&header, &claims_expiring_at(now() + 600));
        let result = verifier().verify_token(&token);
        assert!(matches!(result, Err(VerifyError::Malformed)), "{result:?}");
    }

    #[test]
    fn tampered_payload_rejected() {
        let token = issue(&JwtIssuer::new(key_set(), TTL));
        let parts: Vec<&str> = token.split('.').collect();
        let mut claims: Value =
            serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[1]).unwrap()).unwrap();
        claims["sub"] = json!("admin");
        let forged = format!("{}.{}.{}", parts[0], encode_part(&claims), parts[2]);
        let result = verifier().verify_token(&forged);
        assert!(
            matches!(result, Err(VerifyError::BadSignature)),
            "{result:?}"
        );
    }

    #[test]
    fn truncated_signature_rejected() {
        let token = issue(&JwtIssuer::new(key_set(), TTL));
        let (message, encoded) = token.rsplit_once('.').unwrap();
        let signature = URL_SAFE_NO_PAD.decode(encoded).unwrap();
        assert_eq!(signature.len(), 256);
        for kept in [255, 128, 1, 0] {
            let truncated = format!("{message}.{}", URL_SAFE_NO_PAD.encode(&signature[..kept]));
            let result = verifier().verify_token(&truncated);
            assert!(
                matches!(result, Err(VerifyError::BadSignature)),
                "{kept} bytes kept: {result:?}"
            );
        }
        // Cutting characters instead may also leave base64 that does not decode.
        for cut in 1..=4 {
            let result = verifier().verify_token(&token[..token.len() - cut]);
            assert!(
                matches!(
                    result,
                    Err(VerifyError::BadSignature | VerifyError::Malformed)
                ),
                "{cut} characters cut: {result:?}"
            );
        }
    }

    #[test]
    fn expired_beyond_leeway_rejected() {
        let token = sign_rs256(&rs256_header(Some(kid())), &claims_expiring_at(now() - 61));
        let result = verifier().verify_token(&token);
        assert!(matches!(result, Err(VerifyError::Expired)), "{result:?}");
    }

    #[test]
    fn expired_within_leeway_accepted() {
        let token = sign_rs256(&rs256_header(Some(kid())), &claims_expiring_at(now() - 30));
        assert!(verifier().verify_token(&token).is_ok());
        let strict = verifier().leeway(Duration::ZERO);
        let result = strict.verify_token(&token);
        assert!(matches!(result, Err(VerifyError::Expired)), "{result:?}");
    }

    #[test]
    fn token_rejected_at_its_exp() {
        let token = sign_rs256(&rs256_header(Some(kid())), &claims_expiring_at(now()));
        let result = verifier().leeway(Duration::ZERO).verify_token(&token);
        assert!(matches!(result, Err(VerifyError::Expired)), "{result:?}");
    }

    #[test]
    fn future_nbf_rejected() {
        let mut claims = claims_expiring_at(now() + 600);
        claims["nbf"] = json!(now() + 300);
        let token = sign_rs256(&rs256_header(Some(kid())), &claims);
        let result = verifier().verify_token(&token);
        assert!(
            matches!(result, Err(VerifyError::InvalidClaim { name: "nbf" })),
            "{result:?}"
        );
    }

    #[test]
    fn missing_exp_or_sub_rejected() {
        for (name, claims) in [
            ("exp", json!({"sub": "user-1", "jti": "id-1"})),
            ("sub", json!({"jti": "id-1", "exp": now() + 600})),
            ("jti", json!({"sub": "user-1", "exp": now() + 600})),
        ] {
            let token = sign_rs256(&rs256_header(Some(kid())), &claims);
            match verifier().verify_token(&token) {
                Err(VerifyError::InvalidClaim { name: failed }) => assert_eq!(failed, name),
                other => panic!("missing {name}: expected InvalidClaim, got {other:?}"),
            }
        }
    }

    #[test]
    fn wrong_issuer_rejected() {
        let verifier = verifier().issuer("https://auth.example.com");
        let wrong = issue(&JwtIssuer::new(key_set(), TTL).issuer("https://evil.example"));
        let missing = issue(&JwtIssuer::new(key_set(), TTL));
        for token in [wrong, missing] {
            let result = verifier.verify_token(&token);
            assert!(
                matches!(result, Err(VerifyError::InvalidClaim { name: "iss" })),
                "{result:?}"
            );
        }
        let right = issue(&JwtIssuer::new(key_set(), TTL).issuer("https://auth.example.com"));
        assert!(verifier.verify_token(&right).is_ok());
    }

    #[test]
    fn wrong_audience_rejected() {
        let verifier = verifier().audience("my-app");
        let wrong = issue(&JwtIssuer::new(key_set(), TTL).audience("other-app"));
        let missing = issue(&JwtIssuer::new(key_set(), TTL));
        for token in [wrong, missing] {
            let result = verifier.verify_token(&token);
            assert!(
                matches!(result, Err(VerifyError::InvalidClaim { name: "aud" })),
                "{result:?}"
            );
        }
        let right = issue(&JwtIssuer::new(key_set(), TTL).audience("my-app"));
        assert!(verifier.verify_token(&right).is_ok());
    }

    #[test]
    fn audience_rejected_unless_configured() {
        let token = issue(&JwtIssuer::new(key_set(), TTL).audience("my-app"));
        let result = verifier().verify_token(&token);
        assert!(
            matches!(result, Err(VerifyError::InvalidClaim { name: "aud" })),
            "{result:?}"
        );
    }

    #[test]
    fn garbage_tokens_rejected() {
        let valid = issue(&JwtIssuer::new(key_set(), TTL));
        let oversized = format!("{valid}{}", "A".repeat(MAX_TOKEN_LEN));
        let header_only = encode_part(&json!({"alg": "RS256", "kid": kid()}));
        let cases = [
            String::new(),
            ".".to_owned(),
            "..".to_owned(),
            "a.b.c".to_owned(),
            "a.b.c.d".to_owned(),
            "é.🦀.\u{0}".to_owned(),
            format!("{header_only}.."),
            format!("{header_only}.!!!.???"),
            format!("{header_only}.{}.", encode_part(&json!("not an object"))),
            valid.replacen('.', "..", 1),
            oversized,
        ];
        for token in &cases {
            assert!(
                verifier().verify_token(token).is_err(),
                "accepted {token:?}"
            );
        }
    }

    #[tokio::test]
    async fn verify_capability_checks() {
        let verifier: std::sync::Arc<dyn TokenVerifier> = std::sync::Arc::new(verifier());
        let token = issue(&JwtIssuer::new(key_set(), TTL));
        assert_eq!(verifier.verify(&token).await.unwrap().subject, "user-1");
        assert!(verifier.verify("x.y.z").await.is_err());
    }
}
