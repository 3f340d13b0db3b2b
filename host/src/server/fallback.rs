//! JSON bodies for errors that no handler wrote, such as an unknown route.

use latchkey_sdk::ApiError;
use latchkey_sdk::salvo::http::StatusCode;
use latchkey_sdk::salvo::{Depot, FlowCtrl, Handler, Request, Response, async_trait};

/// The catcher goal: renders the JSON error shape for a status without a body.
#[derive(Debug, Default)]
pub(crate) struct JsonErrors;

#[async_trait]
impl Handler for JsonErrors {
    async fn handle(
        &self,
        _req: &mut Request,
        _depot: &mut Depot,
        res: &mut Response,
        _ctrl: &mut FlowCtrl,
    ) {
        let status = res.status_code.unwrap_or(StatusCode::NOT_FOUND);
        res.render(error_for(status));
    }
}

fn error_for(status: StatusCode) -> ApiError {
    match status {
        StatusCode::NOT_FOUND => ApiError::not_found("no route matches this path: check the URL"),
        StatusCode::METHOD_NOT_ALLOWED => ApiError::new(
            status,
            "method_not_allowed",
            "this route does not accept the method: check the API reference",
        ),
        StatusCode::PAYLOAD_TOO_LARGE => ApiError::payload_too_large(),
        status if status.is_client_error() => ApiError::new(
            status,
            "bad_request",
            "the request could not be handled: check the method, headers and body",
        ),
        _ => ApiError::new(
            status,
            "internal_error",
            "the server failed to handle the request: retry later",
        ),
    }
}
