//! The `[plugins.jwt]` section and the settings the plugin runs with.

use std::time::Duration;

use latchkey_sdk::{ConfigError, ConfigSection};

use crate::keys::Schedule;
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
    /// ECDSA with P-256 and SHA-256 (RFC 7518 section 3.4).
    #[serde(rename = "ES256")]
    Es256,
}

impl Algorithm {
    /// Returns the JOSE name of the algorithm, as written in the `alg` header.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Rs256 => "RS256",
            Self::Es256 => "ES256",
        }
    }
}

/// The `[plugins.jwt]` config section, with the defaults listed in the crate docs.
#[derive(Clone, PartialEq, Eq, Deserialize)]
#[serde(default)]
pub struct Config {
    /// Signing algorithm of new keys: RS256 or ES256. Default: RS256.
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
    /// Secret the stored private keys are encrypted with (the original service's
    /// `JWT_SECRET`), at least 16 characters. Required in production. Default: none,
    /// which in development uses a random secret kept in the store.
    pub key_encryption_secret: Option<String>,
    /// Time between two keys starting to sign, in seconds. Default: 86,400.
    pub rotate_every: u64,
    /// Time a new key is published in the JWKS before it signs, in seconds. Default:
    /// `jwks_max_age + refresh_every + 60`.
    pub publish_ahead: Option<u64>,
    /// Time a replaced key stays published after its last signature, in seconds.
    /// Default: `token_ttl + leeway + jwks_max_age + refresh_every`.
    pub retain: Option<u64>,
    /// Time between two reads of the key set from the store, in seconds. Default: 10.
    pub refresh_every: u64,
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
            rotate_every: 86_400,
            publish_ahead: None,
            retain: None,
            refresh_every: 10,
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
            .field("rotate_every", &self.rotate_every)
            .field("publish_ahead", &self.publish_ahead)
            .field("retain", &self.retain)
            .field("refresh_every", &self.refresh_every)
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
    pub(crate) key_encryption_secret: Option<Secret>,
    pub(crate) schedule: Schedule,
    pub(crate) refresh_every: Duration,
}

/// A secret from config, shown as `[redacted]` by `Debug`.
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct Secret(pub(crate) String);

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("[redacted]")
    }
}

/// Longest `retain`, in seconds: a year. Keys kept longer would pile up in the JWKS.
const RETAIN_MAX: u64 = 31_536_000 + 86_400;

/// Shortest `key_encryption_secret`, in characters.
const MIN_SECRET_CHARS: usize = 16;

impl Config {
    /// Checks every value against its allowed range and returns the settings to run with.
    ///
    /// # Errors
    ///
    /// [`ConfigError::Invalid`] naming the first key out of range and the allowed values.
    pub(crate) fn validate(
        self,
        section: &ConfigSection<'_>,
        production: bool,
    ) -> Result<Settings, ConfigError> {
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

        let schedule = self.schedule(section)?;
        // An empty secret, as an empty JWT_SECRET gives, counts as none.
        let secret = match self
            .key_encryption_secret
            .filter(|secret| !secret.is_empty())
        {
            Some(secret) if secret.trim().chars().count() < MIN_SECRET_CHARS => {
                return Err(section.invalid(
                    "key_encryption_secret",
                    format!(
                        "is shorter than {MIN_SECRET_CHARS} characters: set a random secret, \
                         like the output of openssl rand -base64 32"
                    ),
                ));
            }
            Some(secret) => Some(Secret(secret)),
            None if production => {
                return Err(section.invalid(
                    "key_encryption_secret",
                    "is not set, and the production profile needs it to encrypt the stored \
                     signing keys: set JWT_SECRET or this key to a random secret",
                ));
            }
            None => None,
        };
        Ok(Settings {
            algorithm: self.algorithm,
            rsa_bits: self.rsa_bits,
            token_ttl: Duration::from_secs(self.token_ttl),
            leeway: Duration::from_secs(self.leeway),
            issuer: self.issuer,
            audience: self.audience,
            jwks_max_age: Duration::from_secs(self.jwks_max_age),
            key_encryption_secret: secret,
            schedule,
            refresh_every: Duration::from_secs(self.refresh_every),
        })
    }

    /// Checks the rotation settings against each other, so that no valid token can meet a
    /// JWKS without its key, and returns the schedule.
    fn schedule(&self, section: &ConfigSection<'_>) -> Result<Schedule, ConfigError> {
        check_range(section, "refresh_every", self.refresh_every, &(1..=3600))?;
        check_range(
            section,
            "rotate_every",
            self.rotate_every,
            &(60..=31_536_000),
        )?;
        // A verifier may have cached the JWKS just before a new key was published, and an
        // instance may serve a set up to `refresh_every` old.
        let publish_floor = self.jwks_max_age + self.refresh_every;
        let publish_ahead = self.publish_ahead.unwrap_or(publish_floor + 60);
        if publish_ahead < publish_floor {
            return Err(section.invalid(
                "publish_ahead",
                format!(
                    "{publish_ahead} seconds is shorter than jwks_max_age + refresh_every \
                     ({publish_floor} s): a verifier could still hold a JWKS without the \
                     next key when it starts signing"
                ),
            ));
        }
        if publish_ahead >= self.rotate_every {
            let derived = if self.publish_ahead.is_none() {
                " (the default, jwks_max_age + refresh_every + 60)"
            } else {
                ""
            };
            return Err(section.invalid(
                "publish_ahead",
                format!(
                    "{publish_ahead} seconds{derived} is not shorter than rotate_every ({} s): \
                     a key must be published before the next rotation is due; raise \
                     rotate_every or lower jwks_max_age",
                    self.rotate_every
                ),
            ));
        }
        // A token signed just before the key was replaced is accepted until its `exp`
        // plus the leeway, and a lagging instance may sign with it `refresh_every` later.
        let retain_floor = self.token_ttl + self.leeway + self.jwks_max_age + self.refresh_every;
        let retain = self.retain.unwrap_or(retain_floor);
        if retain < retain_floor {
            return Err(section.invalid(
                "retain",
                format!(
                    "{retain} seconds is shorter than token_ttl + leeway + jwks_max_age + \
                     refresh_every ({retain_floor} s): a valid token could meet a JWKS \
                     without its key"
                ),
            ));
        }
        check_range(section, "retain", retain, &(retain_floor..=RETAIN_MAX))?;
        Ok(Schedule {
            rotate_every: Duration::from_secs(self.rotate_every),
            publish_ahead: Duration::from_secs(publish_ahead),
            retain: Duration::from_secs(retain),
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
        section.extract::<Config>()?.validate(&section, false)
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
        assert!(settings.key_encryption_secret.is_none());
        assert_eq!(settings.schedule.rotate_every, Duration::from_secs(86_400));
        assert_eq!(settings.schedule.publish_ahead, Duration::from_secs(370));
        assert_eq!(settings.schedule.retain, Duration::from_secs(86_770));
        assert_eq!(settings.refresh_every, Duration::from_secs(10));
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
            key_encryption_secret = "s3cret-of-16-chars"
            rotate_every = 7200
            publish_ahead = 600
            retain = 4000
            refresh_every = 5
            "#,
        )
        .unwrap();
        assert_eq!(settings.rsa_bits, 3072);
        assert_eq!(settings.token_ttl, Duration::from_secs(3600));
        assert_eq!(settings.leeway, Duration::ZERO);
        assert_eq!(settings.issuer.as_deref(), Some("https://auth.example.com"));
        assert_eq!(settings.audience.as_deref(), Some("my-app"));
        assert_eq!(settings.jwks_max_age, Duration::from_secs(60));
        assert!(settings.key_encryption_secret.is_some());
        assert_eq!(settings.schedule.rotate_every, Duration::from_secs(7200));
        assert_eq!(settings.schedule.publish_ahead, Duration::from_secs(600));
        assert_eq!(settings.schedule.retain, Duration::from_secs(4000));
        assert_eq!(settings.refresh_every, Duration::from_secs(5));
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
        assert!(settings.key_encryption_secret.is_none());
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
                .and_then(|config| config.validate(&section, false))
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

    #[test]
    fn unsafe_schedules_name_the_rule() {
        for (toml, key, rule) in [
            (
                "publish_ahead = 100",
                "publish_ahead",
                "jwks_max_age + refresh_every",
            ),
            (
                "rotate_every = 300\npublish_ahead = 400",
                "publish_ahead",
                "rotate_every",
            ),
            ("retain = 3600", "retain", "token_ttl + leeway"),
            (
                "token_ttl = 3600\nretain = 3900",
                "retain",
                "token_ttl + leeway",
            ),
            ("refresh_every = 0", "refresh_every", "out of range"),
        ] {
            let error = settings_from(&format!("[plugins.jwt]\n{toml}")).unwrap_err();
            assert_eq!(invalid_key(&error), format!("plugins.jwt.{key}"), "{toml}");
            assert!(error.to_string().contains(rule), "{toml}: {error}");
        }
        assert!(settings_from("[plugins.jwt]\ntoken_ttl = 3600\nretain = 4000").is_ok());
    }

    #[test]
    fn production_needs_a_long_enough_secret() {
        let figment = Figment::from(Toml::string(""));
        let section = ConfigSection::new(&figment, "jwt");
        let error = Config::default().validate(&section, true).unwrap_err();
        assert_eq!(invalid_key(&error), "plugins.jwt.key_encryption_secret");
        let short = Config {
            key_encryption_secret: Some("short".into()),
            ..Config::default()
        };
        let error = short.validate(&section, false).unwrap_err();
        assert!(error.to_string().contains("16 characters"), "{error}");
    }
}
