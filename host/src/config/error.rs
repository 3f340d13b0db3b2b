//! Configuration errors, each printed as one line.

use std::path::PathBuf;

use figment::Figment;
use figment::error::Kind;
use latchkey_sdk::ConfigError;
use latchkey_sdk::config::describe_origin;

/// A reason the configuration could not be loaded. Each message is one line naming the key, the
/// file or variable it came from, and what is allowed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LoadError {
    /// `--profile` or `LATCHKEY_PROFILE` names no shipped profile.
    #[error("unknown profile {name:?} in {origin}: expected development or production")]
    UnknownProfile {
        /// The profile asked for.
        name: String,
        /// `--profile` or `LATCHKEY_PROFILE`.
        origin: &'static str,
    },
    /// A `--config` file does not exist.
    #[error("config file {} not found: check the --config path", path.display())]
    MissingFile {
        /// The path given.
        path: PathBuf,
    },
    /// A plugin section for a plugin this binary does not have.
    #[error("unknown plugin {name} in {origin}: expected one of {expected}")]
    UnknownPlugin {
        /// The section's plugin name.
        name: String,
        /// The file or variable that set it.
        origin: String,
        /// The plugins this binary has.
        expected: String,
    },
    /// An unknown key, or a value of the wrong type or breaking a rule, in a host or a
    /// plugin section.
    #[error(transparent)]
    Config(#[from] ConfigError),
}

impl LoadError {
    /// Converts the first error of a figment extraction of the whole configuration.
    #[must_use]
    pub fn from_figment(error: figment::Error) -> Self {
        Self::from_figment_at(error, "")
    }

    /// Converts the first error of an extraction of the section at `section`.
    #[must_use]
    pub fn from_figment_at(error: figment::Error, section: &str) -> Self {
        let Some(error) = error.into_iter().next() else {
            return Self::Config(ConfigError::Invalid {
                key: section.to_owned(),
                origin: "built-in defaults".to_owned(),
                message: "configuration could not be read".to_owned(),
            });
        };
        let mut path: Vec<String> = section
            .split('.')
            .filter(|part| !part.is_empty())
            .map(str::to_owned)
            .collect();
        path.extend(error.path.iter().cloned());

        let origin = |key: &str| {
            error.metadata.as_ref().map_or_else(
                || "built-in defaults".to_owned(),
                |metadata| describe_origin(metadata, key),
            )
        };
        let error = match &error.kind {
            Kind::UnknownField(field, expected) => {
                if path.last() != Some(field) {
                    path.push(field.clone());
                }
                let key = path.join(".");
                ConfigError::UnknownKey {
                    origin: origin(&key),
                    key,
                    expected: expected.join(", ").replace('`', ""),
                }
            }
            Kind::MissingField(field) => {
                path.push(field.to_string());
                let key = path.join(".");
                ConfigError::Invalid {
                    origin: origin(&key),
                    key,
                    message: "missing: set it in a config file or the environment".to_owned(),
                }
            }
            kind => {
                let key = path.join(".");
                // A TOML syntax error comes with a multi-line excerpt of the file. Its first
                // line contains the position, which is enough for a one-line message.
                let message = kind.to_string();
                let first_line = message.lines().next().unwrap_or_default();
                ConfigError::Invalid {
                    origin: origin(&key),
                    key: if key.is_empty() {
                        "(file)".to_owned()
                    } else {
                        key
                    },
                    message: first_line.replace('`', ""),
                }
            }
        };
        Self::Config(error)
    }

    /// Builds the error for a value of `key` that deserialized but breaks a rule.
    #[must_use]
    pub fn invalid(figment: &Figment, key: &str, message: impl Into<String>) -> Self {
        Self::Config(ConfigError::Invalid {
            key: key.to_owned(),
            origin: latchkey_sdk::config::origin_of(figment, key),
            message: message.into(),
        })
    }
}
