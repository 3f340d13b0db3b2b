//! The order in which plugins start: providers before the plugins that require them.

use std::collections::BTreeSet;

use super::{CatalogError, PluginEntry};

/// Returns the indices of `entries` in start order.
///
/// A plugin starts after every plugin that provides a capability it requires or uses;
/// among the plugins that are ready, the one earliest in `entries` starts first.
///
/// # Errors
///
/// [`CatalogError::Cycle`] when plugins require each other's capabilities in a cycle.
pub fn start_order(entries: &[&PluginEntry]) -> Result<Vec<usize>, CatalogError> {
    let mut provided: BTreeSet<&str> = crate::HOST_CAPABILITIES.into_iter().collect();
    let mut started = vec![false; entries.len()];
    // A used capability that no entry provides is never waited for.
    let offered: BTreeSet<&str> = entries
        .iter()
        .flat_map(|entry| entry.plugin.provides())
        .collect();
    let mut order = Vec::with_capacity(entries.len());

    while order.len() < entries.len() {
        let ready = (0..entries.len()).find(|&index| {
            !started[index]
                && entries[index]
                    .plugin
                    .requires()
                    .iter()
                    .all(|capability| provided.contains(capability))
                && entries[index].plugin.uses().iter().all(|capability| {
                    provided.contains(capability) || !offered.contains(capability)
                })
        });
        let Some(index) = ready else {
            let waiting: Vec<&str> = (0..entries.len())
                .filter(|&index| !started[index])
                .map(|index| entries[index].plugin.name())
                .collect();
            return Err(CatalogError::Cycle {
                plugins: waiting.join(", "),
            });
        };
        started[index] = true;
        provided.extend(entries[index].plugin.provides());
        order.push(index);
    }
    Ok(order)
}
