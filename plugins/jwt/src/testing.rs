//! Test fixtures: one RSA key for the whole test binary, because generating one takes a
//! noticeable time, and a fake store.

use std::collections::HashMap;
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, SystemTime};

use latchkey_sdk::capability::{Store, StoreError};
use latchkey_sdk::salvo::async_trait;
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

/// A fake store for unit tests: a map without TTLs that counts writes and can inject a
/// racing write, which the real backends cannot be made to do on cue.
#[derive(Default)]
pub(crate) struct FakeStore {
    entries: Mutex<HashMap<String, Vec<u8>>>,
    /// Value that appears under its key just before the first `insert_new`, as if another
    /// instance had written it between this instance's read and write.
    pub(crate) racing_write: Mutex<Option<(String, Vec<u8>)>>,
    pub(crate) writes: Mutex<usize>,
}

impl FakeStore {
    pub(crate) fn with(key: &str, value: &[u8]) -> Self {
        let store = Self::default();
        store.lock().insert(key.to_owned(), value.to_vec());
        store
    }

    pub(crate) fn value(&self, key: &str) -> Option<Vec<u8>> {
        self.lock().get(key).cloned()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Vec<u8>>> {
        self.entries.lock().expect("store lock not poisoned")
    }

    fn count_write(&self) {
        *self.writes.lock().expect("counter lock not poisoned") += 1;
    }
}

#[async_trait]
impl Store for FakeStore {
    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self.value(key))
    }

    async fn set(&self, key: &str, value: &[u8], _: Option<Duration>) -> Result<(), StoreError> {
        self.count_write();
        self.lock().insert(key.to_owned(), value.to_vec());
        Ok(())
    }

    async fn insert_new(
        &self,
        key: &str,
        value: &[u8],
        _: Option<Duration>,
    ) -> Result<bool, StoreError> {
        if let Some((racing_key, racing_value)) = self.racing_write.lock().expect("lock").take() {
            self.lock().insert(racing_key, racing_value);
        }
        self.count_write();
        let mut entries = self.lock();
        if entries.contains_key(key) {
            return Ok(false);
        }
        entries.insert(key.to_owned(), value.to_vec());
        Ok(true)
    }

    async fn take(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        self.count_write();
        Ok(self.lock().remove(key))
    }

    async fn delete(&self, key: &str) -> Result<bool, StoreError> {
        self.count_write();
        Ok(self.lock().remove(key).is_some())
    }

    async fn compare_and_swap(
        &self,
        key: &str,
        current: Option<&[u8]>,
        new: &[u8],
        _: Option<Duration>,
    ) -> Result<bool, StoreError> {
        self.count_write();
        let mut entries = self.lock();
        if entries.get(key).map(Vec::as_slice) != current {
            return Ok(false);
        }
        entries.insert(key.to_owned(), new.to_vec());
        Ok(true)
    }

    async fn increment(&self, key: &str, by: i64, _: Duration) -> Result<i64, StoreError> {
        self.count_write();
        let mut entries = self.lock();
        let current = entries
            .get(key)
            .and_then(|bytes| std::str::from_utf8(bytes).ok()?.parse::<i64>().ok())
            .unwrap_or(0);
        let next = current + by;
        entries.insert(key.to_owned(), next.to_string().into_bytes());
        Ok(next)
    }

    async fn keys(&self, prefix: &str) -> Result<Vec<String>, StoreError> {
        Ok(self
            .lock()
            .keys()
            .filter(|key| key.starts_with(prefix))
            .cloned()
            .collect())
    }
}
