//! The `[plugins.cors]` section and the policy the hoop runs with.

use latchkey_sdk::salvo::http::{HeaderName, Method};
use latchkey_sdk::{ConfigError, ConfigSection, HostSettings};
use serde::Deserialize;
use url::Url;

use crate::origin::AllowedOrigin;

/// Origins every deployment allows by default besides its own public URL: Privy's auth
/// and console apps, which call Latchkey from the browser.
const PRIVY_ORIGINS: [&str; 2] = ["https://auth.privy.io", "https://console.privy.io"];

/// The origin of a local front-end dev server, allowed in the development profile only.
const DEVELOPMENT_ORIGIN: &str = "http://localhost:3000";

/// Longest `max_age` accepted, in seconds: a day. Browsers cap it lower anyway
/// (Chromium at 2 hours).
const MAX_MAX_AGE: u32 = 86_400;

/// The `[plugins.cors]` config section, with the defaults listed in the crate docs.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default)]
pub struct Config {
    /// Origins allowed to read responses: exact origins such as `https://app.example.com`,
    /// or subdomain patterns such as `https://*.example.com`. Default: `server.public_url`,
    /// `https://auth.privy.io`, `https://console.privy.io`, and in the development profile
    /// `http://localhost:3000`.
    pub allowed_origins: Option<Vec<String>>,
    /// Methods a preflight may ask for. Default: GET, HEAD, POST, DELETE.
    pub allowed_methods: Vec<String>,
    /// Request headers a preflight may ask for, case-insensitive. Default:
    /// Authorization, Content-Type, X-Privy-Token, X-Privy-Client-ID.
    pub allowed_headers: Vec<String>,
    /// Response headers that scripts of an allowed origin may read. Default: the request
    /// ID, rate-limit and `Retry-After` headers.
    pub exposed_headers: Vec<String>,
    /// Whether allowed origins may send cookies and `Authorization` (sends
    /// `Access-Control-Allow-Credentials: true`). Default: true.
    pub allow_credentials: bool,
    /// `Access-Control-Max-Age`: how long a browser may reuse a preflight, in seconds, 0 to
    /// 86,400. Default: 600.
    pub max_age: u32,
    /// Whether the `null` origin of sandboxed frames, `file:` pages and some redirects is
    /// allowed. Any site can make its requests carry it. Default: false.
    pub danger_allow_null_origin: bool,
}

impl Default for Config {
    fn default() -> Self {
        let strings = |list: &[&str]| list.iter().map(|&item| item.to_owned()).collect();
        Self {
            allowed_origins: None,
            allowed_methods: strings(&["GET", "HEAD", "POST", "PATCH", "DELETE"]),
            allowed_headers: strings(&[
                "Authorization",
                "Content-Type",
                "X-Privy-Token",
                "X-Privy-Client-ID",
            ]),
            exposed_headers: strings(&[
                "X-Request-Id",
                "X-RateLimit-Limit",
                "X-RateLimit-Remaining",
                "X-RateLimit-Reset",
                "Retry-After",
            ]),
            allow_credentials: true,
            max_age: 600,
            danger_allow_null_origin: false,
        }
    }
}

/// The validated section.
#[derive(Debug, Clone)]
pub(crate) struct CorsPolicy {
    pub(crate) origins: Vec<AllowedOrigin>,
    pub(crate) allow_null_origin: bool,
    pub(crate) methods: Vec<Method>,
    pub(crate) headers: Vec<HeaderName>,
    pub(crate) exposed_headers: Vec<HeaderName>,
    pub(crate) allow_credentials: bool,
    pub(crate) max_age: u32,
}

impl CorsPolicy {
    /// Returns whether a request's `Origin` value is allowed.
    pub(crate) fn allows_origin(&self, origin: &str) -> bool {
        if origin == "null" {
            return self.allow_null_origin;
        }
        self.origins.iter().any(|allowed| allowed.matches(origin))
    }
}

impl Config {
    /// Checks every entry and returns the policy to run with.
    ///
    /// # Errors
    ///
    /// [`ConfigError::Invalid`] naming the first bad key, with the index of a bad entry.
    pub(crate) fn validate(
        self,
        section: &ConfigSection<'_>,
        host: &HostSettings,
    ) -> Result<CorsPolicy, ConfigError> {
        let origins = match self.allowed_origins {
            Some(entries) => parse_origins(section, &entries)?,
            None => default_origins(section, host)?,
        };
        let methods = parse_list(section, "allowed_methods", &self.allowed_methods, |name| {
            Method::from_bytes(name.as_bytes()).ok()
        })?;
        let headers = parse_list(section, "allowed_headers", &self.allowed_headers, |name| {
            HeaderName::from_bytes(name.as_bytes()).ok()
        })?;
        let exposed_headers =
            parse_list(section, "exposed_headers", &self.exposed_headers, |name| {
                HeaderName::from_bytes(name.as_bytes()).ok()
            })?;
        if self.max_age > MAX_MAX_AGE {
            return Err(section.invalid(
                "max_age",
                format!(
                    "{} is out of range: expected 0 to {MAX_MAX_AGE}",
                    self.max_age
                ),
            ));
        }
        Ok(CorsPolicy {
            origins,
            allow_null_origin: self.danger_allow_null_origin,
            methods,
            headers,
            exposed_headers,
            allow_credentials: self.allow_credentials,
            max_age: self.max_age,
        })
    }
}

fn parse_origins(
    section: &ConfigSection<'_>,
    entries: &[String],
) -> Result<Vec<AllowedOrigin>, ConfigError> {
    entries
        .iter()
        .enumerate()
        .map(|(index, entry)| {
            AllowedOrigin::parse(entry).map_err(|message| ConfigError::Invalid {
                key: section.key_path(&format!("allowed_origins[{index}]")),
                origin: section.origin_of("allowed_origins"),
                message,
            })
        })
        .collect()
}

fn default_origins(
    section: &ConfigSection<'_>,
    host: &HostSettings,
) -> Result<Vec<AllowedOrigin>, ConfigError> {
    let public_origin = Url::parse(&host.public_url)
        .map(|url| url.origin().ascii_serialization())
        .map_err(|error| {
            section.invalid(
                "allowed_origins",
                format!(
                    "the default list starts with server.public_url, {:?}, which is not a \
                     URL ({error}): fix it or set allowed_origins",
                    host.public_url
                ),
            )
        })?;
    let mut origins = vec![AllowedOrigin::Exact(public_origin)];
    let mut others: Vec<&str> = PRIVY_ORIGINS.to_vec();
    if host.profile == "development" {
        others.push(DEVELOPMENT_ORIGIN);
    }
    for origin in others {
        let origin = AllowedOrigin::Exact(origin.to_owned());
        if !origins.contains(&origin) {
            origins.push(origin);
        }
    }
    Ok(origins)
}

/// Parses every entry of list `key` with `parse`, rejecting `*` and entries it cannot
/// parse.
fn parse_list<T>(
    section: &ConfigSection<'_>,
    key: &str,
    entries: &[String],
    parse: impl Fn(&str) -> Option<T>,
) -> Result<Vec<T>, ConfigError> {
    let mut parsed = Vec::with_capacity(entries.len());
    for (index, entry) in entries.iter().enumerate() {
        let error = |message: String| ConfigError::Invalid {
            key: section.key_path(&format!("{key}[{index}]")),
            origin: section.origin_of(key),
            message,
        };
        if entry == "*" {
            return Err(error(
                "\"*\" is not allowed: browsers read it as a name on requests with \
                 credentials, so list each entry"
                    .to_owned(),
            ));
        }
        parsed.push(parse(entry).ok_or_else(|| error(format!("{entry:?} is not a valid name")))?);
    }
    Ok(parsed)
}

#[cfg(test)]
mod tests {
    use figment::Figment;
    use figment::providers::{Format, Toml};

    use super::*;

    fn policy(profile: &str, toml: &str) -> Result<CorsPolicy, ConfigError> {
        let figment = Figment::from(Toml::string(toml));
        let section = ConfigSection::new(&figment, "cors");
        let host = HostSettings::new(profile, "https://login.example.com");
        section.extract::<Config>()?.validate(&section, &host)
    }

    #[test]
    fn default_origins_follow_profile() {
        let development = policy("development", "").unwrap();
        assert!(development.allows_origin("https://login.example.com"));
        assert!(development.allows_origin("https://auth.privy.io"));
        assert!(development.allows_origin("https://console.privy.io"));
        assert!(development.allows_origin("http://localhost:3000"));
        assert!(!development.allows_origin("null"));

        let production = policy("production", "").unwrap();
        assert!(production.allows_origin("https://auth.privy.io"));
        assert!(!production.allows_origin("http://localhost:3000"));
    }

    #[test]
    fn configured_origins_replace_defaults() {
        let policy = policy(
            "development",
            "[plugins.cors]\nallowed_origins = [\"https://*.example.org\"]\n",
        )
        .unwrap();
        assert!(policy.allows_origin("https://app.example.org"));
        assert!(!policy.allows_origin("https://auth.privy.io"));
    }

    #[test]
    fn null_origin_only_when_dangerous_flag_set() {
        let policy = policy(
            "development",
            "[plugins.cors]\ndanger_allow_null_origin = true\n",
        )
        .unwrap();
        assert!(policy.allows_origin("null"));
    }

    #[test]
    fn wildcard_origin_rejected_naming_key() {
        let error = policy(
            "development",
            "[plugins.cors]\nallowed_origins = [\"https://a.example\", \"*\"]\n",
        )
        .unwrap_err()
        .to_string();
        assert!(error.contains("plugins.cors.allowed_origins[1]"), "{error}");
        assert!(error.contains("credentials"), "{error}");
    }

    #[test]
    fn wildcard_header_rejected_naming_key() {
        let error = policy("development", "[plugins.cors]\nallowed_headers = [\"*\"]\n")
            .unwrap_err()
            .to_string();
        assert!(error.contains("plugins.cors.allowed_headers[0]"), "{error}");
    }

    #[test]
    fn invalid_method_rejected_naming_key() {
        let error = policy(
            "development",
            "[plugins.cors]\nallowed_methods = [\"GE T\"]\n",
        )
        .unwrap_err()
        .to_string();
        assert!(error.contains("plugins.cors.allowed_methods[0]"), "{error}");
    }

    #[test]
    fn long_max_age_rejected_naming_key() {
        let error = policy("development", "[plugins.cors]\nmax_age = 86401\n")
            .unwrap_err()
            .to_string();
        assert!(error.contains("plugins.cors.max_age"), "{error}");
    }
}
