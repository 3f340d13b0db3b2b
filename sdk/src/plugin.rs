//! The plugin trait and what a plugin contributes to the server.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use salvo::{Handler, Router, async_trait};
use tokio::sync::watch;

use crate::admin::AdminKeys;
use crate::capability::{Capabilities, Capability, Store};
use crate::config::{ConfigError, ConfigSection};
use crate::error::PluginError;

/// A future that a plugin hands to the host to run.
pub type BoxFuture = Pin<Box<dyn Future<Output = ()> + Send + 'static>>;

/// A Latchkey plugin: static facts about it, and how to configure it.
///
/// The host creates one value of every registered plugin type, reads the facts, and calls
/// [`configure`](Plugin::configure) for each enabled plugin before anything starts, so a
/// config mistake in any plugin stops start-up before the store is touched.
pub trait Plugin: Send + Sync + 'static {
    /// Name of the plugin and of its config section `[plugins.<name>]`, in snake_case.
    fn name(&self) -> &'static str;

    /// Version of the plugin, usually `env!("CARGO_PKG_VERSION")`.
    fn version(&self) -> &'static str;

    /// Position of the plugin's hoops: lower runs further out. Config key `order`
    /// overrides it.
    fn default_order(&self) -> i32;

    /// Returns whether the plugin runs when config does not set `enabled`. Default: true.
    fn enabled_by_default(&self) -> bool {
        true
    }

    /// Names of the capabilities this plugin registers while starting.
    fn provides(&self) -> Vec<&'static str> {
        Vec::new()
    }

    /// Names of the capabilities this plugin needs from other plugins or the host.
    fn requires(&self) -> Vec<&'static str> {
        Vec::new()
    }

    /// Names of the capabilities this plugin uses when an enabled plugin provides them.
    ///
    /// The plugin starts after their providers, and works without them: it reaches them
    /// with [`StartContext::get`].
    fn uses(&self) -> Vec<&'static str> {
        Vec::new()
    }

    /// Reads and validates the plugin's config section.
    ///
    /// # Errors
    ///
    /// A [`ConfigError`] naming the key, its origin and what is allowed.
    fn configure(
        &self,
        section: ConfigSection<'_>,
        host: &HostSettings,
    ) -> Result<Box<dyn ConfiguredPlugin>, ConfigError>;
}

/// A plugin whose config was validated, ready to start.
#[async_trait]
pub trait ConfiguredPlugin: Send + Sync {
    /// Starts the plugin: registers the capabilities it provides and returns what it adds
    /// to the server.
    ///
    /// Runs once, after every plugin it requires has started.
    async fn start(
        self: Box<Self>,
        context: &mut StartContext,
    ) -> Result<Contribution, PluginError>;
}

/// Host settings that plugins derive their defaults from.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct HostSettings {
    /// Active profile, such as `development` or `production`.
    pub profile: String,
    /// The URL users reach the server at (`server.public_url`), without a trailing slash.
    pub public_url: String,
    /// CIDRs whose forwarded headers are believed (`server.trusted_proxies`), each already
    /// validated as an address and a prefix length, like `10.0.0.0/8`.
    pub trusted_proxies: Vec<String>,
    /// The keys that may call operator routes (`[[admin.keys]]`).
    pub admin_keys: AdminKeys,
}

impl HostSettings {
    /// Creates host settings for `profile` and `public_url`.
    #[must_use]
    pub fn new(profile: impl Into<String>, public_url: impl Into<String>) -> Self {
        Self {
            profile: profile.into(),
            public_url: public_url.into(),
            trusted_proxies: Vec::new(),
            admin_keys: AdminKeys::default(),
        }
    }

    /// Sets the keys that may call operator routes.
    #[must_use]
    pub fn with_admin_keys(mut self, admin_keys: AdminKeys) -> Self {
        self.admin_keys = admin_keys;
        self
    }

    /// Sets the CIDRs whose forwarded headers are believed.
    #[must_use]
    pub fn with_trusted_proxies(mut self, trusted_proxies: Vec<String>) -> Self {
        self.trusted_proxies = trusted_proxies;
        self
    }

    /// Returns whether the production profile is active.
    #[must_use]
    pub fn is_production(&self) -> bool {
        self.profile == "production"
    }
}

/// The capability registry and shutdown signal that a starting plugin can reach.
pub struct StartContext {
    capabilities: Capabilities,
    shutdown: ShutdownSignal,
}

impl StartContext {
    /// Creates a context over `capabilities`, which must already hold the store.
    #[must_use]
    pub fn new(capabilities: Capabilities, shutdown: ShutdownSignal) -> Self {
        Self {
            capabilities,
            shutdown,
        }
    }

    /// Returns the provider of capability `C`.
    ///
    /// # Errors
    ///
    /// [`PluginError::MissingCapability`] when no started plugin provides it.
    pub fn require<C: Capability + ?Sized>(&self) -> Result<Arc<C>, PluginError> {
        self.capabilities
            .get::<C>()
            .ok_or(PluginError::MissingCapability { name: C::NAME })
    }

    /// Returns the provider of capability `C`, or `None` when no started plugin provides
    /// it. For the capabilities a plugin declares in [`Plugin::uses`].
    #[must_use]
    pub fn get<C: Capability + ?Sized>(&self) -> Option<Arc<C>> {
        self.capabilities.get::<C>()
    }

    /// Returns the store, which the host always provides.
    ///
    /// # Errors
    ///
    /// [`PluginError::MissingCapability`] if the host did not register it.
    pub fn store(&self) -> Result<Arc<dyn Store>, PluginError> {
        self.require::<dyn Store>()
    }

    /// Registers `value` as the provider of capability `C`.
    pub fn provide<C: Capability + ?Sized>(&mut self, value: Arc<C>) {
        self.capabilities.provide(value);
    }

    /// Returns a signal that resolves when the server begins to shut down.
    #[must_use]
    pub fn shutdown_signal(&self) -> ShutdownSignal {
        self.shutdown.clone()
    }

    /// Returns the registry, consuming the context once every plugin has started.
    #[must_use]
    pub fn into_capabilities(self) -> Capabilities {
        self.capabilities
    }
}

/// Resolves once the host begins a graceful shutdown.
#[derive(Debug, Clone)]
pub struct ShutdownSignal {
    receiver: watch::Receiver<bool>,
}

impl ShutdownSignal {
    /// Creates a signal and the sender that fires it by sending `true`.
    #[must_use]
    pub fn channel() -> (watch::Sender<bool>, Self) {
        let (sender, receiver) = watch::channel(false);
        (sender, Self { receiver })
    }

    /// Waits until shutdown begins. Returns at once if it already has, or if the host
    /// dropped the sender.
    pub async fn wait(&mut self) {
        let _ = self.receiver.wait_for(|stopping| *stopping).await;
    }

    /// Returns whether shutdown has begun.
    #[must_use]
    pub fn is_shutting_down(&self) -> bool {
        *self.receiver.borrow()
    }
}

/// Middleware that a plugin mounts on every request whose path starts with a prefix.
#[derive(Clone)]
pub struct Hoop {
    path_prefix: String,
    handler: Arc<dyn Handler>,
}

impl Hoop {
    /// Creates a hoop that runs `handler` on requests under `path_prefix` (`/` for all).
    #[must_use]
    pub fn new(path_prefix: impl Into<String>, handler: impl Handler) -> Self {
        Self {
            path_prefix: path_prefix.into(),
            handler: Arc::new(handler),
        }
    }

    /// Returns the path prefix the hoop applies to.
    #[must_use]
    pub fn path_prefix(&self) -> &str {
        &self.path_prefix
    }

    /// Returns the middleware.
    #[must_use]
    pub fn handler(&self) -> Arc<dyn Handler> {
        Arc::clone(&self.handler)
    }
}

impl std::fmt::Debug for Hoop {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Hoop")
            .field("path_prefix", &self.path_prefix)
            .finish_non_exhaustive()
    }
}

/// Everything a started plugin adds to the server.
#[must_use]
#[derive(Default)]
pub struct Contribution {
    /// Routes, merged into the server's root router.
    pub routes: Vec<Router>,
    /// Middleware, run in the plugin's order.
    pub hoops: Vec<Hoop>,
    /// Background tasks, spawned on the host's runtime once the server listens. A task
    /// should end when the [`ShutdownSignal`] fires.
    pub tasks: Vec<BoxFuture>,
    /// Steps run after the server stopped accepting requests, in plugin order.
    pub shutdown: Vec<BoxFuture>,
}

impl Contribution {
    /// Creates an empty contribution.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds `router` to the server's routes.
    pub fn route(mut self, router: Router) -> Self {
        self.routes.push(router);
        self
    }

    /// Adds middleware.
    pub fn hoop(mut self, hoop: Hoop) -> Self {
        self.hoops.push(hoop);
        self
    }

    /// Adds a background task.
    pub fn task(mut self, task: impl Future<Output = ()> + Send + 'static) -> Self {
        self.tasks.push(Box::pin(task));
        self
    }

    /// Adds a step to run at shutdown.
    pub fn on_shutdown(mut self, step: impl Future<Output = ()> + Send + 'static) -> Self {
        self.shutdown.push(Box::pin(step));
        self
    }
}

impl std::fmt::Debug for Contribution {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Contribution")
            .field("routes", &self.routes.len())
            .field("hoops", &self.hoops)
            .field("tasks", &self.tasks.len())
            .field("shutdown", &self.shutdown.len())
            .finish()
    }
}
