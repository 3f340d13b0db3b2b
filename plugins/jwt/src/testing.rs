//! Test fixtures: one RSA key for the whole test binary, because generating one takes a
//! noticeable time, and a fake store.

use std::sync::OnceLock;
use std::time::SystemTime;

use rsa::RsaPrivateKey;

use crate::keys::{Key, KeySet, generate_private_key};

/// Returns the 2048-bit key that every test shares.
pub(crate) fn private_key() -> &'static RsaPrivateKey {
    static KEY: OnceLock<RsaPrivateKey> = OnceLock::new();
    KEY.get_or_init(|| generate_private_key(2048).expect("test key generated"))
}

/// Returns a key set that contains only [`private_key`].
pub(crate) fn key_set() -> &'static KeySet {
    static SET: OnceLock<KeySet> = OnceLock::new();
    SET.get_or_init(|| {
        let key = Key::new(private_key().clone(), SystemTime::now()).expect("test key valid");
        KeySet::new(vec![key]).expect("test key set valid")
    })
}

pub(crate) use latchkey_sdk::testing::FakeStore;
