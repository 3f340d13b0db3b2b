//! The harness of Latchkey's end-to-end tests.
//!
//! Every test talks HTTP to a host it starts on a free port ([`TestHost`]), optionally
//! on a `redis-server` the harness starts on a free port and stops ([`RedisServer`]).
//! Passkey ceremonies are driven by 1Password's `passkey` crates, a software
//! authenticator and WebAuthn client this project did not write ([`Device`]), and tokens
//! are checked the way Privy checks them, from the JWKS alone ([`verify_with_jwks`]).

mod device;
mod host;
mod jwks;
pub mod load;
pub mod process;
mod redis_server;

pub use self::device::{Device, ORIGIN, RP_ID};
pub use self::host::{Backend, TestHost, latchkey_binary};
pub use self::jwks::{JwksClaims, verify_with_jwks};
pub use self::redis_server::RedisServer;
