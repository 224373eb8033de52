//! The one mapping of library errors to HTTP statuses and the JSON error body
//! `{"error": {"code", "message", "parameter"}}`.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use trajstore::Error;

pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
    pub parameter: Option<String>,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        ApiError { status, code, message: message.into(), parameter: None }
    }

    pub fn bad_request(parameter: &str, message: impl Into<String>) -> Self {
        ApiError {
            status: StatusCode::BAD_REQUEST,
            code: "invalid_parameter",
            message: message.into(),
            parameter: Some(parameter.to_string()),
        }
    }
}

impl From<Error> for ApiError {
    fn from(e: Error) -> Self {
        let status = match &e {
            Error::InvalidParameter { .. } | Error::Input(_) => StatusCode::BAD_REQUEST,
            Error::NotFound { .. } => StatusCode::NOT_FOUND,
            Error::Store(_) | Error::Io { .. } | Error::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
            Error::Embed(_) => StatusCode::SERVICE_UNAVAILABLE,
        };
        ApiError { status, code: e.code(), message: e.to_string(), parameter: e.parameter().map(String::from) }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body =
            serde_json::json!({"error": {"code": self.code, "message": self.message, "parameter": self.parameter}});
        (self.status, axum::Json(body)).into_response()
    }
}

pub type ApiResult<T> = Result<T, ApiError>;

/// Errors that axum itself answers (a path that is not valid UTF-8, a method an endpoint
/// does not take, a body over the limit) come as plain text or empty bodies: rewritten
/// here into the API's JSON error document, keeping their status and text.
pub async fn json_error_body(response: Response) -> Response {
    let status = response.status();
    let is_json = response
        .headers()
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if !(status.is_client_error() || status.is_server_error()) || is_json {
        return response;
    }
    let (parts, body) = response.into_parts();
    let text = axum::body::to_bytes(body, 64 << 10)
        .await
        .map(|b| String::from_utf8_lossy(&b).trim().to_string())
        .unwrap_or_default();
    let message = if text.is_empty() { status.canonical_reason().unwrap_or("error").to_string() } else { text };
    let code = match status {
        StatusCode::METHOD_NOT_ALLOWED => "method_not_allowed",
        StatusCode::NOT_FOUND => "not_found",
        StatusCode::PAYLOAD_TOO_LARGE => "body_too_large",
        StatusCode::URI_TOO_LONG => "uri_too_long",
        s if s.is_server_error() => "internal_error",
        _ => "invalid_request",
    };
    let mut rewritten = ApiError::new(status, code, message).into_response();
    for name in [axum::http::header::ALLOW, axum::http::header::WWW_AUTHENTICATE] {
        if let Some(v) = parts.headers.get(&name) {
            rewritten.headers_mut().insert(name, v.clone());
        }
    }
    rewritten
}
