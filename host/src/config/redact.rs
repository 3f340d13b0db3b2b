//! Printing the merged configuration without its secrets.

use figment::Figment;
use figment::value::{Dict, Value};

/// Replacement text for a secret value.
const REDACTED: &str = "[redacted]";

/// Replacement text for a URL password, without characters a URL would percent-encode.
const REDACTED_PASSWORD: &str = "redacted";

/// Key name endings that mark a value as secret.
const SECRET_SUFFIXES: [&str; 5] = ["secret", "password", "token", "private_key", "api_key"];

/// Renders the merged configuration as TOML, with secrets and URL passwords redacted.
///
/// # Errors
///
/// A figment error if the configuration cannot be read as a table, or a TOML error if a
/// value cannot be printed.
pub fn redacted_toml(figment: &Figment) -> anyhow::Result<String> {
    let mut dict: Dict = figment.extract()?;
    redact_dict(&mut dict);
    Ok(toml::to_string_pretty(&dict)?)
}

fn redact_dict(dict: &mut Dict) {
    for (key, value) in dict.iter_mut() {
        if is_secret_key(key) {
            *value = Value::from(REDACTED);
        } else {
            redact_value(value);
        }
    }
}

fn redact_value(value: &mut Value) {
    match value {
        Value::Dict(_, dict) => redact_dict(dict),
        Value::Array(_, items) => items.iter_mut().for_each(redact_value),
        Value::String(_, text) => {
            if let Some(redacted) = redact_url_password(text) {
                *text = redacted;
            }
        }
        _ => {}
    }
}

fn is_secret_key(key: &str) -> bool {
    let key = key.to_ascii_lowercase();
    SECRET_SUFFIXES.iter().any(|suffix| key.ends_with(suffix))
}

/// Returns `url` with its password redacted, or unchanged when it has none.
#[must_use]
pub fn redact_url(url: &str) -> String {
    redact_url_password(url).unwrap_or_else(|| url.to_owned())
}

/// Returns `text` with the password of its URL replaced, if it is a URL with one.
fn redact_url_password(text: &str) -> Option<String> {
    let mut url = url::Url::parse(text).ok()?;
    url.password()?;
    url.set_password(Some(REDACTED_PASSWORD)).ok()?;
    Some(url.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_keys_recognized() {
        assert!(is_secret_key("key_encryption_secret"));
        assert!(is_secret_key("admin_api_key"));
        assert!(!is_secret_key("rp_id"));
        assert!(!is_secret_key("redis_url"));
    }

    #[test]
    fn url_password_replaced() {
        let redacted = redact_url_password("redis://user:hunter2@cache:6379/0").unwrap();
        assert!(!redacted.contains("hunter2"), "{redacted}");
        assert!(redacted.contains("user:"), "{redacted}");
        assert_eq!(redact_url_password("redis://cache:6379"), None);
        assert_eq!(redact_url_password("not a url"), None);
    }
}
