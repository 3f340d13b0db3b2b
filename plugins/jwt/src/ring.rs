//! The live key set shared by every handler: reloaded from the store on a schedule,
//! rotated by exactly one instance at a time, and served as issuer, verifier and JWKS.

use std::sync::{Arc, RwLock};
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use latchkey_sdk::capability::{
    IssuedToken, Store, StoreError, TokenError, TokenIssuer, TokenRequest, TokenVerifier,
    VerifiedToken, VerifyError,
};
use latchkey_sdk::salvo::async_trait;
use latchkey_sdk::salvo::hyper::body::Bytes;
use sha2::{Digest, Sha256};

use crate::config::Settings;
use crate::error::KeySetError;
use crate::issuer::JwtIssuer;
use crate::keys::{Entry, KeySet, unix_now};
use crate::plugin::DEVELOPMENT_SECRET_KEY;
use crate::verifier::JwtVerifier;

/// Store key of the key set, under the host's `store.key_prefix`.
pub(crate) const KEY_SET_KEY: &str = "jwt:keyset";

/// Store key of the claim one instance takes before it rotates.
pub(crate) const ROTATION_CLAIM_KEY: &str = "jwt:rotation_claim";

/// How long a rotation claim holds if its instance dies before releasing it.
const CLAIM_TTL: Duration = Duration::from_secs(60);

/// The state handlers read: the key set and everything derived from it at one moment.
pub(crate) struct Snapshot {
    /// The stored bytes the set was read from, for compare-and-swap.
    pub(crate) stored: Vec<u8>,
    /// The key set.
    pub(crate) keys: KeySet,
    /// Signs with the key that was signing when the snapshot was built.
    pub(crate) issuer: JwtIssuer,
    /// Verifies with the published keys.
    pub(crate) verifier: JwtVerifier,
    /// The JWKS document of the published keys.
    pub(crate) jwks: Bytes,
    /// Strong `ETag` of [`Snapshot::jwks`].
    pub(crate) etag: String,
    /// The signing `kid` and published `kid`s, to tell when time alone changed them.
    state: (String, Vec<String>),
}

/// The outcome of one rotation attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rotation {
    /// This instance stored a new key, published now and signing from `activates_at`.
    Rotated {
        /// The new key's ID.
        kid: String,
        /// When it starts signing, in seconds since the Unix epoch.
        activates_at: u64,
    },
    /// A next key is already published and waiting to sign.
    Pending {
        /// Its ID.
        kid: String,
        /// When it starts signing.
        activates_at: u64,
    },
    /// No rotation is due yet.
    NotDue,
    /// Another instance has the rotation claim or changed the set first.
    ClaimedElsewhere,
}

/// Errors of loading, storing or rotating the key set.
#[derive(Debug, thiserror::Error)]
pub enum RingError {
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The stored set cannot be read; it is left unchanged.
    #[error("the signing key set at store key {KEY_SET_KEY} cannot be read and was left unchanged")]
    Unreadable(#[source] KeySetError),
    /// The key set another instance stored could not be read back.
    #[error(
        "the signing key set at store key {KEY_SET_KEY} disappeared right after it was written"
    )]
    Missing,
    /// A new key could not be generated or encoded.
    #[error("a new signing key could not be made")]
    Generation(#[source] KeySetError),
    /// The key generation task failed.
    #[error("the key generation task failed")]
    Task(#[source] tokio::task::JoinError),
}

/// The key set of this instance and the means to refresh and rotate it.
pub struct KeyRing {
    store: Arc<dyn Store>,
    settings: Settings,
    secret: Vec<u8>,
    current: RwLock<Arc<Snapshot>>,
}

impl KeyRing {
    /// Loads the key set from `store`, generating and storing the first one when the store
    /// has none. Several instances may start at once: the one whose `insert_new` loses
    /// loads the winner's set.
    ///
    /// # Errors
    ///
    /// [`RingError`] when the store fails, the stored set cannot be read (it is then left
    /// as it is), or no key can be generated.
    pub(crate) async fn open(
        store: Arc<dyn Store>,
        settings: Settings,
        secret: Vec<u8>,
    ) -> Result<Self, RingError> {
        let (keys, stored) = match load(&*store, &secret).await? {
            Some(loaded) => {
                let key = loaded.0.signing_key();
                tracing::info!(
                    kid = %key.kid(),
                    alg = key.algorithm().as_str(),
                    keys = loaded.0.entries().len(),
                    "signing key set loaded"
                );
                loaded
            }
            None => first_key_set(&*store, &settings, &secret).await?,
        };
        let snapshot = build(stored, keys, &settings, unix_now());
        Ok(Self {
            store,
            settings,
            secret,
            current: RwLock::new(Arc::new(snapshot)),
        })
    }

    /// Returns the snapshot handlers read now.
    pub(crate) fn snapshot(&self) -> Arc<Snapshot> {
        let current = self
            .current
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        Arc::clone(&current)
    }

    fn replace(&self, snapshot: Snapshot) {
        let mut current = self
            .current
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        *current = Arc::new(snapshot);
    }

    /// Reloads the stored set, and rebuilds the snapshot when the set changed or time
    /// activated or retired a key. Returns whether the snapshot changed.
    ///
    /// # Errors
    ///
    /// [`RingError`] when the store fails or the stored set cannot be read; the current
    /// snapshot then stays.
    pub async fn refresh(&self) -> Result<bool, RingError> {
        let current = self.snapshot();
        let now = unix_now();
        let Some(bytes) = self.store.get(KEY_SET_KEY).await? else {
            // The store lost the set, as an emptied or failed-over Redis does. Writing the
            // one this instance has keeps every instance on the keys verifiers know.
            if self.settings.key_encryption_secret.is_none() {
                // Without the development secret the written-back set could not be read.
                self.store
                    .insert_new(DEVELOPMENT_SECRET_KEY, &self.secret, None)
                    .await?;
            }
            if self
                .store
                .insert_new(KEY_SET_KEY, &current.stored, None)
                .await?
            {
                tracing::warn!("signing key set was missing from the store; wrote it back");
            }
            return Ok(false);
        };
        if bytes == current.stored {
            if state_of(&current.keys, now) == current.state {
                return Ok(false);
            }
            let keys = current.keys.clone();
            self.replace(build(bytes, keys, &self.settings, now));
            return Ok(true);
        }
        let keys = read_set(&bytes, &self.secret, now)?;
        if let Some(merged) = self
            .restore_lost_keys(&current.keys, &keys, &bytes, now)
            .await?
        {
            self.replace(merged);
            return Ok(true);
        }
        let snapshot = build(bytes, keys, &self.settings, now);
        tracing::info!(
            signing_kid = %snapshot.issuer.kid(),
            keys = snapshot.keys.entries().len(),
            "signing key set changed in the store"
        );
        self.replace(snapshot);
        Ok(true)
    }

    /// Puts back the keys this instance publishes that the stored set lacks, which happens
    /// only when the store lost the set and another instance stored a new one: tokens
    /// signed with the lost keys would stop verifying everywhere. A key this instance has
    /// not published yet is published for `publish_ahead` before it may sign. Returns the
    /// snapshot of the merged set once it is stored, or `None` when nothing was lost or
    /// another writer came first.
    async fn restore_lost_keys(
        &self,
        ours: &KeySet,
        stored: &KeySet,
        stored_bytes: &[u8],
        now: u64,
    ) -> Result<Option<Snapshot>, RingError> {
        let lost: Vec<&Entry> = ours
            .entries()
            .iter()
            .filter(|entry| entry.retires_at.is_none_or(|at| at > now))
            .filter(|entry| stored.get(entry.key.kid()).is_none())
            .collect();
        if lost.is_empty() {
            return Ok(None);
        }
        let earliest_new_signing = now + self.settings.schedule.publish_ahead.as_secs();
        let mut entries: Vec<Entry> = stored
            .entries()
            .iter()
            .map(|entry| {
                let mut entry = entry.clone();
                if ours.get(entry.key.kid()).is_none() {
                    entry.activates_at = entry.activates_at.max(earliest_new_signing);
                }
                entry
            })
            .collect();
        entries.extend(lost.into_iter().cloned());
        let merged =
            KeySet::from_entries(entries, *stored.salt()).map_err(RingError::Unreadable)?;
        let bytes = merged
            .to_stored(&self.secret)
            .map_err(RingError::Generation)?;
        if !self
            .store
            .compare_and_swap(KEY_SET_KEY, Some(stored_bytes), &bytes, None)
            .await?
        {
            return Ok(None);
        }
        // NOTE: the instance that stored the new set signed with its own key until its next
        // refresh, so verifiers that cached the JWKS before then reject those tokens.
        tracing::warn!(
            "the stored signing key set lacked keys this instance publishes, as after a store \
             lost it; merged them back so that their tokens keep verifying"
        );
        Ok(Some(build(bytes, merged, &self.settings, now)))
    }

    /// Adds the next key when one is due, or at once with `forced`, unless one is already
    /// waiting. Exactly one instance rotates: it takes a claim in the store, generates the
    /// key off the request path, and writes the set with compare-and-swap.
    ///
    /// # Errors
    ///
    /// [`RingError`] when the store fails or no key can be generated.
    pub async fn rotate(&self, forced: bool) -> Result<Rotation, RingError> {
        self.refresh().await?;
        let current = self.snapshot();
        let now = unix_now();
        let schedule = self.settings.schedule;
        if !current.keys.rotation_due(now, &schedule, forced) {
            return Ok(match pending(&current.keys, now) {
                Some((kid, activates_at)) => Rotation::Pending { kid, activates_at },
                None => Rotation::NotDue,
            });
        }
        if !self
            .store
            .insert_new(ROTATION_CLAIM_KEY, b"1", Some(CLAIM_TTL))
            .await?
        {
            return Ok(Rotation::ClaimedElsewhere);
        }
        let result = self.rotate_claimed(&current, now).await;
        if let Err(error) = self.store.delete(ROTATION_CLAIM_KEY).await {
            tracing::warn!(
                error = %latchkey_sdk::error_chain(&error),
                "rotation claim not released; it expires by itself"
            );
        }
        result
    }

    async fn rotate_claimed(&self, current: &Snapshot, now: u64) -> Result<Rotation, RingError> {
        let algorithm = self.settings.algorithm;
        let bits = self.settings.rsa_bits;
        let next = tokio::task::spawn_blocking(move || crate::keys::Key::generate(algorithm, bits))
            .await
            .map_err(RingError::Task)?
            .map_err(RingError::Generation)?;
        let kid = next.kid().to_owned();
        let rotated = current.keys.rotated(next, now, &self.settings.schedule);
        let bytes = rotated
            .to_stored(&self.secret)
            .map_err(RingError::Generation)?;
        if !self
            .store
            .compare_and_swap(KEY_SET_KEY, Some(&current.stored), &bytes, None)
            .await?
        {
            return Ok(Rotation::ClaimedElsewhere);
        }
        let activates_at = now + self.settings.schedule.publish_ahead.as_secs();
        tracing::info!(kid, activates_at, "next signing key published");
        self.replace(build(bytes, rotated, &self.settings, now));
        Ok(Rotation::Rotated { kid, activates_at })
    }

    /// Runs until `shutdown`: every `refresh_every`, rotates when due and reloads the set.
    pub(crate) async fn maintain(self: Arc<Self>, mut shutdown: latchkey_sdk::ShutdownSignal) {
        let mut interval = tokio::time::interval(self.settings.refresh_every);
        interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                () = shutdown.wait() => return,
                _ = interval.tick() => {}
            }
            match self.rotate(false).await {
                Ok(Rotation::Rotated { .. } | Rotation::NotDue | Rotation::Pending { .. }) => {}
                Ok(Rotation::ClaimedElsewhere) => {
                    tracing::debug!("another instance is rotating the signing keys");
                }
                Err(error) => tracing::warn!(
                    error = %latchkey_sdk::error_chain(&error),
                    "signing key set not refreshed; serving the last one read"
                ),
            }
        }
    }
}

impl std::fmt::Debug for KeyRing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyRing")
            .field("signing_kid", &self.snapshot().issuer.kid())
            .finish_non_exhaustive()
    }
}

/// Returns the stored key set, or `None` when the store has none.
async fn load(store: &dyn Store, secret: &[u8]) -> Result<Option<(KeySet, Vec<u8>)>, RingError> {
    let Some(bytes) = store.get(KEY_SET_KEY).await? else {
        return Ok(None);
    };
    let keys = read_set(&bytes, secret, unix_now())?;
    Ok(Some((keys, bytes)))
}

/// Parses stored `bytes`, refusing a set that publishes no key at `now`: it would leave
/// the JWKS empty and every token unverifiable.
fn read_set(bytes: &[u8], secret: &[u8], now: u64) -> Result<KeySet, RingError> {
    let keys = KeySet::from_stored(bytes, secret).map_err(RingError::Unreadable)?;
    if keys.published_at(now).next().is_none() {
        return Err(RingError::Unreadable(KeySetError::NothingPublished));
    }
    Ok(keys)
}

/// Generates and stores the first key set, or loads the one another instance stored first.
async fn first_key_set(
    store: &dyn Store,
    settings: &Settings,
    secret: &[u8],
) -> Result<(KeySet, Vec<u8>), RingError> {
    let algorithm = settings.algorithm;
    let bits = settings.rsa_bits;
    let keys = tokio::task::spawn_blocking(move || KeySet::generate(algorithm, bits))
        .await
        .map_err(RingError::Task)?
        .map_err(RingError::Generation)?;
    let bytes = keys.to_stored(secret).map_err(RingError::Generation)?;
    if store.insert_new(KEY_SET_KEY, &bytes, None).await? {
        let key = keys.signing_key();
        tracing::info!(kid = %key.kid(), alg = key.algorithm().as_str(), bits = key.bits(), "signing key generated");
        return Ok((keys, bytes));
    }
    tracing::debug!("another instance stored a signing key set first, loading it");
    load(store, secret).await?.ok_or(RingError::Missing)
}

fn state_of(keys: &KeySet, now: u64) -> (String, Vec<String>) {
    let signing = keys.signing_key_at(now).kid().to_owned();
    let published = keys
        .published_at(now)
        .map(|key| key.kid().to_owned())
        .collect();
    (signing, published)
}

fn pending(keys: &KeySet, now: u64) -> Option<(String, u64)> {
    keys.entries()
        .iter()
        .filter(|entry| entry.activates_at > now)
        .max_by_key(|entry| entry.activates_at)
        .map(|entry| (entry.key.kid().to_owned(), entry.activates_at))
}

fn build(stored: Vec<u8>, keys: KeySet, settings: &Settings, now: u64) -> Snapshot {
    let signing = Arc::clone(keys.signing_key_at(now));
    let mut issuer = JwtIssuer::for_key(signing, settings.token_ttl);
    let mut verifier = JwtVerifier::for_keys(keys.published_at(now))
        .leeway(settings.leeway)
        .max_token_lifetime(settings.token_ttl);
    if let Some(name) = &settings.issuer {
        issuer = issuer.issuer(name.clone());
        verifier = verifier.issuer(name.clone());
    }
    if let Some(name) = &settings.audience {
        issuer = issuer.audience(name.clone());
        verifier = verifier.audience(name.clone());
    }
    let jwks = Bytes::from(keys.jwks_json_at(now));
    let digest = Sha256::digest(&jwks);
    let etag = format!("\"{}\"", URL_SAFE_NO_PAD.encode(&digest[..16]));
    let state = state_of(&keys, now);
    Snapshot {
        stored,
        keys,
        issuer,
        verifier,
        jwks,
        etag,
        state,
    }
}

/// The `token_issuer` capability: signs with the key signing now.
pub(crate) struct RingIssuer(pub(crate) Arc<KeyRing>);

#[async_trait]
impl TokenIssuer for RingIssuer {
    async fn issue(&self, request: TokenRequest) -> Result<IssuedToken, TokenError> {
        let issuer = self.0.snapshot().issuer.clone();
        issuer.issue(request).await
    }
}

/// The `token_verifier` capability: verifies with the keys published now.
pub(crate) struct RingVerifier(pub(crate) Arc<KeyRing>);

#[async_trait]
impl TokenVerifier for RingVerifier {
    async fn verify(&self, token: &str) -> Result<VerifiedToken, VerifyError> {
        self.0.snapshot().verifier.verify(token).await
    }

    fn max_token_lifetime(&self) -> Duration {
        self.0.settings.token_ttl
    }

    fn leeway(&self) -> Duration {
        self.0.settings.leeway
    }
}
