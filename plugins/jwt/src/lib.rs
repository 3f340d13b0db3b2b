//! The `jwt` plugin of Latchkey: RS256 signing keys, the JWKS route, and the
//! `token_issuer` and `token_verifier` capabilities.
//!
//! At start the plugin loads its key set from the store, or generates an RSA key and
//! stores it when the store has none. It then serves the public keys at
//! `GET /.well-known/jwks.json` and provides [`JwtIssuer`] and [`JwtVerifier`] to other
//! plugins. The passkey plugin ends a login with a token from the issuer, and Privy, API
//! gateways and other services verify that token from the JWKS without calling back.
//!
//! A token carries the header `{"alg":"RS256","typ":"JWT","kid":…}` and the claims `sub`,
//! every extra claim of the request (such as `credentialID`), `iat`, `exp`, a random
//! `jti`, and `iss` and `aud` when configured.
//!
//! # Configuration
//!
//! Section `[plugins.jwt]`. Every key is optional.
//!
//! | key | meaning | default |
//! | --- | --- | --- |
//! | `algorithm` | signing algorithm; only `"RS256"` | `"RS256"` |
//! | `rsa_bits` | modulus size of a generated key, in bits: 2048, 3072 or 4096 | 2048 |
//! | `token_ttl` | lifetime of an issued token, in seconds, 60 to 2,592,000 | 86,400 |
//! | `leeway` | clock skew tolerated on `exp` and `nbf`, in seconds, 0 to 300 | 60 |
//! | `issuer` | `iss` claim, set on issued tokens and required on verified ones | none |
//! | `audience` | `aud` claim, set on issued tokens and required on verified ones | none |
//! | `jwks_max_age` | `Cache-Control: max-age` of the JWKS, in seconds, 0 to 86,400 | 300 |
//! | `key_encryption_secret` | secret meant to encrypt stored keys (`JWT_SECRET`); not used yet | none |
//!
//! # Security
//!
//! - Only RS256 is signed and accepted. A token with `alg` `none`, an HMAC algorithm (for
//!   example one keyed with the public key), or any other algorithm is rejected. So is a
//!   token whose `kid` is missing or not in the key set, or whose header has `crit`.
//! - `exp` is required and checked, a token is rejected from its `exp` on (after the
//!   leeway), and `iss` and `aud` must match when configured.
//! - Key generation runs once, at start, on the blocking thread pool. Several instances
//!   starting together agree on one key set through an insert-if-absent write. A stored
//!   key set that cannot be parsed stops start-up and is never overwritten.
//! - Private keys are stored in the store as unencrypted PKCS#8, so anyone who can read
//!   the store can sign tokens. `key_encryption_secret` is reserved for encrypting them.
//!   In the production profile a missing secret is logged as a warning at start.
//! - Signing uses `ring` 0.17, whose RSA exponentiation runs in constant time, and runs
//!   on the blocking thread pool, because one RS256 signature took about 0.7 ms of CPU
//!   on a 2-core test machine (`docs/benchmarks.md`).
//! - No token, private key or secret is logged. Rejection reasons are logged at debug
//!   level without the token.
//! - Keys do not rotate yet: the plugin generates one key and signs with it until
//!   rotation is added.

mod admin;
mod config;
mod error;
mod issuer;
mod jwks;
mod keys;
mod operator;
mod plugin;
mod ring;
#[cfg(test)]
mod testing;
mod verifier;

pub use crate::admin::{KeyView, key_views, rotation_json};
pub use crate::config::{Algorithm, Config};
pub use crate::error::KeySetError;
pub use crate::issuer::JwtIssuer;
pub use crate::keys::{Entry, Key, KeySet, PublicKey, Schedule};
pub use crate::operator::{Check, KeyTool};
pub use crate::plugin::JwtPlugin;
pub use crate::ring::{KeyRing, RingError, Rotation};
pub use crate::verifier::JwtVerifier;

latchkey_sdk::register_plugin!(JwtPlugin);
