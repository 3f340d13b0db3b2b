//! The `demo` plugin of Latchkey: a page at `/` to register a passkey, log in with it,
//! and see the token's claims and the JWKS key that verifies it.
//!
//! The page uses the browser's own WebAuthn JSON helpers
//! (`PublicKeyCredential.parseCreationOptionsFromJSON`, `parseRequestOptionsFromJSON` and
//! `PublicKeyCredential.toJSON`), so it needs a current browser (Chromium 129, Firefox
//! 119, Safari 18 or newer). It checks the token's RS256 signature itself, with WebCrypto
//! and the key of `/.well-known/jwks.json` that the token's `kid` names. Log out forgets
//! the token and calls `POST /api/auth/logout` with it as a Bearer token; a 404 there
//! means the server cannot revoke tokens, and the page shows that.
//!
//! | path | content |
//! | --- | --- |
//! | `GET /` | the page |
//! | `GET /demo/app.js` | its script |
//! | `GET /demo/app.css` | its style sheet |
//!
//! The script and style sheet are separate files, compiled into the plugin, so the page
//! works under the default Content-Security-Policy of the `security_headers` plugin,
//! which forbids inline script and style.
//!
//! # Configuration
//!
//! Section `[plugins.demo]` has only the host keys `enabled` and `order`. The plugin is
//! off unless config turns it on: `config/development.toml` does, and production leaves
//! it off.
//!
//! # Security
//!
//! The page is for trying Latchkey out. It keeps the token in a script variable only, so
//! a reload logs out, and it adds no route that the API does not already have.

mod assets;
mod plugin;

pub use crate::plugin::DemoPlugin;

/// Name of the plugin and of its config section.
pub const PLUGIN_NAME: &str = "demo";

latchkey_sdk::register_plugin!(DemoPlugin);
