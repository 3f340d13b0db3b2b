//! Rejections of the hoop, with the status, headers and JSON body of each.

use latchkey_sdk::ApiError;
use latchkey_sdk::salvo::http::StatusCode;
use latchkey_sdk::salvo::http::header::RETRY_AFTER;
use latchkey_sdk::salvo::writing::Json;
use latchkey_sdk::salvo::{Response, Scribe};

/// A request the hoop responds to itself instead of passing it on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Rejection {
    /// The client spent more than a rule's limit in the current window.
    Limited {
        /// The rule's limit per window.
        limit: u32,
        /// The rule's window, in seconds.
        window_seconds: u64,
        /// Seconds until the window ends.
        retry_after: u64,
    },
    /// The store failed and the rule's `on_store_error` is `deny`.
    StoreUnavailable,
}

impl Scribe for Rejection {
    fn render(self, res: &mut Response) {
        match self {
            Self::Limited {
                limit,
                window_seconds,
                retry_after,
            } => {
                res.status_code(StatusCode::TOO_MANY_REQUESTS);
                res.headers_mut().insert(RETRY_AFTER, retry_after.into());
                res.render(Json(serde_json::json!({
                    "error": format!("too many requests: retry after {retry_after} seconds"),
                    "code": "rate_limited",
                    "message": format!(
                        "this client sent more than {limit} requests in {window_seconds} \
                         seconds: wait {retry_after} seconds before retrying"
                    ),
                    "retryAfter": retry_after,
                    "limit": limit,
                    "remaining": 0,
                    "reset": retry_after,
                })));
            }
            // The failure was already logged, rate limited, by the hoop, so this does not
            // use `ApiError::store_unavailable`, which logs every time.
            Self::StoreUnavailable => res.render(ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "store_unavailable",
                "the server cannot reach its store to check the rate limit: retry later",
            )),
        }
    }
}
