//! The Redis backend: durable, and shared by every instance behind a load balancer.

use std::time::Duration;

use latchkey_sdk::capability::{Store, StoreError};
use latchkey_sdk::salvo::async_trait;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::{AsyncCommands, Script, SetExpiry, SetOptions};

/// Time allowed to open a connection and to get each response, so that an unreachable
/// Redis turns into a 503 quickly instead of holding requests.
const TIMEOUT: Duration = Duration::from_secs(2);

/// Keys fetched per `SCAN` round trip.
const SCAN_BATCH: usize = 500;

/// A store on a Redis server, through a connection that reconnects by itself.
///
/// Every read-modify-write is one command or one Lua script, so it is atomic.
#[derive(Clone)]
pub struct RedisStore {
    connection: ConnectionManager,
    prefix: String,
    compare_and_swap: Script,
    increment: Script,
}

impl std::fmt::Debug for RedisStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisStore")
            .field("prefix", &self.prefix)
            .finish_non_exhaustive()
    }
}

impl RedisStore {
    /// Connects to the Redis at `url`; every key gets `prefix` in front.
    ///
    /// # Errors
    ///
    /// A URL that does not parse, or a server that does not respond within two seconds.
    pub async fn connect(url: &str, prefix: &str) -> Result<Self, StoreError> {
        let client = redis::Client::open(url).map_err(|error| StoreError::Backend {
            operation: "connect",
            source: Box::new(error),
        })?;
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(TIMEOUT))
            .set_response_timeout(Some(TIMEOUT))
            .set_number_of_retries(2)
            .set_max_delay(Duration::from_secs(1));
        let connection = ConnectionManager::new_with_config(client, config)
            .await
            .map_err(unavailable)?;
        Ok(Self {
            connection,
            prefix: prefix.to_owned(),
            compare_and_swap: Script::new(include_str!("lua/compare_and_swap.lua")),
            increment: Script::new(include_str!("lua/increment.lua")),
        })
    }

    fn key(&self, key: &str) -> String {
        format!("{}{key}", self.prefix)
    }

    fn connection(&self) -> ConnectionManager {
        self.connection.clone()
    }
}

fn unavailable(error: redis::RedisError) -> StoreError {
    StoreError::Unavailable(Box::new(error))
}

fn classify(operation: &'static str) -> impl Fn(redis::RedisError) -> StoreError {
    move |error| {
        let unreachable = error.is_io_error()
            || error.is_connection_dropped()
            || error.is_connection_refusal()
            || error.is_timeout();
        if unreachable {
            unavailable(error)
        } else {
            StoreError::Backend {
                operation,
                source: Box::new(error),
            }
        }
    }
}

fn millis(ttl: Duration) -> u64 {
    u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX).max(1)
}

fn set_options(ttl: Option<Duration>) -> SetOptions {
    match ttl {
        Some(ttl) => SetOptions::default().with_expiration(SetExpiry::PX(millis(ttl))),
        None => SetOptions::default(),
    }
}

/// Escapes the glob characters of `text` for a `SCAN MATCH` pattern.
fn glob_escape(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for character in text.chars() {
        if matches!(character, '*' | '?' | '[' | ']' | '\\') {
            escaped.push('\\');
        }
        escaped.push(character);
    }
    escaped
}

#[async_trait]
impl Store for RedisStore {
    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        self.connection()
            .get(self.key(key))
            .await
            .map_err(classify("get"))
    }

    async fn get_many(&self, keys: &[String]) -> Result<Vec<Option<Vec<u8>>>, StoreError> {
        if keys.is_empty() {
            return Ok(Vec::new());
        }
        let keys: Vec<String> = keys.iter().map(|key| self.key(key)).collect();
        // `mget` of one key would send GET and expect a single value, not a list.
        let mut command = redis::cmd("MGET");
        command.arg(&keys);
        command
            .query_async(&mut self.connection())
            .await
            .map_err(classify("get_many"))
    }

    async fn set(&self, key: &str, value: &[u8], ttl: Option<Duration>) -> Result<(), StoreError> {
        self.connection()
            .set_options(self.key(key), value, set_options(ttl))
            .await
            .map_err(classify("set"))
    }

    async fn insert_new(
        &self,
        key: &str,
        value: &[u8],
        ttl: Option<Duration>,
    ) -> Result<bool, StoreError> {
        let options = set_options(ttl).conditional_set(redis::ExistenceCheck::NX);
        let written: Option<String> = self
            .connection()
            .set_options(self.key(key), value, options)
            .await
            .map_err(classify("insert_new"))?;
        Ok(written.is_some())
    }

    async fn take(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        self.connection()
            .get_del(self.key(key))
            .await
            .map_err(classify("take"))
    }

    async fn delete(&self, key: &str) -> Result<bool, StoreError> {
        let removed: u64 = self
            .connection()
            .del(self.key(key))
            .await
            .map_err(classify("delete"))?;
        Ok(removed > 0)
    }

    async fn compare_and_swap(
        &self,
        key: &str,
        current: Option<&[u8]>,
        new: &[u8],
        ttl: Option<Duration>,
    ) -> Result<bool, StoreError> {
        let ttl = ttl.map_or(0, millis);
        let swapped: i64 = self
            .compare_and_swap
            .key(self.key(key))
            .arg(if current.is_some() { "1" } else { "0" })
            .arg(current.unwrap_or_default())
            .arg(new)
            .arg(ttl)
            .invoke_async(&mut self.connection())
            .await
            .map_err(classify("compare_and_swap"))?;
        Ok(swapped == 1)
    }

    async fn increment(&self, key: &str, by: i64, ttl: Duration) -> Result<i64, StoreError> {
        self.increment
            .key(self.key(key))
            .arg(by)
            .arg(millis(ttl))
            .invoke_async(&mut self.connection())
            .await
            .map_err(classify("increment"))
    }

    async fn keys(&self, prefix: &str) -> Result<Vec<String>, StoreError> {
        let pattern = format!("{}*", glob_escape(&self.key(prefix)));
        let mut connection = self.connection();
        let mut cursor: u64 = 0;
        let mut keys = Vec::new();
        loop {
            let (next, batch): (u64, Vec<String>) = redis::cmd("SCAN")
                .arg(cursor)
                .arg("MATCH")
                .arg(&pattern)
                .arg("COUNT")
                .arg(SCAN_BATCH)
                .query_async(&mut connection)
                .await
                .map_err(classify("keys"))?;
            keys.extend(
                batch
                    .into_iter()
                    .filter_map(|key| key.strip_prefix(&self.prefix).map(str::to_owned)),
            );
            if next == 0 {
                return Ok(keys);
            }
            cursor = next;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn glob_characters_escaped() {
        assert_eq!(glob_escape("latchkey:a*b?[c]"), "latchkey:a\\*b\\?\\[c\\]");
    }

    #[test]
    fn ttl_rounds_up_to_a_millisecond() {
        assert_eq!(millis(Duration::from_micros(10)), 1);
        assert_eq!(millis(Duration::from_secs(2)), 2000);
    }
}
