//! The SDK's capabilities when a library plugin provides them, with panics caught on the
//! library's side.
//!
//! A host plugin calls such a capability directly, outside any handler of the library, so
//! without these wrappers a panic in it would unwind from the library's copy of std into
//! the host's and abort the process. Each wrapper turns a panic into the error its trait
//! already has, which callers handle: a failed signature, a rejected token, a store
//! failure.

use std::error::Error;
use std::fmt;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use salvo::async_trait;

use super::boundary::Boundary;
use crate::StartContext;
use crate::capability::{
    self, CutoffClaim, IssuedToken, RevocationList, Session, SessionError, SessionIssuer,
    StoreError, TokenError, TokenIssuer, TokenRequest, TokenVerifier, VerifiedToken, VerifyError,
};
use crate::error::PluginError;

/// A panic inside a library plugin's capability, as the cause of the error it became.
#[derive(Debug)]
struct CapabilityPanicked {
    plugin: &'static str,
    capability: &'static str,
    message: String,
}

impl fmt::Display for CapabilityPanicked {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "capability {} of plugin {} panicked: {}",
            self.capability, self.plugin, self.message
        )
    }
}

impl Error for CapabilityPanicked {}

/// Replaces each SDK capability in `provides` that the plugin registered in `context` with
/// a wrapper that catches its panics.
///
/// A capability type that a plugin defines itself cannot be wrapped, because the SDK does
/// not know its methods.
///
/// # Errors
///
/// [`PluginError`] when reading a token verifier's lifetime or leeway panicked.
pub(super) fn contain_provided(
    boundary: &Boundary,
    context: &mut StartContext,
    provides: &[&'static str],
) -> Result<(), PluginError> {
    for name in provides {
        match *name {
            name if name == capability::name_of::<dyn TokenIssuer>() => {
                if let Some(inner) = context.get::<dyn TokenIssuer>() {
                    let wrapper = Contained::new(boundary, name, inner);
                    context.provide::<dyn TokenIssuer>(Arc::new(wrapper));
                }
            }
            name if name == capability::name_of::<dyn TokenVerifier>() => {
                if let Some(inner) = context.get::<dyn TokenVerifier>() {
                    let wrapper = ContainedVerifier::new(boundary, inner)?;
                    context.provide::<dyn TokenVerifier>(Arc::new(wrapper));
                }
            }
            name if name == capability::name_of::<dyn RevocationList>() => {
                if let Some(inner) = context.get::<dyn RevocationList>() {
                    let wrapper = Contained::new(boundary, name, inner);
                    context.provide::<dyn RevocationList>(Arc::new(wrapper));
                }
            }
            name if name == capability::name_of::<dyn SessionIssuer>() => {
                if let Some(inner) = context.get::<dyn SessionIssuer>() {
                    let wrapper = Contained::new(boundary, name, inner);
                    context.provide::<dyn SessionIssuer>(Arc::new(wrapper));
                }
            }
            _ => {}
        }
    }
    Ok(())
}

/// A capability of a library plugin whose calls run inside its boundary.
struct Contained<C: ?Sized> {
    inner: Arc<C>,
    boundary: Boundary,
    capability: &'static str,
}

impl<C: ?Sized> Contained<C> {
    fn new(boundary: &Boundary, capability: &'static str, inner: Arc<C>) -> Self {
        Self {
            inner,
            boundary: boundary.clone(),
            capability,
        }
    }

    /// Logs a panic of this capability and returns it as an error cause.
    fn panicked(&self, message: String) -> CapabilityPanicked {
        tracing::error!(
            plugin = self.boundary.plugin,
            capability = self.capability,
            panic = %message,
            "plugin capability panicked"
        );
        CapabilityPanicked {
            plugin: self.boundary.plugin,
            capability: self.capability,
            message,
        }
    }

    fn store_error(&self, operation: &'static str, message: String) -> StoreError {
        StoreError::Backend {
            operation,
            source: Box::new(self.panicked(message)),
        }
    }
}

#[async_trait]
impl TokenIssuer for Contained<dyn TokenIssuer> {
    async fn issue(&self, request: TokenRequest) -> Result<IssuedToken, TokenError> {
        self.boundary
            .run(self.inner.issue(request))
            .await
            .unwrap_or_else(|message| Err(TokenError::Signing(Box::new(self.panicked(message)))))
    }
}

#[async_trait]
impl RevocationList for Contained<dyn RevocationList> {
    async fn is_revoked(&self, token: &VerifiedToken) -> Result<bool, StoreError> {
        self.boundary
            .run(self.inner.is_revoked(token))
            .await
            .unwrap_or_else(|message| Err(self.store_error("is_revoked", message)))
    }

    async fn revoke_token(&self, id: &str, expires_at: SystemTime) -> Result<(), StoreError> {
        self.boundary
            .run(self.inner.revoke_token(id, expires_at))
            .await
            .unwrap_or_else(|message| Err(self.store_error("revoke_token", message)))
    }

    async fn revoke_issued_before(
        &self,
        claim: CutoffClaim,
        value: &str,
        before: SystemTime,
    ) -> Result<(), StoreError> {
        self.boundary
            .run(self.inner.revoke_issued_before(claim, value, before))
            .await
            .unwrap_or_else(|message| Err(self.store_error("revoke_issued_before", message)))
    }
}

#[async_trait]
impl SessionIssuer for Contained<dyn SessionIssuer> {
    async fn start_session(&self, request: TokenRequest) -> Result<Session, SessionError> {
        self.boundary
            .run(self.inner.start_session(request))
            .await
            .unwrap_or_else(|message| {
                let cause = Box::new(self.panicked(message));
                Err(SessionError::Token(TokenError::Signing(cause)))
            })
    }
}

/// A token verifier of a library plugin, with its lifetime and leeway read once.
///
/// They are read at start-up rather than on each call, because no value could stand in
/// for one whose reading panicked: a lifetime too short lets revocation entries expire
/// while the tokens they revoke are still accepted.
struct ContainedVerifier {
    contained: Contained<dyn TokenVerifier>,
    max_token_lifetime: Duration,
    leeway: Duration,
}

impl ContainedVerifier {
    fn new(boundary: &Boundary, inner: Arc<dyn TokenVerifier>) -> Result<Self, PluginError> {
        let facts = boundary.call(|| (inner.max_token_lifetime(), inner.leeway()));
        let (max_token_lifetime, leeway) = facts.map_err(|message| {
            PluginError::start(format!(
                "panicked while reading its token verifier's lifetime: {message}"
            ))
        })?;
        let name = capability::name_of::<dyn TokenVerifier>();
        Ok(Self {
            contained: Contained::new(boundary, name, inner),
            max_token_lifetime,
            leeway,
        })
    }
}

#[async_trait]
impl TokenVerifier for ContainedVerifier {
    async fn verify(&self, token: &str) -> Result<VerifiedToken, VerifyError> {
        let contained = &self.contained;
        contained
            .boundary
            .run(contained.inner.verify(token))
            .await
            .unwrap_or_else(|message| {
                contained.panicked(message);
                // A token that could not be checked is rejected, as a malformed one is.
                Err(VerifyError::Malformed)
            })
    }

    fn max_token_lifetime(&self) -> Duration {
        self.max_token_lifetime
    }

    fn leeway(&self) -> Duration {
        self.leeway
    }
}
