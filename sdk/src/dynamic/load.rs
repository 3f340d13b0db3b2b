//! Creating a library's plugin inside the library, wrapped in the boundary.

use std::panic::catch_unwind;

use salvo::async_trait;
use tokio::runtime::Handle;
use tracing::Dispatch;

use super::allocator::{self, HostAllocator};
use super::boundary::{self, Boundary};
use super::capabilities;
use crate::config::{ConfigError, ConfigSection};
use crate::error::PluginError;
use crate::error::panic_message;
use crate::plugin::{ConfiguredPlugin, Contribution, HostSettings, Plugin, StartContext};

/// The services the host hands a library when it loads it.
#[derive(Debug, Clone)]
pub struct HostServices {
    dispatch: Dispatch,
    runtime: Handle,
    allocator: HostAllocator,
}

impl HostServices {
    /// Captures the current tracing dispatcher, the runtime `runtime`, and this binary's
    /// allocator.
    #[must_use]
    pub fn new(runtime: Handle) -> Self {
        Self {
            dispatch: tracing::dispatcher::get_default(Dispatch::clone),
            runtime,
            allocator: HostAllocator::of_this_binary(),
        }
    }
}

/// Creates plugin `P` inside a library: installs the host's allocator and tracing
/// dispatcher in this copy of the SDK, then wraps the plugin so that every call into it
/// runs inside the boundary.
///
/// Called through [`PluginDeclaration::load`](super::PluginDeclaration::load); plugin code
/// does not call it.
///
/// # Errors
///
/// The panic message, when creating the plugin or reading its facts panicked.
pub fn load<P: Plugin + Default>(host: &HostServices) -> Result<Box<dyn Plugin>, String> {
    allocator::install(host.allocator);
    // Fails only when the same library is loaded twice, which the host then rejects for
    // the duplicate name.
    let _ = tracing::dispatcher::set_global_default(host.dispatch.clone());
    // The host's dispatcher registered itself with the host's copy of tracing when it was
    // created. This copy learns of it, and of its maximum level, only by asking the
    // global default again.
    tracing::callsite::rebuild_interest_cache();
    let _runtime = host.runtime.enter();
    let runtime = host.runtime.clone();
    let plugin = catch_unwind(move || ContainedPlugin::new(Box::new(P::default()), &runtime))
        .map_err(|panic| panic_message(&*panic))?;
    boundary::install(plugin.boundary.clone());
    Ok(Box::new(plugin))
}

/// A library's plugin, with its facts read once and every call inside the boundary.
struct ContainedPlugin {
    inner: Box<dyn Plugin>,
    boundary: Boundary,
    version: &'static str,
    default_order: i32,
    enabled_by_default: bool,
    provides: Vec<&'static str>,
    requires: Vec<&'static str>,
    uses: Vec<&'static str>,
}

impl ContainedPlugin {
    fn new(inner: Box<dyn Plugin>, runtime: &Handle) -> Self {
        Self {
            boundary: Boundary::new(inner.name(), runtime.clone()),
            version: inner.version(),
            default_order: inner.default_order(),
            enabled_by_default: inner.enabled_by_default(),
            provides: inner.provides(),
            requires: inner.requires(),
            uses: inner.uses(),
            inner,
        }
    }
}

impl Plugin for ContainedPlugin {
    fn name(&self) -> &'static str {
        self.boundary.plugin
    }

    fn version(&self) -> &'static str {
        self.version
    }

    fn default_order(&self) -> i32 {
        self.default_order
    }

    fn enabled_by_default(&self) -> bool {
        self.enabled_by_default
    }

    fn provides(&self) -> Vec<&'static str> {
        self.provides.clone()
    }

    fn requires(&self) -> Vec<&'static str> {
        self.requires.clone()
    }

    fn uses(&self) -> Vec<&'static str> {
        self.uses.clone()
    }

    fn configure(
        &self,
        section: ConfigSection<'_>,
        host: &HostSettings,
    ) -> Result<Box<dyn ConfiguredPlugin>, ConfigError> {
        let configured = self
            .boundary
            .call(|| self.inner.configure(section, host))
            .map_err(|message| ConfigError::Panicked {
                plugin: self.boundary.plugin.to_owned(),
                message,
            })??;
        Ok(Box::new(ContainedConfigured {
            inner: configured,
            boundary: self.boundary.clone(),
            provides: self.provides.clone(),
        }))
    }
}

/// A library's configured plugin, started inside the boundary.
struct ContainedConfigured {
    inner: Box<dyn ConfiguredPlugin>,
    boundary: Boundary,
    provides: Vec<&'static str>,
}

#[async_trait]
impl ConfiguredPlugin for ContainedConfigured {
    async fn start(
        self: Box<Self>,
        context: &mut StartContext,
    ) -> Result<Contribution, PluginError> {
        let boundary = self.boundary;
        let contribution = boundary
            .run(self.inner.start(context))
            .await
            .map_err(|message| {
                PluginError::start(format!("panicked while starting: {message}"))
            })??;
        capabilities::contain_provided(&boundary, context, &self.provides)?;
        Ok(boundary.contain(contribution))
    }
}
