//! The `security_headers` plugin: configuration, start-up and the hoop it mounts.

use latchkey_sdk::prelude::*;

use crate::config::{Config, Policy};
use crate::hoop::SecurityHeaders;

/// Default order: the outermost plugin, so that its headers land on every response,
/// including the CORS plugin's preflight responses (order 20) and the 429 of `rate_limit`
/// (order 100).
const DEFAULT_ORDER: i32 = 10;

/// The `security_headers` plugin: security and caching headers on every response.
#[derive(Debug, Default)]
pub struct SecurityHeadersPlugin;

impl Plugin for SecurityHeadersPlugin {
    fn name(&self) -> &'static str {
        crate::PLUGIN_NAME
    }

    fn version(&self) -> &'static str {
        env!("CARGO_PKG_VERSION")
    }

    fn default_order(&self) -> i32 {
        DEFAULT_ORDER
    }

    fn configure(
        &self,
        section: ConfigSection<'_>,
        _host: &HostSettings,
    ) -> Result<Box<dyn ConfiguredPlugin>, ConfigError> {
        let policy = section.extract::<Config>()?.validate(&section)?;
        Ok(Box::new(ConfiguredSecurityHeaders { policy }))
    }
}

struct ConfiguredSecurityHeaders {
    policy: Policy,
}

#[async_trait]
impl ConfiguredPlugin for ConfiguredSecurityHeaders {
    async fn start(
        self: Box<Self>,
        _context: &mut StartContext,
    ) -> Result<Contribution, PluginError> {
        let hoop = SecurityHeaders::new(self.policy);
        Ok(Contribution::new().hoop(Hoop::new("/", hoop)))
    }
}

#[cfg(test)]
mod tests {
    use figment::Figment;
    use figment::providers::{Format, Toml};

    use super::*;

    #[test]
    fn plugin_declares_name_and_order() {
        assert_eq!(SecurityHeadersPlugin.name(), "security_headers");
        assert_eq!(SecurityHeadersPlugin.default_order(), 10);
        assert!(SecurityHeadersPlugin.requires().is_empty());
    }

    #[test]
    fn unknown_key_stops_configure() {
        let figment = Figment::from(Toml::string("[plugins.security_headers]\nheader = {}\n"));
        let host = HostSettings::new("development", "http://localhost:8080");
        let section = ConfigSection::new(&figment, "security_headers");
        let Err(error) = SecurityHeadersPlugin.configure(section, &host) else {
            panic!("an unknown key was accepted");
        };
        let message = error.to_string();
        assert!(
            message.contains("plugins.security_headers.header"),
            "{message}"
        );
    }
}
