//! The `jwt` plugin: configuration, start-up and what it contributes.

use std::sync::Arc;

use latchkey_sdk::capability::{self, TokenIssuer, TokenVerifier};
use latchkey_sdk::prelude::*;

use base64::Engine as _;
use latchkey_sdk::capability::Store;

use crate::admin;
use crate::config::{Config, Settings};
use crate::jwks::JwksHandler;
use crate::ring::{KEY_SET_KEY, KeyRing, RingError, RingIssuer, RingVerifier};

/// Default order: after the guards and before the passkey plugin (500). The plugin mounts
/// no hoop.
const DEFAULT_ORDER: i32 = 450;

/// The `jwt` plugin: signing keys, the JWKS route, and the token issuer and verifier
/// capabilities.
#[derive(Debug, Default)]
pub struct JwtPlugin;

impl Plugin for JwtPlugin {
    fn name(&self) -> &'static str {
        crate::PLUGIN_NAME
    }

    fn version(&self) -> &'static str {
        env!("CARGO_PKG_VERSION")
    }

    fn default_order(&self) -> i32 {
        DEFAULT_ORDER
    }

    fn provides(&self) -> Vec<&'static str> {
        vec![
            capability::name_of::<dyn TokenIssuer>(),
            capability::name_of::<dyn TokenVerifier>(),
        ]
    }

    // `requires` stays empty: the only capability used is the store, which the host
    // always provides.

    fn configure(
        &self,
        section: ConfigSection<'_>,
        host: &HostSettings,
    ) -> Result<Box<dyn ConfiguredPlugin>, ConfigError> {
        let settings = section
            .extract::<Config>()?
            .validate(&section, host.is_production())?;
        Ok(Box::new(ConfiguredJwt {
            settings,
            admin_keys: host.admin_keys.clone(),
        }))
    }
}

struct ConfiguredJwt {
    settings: Settings,
    admin_keys: latchkey_sdk::AdminKeys,
}

#[async_trait]
impl ConfiguredPlugin for ConfiguredJwt {
    async fn start(
        self: Box<Self>,
        context: &mut StartContext,
    ) -> Result<Contribution, PluginError> {
        let settings = self.settings;
        let store = context.store()?;
        let secret = encryption_secret(&*store, &settings).await?;
        let ring = KeyRing::open(Arc::clone(&store), settings.clone(), secret)
            .await
            .map_err(ring_start_error)?;
        let ring = Arc::new(ring);
        context.provide::<dyn TokenIssuer>(Arc::new(RingIssuer(Arc::clone(&ring))));
        context.provide::<dyn TokenVerifier>(Arc::new(RingVerifier(Arc::clone(&ring))));

        let jwks = JwksHandler::new(Arc::clone(&ring), settings.jwks_max_age).map_err(|error| {
            PluginError::start_with("the JWKS Cache-Control header could not be built", error)
        })?;
        let admin = admin::routes(&ring, self.admin_keys);
        let shutdown = context.shutdown_signal();
        Ok(Contribution::new()
            .route(jwks.into_router())
            .route(admin)
            .task(Arc::clone(&ring).maintain(shutdown)))
    }
}

/// Store key of the random secret that encrypts the stored keys when config sets none,
/// as the development profile allows.
pub(crate) const DEVELOPMENT_SECRET_KEY: &str = "jwt:development_encryption_secret";

/// Returns the key encryption secret: the configured one, or in development a random one
/// kept in the store, which protects nothing from a reader of the store.
pub(crate) async fn encryption_secret(
    store: &dyn Store,
    settings: &Settings,
) -> Result<Vec<u8>, PluginError> {
    if let Some(secret) = &settings.key_encryption_secret {
        return Ok(secret.0.as_bytes().to_vec());
    }
    tracing::warn!(
        key = "plugins.jwt.key_encryption_secret",
        variable = "JWT_SECRET",
        "no key encryption secret set: the stored signing keys are encrypted with a random \
         secret kept in the same store, which the production profile does not allow"
    );
    let random: [u8; 32] = rand::random();
    let encoded = base64::engine::general_purpose::STANDARD.encode(random);
    store
        .insert_new(DEVELOPMENT_SECRET_KEY, encoded.as_bytes(), None)
        .await?;
    match store.get(DEVELOPMENT_SECRET_KEY).await? {
        Some(secret) => Ok(secret),
        None => Err(PluginError::start(format!(
            "the development key encryption secret at store key {DEVELOPMENT_SECRET_KEY} \
             disappeared right after it was written: restart to retry"
        ))),
    }
}

pub(crate) fn ring_start_error(error: RingError) -> PluginError {
    match error {
        RingError::Store(error) => PluginError::Store(error),
        RingError::Unreadable(source) => PluginError::start_with(
            format!(
                "the signing key set at store key {KEY_SET_KEY} cannot be read and was left \
                 unchanged: check the key encryption secret (JWT_SECRET), restore the set from \
                 a backup, or delete the key to generate a new one (tokens signed with the old \
                 keys then stop verifying)"
            ),
            source,
        ),
        other => PluginError::start_with("the signing key set could not be loaded", other),
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use figment::Figment;
    use figment::providers::{Format, Toml};
    use latchkey_sdk::capability::{Capabilities, Store, TokenRequest, VerifyError};
    use latchkey_sdk::{ShutdownSignal, StartContext};

    use super::*;
    use crate::issuer::JwtIssuer;
    use crate::ring::KEY_SET_KEY as STORE_KEY;
    use crate::testing::{FakeStore, key_set};

    /// The key encryption secret of the tests' stored key set.
    const SECRET: &str = "a secret for plugin tests";

    fn configure(toml: &str, profile: &str) -> Result<Box<dyn ConfiguredPlugin>, ConfigError> {
        let toml = if toml.contains("[plugins.jwt]") {
            toml.replace(
                "[plugins.jwt]",
                &format!("[plugins.jwt]\nkey_encryption_secret = \"{SECRET}\""),
            )
        } else {
            format!("[plugins.jwt]\nkey_encryption_secret = \"{SECRET}\"\n{toml}")
        };
        let figment = Figment::from(Toml::string(&toml));
        let host = HostSettings::new(profile, "http://localhost:8080");
        JwtPlugin.configure(ConfigSection::new(&figment, "jwt"), &host)
    }

    fn context_with_stored_keys() -> StartContext {
        let store = FakeStore::with(STORE_KEY, &key_set().to_stored(SECRET.as_bytes()).unwrap());
        let mut capabilities = Capabilities::new();
        capabilities.provide::<dyn Store>(Arc::new(store));
        let (_sender, shutdown) = ShutdownSignal::channel();
        StartContext::new(capabilities, shutdown)
    }

    #[test]
    fn plugin_declares_name_order_capabilities() {
        assert_eq!(JwtPlugin.name(), "jwt");
        assert_eq!(JwtPlugin.default_order(), 450);
        assert_eq!(JwtPlugin.provides(), ["token_issuer", "token_verifier"]);
        assert!(JwtPlugin.requires().is_empty());
    }

    #[test]
    fn invalid_config_stops_configure() {
        let Err(error) = configure("[plugins.jwt]\ntoken_ttl = 10", "development") else {
            panic!("a token_ttl of 10 seconds was accepted");
        };
        assert!(
            error.to_string().contains("plugins.jwt.token_ttl"),
            "{error}"
        );
    }

    #[tokio::test]
    async fn start_provides_issuer_verifier_route() {
        let configured = configure(
            "[plugins.jwt]\nissuer = \"https://auth.example.com\"\naudience = \"my-app\"\n\
             token_ttl = 600",
            "production",
        )
        .unwrap();
        let mut context = context_with_stored_keys();
        let contribution = configured.start(&mut context).await.unwrap();
        assert_eq!(
            contribution.routes.len(),
            2,
            "the JWKS and the admin routes"
        );
        assert!(contribution.hoops.is_empty());
        assert_eq!(contribution.tasks.len(), 1, "the key set refresh");

        let issuer = context.require::<dyn TokenIssuer>().unwrap();
        let verifier = context.require::<dyn TokenVerifier>().unwrap();
        let issued = issuer.issue(TokenRequest::new("user-1")).await.unwrap();
        let verified = verifier.verify(&issued.token).await.unwrap();
        assert_eq!(verified.subject, "user-1");
        assert_eq!(verified.claims["iss"], "https://auth.example.com");
        assert_eq!(verified.claims["aud"], "my-app");
        let lifetime = issued
            .expires_at
            .duration_since(std::time::SystemTime::now())
            .unwrap();
        assert!(lifetime <= Duration::from_secs(600), "{lifetime:?}");
        assert!(lifetime > Duration::from_secs(590), "{lifetime:?}");

        let other = JwtIssuer::new(key_set(), Duration::from_secs(600))
            .issuer("someone-else")
            .audience("my-app");
        let foreign = other.sign(&TokenRequest::new("user-1")).unwrap();
        let result = verifier.verify(&foreign.token).await;
        assert!(
            matches!(result, Err(VerifyError::InvalidClaim { name: "iss" })),
            "{result:?}"
        );
    }

    #[tokio::test]
    async fn start_fails_on_unreadable_key_set() {
        let configured = configure("", "development").unwrap();
        let store = Arc::new(FakeStore::with(STORE_KEY, b"garbage"));
        let mut capabilities = Capabilities::new();
        capabilities.provide::<dyn Store>(store.clone());
        let (_sender, shutdown) = ShutdownSignal::channel();
        let mut context = StartContext::new(capabilities, shutdown);

        let error = configured.start(&mut context).await.unwrap_err();
        assert!(error.to_string().contains(STORE_KEY), "{error}");
        assert!(context.require::<dyn TokenIssuer>().is_err());
        assert_eq!(store.value(STORE_KEY).unwrap(), b"garbage");
    }

    #[tokio::test]
    async fn jwks_route_served_over_http() {
        use latchkey_sdk::salvo::conn::{Acceptor, Listener, TcpListener};
        use latchkey_sdk::salvo::{Router, Server};
        use tokio::io::{AsyncReadExt, AsyncWriteExt};

        let configured = configure("[plugins.jwt]\njwks_max_age = 120", "development").unwrap();
        let mut context = context_with_stored_keys();
        let contribution = configured.start(&mut context).await.unwrap();
        let mut router = Router::new();
        for route in contribution.routes {
            router = router.push(route);
        }

        let acceptor = TcpListener::new("127.0.0.1:0").bind().await;
        let address = acceptor.holdings()[0].local_addr.clone();
        let address = address.into_std().unwrap();
        let server = Server::new(acceptor);
        let handle = server.handle();
        let serving = tokio::spawn(server.serve(router));

        let exchange = async {
            let mut stream = tokio::net::TcpStream::connect(address).await.unwrap();
            let request = "GET /.well-known/jwks.json HTTP/1.1\r\nhost: localhost\r\n\
                           connection: close\r\n\r\n";
            stream.write_all(request.as_bytes()).await.unwrap();
            let mut response = Vec::new();
            stream.read_to_end(&mut response).await.unwrap();
            String::from_utf8(response).unwrap()
        };
        let response = tokio::time::timeout(Duration::from_secs(10), exchange)
            .await
            .expect("response within 10 seconds");
        handle.stop_forceful();
        let _ = tokio::time::timeout(Duration::from_secs(5), serving).await;

        let (head, body) = response.split_once("\r\n\r\n").unwrap();
        let head = head.to_ascii_lowercase();
        assert!(head.starts_with("http/1.1 200"), "{head}");
        assert!(head.contains("content-type: application/json"), "{head}");
        assert!(
            head.contains("cache-control: public, max-age=120"),
            "{head}"
        );
        assert_eq!(body.as_bytes(), &key_set().jwks_json()[..]);
    }
}
