//! Loading the key set from the store, or generating and storing one when it has none.

use latchkey_sdk::PluginError;
use latchkey_sdk::capability::Store;

use super::set::KeySet;

/// Store key of the key set, under the host's `store.key_prefix`.
pub(crate) const STORE_KEY: &str = "jwt:keyset";

/// Rounds of read, then write if absent, before giving up. A second round only runs when
/// another instance wrote first and the key was gone again when read back.
const MAX_ROUNDS: usize = 3;

/// Returns the stored key set, generating and storing a new one with `bits`-bit keys when
/// the store has none.
///
/// Several instances may start at once against one store, so the write uses
/// `insert_new`: the instance that loses the race loads the winner's key set and drops its
/// own. Generation runs on the blocking thread pool, never on a request path.
///
/// # Errors
///
/// [`PluginError::Store`] when the store fails, and [`PluginError::Start`] when the stored
/// key set cannot be parsed (it is left as it is) or a new one cannot be generated.
pub(crate) async fn load_or_generate(
    store: &dyn Store,
    bits: usize,
) -> Result<KeySet, PluginError> {
    let mut generated: Option<KeySet> = None;
    for _ in 0..MAX_ROUNDS {
        if let Some(bytes) = store.get(STORE_KEY).await? {
            let keys = parse_stored(&bytes)?;
            log_loaded(&keys);
            return Ok(keys);
        }

        let keys = match generated.take() {
            Some(keys) => keys,
            None => generate(bits).await?,
        };
        let bytes = keys.to_stored().map_err(|error| {
            PluginError::start_with("the new signing key set could not be encoded", error)
        })?;
        if store.insert_new(STORE_KEY, &bytes, None).await? {
            let key = keys.signing_key();
            tracing::info!(
                kid = %key.kid(),
                alg = key.algorithm().as_str(),
                bits = key.bits(),
                "signing key generated"
            );
            return Ok(keys);
        }
        tracing::debug!("another instance stored a signing key set first, loading it");
        generated = Some(keys);
    }
    Err(PluginError::start(format!(
        "the signing key set at store key {STORE_KEY} was written by another instance but \
         could not be read back after {MAX_ROUNDS} attempts: restart to retry"
    )))
}

fn parse_stored(bytes: &[u8]) -> Result<KeySet, PluginError> {
    KeySet::from_stored(bytes).map_err(|error| {
        PluginError::start_with(
            format!(
                "the signing key set at store key {STORE_KEY} cannot be read and was left \
                 unchanged: restore it from a backup, or delete the key to generate a new \
                 one (tokens signed with the old keys then stop verifying)"
            ),
            error,
        )
    })
}

async fn generate(bits: usize) -> Result<KeySet, PluginError> {
    let task = tokio::task::spawn_blocking(move || KeySet::generate(bits));
    match task.await {
        Ok(Ok(keys)) => Ok(keys),
        Ok(Err(error)) => Err(PluginError::start_with(
            format!("a {bits}-bit RSA signing key could not be generated"),
            error,
        )),
        Err(error) => Err(PluginError::start_with(
            "the RSA key generation task failed",
            error,
        )),
    }
}

fn log_loaded(keys: &KeySet) {
    let key = keys.signing_key();
    tracing::info!(
        kid = %key.kid(),
        alg = key.algorithm().as_str(),
        keys = keys.keys().len(),
        "signing key loaded"
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{FakeStore, key_set};

    fn writes(store: &FakeStore) -> usize {
        store.writes()
    }

    #[tokio::test]
    async fn absent_set_generated_and_stored() {
        let store = FakeStore::default();
        let keys = load_or_generate(&store, 2048).await.unwrap();
        assert_eq!(keys.signing_key().bits(), 2048);
        let stored = KeySet::from_stored(&store.value(STORE_KEY).unwrap()).unwrap();
        assert_eq!(stored.signing_key().kid(), keys.signing_key().kid());
    }

    #[tokio::test]
    async fn stored_set_loaded_without_writing() {
        let bytes = key_set().to_stored().unwrap();
        let store = FakeStore::with(STORE_KEY, &bytes);
        let keys = load_or_generate(&store, 2048).await.unwrap();
        assert_eq!(keys.signing_key().kid(), key_set().signing_key().kid());
        assert_eq!(writes(&store), 0);
    }

    #[tokio::test]
    async fn unreadable_set_left_unchanged() {
        let store = FakeStore::with(STORE_KEY, b"{\"version\":1,\"keys\":\"oops\"}");
        let error = load_or_generate(&store, 2048).await.unwrap_err();
        let message = error.to_string();
        assert!(matches!(error, PluginError::Start { .. }), "{message}");
        assert!(message.contains(STORE_KEY), "{message}");
        assert!(message.contains("left unchanged"), "{message}");
        assert_eq!(writes(&store), 0);
        assert_eq!(
            store.value(STORE_KEY).unwrap(),
            b"{\"version\":1,\"keys\":\"oops\"}"
        );
    }

    #[tokio::test]
    async fn lost_race_loads_winner() {
        let winner = key_set().to_stored().unwrap();
        let store = FakeStore::default();
        store.race_next_insert(STORE_KEY, &winner);
        let keys = load_or_generate(&store, 2048).await.unwrap();
        assert_eq!(keys.signing_key().kid(), key_set().signing_key().kid());
        assert_eq!(store.value(STORE_KEY).unwrap(), winner);
    }
}
