//! The `[plugins.jwt]` section and the settings the plugin runs with.

use std::time::Duration;

use latchkey_sdk::{ConfigError, ConfigSection};
use serde::Deserialize;

/// RSA modulus sizes that `rsa_bits` accepts.
const RSA_BITS_ALLOWED: [usize; 3] = [2048, 3072, 4096];
/// Allowed `token_ttl`, in seconds: one minute to 30 days.
const TOKEN_TTL_RANGE: std::ops::RangeInclusive<u64> = 60..=2_592_000;
/// Allowed `leeway`, in seconds: up to five minutes.
const LEEWAY_RANGE: std::ops::RangeInclusive<u64> = 0..=300;
/// Largest `jwks_max_age`, in seconds. A verifier that caches the JWKS for longer than a
/// day could miss a key added by a daily rotation.
const JWKS_MAX_AGE_MAX: u64 = 86_400;

/// JWS signing algorithm of issued tokens.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
pub enum Algorithm {
    /// RSASSA-PKCS1-v1_5 with SHA-256 (RFC 7518 section 3.3).
    #[default]
    #[serde(rename = "RS256")]
    Rs256,
}

impl Algorithm {
    /// Returns the JOSE name of the algorithm, as written in the `alg` header.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Rs256 => "RS256",
        }
    }
}

/// The `[plugins.jwt]` config section, with the defaults listed in the crate docs.
#[derive(Clone, PartialEq, Eq, Deserialize)]
#[serde(default)]
pub struct Config {
    /// Signing algorithm. Default: RS256.
    pub algorithm: Algorithm,
    /// Modulus size of generated RSA keys, in bits: 2048, 3072 or 4096. Default: 2048.
    pub rsa_bits: usize,
    /// Lifetime of an issued token, in seconds, from 60 to 2,592,000. Default: 86,400.
    pub token_ttl: u64,
    /// Clock skew tolerated when checking `exp` and `nbf`, in seconds, from 0 to 300.
    /// Default: 60.
    pub leeway: u64,
    /// The `iss` claim: set on issued tokens and required on verified ones. Default: none.
    pub issuer: Option<String>,
    /// The `aud` claim: set on issued tokens and required on verified ones. Default: none.
    pub audience: Option<String>,
    /// `max-age` of the JWKS response's `Cache-Control`, in seconds, up to 86,400.
    /// Default: 300.
    pub jwks_max_age: u64,
    /// Secret meant to encrypt the stored private keys (the original service's
    /// `JWT_SECRET`). Not used yet: keys are stored unencrypted. Default: none.
    pub key_encryption_secret: Option<String>,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            algorithm: Algorithm::Rs256,
            rsa_bits: 2048,
            token_ttl: 86_400,
            leeway: 60,
            issuer: None,
            audience: None,
            jwks_max_age: 300,
            key_encryption_secret: None,
        }
    }
}

impl std::fmt::Debug for Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let secret = self.key_encryption_secret.as_ref().map(|_| "[redacted]");
        f.debug_struct("Config")
            .field("algorithm", &self.algorithm)
            .field("rsa_bits", &self.rsa_bits)
            .field("token_ttl", &self.token_ttl)
            .field("leeway", &self.leeway)
            .field("issuer", &self.issuer)
            .field("audience", &self.audience)
            .field("jwks_max_age", &self.jwks_max_age)
            .field("key_encryption_secret", &secret)
            .finish()
    }
}

/// Validated settings that the plugin starts with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Settings {
    pub(crate) algorithm: Algorithm,
    pub(crate) rsa_bits: usize,
    pub(crate) token_ttl: Duration,
    pub(crate) leeway: Duration,
    pub(crate) issuer: Option<String>,
    pub(crate) audience: Option<String>,
    pub(crate) jwks_max_age: Duration,
    pub(crate) has_key_encryption_secret: bool,
}

impl Config {
    /// Checks every value against its allowed range and returns the settings to run with.
    ///
    /// # Errors
    ///
    /// [`ConfigError::Invalid`] naming the first key out of range and the allowed values.
    pub(crate) fn validate(self, section: &ConfigSection<'_>) -> Result<Settings, ConfigError> {
        if !RSA_BITS_ALLOWED.contains(&self.rsa_bits) {
            return Err(section.invalid(
                "rsa_bits",
                format!(
                    "{} is not allowed: expected 2048, 3072 or 4096",
                    self.rsa_bits
                ),
            ));
        }
        check_range(section, "token_ttl", self.token_ttl, &TOKEN_TTL_RANGE)?;
        check_range(section, "leeway", self.leeway, &LEEWAY_RANGE)?;
        check_range(
            section,
            "jwks_max_age",
            self.jwks_max_age,
            &(0..=JWKS_MAX_AGE_MAX),
        )?;
        check_not_empty(section, "issuer", self.issuer.as_deref())?;
        check_not_empty(section, "audience", self.audience.as_deref())?;

        let has_key_encryption_secret = self
            .key_encryption_secret
            .as_deref()
            .is_some_and(|secret| !secret.is_empty());
        Ok(Settings {
            algorithm: self.algorithm,
            rsa_bits: self.rsa_bits,
            token_ttl: Duration::from_secs(self.token_ttl),
            leeway: Duration::from_secs(self.leeway),
            issuer: self.issuer,
            audience: self.audience,
            jwks_max_age: Duration::from_secs(self.jwks_max_age),
            has_key_encryption_secret,
        })
    }
}

fn check_range(
    section: &ConfigSection<'_>,
    key: &str,
    value: u64,
    range: &std::ops::RangeInclusive<u64>,
) -> Result<(), ConfigError> {
    if range.contains(&value) {
        return Ok(());
    }
    Err(section.invalid(
        key,
        format!(
            "{value} seconds is out of range: expected {} to {} seconds",
            range.start(),
            range.end()
        ),
    ))
}

fn check_not_empty(
    section: &ConfigSection<'_>,
    key: &str,
    value: Option<&str>,
) -> Result<(), ConfigError> {
    match value {
        Some(text) if text.trim().is_empty() => Err(section.invalid(
            key,
            "must not be empty: remove the key to leave the claim out",
        )),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use figment::Figment;
    use figment::providers::{Format, Toml};

    use super::*;

    fn settings_from(toml: &str) -> Result<Settings, ConfigError> {
        let figment = Figment::from(Toml::string(toml));
        let section = ConfigSection::new(&figment, "jwt");
        section.extract::<Config>()?.validate(&section)
    }

    fn invalid_key(error: &ConfigError) -> &str {
        match error {
            ConfigError::Invalid { key, .. } => key,
            other => panic!("expected an invalid value, got {other}"),
        }
    }

    #[test]
    fn absent_section_gives_defaults() {
        let settings = settings_from("").unwrap();
        assert_eq!(settings.algorithm, Algorithm::Rs256);
        assert_eq!(settings.rsa_bits, 2048);
        assert_eq!(settings.token_ttl, Duration::from_secs(86_400));
        assert_eq!(settings.leeway, Duration::from_secs(60));
        assert_eq!(settings.issuer, None);
        assert_eq!(settings.audience, None);
        assert_eq!(settings.jwks_max_age, Duration::from_secs(300));
        assert!(!settings.has_key_encryption_secret);
    }

    #[test]
    fn every_key_read() {
        let settings = settings_from(
            r#"
            [plugins.jwt]
            enabled = true
            order = 450
            algorithm = "RS256"
            rsa_bits = 3072
            token_ttl = 3600
            leeway = 0
            issuer = "https://auth.example.com"
            audience = "my-app"
            jwks_max_age = 60
            key_encryption_secret = "s3cret"
            "#,
        )
        .unwrap();
        assert_eq!(settings.rsa_bits, 3072);
        assert_eq!(settings.token_ttl, Duration::from_secs(3600));
        assert_eq!(settings.leeway, Duration::ZERO);
        assert_eq!(settings.issuer.as_deref(), Some("https://auth.example.com"));
        assert_eq!(settings.audience.as_deref(), Some("my-app"));
        assert_eq!(settings.jwks_max_age, Duration::from_secs(60));
        assert!(settings.has_key_encryption_secret);
    }

    #[test]
    fn unknown_algorithm_lists_allowed() {
        let error = settings_from("[plugins.jwt]\nalgorithm = \"HS256\"").unwrap_err();
        assert_eq!(invalid_key(&error), "plugins.jwt.algorithm");
        let message = error.to_string();
        assert!(message.contains("HS256"), "{message}");
        assert!(message.contains("RS256"), "{message}");
    }

    #[test]
    fn rsa_bits_outside_list_rejected() {
        for bits in [1024, 2047, 8192] {
            let error = settings_from(&format!("[plugins.jwt]\nrsa_bits = {bits}")).unwrap_err();
            assert_eq!(invalid_key(&error), "plugins.jwt.rsa_bits");
            assert!(error.to_string().contains("2048, 3072 or 4096"), "{error}");
        }
        for bits in [2048, 3072, 4096] {
            let settings = settings_from(&format!("[plugins.jwt]\nrsa_bits = {bits}")).unwrap();
            assert_eq!(settings.rsa_bits, bits);
        }
    }

    #[test]
    fn token_ttl_bounds_checked() {
        for (ttl, valid) in [
            (59, false),
            (60, true),
            (2_592_000, true),
            (2_592_001, false),
        ] {
            let result = settings_from(&format!("[plugins.jwt]\ntoken_ttl = {ttl}"));
            match result {
                Ok(settings) => {
                    assert!(valid, "token_ttl {ttl} accepted");
                    assert_eq!(settings.token_ttl, Duration::from_secs(ttl));
                }
                Err(error) => {
                    assert!(!valid, "token_ttl {ttl} rejected: {error}");
                    assert_eq!(invalid_key(&error), "plugins.jwt.token_ttl");
                    assert!(error.to_string().contains("60 to 2592000"), "{error}");
                }
            }
        }
    }

    #[test]
    fn leeway_bounds_checked() {
        assert_eq!(
            settings_from("[plugins.jwt]\nleeway = 300").unwrap().leeway,
            Duration::from_secs(300)
        );
        let error = settings_from("[plugins.jwt]\nleeway = 301").unwrap_err();
        assert_eq!(invalid_key(&error), "plugins.jwt.leeway");
        let error = settings_from("[plugins.jwt]\nleeway = -1").unwrap_err();
        assert_eq!(invalid_key(&error), "plugins.jwt.leeway");
    }

    #[test]
    fn jwks_max_age_bounded() {
        let error = settings_from("[plugins.jwt]\njwks_max_age = 86401").unwrap_err();
        assert_eq!(invalid_key(&error), "plugins.jwt.jwks_max_age");
        let settings = settings_from("[plugins.jwt]\njwks_max_age = 0").unwrap();
        assert_eq!(settings.jwks_max_age, Duration::ZERO);
    }

    #[test]
    fn empty_issuer_rejected() {
        let error = settings_from("[plugins.jwt]\nissuer = \"\"").unwrap_err();
        assert_eq!(invalid_key(&error), "plugins.jwt.issuer");
        let error = settings_from("[plugins.jwt]\naudience = \" \"").unwrap_err();
        assert_eq!(invalid_key(&error), "plugins.jwt.audience");
    }

    #[test]
    fn empty_secret_counts_as_missing() {
        let settings = settings_from("[plugins.jwt]\nkey_encryption_secret = \"\"").unwrap();
        assert!(!settings.has_key_encryption_secret);
    }

    #[test]
    #[expect(
        clippy::result_large_err,
        reason = "figment::Jail closures return figment::Error"
    )]
    fn unknown_key_named_with_file() {
        figment::Jail::expect_with(|jail| {
            jail.create_file("local.toml", "[plugins.jwt]\ntoken_tll = 60")?;
            let figment = Figment::from(Toml::file("local.toml"));
            let error = ConfigSection::new(&figment, "jwt")
                .extract::<Config>()
                .unwrap_err();
            let ConfigError::UnknownKey { key, origin, .. } = &error else {
                panic!("expected an unknown key, got {error}");
            };
            assert_eq!(key, "plugins.jwt.token_tll");
            assert!(origin.ends_with("local.toml"), "{origin}");
            Ok(())
        });
    }

    #[test]
    #[expect(
        clippy::result_large_err,
        reason = "figment::Jail closures return figment::Error"
    )]
    fn range_error_names_file() {
        figment::Jail::expect_with(|jail| {
            jail.create_file("local.toml", "[plugins.jwt]\nleeway = 600")?;
            let figment = Figment::from(Toml::file("local.toml"));
            let section = ConfigSection::new(&figment, "jwt");
            let error = section
                .extract::<Config>()
                .and_then(|config| config.validate(&section))
                .unwrap_err();
            let ConfigError::Invalid { origin, .. } = &error else {
                panic!("expected an invalid value, got {error}");
            };
            assert!(origin.ends_with("local.toml"), "{origin}");
            Ok(())
        });
    }

    #[test]
    fn debug_redacts_secret() {
        let config = Config {
            key_encryption_secret: Some("s3cret".into()),
            ..Config::default()
        };
        let text = format!("{config:?}");
        assert!(!text.contains("s3cret"), "{text}");
        assert!(text.contains("[redacted]"), "{text}");
    }
}
