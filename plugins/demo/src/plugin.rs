//! The `demo` plugin: configuration, start-up and the routes it adds.

use latchkey_sdk::prelude::*;
use serde::Deserialize;

use crate::assets;

/// Default order. The plugin adds routes only, so its order matters for nothing else.
const DEFAULT_ORDER: i32 = 900;

/// The `demo` plugin: a page at `/` to try passkey registration and login.
#[derive(Debug, Default)]
pub struct DemoPlugin;

/// The `[plugins.demo]` section, which has no keys of its own.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct Config {}

impl Plugin for DemoPlugin {
    fn name(&self) -> &'static str {
        crate::PLUGIN_NAME
    }

    fn version(&self) -> &'static str {
        env!("CARGO_PKG_VERSION")
    }

    fn default_order(&self) -> i32 {
        DEFAULT_ORDER
    }

    fn enabled_by_default(&self) -> bool {
        false
    }

    fn configure(
        &self,
        section: ConfigSection<'_>,
        _host: &HostSettings,
    ) -> Result<Box<dyn ConfiguredPlugin>, ConfigError> {
        let Config {} = section.extract()?;
        Ok(Box::new(ConfiguredDemo))
    }
}

struct ConfiguredDemo;

#[async_trait]
impl ConfiguredPlugin for ConfiguredDemo {
    async fn start(
        self: Box<Self>,
        _context: &mut StartContext,
    ) -> Result<Contribution, PluginError> {
        Ok(Contribution::new().route(assets::routes()))
    }
}

#[cfg(test)]
mod tests {
    use figment::Figment;
    use figment::providers::{Format, Toml};

    use super::*;

    #[test]
    fn plugin_off_by_default() {
        assert_eq!(DemoPlugin.name(), "demo");
        assert!(!DemoPlugin.enabled_by_default());
    }

    #[test]
    fn unknown_key_stops_configure() {
        let figment = Figment::from(Toml::string("[plugins.demo]\npath = \"/demo\"\n"));
        let host = HostSettings::new("development", "http://localhost:8080");
        let section = ConfigSection::new(&figment, "demo");
        assert!(DemoPlugin.configure(section, &host).is_err());
    }
}
