//! The signing key set: its keys, their generation, their stored form and their JWKS.

mod cipher;
mod generate;
mod jwk;
mod key;
mod set;
mod stored;

#[cfg(test)]
pub(crate) use self::generate::generate_private_key;
pub use self::key::{Key, PublicKey};
pub(crate) use self::set::unix_now;
pub use self::set::{Entry, KeySet, Schedule};
