//! A plugin's own config section, and the errors that stop start-up.

use figment::value::Value;
use figment::{Figment, Metadata, Source};
use serde::de::{self, DeserializeOwned, Visitor};

/// Keys that the host reads in every plugin section, so no plugin config may define them.
pub const HOST_KEYS: [&str; 3] = ["enabled", "order", "scope"];

/// A configuration mistake, naming the key, where its value came from and what is allowed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// A key that no setting of the section reads.
    #[error("unknown key {key} in {origin}: expected one of {expected}")]
    UnknownKey {
        /// Full key path, such as `plugins.passkey.rp_idd`.
        key: String,
        /// The file or environment variable that set it.
        origin: String,
        /// The keys the section accepts, comma separated.
        expected: String,
    },
    /// A value of the wrong type or outside the allowed range.
    #[error("invalid value for {key} in {origin}: {message}")]
    Invalid {
        /// Full key path.
        key: String,
        /// The file or environment variable that set it, or `built-in defaults`.
        origin: String,
        /// The rule that failed and the values allowed.
        message: String,
    },
    /// The plugin panicked while reading its section.
    #[error("plugin {plugin} panicked while reading its config: {message}")]
    Panicked {
        /// The plugin's name.
        plugin: String,
        /// The panic message.
        message: String,
    },
}

/// The section `[plugins.<name>]` of the merged configuration.
#[derive(Debug, Clone, Copy)]
pub struct ConfigSection<'a> {
    figment: &'a Figment,
    name: &'a str,
}

impl<'a> ConfigSection<'a> {
    /// Creates the view of plugin `name`'s section of `figment`.
    #[must_use]
    pub fn new(figment: &'a Figment, name: &'a str) -> Self {
        Self { figment, name }
    }

    /// Returns the section's key path, `plugins.<name>`.
    #[must_use]
    pub fn path(&self) -> String {
        format!("plugins.{}", self.name)
    }

    /// Returns the full path of `key` in this section.
    #[must_use]
    pub fn key_path(&self, key: &str) -> String {
        format!("plugins.{}.{key}", self.name)
    }

    /// Deserializes the section into `T`, rejecting keys that `T` does not define.
    ///
    /// `T` should use `#[serde(default)]` so that an absent section gives the defaults. The
    /// host keys `enabled`, `order` and `scope` are accepted and left out of `T`. Nested structs of
    /// `T` should use `#[serde(deny_unknown_fields)]`, so that they reject unknown keys too.
    ///
    /// # Errors
    ///
    /// [`ConfigError::UnknownKey`] for a key `T` does not read, and
    /// [`ConfigError::Invalid`] for a value `T` cannot hold.
    pub fn extract<T: DeserializeOwned>(&self) -> Result<T, ConfigError> {
        let path = self.path();
        if let Ok(Value::Dict(_, entries)) = self.figment.find_value(&path) {
            let fields = struct_fields::<T>();
            for key in entries.keys() {
                let known = HOST_KEYS.contains(&key.as_str()) || fields.contains(&key.as_str());
                if !known {
                    return Err(ConfigError::UnknownKey {
                        key: self.key_path(key),
                        origin: self.origin_of(key),
                        expected: fields.join(", "),
                    });
                }
            }
        }

        self.figment.focus(&path).extract::<T>().map_err(|error| {
            let key = error.path.join(".");
            let message = error.kind.to_string();
            let origin = error.metadata.as_ref().map_or_else(
                || "built-in defaults".to_owned(),
                |metadata| describe_origin(metadata, &format!("{path}.{key}")),
            );
            ConfigError::Invalid {
                key: if key.is_empty() {
                    path
                } else {
                    self.key_path(&key)
                },
                origin,
                message,
            }
        })
    }

    /// Builds the error for a value of `key` that deserialized but breaks a rule.
    #[must_use]
    pub fn invalid(&self, key: &str, message: impl Into<String>) -> ConfigError {
        ConfigError::Invalid {
            key: self.key_path(key),
            origin: self.origin_of(key),
            message: message.into(),
        }
    }

    /// Returns where the value of `key` in this section came from.
    #[must_use]
    pub fn origin_of(&self, key: &str) -> String {
        origin_of(self.figment, &self.key_path(key))
    }
}

/// Returns where the value at `path` of `figment` came from: a file, an environment
/// variable, or `built-in defaults` when nothing set it.
#[must_use]
pub fn origin_of(figment: &Figment, path: &str) -> String {
    figment.find_metadata(path).map_or_else(
        || "built-in defaults".to_owned(),
        |m| describe_origin(m, path),
    )
}

/// Describes the provider in `metadata` for a message about the value at `path`: the file
/// path, the environment variable, or the provider's name.
#[must_use]
pub fn describe_origin(metadata: &Metadata, path: &str) -> String {
    match &metadata.source {
        Some(Source::File(file)) => file.display().to_string(),
        Some(Source::Custom(name)) => name.clone(),
        _ => {
            let keys: Vec<&str> = path.split('.').collect();
            metadata
                .interpolate(&figment::Profile::Default, &keys)
                .to_string()
        }
    }
}

/// Returns the field names of struct `T` by asking its `Deserialize` impl.
///
/// `T`'s impl passes its field list to `deserialize_struct`; this probe records the list
/// and stops. A type that is not a struct yields an empty list.
#[must_use]
pub fn struct_fields<T: DeserializeOwned>() -> &'static [&'static str] {
    let mut fields = None;
    let _ = T::deserialize(FieldProbe {
        fields: &mut fields,
    });
    fields.unwrap_or(&[])
}

struct FieldProbe<'a> {
    fields: &'a mut Option<&'static [&'static str]>,
}

#[derive(Debug)]
struct ProbeDone;

impl std::fmt::Display for ProbeDone {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("field probe finished")
    }
}

impl std::error::Error for ProbeDone {}

impl de::Error for ProbeDone {
    fn custom<M: std::fmt::Display>(_message: M) -> Self {
        ProbeDone
    }
}

impl<'de> de::Deserializer<'de> for FieldProbe<'_> {
    type Error = ProbeDone;

    fn deserialize_any<V: Visitor<'de>>(self, _visitor: V) -> Result<V::Value, ProbeDone> {
        Err(ProbeDone)
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        fields: &'static [&'static str],
        _visitor: V,
    ) -> Result<V::Value, ProbeDone> {
        *self.fields = Some(fields);
        Err(ProbeDone)
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf
        option unit unit_struct newtype_struct seq tuple tuple_struct map enum identifier
        ignored_any
    }
}

#[cfg(test)]
// `figment::Jail` fixes the closure error type to `figment::Error`, which is large.
#[allow(clippy::result_large_err)]
mod tests {
    use figment::providers::{Format, Toml};
    use serde::Deserialize;

    use super::*;

    #[derive(Debug, Default, Deserialize, PartialEq)]
    #[serde(default)]
    struct Greeting {
        text: String,
        repeat: u32,
    }

    #[test]
    fn struct_fields_lists_declared_fields() {
        assert_eq!(struct_fields::<Greeting>(), ["text", "repeat"]);
        assert!(struct_fields::<u32>().is_empty());
    }

    #[test]
    fn section_extracted_with_host_keys() {
        let figment = Figment::from(Toml::string(
            "[plugins.greet]\nenabled = true\norder = 3\ntext = \"hi\"",
        ));
        let greeting: Greeting = ConfigSection::new(&figment, "greet").extract().unwrap();
        assert_eq!(greeting.text, "hi");
        assert_eq!(greeting.repeat, 0);
    }

    #[test]
    fn absent_section_gives_defaults() {
        let figment = Figment::new();
        let greeting: Greeting = ConfigSection::new(&figment, "greet").extract().unwrap();
        assert_eq!(greeting, Greeting::default());
    }

    #[test]
    fn unknown_key_named_with_file() {
        figment::Jail::expect_with(|jail| {
            jail.create_file("local.toml", "[plugins.greet]\ntexts = \"hi\"")?;
            let figment = Figment::from(Toml::file("local.toml"));
            let error = ConfigSection::new(&figment, "greet")
                .extract::<Greeting>()
                .unwrap_err();
            let message = error.to_string();
            assert!(message.contains("plugins.greet.texts"), "{message}");
            assert!(message.contains("local.toml"), "{message}");
            assert!(message.contains("text, repeat"), "{message}");
            Ok(())
        });
    }

    #[test]
    fn wrong_type_named_with_key() {
        figment::Jail::expect_with(|jail| {
            jail.create_file("local.toml", "[plugins.greet]\nrepeat = \"often\"")?;
            let figment = Figment::from(Toml::file("local.toml"));
            let error = ConfigSection::new(&figment, "greet")
                .extract::<Greeting>()
                .unwrap_err();
            let ConfigError::Invalid { key, origin, .. } = &error else {
                panic!("expected an invalid value, got {error}");
            };
            assert_eq!(key, "plugins.greet.repeat");
            assert!(origin.ends_with("local.toml"), "{origin}");
            Ok(())
        });
    }
}
