//! An in-process store for development and tests.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use latchkey_sdk::capability::{Store, StoreError};
use latchkey_sdk::salvo::async_trait;

/// A store in process memory. Every operation holds one lock, so each is atomic.
///
/// Expired entries are invisible at once and removed by [`MemoryStore::purge_expired`],
/// which the server runs periodically.
#[derive(Debug, Default)]
pub struct MemoryStore {
    entries: Mutex<HashMap<String, Entry>>,
}

#[derive(Debug, Clone)]
struct Entry {
    value: Vec<u8>,
    expires_at: Option<Instant>,
}

impl Entry {
    fn new(value: &[u8], ttl: Option<Duration>) -> Self {
        Self {
            value: value.to_vec(),
            expires_at: ttl.map(|ttl| Instant::now() + ttl),
        }
    }

    fn is_live(&self, now: Instant) -> bool {
        self.expires_at.is_none_or(|expires_at| expires_at > now)
    }
}

impl MemoryStore {
    /// Creates an empty store.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Removes every expired entry and returns how many were removed.
    pub fn purge_expired(&self) -> usize {
        let now = Instant::now();
        let mut entries = self.lock();
        let before = entries.len();
        entries.retain(|_, entry| entry.is_live(now));
        before - entries.len()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Entry>> {
        // A panic while holding the lock cannot leave an entry half written, because every
        // critical section replaces whole entries, so a poisoned map is still consistent.
        self.entries
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn live_value(entries: &HashMap<String, Entry>, key: &str) -> Option<Vec<u8>> {
        let now = Instant::now();
        entries
            .get(key)
            .filter(|entry| entry.is_live(now))
            .map(|entry| entry.value.clone())
    }
}

#[async_trait]
impl Store for MemoryStore {
    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(Self::live_value(&self.lock(), key))
    }

    async fn set(&self, key: &str, value: &[u8], ttl: Option<Duration>) -> Result<(), StoreError> {
        self.lock().insert(key.to_owned(), Entry::new(value, ttl));
        Ok(())
    }

    async fn insert_new(
        &self,
        key: &str,
        value: &[u8],
        ttl: Option<Duration>,
    ) -> Result<bool, StoreError> {
        let mut entries = self.lock();
        if Self::live_value(&entries, key).is_some() {
            return Ok(false);
        }
        entries.insert(key.to_owned(), Entry::new(value, ttl));
        Ok(true)
    }

    async fn take(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        let now = Instant::now();
        let entry = self.lock().remove(key);
        Ok(entry
            .filter(|entry| entry.is_live(now))
            .map(|entry| entry.value))
    }

    async fn delete(&self, key: &str) -> Result<bool, StoreError> {
        let now = Instant::now();
        let entry = self.lock().remove(key);
        Ok(entry.is_some_and(|entry| entry.is_live(now)))
    }

    async fn compare_and_swap(
        &self,
        key: &str,
        current: Option<&[u8]>,
        new: &[u8],
        ttl: Option<Duration>,
    ) -> Result<bool, StoreError> {
        let mut entries = self.lock();
        if Self::live_value(&entries, key).as_deref() != current {
            return Ok(false);
        }
        entries.insert(key.to_owned(), Entry::new(new, ttl));
        Ok(true)
    }

    async fn increment(&self, key: &str, by: i64, ttl: Duration) -> Result<i64, StoreError> {
        let now = Instant::now();
        let mut entries = self.lock();
        let live = entries.get(key).filter(|entry| entry.is_live(now)).cloned();
        let (count, expires_at) = match live {
            Some(entry) => {
                let count = parse_counter(&entry.value)?;
                (count.saturating_add(by), entry.expires_at)
            }
            None => (by, Some(now + ttl)),
        };
        let value = count.to_string().into_bytes();
        entries.insert(key.to_owned(), Entry { value, expires_at });
        Ok(count)
    }

    async fn keys(&self, prefix: &str) -> Result<Vec<String>, StoreError> {
        let now = Instant::now();
        Ok(self
            .lock()
            .iter()
            .filter(|(key, entry)| key.starts_with(prefix) && entry.is_live(now))
            .map(|(key, _)| key.clone())
            .collect())
    }
}

fn parse_counter(value: &[u8]) -> Result<i64, StoreError> {
    std::str::from_utf8(value)
        .ok()
        .and_then(|text| text.parse().ok())
        .ok_or_else(|| StoreError::Backend {
            operation: "increment",
            source: "value is not an integer".into(),
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn take_returns_value_once() {
        let store = MemoryStore::new();
        store.set("k", b"v", None).await.unwrap();
        assert_eq!(store.take("k").await.unwrap(), Some(b"v".to_vec()));
        assert_eq!(store.take("k").await.unwrap(), None);
    }

    #[tokio::test]
    async fn insert_new_keeps_existing_value() {
        let store = MemoryStore::new();
        assert!(store.insert_new("k", b"first", None).await.unwrap());
        assert!(!store.insert_new("k", b"second", None).await.unwrap());
        assert_eq!(store.get("k").await.unwrap(), Some(b"first".to_vec()));
    }

    #[tokio::test]
    async fn compare_and_swap_checks_current() {
        let store = MemoryStore::new();
        assert!(store.compare_and_swap("k", None, b"1", None).await.unwrap());
        assert!(!store.compare_and_swap("k", None, b"2", None).await.unwrap());
        assert!(
            !store
                .compare_and_swap("k", Some(b"0"), b"2", None)
                .await
                .unwrap()
        );
        assert!(
            store
                .compare_and_swap("k", Some(b"1"), b"2", None)
                .await
                .unwrap()
        );
        assert_eq!(store.get("k").await.unwrap(), Some(b"2".to_vec()));
    }

    #[tokio::test]
    async fn expired_entry_is_absent() {
        let store = MemoryStore::new();
        store
            .set("k", b"v", Some(Duration::from_millis(1)))
            .await
            .unwrap();
        tokio::time::sleep(Duration::from_millis(5)).await;
        assert_eq!(store.get("k").await.unwrap(), None);
        assert!(store.insert_new("k", b"w", None).await.unwrap());
        assert_eq!(store.purge_expired(), 0);
    }

    #[tokio::test]
    async fn increment_counts_and_keeps_ttl() {
        let store = MemoryStore::new();
        let ttl = Duration::from_secs(60);
        assert_eq!(store.increment("n", 1, ttl).await.unwrap(), 1);
        assert_eq!(store.increment("n", 2, ttl).await.unwrap(), 3);
        store.set("text", b"abc", None).await.unwrap();
        assert!(store.increment("text", 1, ttl).await.is_err());
    }

    #[tokio::test]
    async fn keys_filtered_by_prefix() {
        let store = MemoryStore::new();
        store.set("a:1", b"", None).await.unwrap();
        store.set("a:2", b"", None).await.unwrap();
        store.set("b:1", b"", None).await.unwrap();
        let mut keys = store.keys("a:").await.unwrap();
        keys.sort();
        assert_eq!(keys, ["a:1", "a:2"]);
    }
}
