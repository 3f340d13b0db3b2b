//! Plugins compiled into this binary.

use latchkey_sdk::Plugin;

/// Returns the name of every plugin crate this binary was built with.
///
/// Each built-in plugin registers itself through `inventory`, which the host never calls
/// by name. Naming a constant of every crate here makes rustc link each one, and
/// [`plugins`] checks that each registration arrived.
pub(super) fn expected_names() -> Vec<&'static str> {
    vec![
        #[cfg(feature = "cors")]
        latchkey_cors::PLUGIN_NAME,
        #[cfg(feature = "demo")]
        latchkey_demo::PLUGIN_NAME,
        #[cfg(feature = "jwt")]
        latchkey_jwt::PLUGIN_NAME,
        #[cfg(feature = "passkey")]
        latchkey_passkey::PLUGIN_NAME,
        #[cfg(feature = "rate-limit")]
        latchkey_rate_limit::PLUGIN_NAME,
        #[cfg(feature = "revocation")]
        latchkey_revocation::PLUGIN_NAME,
        #[cfg(feature = "security-headers")]
        latchkey_security_headers::PLUGIN_NAME,
    ]
}

/// A built-in plugin whose registration did not reach this binary.
#[derive(Debug, thiserror::Error)]
#[error(
    "built-in plugin {name} did not register: the linker dropped its `inventory` \
     registration, so this binary is broken; rebuild it"
)]
pub struct MissingBuiltIn {
    /// The plugin's name.
    pub name: &'static str,
}

/// Returns one value of every plugin compiled into this binary.
///
/// # Errors
///
/// [`MissingBuiltIn`] when a plugin crate this binary was built with did not register.
pub(super) fn plugins() -> Result<Vec<Box<dyn Plugin>>, MissingBuiltIn> {
    let plugins: Vec<Box<dyn Plugin>> = latchkey_sdk::registered_plugins()
        .map(latchkey_sdk::PluginRegistration::make)
        .collect();
    for name in expected_names() {
        if !plugins.iter().any(|plugin| plugin.name() == name) {
            return Err(MissingBuiltIn { name });
        }
    }
    Ok(plugins)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_feature_plugin_registered() {
        let plugins = plugins().expect("every built-in registered");
        assert!(plugins.len() >= expected_names().len());
    }
}
