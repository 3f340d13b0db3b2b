//! Turning a panic in a handler into a 500 instead of a dropped connection.

use std::panic::AssertUnwindSafe;

use futures_util::FutureExt;
use latchkey_sdk::ApiError;
use latchkey_sdk::salvo::{Depot, FlowCtrl, Handler, Request, Response, async_trait};

/// Catches a panic in any inner hoop or handler, logs it, and responds with 500, so that a bug
/// in one plugin neither takes the host down nor leaks the panic message to the client.
#[derive(Debug, Default)]
pub(crate) struct CatchPanic;

#[async_trait]
impl Handler for CatchPanic {
    async fn handle(
        &self,
        req: &mut Request,
        depot: &mut Depot,
        res: &mut Response,
        ctrl: &mut FlowCtrl,
    ) {
        let outcome = AssertUnwindSafe(ctrl.call_next(req, depot, res))
            .catch_unwind()
            .await;
        if let Err(panic) = outcome {
            let message = latchkey_sdk::panic_message(&*panic);
            tracing::error!(panic = %message, "handler panicked");
            res.headers_mut()
                .remove(latchkey_sdk::salvo::http::header::CONTENT_TYPE);
            res.render(ApiError::internal());
            ctrl.skip_rest();
        }
    }
}
