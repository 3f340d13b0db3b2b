//! The passkey plugin: its facts, its config, and what it adds to the server.

use std::sync::Arc;

use latchkey_sdk::capability::{self, RevocationList, SessionIssuer, TokenIssuer, TokenVerifier};
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
        crate::PLUGIN_NAME
    }

    fn version(&self) -> &'static str {
        env!("CARGO_PKG_VERSION")
    }

    fn default_order(&self) -> i32 {
        500
    }

    fn requires(&self) -> Vec<&'static str> {
        vec![
            capability::name_of::<dyn TokenIssuer>(),
            capability::name_of::<dyn TokenVerifier>(),
        ]
    }

    fn uses(&self) -> Vec<&'static str> {
        vec![
            capability::name_of::<dyn RevocationList>(),
            capability::name_of::<dyn SessionIssuer>(),
        ]
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
        let guard = Guard::from_context(context)?;
        let sessions = context.get::<dyn SessionIssuer>();
        let revocations = context.get::<dyn RevocationList>();
        log_start(&self.policy, &guard);

        let account_routes = self.policy.account_routes;
        let relying_party = Arc::new(RelyingParty::new(
            self.policy,
            store,
            issuer,
            sessions,
            revocations,
        ));
        let mut routes = routes::routes(&relying_party);
        if account_routes {
            routes.extend(routes::account_routes(&relying_party, &guard));
        }
        Ok(routes
            .into_iter()
            .fold(Contribution::new(), Contribution::route))
    }
}

fn log_start(policy: &PasskeyPolicy, guard: &Guard) {
    let origins: Vec<String> = policy
        .origins
        .iter()
        .map(|origin| origin.origin().ascii_serialization())
        .collect();
    tracing::info!(rp_id = %policy.rp_id, ?origins, "passkey ceremonies ready");
    if policy.account_routes && !guard.checks_revocation() {
        tracing::warn!(
            "no plugin provides a revocation list, so the account routes accept tokens of \
             deleted passkeys until they expire: enable plugin revocation"
        );
    }
    if policy.user_verification == UserVerificationPolicy::Discouraged_DO_NOT_USE {
        tracing::warn!(
            "plugins.passkey.user_verification is discouraged, so logins need no PIN or biometric"
        );
    }
}
