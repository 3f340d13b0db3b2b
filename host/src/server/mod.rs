//! Assembling the salvo service from the enabled plugins, listening, and shutting down.
//!
//! The host's own hoops run outermost, in this order: the request ID and span, and panic
//! catching. Plugin hoops follow in plugin order, each limited to its plugin's scope, then
//! the body limit, so an early response from an inner hoop, a 413 included, still passes
//! through the outer ones. Behind the hoops of a plugin loaded from a library, the host
//! catches panics again, so that a panic of the host's never unwinds into the library.

mod body_limit;
mod catch_panic;
mod fallback;
mod prefix_hoop;
mod request_id;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use latchkey_sdk::capability::Store;
use latchkey_sdk::salvo::catcher::Catcher;
use latchkey_sdk::salvo::conn::{Acceptor, Listener, TcpListener};
use latchkey_sdk::salvo::server::ServerHandle;
use latchkey_sdk::salvo::{Router, Server, Service};
use latchkey_sdk::{
    BoxFuture, Capabilities, ConfigSection, ConfiguredPlugin, Contribution, HostSettings,
    ShutdownSignal, StartContext,
};
use tokio::sync::watch;
use tokio::task::JoinHandle;

pub use self::request_id::{REQUEST_ID_HEADER, REQUEST_ID_KEY};
use self::{
    body_limit::BodyLimit, catch_panic::CatchPanic, fallback::JsonErrors, prefix_hoop::PrefixHoop,
    request_id::RequestId,
};
use crate::config::{LoadError, LoadedConfig, StoreKind};
use crate::plugins::{Catalog, PluginEntry, PluginSource, start_order};
use crate::store::{self, MemoryStore};

/// How often the memory store drops expired entries.
const PURGE_INTERVAL: Duration = Duration::from_secs(60);

/// A server that is listening, and the handles to stop it.
pub struct RunningServer {
    local_addr: SocketAddr,
    store: Arc<dyn Store>,
    capabilities: Capabilities,
    handle: ServerHandle,
    shutdown: watch::Sender<bool>,
    served: JoinHandle<()>,
    tasks: Vec<JoinHandle<()>>,
    shutdown_steps: Vec<(String, BoxFuture)>,
    shutdown_timeout: Duration,
}

impl std::fmt::Debug for RunningServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RunningServer")
            .field("local_addr", &self.local_addr)
            .field("capabilities", &self.capabilities)
            .finish_non_exhaustive()
    }
}

impl RunningServer {
    /// Returns the address the server is bound to, with the real port when config asked
    /// for port 0.
    #[must_use]
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Returns `http://<local address>`.
    #[must_use]
    pub fn url(&self) -> String {
        format!("http://{}", self.local_addr)
    }

    /// Returns the store the plugins use.
    #[must_use]
    pub fn store(&self) -> Arc<dyn Store> {
        Arc::clone(&self.store)
    }

    /// Returns the capabilities the plugins provided.
    #[must_use]
    pub fn capabilities(&self) -> &Capabilities {
        &self.capabilities
    }

    /// Waits for SIGINT or SIGTERM, then shuts down gracefully.
    pub async fn run_until_signal(self) {
        wait_for_signal().await;
        self.shutdown().await;
    }

    /// Stops accepting connections, lets in-flight requests finish within the shutdown
    /// timeout, then runs the plugins' shutdown steps and ends their tasks.
    pub async fn shutdown(self) {
        tracing::info!(
            timeout_s = self.shutdown_timeout.as_secs(),
            "shutdown begun"
        );
        let _ = self.shutdown.send(true);
        self.handle.stop_graceful(self.shutdown_timeout);
        if let Err(error) = self.served.await {
            tracing::error!(%error, "server task failed");
        }
        for (plugin, step) in self.shutdown_steps {
            if tokio::time::timeout(self.shutdown_timeout, step)
                .await
                .is_err()
            {
                tracing::warn!(%plugin, "shutdown step timed out");
            }
        }
        for task in self.tasks {
            if tokio::time::timeout(self.shutdown_timeout, task)
                .await
                .is_err()
            {
                tracing::warn!("background task did not stop in time");
            }
        }
        tracing::info!("shutdown finished");
    }
}

/// Starts a server for `config`: configures, orders and starts the enabled plugins, opens
/// the store, and listens.
///
/// # Errors
///
/// A config mistake, a missing capability, an unreachable store, a plugin that failed to
/// start, or an address that cannot be bound, each with a message for the operator.
pub async fn start(config: LoadedConfig) -> anyhow::Result<RunningServer> {
    let catalog = Catalog::discover(&config)?;
    let enabled: Vec<&PluginEntry> = catalog.enabled().collect();
    let configured = configure_plugins(&config, &enabled)?;
    let order = start_order(&enabled)?;

    let settings = &config.settings;
    let memory = (settings.store.kind == StoreKind::Memory).then(|| Arc::new(MemoryStore::new()));
    let store: Arc<dyn Store> = match &memory {
        Some(memory) => Arc::clone(memory) as Arc<dyn Store>,
        None => store::open(&settings.store)
            .await
            .with_context(|| store_failure(&config))?,
    };
    let (shutdown, signal) = ShutdownSignal::channel();
    let mut capabilities = Capabilities::new();
    capabilities.provide::<dyn Store>(Arc::clone(&store));

    let (contributions, capabilities) =
        start_plugins(&enabled, configured, &order, capabilities, signal.clone()).await?;

    let mut tasks = Vec::new();
    let mut shutdown_steps = Vec::new();
    let mut router = Router::new();
    let mut service_hoops = Vec::new();
    for (entry, contribution) in enabled.iter().zip(contributions) {
        for route in contribution.routes {
            router = router.push(route);
        }
        let scope = Arc::new(entry.scope.clone());
        service_hoops.extend(
            contribution
                .hoops
                .iter()
                .map(|hoop| ServiceHoop::Plugin(PrefixHoop::new(hoop, Arc::clone(&scope)))),
        );
        if matches!(entry.source, PluginSource::Library(_)) && !contribution.hoops.is_empty() {
            service_hoops.push(ServiceHoop::CatchPanic);
        }
        tasks.extend(contribution.tasks.into_iter().map(tokio::spawn));
        let name = entry.plugin.name().to_owned();
        shutdown_steps.extend(
            contribution
                .shutdown
                .into_iter()
                .map(|step| (name.clone(), step)),
        );
    }
    let service = build_service(router, service_hoops, settings.server.body_limit);

    let acceptor = TcpListener::new(settings.server.listen)
        .try_bind()
        .await
        .with_context(|| format!("cannot listen on {}", settings.server.listen))?;
    let local_addr = acceptor
        .holdings()
        .first()
        .and_then(|holding| holding.local_addr.clone().into_std())
        .unwrap_or(settings.server.listen);
    let server = Server::new(acceptor);
    let handle = server.handle();
    let served = tokio::spawn(server.serve(service));

    if let Some(memory) = memory {
        tasks.push(tokio::spawn(purge_memory_store(memory, signal)));
    }
    log_startup(&config, &catalog, local_addr);

    Ok(RunningServer {
        local_addr,
        store,
        capabilities,
        handle,
        shutdown,
        served,
        tasks,
        shutdown_steps,
        shutdown_timeout: Duration::from_secs(settings.server.shutdown_timeout),
    })
}

/// Configures every enabled plugin of `catalog`, so that a plugin config mistake is found
/// without starting anything.
///
/// # Errors
///
/// The first plugin config error.
pub fn check_plugin_configs(config: &LoadedConfig, catalog: &Catalog) -> Result<(), LoadError> {
    let enabled: Vec<&PluginEntry> = catalog.enabled().collect();
    configure_plugins(config, &enabled).map(drop)
}

fn configure_plugins(
    config: &LoadedConfig,
    enabled: &[&PluginEntry],
) -> Result<Vec<Box<dyn ConfiguredPlugin>>, LoadError> {
    let server = &config.settings.server;
    let admin_keys = config.settings.admin.keys(&config.figment)?;
    let host = HostSettings::new(&config.profile, &server.public_url)
        .with_trusted_proxies(server.trusted_proxies.clone())
        .with_admin_keys(admin_keys);
    enabled
        .iter()
        .map(|entry| {
            let section = ConfigSection::new(&config.figment, entry.plugin.name());
            Ok(entry.plugin.configure(section, &host)?)
        })
        .collect()
}

async fn start_plugins(
    enabled: &[&PluginEntry],
    configured: Vec<Box<dyn ConfiguredPlugin>>,
    order: &[usize],
    capabilities: Capabilities,
    signal: ShutdownSignal,
) -> anyhow::Result<(Vec<Contribution>, Capabilities)> {
    let mut pending: Vec<Option<Box<dyn ConfiguredPlugin>>> =
        configured.into_iter().map(Some).collect();
    let mut contributions: Vec<Option<Contribution>> = enabled.iter().map(|_| None).collect();
    let mut context = StartContext::new(capabilities, signal);

    for &index in order {
        let name = enabled[index].plugin.name();
        let Some(plugin) = pending[index].take() else {
            continue;
        };
        let contribution = plugin
            .start(&mut context)
            .await
            .with_context(|| format!("plugin {name} failed to start"))?;
        contributions[index] = Some(contribution);
    }
    let contributions = contributions
        .into_iter()
        .map(Option::unwrap_or_default)
        .collect();
    Ok((contributions, context.into_capabilities()))
}

/// A hoop between the host's outer hoops and the body limit.
enum ServiceHoop {
    /// A plugin's hoop.
    Plugin(PrefixHoop),
    /// The host's panic catching, behind the hoops of a library plugin.
    CatchPanic,
}

fn build_service(router: Router, plugin_hoops: Vec<ServiceHoop>, body_limit: u64) -> Service {
    let mut service = Service::new(router)
        .catcher(Catcher::new(JsonErrors))
        .hoop(RequestId)
        .hoop(CatchPanic);
    for hoop in plugin_hoops {
        service = match hoop {
            ServiceHoop::Plugin(hoop) => service.hoop(hoop),
            ServiceHoop::CatchPanic => service.hoop(CatchPanic),
        };
    }
    // Innermost, so that its early 413 passes out through the plugin hoops and carries
    // their headers. Plugin hoops do not read bodies, and salvo caps any body read
    // before this hoop at its global default of 64 KiB.
    service.hoop(BodyLimit::new(body_limit))
}

fn store_failure(config: &LoadedConfig) -> String {
    match config.settings.store.kind {
        StoreKind::Memory => "cannot open the memory store".to_owned(),
        StoreKind::Redis => format!(
            "cannot connect to Redis at {} (store.redis_url, from {}): check that it runs and is reachable",
            crate::config::redact_url(&config.settings.store.redis_url),
            latchkey_sdk::config::origin_of(&config.figment, "store.redis_url"),
        ),
    }
}

fn log_startup(config: &LoadedConfig, catalog: &Catalog, local_addr: SocketAddr) {
    let store = config.settings.store.kind;
    tracing::info!(
        listen = %local_addr,
        url = %format!("http://{local_addr}"),
        public_url = %config.settings.server.public_url,
        profile = %config.profile,
        store = store.as_str(),
        "latchkey listening"
    );
    if store == StoreKind::Memory {
        if config.profile == "production" {
            tracing::warn!(
                "memory store in production: state is lost on restart and not shared between instances"
            );
        } else {
            tracing::info!("memory store: state is lost on restart");
        }
    }
    for entry in catalog.entries() {
        tracing::info!(
            plugin = entry.plugin.name(),
            version = entry.plugin.version(),
            enabled = entry.enabled,
            order = entry.order,
            source = %entry.source,
            "plugin"
        );
    }
}

async fn purge_memory_store(memory: Arc<MemoryStore>, mut signal: ShutdownSignal) {
    let mut interval = tokio::time::interval(PURGE_INTERVAL);
    loop {
        tokio::select! {
            _ = interval.tick() => {
                let removed = memory.purge_expired();
                tracing::trace!(removed, "purged expired memory store entries");
            }
            () = signal.wait() => return,
        }
    }
}

async fn wait_for_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let Ok(mut terminate) = signal(SignalKind::terminate()) else {
            tracing::warn!("cannot listen for SIGTERM; waiting for SIGINT only");
            let _ = tokio::signal::ctrl_c().await;
            return;
        };
        tokio::select! {
            _ = tokio::signal::ctrl_c() => tracing::info!(signal = "SIGINT", "signal received"),
            _ = terminate.recv() => tracing::info!(signal = "SIGTERM", "signal received"),
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
        tracing::info!(signal = "ctrl-c", "signal received");
    }
}
