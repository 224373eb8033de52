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
        ApiError { status: StatusCode::BAD_REQUEST, code: "invalid_parameter", message: message.into(), parameter: Some(parameter.to_string()) }
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
        let body = serde_json::json!({"error": {"code": self.code, "message": self.message, "parameter": self.parameter}});
        (self.status, axum::Json(body)).into_response()
    }
}

pub type ApiResult<T> = Result<T, ApiError>;
