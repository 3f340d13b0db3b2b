//! The revocation plugin: its facts, its config, and what it adds to the server.

use std::sync::Arc;

use latchkey_sdk::capability::{self, RevocationList, SessionIssuer, TokenIssuer, TokenVerifier};
use latchkey_sdk::prelude::*;

use crate::config::{Config, Policy};
use crate::list::StoreRevocationList;
use crate::routes::{self, Revocation};
use crate::sessions::Sessions;

/// Token revocation shared through the store, RFC 7009 and RFC 7662 endpoints, logout, and
/// sessions with refresh tokens.
///
/// Registered with the host by this crate; see the crate docs for its config and routes.
#[derive(Debug, Default)]
pub struct RevocationPlugin;

impl Plugin for RevocationPlugin {
    fn name(&self) -> &'static str {
        crate::PLUGIN_NAME
    }

    fn version(&self) -> &'static str {
        env!("CARGO_PKG_VERSION")
    }

    fn default_order(&self) -> i32 {
        300
    }

    fn provides(&self) -> Vec<&'static str> {
        vec![
            capability::name_of::<dyn RevocationList>(),
            capability::name_of::<dyn SessionIssuer>(),
        ]
    }

    fn requires(&self) -> Vec<&'static str> {
        vec![
            capability::name_of::<dyn TokenIssuer>(),
            capability::name_of::<dyn TokenVerifier>(),
        ]
    }

    fn configure(
        &self,
        section: ConfigSection<'_>,
        host: &HostSettings,
    ) -> Result<Box<dyn ConfiguredPlugin>, ConfigError> {
        let config: Config = section.extract()?;
        let policy = config.validate(&section)?;
        Ok(Box::new(ConfiguredRevocation {
            policy,
            admin_keys: host.admin_keys.clone(),
        }))
    }
}

struct ConfiguredRevocation {
    policy: Policy,
    admin_keys: latchkey_sdk::AdminKeys,
}

#[async_trait]
impl ConfiguredPlugin for ConfiguredRevocation {
    async fn start(
        self: Box<Self>,
        context: &mut StartContext,
    ) -> Result<Contribution, PluginError> {
        let store = context.store()?;
        let issuer = context.require::<dyn TokenIssuer>()?;
        let verifier = context.require::<dyn TokenVerifier>()?;

        // A cut-off must outlive every token it revokes: access tokens, and refresh tokens
        // when sessions are on.
        let mut retention = verifier.max_token_lifetime() + verifier.leeway();
        if self.policy.refresh_tokens {
            retention = retention.max(self.policy.refresh_token_ttl);
        }
        let list = Arc::new(StoreRevocationList::new(
            Arc::clone(&store),
            verifier.leeway(),
            retention,
        ));
        context.provide::<dyn RevocationList>(Arc::clone(&list) as Arc<dyn RevocationList>);

        let sessions = self.policy.refresh_tokens.then(|| {
            Arc::new(Sessions::new(
                store,
                issuer,
                Arc::clone(&list),
                self.policy.refresh_token_ttl,
            ))
        });
        if let Some(sessions) = &sessions {
            context.provide::<dyn SessionIssuer>(Arc::clone(sessions) as Arc<dyn SessionIssuer>);
        }
        tracing::info!(
            refresh_tokens = self.policy.refresh_tokens,
            admin_keys = !self.admin_keys.is_empty(),
            "token revocation ready"
        );

        let guard = Guard::new(Arc::clone(&verifier))
            .with_revocations(Arc::clone(&list) as Arc<dyn RevocationList>);
        let revocation = Arc::new(Revocation {
            verifier,
            list,
            sessions,
            admin_keys: self.admin_keys,
        });
        Ok(routes::routes(&revocation, guard)
            .into_iter()
            .fold(Contribution::new(), Contribution::route))
    }
}
