//! The host's own settings: `[server]`, `[store]` and `[log]`.

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;

use figment::Figment;
use figment::value::Value;
use latchkey_sdk::{AdminKey, AdminKeys, ConfigError};
use serde::{Deserialize, Serialize};

use super::error::LoadError;
use crate::plugins::HoopScope;

/// Every top-level section, with the plugin sections kept as raw values for the plugins.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct Settings {
    /// `[server]`.
    pub server: ServerSettings,
    /// `[store]`.
    pub store: StoreSettings,
    /// `[log]`.
    pub log: LogSettings,
    /// `[admin]`.
    #[serde(default)]
    pub admin: AdminSettings,
    /// `[plugins.<name>]`, read by each plugin from the figment.
    #[serde(default)]
    pub plugins: BTreeMap<String, Value>,
    /// `[[dynamic_plugins]]`: plugin libraries to load at start-up.
    #[serde(default)]
    pub dynamic_plugins: Vec<DynamicPluginSettings>,
}

/// One `[[dynamic_plugins]]` entry: a plugin built as a shared library.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct DynamicPluginSettings {
    /// The library file. A relative path is relative to the config file that sets it.
    pub path: PathBuf,
    /// Whether the plugin runs, like `plugins.<name>.enabled`. Default: the plugin's own.
    #[serde(default)]
    pub enabled: Option<bool>,
    /// The plugin's order, like `plugins.<name>.order`. Default: the plugin's own.
    #[serde(default)]
    pub order: Option<i32>,
}

/// `[server]`: where to listen and how to treat requests.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct ServerSettings {
    /// Socket address to bind. Default: `127.0.0.1:8080`.
    pub listen: SocketAddr,
    /// The URL users reach, the WebAuthn origin by default. Default: `http://localhost:8080`.
    pub public_url: String,
    /// CIDRs whose forwarded headers are believed. Default: none.
    pub trusted_proxies: Vec<String>,
    /// Largest request body accepted, in bytes. Default: 65536.
    pub body_limit: u64,
    /// Time that in-flight requests get to finish at shutdown, in seconds. Default: 10.
    pub shutdown_timeout: u64,
}

/// `[store]`: where plugins keep their state.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct StoreSettings {
    /// Backend. Default: `memory` in development, `redis` in production.
    pub kind: StoreKind,
    /// Redis URL, used when `kind = "redis"`. Default: `redis://127.0.0.1:6379`.
    pub redis_url: String,
    /// Prefix of every key the server writes. Default: `latchkey:`.
    pub key_prefix: String,
}

/// The store backends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum StoreKind {
    /// In process, lost on restart.
    Memory,
    /// A Redis server, shared by every instance.
    Redis,
}

impl StoreKind {
    /// Returns the config spelling, `memory` or `redis`.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Memory => "memory",
            Self::Redis => "redis",
        }
    }
}

/// `[log]`: the tracing subscriber of `latchkey serve`.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct LogSettings {
    /// Filter directives, as in `RUST_LOG`, which overrides it. Default: `info`.
    pub level: String,
    /// Output format. Default: `text`.
    pub format: LogFormat,
}

/// Log output formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per event.
    Json,
}

/// `[admin]`: who may call operator routes.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct AdminSettings {
    /// `[[admin.keys]]`. Default: none, which closes every admin route.
    #[serde(default)]
    pub keys: Vec<AdminKeySettings>,
}

/// One `[[admin.keys]]` entry.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct AdminKeySettings {
    /// Name shown in logs of the calls made with the key.
    pub name: String,
    /// SHA-256 of the secret, 64 hex digits.
    pub sha256: String,
    /// Scopes the key grants, such as `revoke` and `introspect`. Default: every scope.
    #[serde(default)]
    pub scopes: Option<Vec<String>>,
}

impl AdminSettings {
    /// Returns the validated keys.
    ///
    /// # Errors
    ///
    /// [`LoadError::Config`] naming the first bad entry.
    pub fn keys(&self, figment: &Figment) -> Result<AdminKeys, LoadError> {
        let mut keys = Vec::with_capacity(self.keys.len());
        for (index, entry) in self.keys.iter().enumerate() {
            let key = AdminKey::new(&entry.name, &entry.sha256, entry.scopes.clone()).map_err(
                |message| LoadError::invalid(figment, &format!("admin.keys[{index}]"), message),
            )?;
            keys.push(key);
        }
        AdminKeys::new(keys).map_err(|message| LoadError::invalid(figment, "admin.keys", message))
    }
}

/// The host keys of one plugin section, when set.
#[derive(Debug, Default, Deserialize)]
#[non_exhaustive]
pub struct PluginSwitch {
    /// `plugins.<name>.enabled`.
    pub enabled: Option<bool>,
    /// `plugins.<name>.order`.
    pub order: Option<i32>,
    /// `plugins.<name>.scope`, everything when not set.
    #[serde(default)]
    pub scope: HoopScope,
}

impl Settings {
    /// Extracts and validates the host settings of `figment`.
    ///
    /// # Errors
    ///
    /// [`LoadError::Config`] naming the first bad key.
    pub fn extract(figment: &Figment, profile: &str) -> Result<Self, LoadError> {
        let mut settings: Self = figment.extract().map_err(LoadError::from_figment)?;
        settings.server.public_url = validate_public_url(figment, &settings.server.public_url)?;
        if profile == "production" {
            require_production_public_url(figment, &settings.server.public_url)?;
        }
        for cidr in &settings.server.trusted_proxies {
            if !is_cidr(cidr) {
                return Err(LoadError::invalid(
                    figment,
                    "server.trusted_proxies",
                    format!(
                        "{cidr:?} is not a CIDR: use an address and a prefix length, like 10.0.0.0/8"
                    ),
                ));
            }
        }
        if settings.server.body_limit == 0 {
            return Err(LoadError::invalid(
                figment,
                "server.body_limit",
                "must be at least 1 byte",
            ));
        }
        if settings.store.kind == StoreKind::Redis {
            validate_redis_url(figment, &settings.store.redis_url)?;
        }
        settings.admin.keys(figment)?;
        Ok(settings)
    }

    /// Returns the host keys `enabled`, `order` and `scope` of `[plugins.<name>]`.
    ///
    /// # Errors
    ///
    /// [`LoadError::Config`] when one has the wrong type, or a scope prefix is not an
    /// absolute path.
    pub fn plugin_switch(figment: &Figment, name: &str) -> Result<PluginSwitch, LoadError> {
        let path = format!("plugins.{name}");
        if figment.find_value(&path).is_err() {
            return Ok(PluginSwitch::default());
        }
        // `focus` rather than `extract_inner`, whose errors carry the section's path already,
        // so that `from_figment_at` names each key once.
        let switch: PluginSwitch = figment
            .focus(&path)
            .extract()
            .map_err(|error| LoadError::from_figment_at(error, &path))?;
        if let Some((key, message)) = switch.scope.invalid_prefix() {
            // The origin is recorded for the list, not for its items.
            let list = key.split('[').next().unwrap_or(&key);
            return Err(LoadError::Config(ConfigError::Invalid {
                origin: latchkey_sdk::config::origin_of(figment, &format!("{path}.{list}")),
                key: format!("{path}.{key}"),
                message,
            }));
        }
        Ok(switch)
    }
}

fn validate_public_url(figment: &Figment, value: &str) -> Result<String, LoadError> {
    let invalid = |message: &str| LoadError::invalid(figment, "server.public_url", message);
    let url = url::Url::parse(value)
        .map_err(|_| invalid("must be an absolute URL, like https://auth.example.com"))?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
        return Err(invalid("must be an http or https URL with a host"));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(invalid("must not have a query or fragment"));
    }
    Ok(value.trim_end_matches('/').to_owned())
}

/// Rejects a production start on the built-in development URL or on plain http, because
/// every passkey ceremony would then fail the origin check or run without TLS.
fn require_production_public_url(figment: &Figment, public_url: &str) -> Result<(), LoadError> {
    let origin = latchkey_sdk::config::origin_of(figment, "server.public_url");
    if origin.contains("(built in)") {
        return Err(LoadError::invalid(
            figment,
            "server.public_url",
            "is not set, and the production profile needs it: set it, or API_BASE_URL, to \
             the https URL users reach",
        ));
    }
    let is_https = url::Url::parse(public_url).is_ok_and(|url| url.scheme() == "https");
    if !is_https {
        return Err(LoadError::invalid(
            figment,
            "server.public_url",
            format!("{public_url:?} is not https, which the production profile needs"),
        ));
    }
    Ok(())
}

fn validate_redis_url(figment: &Figment, value: &str) -> Result<(), LoadError> {
    let parsed = url::Url::parse(value).ok();
    let scheme_ok = parsed
        .as_ref()
        .is_some_and(|url| matches!(url.scheme(), "redis" | "rediss" | "unix" | "redis+unix"));
    if scheme_ok {
        Ok(())
    } else {
        Err(LoadError::invalid(
            figment,
            "store.redis_url",
            "must be a redis:// or rediss:// URL, like redis://127.0.0.1:6379",
        ))
    }
}

fn is_cidr(value: &str) -> bool {
    let Some((address, length)) = value.split_once('/') else {
        return false;
    };
    let Ok(address) = address.parse::<IpAddr>() else {
        return false;
    };
    let max = if address.is_ipv4() { 32 } else { 128 };
    length.parse::<u8>().is_ok_and(|length| length <= max)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cidr_accepts_v4_and_v6() {
        assert!(is_cidr("10.0.0.0/8"));
        assert!(is_cidr("::1/128"));
        assert!(!is_cidr("10.0.0.0/33"));
        assert!(!is_cidr("10.0.0.0"));
        assert!(!is_cidr("example.com/8"));
    }
}
