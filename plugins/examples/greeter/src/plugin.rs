//! The plugin: its facts, config and start-up.

use std::sync::Arc;
use std::time::Duration;

use latchkey_sdk::capability::{self, RevocationList, TokenVerifier};
use latchkey_sdk::prelude::*;
use latchkey_sdk::salvo::Router;
use latchkey_sdk::{ShutdownSignal, guard};
use serde::Deserialize;

use crate::routes::{self, Greeting};

/// Store key of the visit counter.
pub(crate) const VISITS_KEY: &str = "greeter:visits";

/// Store key of the latest visit's time, in Unix seconds.
pub(crate) const LAST_VISIT_KEY: &str = "greeter:last_visit";

/// Store key of the background task's tick counter.
pub(crate) const TICKS_KEY: &str = "greeter:ticks";

/// How long the counters live after they are created.
pub(crate) const COUNTER_TTL: Duration = Duration::from_secs(24 * 60 * 60);

/// The `greeter` plugin.
#[derive(Debug, Default)]
pub struct GreeterPlugin;

/// `[plugins.greeter]`.
#[derive(Debug, Deserialize)]
#[serde(default)]
struct Config {
    greeting: String,
    tick_every_ms: u64,
    panic_route: bool,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            greeting: "hello".to_owned(),
            tick_every_ms: 1000,
            panic_route: false,
        }
    }
}

impl Plugin for GreeterPlugin {
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
        vec![capability::name_of::<dyn TokenVerifier>()]
    }

    fn uses(&self) -> Vec<&'static str> {
        vec![capability::name_of::<dyn RevocationList>()]
    }

    fn configure(
        &self,
        section: ConfigSection<'_>,
        _host: &HostSettings,
    ) -> Result<Box<dyn ConfiguredPlugin>, ConfigError> {
        let config: Config = section.extract()?;
        let greeting = config.greeting.trim();
        if greeting.is_empty() || greeting.len() > 100 {
            return Err(section.invalid("greeting", "must be 1 to 100 characters"));
        }
        // The greeting goes into a header, so it must be a valid header value.
        if !greeting.chars().all(|c| c == ' ' || c.is_ascii_graphic()) {
            return Err(section.invalid("greeting", "must be printable ASCII"));
        }
        if config.tick_every_ms < 10 {
            return Err(section.invalid("tick_every_ms", "must be at least 10"));
        }
        Ok(Box::new(Greeter {
            greeting: Greeting::new(greeting),
            tick_every: Duration::from_millis(config.tick_every_ms),
            panic_route: config.panic_route,
        }))
    }
}

/// The configured plugin.
struct Greeter {
    greeting: Greeting,
    tick_every: Duration,
    panic_route: bool,
}

#[async_trait]
impl ConfiguredPlugin for Greeter {
    async fn start(
        self: Box<Self>,
        context: &mut StartContext,
    ) -> Result<Contribution, PluginError> {
        let store = context.store()?;
        let guard = Guard::from_context(context)?;
        tracing::info!(
            greeting = %self.greeting,
            checks_revocation = guard.checks_revocation(),
            "greeter ready"
        );

        let mut api = Router::with_path("api/greeter")
            .push(Router::with_path("hello").get(routes::Hello {
                greeting: self.greeting.clone(),
                store: Arc::clone(&store),
            }))
            .push(
                Router::with_path("me")
                    .hoop(guard)
                    .get(routes::Me(self.greeting.clone())),
            )
            .push(Router::with_path("ticks").get(routes::Ticks(Arc::clone(&store))));
        if self.panic_route {
            api = api.push(Router::with_path("panic").get(routes::Panic));
        }
        Ok(Contribution::new()
            .route(api)
            .hoop(Hoop::new("/", routes::Header(self.greeting.clone())))
            .task(tick(store, self.tick_every, context.shutdown_signal())))
    }
}

/// Counts a tick in the store every `period` until shutdown.
async fn tick(store: Arc<dyn Store>, period: Duration, mut shutdown: ShutdownSignal) {
    let mut interval = tokio::time::interval(period);
    loop {
        tokio::select! {
            _ = interval.tick() => match store.increment(TICKS_KEY, 1, COUNTER_TTL).await {
                Ok(ticks) => tracing::debug!(ticks, "greeter tick"),
                Err(error) => tracing::warn!(%error, "greeter tick not counted"),
            },
            () = shutdown.wait() => {
                tracing::info!("greeter stopped");
                return;
            }
        }
    }
}

/// Returns the subject (`sub`) of the request's verified token, for routes behind the guard.
pub(crate) fn subject(depot: &latchkey_sdk::salvo::Depot) -> Option<String> {
    guard::claims(depot).map(|token| token.subject.clone())
}
