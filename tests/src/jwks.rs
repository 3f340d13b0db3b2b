//! Checking a token the way Privy does: from the JWKS URL alone.

use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde_json::{Map, Value};

/// A token's header key ID and its claims, after verification.
#[derive(Debug, Clone)]
pub struct JwksClaims {
    /// The `kid` of the header.
    pub kid: String,
    /// Every claim.
    pub claims: Map<String, Value>,
}

/// Fetches the JWKS at `jwks_url` and verifies `token` against it with jsonwebtoken:
/// RS256 only, the key named by `kid`, the signature, and `exp`.
///
/// # Errors
///
/// When the JWKS cannot be fetched or parsed, the token has no known `kid`, or the token
/// does not verify.
pub async fn verify_with_jwks(jwks_url: &str, token: &str) -> anyhow::Result<JwksClaims> {
    let jwks: JwkSet = reqwest::get(jwks_url).await?.error_for_status()?.json().await?;
    let header = jsonwebtoken::decode_header(token)?;
    let kid = header
        .kid
        .ok_or_else(|| anyhow::anyhow!("token header has no kid"))?;
    let jwk = jwks
        .find(&kid)
        .ok_or_else(|| anyhow::anyhow!("kid {kid} is not in the JWKS"))?;
    let key = DecodingKey::from_jwk(jwk)?;

    let mut validation = Validation::new(Algorithm::RS256);
    validation.set_required_spec_claims(&["exp", "sub"]);
    validation.validate_aud = false;
    validation.leeway = 0;
    let data = jsonwebtoken::decode::<Map<String, Value>>(token, &key, &validation)?;
    Ok(JwksClaims {
        kid,
        claims: data.claims,
    })
}
