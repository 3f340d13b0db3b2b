//! Layered configuration: built-in defaults, the profile file, `--config` files, the
//! environment, and the variable names of the original Node service.
//!
//! Precedence, lowest first:
//!
//! 1. `config/default.toml`, embedded in the binary;
//! 2. `config/<profile>.toml`, embedded, profile from `--profile` or `LATCHKEY_PROFILE`
//!    (default `development`);
//! 3. each file given with `--config`, in order;
//! 4. `LATCHKEY_<SECTION>__<KEY>` environment variables, `__` separating levels;
//! 5. `PORT`, `API_BASE_URL`, `API_RP_ID`, `JWT_SECRET`, `APP_ID`, `REDIS_URL`.

mod error;
mod legacy_env;
mod redact;
mod settings;

use std::path::{Path, PathBuf};

use figment::providers::{Env, Format, Toml};
use figment::value::{Dict, Map};
use figment::{Figment, Metadata, Profile, Provider};

pub use self::error::LoadError;
pub use self::redact::{redact_url, redacted_toml};
pub use self::settings::{
    DynamicPluginSettings, LogFormat, LogSettings, PluginSwitch, ServerSettings, Settings,
    StoreKind, StoreSettings,
};

/// The built-in defaults, with every host setting documented.
pub const DEFAULT_TOML: &str = include_str!("../../../config/default.toml");

/// The profiles shipped in the binary, with their overlay files.
pub const PROFILES: [(&str, &str); 2] = [
    (
        "development",
        include_str!("../../../config/development.toml"),
    ),
    (
        "production",
        include_str!("../../../config/production.toml"),
    ),
];

/// The profile used when neither `--profile` nor `LATCHKEY_PROFILE` names one.
pub const DEFAULT_PROFILE: &str = "development";

/// The sources of configuration beyond the built-in layers.
#[derive(Debug, Clone, Default)]
pub struct ConfigSources {
    /// Profile name; `None` reads `LATCHKEY_PROFILE`, then falls back to `development`.
    pub profile: Option<String>,
    /// Files merged over the profile, in order.
    pub files: Vec<PathBuf>,
    /// Whether to read environment variables. Tests turn this off to stay isolated.
    pub environment: bool,
    /// TOML texts merged last, in order, above the environment. Used by tests and
    /// embedders.
    pub overrides: Vec<String>,
}

impl ConfigSources {
    /// Sources for a command-line run: the given profile and files, plus the environment.
    #[must_use]
    pub fn from_cli(profile: Option<String>, files: Vec<PathBuf>) -> Self {
        Self {
            profile,
            files,
            environment: true,
            overrides: Vec::new(),
        }
    }
}

/// The merged configuration: host settings, plus the figment plugins read their sections
/// from.
#[derive(Debug, Clone)]
pub struct LoadedConfig {
    /// The active profile.
    pub profile: String,
    /// Every layer merged.
    pub figment: Figment,
    /// The host's own settings, validated.
    pub settings: Settings,
}

/// Merges every configured source and validates the host settings.
///
/// # Errors
///
/// [`LoadError`] naming the key, where it was set and what is allowed.
pub fn load(sources: &ConfigSources) -> Result<LoadedConfig, LoadError> {
    let profile = select_profile(sources)?;
    let figment = merge(sources, &profile)?;
    let settings = Settings::extract(&figment, &profile)?;
    Ok(LoadedConfig {
        profile,
        figment,
        settings,
    })
}

fn select_profile(sources: &ConfigSources) -> Result<String, LoadError> {
    let from_env = || {
        sources
            .environment
            .then(|| std::env::var("LATCHKEY_PROFILE").ok())
            .flatten()
    };
    let profile = sources
        .profile
        .clone()
        .or_else(from_env)
        .unwrap_or_else(|| DEFAULT_PROFILE.to_owned());
    if PROFILES.iter().any(|(name, _)| *name == profile) {
        Ok(profile)
    } else {
        let origin = if sources.profile.is_some() {
            "--profile"
        } else {
            "LATCHKEY_PROFILE"
        };
        Err(LoadError::UnknownProfile {
            name: profile,
            origin,
        })
    }
}

fn merge(sources: &ConfigSources, profile: &str) -> Result<Figment, LoadError> {
    let profile_toml = PROFILES
        .iter()
        .find_map(|(name, text)| (*name == profile).then_some(*text))
        .unwrap_or_default();

    let mut figment = Figment::new()
        .merge(Embedded::new(
            "config/default.toml (built in)",
            DEFAULT_TOML,
        ))
        .merge(Embedded::new(
            format!("config/{profile}.toml (built in)"),
            profile_toml,
        ));
    for file in &sources.files {
        figment = figment.merge(toml_file(file)?);
    }
    if sources.environment {
        figment = figment.merge(LatchkeyEnv);
        figment = legacy_env::merge(figment)?;
    }
    for (index, text) in sources.overrides.iter().enumerate() {
        figment = figment.merge(Embedded::new(
            format!("overrides #{}", index + 1),
            text.clone(),
        ));
    }
    Ok(figment)
}

fn toml_file(path: &Path) -> Result<figment::providers::Data<Toml>, LoadError> {
    // `Toml::file` treats a missing file as empty, which would hide a typo in `--config`.
    if !path.is_file() {
        return Err(LoadError::MissingFile {
            path: path.to_owned(),
        });
    }
    Ok(Toml::file(path))
}

/// TOML text compiled into the binary or passed in code, with a name for error messages.
struct Embedded {
    name: String,
    text: String,
}

impl Embedded {
    fn new(name: impl Into<String>, text: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            text: text.into(),
        }
    }
}

impl Provider for Embedded {
    fn metadata(&self) -> Metadata {
        Metadata::from(
            self.name.clone(),
            figment::Source::Custom(self.name.clone()),
        )
    }

    fn data(&self) -> Result<Map<Profile, Dict>, figment::Error> {
        Toml::string(&self.text).data()
    }
}

/// The `LATCHKEY_<SECTION>__<KEY>` variables, with messages naming the variable.
struct LatchkeyEnv;

impl Provider for LatchkeyEnv {
    fn metadata(&self) -> Metadata {
        Metadata::named("environment").interpolater(|_, keys| {
            let name: Vec<String> = keys.iter().map(|key| key.to_ascii_uppercase()).collect();
            format!("environment variable LATCHKEY_{}", name.join("__"))
        })
    }

    fn data(&self) -> Result<Map<Profile, Dict>, figment::Error> {
        Env::prefixed("LATCHKEY_")
            .ignore(&["profile"])
            .split("__")
            .data()
    }
}

#[cfg(test)]
mod tests;
