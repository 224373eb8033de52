//! The API's errors: one table of codes (each with its HTTP status and a message for when
//! there is none of its own), the one mapping of library errors onto it, and the JSON
//! error document `{"error": {"code", "message", "parameter"}}`. A 5xx never shows its
//! own message: it carries the cause to the request layer (`observe.rs`), which logs it
//! and answers with the code's message and the request id.

use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use trajstore::{Error, PathRefused};

/// Every kind of error the API answers with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Code {
    InvalidParameter,
    InvalidInput,
    /// A malformed request that axum refused before any handler (the status is axum's).
    InvalidRequest,
    Unauthorized,
    Forbidden,
    NotFound,
    Conflict,
    MethodNotAllowed,
    BodyTooLarge,
    UriTooLong,
    UnreadableRecord,
    Internal,
    Storage,
    WritesRefused,
    LimitExceeded,
    Io,
    EmbeddingUnavailable,
    ModelUnavailable,
}

impl Code {
    /// Every code, for the API document.
    pub const ALL: &'static [Code] = &[
        Code::InvalidParameter,
        Code::InvalidInput,
        Code::InvalidRequest,
        Code::Unauthorized,
        Code::Forbidden,
        Code::NotFound,
        Code::Conflict,
        Code::MethodNotAllowed,
        Code::BodyTooLarge,
        Code::UriTooLong,
        Code::UnreadableRecord,
        Code::Internal,
        Code::Storage,
        Code::WritesRefused,
        Code::LimitExceeded,
        Code::Io,
        Code::EmbeddingUnavailable,
        Code::ModelUnavailable,
    ];

    /// The table: code string, status, default message.
    const fn spec(self) -> (&'static str, StatusCode, &'static str) {
        match self {
            Code::InvalidParameter => ("invalid_parameter", StatusCode::BAD_REQUEST, "a parameter is not valid"),
            Code::InvalidInput => ("invalid_input", StatusCode::BAD_REQUEST, "the input could not be read"),
            Code::InvalidRequest => ("invalid_request", StatusCode::BAD_REQUEST, "the request is not valid"),
            Code::Unauthorized => {
                ("unauthorized", StatusCode::UNAUTHORIZED, "this endpoint needs Authorization: Bearer <token>")
            }
            Code::Forbidden => ("forbidden", StatusCode::FORBIDDEN, "not allowed"),
            Code::NotFound => ("not_found", StatusCode::NOT_FOUND, "not found"),
            Code::Conflict => ("conflict", StatusCode::CONFLICT, "another task of this kind is running; wait for it"),
            Code::MethodNotAllowed => {
                ("method_not_allowed", StatusCode::METHOD_NOT_ALLOWED, "this endpoint does not take that method")
            }
            Code::BodyTooLarge => ("body_too_large", StatusCode::PAYLOAD_TOO_LARGE, "the body is too large"),
            Code::UriTooLong => ("uri_too_long", StatusCode::URI_TOO_LONG, "the URI is too long"),
            Code::UnreadableRecord => {
                ("unreadable_record", StatusCode::UNPROCESSABLE_ENTITY, "the record cannot be read as asked")
            }
            Code::Internal => ("internal_error", StatusCode::INTERNAL_SERVER_ERROR, "internal error"),
            Code::Storage => {
                ("storage_error", StatusCode::INTERNAL_SERVER_ERROR, "the store could not be read or written")
            }
            Code::WritesRefused => (
                "writes_refused",
                StatusCode::SERVICE_UNAVAILABLE,
                "this server may not write to its store: the object store does not honour conditional writes \
                 (the server's log says which and what to do)",
            ),
            Code::LimitExceeded => {
                ("limit_exceeded", StatusCode::UNPROCESSABLE_ENTITY, "the query hit one of its limits (time, memory)")
            }
            Code::Io => {
                ("io_error", StatusCode::INTERNAL_SERVER_ERROR, "a file on the server could not be read or written")
            }
            Code::EmbeddingUnavailable => (
                "embedding_unavailable",
                StatusCode::SERVICE_UNAVAILABLE,
                "similarity search is unavailable: the embedding model is missing or failed",
            ),
            Code::ModelUnavailable => {
                ("model_unavailable", StatusCode::BAD_GATEWAY, "the language model's endpoint failed")
            }
        }
    }

    pub const fn as_str(self) -> &'static str {
        self.spec().0
    }

    pub const fn status(self) -> StatusCode {
        self.spec().1
    }

    pub const fn default_message(self) -> &'static str {
        self.spec().2
    }

    /// The code of an error response that axum made itself, by its status.
    fn of_status(status: StatusCode) -> Code {
        match status {
            StatusCode::METHOD_NOT_ALLOWED => Code::MethodNotAllowed,
            StatusCode::NOT_FOUND => Code::NotFound,
            StatusCode::PAYLOAD_TOO_LARGE => Code::BodyTooLarge,
            StatusCode::URI_TOO_LONG => Code::UriTooLong,
            StatusCode::UNAUTHORIZED => Code::Unauthorized,
            s if s.is_server_error() => Code::Internal,
            _ => Code::InvalidRequest,
        }
    }
}

impl serde::Serialize for Code {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl utoipa::PartialSchema for Code {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        utoipa::openapi::ObjectBuilder::new()
            .schema_type(utoipa::openapi::schema::Type::String)
            .enum_values(Some(Code::ALL.iter().map(|c| c.as_str())))
            .description(Some("what went wrong, one of the API's error codes"))
            .into()
    }
}

impl utoipa::ToSchema for Code {
    fn name() -> std::borrow::Cow<'static, str> {
        "ErrorCode".into()
    }
}

/// The error document of every 4xx and 5xx answer.
#[derive(serde::Serialize, utoipa::ToSchema)]
#[schema(as = Error)]
pub struct ErrorDocument<'a> {
    error: ErrorDetail<'a>,
}

#[derive(serde::Serialize, utoipa::ToSchema)]
struct ErrorDetail<'a> {
    code: Code,
    /// For a 5xx, the code's general message (the cause is in the server's log).
    message: &'a str,
    /// The parameter or body field at fault, when there is one.
    parameter: Option<&'a str>,
    /// Given with a 5xx: quote it to find the cause in the server's log.
    #[serde(skip_serializing_if = "Option::is_none")]
    request_id: Option<&'a str>,
}

/// An error on its way to becoming a response.
#[derive(Debug)]
pub struct ApiError {
    code: Code,
    /// Shown to the client, unless the code is a 5xx.
    message: String,
    parameter: Option<String>,
    /// The library error behind a 5xx, whose chain of causes is logged.
    cause: Option<Box<Error>>,
}

impl ApiError {
    pub fn new(code: Code, message: impl Into<String>) -> Self {
        ApiError { code, message: message.into(), parameter: None, cause: None }
    }

    pub fn bad_request(parameter: &str, message: impl Into<String>) -> Self {
        ApiError { parameter: Some(parameter.to_string()), ..ApiError::new(Code::InvalidParameter, message) }
    }

    pub fn code(&self) -> Code {
        self.code
    }
}

impl From<Code> for ApiError {
    fn from(code: Code) -> Self {
        ApiError::new(code, code.default_message())
    }
}

impl From<Error> for ApiError {
    fn from(e: Error) -> Self {
        let code = match &e {
            Error::InvalidParameter { .. } | Error::Refused(PathRefused::NotAFile { .. }) => Code::InvalidParameter,
            Error::Input(_) => Code::InvalidInput,
            Error::NotFound { .. } | Error::Refused(PathRefused::Missing { .. }) => Code::NotFound,
            Error::Refused(PathRefused::Disabled | PathRefused::Outside { .. }) => Code::Forbidden,
            Error::Unreadable(_) => Code::UnreadableRecord,
            Error::Store(trajstore::StoreError::WritesRefused(_)) => Code::WritesRefused,
            Error::Store(_) => Code::Storage,
            Error::Io { .. } => Code::Io,
            Error::LimitExceeded { .. } => Code::LimitExceeded,
            Error::Internal(_) => Code::Internal,
            Error::Embed(_) => Code::EmbeddingUnavailable,
            Error::LabelModel(_) => Code::ModelUnavailable,
        };
        let parameter = e.parameter().map(String::from);
        ApiError { code, message: e.to_string(), parameter, cause: Some(Box::new(e)) }
    }
}

impl From<PathRefused> for ApiError {
    fn from(e: PathRefused) -> Self {
        Error::from(e).into()
    }
}

pub type ApiResult<T> = Result<T, ApiError>;

/// What a 5xx leaves in its response for the request layer to log: its code and the
/// messages of the error and of each of its causes.
#[derive(Debug, Clone)]
pub struct Fault {
    pub code: Code,
    pub chain: Vec<String>,
}

/// The messages of `e` and its causes, leaving out a cause whose text its effect already
/// quotes (most of ours say "{context}: {source}").
pub fn source_chain(e: &dyn std::error::Error) -> Vec<String> {
    let mut chain = vec![e.to_string()];
    let mut next = e.source();
    while let Some(cause) = next {
        let text = cause.to_string();
        if !chain.last().is_some_and(|effect| effect.contains(&text)) {
            chain.push(text);
        }
        next = cause.source();
    }
    chain
}

/// The error document; `request_id` is given for a 5xx.
pub fn error_body(code: Code, message: &str, parameter: Option<&str>, request_id: Option<&str>) -> Response {
    let doc = ErrorDocument { error: ErrorDetail { code, message, parameter, request_id } };
    let mut r = (code.status(), axum::Json(doc)).into_response();
    if code == Code::Unauthorized {
        r.headers_mut().insert(header::WWW_AUTHENTICATE, header::HeaderValue::from_static("Bearer"));
    }
    r
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        if !self.code.status().is_server_error() {
            return error_body(self.code, &self.message, self.parameter.as_deref(), None);
        }
        let chain = match &self.cause {
            Some(e) => source_chain(&**e),
            None => vec![self.message],
        };
        let mut r = error_body(self.code, self.code.default_message(), None, None);
        r.extensions_mut().insert(Fault { code: self.code, chain });
        r
    }
}

/// Errors that axum itself answers (a path that is not valid UTF-8, a method an endpoint
/// does not take, a body over the limit) come as plain text or empty bodies: rewritten
/// here into the API's JSON error document, keeping their status and text.
pub async fn json_error_body(response: Response) -> Response {
    let status = response.status();
    let is_json = response
        .headers()
        .get(header::CONTENT_TYPE)
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
    let mut rewritten = ApiError::new(Code::of_status(status), message).into_response();
    // The status is axum's (a 415 stays a 415 under the general invalid_request code).
    *rewritten.status_mut() = status;
    for name in [header::ALLOW, header::WWW_AUTHENTICATE] {
        if let Some(v) = parts.headers.get(&name) {
            rewritten.headers_mut().insert(name, v.clone());
        }
    }
    rewritten
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_unique_and_statuses_are_errors() {
        let all = Code::ALL;
        let names: std::collections::HashSet<&str> = all.iter().map(|c| c.as_str()).collect();
        assert_eq!(names.len(), all.len());
        assert!(all.iter().all(|c| c.status().is_client_error() || c.status().is_server_error()));
    }

    #[test]
    fn a_server_error_hides_its_message_and_keeps_its_chain() {
        let cause = std::io::Error::other("disk on fire at /secret/path");
        let r = ApiError::from(Error::internal("writing parquet", cause)).into_response();
        assert_eq!(r.status(), StatusCode::INTERNAL_SERVER_ERROR);
        let fault = r.extensions().get::<Fault>().expect("a fault for the log").clone();
        assert_eq!(fault.code, Code::Internal);
        assert_eq!(fault.chain, ["internal error: writing parquet: disk on fire at /secret/path"]);
        let body = futures::executor::block_on(axum::body::to_bytes(r.into_body(), 1 << 16)).unwrap();
        assert!(!String::from_utf8_lossy(&body).contains("secret"));
    }

    #[test]
    fn a_chain_leaves_out_causes_already_quoted() {
        #[derive(Debug, thiserror::Error)]
        #[error("outer")]
        struct Outer(#[source] std::io::Error);
        let e = Outer(std::io::Error::other("inner"));
        assert_eq!(source_chain(&e), ["outer", "inner"]);
    }
}
