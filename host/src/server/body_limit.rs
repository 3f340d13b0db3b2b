//! The request body size limit.

use latchkey_sdk::ApiError;
use latchkey_sdk::salvo::http::header::CONTENT_LENGTH;
use latchkey_sdk::salvo::{Depot, FlowCtrl, Handler, Request, Response, async_trait};

/// Rejects a body whose declared length is over the limit with 413 before reading it, and
/// caps every other body so that reading past the limit fails with 413 too.
#[derive(Debug)]
pub(crate) struct BodyLimit {
    max_bytes: u64,
}

impl BodyLimit {
    pub(crate) fn new(max_bytes: u64) -> Self {
        Self { max_bytes }
    }
}

#[async_trait]
impl Handler for BodyLimit {
    async fn handle(
        &self,
        req: &mut Request,
        depot: &mut Depot,
        res: &mut Response,
        ctrl: &mut FlowCtrl,
    ) {
        let declared = req
            .headers()
            .get(CONTENT_LENGTH)
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.trim().parse::<u64>().ok());
        if declared.is_some_and(|length| length > self.max_bytes) {
            let limit = usize::try_from(self.max_bytes).unwrap_or(usize::MAX);
            res.render(ApiError::payload_too_large_with_limit(limit));
            ctrl.skip_rest();
            return;
        }
        req.limit_body(usize::try_from(self.max_bytes).unwrap_or(usize::MAX));
        ctrl.call_next(req, depot, res).await;
    }
}
