//! The `jwt` plugin of Latchkey: rotating signing keys shared by every instance, the
//! JWKS route, and the `token_issuer` and `token_verifier` capabilities.
//!
//! The key set lives in the store at `jwt:keyset`. At start the plugin loads it, or
//! generates the first key and stores it when the store has none. It serves the published
//! keys at `GET /.well-known/jwks.json` and provides an issuer and a verifier to other
//! plugins. The passkey plugin ends a login with a token from the issuer, and Privy, API
//! gateways and other services verify that token from the JWKS without calling back.
//!
//! A token carries the header `{"alg":"RS256","typ":"JWT","kid":…}` (or `ES256`) and the
//! claims `sub`, every extra claim of the request (such as `credentialID`), `iat`, `exp`,
//! a random `jti`, and `iss` and `aud` when configured.
//!
//! # Rotation
//!
//! Each key has a creation time, an activation time and, once a successor exists, a
//! retirement time. A new key is published `publish_ahead` before it signs, so every
//! verifier that caches the JWKS for `jwks_max_age` has it by then, and a replaced key stays
//! published for `retain` after its last signature, so every token it signed verifies
//! until it expires. Config validation rejects values that break either rule.
//!
//! Every `refresh_every`, each instance reloads the set and, when a rotation is due, tries
//! to take the claim `jwt:rotation_claim` (insert-if-absent with a 60-second TTL). The
//! instance that takes it generates the key on the blocking pool and writes the new set
//! with compare-and-swap; the others read it at their next refresh. An instance signs
//! only with a key of the set it read, which its own JWKS publishes. If the store loses
//! the set, the next refresh writes back the one the instance holds.
//!
//! # Routes
//!
//! | method and path | auth | answer |
//! | --- | --- | --- |
//! | GET `/.well-known/jwks.json` | none | the published keys; `Cache-Control: public, max-age=<jwks_max_age>`, an `ETag`, 304 on `If-None-Match` |
//! | GET `/api/admin/keys` | admin key, scope `keys` | `{"keys": [{"kid", "alg", "state", "createdAt", "activatesAt", "retiresAt"}]}` |
//! | POST `/api/admin/keys/rotate` | admin key, scope `keys` | `{"rotated": true, "kid", "activatesAt"}`, or `{"rotated": false, "reason"}` |
//!
//! The same as `latchkey keys list`, `latchkey keys rotate`, and `latchkey jwks check URL`,
//! which verifies canary tokens of the signing and the next key against a public JWKS.
//!
//! # Configuration
//!
//! Section `[plugins.jwt]`. Every key is optional, except `key_encryption_secret` in
//! production.
//!
//! | key | meaning | default |
//! | --- | --- | --- |
//! | `algorithm` | algorithm of new keys: `"RS256"` or `"ES256"` | `"RS256"` |
//! | `rsa_bits` | modulus size of a generated RSA key, in bits: 2048, 3072 or 4096 | 2048 |
//! | `token_ttl` | lifetime of an issued token, in seconds, 60 to 2,592,000 | 86,400 |
//! | `leeway` | clock skew tolerated on `exp`, `nbf` and `iat`, in seconds, 0 to 300 | 60 |
//! | `issuer` | `iss` claim, set on issued tokens and required on verified ones | none |
//! | `audience` | `aud` claim, set on issued tokens and required on verified ones | none |
//! | `jwks_max_age` | `Cache-Control: max-age` of the JWKS, in seconds, 0 to 86,400 | 300 |
//! | `key_encryption_secret` | secret the stored private keys are encrypted with (`JWT_SECRET`), 16 characters or more | none: a random one kept in the store, development only |
//! | `rotate_every` | time between two keys starting to sign, in seconds | 86,400 |
//! | `publish_ahead` | time a key is published before it signs, at least `jwks_max_age + refresh_every` | that minimum plus 60 |
//! | `retain` | time a replaced key stays published, at least `token_ttl + leeway + jwks_max_age + refresh_every` | that minimum |
//! | `refresh_every` | time between two reads of the set from the store, 1 to 3,600 seconds | 10 |
//!
//! # Security
//!
//! - Each key verifies only its own algorithm, RS256 or ES256. A token with `alg` `none`,
//!   an HMAC algorithm (for example one keyed with the public key), or an algorithm other
//!   than its key's is rejected. So is a token whose `kid` is missing or not published,
//!   or whose header has `crit`.
//! - `exp` is required and checked, a token is rejected from its `exp` on (after the
//!   leeway), an `iat` later than now plus the leeway is rejected, and `iss` and `aud`
//!   must match when configured.
//! - Private keys are stored encrypted: AES-256-GCM with the `kid` as associated data,
//!   under a key HKDF-SHA256 derives from `key_encryption_secret` and a random salt of
//!   the set. A set that does not decrypt or parse stops start-up and is never
//!   overwritten.
//! - Key generation runs on the blocking thread pool, in the refresh task or an admin
//!   rotation, never in a login. Signing uses `ring` 0.17 on the blocking thread pool,
//!   because one RS256 signature took about 0.7 ms of CPU on a 2-core test machine
//!   (`docs/benchmarks.md`).
//! - No token, private key or secret is logged. Rejection reasons are logged at debug
//!   level without the token.

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

/// Name of the plugin and of its config section.
pub const PLUGIN_NAME: &str = "jwt";

latchkey_sdk::register_plugin!(JwtPlugin);
