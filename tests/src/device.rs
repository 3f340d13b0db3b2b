//! A passkey device: 1Password's software authenticator behind its WebAuthn client.

use passkey::authenticator::{Authenticator, UiHint, UserCheck, UserValidationMethod};
use passkey::client::{Client, DefaultClientData};
use passkey::crypto::rust_crypto::RustCryptoBackend;
use passkey::types::Passkey;
use passkey::types::ctap2::{Aaguid, Ctap2Error};
use passkey::types::webauthn::{
    CredentialCreationOptions, CredentialRequestOptions, PublicKeyCredentialCreationOptions,
    PublicKeyCredentialRequestOptions,
};
use serde_json::Value;
use url::Url;

/// The WebAuthn origin the test hosts are configured for, as their `server.public_url`.
pub const ORIGIN: &str = "https://latchkey.test";

/// The relying party ID derived from [`ORIGIN`].
pub const RP_ID: &str = "latchkey.test";

/// A user who is always present and verified, as if they touched the key and gave a PIN.
struct ConsentingUser;

#[latchkey_sdk::salvo::async_trait]
impl UserValidationMethod for ConsentingUser {
    type PasskeyItem = Passkey;

    async fn check_user<'a>(
        &self,
        _hint: UiHint<'a, Passkey>,
        presence: bool,
        verification: bool,
    ) -> Result<UserCheck, Ctap2Error> {
        Ok(UserCheck {
            presence,
            verification,
        })
    }

    fn is_verification_enabled(&self) -> Option<bool> {
        Some(true)
    }

    fn is_presence_enabled(&self) -> bool {
        true
    }
}

type SoftClient =
    Client<Option<Passkey>, ConsentingUser, RustCryptoBackend, public_suffix::PublicSuffixList, ()>;

/// One authenticator holding at most one passkey, with the browser side of WebAuthn.
///
/// It turns the server's options JSON into the response JSON a browser would send.
pub struct Device {
    client: SoftClient,
    origin: Url,
}

impl std::fmt::Debug for Device {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Device")
            .field("origin", &self.origin.as_str())
            .finish_non_exhaustive()
    }
}

impl Device {
    /// Creates an empty device whose client runs on pages of [`ORIGIN`].
    #[must_use]
    pub fn new() -> Self {
        Self::with_origin(ORIGIN)
    }

    /// Creates an empty device whose client runs on pages of `origin`.
    ///
    /// # Panics
    ///
    /// When `origin` is not a URL.
    #[must_use]
    pub fn with_origin(origin: &str) -> Self {
        let authenticator =
            Authenticator::new(Aaguid::new_empty(), None, ConsentingUser, RustCryptoBackend);
        Self {
            client: Client::new(authenticator).allows_insecure_localhost(true),
            origin: Url::parse(origin).expect("valid origin"),
        }
    }

    /// Creates a passkey for the creation `options` the server sent, and returns the
    /// `RegistrationResponseJSON` a browser would post.
    ///
    /// # Errors
    ///
    /// When the client or authenticator rejects the options.
    pub async fn register(&mut self, options: &Value) -> anyhow::Result<Value> {
        let public_key: PublicKeyCredentialCreationOptions =
            serde_json::from_value(options.clone())?;
        let request = CredentialCreationOptions { public_key };
        let created = self
            .client
            .register(&self.origin, request, DefaultClientData)
            .await
            .map_err(|error| anyhow::anyhow!("registration failed: {error:?}"))?;
        Ok(serde_json::to_value(created)?)
    }

    /// Signs the request `options` the server sent, and returns the
    /// `AuthenticationResponseJSON` a browser would post.
    ///
    /// # Errors
    ///
    /// When the client or authenticator rejects the options, for example because the
    /// device has no passkey.
    pub async fn login(&mut self, options: &Value) -> anyhow::Result<Value> {
        let public_key: PublicKeyCredentialRequestOptions =
            serde_json::from_value(options.clone())?;
        let request = CredentialRequestOptions { public_key };
        let asserted = self
            .client
            .authenticate(&self.origin, request, DefaultClientData)
            .await
            .map_err(|error| anyhow::anyhow!("authentication failed: {error:?}"))?;
        Ok(serde_json::to_value(asserted)?)
    }

    /// Returns the passkey the device holds.
    #[must_use]
    pub fn passkey(&self) -> Option<&Passkey> {
        self.client.authenticator().store().as_ref()
    }

    /// Replaces the passkey the device holds, to simulate cloned or tampered devices.
    pub fn set_passkey(&mut self, passkey: Passkey) {
        *self.client.authenticator_mut().store_mut() = Some(passkey);
    }

    /// Makes new passkeys keep a signature counter, as hardware keys do, instead of
    /// reporting 0 forever, as synced passkeys do.
    pub fn count_signatures(&mut self) {
        self.client
            .authenticator_mut()
            .set_make_credentials_with_signature_counter(true);
    }
}

impl Default for Device {
    fn default() -> Self {
        Self::new()
    }
}
