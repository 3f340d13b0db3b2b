//! The `cors` plugin: configuration, start-up and the hoop it mounts.

use latchkey_sdk::prelude::*;

use crate::config::{Config, CorsPolicy};
use crate::hoop::Cors;

/// Default order: inside `security_headers` (10), so that its headers land on preflight
/// answers too, and outside `rate_limit` (100) and every other plugin, so that a
/// preflight is answered before they run and their early exits carry the CORS headers.
const DEFAULT_ORDER: i32 = 20;

/// The `cors` plugin: the cross-origin policy and the preflight responses.
#[derive(Debug, Default)]
pub struct CorsPlugin;

impl Plugin for CorsPlugin {
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
        host: &HostSettings,
    ) -> Result<Box<dyn ConfiguredPlugin>, ConfigError> {
        let policy = section.extract::<Config>()?.validate(&section, host)?;
        Ok(Box::new(ConfiguredCors { policy }))
    }
}

struct ConfiguredCors {
    policy: CorsPolicy,
}

#[async_trait]
impl ConfiguredPlugin for ConfiguredCors {
    async fn start(
        self: Box<Self>,
        _context: &mut StartContext,
    ) -> Result<Contribution, PluginError> {
        if self.policy.allow_null_origin {
            tracing::warn!(
                "plugins.cors.danger_allow_null_origin is on: any site can send the null origin"
            );
        }
        Ok(Contribution::new().hoop(Hoop::new("/", Cors::new(self.policy))))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plugin_declares_name_and_order() {
        assert_eq!(CorsPlugin.name(), "cors");
        assert_eq!(CorsPlugin.default_order(), 20);
        assert!(CorsPlugin.requires().is_empty());
    }
}
