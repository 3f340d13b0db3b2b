//! `greeter`, an example Latchkey plugin, and the starting point for writing one.
//!
//! It shows each part a plugin can add, and builds both ways from the same source:
//! compiled into a host (registered with [`latchkey_sdk::register_plugin!`]) or as a
//! shared library the host loads through `[[dynamic_plugins]]` (exported with
//! [`latchkey_sdk::export_plugin!`] when the `dynamic` feature is on).
//!
//! | path | answer |
//! | --- | --- |
//! | `GET /api/greeter/hello` | `{"greeting", "visits"}`, counting visits in the store; a spawned task records the time of the latest |
//! | `GET /api/greeter/me` | `{"greeting", "sub"}` for a valid Bearer token, else 401 |
//! | `GET /api/greeter/ticks` | `{"ticks"}`, how often the background task ran |
//! | `GET /api/greeter/panic` | panics, when `panic_route` is on; with `?in=task`, 202 and a spawned task panics |
//!
//! Its hoop puts `x-greeter: <greeting>` on every response that passes through it, so a
//! response shows whether the hoop ran: an inner plugin's early answer does, an outer
//! plugin's does not.
//!
//! # Configuration
//!
//! ```toml
//! [plugins.greeter]
//! greeting = "hello"    # the greeting of every answer and of the x-greeter header
//! tick_every_ms = 1000  # the period of the background task, at least 10
//! panic_route = false   # serve GET /api/greeter/panic, for testing panic containment
//! ```
//!
//! # Building
//!
//! `cargo build --release -p latchkey-example-greeter --features dynamic` writes
//! `target/release/liblatchkey_example_greeter.so` (`.dylib` on macOS).

mod plugin;
mod routes;

pub use crate::plugin::GreeterPlugin;

/// Name of the plugin and of its config section.
pub const PLUGIN_NAME: &str = "greeter";

latchkey_sdk::register_plugin!(GreeterPlugin);
latchkey_sdk::export_plugin!(GreeterPlugin);
