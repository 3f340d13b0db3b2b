//! The signing key set: its keys, their generation, their stored form and their JWKS.

mod generate;
mod jwk;
mod key;
mod set;
mod storage;
mod stored;

#[cfg(test)]
pub(crate) use self::generate::generate_private_key;
pub use self::key::Key;
pub use self::set::KeySet;
#[cfg(test)]
pub(crate) use self::storage::STORE_KEY;
pub(crate) use self::storage::load_or_generate;
