//! `[plugins.revocation]`: refresh tokens and their lifetime.

use std::time::Duration;

use latchkey_sdk::{ConfigError, ConfigSection};
use serde::Deserialize;

/// Longest refresh token lifetime accepted: a year.
const MAX_REFRESH_TOKEN_TTL: u64 = 366 * 24 * 3600;

/// The section as written in config.
#[derive(Debug, Deserialize)]
#[serde(default)]
pub(crate) struct Config {
    /// Whether logins also return a refresh token. Default: true.
    pub(crate) refresh_tokens: bool,
    /// Lifetime of a refresh token, in seconds, renewed by every refresh. Default: 30 days.
    pub(crate) refresh_token_ttl: u64,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            refresh_tokens: true,
            refresh_token_ttl: 30 * 24 * 3600,
        }
    }
}

/// The validated settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Policy {
    /// `refresh_tokens`.
    pub(crate) refresh_tokens: bool,
    /// `refresh_token_ttl`.
    pub(crate) refresh_token_ttl: Duration,
}

impl Config {
    /// Checks the values and returns the policy.
    pub(crate) fn validate(self, section: &ConfigSection<'_>) -> Result<Policy, ConfigError> {
        if !(60..=MAX_REFRESH_TOKEN_TTL).contains(&self.refresh_token_ttl) {
            return Err(section.invalid(
                "refresh_token_ttl",
                format!("must be 60 to {MAX_REFRESH_TOKEN_TTL} seconds"),
            ));
        }
        Ok(Policy {
            refresh_tokens: self.refresh_tokens,
            refresh_token_ttl: Duration::from_secs(self.refresh_token_ttl),
        })
    }
}

#[cfg(test)]
mod tests {
    use figment::Figment;
    use figment::providers::{Format, Toml};

    use super::*;

    fn policy(toml: &str) -> Result<Policy, String> {
        let figment = Figment::from(Toml::string(toml));
        let section = ConfigSection::new(&figment, "revocation");
        let config: Config = section.extract().map_err(|error| error.to_string())?;
        config.validate(&section).map_err(|error| error.to_string())
    }

    #[test]
    fn defaults_keep_sessions_for_a_month() {
        let policy = policy("").unwrap();
        assert!(policy.refresh_tokens);
        assert_eq!(policy.refresh_token_ttl, Duration::from_secs(2_592_000));
    }

    #[test]
    fn out_of_range_lifetime_named() {
        for value in ["0", "59", "99999999"] {
            let toml = format!("[plugins.revocation]\nrefresh_token_ttl = {value}");
            let error = policy(&toml).unwrap_err();
            assert!(error.contains("refresh_token_ttl"), "{error}");
        }
    }

    #[test]
    fn unknown_key_refused() {
        let error = policy("[plugins.revocation]\nrefresh_ttl = 60").unwrap_err();
        assert!(error.contains("refresh_ttl"), "{error}");
    }
}
