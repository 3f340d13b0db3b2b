//! The `[plugins.security_headers]` section and the header sets the hoop applies.

use std::collections::BTreeMap;

use latchkey_sdk::salvo::http::{HeaderName, HeaderValue};
use latchkey_sdk::{ConfigError, ConfigSection};
use serde::Deserialize;

/// The default `Content-Security-Policy` of HTML responses: everything from the page's own
/// origin, no inline script or style, no plugins, and no framing.
pub const DEFAULT_CONTENT_SECURITY_POLICY: &str = "default-src 'self'; script-src 'self'; \
     style-src 'self'; img-src 'self' data:; connect-src 'self'; object-src 'none'; \
     base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

/// The headers set on every response unless config changes them.
const DEFAULT_HEADERS: [(&str, &str); 8] = [
    ("x-frame-options", "DENY"),
    ("x-xss-protection", "1; mode=block"),
    ("x-content-type-options", "nosniff"),
    (
        "strict-transport-security",
        "max-age=31536000; includeSubDomains; preload",
    ),
    (
        "permissions-policy",
        "geolocation=(), camera=(), microphone=(), payment=(), usb=(), \
         interest-cohort=(), fullscreen=(self)",
    ),
    (
        "cache-control",
        "no-store, no-cache, must-revalidate, proxy-revalidate",
    ),
    ("pragma", "no-cache"),
    ("expires", "0"),
];

/// The `[plugins.security_headers]` config section, with the defaults listed in the
/// crate docs.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default)]
pub struct Config {
    /// Headers set on every response, by name, merged over the defaults. An empty value
    /// removes a default header.
    pub headers: BTreeMap<String, String>,
    /// `Content-Security-Policy` of `text/html` responses. Empty sends none. Default:
    /// [`DEFAULT_CONTENT_SECURITY_POLICY`].
    pub content_security_policy: String,
    /// Changes for requests under a path prefix. The longest matching prefix applies.
    pub paths: Vec<PathConfig>,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            headers: DEFAULT_HEADERS
                .iter()
                .map(|(name, value)| ((*name).to_owned(), (*value).to_owned()))
                .collect(),
            content_security_policy: DEFAULT_CONTENT_SECURITY_POLICY.to_owned(),
            paths: Vec::new(),
        }
    }
}

/// One `[[plugins.security_headers.paths]]` table.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PathConfig {
    /// Path prefix, starting with `/`, matched by whole segments.
    pub path_prefix: String,
    /// Headers merged over the top-level `headers` for these paths; empty removes one.
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// `Content-Security-Policy` of HTML responses under the prefix. Default: the
    /// top-level one.
    #[serde(default)]
    pub content_security_policy: Option<String>,
}

/// The headers of one scope: every response, or the requests under one prefix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct HeaderSet {
    /// Headers set on every response, in name order.
    pub(crate) headers: Vec<(HeaderName, HeaderValue)>,
    /// `Content-Security-Policy` of HTML responses, if any.
    pub(crate) content_security_policy: Option<HeaderValue>,
}

impl HeaderSet {
    /// Returns the value this set gives header `name`, if it sets it.
    pub(crate) fn get(&self, name: &HeaderName) -> Option<&HeaderValue> {
        self.headers
            .iter()
            .find(|(candidate, _)| candidate == name)
            .map(|(_, value)| value)
    }
}

/// The validated section.
#[derive(Debug, Clone)]
pub(crate) struct Policy {
    pub(crate) everywhere: HeaderSet,
    /// Prefixed sets, longest prefix first.
    pub(crate) paths: Vec<(String, HeaderSet)>,
}

impl Policy {
    /// Returns the header set of a request for `path`.
    pub(crate) fn for_path(&self, path: &str) -> &HeaderSet {
        self.paths
            .iter()
            .find(|(prefix, _)| prefix_matches(prefix, path))
            .map_or(&self.everywhere, |(_, set)| set)
    }
}

/// Returns whether `path` is under `prefix`, comparing whole segments.
fn prefix_matches(prefix: &str, path: &str) -> bool {
    let Some(rest) = path.strip_prefix(prefix.trim_end_matches('/')) else {
        return false;
    };
    rest.is_empty() || rest.starts_with('/') || prefix.ends_with('/')
}

/// Header names and values as config writes them, before validation.
type RawHeaders = BTreeMap<String, Option<String>>;

impl Config {
    /// Checks every header name and value and returns the policy to run with.
    ///
    /// # Errors
    ///
    /// [`ConfigError::Invalid`] naming the first bad key.
    pub(crate) fn validate(self, section: &ConfigSection<'_>) -> Result<Policy, ConfigError> {
        let mut merged: RawHeaders = Self::default()
            .headers
            .into_iter()
            .map(|(name, value)| (name, Some(value)))
            .collect();
        overlay(&mut merged, self.headers, section, "headers")?;
        let everywhere = header_set(
            section,
            "headers",
            &merged,
            &self.content_security_policy,
            "content_security_policy",
        )?;

        let mut paths = Vec::with_capacity(self.paths.len());
        for (index, entry) in self.paths.into_iter().enumerate() {
            let key = format!("paths[{index}]");
            if !entry.path_prefix.starts_with('/') {
                return Err(section.invalid(
                    &format!("{key}.path_prefix"),
                    format!("{:?} must start with /", entry.path_prefix),
                ));
            }
            if paths.iter().any(|(prefix, _)| *prefix == entry.path_prefix) {
                return Err(section.invalid(
                    &format!("{key}.path_prefix"),
                    format!("{:?} is listed twice: merge the entries", entry.path_prefix),
                ));
            }
            let mut scoped = merged.clone();
            overlay(
                &mut scoped,
                entry.headers,
                section,
                &format!("{key}.headers"),
            )?;
            let csp = entry
                .content_security_policy
                .unwrap_or_else(|| self.content_security_policy.clone());
            let set = header_set(
                section,
                &format!("{key}.headers"),
                &scoped,
                &csp,
                &format!("{key}.content_security_policy"),
            )?;
            paths.push((entry.path_prefix, set));
        }
        paths.sort_by_key(|(prefix, _)| std::cmp::Reverse(prefix.len()));
        Ok(Policy { everywhere, paths })
    }
}

/// Merges `changes` over `headers`: a value replaces, an empty value removes. Names are
/// compared case-insensitively, as HTTP does.
fn overlay(
    headers: &mut RawHeaders,
    changes: BTreeMap<String, String>,
    section: &ConfigSection<'_>,
    key: &str,
) -> Result<(), ConfigError> {
    for (name, value) in changes {
        let lower = name.to_ascii_lowercase();
        if lower == "content-security-policy" {
            return Err(section.invalid(
                &format!("{key}.{name}"),
                "set the policy with content_security_policy, which applies it to HTML responses",
            ));
        }
        headers.insert(lower, (!value.is_empty()).then_some(value));
    }
    Ok(())
}

fn header_set(
    section: &ConfigSection<'_>,
    headers_key: &str,
    headers: &RawHeaders,
    csp: &str,
    csp_key: &str,
) -> Result<HeaderSet, ConfigError> {
    let mut parsed = Vec::with_capacity(headers.len());
    for (name, value) in headers {
        let Some(value) = value else { continue };
        let key = format!("{headers_key}.{name}");
        let header_name = HeaderName::from_bytes(name.as_bytes()).map_err(|_| {
            section.invalid(&key, format!("{name:?} is not a valid HTTP header name"))
        })?;
        let header_value = HeaderValue::from_str(value).map_err(|_| {
            section.invalid(
                &key,
                format!("{value:?} is not a valid header value: use visible ASCII only"),
            )
        })?;
        parsed.push((header_name, header_value));
    }
    let content_security_policy = if csp.is_empty() {
        None
    } else {
        Some(HeaderValue::from_str(csp).map_err(|_| {
            section.invalid(
                csp_key,
                format!("{csp:?} is not a valid header value: use visible ASCII only"),
            )
        })?)
    };
    Ok(HeaderSet {
        headers: parsed,
        content_security_policy,
    })
}

#[cfg(test)]
mod tests {
    use figment::Figment;
    use figment::providers::{Format, Toml};

    use super::*;

    fn policy(toml: &str) -> Result<Policy, ConfigError> {
        let figment = Figment::from(Toml::string(toml));
        let section = ConfigSection::new(&figment, "security_headers");
        section.extract::<Config>()?.validate(&section)
    }

    fn value<'a>(set: &'a HeaderSet, name: &str) -> Option<&'a str> {
        let name = HeaderName::from_bytes(name.as_bytes()).unwrap();
        set.get(&name).map(|value| value.to_str().unwrap())
    }

    #[test]
    fn defaults_set_every_header() {
        let policy = policy("").unwrap();
        let set = &policy.everywhere;
        assert_eq!(set.headers.len(), DEFAULT_HEADERS.len());
        assert_eq!(value(set, "x-frame-options"), Some("DENY"));
        assert_eq!(value(set, "expires"), Some("0"));
        assert_eq!(
            set.content_security_policy.as_ref().unwrap(),
            DEFAULT_CONTENT_SECURITY_POLICY
        );
    }

    #[test]
    fn header_replaced_added_and_removed() {
        let policy = policy(
            "[plugins.security_headers.headers]\nX-Frame-Options = \"SAMEORIGIN\"\n\
             x-xss-protection = \"\"\nreferrer-policy = \"no-referrer\"\n",
        )
        .unwrap();
        let set = &policy.everywhere;
        assert_eq!(value(set, "x-frame-options"), Some("SAMEORIGIN"));
        assert_eq!(value(set, "x-xss-protection"), None);
        assert_eq!(value(set, "referrer-policy"), Some("no-referrer"));
        assert_eq!(value(set, "x-content-type-options"), Some("nosniff"));
    }

    #[test]
    fn longest_prefix_applies() {
        let policy = policy(
            "[[plugins.security_headers.paths]]\npath_prefix = \"/a\"\n\
             headers = { x-frame-options = \"SAMEORIGIN\" }\n\
             [[plugins.security_headers.paths]]\npath_prefix = \"/a/b\"\n\
             headers = { pragma = \"\" }\ncontent_security_policy = \"\"\n",
        )
        .unwrap();
        let a = policy.for_path("/a/x");
        assert_eq!(value(a, "x-frame-options"), Some("SAMEORIGIN"));
        assert_eq!(value(a, "pragma"), Some("no-cache"));
        let b = policy.for_path("/a/b/c");
        assert_eq!(value(b, "x-frame-options"), Some("DENY"));
        assert_eq!(value(b, "pragma"), None);
        assert!(b.content_security_policy.is_none());
        assert_eq!(
            value(policy.for_path("/ab"), "x-frame-options"),
            Some("DENY")
        );
    }

    #[test]
    fn invalid_header_name_named() {
        let error = policy("[plugins.security_headers.headers]\n\"bad name\" = \"x\"\n")
            .unwrap_err()
            .to_string();
        assert!(
            error.contains("plugins.security_headers.headers.bad name"),
            "{error}"
        );
    }

    #[test]
    fn invalid_header_value_named() {
        let error = policy("[plugins.security_headers.headers]\nx-test = \"a\\nb\"\n")
            .unwrap_err()
            .to_string();
        assert!(
            error.contains("plugins.security_headers.headers.x-test"),
            "{error}"
        );
    }

    #[test]
    fn csp_in_headers_rejected() {
        let error = policy(
            "[plugins.security_headers.headers]\ncontent-security-policy = \"default-src *\"\n",
        )
        .unwrap_err()
        .to_string();
        assert!(error.contains("content_security_policy"), "{error}");
    }

    #[test]
    fn relative_path_prefix_rejected() {
        let error = policy("[[plugins.security_headers.paths]]\npath_prefix = \"api\"\n")
            .unwrap_err()
            .to_string();
        assert!(
            error.contains("plugins.security_headers.paths[0].path_prefix"),
            "{error}"
        );
    }

    #[test]
    fn duplicate_path_prefix_rejected() {
        let error = policy(
            "[[plugins.security_headers.paths]]\npath_prefix = \"/a\"\n\
             [[plugins.security_headers.paths]]\npath_prefix = \"/a\"\n",
        )
        .unwrap_err()
        .to_string();
        assert!(error.contains("paths[1].path_prefix"), "{error}");
    }
}
