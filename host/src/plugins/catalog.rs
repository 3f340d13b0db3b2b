//! Every plugin found, with its effective switch and order.

use std::collections::BTreeSet;
use std::fmt;
use std::path::PathBuf;

use figment::Figment;
use latchkey_sdk::Plugin;
use latchkey_sdk::config::origin_of;

use crate::config::{LoadError, LoadedConfig, Settings};
use crate::plugins::HoopScope;

/// The origin of a plugin.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum PluginSource {
    /// Compiled into this binary.
    BuiltIn,
    /// Loaded from this shared library, listed in `[[dynamic_plugins]]`.
    Library(PathBuf),
}

impl fmt::Display for PluginSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::BuiltIn => f.write_str("built-in"),
            Self::Library(path) => write!(f, "{}", path.display()),
        }
    }
}

impl PluginSource {
    fn describe(&self) -> String {
        match self {
            Self::BuiltIn => "the built-in plugin".to_owned(),
            Self::Library(path) => format!("the library {}", path.display()),
        }
    }
}

/// One plugin with the switch and order that config gives it.
pub struct PluginEntry {
    /// The plugin.
    pub plugin: Box<dyn Plugin>,
    /// Its origin.
    pub source: PluginSource,
    /// Whether it runs.
    pub enabled: bool,
    /// Its effective order: `plugins.<name>.order`, or the plugin's default.
    pub order: i32,
    /// The path prefixes its hoops are limited to or kept out of (`plugins.<name>.scope`).
    pub scope: HoopScope,
}

impl fmt::Debug for PluginEntry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PluginEntry")
            .field("name", &self.plugin.name())
            .field("version", &self.plugin.version())
            .field("source", &self.source)
            .field("enabled", &self.enabled)
            .field("order", &self.order)
            .finish()
    }
}

/// A reason the set of plugins cannot run.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CatalogError {
    /// Two plugins share a name.
    #[error(
        "two plugins are named {name}: {first} and {second}; remove one from \
         [[dynamic_plugins]], or rename it"
    )]
    DuplicateName {
        /// The shared name.
        name: String,
        /// Source of the first one.
        first: String,
        /// Source of the second one.
        second: String,
    },
    /// A `[[dynamic_plugins]]` entry and `[plugins.<name>]` disagree on a switch.
    #[error(
        "plugins.{name}.{key} ({section}) and dynamic_plugins[{index}].{key} ({entry}) \
         disagree: set it in one place"
    )]
    ConflictingSwitch {
        /// The plugin's name.
        name: String,
        /// `enabled` or `order`.
        key: &'static str,
        /// The index of the library entry.
        index: usize,
        /// The section's value and its source, such as `60, from /etc/latchkey.toml`.
        section: String,
        /// The entry's value and its source.
        entry: String,
    },
    /// A built-in plugin did not register.
    #[error(transparent)]
    MissingBuiltIn(#[from] super::builtin::MissingBuiltIn),
    /// A plugin library cannot be loaded.
    #[error(transparent)]
    Library(#[from] super::dynamic::LibraryError),
    /// An enabled plugin requires a capability that no enabled plugin provides.
    #[error(
        "plugin {plugin} requires capability {capability}, which no enabled plugin provides{hint}"
    )]
    MissingCapability {
        /// The plugin that requires it.
        plugin: String,
        /// The capability.
        capability: String,
        /// The plugin to enable, if a disabled plugin provides the capability.
        hint: String,
    },
    /// Plugins require each other's capabilities in a cycle.
    #[error("plugins {plugins} require each other's capabilities in a cycle")]
    Cycle {
        /// The plugins in the cycle, comma separated.
        plugins: String,
    },
    /// The configuration is invalid.
    #[error(transparent)]
    Config(#[from] LoadError),
}

/// Every plugin found, sorted by effective order and then name.
#[derive(Debug)]
pub struct Catalog {
    entries: Vec<PluginEntry>,
}

impl Catalog {
    /// Finds every built-in plugin, loads the libraries of `[[dynamic_plugins]]`, and
    /// applies the `enabled`, `order` and `scope` keys of `config`.
    ///
    /// # Errors
    ///
    /// A built-in plugin that did not register, a library that cannot be loaded, a
    /// duplicate plugin name, a section for a plugin that was not found, or a host key of
    /// the wrong type.
    pub fn discover(config: &LoadedConfig) -> Result<Self, CatalogError> {
        let mut plugins: Vec<(Box<dyn Plugin>, PluginSource)> = super::builtin::plugins()?
            .into_iter()
            .map(|plugin| (plugin, PluginSource::BuiltIn))
            .collect();
        let mut switches = Vec::new();
        for (index, loaded) in super::dynamic::load_all(&config.settings, &config.figment)?
            .into_iter()
            .enumerate()
        {
            switches.push((loaded.plugin.name(), index, loaded.enabled, loaded.order));
            plugins.push((loaded.plugin, PluginSource::Library(loaded.path)));
        }
        let mut catalog = Self::from_plugins(plugins, &config.figment)?;
        catalog.apply_library_switches(&switches, &config.figment)?;
        Ok(catalog)
    }

    /// Builds the catalog of `plugins` under the configuration `figment`.
    ///
    /// # Errors
    ///
    /// As [`Catalog::discover`].
    pub fn from_plugins(
        plugins: Vec<(Box<dyn Plugin>, PluginSource)>,
        figment: &Figment,
    ) -> Result<Self, CatalogError> {
        let mut names = BTreeSet::new();
        let mut entries = Vec::with_capacity(plugins.len());
        for (plugin, source) in plugins {
            if !names.insert(plugin.name()) {
                let first = entries
                    .iter()
                    .find(|entry: &&PluginEntry| entry.plugin.name() == plugin.name())
                    .map(|entry| entry.source.describe())
                    .unwrap_or_default();
                return Err(CatalogError::DuplicateName {
                    name: plugin.name().to_owned(),
                    first,
                    second: source.describe(),
                });
            }
            let switch = Settings::plugin_switch(figment, plugin.name())?;
            entries.push(PluginEntry {
                enabled: switch
                    .enabled
                    .unwrap_or_else(|| plugin.enabled_by_default()),
                order: switch.order.unwrap_or_else(|| plugin.default_order()),
                scope: switch.scope,
                plugin,
                source,
            });
        }
        reject_unknown_sections(figment, &names)?;
        entries.sort_by(|a, b| (a.order, a.plugin.name()).cmp(&(b.order, b.plugin.name())));

        let catalog = Self { entries };
        catalog.check_capabilities()?;
        Ok(catalog)
    }

    /// Applies the `enabled` and `order` of each `[[dynamic_plugins]]` entry, refusing one
    /// that its `[plugins.<name>]` section contradicts.
    fn apply_library_switches(
        &mut self,
        switches: &[(&'static str, usize, Option<bool>, Option<i32>)],
        figment: &Figment,
    ) -> Result<(), CatalogError> {
        for &(name, index, enabled, order) in switches {
            let section = Settings::plugin_switch(figment, name)?;
            let conflict = |key, section: String, entry: String| CatalogError::ConflictingSwitch {
                name: name.to_owned(),
                key,
                index,
                section: format!(
                    "{section}, from {}",
                    origin_of(figment, &format!("plugins.{name}.{key}"))
                ),
                entry: format!("{entry}, from {}", origin_of(figment, "dynamic_plugins")),
            };
            if let (Some(section), Some(entry)) = (section.enabled, enabled)
                && section != entry
            {
                return Err(conflict("enabled", section.to_string(), entry.to_string()));
            }
            if let (Some(section), Some(entry)) = (section.order, order)
                && section != entry
            {
                return Err(conflict("order", section.to_string(), entry.to_string()));
            }
            let Some(entry) = self.entries.iter_mut().find(|e| e.plugin.name() == name) else {
                continue;
            };
            if let Some(enabled) = enabled {
                entry.enabled = enabled;
            }
            if let Some(order) = order {
                entry.order = order;
            }
        }
        self.entries
            .sort_by(|a, b| (a.order, a.plugin.name()).cmp(&(b.order, b.plugin.name())));
        self.check_capabilities()
    }

    /// Returns every plugin, sorted by effective order.
    #[must_use]
    pub fn entries(&self) -> &[PluginEntry] {
        &self.entries
    }

    /// Returns the enabled plugins, sorted by effective order.
    pub fn enabled(&self) -> impl Iterator<Item = &PluginEntry> {
        self.entries.iter().filter(|entry| entry.enabled)
    }

    fn check_capabilities(&self) -> Result<(), CatalogError> {
        let provided: BTreeSet<&str> = self
            .enabled()
            .flat_map(|entry| entry.plugin.provides())
            .chain(crate::HOST_CAPABILITIES)
            .collect();
        for entry in self.enabled() {
            for capability in entry.plugin.requires() {
                if provided.contains(capability) {
                    continue;
                }
                let providers: Vec<&str> = self
                    .entries
                    .iter()
                    .filter(|other| other.plugin.provides().contains(&capability))
                    .map(|other| other.plugin.name())
                    .collect();
                let hint = if providers.is_empty() {
                    String::new()
                } else {
                    format!(": enable plugin {}", providers.join(" or "))
                };
                return Err(CatalogError::MissingCapability {
                    plugin: entry.plugin.name().to_owned(),
                    capability: capability.to_owned(),
                    hint,
                });
            }
        }
        Ok(())
    }
}

fn reject_unknown_sections(figment: &Figment, names: &BTreeSet<&str>) -> Result<(), LoadError> {
    let Ok(figment::value::Value::Dict(_, sections)) = figment.find_value("plugins") else {
        return Ok(());
    };
    for (name, section) in &sections {
        if names.contains(name.as_str()) {
            continue;
        }
        // The built-in files configure every plugin of a default build, so a binary built
        // without some of them skips their sections. A key set anywhere else is an error.
        let path = format!("plugins.{name}");
        let set_by_operator = match section {
            figment::value::Value::Dict(_, keys) => keys
                .keys()
                .map(|key| origin_of(figment, &format!("{path}.{key}")))
                .find(|origin| !origin.ends_with("(built in)")),
            _ => Some(origin_of(figment, &path)),
        };
        if let Some(origin) = set_by_operator {
            let expected: Vec<&str> = names.iter().copied().collect();
            return Err(LoadError::UnknownPlugin {
                name: name.clone(),
                origin,
                expected: expected.join(", "),
            });
        }
    }
    Ok(())
}

#[cfg(test)]
// `figment::Jail` fixes the closure error type to `figment::Error`, which is large.
#[allow(clippy::result_large_err)]
mod tests {
    use figment::Jail;

    use super::*;
    use crate::config::{ConfigSources, load};

    fn sources(files: &[&str]) -> ConfigSources {
        ConfigSources::from_cli(None, files.iter().map(std::path::PathBuf::from).collect())
    }

    #[test]
    fn built_in_sections_of_absent_plugins_skipped() {
        Jail::expect_with(|_| {
            let config = load(&sources(&[])).expect("defaults load");
            let catalog = Catalog::from_plugins(Vec::new(), &config.figment);
            assert!(catalog.is_ok(), "{:?}", catalog.err());
            Ok(())
        });
    }

    #[test]
    fn operator_section_of_absent_plugin_rejected() {
        Jail::expect_with(|jail| {
            jail.create_file("local.toml", "[plugins.jwt]\ntoken_ttl = 600\n")?;
            let config = load(&sources(&["local.toml"])).expect("config loads");
            let error = Catalog::from_plugins(Vec::new(), &config.figment).unwrap_err();
            let message = error.to_string();
            assert!(message.contains("unknown plugin jwt"), "{message}");
            assert!(message.contains("local.toml"), "{message}");
            Ok(())
        });
    }
}
