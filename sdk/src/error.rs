//! Errors that stop a plugin from starting.

use crate::capability::StoreError;
use crate::config::ConfigError;

/// A reason a plugin could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PluginError {
    /// The plugin's config is invalid.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// A capability the plugin requires was not provided.
    #[error("capability {name} is not provided by any started plugin")]
    MissingCapability {
        /// The capability's name.
        name: &'static str,
    },
    /// The store failed while the plugin started.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Any other failure, with a sentence for the operator.
    #[error("{message}")]
    Start {
        /// The failure and what to do about it.
        message: String,
        /// The underlying error, if any.
        #[source]
        source: Option<Box<dyn std::error::Error + Send + Sync>>,
    },
}

impl PluginError {
    /// Creates a start failure with `message` and no underlying error.
    #[must_use]
    pub fn start(message: impl Into<String>) -> Self {
        Self::Start {
            message: message.into(),
            source: None,
        }
    }

    /// Creates a start failure with `message` caused by `source`.
    #[must_use]
    pub fn start_with(
        message: impl Into<String>,
        source: impl std::error::Error + Send + Sync + 'static,
    ) -> Self {
        Self::Start {
            message: message.into(),
            source: Some(Box::new(source)),
        }
    }
}

/// Formats `error` and each of its sources, joined by `: `, for logs.
///
/// A source whose message the text already contains is left out, because some errors
/// (redis, io) repeat their cause in their own message.
#[must_use]
pub fn error_chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let message = cause.to_string();
        if !text.contains(&message) {
            text.push_str(": ");
            text.push_str(&message);
        }
        source = cause.source();
    }
    text
}

/// Returns the message a panic carried, when it was a string.
#[must_use]
pub fn panic_message(panic: &(dyn std::any::Any + Send)) -> String {
    panic
        .downcast_ref::<&str>()
        .map(|text| (*text).to_owned())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a panic without a message".to_owned())
}

#[cfg(test)]
mod tests {
    use std::panic::catch_unwind;

    use super::*;

    #[test]
    fn panic_message_reads_str_and_string() {
        let from_str = catch_unwind(|| panic!("plain")).unwrap_err();
        assert_eq!(panic_message(&*from_str), "plain");
        let value = 7;
        let from_string = catch_unwind(|| panic!("formatted {value}")).unwrap_err();
        assert_eq!(panic_message(&*from_string), "formatted 7");
    }
}
