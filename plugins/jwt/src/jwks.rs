//! The route `GET /.well-known/jwks.json`.

use std::sync::Arc;
use std::time::Duration;

use latchkey_sdk::salvo::http::header::{
    CACHE_CONTROL, CONTENT_TYPE, ETAG, IF_NONE_MATCH, InvalidHeaderValue,
};
use latchkey_sdk::salvo::http::{HeaderValue, StatusCode};
use latchkey_sdk::salvo::{Depot, FlowCtrl, Handler, Request, Response, Router, async_trait};

use crate::ring::KeyRing;

/// Path of the JWKS route, below the server root.
pub(crate) const JWKS_PATH: &str = ".well-known/jwks.json";

/// Serves the JWKS document of the current snapshot, serialized once per key set change,
/// with an `ETag`: a matching `If-None-Match` gets 304.
#[derive(Clone)]
pub(crate) struct JwksHandler {
    ring: Arc<KeyRing>,
    cache_control: HeaderValue,
}

impl JwksHandler {
    /// Creates the handler for the keys of `ring`, cacheable by clients for `max_age`.
    pub(crate) fn new(ring: Arc<KeyRing>, max_age: Duration) -> Result<Self, InvalidHeaderValue> {
        let cache_control = format!("public, max-age={}", max_age.as_secs());
        Ok(Self {
            ring,
            cache_control: HeaderValue::from_str(&cache_control)?,
        })
    }

    /// Returns the router that serves this handler at [`JWKS_PATH`], for GET and HEAD.
    pub(crate) fn into_router(self) -> Router {
        Router::with_path(JWKS_PATH).get(self.clone()).head(self)
    }
}

/// Returns whether an `If-None-Match` value names `etag`, weakly compared as RFC 9110
/// section 13.1.2 requires for GET.
fn matches_etag(if_none_match: &str, etag: &str) -> bool {
    if_none_match.trim() == "*"
        || if_none_match
            .split(',')
            .map(|candidate| candidate.trim().trim_start_matches("W/"))
            .any(|candidate| candidate == etag)
}

#[async_trait]
impl Handler for JwksHandler {
    async fn handle(&self, req: &mut Request, _: &mut Depot, res: &mut Response, _: &mut FlowCtrl) {
        let snapshot = self.ring.snapshot();
        let headers = res.headers_mut();
        headers.insert(CACHE_CONTROL, self.cache_control.clone());
        if let Ok(etag) = HeaderValue::from_str(&snapshot.etag) {
            headers.insert(ETAG, etag);
        }
        let not_modified = req
            .headers()
            .get_all(IF_NONE_MATCH)
            .iter()
            .filter_map(|value| value.to_str().ok())
            .any(|value| matches_etag(value, &snapshot.etag));
        if not_modified {
            res.status_code(StatusCode::NOT_MODIFIED);
            return;
        }
        res.headers_mut()
            .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        res.body(snapshot.jwks.clone());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn if_none_match_forms_matched() {
        let etag = "\"abc\"";
        assert!(matches_etag("\"abc\"", etag));
        assert!(matches_etag("W/\"abc\"", etag));
        assert!(matches_etag("\"x\", \"abc\"", etag));
        assert!(matches_etag(" * ", etag));
        assert!(!matches_etag("\"abd\"", etag));
        assert!(!matches_etag("abc", etag));
        assert!(!matches_etag("", etag));
    }
}
