//! The outermost hoop: a request ID on every response and a span around every request.

use std::time::Instant;

use latchkey_sdk::salvo::http::HeaderValue;
use latchkey_sdk::salvo::{Depot, FlowCtrl, Handler, Request, Response, async_trait};
use tracing::Instrument;

/// Response header that carries the request ID.
pub const REQUEST_ID_HEADER: &str = "x-request-id";

/// Depot key under which handlers find the request ID.
pub const REQUEST_ID_KEY: &str = "latchkey.request_id";

/// Gives every request a fresh random ID, sends it back in `x-request-id`, and runs the
/// rest of the request inside a span carrying it, so every event logged while handling
/// the request names it.
#[derive(Debug, Default)]
pub(crate) struct RequestId;

#[async_trait]
impl Handler for RequestId {
    async fn handle(
        &self,
        req: &mut Request,
        depot: &mut Depot,
        res: &mut Response,
        ctrl: &mut FlowCtrl,
    ) {
        let id = uuid::Uuid::new_v4().simple().to_string();
        if let Ok(value) = HeaderValue::from_str(&id) {
            res.headers_mut().insert(REQUEST_ID_HEADER, value);
        }
        depot.insert(REQUEST_ID_KEY, id.clone());

        let span = tracing::info_span!(
            "request",
            request_id = %id,
            method = %req.method(),
            path = %req.uri().path(),
        );
        let started = Instant::now();
        ctrl.call_next(req, depot, res)
            .instrument(span.clone())
            .await;

        let status = res.status_code.map_or(200, |status| status.as_u16());
        span.in_scope(|| {
            tracing::debug!(
                status,
                elapsed_ms = started.elapsed().as_millis(),
                "request finished"
            );
        });
    }
}
