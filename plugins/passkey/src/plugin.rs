//! The passkey plugin: its facts, its config, and what it adds to the server.

use std::sync::Arc;

use latchkey_sdk::capability::{self, TokenIssuer};
use latchkey_sdk::prelude::*;
use webauthn_rs_proto::UserVerificationPolicy;

use crate::config::{Config, PasskeyPolicy};
use crate::relying_party::RelyingParty;
use crate::routes;

/// Passkey (WebAuthn) registration and usernameless login, ending in a token from the
/// `token_issuer` capability.
///
/// Registered with the host by this crate; see the crate docs for its config and routes.
#[derive(Debug, Default)]
pub struct PasskeyPlugin;

impl Plugin for PasskeyPlugin {
    fn name(&self) -> &'static str {
        "passkey"
    }

    fn version(&self) -> &'static str {
        env!("CARGO_PKG_VERSION")
    }

    fn default_order(&self) -> i32 {
        500
    }

    fn requires(&self) -> Vec<&'static str> {
        vec![capability::name_of::<dyn TokenIssuer>()]
    }

    fn configure(
        &self,
        section: ConfigSection<'_>,
        host: &HostSettings,
    ) -> Result<Box<dyn ConfiguredPlugin>, ConfigError> {
        let config: Config = section.extract()?;
        let policy = config.validate(&section, host)?;
        Ok(Box::new(ConfiguredPasskey { policy }))
    }
}

/// The passkey plugin with a validated policy, ready to start.
struct ConfiguredPasskey {
    policy: PasskeyPolicy,
}

#[async_trait]
impl ConfiguredPlugin for ConfiguredPasskey {
    async fn start(
        self: Box<Self>,
        context: &mut StartContext,
    ) -> Result<Contribution, PluginError> {
        let store = context.store()?;
        let issuer = context.require::<dyn TokenIssuer>()?;
        log_start(&self.policy);

        let relying_party = Arc::new(RelyingParty::new(self.policy, store, issuer));
        let contribution = routes::routes(&relying_party)
            .into_iter()
            .fold(Contribution::new(), Contribution::route);
        Ok(contribution)
    }
}

fn log_start(policy: &PasskeyPolicy) {
    let origins: Vec<String> = policy
        .origins
        .iter()
        .map(|origin| origin.origin().ascii_serialization())
        .collect();
    tracing::info!(rp_id = %policy.rp_id, ?origins, "passkey ceremonies ready");
    if policy.user_verification == UserVerificationPolicy::Discouraged_DO_NOT_USE {
        tracing::warn!(
            "plugins.passkey.user_verification is discouraged, so logins need no PIN or biometric"
        );
    }
}
