//! Checking a token the way Privy does: from the JWKS URL alone.

use std::time::Duration;

use anyhow::{Context as _, bail};
use jsonwebtoken::jwk::{AlgorithmParameters, Jwk, JwkSet, KeyAlgorithm, PublicKeyUse};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde_json::{Map, Value};

/// How long fetching the JWKS may take.
const FETCH_TIMEOUT: Duration = Duration::from_secs(10);

/// A token's header key ID and its claims, after verification.
#[derive(Debug, Clone)]
pub struct JwksClaims {
    /// The `kid` of the header.
    pub kid: String,
    /// Every claim.
    pub claims: Map<String, Value>,
}

/// Fetches the JWKS at `jwks_url` and verifies `token` against it with jsonwebtoken, as
/// strictly as Privy's JWT-based auth:
///
/// - the header's `alg` is RS256 or ES256, and its `kid` names a key of the JWKS;
/// - that key is of the token's algorithm (RSA for RS256, P-256 for ES256), names that
///   `alg`, and has `use` `sig`;
/// - the signature matches, and `exp` and `sub` are present, with `exp` in the future
///   and any `nbf` in the past, without leeway.
///
/// `aud` and `iss` are not checked, because the host under test sets them only when
/// configured.
///
/// # Errors
///
/// When the JWKS cannot be fetched or parsed, or the token fails any rule above, with the
/// rule named.
pub async fn verify_with_jwks(jwks_url: &str, token: &str) -> anyhow::Result<JwksClaims> {
    let client = reqwest::Client::builder()
        .timeout(FETCH_TIMEOUT)
        .build()
        .context("the HTTP client could not be built")?;
    let jwks: JwkSet = client
        .get(jwks_url)
        .send()
        .await
        .with_context(|| format!("GET {jwks_url} failed"))?
        .error_for_status()?
        .json()
        .await
        .context("the JWKS is not a JSON Web Key Set")?;

    let header = jsonwebtoken::decode_header(token).context("the token header is invalid")?;
    if !matches!(header.alg, Algorithm::RS256 | Algorithm::ES256) {
        bail!("token alg is {:?}: expected RS256 or ES256", header.alg);
    }
    let Some(kid) = header.kid else {
        bail!("token header has no kid");
    };
    let Some(jwk) = jwks.find(&kid) else {
        bail!("kid {kid:?} is not in the JWKS at {jwks_url}");
    };
    check_jwk(jwk, header.alg)?;
    let key = DecodingKey::from_jwk(jwk).context("the JWK is not a usable public key")?;

    let mut validation = Validation::new(header.alg);
    validation.set_required_spec_claims(&["exp", "sub"]);
    validation.validate_exp = true;
    validation.validate_nbf = true;
    validation.validate_aud = false;
    validation.leeway = 0;
    let data = jsonwebtoken::decode::<Map<String, Value>>(token, &key, &validation)
        .context("the token does not verify against its JWK")?;
    Ok(JwksClaims {
        kid,
        claims: data.claims,
    })
}

/// Checks that `jwk` is published for signatures of `alg`: an RSA key for RS256, a P-256
/// key for ES256.
fn check_jwk(jwk: &Jwk, alg: Algorithm) -> anyhow::Result<()> {
    let (type_matches, expected) = match alg {
        Algorithm::ES256 => (
            matches!(&jwk.algorithm, AlgorithmParameters::EllipticCurve(ec) if ec.curve == jsonwebtoken::jwk::EllipticCurve::P256),
            KeyAlgorithm::ES256,
        ),
        _ => (
            matches!(jwk.algorithm, AlgorithmParameters::RSA(_)),
            KeyAlgorithm::RS256,
        ),
    };
    if !type_matches {
        bail!("JWK key type does not match token alg {alg:?}");
    }
    if jwk.common.key_algorithm != Some(expected) {
        bail!(
            "JWK alg is {:?}: expected {expected:?}",
            jwk.common.key_algorithm
        );
    }
    if jwk.common.public_key_use != Some(PublicKeyUse::Signature) {
        bail!("JWK use is {:?}: expected sig", jwk.common.public_key_use);
    }
    Ok(())
}
