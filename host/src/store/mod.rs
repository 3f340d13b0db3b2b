//! The store backends behind the SDK's `Store` capability.
//!
//! - [`MemoryStore`]: one process, lost on restart; the development default.
//! - [`RedisStore`]: durable and shared by every instance, with a reconnecting connection.

mod memory;
mod redis;

use std::sync::Arc;

use latchkey_sdk::capability::Store;

pub use self::memory::MemoryStore;
pub use self::redis::RedisStore;
use crate::config::{StoreKind, StoreSettings};

/// Opens the backend that `settings` selects. The server opens the memory store itself
/// when it needs the concrete type, to purge expired entries.
///
/// # Errors
///
/// A Redis URL that does not parse, or a Redis server that cannot be reached.
pub async fn open(settings: &StoreSettings) -> anyhow::Result<Arc<dyn Store>> {
    match settings.kind {
        StoreKind::Memory => Ok(Arc::new(MemoryStore::new())),
        StoreKind::Redis => {
            let store = RedisStore::connect(&settings.redis_url, &settings.key_prefix).await?;
            Ok(Arc::new(store))
        }
    }
}
