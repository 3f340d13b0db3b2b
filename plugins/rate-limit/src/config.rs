//! The `[plugins.rate_limit]` section and the policy the hoop runs with.

use std::collections::HashSet;
use std::time::Duration;

use latchkey_sdk::salvo::http::Method;
use latchkey_sdk::salvo::routing::decode_url_path;
use latchkey_sdk::{ConfigError, ConfigSection, HostSettings};
use serde::Deserialize;

use crate::client_key::ClientResolver;

/// Method names that `methods` accepts, the methods of RFC 9110 section 9 and PATCH.
const KNOWN_METHODS: [&str; 9] = [
    "GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH",
];

/// The `[plugins.rate_limit]` config section, with the defaults listed in the crate docs.
///
/// Unknown keys are rejected by [`ConfigSection::extract`], which also accepts the host
/// keys `enabled` and `order`, so the struct does not deny them itself.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default)]
pub struct Config {
    /// Rules, evaluated in order. A request counts against every rule that matches it.
    pub rules: Vec<RuleConfig>,
    /// Prefix length that IPv6 clients are grouped by, 1 to 128. Default: 64.
    pub ipv6_prefix: u8,
    /// Header that trusted proxies write the client address to. Default:
    /// `x-forwarded-for`.
    pub forwarded_header: ForwardedHeader,
    /// Whether responses also carry the IETF `RateLimit-Policy` and `RateLimit` headers.
    /// Default: false.
    pub ietf_headers: bool,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            rules: vec![
                RuleConfig::new("global", "/", 100, 900, OnStoreError::Allow),
                RuleConfig::new("auth", "/api/auth", 5, 3600, OnStoreError::Deny),
            ],
            ipv6_prefix: 64,
            forwarded_header: ForwardedHeader::XForwardedFor,
            ietf_headers: false,
        }
    }
}

/// One `[[plugins.rate_limit.rules]]` table.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleConfig {
    /// Name of the rule, unique, used in store keys and logs.
    pub name: String,
    /// Path prefix the rule applies to, starting with `/`. It matches whole segments, so
    /// `/api` covers `/api` and `/api/x` but not `/apix`.
    pub path_prefix: String,
    /// Methods the rule applies to, such as `["GET", "POST"]`. Default: every method.
    #[serde(default)]
    pub methods: Vec<String>,
    /// Requests (or cost units) a client may spend per window, at least 1.
    pub limit: u32,
    /// Length of the window, in seconds, at least 1.
    pub window: u32,
    /// Identity of the client a counter belongs to. Default: `ip`.
    #[serde(default)]
    pub key: KeyKind,
    /// Units each request spends, 1 to `limit`. Default: 1.
    #[serde(default = "default_cost")]
    pub cost: u32,
    /// Action on a request when the store fails. Default: `deny`.
    #[serde(default)]
    pub on_store_error: OnStoreError,
}

impl RuleConfig {
    fn new(
        name: &str,
        path_prefix: &str,
        limit: u32,
        window: u32,
        on_store_error: OnStoreError,
    ) -> Self {
        Self {
            name: name.to_owned(),
            path_prefix: path_prefix.to_owned(),
            methods: Vec::new(),
            limit,
            window,
            key: KeyKind::Ip,
            cost: default_cost(),
            on_store_error,
        }
    }
}

fn default_cost() -> u32 {
    1
}

/// Identity of the client a counter belongs to.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum KeyKind {
    /// The client address, IPv6 grouped by `ipv6_prefix`.
    #[default]
    Ip,
    /// The client address and the request path, so each path has its own counter.
    IpPath,
    /// The `sub` of the request's Bearer token, so a user has one counter on every
    /// address; the client address for a request without a valid, unrevoked token.
    Subject,
}

/// Action of a rule on a request when the store cannot count it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OnStoreError {
    /// Let the request through uncounted.
    Allow,
    /// Respond with 503 `store_unavailable`.
    #[default]
    Deny,
}

/// The header that trusted proxies append the address of their client to.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
pub enum ForwardedHeader {
    /// `X-Forwarded-For: <client>, <proxy1>, ...`.
    #[default]
    #[serde(rename = "x-forwarded-for")]
    XForwardedFor,
    /// `Forwarded: for=<client>, for=<proxy1>` (RFC 7239).
    #[serde(rename = "forwarded")]
    Forwarded,
}

/// A validated rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Rule {
    pub(crate) name: String,
    pub(crate) path_prefix: String,
    /// Empty for every method.
    pub(crate) methods: Vec<Method>,
    pub(crate) limit: u32,
    pub(crate) window: Duration,
    pub(crate) key: KeyKind,
    pub(crate) cost: u32,
    pub(crate) on_store_error: OnStoreError,
}

impl Rule {
    /// Returns whether the rule applies to a request with `method` and `path`.
    pub(crate) fn matches(&self, method: &Method, path: &str) -> bool {
        let method_matches = self.methods.is_empty() || self.methods.contains(method);
        method_matches && prefix_matches(&self.path_prefix, path)
    }
}

/// Returns `path`, a request's raw URI path, spelled the way salvo's router reads it: each
/// segment percent-decoded and empty segments dropped. Rules match on this form and
/// per-path counters are keyed by it, so `//api/%61uth` counts as `/api/auth`.
pub(crate) fn routed_path(path: &str) -> String {
    let mut routed = String::with_capacity(path.len());
    for segment in path.split('/').filter(|segment| !segment.is_empty()) {
        routed.push('/');
        routed.push_str(&decode_url_path(segment));
    }
    if routed.is_empty() {
        routed.push('/');
    }
    routed
}

/// Returns whether `path` is under `prefix`, comparing whole segments.
fn prefix_matches(prefix: &str, path: &str) -> bool {
    let Some(rest) = path.strip_prefix(prefix.trim_end_matches('/')) else {
        return false;
    };
    rest.is_empty() || rest.starts_with('/') || prefix.ends_with('/')
}

/// The validated section: the rules in order and who a client is.
#[derive(Debug, Clone)]
pub(crate) struct Policy {
    pub(crate) rules: Vec<Rule>,
    pub(crate) resolver: ClientResolver,
    pub(crate) ietf_headers: bool,
}

impl Config {
    /// Checks every rule and returns the policy to run with.
    ///
    /// # Errors
    ///
    /// [`ConfigError::Invalid`] naming the first bad key, and for a rule its index and name.
    pub(crate) fn validate(
        self,
        section: &ConfigSection<'_>,
        host: &HostSettings,
    ) -> Result<Policy, ConfigError> {
        if !(1..=128).contains(&self.ipv6_prefix) {
            return Err(section.invalid(
                "ipv6_prefix",
                format!("{} is out of range: expected 1 to 128", self.ipv6_prefix),
            ));
        }
        let mut names = HashSet::new();
        let mut rules = Vec::with_capacity(self.rules.len());
        for (index, rule) in self.rules.into_iter().enumerate() {
            let rule = validate_rule(section, index, rule)?;
            if !names.insert(rule.name.clone()) {
                return Err(rule_error(
                    section,
                    index,
                    &rule.name,
                    "name",
                    "is used by an earlier rule: give every rule its own name",
                ));
            }
            rules.push(rule);
        }
        let resolver = ClientResolver::new(
            &host.trusted_proxies,
            self.ipv6_prefix,
            self.forwarded_header,
        )
        .map_err(|cidr| ConfigError::Invalid {
            key: "server.trusted_proxies".to_owned(),
            origin: "server settings".to_owned(),
            message: format!("{cidr:?} is not a CIDR like 10.0.0.0/8"),
        })?;
        Ok(Policy {
            rules,
            resolver,
            ietf_headers: self.ietf_headers,
        })
    }
}

fn validate_rule(
    section: &ConfigSection<'_>,
    index: usize,
    rule: RuleConfig,
) -> Result<Rule, ConfigError> {
    let name = rule.name.as_str();
    let fail = |key: &str, message: String| rule_error(section, index, name, key, &message);
    if name.trim().is_empty() {
        return Err(fail("name", "must not be empty".to_owned()));
    }

    if !name
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
    {
        return Err(fail(
            "name",
            "may contain only ASCII letters, digits, '_' and '-'".to_owned(),
        ));
    }

    if !rule.path_prefix.starts_with('/') {
        return Err(fail(
            "path_prefix",
            format!("{:?} does not start with '/'", rule.path_prefix),
        ));
    }
    if rule.limit == 0 {
        return Err(fail("limit", "is 0: expected at least 1".to_owned()));
    }
    if rule.window == 0 {
        return Err(fail(
            "window",
            "is 0 seconds: expected at least 1".to_owned(),
        ));
    }
    if rule.cost == 0 || rule.cost > rule.limit {
        return Err(fail(
            "cost",
            format!("is {}: expected 1 to the limit, {}", rule.cost, rule.limit),
        ));
    }

    let mut methods = Vec::with_capacity(rule.methods.len());
    for method in &rule.methods {
        let upper = method.to_ascii_uppercase();
        let known = KNOWN_METHODS.contains(&upper.as_str());
        let Some(parsed) = known
            .then(|| Method::from_bytes(upper.as_bytes()).ok())
            .flatten()
        else {
            return Err(fail(
                "methods",
                format!(
                    "{method:?} is not an HTTP method: expected {}",
                    KNOWN_METHODS.join(", ")
                ),
            ));
        };
        methods.push(parsed);
    }

    Ok(Rule {
        name: rule.name,
        path_prefix: rule.path_prefix,
        methods,
        limit: rule.limit,
        window: Duration::from_secs(u64::from(rule.window)),
        key: rule.key,
        cost: rule.cost,
        on_store_error: rule.on_store_error,
    })
}

/// Builds the error for `key` of the rule at `index`, naming the rule in the key path and
/// in the message.
fn rule_error(
    section: &ConfigSection<'_>,
    index: usize,
    name: &str,
    key: &str,
    message: &str,
) -> ConfigError {
    ConfigError::Invalid {
        key: section.key_path(&format!("rules[{index}].{key}")),
        origin: section.origin_of("rules"),
        message: format!("rule {name:?}: {key} {message}"),
    }
}

#[cfg(test)]
mod tests {
    use figment::Figment;
    use figment::providers::{Format, Toml};

    use super::*;

    fn policy_from(toml: &str) -> Result<Policy, ConfigError> {
        let figment = Figment::from(Toml::string(toml));
        let section = ConfigSection::new(&figment, "rate_limit");
        let host = HostSettings::new("development", "http://localhost:8080");
        section.extract::<Config>()?.validate(&section, &host)
    }

    /// Returns the error of a section with one rule named `login` on `/api` whose other
    /// keys are `fields`.
    fn rule_error_of(fields: &str) -> String {
        let toml = format!(
            "[[plugins.rate_limit.rules]]\nname = \"login\"\npath_prefix = \"/api\"\n{fields}"
        );
        match policy_from(&toml) {
            Ok(policy) => panic!("rule with {fields:?} accepted: {policy:?}"),
            Err(error) => error.to_string(),
        }
    }

    #[test]
    fn absent_section_gives_defaults() {
        let policy = policy_from("").unwrap();
        assert_eq!(policy.rules.len(), 2);
        let global = &policy.rules[0];
        assert_eq!(global.name, "global");
        assert_eq!(global.path_prefix, "/");
        assert_eq!(global.limit, 100);
        assert_eq!(global.window, Duration::from_secs(900));
        assert_eq!(global.on_store_error, OnStoreError::Allow);
        let auth = &policy.rules[1];
        assert_eq!(auth.name, "auth");
        assert_eq!(auth.path_prefix, "/api/auth");
        assert_eq!(auth.limit, 5);
        assert_eq!(auth.window, Duration::from_secs(3600));
        assert_eq!(auth.on_store_error, OnStoreError::Deny);
        assert!(!policy.ietf_headers);
    }

    #[test]
    fn default_toml_matches_default() {
        let toml = include_str!("../../../config/default.toml");
        let figment = Figment::from(Toml::string(toml));
        let section = ConfigSection::new(&figment, "rate_limit");
        assert_eq!(section.extract::<Config>().unwrap(), Config::default());
    }

    #[test]
    fn every_rule_key_read() {
        let policy = policy_from(
            r#"
            [plugins.rate_limit]
            ipv6_prefix = 56
            forwarded_header = "forwarded"
            ietf_headers = true
            [[plugins.rate_limit.rules]]
            name = "login"
            path_prefix = "/api/auth/login-passkey"
            methods = ["post", "GET"]
            limit = 10
            window = 60
            key = "ip_path"
            cost = 2
            on_store_error = "allow"
            "#,
        )
        .unwrap();
        assert!(policy.ietf_headers);
        let [rule] = policy.rules.as_slice() else {
            panic!("expected one rule, got {:?}", policy.rules);
        };
        assert_eq!(rule.methods, [Method::POST, Method::GET]);
        assert_eq!(rule.key, KeyKind::IpPath);
        assert_eq!(rule.cost, 2);
        assert_eq!(rule.on_store_error, OnStoreError::Allow);
    }

    #[test]
    fn omitted_rule_keys_defaulted() {
        let policy = policy_from(
            "[[plugins.rate_limit.rules]]\nname = \"a\"\npath_prefix = \"/\"\nlimit = 3\n\
             window = 1",
        )
        .unwrap();
        let rule = &policy.rules[0];
        assert!(rule.methods.is_empty());
        assert_eq!(rule.key, KeyKind::Ip);
        assert_eq!(rule.cost, 1);
        assert_eq!(rule.on_store_error, OnStoreError::Deny);
    }

    #[test]
    fn bad_rules_named_in_error() {
        let cases = [
            ("limit = 0\nwindow = 60", "rules[0].limit"),
            ("limit = 10\nwindow = 0", "rules[0].window"),
            ("limit = 10\nwindow = 60\ncost = 0", "rules[0].cost"),
            ("limit = 10\nwindow = 60\ncost = 11", "rules[0].cost"),
            (
                "limit = 10\nwindow = 60\nmethods = [\"FETCH\"]",
                "rules[0].methods",
            ),
            (
                "limit = 10\nwindow = 60\nmethods = [\"\"]",
                "rules[0].methods",
            ),
        ];
        for (fields, key) in cases {
            let message = rule_error_of(fields);
            assert!(message.contains(key), "{fields}: {message}");
            assert!(message.contains("rule \"login\""), "{fields}: {message}");
        }
    }

    #[test]
    fn rule_type_errors_name_key() {
        // Unknown keys, values of the wrong type and missing keys fail in serde.
        let message = rule_error_of("limit = 10\nwindow = 60\nburst = 3");
        assert!(message.contains("burst"), "{message}");
        let message = rule_error_of("limit = -1\nwindow = 60");
        assert!(message.contains("limit"), "{message}");
        let message = rule_error_of("limit = 10\nwindow = 60\non_store_error = \"ignore\"");
        assert!(message.contains("on_store_error"), "{message}");
        let message = rule_error_of("window = 60");
        assert!(message.contains("limit"), "{message}");
    }

    #[test]
    fn path_prefix_without_slash_rejected() {
        let error = policy_from(
            "[[plugins.rate_limit.rules]]\nname = \"a\"\npath_prefix = \"api\"\nlimit = 1\n\
             window = 1",
        )
        .unwrap_err()
        .to_string();
        assert!(error.contains("rules[0].path_prefix"), "{error}");
        assert!(error.contains("rule \"a\""), "{error}");
    }

    #[test]
    fn empty_or_odd_name_rejected() {
        for name in ["", "  ", "a:b", "a b"] {
            let error = policy_from(&format!(
                "[[plugins.rate_limit.rules]]\nname = \"{name}\"\npath_prefix = \"/\"\n\
                 limit = 1\nwindow = 1"
            ))
            .unwrap_err()
            .to_string();
            assert!(error.contains("rules[0].name"), "{name:?}: {error}");
        }
    }

    #[test]
    fn duplicate_name_rejected() {
        let error = policy_from(
            "[[plugins.rate_limit.rules]]\nname = \"a\"\npath_prefix = \"/\"\nlimit = 1\n\
             window = 1\n[[plugins.rate_limit.rules]]\nname = \"a\"\npath_prefix = \"/x\"\n\
             limit = 1\nwindow = 1",
        )
        .unwrap_err()
        .to_string();
        assert!(error.contains("rules[1].name"), "{error}");
        assert!(error.contains("rule \"a\""), "{error}");
        assert!(error.contains("earlier rule"), "{error}");
    }

    #[test]
    fn ipv6_prefix_bounded() {
        for prefix in [0, 129] {
            let error = policy_from(&format!("[plugins.rate_limit]\nipv6_prefix = {prefix}"))
                .unwrap_err()
                .to_string();
            assert!(error.contains("plugins.rate_limit.ipv6_prefix"), "{error}");
        }
        assert!(policy_from("[plugins.rate_limit]\nipv6_prefix = 128").is_ok());
    }

    #[test]
    fn empty_rule_list_accepted() {
        let policy = policy_from("[plugins.rate_limit]\nrules = []").unwrap();
        assert!(policy.rules.is_empty());
    }

    #[test]
    fn routed_path_decodes_and_drops_empty_segments() {
        for spelling in [
            "/api/auth/challenge/login",
            "//api/auth/challenge/login",
            "/%61pi/auth/challenge/login",
            "/api//auth/challenge/login",
            "/api/%61uth/challenge/login/",
        ] {
            assert_eq!(
                routed_path(spelling),
                "/api/auth/challenge/login",
                "{spelling}"
            );
        }
        assert_eq!(routed_path(""), "/");
        assert_eq!(routed_path("//"), "/");
        assert_eq!(
            routed_path("/.well-known/%6Awks.json"),
            "/.well-known/jwks.json"
        );
    }

    #[test]
    fn prefix_matches_whole_segments() {
        assert!(prefix_matches("/api/auth", "/api/auth"));
        assert!(prefix_matches("/api/auth", "/api/auth/challenge/login"));
        assert!(!prefix_matches("/api/auth", "/api/authx"));
        assert!(!prefix_matches("/api/auth", "/api"));
        assert!(prefix_matches("/", "/"));
        assert!(prefix_matches("/", "/.well-known/jwks.json"));
        assert!(prefix_matches("/api/", "/api/x"));
    }

    #[test]
    fn rule_matches_listed_methods_only() {
        let policy = policy_from(
            "[[plugins.rate_limit.rules]]\nname = \"a\"\npath_prefix = \"/api\"\n\
             methods = [\"POST\"]\nlimit = 1\nwindow = 1",
        )
        .unwrap();
        let rule = &policy.rules[0];
        assert!(rule.matches(&Method::POST, "/api/x"));
        assert!(!rule.matches(&Method::GET, "/api/x"));
        assert!(!rule.matches(&Method::POST, "/other"));
    }
}
