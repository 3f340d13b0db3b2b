//! JSON errors and request bodies, the same for every plugin.

use std::borrow::Cow;
use std::time::Duration;

use salvo::http::{ParseError, StatusCode};
use salvo::writing::Json;
use salvo::{Request, Response, Scribe};
use serde::de::DeserializeOwned;

use crate::capability::StoreError;

/// An error sent to an HTTP client as `{"error": "<sentence>", "code": "<snake_case>"}`.
///
/// The sentence names the field at fault and the fix; it never carries an internal cause,
/// which the code that builds the error logs instead.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    status: StatusCode,
    code: Cow<'static, str>,
    message: String,
}

impl ApiError {
    /// Creates an error with `status`, machine-readable `code` and client `message`.
    #[must_use]
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code: Cow::Borrowed(code),
            message: message.into(),
        }
    }

    /// Creates a 400 Bad Request error.
    #[must_use]
    pub fn bad_request(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code, message)
    }

    /// Creates a 401 Unauthorized error.
    #[must_use]
    pub fn unauthorized(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, code, message)
    }

    /// Creates a 404 Not Found error.
    #[must_use]
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", message)
    }

    /// Creates the 413 Payload Too Large error for a body over the limit.
    #[must_use]
    pub fn payload_too_large() -> Self {
        Self::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
            "request body exceeds the size limit: send a smaller body",
        )
    }

    /// Creates the 413 Payload Too Large error for a body over `limit` bytes.
    #[must_use]
    pub fn payload_too_large_with_limit(limit: usize) -> Self {
        Self::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
            format!("request body exceeds the limit of {limit} bytes: send a smaller body"),
        )
    }

    /// Creates the 503 Service Unavailable error for a store failure, and logs the cause.
    #[must_use]
    pub fn store_unavailable(error: &StoreError) -> Self {
        tracing::error!(error = %crate::error_chain(error), "store operation failed");
        Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "store_unavailable",
            "the server cannot reach its store: retry later",
        )
    }

    /// Creates a 500 Internal Server Error that hides the cause.
    #[must_use]
    pub fn internal() -> Self {
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal_error",
            "the server failed to handle the request: retry later",
        )
    }

    /// Returns the HTTP status.
    #[must_use]
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// Returns the machine-readable code.
    #[must_use]
    pub fn code(&self) -> &str {
        &self.code
    }

    /// Returns the client sentence.
    #[must_use]
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({}): {}", self.status, self.code, self.message)
    }
}

impl std::error::Error for ApiError {}

impl From<StoreError> for ApiError {
    fn from(error: StoreError) -> Self {
        Self::store_unavailable(&error)
    }
}

impl Scribe for ApiError {
    fn render(self, res: &mut Response) {
        res.status_code(self.status);
        res.render(Json(serde_json::json!({
            "error": self.message,
            "code": self.code,
        })));
    }
}

/// Time a client gets to send the whole body once the headers arrived. Without it, a
/// client that declares a body and never finishes it keeps a connection open forever.
pub const BODY_READ_TIMEOUT: Duration = Duration::from_secs(10);

/// Reads the request body as JSON into `T`.
///
/// The body is limited to the server's `server.body_limit`, whatever its content type, and
/// must arrive within [`BODY_READ_TIMEOUT`].
///
/// # Errors
///
/// 413 for a body over the limit, and 408 for a body that did not arrive in time. 400
/// `invalid_body` for a body that is empty, not JSON, or not of the shape of `T`, naming
/// the path of the field at fault.
pub async fn read_json<T: DeserializeOwned>(req: &mut Request) -> Result<T, ApiError> {
    let body = read_body(req, "a JSON object").await?;
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(ApiError::bad_request(
            "invalid_body",
            "request body is empty: send a JSON object",
        ));
    }

    let mut deserializer = serde_json::Deserializer::from_slice(body);
    let value: T = serde_path_to_error::deserialize(&mut deserializer).map_err(|error| {
        let path = error.path().to_string();
        let inner = error.into_inner();
        if inner.is_syntax() || inner.is_eof() {
            invalid_json(&inner)
        } else if path == "." {
            let detail = without_type_names(&inner.to_string());
            ApiError::bad_request("invalid_body", format!("invalid request body: {detail}"))
        } else {
            let detail = without_type_names(&inner.to_string());
            ApiError::bad_request("invalid_body", format!("invalid field {path}: {detail}"))
        }
    })?;
    deserializer.end().map_err(|error| invalid_json(&error))?;
    Ok(value)
}

/// Reads the request body as `application/x-www-form-urlencoded` pairs, the body of the
/// OAuth endpoints (RFC 7009, RFC 7662).
///
/// # Errors
///
/// As [`read_json`]: 413, 408, and 400 `invalid_body` for a body that cannot be read. A
/// body that is not form data yields whatever pairs it parses to.
pub async fn read_form(req: &mut Request) -> Result<Vec<(String, String)>, ApiError> {
    let body = read_body(req, "form data").await?;
    Ok(form_urlencoded::parse(body)
        .map(|(name, value)| (name.into_owned(), value.into_owned()))
        .collect())
}

/// Reads the whole body within [`BODY_READ_TIMEOUT`] and the server's body limit.
/// `expected` names what the body should hold, for the error message.
async fn read_body<'a>(req: &'a mut Request, expected: &str) -> Result<&'a [u8], ApiError> {
    let limit = req.secure_max_size();
    let Ok(read) = tokio::time::timeout(BODY_READ_TIMEOUT, req.payload()).await else {
        return Err(ApiError::new(
            StatusCode::REQUEST_TIMEOUT,
            "request_timeout",
            "request body did not arrive in time: send the whole body at once",
        ));
    };
    match read {
        Ok(body) => Ok(body),
        Err(ParseError::PayloadTooLarge) => Err(ApiError::payload_too_large_with_limit(limit)),
        Err(error) => {
            tracing::debug!(%error, "request body could not be read");
            Err(ApiError::bad_request(
                "invalid_body",
                format!("request body could not be read: send {expected}"),
            ))
        }
    }
}

/// Replaces the Rust type names in a serde message (`expected struct Credential`) with
/// the JSON kind a client should send, so messages do not expose internal names.
fn without_type_names(message: &str) -> String {
    let mut text = message.to_owned();
    for (marker, kind) in [
        ("struct ", "a JSON object"),
        ("enum ", "one of the allowed values"),
    ] {
        while let Some(start) = text.find(&format!("expected {marker}")) {
            let name_start = start + "expected ".len() + marker.len();
            let name_end = text[name_start..]
                .find(|c: char| !(c.is_alphanumeric() || c == '_'))
                .map_or(text.len(), |offset| name_start + offset);
            text.replace_range(start..name_end, &format!("expected {kind}"));
        }
    }
    text
}

fn invalid_json(error: &serde_json::Error) -> ApiError {
    ApiError::bad_request(
        "invalid_body",
        format!("request body is not valid JSON ({error}): send a JSON object"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn type_names_hidden_from_messages() {
        assert_eq!(
            without_type_names(
                "invalid type: string \"x\", expected struct RegisterPublicKeyCredential at line 1"
            ),
            "invalid type: string \"x\", expected a JSON object at line 1"
        );
        assert_eq!(
            without_type_names("expected enum Kind"),
            "expected one of the allowed values"
        );
        assert_eq!(
            without_type_names("missing field `id`"),
            "missing field `id`"
        );
    }

    #[test]
    fn store_error_maps_to_503() {
        let error = StoreError::Unavailable("connection refused".into());
        let api = ApiError::from(error);
        assert_eq!(api.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(api.code(), "store_unavailable");
        assert!(!api.message().contains("refused"));
    }
}
