//! The success statuses other than 200, so that handlers name what happened rather than a
//! status (error statuses live in the code table of `error.rs`).

use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Serialize;
use trajstore::AddReport;

/// A JSON document that is already text (a stored record).
pub fn json_text(body: String) -> Response {
    ([(header::CONTENT_TYPE, "application/json")], body).into_response()
}

/// A background task was started; `doc` says how to follow it.
pub fn accepted(doc: impl Serialize) -> Response {
    (StatusCode::ACCEPTED, Json(doc)).into_response()
}

/// Done; nothing to say.
pub fn no_content() -> Response {
    StatusCode::NO_CONTENT.into_response()
}

/// The report of adding records: 200 when all were taken; when some were refused, 207
/// for an array (each record has its own outcome, even when every one failed) and 400
/// for a single record.
pub fn added(report: AddReport, array: bool) -> Response {
    let status = if report.failed == 0 {
        StatusCode::OK
    } else if report.all_failed() && !array {
        StatusCode::BAD_REQUEST
    } else {
        StatusCode::MULTI_STATUS
    };
    (status, Json(report)).into_response()
}

/// A not-modified answer to a conditional request.
pub fn not_modified() -> Response {
    StatusCode::NOT_MODIFIED.into_response()
}
