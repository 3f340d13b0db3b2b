//! The `revocation` plugin of Latchkey: tokens revoked the moment they leak, on every
//! instance, and sessions that outlive one token.
//!
//! It provides two capabilities. `revocation_list` reports whether a verified token was
//! revoked; the SDK's [`Guard`](latchkey_sdk::Guard) checks it on every protected route.
//! `session_issuer` starts a session at login: an access token with a `sid` claim and a
//! refresh token.
//!
//! # Routes
//!
//! | method and path | auth | body | answer |
//! | --- | --- | --- | --- |
//! | POST `/api/auth/logout` | Bearer token | none | `{"success": true, "sessionEnded"}`: the token, and its session, revoked |
//! | POST `/api/auth/refresh` | none | `{"refreshToken"}` | `{"success", "token", "userID", "refreshToken", "refreshTokenExpiresAt"}` |
//! | POST `/api/auth/revoke` | none (holding the token) | form `token=...` (RFC 7009) | 200, `{}`; revoking an access token also ends its session |
//! | POST `/api/auth/introspect` | admin key, scope `introspect` | form `token=...` (RFC 7662) | `{"active": false}`, or `{"active": true, "token_type", ...claims}` |
//! | POST `/api/admin/revocations` | admin key, scope `revoke` | `{"jti"}`, `{"token"}` or `{"sub"}` | `{"revoked", "kind"}` |
//!
//! A refresh token is single use. Presenting one a second time, or two requests with the
//! same one at once, ends its whole session: the access tokens minted in it and its newest
//! refresh token stop working. The RFC 7009 and RFC 7662 routes answer errors in the OAuth
//! shape `{"error": "<code>", "error_description"}` that their clients read.
//!
//! # Store keys
//!
//! | key | value | lifetime |
//! | --- | --- | --- |
//! | `revocation:token:<jti>` | `1` | until the token's `exp` plus the verifier's leeway |
//! | `revocation:cutoff:<claim>:<value>` | Unix seconds; tokens with the claim issued before it are revoked | the longest token or refresh token lifetime |
//! | `revocation:refresh:<SHA-256 of the token>` | the refresh token's session and claims | `refresh_token_ttl` |
//!
//! Cut-offs name `sub` (every token of a user), `credentialID` (every token minted from
//! a passkey) or `sid` (one session). They compare with `iat`, which has whole seconds, so
//! a cut-off also revokes a token issued in the same second after it.
//!
//! # Configuration
//!
//! Section `[plugins.revocation]`.
//!
//! | key | meaning | default |
//! | --- | --- | --- |
//! | `refresh_tokens` | logins also return a refresh token, and `/api/auth/refresh` exists | true |
//! | `refresh_token_ttl` | lifetime of a refresh token in seconds, 60 to a year; every refresh starts a new one | 2592000 (30 days) |
//!
//! Admin keys are the host's `[[admin.keys]]`.

mod config;
mod list;
mod plugin;
mod routes;
mod sessions;

pub use crate::plugin::RevocationPlugin;

/// Name of the plugin and of its config section.
pub const PLUGIN_NAME: &str = "revocation";

latchkey_sdk::register_plugin!(RevocationPlugin);
