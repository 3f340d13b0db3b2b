//! The Latchkey host: configuration, store backends, plugin loading, and the server.
//!
//! `main.rs` parses the command line and calls [`cli::run`]. Embedders and tests start a
//! server directly:
//!
//! ```no_run
//! # async fn demo() -> anyhow::Result<()> {
//! let config = latchkey::config::load(&latchkey::config::ConfigSources::default())?;
//! let server = latchkey::server::start(config).await?;
//! println!("listening on {}", server.url());
//! server.shutdown().await;
//! # Ok(())
//! # }
//! ```
//!
//! - [`config`]: the figment layers, the original service's variables, redaction;
//! - [`store`]: the memory and Redis backends of the `Store` capability;
//! - [`plugins`]: built-in and library plugins, enabled, order and scope, capability
//!   checks, start order;
//! - [`server`]: the salvo service, the host's hoops, listening, graceful shutdown;
//! - [`telemetry`]: the tracing subscriber.

pub mod cli;
pub mod config;
pub mod plugins;
pub mod server;
pub mod store;
pub mod telemetry;

/// Capabilities the host provides to every plugin, whatever is enabled.
pub const HOST_CAPABILITIES: [&str; 1] = [latchkey_sdk::capability::name_of::<
    dyn latchkey_sdk::capability::Store,
>()];
