//! The admin routes of the key set: `GET /api/admin/keys` lists the keys and
//! `POST /api/admin/keys/rotate` publishes the next one, through the same claim as the
//! scheduled rotation. Both need an admin key with scope `keys`.

use std::sync::Arc;

use latchkey_sdk::salvo::http::StatusCode;
use latchkey_sdk::salvo::writing::Json;
use latchkey_sdk::salvo::{Depot, FlowCtrl, Handler, Request, Response, Router, async_trait};
use latchkey_sdk::{AdminKeys, ApiError};
use serde::Serialize;
use serde_json::{Value, json};

use crate::keys::{KeySet, unix_now};
use crate::ring::{KeyRing, RingError, Rotation};

/// Scope of admin keys that may list and rotate signing keys.
const KEYS_SCOPE: &str = "keys";

/// One key in a listing.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct KeyView {
    /// The key ID.
    pub kid: String,
    /// The JWS algorithm.
    pub alg: &'static str,
    /// `next` (published, not signing yet), `signing`, `retiring` (published, replaced)
    /// or `retired`.
    pub state: &'static str,
    /// Creation time, in seconds since the Unix epoch.
    pub created_at: u64,
    /// When the key signs from.
    pub activates_at: u64,
    /// When the key leaves the JWKS, once replaced.
    pub retires_at: Option<u64>,
}

/// Returns the keys of `keys` as listed at `now`.
#[must_use]
pub fn key_views(keys: &KeySet, now: u64) -> Vec<KeyView> {
    let signing = keys.signing_key_at(now).kid().to_owned();
    keys.entries()
        .iter()
        .map(|entry| KeyView {
            kid: entry.key.kid().to_owned(),
            alg: entry.key.algorithm().as_str(),
            state: entry.state(now, &signing),
            created_at: entry.key.created_at_secs(),
            activates_at: entry.activates_at,
            retires_at: entry.retires_at,
        })
        .collect()
}

/// Returns the JSON response of a rotation attempt.
#[must_use]
pub fn rotation_json(rotation: &Rotation) -> Value {
    match rotation {
        Rotation::Rotated { kid, activates_at } => {
            json!({"rotated": true, "kid": kid, "activatesAt": activates_at})
        }
        Rotation::Pending { kid, activates_at } => json!({
            "rotated": false,
            "reason": "a next key is already published and waiting to sign",
            "kid": kid,
            "activatesAt": activates_at,
        }),
        Rotation::NotDue => json!({"rotated": false, "reason": "no rotation is due"}),
        Rotation::ClaimedElsewhere => json!({
            "rotated": false,
            "reason": "another instance is rotating the keys: list them again in a moment",
        }),
    }
}

pub(crate) fn routes(ring: &Arc<KeyRing>, admin_keys: AdminKeys) -> Router {
    let admin_keys = Arc::new(admin_keys);
    Router::with_path("api/admin/keys")
        .get(ListKeys {
            ring: Arc::clone(ring),
            admin_keys: Arc::clone(&admin_keys),
        })
        .push(Router::with_path("rotate").post(RotateKeys {
            ring: Arc::clone(ring),
            admin_keys,
        }))
}

struct ListKeys {
    ring: Arc<KeyRing>,
    admin_keys: Arc<AdminKeys>,
}

#[async_trait]
impl Handler for ListKeys {
    async fn handle(&self, req: &mut Request, _: &mut Depot, res: &mut Response, _: &mut FlowCtrl) {
        if let Err(error) = self.admin_keys.authorize(req, KEYS_SCOPE) {
            error.render(res);
            return;
        }
        let snapshot = self.ring.snapshot();
        res.render(Json(json!({"keys": key_views(&snapshot.keys, unix_now())})));
    }
}

struct RotateKeys {
    ring: Arc<KeyRing>,
    admin_keys: Arc<AdminKeys>,
}

#[async_trait]
impl Handler for RotateKeys {
    async fn handle(&self, req: &mut Request, _: &mut Depot, res: &mut Response, _: &mut FlowCtrl) {
        let name = match self.admin_keys.authorize(req, KEYS_SCOPE) {
            Ok(key) => key.name().to_owned(),
            Err(error) => {
                error.render(res);
                return;
            }
        };
        match self.ring.rotate(true).await {
            Ok(rotation) => {
                tracing::info!(admin_key = name, ?rotation, "key rotation requested");
                res.render(Json(rotation_json(&rotation)));
            }
            Err(RingError::Store(error)) => res.render(ApiError::store_unavailable(&error)),
            Err(error) => {
                tracing::error!(error = %latchkey_sdk::error_chain(&error), "key rotation failed");
                res.render(ApiError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "rotation_failed",
                    "the key set could not be rotated: see the server log, then retry",
                ));
            }
        }
    }
}
