//! The route `GET /.well-known/jwks.json`.

use std::time::Duration;

use latchkey_sdk::salvo::http::HeaderValue;
use latchkey_sdk::salvo::http::header::{CACHE_CONTROL, CONTENT_TYPE, InvalidHeaderValue};
use latchkey_sdk::salvo::hyper::body::Bytes;
use latchkey_sdk::salvo::{Depot, FlowCtrl, Handler, Request, Response, Router, async_trait};

use crate::keys::KeySet;

/// Path of the JWKS route, below the server root.
pub(crate) const JWKS_PATH: &str = ".well-known/jwks.json";

/// Serves the JWKS document, serialized once when the key set was loaded.
pub(crate) struct JwksHandler {
    body: Bytes,
    cache_control: HeaderValue,
}

impl JwksHandler {
    /// Creates the handler for `keys`, cacheable by clients for `max_age`.
    pub(crate) fn new(keys: &KeySet, max_age: Duration) -> Result<Self, InvalidHeaderValue> {
        let cache_control = format!("public, max-age={}", max_age.as_secs());
        Ok(Self {
            body: Bytes::from(keys.jwks_json()),
            cache_control: HeaderValue::from_str(&cache_control)?,
        })
    }

    /// Returns the router that serves this handler at [`JWKS_PATH`].
    pub(crate) fn into_router(self) -> Router {
        Router::with_path(JWKS_PATH).get(self)
    }
}

#[async_trait]
impl Handler for JwksHandler {
    async fn handle(&self, _: &mut Request, _: &mut Depot, res: &mut Response, _: &mut FlowCtrl) {
        let headers = res.headers_mut();
        headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        headers.insert(CACHE_CONTROL, self.cache_control.clone());
        res.body(self.body.clone());
    }
}

#[cfg(test)]
mod tests {
    use latchkey_sdk::salvo::http::ResBody;
    use serde_json::Value;

    use super::*;
    use crate::testing::key_set;

    #[tokio::test]
    async fn jwks_served_with_cache_headers() {
        let handler = JwksHandler::new(key_set(), Duration::from_secs(300)).unwrap();
        let mut res = Response::new();
        handler
            .handle(
                &mut Request::new(),
                &mut Depot::new(),
                &mut res,
                &mut FlowCtrl::new(Vec::new()),
            )
            .await;

        assert_eq!(res.headers()[CONTENT_TYPE], "application/json");
        assert_eq!(res.headers()[CACHE_CONTROL], "public, max-age=300");
        let ResBody::Once(body) = res.take_body() else {
            panic!("expected a body held in memory");
        };
        let document: Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(document["keys"][0]["kid"], key_set().signing_key().kid());
        assert_eq!(&body[..], &key_set().jwks_json()[..]);
    }
}
