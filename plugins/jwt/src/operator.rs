//! The backend of the `latchkey keys` and `latchkey jwks check` commands: the key set of a
//! deployment, opened from its config and store without starting a server.

use std::sync::Arc;
use std::time::Duration;

use jsonwebtoken::jwk::{Jwk, JwkSet, KeyAlgorithm, PublicKeyUse};
use jsonwebtoken::{DecodingKey, Validation};
use latchkey_sdk::capability::{Store, TokenRequest};
use latchkey_sdk::{ConfigSection, HostSettings, PluginError};
use serde_json::{Map, Value};

use crate::admin::{KeyView, key_views};
use crate::config::{Config, Settings};
use crate::issuer::JwtIssuer;
use crate::keys::unix_now;
use crate::ring::{KeyRing, RingError, Rotation};

/// Lifetime of a canary token, in seconds.
const CANARY_TTL: Duration = Duration::from_secs(60);

/// The key set of a deployment, for operator commands.
#[derive(Debug)]
pub struct KeyTool {
    ring: KeyRing,
    settings: Settings,
}

impl KeyTool {
    /// Opens the key set that `store` holds, with the `[plugins.jwt]` config of `section`.
    ///
    /// # Errors
    ///
    /// A [`PluginError`] when the config is invalid, the store has no key set yet (start
    /// the server once), or the set cannot be read.
    pub async fn open(
        section: ConfigSection<'_>,
        host: &HostSettings,
        store: Arc<dyn Store>,
    ) -> Result<Self, PluginError> {
        let settings = section
            .extract::<Config>()
            .and_then(|config| config.validate(&section, host.is_production()))
            .map_err(|error| PluginError::start_with("plugins.jwt is invalid", error))?;
        if store.get(crate::ring::KEY_SET_KEY).await?.is_none() {
            return Err(PluginError::start(
                "the store contains no signing key set yet: start the server once to generate it",
            ));
        }
        let secret = crate::plugin::encryption_secret(&*store, &settings).await?;
        let ring = KeyRing::open(store, settings.clone(), secret)
            .await
            .map_err(crate::plugin::ring_start_error)?;
        Ok(Self { ring, settings })
    }

    /// Returns every key of the set with its state now.
    #[must_use]
    pub fn list(&self) -> Vec<KeyView> {
        key_views(&self.ring.snapshot().keys, unix_now())
    }

    /// Forces a rotation through the same claim as the scheduled one.
    ///
    /// # Errors
    ///
    /// [`RingError`] when the store fails or no key can be generated.
    pub async fn rotate(&self) -> Result<Rotation, RingError> {
        self.ring.rotate(true).await
    }

    /// Checks `jwks`, a JWKS document fetched from where verifiers fetch it, the way Privy
    /// reads it: canary tokens signed with the signing key and with the next key must
    /// verify against it.
    #[must_use]
    pub fn check(&self, jwks: &[u8]) -> Vec<Check> {
        let mut checks = Vec::new();
        let set: JwkSet = match serde_json::from_slice(jwks) {
            Ok(set) => set,
            Err(error) => {
                checks.push(Check::failed(format!(
                    "the JWKS is not a JSON Web Key Set: {error}"
                )));
                return checks;
            }
        };
        checks.push(Check::passed(format!(
            "the JWKS has {} keys",
            set.keys.len()
        )));
        for jwk in &set.keys {
            checks.push(check_jwk(jwk));
        }

        let snapshot = self.ring.snapshot();
        let now = unix_now();
        let signing = snapshot.keys.signing_key_at(now);
        let mut canaries = vec![("signing", Arc::clone(signing))];
        if let Some(next) = snapshot
            .keys
            .entries()
            .iter()
            .filter(|entry| entry.activates_at > now)
            .max_by_key(|entry| entry.activates_at)
        {
            canaries.push(("next", Arc::clone(&next.key)));
        }
        for (role, key) in canaries {
            let mut issuer = JwtIssuer::for_key(Arc::clone(&key), CANARY_TTL);
            if let Some(name) = &self.settings.issuer {
                issuer = issuer.issuer(name.clone());
            }
            if let Some(name) = &self.settings.audience {
                issuer = issuer.audience(name.clone());
            }
            let check = match issuer.sign(&TokenRequest::new("latchkey-jwks-check")) {
                Ok(canary) => self.verify_canary(&set, &canary.token, role, key.kid()),
                Err(error) => Check::failed(format!("the {role} key could not sign: {error}")),
            };
            checks.push(check);
        }
        checks
    }

    fn verify_canary(&self, set: &JwkSet, token: &str, role: &str, kid: &str) -> Check {
        let Some(jwk) = set.find(kid) else {
            return Check::failed(format!(
                "the {role} key {kid} is not in the JWKS: a verifier would reject its tokens"
            ));
        };
        let algorithm = match jwk.common.key_algorithm {
            Some(KeyAlgorithm::RS256) => jsonwebtoken::Algorithm::RS256,
            Some(KeyAlgorithm::ES256) => jsonwebtoken::Algorithm::ES256,
            other => {
                return Check::failed(format!(
                    "the {role} key {kid} is published with alg {other:?}: expected RS256 or ES256"
                ));
            }
        };
        let decoding_key = match DecodingKey::from_jwk(jwk) {
            Ok(key) => key,
            Err(error) => {
                return Check::failed(format!("the {role} key {kid} is unusable: {error}"));
            }
        };
        let mut validation = Validation::new(algorithm);
        validation.leeway = 0;
        validation.set_required_spec_claims(&["exp", "sub"]);
        match &self.settings.audience {
            Some(audience) => validation.set_audience(&[audience]),
            None => validation.validate_aud = false,
        }
        match jsonwebtoken::decode::<Map<String, Value>>(token, &decoding_key, &validation) {
            Ok(_) => Check::passed(format!("a canary token of the {role} key {kid} verifies")),
            Err(error) => Check::failed(format!(
                "a canary token of the {role} key {kid} does not verify: {error}"
            )),
        }
    }
}

fn check_jwk(jwk: &Jwk) -> Check {
    let kid = jwk.common.key_id.as_deref().unwrap_or("(no kid)");
    if jwk.common.key_id.is_none() {
        return Check::failed("a key has no kid, which Privy needs to pick it".to_owned());
    }
    match jwk.common.key_algorithm {
        Some(KeyAlgorithm::RS256 | KeyAlgorithm::ES256) => {}
        other => {
            return Check::failed(format!(
                "key {kid} has alg {other:?}: Privy accepts RS256 or ES256"
            ));
        }
    }
    if jwk.common.public_key_use != Some(PublicKeyUse::Signature) {
        return Check::failed(format!("key {kid} does not say use \"sig\""));
    }
    Check::passed(format!("key {kid} has kid, alg and use"))
}

/// One finding of [`KeyTool::check`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Check {
    /// Whether the finding is good.
    pub passed: bool,
    /// The finding, as a sentence.
    pub text: String,
}

impl Check {
    /// Creates a finding.
    #[must_use]
    pub fn new(passed: bool, text: impl Into<String>) -> Self {
        Self {
            passed,
            text: text.into(),
        }
    }

    fn passed(text: String) -> Self {
        Self { passed: true, text }
    }

    fn failed(text: String) -> Self {
        Self {
            passed: false,
            text,
        }
    }
}
