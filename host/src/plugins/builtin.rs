//! Plugins compiled into this binary.

use latchkey_sdk::Plugin;

// Each built-in plugin crate registers itself through `inventory`. Naming the crate here
// makes the linker keep it, because no function of it is called directly.
#[cfg(feature = "cors")]
use latchkey_cors as _;
#[cfg(feature = "demo")]
use latchkey_demo as _;
#[cfg(feature = "jwt")]
use latchkey_jwt as _;
#[cfg(feature = "passkey")]
use latchkey_passkey as _;
#[cfg(feature = "rate-limit")]
use latchkey_rate_limit as _;
#[cfg(feature = "revocation")]
use latchkey_revocation as _;
#[cfg(feature = "security-headers")]
use latchkey_security_headers as _;

/// Returns one value of every plugin compiled into this binary.
pub(super) fn plugins() -> Vec<Box<dyn Plugin>> {
    latchkey_sdk::registered_plugins()
        .map(latchkey_sdk::PluginRegistration::make)
        .collect()
}
