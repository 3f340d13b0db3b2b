//! Passkey (WebAuthn) registration and usernameless login for Latchkey.
//!
//! A user registers with a display name and a new passkey, and logs in later with that
//! passkey alone (a discoverable credential, so no username is typed). Both ceremonies end
//! in a token signed by whichever plugin provides the `token_issuer` capability, usually
//! `jwt`. The token's `sub` is the user ID, and its `credentialID` claim names the passkey
//! used. webauthn-rs-core verifies the responses.
//!
//! # Routes
//!
//! | method and path | body or query | response |
//! | --- | --- | --- |
//! | GET `/api/auth/challenge/register` | `displayName` (1 to 64 characters) | creation options, flat |
//! | POST `/api/auth/register-passkey` | `{"attestationResponse": ...}` | `{"success": true, "token", "userID"}` |
//! | GET `/api/auth/challenge/login` | none | request options, flat, `allowCredentials: []` |
//! | POST `/api/auth/login-passkey` | `{"authenticationResponse": ...}` | `{"success": true, "token", "userID"}` |
//! | GET `/.well-known/apple-app-site-association` | none | applinks and webcredentials, or 404 |
//!
//! The options are the `publicKey` member of what `navigator.credentials` takes, in the
//! JSON form `@simplewebauthn/browser` reads. `userID` is the unpadded base64url of a
//! random 32-byte user handle, stable across logins.
//!
//! # Configuration
//!
//! Section `[plugins.passkey]`:
//!
//! | key | meaning | default |
//! | --- | --- | --- |
//! | `rp_id` | relying party ID, a domain name with no scheme, port or path | host of `server.public_url` |
//! | `rp_name` | relying party name shown by authenticators | `"Latchkey"` |
//! | `origins` | origins allowed to run ceremonies; each https (http only for `localhost`), on `rp_id` or a subdomain, without path, query or fragment | `[server.public_url]` |
//! | `user_verification` | `"required"`, `"preferred"` or `"discouraged"` | `"preferred"` |
//! | `authenticator_attachment` | `"platform"` or `"cross-platform"` | absent: any |
//! | `resident_key` | `"required"`, `"preferred"` or `"discouraged"` | `"required"` |
//! | `timeout` | authenticator timeout put in the options, seconds, 1 to 600 | `150` |
//! | `challenge_ttl` | lifetime of a challenge, seconds, 1 to 600 | `150` |
//! | `apple_app_id` | app ID (`TEAMID.bundle.id`) of the app site association | absent: 404 |
//!
//! Section `[plugins.passkey.quirks]`, each `"reject"`, `"warn"` or `"accept"`:
//!
//! | key | quirk | default |
//! | --- | --- | --- |
//! | `counter_regression` | a nonzero signature counter not above the stored one, or a zero after a nonzero | `"reject"` |
//! | `counter_zero` | a counter that stays 0, as synced passkeys report | `"accept"` |
//! | `backup_eligibility_change` | a backup eligible flag that differs from the stored one | `"warn"` |
//!
//! A warned or accepted backup eligibility change stores the new value. A counter that
//! regressed is never lowered in the store. Each quirk seen is logged (warn for `warn`,
//! debug otherwise) with fields `quirk` and `credential_id`, and counted in the store under
//! `passkey:quirk:<quirk>` for 30 days from the first count.
//!
//! # Security
//!
//! - Challenges are single use: each ceremony state is taken from the store atomically, so
//!   two concurrent responses to one challenge cannot both succeed, and a response that
//!   fails verification still uses up its challenge.
//! - A response's origin must match a configured origin exactly on scheme, host and port.
//! - A passkey is stored under the credential ID from its attestation, in one canonical
//!   base64url form, so one passkey cannot be registered twice under different spellings.
//! - Login requires `userHandle`, and it must name the passkey's owner.
//! - A backup state without backup eligibility is rejected at registration and login.
//! - Counter and flag updates are written with compare-and-swap after the signature has
//!   verified, and quirk policies are applied to the record as stored at that moment.
//! - Attestation is not requested and not checked against any CA: a passkey proves
//!   possession of its key, not the make of the authenticator.
//! - Tokens and public keys are never logged.

mod aasa;
mod ceremony;
mod config;
mod encoding;
mod error;
mod plugin;
mod quirks;
mod record;
mod relying_party;
mod routes;

pub use crate::plugin::PasskeyPlugin;

/// Name of the plugin and of its config section.
pub const PLUGIN_NAME: &str = "passkey";

latchkey_sdk::register_plugin!(PasskeyPlugin);
