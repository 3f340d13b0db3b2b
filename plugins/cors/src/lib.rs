//! The `cors` plugin of Latchkey: the cross-origin policy for browser clients such as
//! Privy, and the responses to CORS preflights.
//!
//! One hoop on every path grants a request whose `Origin` is on the allow-list: it gets
//! `Access-Control-Allow-Origin` with that origin, `Access-Control-Allow-Credentials`,
//! and `Access-Control-Expose-Headers`. A preflight (`OPTIONS` with `Origin` and
//! `Access-Control-Request-Method`) is answered here with 204 and no body, whether or not
//! a route exists for its path, and no inner hoop or route sees it. A granted preflight
//! also gets `Access-Control-Allow-Methods`, `Access-Control-Allow-Headers` and
//! `Access-Control-Max-Age`. Every response carries `Vary: Origin`, because whether it
//! has a grant depends on the `Origin` it was sent with.
//!
//! A request from an origin that is not allowed is served as usual but gets no CORS
//! header at all, so the browser keeps its response from the page. A preflight that asks
//! for a method or a header that is not allowed gets no grant either.
//!
//! # Configuration
//!
//! Section `[plugins.cors]`. Every key is optional.
//!
//! | key | meaning | default |
//! | --- | --- | --- |
//! | `allowed_origins` | exact origins (`https://app.example.com`) and subdomain patterns (`https://*.example.com`) | `server.public_url`, `https://auth.privy.io`, `https://console.privy.io`, and `http://localhost:3000` in the development profile |
//! | `allowed_methods` | methods a preflight may ask for | `GET`, `HEAD`, `POST`, `DELETE` |
//! | `allowed_headers` | request headers a preflight may ask for, case-insensitive | `Authorization`, `Content-Type`, `X-Privy-Token`, `X-Privy-Client-ID` |
//! | `exposed_headers` | response headers scripts may read | `X-Request-Id`, `X-RateLimit-Limit`, `X-RateLimit-Remaining`, `X-RateLimit-Reset`, `Retry-After` |
//! | `allow_credentials` | send `Access-Control-Allow-Credentials: true` | true |
//! | `max_age` | `Access-Control-Max-Age`, in seconds, 0 to 86,400 | 600 |
//! | `danger_allow_null_origin` | allow the `null` origin | false |
//!
//! Setting `allowed_origins` replaces the whole default list, so restate
//! `server.public_url` and the Privy origins when you add one.
//!
//! # Security
//!
//! Origins are compared byte for byte with the form browsers send (lowercase scheme and
//! host, no default port, no trailing dot or slash), and config entries must be written
//! in that form, so a look-alike such as `https://auth.privy.io.evil.test`,
//! `http://auth.privy.io` or `https://auth.privy.io:8443` is never allowed. A pattern
//! `https://*.example.com` allows subdomains of `example.com` at any depth, on that
//! scheme and port, but not `example.com` itself. A bare `*`, a `*` anywhere else, a
//! pattern on a top-level domain and `*` in the method and header lists stop start-up,
//! because with credentials a wildcard would hand every site the user's session. The
//! `null` origin, which sandboxed frames of any site can send, is allowed only with
//! `danger_allow_null_origin = true`, and start-up then logs a warning.
//!
//! CORS only tells browsers which pages may read responses. It does not stop a request
//! from reaching the server, so it is no replacement for authentication.
//!
//! # Use of salvo-cors
//!
//! The grant headers are written by salvo-cors. Its handler does not fit the rest:
//! it answers every `OPTIONS` request (not only preflights), lets the request go on to
//! the inner hoops and routes, grants a preflight whatever method and headers it asks
//! for, sends `Access-Control-Allow-Credentials` and the preflight headers to origins it
//! does not allow, and enforces its configuration rules by panicking. So this hoop
//! decides on the origin, the preflight's method and headers and the flow itself, and
//! calls salvo-cors only for a request it has already granted. `Vary` is merged here,
//! because salvo-cors replaces a `Vary` that the response already has.

mod config;
mod hoop;
mod origin;
mod plugin;

pub use crate::config::Config;
pub use crate::hoop::Cors;
pub use crate::plugin::CorsPlugin;

/// Name of the plugin and of its config section.
pub const PLUGIN_NAME: &str = "cors";

latchkey_sdk::register_plugin!(CorsPlugin);
