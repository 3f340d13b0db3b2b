//! The `[plugins.passkey]` section and its validation into a [`PasskeyPolicy`].

use std::time::Duration;

use latchkey_sdk::{ConfigError, ConfigSection, HostSettings};
use serde::Deserialize;
use url::{Host, Url};
use webauthn_rs_proto::{AuthenticatorAttachment, ResidentKeyRequirement, UserVerificationPolicy};

use crate::quirks::{QuirkAction, QuirkPolicy};

/// Maximum authenticator timeout and challenge lifetime, in seconds.
const MAX_SECONDS: u64 = 600;

/// `[plugins.passkey]`, as written in config. [`Config::validate`] turns it into the
/// [`PasskeyPolicy`] the plugin runs with.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default)]
pub(crate) struct Config {
    /// Relying party ID: a domain name. Default: the host of `server.public_url`.
    pub(crate) rp_id: Option<String>,
    /// Relying party name shown by authenticators. Default: "Latchkey".
    pub(crate) rp_name: String,
    /// Origins allowed to run ceremonies. Default: `[server.public_url]`.
    pub(crate) origins: Option<Vec<String>>,
    /// User verification requested and enforced. Default: preferred.
    pub(crate) user_verification: UserVerification,
    /// Authenticator attachment requested at registration. Default: none.
    pub(crate) authenticator_attachment: Option<Attachment>,
    /// Resident (discoverable) key requirement at registration. Default: required.
    pub(crate) resident_key: ResidentKey,
    /// Authenticator timeout put in the options, in seconds. Default: 150.
    pub(crate) timeout: u64,
    /// Lifetime of a ceremony challenge in the store, in seconds. Default: 150.
    pub(crate) challenge_ttl: u64,
    /// Apple app ID (`TEAMID.bundle.id`) for the app site association. Default: none.
    pub(crate) apple_app_id: Option<String>,
    /// Actions for authenticators that break the rules.
    pub(crate) quirks: QuirkConfig,
    /// Serve the account routes under `/api/auth/me`. Default: true.
    pub(crate) account_routes: bool,
    /// Let a user delete their last passkey, which leaves the account unusable.
    /// Default: false.
    pub(crate) allow_deleting_last_credential: bool,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            rp_id: None,
            rp_name: "Latchkey".to_owned(),
            origins: None,
            user_verification: UserVerification::Preferred,
            authenticator_attachment: None,
            resident_key: ResidentKey::Required,
            timeout: 150,
            challenge_ttl: 150,
            apple_app_id: None,
            quirks: QuirkConfig::default(),
            account_routes: true,
            allow_deleting_last_credential: false,
        }
    }
}

/// `[plugins.passkey.quirks]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub(crate) struct QuirkConfig {
    /// A nonzero counter not above the stored one, or a zero after a nonzero. Default: reject.
    pub(crate) counter_regression: QuirkAction,
    /// A counter that stays zero. Default: accept.
    pub(crate) counter_zero: QuirkAction,
    /// Backup eligibility different from the stored value. Default: warn.
    pub(crate) backup_eligibility_change: QuirkAction,
}

impl Default for QuirkConfig {
    fn default() -> Self {
        Self {
            counter_regression: QuirkAction::Reject,
            counter_zero: QuirkAction::Accept,
            backup_eligibility_change: QuirkAction::Warn,
        }
    }
}

/// Config values of `user_verification`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum UserVerification {
    /// Every ceremony must verify the user.
    Required,
    /// Ask for verification, and require it at login once a credential registered with it.
    Preferred,
    /// Ask authenticators not to verify the user.
    Discouraged,
}

/// Config values of `authenticator_attachment`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub(crate) enum Attachment {
    /// An authenticator built into the device.
    Platform,
    /// A roaming authenticator, such as a security key or a phone.
    CrossPlatform,
}

/// Config values of `resident_key`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum ResidentKey {
    /// The credential must be discoverable, which usernameless login needs.
    Required,
    /// Ask for a discoverable credential.
    Preferred,
    /// Ask for a server-side credential.
    Discouraged,
}

/// The validated settings the passkey plugin runs with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct PasskeyPolicy {
    /// Relying party ID, a lowercase domain name.
    pub(crate) rp_id: String,
    /// Relying party name.
    pub(crate) rp_name: String,
    /// Allowed origins, deduplicated, each matched exactly on scheme, host and port.
    pub(crate) origins: Vec<Url>,
    /// User verification policy of both ceremonies.
    pub(crate) user_verification: UserVerificationPolicy,
    /// Authenticator attachment requested at registration.
    pub(crate) authenticator_attachment: Option<AuthenticatorAttachment>,
    /// Resident key requirement requested at registration.
    pub(crate) resident_key: ResidentKeyRequirement,
    /// Authenticator timeout put in the options.
    pub(crate) timeout: Duration,
    /// Lifetime of a ceremony challenge.
    pub(crate) challenge_ttl: Duration,
    /// Apple app ID, when the app site association is served.
    pub(crate) apple_app_id: Option<String>,
    /// Actions for authenticator quirks.
    pub(crate) quirks: QuirkPolicy,
    /// Whether the account routes are served.
    pub(crate) account_routes: bool,
    /// Whether a user may delete their last passkey.
    pub(crate) allow_deleting_last_credential: bool,
}

impl Config {
    /// Validates the config read from `section` into the policy the plugin runs with,
    /// taking defaults for `rp_id` and `origins` from `host`.
    pub(crate) fn validate(
        self,
        section: &ConfigSection<'_>,
        host: &HostSettings,
    ) -> Result<PasskeyPolicy, ConfigError> {
        let rp_id = match self.rp_id {
            Some(rp_id) => {
                check_rp_id(&rp_id).map_err(|message| section.invalid("rp_id", message))?
            }
            None => default_rp_id(&host.public_url)
                .map_err(|message| section.invalid("rp_id", message))?,
        };
        let origins = match self.origins {
            Some(origins) => check_origins(&origins, &rp_id)
                .map_err(|message| section.invalid("origins", message))?,
            None => check_origins(std::slice::from_ref(&host.public_url), &rp_id).map_err(
                |message| {
                    section.invalid(
                        "origins",
                        format!(
                            "the default origin {:?}, taken from server.public_url, is invalid \
                             ({message}): set plugins.passkey.origins or change rp_id",
                            host.public_url
                        ),
                    )
                },
            )?,
        };

        if self.rp_name.trim().is_empty() {
            return Err(section.invalid(
                "rp_name",
                "must not be empty: set a name such as \"Latchkey\"",
            ));
        }
        let timeout =
            check_seconds(self.timeout).map_err(|message| section.invalid("timeout", message))?;
        let challenge_ttl = check_seconds(self.challenge_ttl)
            .map_err(|message| section.invalid("challenge_ttl", message))?;
        if let Some(app_id) = &self.apple_app_id {
            check_apple_app_id(app_id)
                .map_err(|message| section.invalid("apple_app_id", message))?;
        }

        Ok(PasskeyPolicy {
            rp_id,
            rp_name: self.rp_name,
            origins,
            user_verification: self.user_verification.into(),
            authenticator_attachment: self.authenticator_attachment.map(Into::into),
            resident_key: self.resident_key.into(),
            timeout,
            challenge_ttl,
            apple_app_id: self.apple_app_id,
            quirks: self.quirks.into(),
            account_routes: self.account_routes,
            allow_deleting_last_credential: self.allow_deleting_last_credential,
        })
    }
}

/// Checks that `rp_id` is a bare, lowercase domain name and returns it.
fn check_rp_id(rp_id: &str) -> Result<String, String> {
    if rp_id.is_empty() {
        return Err("must not be empty: set a domain name such as example.com".to_owned());
    }
    if rp_id.contains("://") {
        return Err(format!(
            "{rp_id:?} has a scheme: set only the domain name, such as example.com"
        ));
    }
    if rp_id.contains('/') {
        return Err(format!(
            "{rp_id:?} has a path: set only the domain name, such as example.com"
        ));
    }
    if rp_id.contains(':') {
        return Err(format!(
            "{rp_id:?} has a port: set only the domain name, since the RP ID covers every port"
        ));
    }
    match Host::parse(rp_id) {
        Ok(Host::Domain(domain)) if domain == rp_id => Ok(domain),
        Ok(Host::Domain(domain)) => Err(format!(
            "{rp_id:?} is not in canonical form: write it as {domain:?}"
        )),
        Ok(Host::Ipv4(_) | Host::Ipv6(_)) => Err(format!(
            "{rp_id:?} is an IP address, which browsers reject as an RP ID: set a domain name"
        )),
        Err(error) => Err(format!("{rp_id:?} is not a valid domain name ({error})")),
    }
}

/// Derives the default RP ID from the host of `public_url`.
fn default_rp_id(public_url: &str) -> Result<String, String> {
    let host = Url::parse(public_url)
        .ok()
        .and_then(|url| url.host_str().map(str::to_owned));
    let Some(host) = host else {
        return Err(format!(
            "server.public_url {public_url:?} has no host to take the default from: set rp_id"
        ));
    };
    check_rp_id(&host).map_err(|message| {
        format!("the default, the host of server.public_url, is invalid: {message}")
    })
}

/// Parses and checks every origin against `rp_id`, dropping duplicates.
fn check_origins(origins: &[String], rp_id: &str) -> Result<Vec<Url>, String> {
    if origins.is_empty() {
        return Err("must list at least one origin, such as \"https://example.com\"".to_owned());
    }
    let mut checked: Vec<Url> = Vec::with_capacity(origins.len());
    for origin in origins {
        let url = check_origin(origin, rp_id)?;
        if !checked.contains(&url) {
            checked.push(url);
        }
    }
    Ok(checked)
}

/// Parses one origin: a URL with no path beyond `/`, no query, fragment or credentials,
/// https (or http for `localhost`), whose host is `rp_id` or a subdomain of it.
fn check_origin(origin: &str, rp_id: &str) -> Result<Url, String> {
    let url = Url::parse(origin)
        .map_err(|error| format!("origin {origin:?} is not a valid URL ({error})"))?;
    let Some(host) = url.host_str() else {
        return Err(format!("origin {origin:?} has no host"));
    };

    let scheme_allowed = match url.scheme() {
        "https" => true,
        "http" => host == "localhost",
        _ => false,
    };
    if !scheme_allowed {
        return Err(format!(
            "origin {origin:?} must use https (http is allowed only for localhost)"
        ));
    }
    if url.path() != "/" || url.query().is_some() || url.fragment().is_some() {
        return Err(format!(
            "origin {origin:?} must not have a path, query or fragment: write scheme, host and port only"
        ));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(format!("origin {origin:?} must not contain credentials"));
    }
    let within_rp_id = host == rp_id
        || host
            .strip_suffix(rp_id)
            .is_some_and(|prefix| prefix.ends_with('.'));
    if !within_rp_id {
        return Err(format!(
            "origin {origin:?} is not on rp_id {rp_id:?} or a subdomain of it"
        ));
    }
    Ok(url)
}

/// Checks a duration in seconds against 1 to [`MAX_SECONDS`].
fn check_seconds(seconds: u64) -> Result<Duration, String> {
    if (1..=MAX_SECONDS).contains(&seconds) {
        Ok(Duration::from_secs(seconds))
    } else {
        Err(format!(
            "{seconds} is out of range: set between 1 and {MAX_SECONDS} seconds"
        ))
    }
}

/// Checks the `TEAMID.bundle.identifier` shape of an Apple app ID.
fn check_apple_app_id(app_id: &str) -> Result<(), String> {
    let valid = app_id.split_once('.').is_some_and(|(team, bundle)| {
        !team.is_empty()
            && team.chars().all(|c| c.is_ascii_alphanumeric())
            && !bundle.is_empty()
            && bundle
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '-')
    });
    if valid {
        Ok(())
    } else {
        Err(format!(
            "{app_id:?} is not an app ID: write the team ID, a dot and the bundle ID, such as ABCDE12345.com.example.app"
        ))
    }
}

impl From<UserVerification> for UserVerificationPolicy {
    fn from(value: UserVerification) -> Self {
        match value {
            UserVerification::Required => Self::Required,
            UserVerification::Preferred => Self::Preferred,
            UserVerification::Discouraged => Self::Discouraged_DO_NOT_USE,
        }
    }
}

impl From<Attachment> for AuthenticatorAttachment {
    fn from(value: Attachment) -> Self {
        match value {
            Attachment::Platform => Self::Platform,
            Attachment::CrossPlatform => Self::CrossPlatform,
        }
    }
}

impl From<ResidentKey> for ResidentKeyRequirement {
    fn from(value: ResidentKey) -> Self {
        match value {
            ResidentKey::Required => Self::Required,
            ResidentKey::Preferred => Self::Preferred,
            ResidentKey::Discouraged => Self::Discouraged,
        }
    }
}

impl From<QuirkConfig> for QuirkPolicy {
    fn from(value: QuirkConfig) -> Self {
        Self {
            counter_regression: value.counter_regression,
            counter_zero: value.counter_zero,
            backup_eligibility_change: value.backup_eligibility_change,
        }
    }
}

#[cfg(test)]
mod tests {
    use figment::Figment;
    use figment::providers::{Format, Toml};

    use super::*;

    const PUBLIC_URL: &str = "https://auth.example.com";

    fn host() -> HostSettings {
        HostSettings::new("production", PUBLIC_URL)
    }

    fn validate_with(toml: &str, host: &HostSettings) -> Result<PasskeyPolicy, ConfigError> {
        let figment = Figment::from(Toml::string(toml));
        let section = ConfigSection::new(&figment, "passkey");
        let config: Config = section.extract()?;
        config.validate(&section, host)
    }

    fn validate(toml: &str) -> Result<PasskeyPolicy, ConfigError> {
        validate_with(toml, &host())
    }

    /// Returns the key and message of an invalid-value error.
    fn invalid(toml: &str) -> (String, String) {
        match validate(toml) {
            Err(ConfigError::Invalid { key, message, .. }) => (key, message),
            other => panic!("expected an invalid value for {toml:?}, got {other:?}"),
        }
    }

    #[test]
    fn defaults_follow_public_url() {
        let policy = validate("").unwrap();
        assert_eq!(policy.rp_id, "auth.example.com");
        assert_eq!(policy.rp_name, "Latchkey");
        assert_eq!(policy.origins, vec![Url::parse(PUBLIC_URL).unwrap()]);
        assert_eq!(policy.user_verification, UserVerificationPolicy::Preferred);
        assert_eq!(policy.authenticator_attachment, None);
        assert_eq!(policy.resident_key, ResidentKeyRequirement::Required);
        assert_eq!(policy.timeout, Duration::from_secs(150));
        assert_eq!(policy.challenge_ttl, Duration::from_secs(150));
        assert_eq!(policy.apple_app_id, None);
    }

    #[test]
    fn default_quirk_actions() {
        let quirks = validate("").unwrap().quirks;
        assert_eq!(quirks.counter_regression, QuirkAction::Reject);
        assert_eq!(quirks.counter_zero, QuirkAction::Accept);
        assert_eq!(quirks.backup_eligibility_change, QuirkAction::Warn);
    }

    #[test]
    fn default_config_matches_serde_default() {
        let figment = Figment::new();
        let config: Config = ConfigSection::new(&figment, "passkey").extract().unwrap();
        assert_eq!(config, Config::default());
    }

    #[test]
    fn localhost_public_url_gives_localhost_rp_id() {
        let host = HostSettings::new("development", "http://localhost:8080");
        let policy = validate_with("", &host).unwrap();
        assert_eq!(policy.rp_id, "localhost");
        assert_eq!(policy.origins[0].as_str(), "http://localhost:8080/");
    }

    #[test]
    fn ip_public_url_needs_rp_id() {
        let host = HostSettings::new("development", "http://127.0.0.1:8080");
        let error = validate_with("", &host).unwrap_err();
        let message = error.to_string();
        assert!(message.contains("plugins.passkey.rp_id"), "{message}");
        assert!(message.contains("IP address"), "{message}");
    }

    #[test]
    fn settings_read_from_section() {
        let policy = validate(
            r#"[plugins.passkey]
            rp_id = "example.com"
            rp_name = "Example"
            origins = ["https://example.com", "https://app.example.com:8443"]
            user_verification = "required"
            authenticator_attachment = "cross-platform"
            resident_key = "preferred"
            timeout = 60
            challenge_ttl = 300
            apple_app_id = "ABCDE12345.com.example.app"

            [plugins.passkey.quirks]
            counter_regression = "warn"
            counter_zero = "reject"
            backup_eligibility_change = "accept"
            "#,
        )
        .unwrap();
        assert_eq!(policy.rp_id, "example.com");
        assert_eq!(policy.rp_name, "Example");
        assert_eq!(policy.origins.len(), 2);
        assert_eq!(policy.origins[1].port(), Some(8443));
        assert_eq!(policy.user_verification, UserVerificationPolicy::Required);
        assert_eq!(
            policy.authenticator_attachment,
            Some(AuthenticatorAttachment::CrossPlatform)
        );
        assert_eq!(policy.resident_key, ResidentKeyRequirement::Preferred);
        assert_eq!(policy.timeout, Duration::from_secs(60));
        assert_eq!(policy.challenge_ttl, Duration::from_secs(300));
        assert_eq!(
            policy.apple_app_id.as_deref(),
            Some("ABCDE12345.com.example.app")
        );
        assert_eq!(policy.quirks.counter_regression, QuirkAction::Warn);
        assert_eq!(policy.quirks.counter_zero, QuirkAction::Reject);
        assert_eq!(policy.quirks.backup_eligibility_change, QuirkAction::Accept);
    }

    #[test]
    fn discouraged_user_verification_maps() {
        let policy = validate("[plugins.passkey]\nuser_verification = \"discouraged\"").unwrap();
        assert_eq!(
            policy.user_verification,
            UserVerificationPolicy::Discouraged_DO_NOT_USE
        );
    }

    #[test]
    fn rp_id_with_scheme_rejected() {
        let (key, message) = invalid("[plugins.passkey]\nrp_id = \"https://example.com\"");
        assert_eq!(key, "plugins.passkey.rp_id");
        assert!(message.contains("scheme"), "{message}");
    }

    #[test]
    fn rp_id_with_path_rejected() {
        let (key, message) = invalid("[plugins.passkey]\nrp_id = \"example.com/login\"");
        assert_eq!(key, "plugins.passkey.rp_id");
        assert!(message.contains("path"), "{message}");
    }

    #[test]
    fn rp_id_with_port_rejected() {
        let (key, message) = invalid("[plugins.passkey]\nrp_id = \"example.com:443\"");
        assert_eq!(key, "plugins.passkey.rp_id");
        assert!(message.contains("port"), "{message}");
    }

    #[test]
    fn empty_rp_id_rejected() {
        let (key, message) = invalid("[plugins.passkey]\nrp_id = \"\"");
        assert_eq!(key, "plugins.passkey.rp_id");
        assert!(message.contains("empty"), "{message}");
    }

    #[test]
    fn uppercase_rp_id_rejected() {
        let (key, message) = invalid("[plugins.passkey]\nrp_id = \"Example.com\"");
        assert_eq!(key, "plugins.passkey.rp_id");
        assert!(message.contains("\"example.com\""), "{message}");
    }

    #[test]
    fn origin_trailing_slash_normalized() {
        let policy = validate(
            "[plugins.passkey]\norigins = [\"https://auth.example.com/\", \"https://auth.example.com\"]",
        )
        .unwrap();
        assert_eq!(policy.origins, vec![Url::parse(PUBLIC_URL).unwrap()]);
    }

    #[test]
    fn duplicate_origins_deduplicated() {
        let policy = validate(
            "[plugins.passkey]\norigins = [\"https://auth.example.com\", \"https://auth.example.com:443\"]",
        )
        .unwrap();
        assert_eq!(policy.origins.len(), 1);
    }

    #[test]
    fn origin_with_path_rejected() {
        let (key, message) =
            invalid("[plugins.passkey]\norigins = [\"https://auth.example.com/login\"]");
        assert_eq!(key, "plugins.passkey.origins");
        assert!(message.contains("path"), "{message}");
    }

    #[test]
    fn origin_with_query_or_fragment_rejected() {
        for origin in [
            "https://auth.example.com/?a=1",
            "https://auth.example.com/#top",
        ] {
            let (key, message) = invalid(&format!("[plugins.passkey]\norigins = [\"{origin}\"]"));
            assert_eq!(key, "plugins.passkey.origins");
            assert!(message.contains(origin), "{message}");
        }
    }

    #[test]
    fn http_origin_rejected_outside_localhost() {
        let (key, message) = invalid("[plugins.passkey]\norigins = [\"http://auth.example.com\"]");
        assert_eq!(key, "plugins.passkey.origins");
        assert!(message.contains("https"), "{message}");
    }

    #[test]
    fn http_localhost_origin_accepted() {
        let policy = validate(
            "[plugins.passkey]\nrp_id = \"localhost\"\norigins = [\"http://localhost:3000\"]",
        )
        .unwrap();
        assert_eq!(policy.origins[0].port(), Some(3000));
    }

    #[test]
    fn origin_outside_rp_id_rejected() {
        let (key, message) = invalid(
            "[plugins.passkey]\nrp_id = \"example.com\"\norigins = [\"https://badexample.com\"]",
        );
        assert_eq!(key, "plugins.passkey.origins");
        assert!(message.contains("subdomain"), "{message}");
    }

    #[test]
    fn subdomain_origin_accepted() {
        let policy = validate(
            "[plugins.passkey]\nrp_id = \"example.com\"\norigins = [\"https://login.example.com\"]",
        )
        .unwrap();
        assert_eq!(policy.origins[0].host_str(), Some("login.example.com"));
    }

    #[test]
    fn unparsable_origin_rejected() {
        let (key, message) = invalid("[plugins.passkey]\norigins = [\"auth.example.com\"]");
        assert_eq!(key, "plugins.passkey.origins");
        assert!(message.contains("not a valid URL"), "{message}");
    }

    #[test]
    fn empty_origins_rejected() {
        let (key, message) = invalid("[plugins.passkey]\norigins = []");
        assert_eq!(key, "plugins.passkey.origins");
        assert!(message.contains("at least one"), "{message}");
    }

    #[test]
    fn timeouts_out_of_range_rejected() {
        for (setting, value) in [
            ("timeout", 0),
            ("timeout", 601),
            ("challenge_ttl", 0),
            ("challenge_ttl", 601),
        ] {
            let (key, message) = invalid(&format!("[plugins.passkey]\n{setting} = {value}"));
            assert_eq!(key, format!("plugins.passkey.{setting}"));
            assert!(message.contains("between 1 and 600"), "{message}");
        }
    }

    #[test]
    fn timeout_bounds_accepted() {
        let policy = validate("[plugins.passkey]\ntimeout = 1\nchallenge_ttl = 600").unwrap();
        assert_eq!(policy.timeout, Duration::from_secs(1));
        assert_eq!(policy.challenge_ttl, Duration::from_secs(600));
    }

    #[test]
    fn empty_rp_name_rejected() {
        let (key, _) = invalid("[plugins.passkey]\nrp_name = \" \"");
        assert_eq!(key, "plugins.passkey.rp_name");
    }

    #[test]
    fn malformed_apple_app_id_rejected() {
        for app_id in [
            "",
            "ABCDE12345",
            "ABCDE12345.",
            "ABC DE.com.example",
            ".com.example",
        ] {
            let (key, _) = invalid(&format!("[plugins.passkey]\napple_app_id = \"{app_id}\""));
            assert_eq!(key, "plugins.passkey.apple_app_id", "{app_id:?}");
        }
    }

    #[test]
    fn wrong_enum_value_names_allowed_values() {
        let (key, message) = invalid("[plugins.passkey]\nuser_verification = \"always\"");
        assert_eq!(key, "plugins.passkey.user_verification");
        assert!(message.contains("required"), "{message}");
        assert!(message.contains("discouraged"), "{message}");
    }

    #[test]
    fn wrong_quirk_action_rejected() {
        let (key, message) = invalid("[plugins.passkey.quirks]\ncounter_zero = \"ignore\"");
        assert_eq!(key, "plugins.passkey.quirks.counter_zero");
        assert!(message.contains("warn"), "{message}");
    }

    #[test]
    fn unknown_quirk_key_rejected() {
        let error = validate("[plugins.passkey.quirks]\ncounter_drift = \"warn\"").unwrap_err();
        let message = error.to_string();
        assert!(message.contains("counter_drift"), "{message}");
    }

    #[test]
    fn unknown_top_level_key_rejected() {
        let error = validate("[plugins.passkey]\nrp_idd = \"example.com\"").unwrap_err();
        assert!(
            matches!(&error, ConfigError::UnknownKey { key, .. } if key == "plugins.passkey.rp_idd"),
            "{error}"
        );
    }

    #[test]
    fn host_keys_accepted() {
        let policy = validate("[plugins.passkey]\nenabled = true\norder = 10").unwrap();
        assert_eq!(policy.rp_id, "auth.example.com");
    }
}
