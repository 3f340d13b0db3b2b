//! Finding, ordering, configuring and starting plugins.
//!
//! - [`builtin`]: plugins compiled into this binary, collected through `inventory`.
//! - [`order`]: the start order that satisfies every required capability.

mod builtin;
mod catalog;
mod order;

pub use self::catalog::{Catalog, CatalogError, PluginEntry, PluginSource};
pub use self::order::start_order;
