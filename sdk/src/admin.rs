//! Admin API keys: who may call the operator routes of a plugin.
//!
//! The host reads `[[admin.keys]]` from config. Each key is stored as the SHA-256 digest of
//! the secret, never the secret itself, with the scopes it grants. A request presents the
//! secret as `Authorization: Bearer <secret>`; its digest is compared with every
//! configured digest in constant time.

use salvo::http::StatusCode;
use salvo::http::header::{HeaderValue, WWW_AUTHENTICATE};
use salvo::{Request, Response};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::ApiError;
use crate::guard::{self, GuardError};

/// One admin key: a name for logs, the digest of its secret, and what it may do.
#[derive(Clone, PartialEq, Eq)]
pub struct AdminKey {
    name: String,
    digest: [u8; 32],
    scopes: Option<Vec<String>>,
}

impl AdminKey {
    /// Creates a key from the hex SHA-256 digest of its secret. `scopes` of `None` grants
    /// every scope.
    ///
    /// # Errors
    ///
    /// A sentence saying what is wrong with `name`, `sha256` or `scopes`.
    pub fn new(
        name: impl Into<String>,
        sha256: &str,
        scopes: Option<Vec<String>>,
    ) -> Result<Self, String> {
        let name = name.into();
        if name.trim().is_empty() {
            return Err("name must not be empty".to_owned());
        }
        let digest = decode_digest(sha256).ok_or_else(|| {
            "sha256 must be 64 hex digits, the SHA-256 of the secret: \
             printf %s \"$SECRET\" | sha256sum"
                .to_owned()
        })?;
        if let Some(scopes) = &scopes
            && (scopes.is_empty() || scopes.iter().any(|scope| scope.trim().is_empty()))
        {
            return Err("scopes must list at least one non-empty scope, or be left out".to_owned());
        }
        Ok(Self {
            name,
            digest,
            scopes,
        })
    }

    /// Returns the key's name.
    #[must_use]
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Returns whether the key grants `scope`.
    #[must_use]
    pub fn grants(&self, scope: &str) -> bool {
        self.scopes
            .as_ref()
            .is_none_or(|scopes| scopes.iter().any(|granted| granted == scope))
    }
}

impl std::fmt::Debug for AdminKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AdminKey")
            .field("name", &self.name)
            .field("scopes", &self.scopes)
            .finish_non_exhaustive()
    }
}

fn decode_digest(hex: &str) -> Option<[u8; 32]> {
    let hex = hex.as_bytes();
    if hex.len() != 64 {
        return None;
    }
    let mut digest = [0_u8; 32];
    for (byte, pair) in digest.iter_mut().zip(hex.chunks_exact(2)) {
        let high = char::from(pair[0]).to_digit(16)?;
        let low = char::from(pair[1]).to_digit(16)?;
        *byte = u8::try_from(high * 16 + low).ok()?;
    }
    Some(digest)
}

/// The admin keys of a deployment.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AdminKeys {
    keys: Vec<AdminKey>,
}

/// The reason an admin request was rejected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AdminError {
    /// No admin key is configured, so the admin routes are closed.
    #[error("no admin key is configured")]
    NoKeys,
    /// The request carries no well-formed Bearer key.
    #[error("request has no admin key")]
    Missing,
    /// The key matches no configured key.
    #[error("admin key is not valid")]
    Invalid,
    /// The key is valid but does not grant the scope.
    #[error("admin key does not grant scope {0:?}")]
    Forbidden(&'static str),
}

impl AdminError {
    /// Writes the response to a rejected admin request.
    pub fn render(self, res: &mut Response) {
        let error = match self {
            Self::NoKeys => ApiError::new(
                StatusCode::UNAUTHORIZED,
                "admin_disabled",
                "no admin key is configured: add one under [[admin.keys]] to use this route",
            ),
            Self::Missing => ApiError::new(
                StatusCode::UNAUTHORIZED,
                "admin_key_required",
                "this route needs an admin key: send Authorization: Bearer <admin key>",
            ),
            Self::Invalid => ApiError::new(
                StatusCode::UNAUTHORIZED,
                "invalid_admin_key",
                "admin key is not valid: send a key configured under [[admin.keys]]",
            ),
            Self::Forbidden(scope) => ApiError::new(
                StatusCode::FORBIDDEN,
                "admin_scope_missing",
                format!("admin key does not grant scope {scope:?}: use a key that does"),
            ),
        };
        if error.status() == StatusCode::UNAUTHORIZED {
            res.headers_mut().insert(
                WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"latchkey-admin\""),
            );
        }
        res.render(error);
    }
}

impl AdminKeys {
    /// Creates the set of `keys`.
    ///
    /// # Errors
    ///
    /// The name of a key that appears twice.
    pub fn new(keys: Vec<AdminKey>) -> Result<Self, String> {
        for (index, key) in keys.iter().enumerate() {
            if keys[..index].iter().any(|earlier| earlier.name == key.name) {
                return Err(format!("admin key name {:?} is used twice", key.name));
            }
        }
        Ok(Self { keys })
    }

    /// Returns whether no key is configured.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// Returns the key that `req` presents if it grants `scope`.
    ///
    /// # Errors
    ///
    /// [`AdminError`] saying why the request may not use the route.
    pub fn authorize(&self, req: &Request, scope: &'static str) -> Result<&AdminKey, AdminError> {
        if self.keys.is_empty() {
            return Err(AdminError::NoKeys);
        }
        let secret = match guard::bearer_token(req) {
            Ok(secret) => secret,
            Err(GuardError::Missing) => return Err(AdminError::Missing),
            Err(_) => return Err(AdminError::Invalid),
        };
        let key = self.find(secret).ok_or(AdminError::Invalid)?;
        if key.grants(scope) {
            Ok(key)
        } else {
            Err(AdminError::Forbidden(scope))
        }
    }

    /// Returns the key whose digest is the digest of `secret`, comparing with every key in
    /// constant time.
    fn find(&self, secret: &str) -> Option<&AdminKey> {
        let digest: [u8; 32] = Sha256::digest(secret.as_bytes()).into();
        let mut found = None;
        for key in &self.keys {
            let equal: bool = key.digest.ct_eq(&digest).into();
            if equal && found.is_none() {
                found = Some(key);
            }
        }
        found
    }
}

#[cfg(test)]
mod tests {
    use salvo::http::header::AUTHORIZATION;

    use super::*;

    fn hex_sha256(secret: &str) -> String {
        Sha256::digest(secret.as_bytes())
            .iter()
            .map(|byte| format!("{byte:02x}"))
            .collect()
    }

    fn keys(scopes: Option<Vec<String>>) -> AdminKeys {
        let key = AdminKey::new("ops", &hex_sha256("secret-1"), scopes).unwrap();
        AdminKeys::new(vec![key]).unwrap()
    }

    fn request(authorization: Option<&str>) -> Request {
        let mut req = Request::new();
        if let Some(value) = authorization {
            req.headers_mut()
                .insert(AUTHORIZATION, HeaderValue::from_str(value).unwrap());
        }
        req
    }

    #[test]
    fn secret_with_matching_digest_accepted() {
        let key = keys(None);
        let req = request(Some("Bearer secret-1"));
        assert_eq!(key.authorize(&req, "revoke").unwrap().name(), "ops");
        let upper_case_digest = hex_sha256("secret-1").to_uppercase();
        assert!(AdminKey::new("ops", &upper_case_digest, None).is_ok());
    }

    #[test]
    fn missing_wrong_and_malformed_keys_refused() {
        let keys = keys(None);
        assert_eq!(
            keys.authorize(&request(None), "revoke"),
            Err(AdminError::Missing)
        );
        for header in [
            "Bearer secret-2",
            "Bearer secret-1 secret-1",
            "Basic secret-1",
            "Bearer",
        ] {
            assert_eq!(
                keys.authorize(&request(Some(header)), "revoke"),
                Err(AdminError::Invalid),
                "{header}"
            );
        }
        assert_eq!(
            AdminKeys::default().authorize(&request(Some("Bearer secret-1")), "revoke"),
            Err(AdminError::NoKeys)
        );
    }

    #[test]
    fn scopes_limit_a_key() {
        let keys = keys(Some(vec!["introspect".to_owned()]));
        let req = request(Some("Bearer secret-1"));
        assert!(keys.authorize(&req, "introspect").is_ok());
        assert_eq!(
            keys.authorize(&req, "revoke"),
            Err(AdminError::Forbidden("revoke"))
        );
    }

    #[test]
    fn bad_key_config_explained() {
        let digest = hex_sha256("secret-1");
        assert!(
            AdminKey::new("", &digest, None)
                .unwrap_err()
                .contains("name")
        );
        assert!(
            AdminKey::new("a", "abc", None)
                .unwrap_err()
                .contains("64 hex")
        );
        let not_hex = "g".repeat(64);
        assert!(
            AdminKey::new("a", &not_hex, None)
                .unwrap_err()
                .contains("64 hex")
        );
        let no_scopes = AdminKey::new("a", &digest, Some(vec![])).unwrap_err();
        assert!(no_scopes.contains("scopes"), "{no_scopes}");
        let key = AdminKey::new("a", &digest, None).unwrap();
        let twice = AdminKeys::new(vec![key.clone(), key]).unwrap_err();
        assert!(twice.contains("twice"), "{twice}");
    }
}
