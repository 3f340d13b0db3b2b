//! Finding, ordering, configuring and starting plugins.
//!
//! - [`builtin`]: plugins compiled into this binary, collected through `inventory`.
//! - [`dynamic`]: plugins loaded from the shared libraries of `[[dynamic_plugins]]`.
//! - [`library_file`]: checks of a library's file before the loader maps it.
//! - [`order`]: the start order that satisfies every required capability.
//! - [`scope`]: the paths that config limits a plugin's hoops to.

mod builtin;
mod catalog;
pub mod dynamic;
pub mod library_file;
mod order;
pub(crate) mod scope;

pub use self::builtin::MissingBuiltIn;
pub use self::catalog::{Catalog, CatalogError, PluginEntry, PluginSource};
pub use self::order::start_order;
pub use self::scope::HoopScope;
