//! Typed services that plugins provide to each other through the host.
//!
//! A capability is a trait object such as `dyn TokenIssuer`. A plugin that provides one
//! registers an `Arc` of it during start-up, and a plugin that requires one looks it up by
//! type. The host starts providers before the plugins that require them and rejects a
//! configuration in which a required capability has no enabled provider.

mod revocation;
mod store;
mod token;

use std::any::Any;
use std::collections::BTreeMap;
use std::sync::Arc;

pub use self::revocation::{CutoffClaim, RevocationList, Session, SessionError, SessionIssuer};
pub use self::store::{Store, StoreError};
pub use self::token::{
    IssuedToken, TokenError, TokenIssuer, TokenRequest, TokenVerifier, VerifiedToken, VerifyError,
};

/// A service type that can live in the [`Capabilities`] registry.
///
/// Implemented for trait objects, so the registry is keyed by the trait a plugin needs
/// rather than by the concrete type that implements it.
pub trait Capability: Send + Sync + 'static {
    /// Stable name, shown in `latchkey plugins` and in start-up errors.
    const NAME: &'static str;
}

/// Returns the registry name of capability `C`.
///
/// Plugins use it to declare what they provide and require:
/// `vec![capability::name_of::<dyn TokenIssuer>()]`.
#[must_use]
pub const fn name_of<C: Capability + ?Sized>() -> &'static str {
    C::NAME
}

impl Capability for dyn Store {
    const NAME: &'static str = "store";
}

impl Capability for dyn TokenIssuer {
    const NAME: &'static str = "token_issuer";
}

impl Capability for dyn TokenVerifier {
    const NAME: &'static str = "token_verifier";
}

impl Capability for dyn RevocationList {
    const NAME: &'static str = "revocation_list";
}

impl Capability for dyn SessionIssuer {
    const NAME: &'static str = "session_issuer";
}

/// Registry of the capabilities provided so far, keyed by capability name.
#[derive(Default)]
pub struct Capabilities {
    entries: BTreeMap<&'static str, Box<dyn Any + Send + Sync>>,
}

impl Capabilities {
    /// Creates an empty registry.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Registers `value` as the provider of capability `C`, replacing any earlier one.
    pub fn provide<C: Capability + ?Sized>(&mut self, value: Arc<C>) {
        self.entries.insert(C::NAME, Box::new(value));
    }

    /// Returns the provider of capability `C`, if one has been registered.
    #[must_use]
    pub fn get<C: Capability + ?Sized>(&self) -> Option<Arc<C>> {
        self.entries
            .get(C::NAME)
            .and_then(|entry| entry.downcast_ref::<Arc<C>>())
            .cloned()
    }

    /// Returns whether a provider of the capability named `name` is registered.
    #[must_use]
    pub fn contains(&self, name: &str) -> bool {
        self.entries.contains_key(name)
    }

    /// Returns the names of every registered capability, sorted.
    pub fn names(&self) -> impl Iterator<Item = &'static str> + '_ {
        self.entries.keys().copied()
    }
}

impl std::fmt::Debug for Capabilities {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_set().entries(self.entries.keys()).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    trait Greeter: Send + Sync {
        fn greet(&self) -> &'static str;
    }

    impl Capability for dyn Greeter {
        const NAME: &'static str = "greeter";
    }

    struct English;

    impl Greeter for English {
        fn greet(&self) -> &'static str {
            "hello"
        }
    }

    #[test]
    fn provided_capability_found_by_trait() {
        let mut capabilities = Capabilities::new();
        capabilities.provide::<dyn Greeter>(Arc::new(English));

        let greeter = capabilities
            .get::<dyn Greeter>()
            .expect("greeter registered");
        assert_eq!(greeter.greet(), "hello");
        assert!(capabilities.contains("greeter"));
    }

    #[test]
    fn missing_capability_is_none() {
        let capabilities = Capabilities::new();
        assert!(capabilities.get::<dyn Greeter>().is_none());
        assert_eq!(name_of::<dyn Greeter>(), "greeter");
    }
}
