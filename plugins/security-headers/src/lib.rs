//! The `security_headers` plugin of Latchkey: security and caching headers on every
//! response, a Content-Security-Policy on HTML, and `no-store` on every token.
//!
//! One hoop on every path sets the configured headers before the inner hoops and routes
//! run, so an early exit (a 401, a 429, a CORS preflight) carries them, and fills in any
//! that are missing once they return. A header that a handler set itself is kept, with
//! one exception: a response whose JSON body carries a token is always `no-store`.
//!
//! # Configuration
//!
//! Section `[plugins.security_headers]`. Every key is optional.
//!
//! | key | meaning | default |
//! | --- | --- | --- |
//! | `headers` | table of header name to value, merged over the defaults below; `""` removes a default | the defaults below |
//! | `content_security_policy` | `Content-Security-Policy` of `text/html` responses; `""` sends none | [`DEFAULT_CONTENT_SECURITY_POLICY`] |
//! | `paths` | array of tables `[[plugins.security_headers.paths]]`, each with `path_prefix` and optional `headers` and `content_security_policy` | none |
//!
//! The default headers are `X-Frame-Options: DENY`, `X-XSS-Protection: 1; mode=block`,
//! `X-Content-Type-Options: nosniff`,
//! `Strict-Transport-Security: max-age=31536000; includeSubDomains; preload`, a
//! `Permissions-Policy` that turns off geolocation, camera, microphone, payment, USB and
//! interest-cohort and allows fullscreen for the page itself, and
//! `Cache-Control: no-store, no-cache, must-revalidate, proxy-revalidate`,
//! `Pragma: no-cache` and `Expires: 0`.
//!
//! A request under a `path_prefix` (whole segments: `/api` covers `/api/x`, not `/apix`)
//! gets the top-level headers with that entry's `headers` merged over them. When several
//! entries match, the longest prefix wins, and only that entry applies.
//!
//! # Caching
//!
//! A handler that sets its own `Cache-Control` takes over caching: the hoop keeps that
//! value and drops its default `Pragma` and `Expires`, which would contradict it. This is
//! how `GET /.well-known/jwks.json` keeps `Cache-Control: public, max-age=300` (from
//! `plugins.jwt.jwks_max_age`), so that verifiers such as Privy can cache the keys.
//!
//! # Security
//!
//! A response whose body is a JSON object with a `token`, `access_token`, `id_token` or
//! `refresh_token` member gets `Cache-Control: no-store` and `Pragma: no-cache` whatever
//! the config or the handler set, so that no browser or proxy cache keeps a token. Only
//! buffered bodies of up to 64 KiB are inspected; a streamed body is not.
//!
//! The default Content-Security-Policy allows scripts, styles and connections from the
//! page's own origin only, so an inline `<script>` or `style` attribute does not run.
//!
//! The hoop does not make a site safe on its own: `Strict-Transport-Security` has effect
//! only over https, and the headers only instruct browsers.

mod config;
mod hoop;
mod plugin;
mod token_body;

pub use crate::config::{Config, DEFAULT_CONTENT_SECURITY_POLICY, PathConfig};
pub use crate::hoop::SecurityHeaders;
pub use crate::plugin::SecurityHeadersPlugin;

/// Name of the plugin and of its config section.
pub const PLUGIN_NAME: &str = "security_headers";

latchkey_sdk::register_plugin!(SecurityHeadersPlugin);
