//! The contract between the Latchkey host and its plugins.
//!
//! A plugin is a type that implements [`Plugin`]. It names itself and its config section,
//! and declares a default order and the capabilities it provides and requires. It
//! validates its config in [`Plugin::configure`]. Once started, it returns a
//! [`Contribution`] of routes, hoops (salvo middleware), background tasks and shutdown
//! steps. Compiled-in plugins register themselves with [`register_plugin!`].
//!
//! ```
//! use std::sync::Arc;
//!
//! use latchkey_sdk::prelude::*;
//! use latchkey_sdk::salvo::{Depot, FlowCtrl, Handler, Request, Response, Router};
//! use latchkey_sdk::salvo::writing::Text;
//! use serde::Deserialize;
//!
//! /// Responds to `GET /hello` with a greeting from config.
//! #[derive(Default)]
//! struct Hello;
//!
//! /// `[plugins.hello]`.
//! #[derive(Deserialize)]
//! #[serde(default)]
//! struct Config {
//!     /// Text of the greeting. Default: "hello".
//!     greeting: String,
//! }
//!
//! impl Default for Config {
//!     fn default() -> Self {
//!         Self { greeting: "hello".into() }
//!     }
//! }
//!
//! impl Plugin for Hello {
//!     fn name(&self) -> &'static str { "hello" }
//!     fn version(&self) -> &'static str { env!("CARGO_PKG_VERSION") }
//!     fn default_order(&self) -> i32 { 500 }
//!
//!     fn configure(
//!         &self,
//!         section: ConfigSection<'_>,
//!         _host: &HostSettings,
//!     ) -> Result<Box<dyn ConfiguredPlugin>, ConfigError> {
//!         let config: Config = section.extract()?;
//!         if config.greeting.is_empty() {
//!             return Err(section.invalid("greeting", "must not be empty"));
//!         }
//!         Ok(Box::new(Greeter { greeting: Arc::from(config.greeting) }))
//!     }
//! }
//!
//! struct Greeter {
//!     greeting: Arc<str>,
//! }
//!
//! #[async_trait]
//! impl ConfiguredPlugin for Greeter {
//!     async fn start(
//!         self: Box<Self>,
//!         _context: &mut StartContext,
//!     ) -> Result<Contribution, PluginError> {
//!         let route = Router::with_path("hello").get(GreetHandler(self.greeting));
//!         Ok(Contribution::new().route(route))
//!     }
//! }
//!
//! struct GreetHandler(Arc<str>);
//!
//! #[async_trait]
//! impl Handler for GreetHandler {
//!     async fn handle(&self, _: &mut Request, _: &mut Depot, res: &mut Response, _: &mut FlowCtrl) {
//!         res.render(Text::Plain(self.0.to_string()));
//!     }
//! }
//!
//! latchkey_sdk::register_plugin!(Hello);
//! ```
//!
//! # Configuration
//!
//! Each plugin reads `[plugins.<name>]` through [`ConfigSection::extract`], which rejects
//! keys the config type does not define. The host reads `enabled` and `order` in every
//! section itself.
//!
//! # Capabilities
//!
//! Plugins never depend on each other's crates. A plugin that issues tokens provides
//! `dyn TokenIssuer`; one that needs tokens requires it and looks it up with
//! [`StartContext::require`]. The host provides `dyn Store`, the only place a plugin may
//! keep state, so that every plugin behaves the same on the memory and Redis backends.
//!
//! # Protected routes
//!
//! A plugin protects a route by mounting a [`Guard`] on it, built with
//! [`Guard::from_context`]: requests without a valid, unrevoked Bearer token get 401, and
//! handlers read the verified claims with [`guard::claims`]. Operator routes check an admin
//! key with [`AdminKeys::authorize`] on the keys in [`HostSettings::admin_keys`].
//!
//! # Errors
//!
//! Handlers answer errors with [`ApiError`], which renders the JSON shape every client of
//! Latchkey reads, and read bodies with [`read_json`], which maps an oversized body to 413
//! and a malformed one to 400 naming the field.
//!
//! # Features
//!
//! - `testing`: `testing::FakeStore`, a store for unit tests that can lose races on cue.

pub mod admin;
pub mod capability;
pub mod config;
pub mod dynamic;
mod error;
mod export;
pub mod guard;
pub mod http;
pub mod plugin;
mod task;
#[cfg(feature = "testing")]
pub mod testing;

pub use salvo;

pub use crate::admin::{AdminError, AdminKey, AdminKeys};
pub use crate::capability::{Capabilities, Capability};
pub use crate::config::{ConfigError, ConfigSection};
pub use crate::error::{PluginError, error_chain, panic_message};
pub use crate::export::{PluginRegistration, registered_plugins};
pub use crate::guard::Guard;
pub use crate::http::{ApiError, read_form, read_json};
pub use crate::plugin::{
    BoxFuture, ConfiguredPlugin, Contribution, Hoop, HostSettings, Plugin, ShutdownSignal,
    StartContext,
};
pub use crate::task::spawn;

/// The items nearly every plugin uses.
pub mod prelude {
    pub use salvo::async_trait;

    pub use crate::capability::{Store, TokenIssuer, TokenRequest, TokenVerifier};
    pub use crate::{
        ApiError, ConfigError, ConfigSection, ConfiguredPlugin, Contribution, Guard, Hoop,
        HostSettings, Plugin, PluginError, StartContext, read_json,
    };
}

#[doc(hidden)]
pub mod __private {
    pub use inventory;
}
