//! Tasks that a plugin starts while it runs.

use std::future::Future;

use tokio::task::JoinHandle;
use tracing::Instrument;

/// Spawns `task` on the host's tokio runtime, as work of the calling plugin.
///
/// Plugin code calls this instead of `tokio::spawn`, because a plugin loaded from a shared
/// library has its own copy of tokio, which does not know the host's runtime. There the
/// task runs as every call into the plugin does. The host's runtime is entered, so timers
/// and I/O work, the plugin's span is open, and a panic is caught on the library's side
/// and logged with the plugin's name, after which the handle resolves normally. In a
/// compiled-in plugin this is `tokio::spawn` in the current span, and the handle reports
/// a panic.
///
/// For work that lasts as long as the server, return the task from
/// [`ConfiguredPlugin::start`](crate::ConfiguredPlugin::start) with
/// [`Contribution::task`](crate::Contribution::task) instead.
///
/// # Panics
///
/// In a compiled-in plugin, when called outside a tokio runtime, as `tokio::spawn` does.
pub fn spawn(task: impl Future<Output = ()> + Send + 'static) -> JoinHandle<()> {
    match crate::dynamic::spawn_in_library(Box::pin(task)) {
        Ok(handle) => handle,
        Err(task) => tokio::spawn(task.in_current_span()),
    }
}
