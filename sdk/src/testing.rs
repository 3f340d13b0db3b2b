//! A fake store for plugin unit tests, behind the `testing` feature.
//!
//! The host's memory and Redis stores are the real backends, and end-to-end tests run
//! against them. This fake exists for what they cannot do on cue: lose a compare-and-swap
//! race, or have another instance write a key between a read and an insert.

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use salvo::async_trait;

use crate::capability::{Store, StoreError};

/// A fake [`Store`]: a map without expiry that counts writes and loses races on request.
#[derive(Debug, Default)]
pub struct FakeStore {
    entries: Mutex<HashMap<String, Vec<u8>>>,
    racing_insert: Mutex<Option<(String, Vec<u8>)>>,
    lost_swaps: AtomicUsize,
    writes: AtomicUsize,
    ttls: Mutex<HashMap<String, Duration>>,
    unavailable: AtomicBool,
}

impl FakeStore {
    /// Creates an empty fake store.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Creates a fake store that contains `value` under `key`.
    #[must_use]
    pub fn with(key: &str, value: &[u8]) -> Self {
        let store = Self::default();
        store.lock().insert(key.to_owned(), value.to_vec());
        store
    }

    /// Returns the value under `key`.
    #[must_use]
    pub fn value(&self, key: &str) -> Option<Vec<u8>> {
        self.lock().get(key).cloned()
    }

    /// Returns how many writing calls the store received.
    #[must_use]
    pub fn writes(&self) -> usize {
        self.writes.load(Ordering::SeqCst)
    }

    /// Makes `value` appear under `key` just before the next `insert_new`, as if another
    /// instance wrote it between this instance's read and write.
    pub fn race_next_insert(&self, key: &str, value: &[u8]) {
        *self.racing() = Some((key.to_owned(), value.to_vec()));
    }

    /// Returns the TTL of the last write to `key` that set one.
    #[must_use]
    pub fn ttl(&self, key: &str) -> Option<Duration> {
        self.ttls
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(key)
            .copied()
    }

    /// Makes every operation fail as if the backend were unreachable, until called with
    /// false. A failed operation changes nothing.
    pub fn set_unavailable(&self, unavailable: bool) {
        self.unavailable.store(unavailable, Ordering::SeqCst);
    }

    /// Makes the next `count` compare-and-swap calls fail as if another writer won.
    pub fn lose_next_swaps(&self, count: usize) {
        self.lost_swaps.store(count, Ordering::SeqCst);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Vec<u8>>> {
        self.entries
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn racing(&self) -> std::sync::MutexGuard<'_, Option<(String, Vec<u8>)>> {
        self.racing_insert
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn count_write(&self) {
        self.writes.fetch_add(1, Ordering::SeqCst);
    }

    fn record_ttl(&self, key: &str, ttl: Option<Duration>) {
        if let Some(ttl) = ttl {
            self.ttls
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .insert(key.to_owned(), ttl);
        }
    }

    fn check_available(&self) -> Result<(), StoreError> {
        if self.unavailable.load(Ordering::SeqCst) {
            Err(StoreError::Unavailable("fake store set unavailable".into()))
        } else {
            Ok(())
        }
    }
}

#[async_trait]
impl Store for FakeStore {
    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        self.check_available()?;
        Ok(self.value(key))
    }

    async fn set(&self, key: &str, value: &[u8], ttl: Option<Duration>) -> Result<(), StoreError> {
        self.check_available()?;
        self.count_write();
        self.record_ttl(key, ttl);
        self.lock().insert(key.to_owned(), value.to_vec());
        Ok(())
    }

    async fn insert_new(
        &self,
        key: &str,
        value: &[u8],
        ttl: Option<Duration>,
    ) -> Result<bool, StoreError> {
        self.check_available()?;
        self.record_ttl(key, ttl);
        if let Some((racing_key, racing_value)) = self.racing().take() {
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
        self.check_available()?;
        self.count_write();
        Ok(self.lock().remove(key))
    }

    async fn delete(&self, key: &str) -> Result<bool, StoreError> {
        self.check_available()?;
        self.count_write();
        Ok(self.lock().remove(key).is_some())
    }

    async fn compare_and_swap(
        &self,
        key: &str,
        current: Option<&[u8]>,
        new: &[u8],
        ttl: Option<Duration>,
    ) -> Result<bool, StoreError> {
        self.check_available()?;
        self.count_write();
        self.record_ttl(key, ttl);
        let lost = self
            .lost_swaps
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |left| {
                left.checked_sub(1)
            })
            .is_ok();
        if lost {
            return Ok(false);
        }
        let mut entries = self.lock();
        if entries.get(key).map(Vec::as_slice) != current {
            return Ok(false);
        }
        entries.insert(key.to_owned(), new.to_vec());
        Ok(true)
    }

    async fn increment(&self, key: &str, by: i64, _: Duration) -> Result<i64, StoreError> {
        self.check_available()?;
        self.count_write();
        let mut entries = self.lock();
        let current = entries
            .get(key)
            .and_then(|bytes| std::str::from_utf8(bytes).ok()?.parse::<i64>().ok())
            .unwrap_or(0);
        let next = current.saturating_add(by);
        entries.insert(key.to_owned(), next.to_string().into_bytes());
        Ok(next)
    }

    async fn keys(&self, prefix: &str) -> Result<Vec<String>, StoreError> {
        self.check_available()?;
        Ok(self
            .lock()
            .keys()
            .filter(|key| key.starts_with(prefix))
            .cloned()
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn unavailable_store_fails_every_operation() {
        let store = FakeStore::with("kept", b"1");
        store.set_unavailable(true);
        let ttl = Duration::from_secs(60);

        assert!(store.get("kept").await.is_err());
        assert!(store.keys("").await.is_err());
        assert!(store.set("new", b"1", None).await.is_err());
        assert!(store.insert_new("new", b"1", None).await.is_err());
        assert!(store.increment("count", 1, ttl).await.is_err());
        assert!(store.take("kept").await.is_err());
        assert!(store.delete("kept").await.is_err());
        let swap = store.compare_and_swap("kept", Some(b"1"), b"2", None);
        assert!(swap.await.is_err());

        // Nothing was written or removed while it was unavailable.
        assert_eq!(store.writes(), 0);
        assert_eq!(store.value("kept"), Some(b"1".to_vec()));
        store.set_unavailable(false);
        assert_eq!(store.keys("").await.expect("available"), ["kept"]);
    }
}
