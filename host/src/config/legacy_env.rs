//! The environment variables of the original Node service, so that its operators can
//! switch without renaming anything.

use std::net::SocketAddr;

use figment::value::{Dict, Map, Value};
use figment::{Figment, Metadata, Profile, Provider, Source};

use latchkey_sdk::ConfigError;

use super::error::LoadError;

/// Variables that set one key each, as the original service read them.
const DIRECT: [(&str, &str); 5] = [
    ("API_BASE_URL", "server.public_url"),
    ("API_RP_ID", "plugins.passkey.rp_id"),
    ("JWT_SECRET", "plugins.jwt.key_encryption_secret"),
    ("APP_ID", "plugins.passkey.apple_app_id"),
    ("REDIS_URL", "store.redis_url"),
];

/// Merges the original service's variables over `figment`, above every other layer.
///
/// `PORT` replaces only the port of `server.listen`, keeping the configured address.
pub(super) fn merge(mut figment: Figment) -> Result<Figment, LoadError> {
    if let Some(port) = read("PORT") {
        let port: u16 = port.trim().parse().map_err(|_| {
            LoadError::Config(ConfigError::Invalid {
                key: "server.listen".to_owned(),
                origin: "environment variable PORT".to_owned(),
                message: format!("{port:?} is not a port number: use 0 to 65535"),
            })
        })?;
        // An invalid `server.listen` is reported by the main extraction instead.
        if let Ok(listen) = figment.extract_inner::<SocketAddr>("server.listen") {
            let listen = SocketAddr::new(listen.ip(), port);
            figment = figment.merge(LegacyVariable::new(
                "PORT",
                "server.listen",
                listen.to_string(),
            ));
        }
    }
    for (variable, key) in DIRECT {
        if let Some(value) = read(variable) {
            figment = figment.merge(LegacyVariable::new(variable, key, value));
        }
    }
    Ok(figment)
}

fn read(variable: &str) -> Option<String> {
    std::env::var(variable)
        .ok()
        .filter(|value| !value.is_empty())
}

/// One variable of the original service, providing one key as a string.
struct LegacyVariable {
    variable: &'static str,
    key: &'static str,
    value: String,
}

impl LegacyVariable {
    fn new(variable: &'static str, key: &'static str, value: String) -> Self {
        Self {
            variable,
            key,
            value,
        }
    }
}

impl Provider for LegacyVariable {
    fn metadata(&self) -> Metadata {
        let name = format!("environment variable {}", self.variable);
        Metadata::from(name.clone(), Source::Custom(name))
    }

    fn data(&self) -> Result<Map<Profile, Dict>, figment::Error> {
        let nested = figment::util::nest(self.key, Value::from(self.value.clone()));
        let Value::Dict(_, dict) = nested else {
            return Err(figment::Error::from(format!(
                "invalid key path {}",
                self.key
            )));
        };
        Ok(Profile::Default.collect(dict))
    }
}
