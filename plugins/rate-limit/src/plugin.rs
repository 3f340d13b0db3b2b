//! The `rate_limit` plugin: configuration, start-up and the hoop it mounts.

use latchkey_sdk::capability::{self, RevocationList};
use latchkey_sdk::prelude::*;

use crate::config::{Config, KeyKind, Policy};
use crate::hoop::RateLimit;

/// Default order: inside the security headers and CORS, outside the token guard and the
/// routes, so that a 429 still carries the outer hoops' headers.
const DEFAULT_ORDER: i32 = 100;

/// The `rate_limit` plugin: per-client request limits counted in the store.
#[derive(Debug, Default)]
pub struct RateLimitPlugin;

impl Plugin for RateLimitPlugin {
    fn name(&self) -> &'static str {
        crate::PLUGIN_NAME
    }

    fn version(&self) -> &'static str {
        env!("CARGO_PKG_VERSION")
    }

    fn default_order(&self) -> i32 {
        DEFAULT_ORDER
    }

    // `requires` stays empty: the store is always provided, and the token verifier is
    // needed only by rules keyed on the token's `sub`.
    fn uses(&self) -> Vec<&'static str> {
        vec![
            capability::name_of::<dyn TokenVerifier>(),
            capability::name_of::<dyn RevocationList>(),
        ]
    }

    fn configure(
        &self,
        section: ConfigSection<'_>,
        host: &HostSettings,
    ) -> Result<Box<dyn ConfiguredPlugin>, ConfigError> {
        let policy = section.extract::<Config>()?.validate(&section, host)?;
        Ok(Box::new(ConfiguredRateLimit { policy }))
    }
}

struct ConfiguredRateLimit {
    policy: Policy,
}

#[async_trait]
impl ConfiguredPlugin for ConfiguredRateLimit {
    async fn start(
        self: Box<Self>,
        context: &mut StartContext,
    ) -> Result<Contribution, PluginError> {
        let store = context.store()?;
        if self.policy.rules.is_empty() {
            tracing::warn!("rate_limit is enabled with no rules, so no request is limited");
        }
        let keys_on_subject = self
            .policy
            .rules
            .iter()
            .any(|rule| rule.key == KeyKind::Subject);
        let guard = match Guard::from_context(context) {
            Ok(guard) => Some(guard),
            Err(_) if keys_on_subject => {
                tracing::warn!(
                    "a rate_limit rule has key = \"subject\", but no plugin verifies tokens, \
                     so it counts per client address: enable plugin jwt"
                );
                None
            }
            Err(_) => None,
        };
        let hoop = RateLimit::new(self.policy, store, guard.filter(|_| keys_on_subject));
        Ok(Contribution::new().hoop(Hoop::new("/", hoop)))
    }
}

#[cfg(test)]
mod tests {
    use figment::Figment;
    use figment::providers::{Format, Toml};

    use super::*;

    #[test]
    fn plugin_declares_name_order_capabilities() {
        assert_eq!(RateLimitPlugin.name(), "rate_limit");
        assert_eq!(RateLimitPlugin.default_order(), 100);
        assert!(RateLimitPlugin.provides().is_empty());
        assert!(RateLimitPlugin.requires().is_empty());
    }

    #[test]
    fn invalid_config_stops_configure() {
        let figment = Figment::from(Toml::string(
            "[[plugins.rate_limit.rules]]\nname = \"auth\"\npath_prefix = \"/\"\nlimit = 0\n\
             window = 60",
        ));
        let host = HostSettings::new("development", "http://localhost:8080");
        let Err(error) =
            RateLimitPlugin.configure(ConfigSection::new(&figment, "rate_limit"), &host)
        else {
            panic!("a limit of 0 was accepted");
        };
        let message = error.to_string();
        assert!(
            message.contains("plugins.rate_limit.rules[0].limit"),
            "{message}"
        );
        assert!(message.contains("\"auth\""), "{message}");
    }
}
