//! The key-value store every plugin keeps its state in.

use std::time::Duration;

use salvo::async_trait;

/// Errors of a [`Store`] backend.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The backend could not be reached or timed out.
    #[error("store unavailable")]
    Unavailable(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// The backend returned an error.
    #[error("store operation {operation} failed")]
    Backend {
        /// The operation that failed, such as `compare_and_swap`.
        operation: &'static str,
        /// The backend's error.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
}

/// A key-value store with the atomic operations plugins need.
///
/// Keys are plain strings that a plugin namespaces itself (`passkey:credential:<id>`). The
/// host adds the configured `store.key_prefix` in front of every key, so no plugin reads or
/// writes another deployment's keys. Every method is atomic in every backend, and a TTL
/// passed to a method is set in the same atomic step as the write.
#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// Returns the value of `key`, or `None` when it is absent or expired.
    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError>;

    /// Returns the values of `keys`, in the same order, in one round trip where the backend
    /// allows it. The default implementation calls [`get`](Store::get) for each key.
    async fn get_many(&self, keys: &[String]) -> Result<Vec<Option<Vec<u8>>>, StoreError> {
        let mut values = Vec::with_capacity(keys.len());
        for key in keys {
            values.push(self.get(key).await?);
        }
        Ok(values)
    }

    /// Writes `value` to `key`, replacing any value, with an optional time to live.
    async fn set(&self, key: &str, value: &[u8], ttl: Option<Duration>) -> Result<(), StoreError>;

    /// Writes `value` to `key` only if the key is absent, and returns whether it wrote.
    async fn insert_new(
        &self,
        key: &str,
        value: &[u8],
        ttl: Option<Duration>,
    ) -> Result<bool, StoreError>;

    /// Removes `key` and returns the value it had, so that exactly one caller gets it.
    async fn take(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError>;

    /// Removes `key` and returns whether it existed.
    async fn delete(&self, key: &str) -> Result<bool, StoreError>;

    /// Replaces the value of `key` with `new` only if it is still `current`, where `None`
    /// means absent, and returns whether it replaced it.
    ///
    /// Read, compute, then call this in a loop to update a record without lost writes.
    async fn compare_and_swap(
        &self,
        key: &str,
        current: Option<&[u8]>,
        new: &[u8],
        ttl: Option<Duration>,
    ) -> Result<bool, StoreError>;

    /// Adds `by` to the integer at `key`, creating it with time to live `ttl` when absent,
    /// and returns the new value.
    async fn increment(&self, key: &str, by: i64, ttl: Duration) -> Result<i64, StoreError>;

    /// Returns every live key that starts with `prefix`, in no particular order.
    ///
    /// Meant for administration and tests: it walks the whole key space.
    async fn keys(&self, prefix: &str) -> Result<Vec<String>, StoreError>;
}
