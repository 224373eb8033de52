//! Background imports: of a file on the server (`{"path"}`, below the import roots) or of
//! the file sent as the body; and their status.

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use serde_json::json;
use trajstore::{FormatChoice, Input, ReadOptions};

use crate::error::{ApiError, ApiResult, Code};
use crate::imports::Job;
use crate::query::{json_body, Params};
use crate::{reply, AppState};

/// The largest `{"path"}` request body read.
const MAX_PATH_REQUEST: usize = 1 << 20;

/// The body of a server-side import.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ServerFile {
    path: Option<String>,
    format: Option<String>,
    labels: Option<String>,
}

/// The input format: `auto` (the default) or a format name; unknown names are a 400 that
/// lists the known ones.
fn read_format(name: Option<&str>) -> ApiResult<FormatChoice> {
    name.map(FormatChoice::parse)
        .transpose()
        .map(Option::unwrap_or_default)
        .map_err(|e| ApiError::bad_request("format", e.to_string()))
}

/// A JSON request body names a file on the server (the media type is matched without
/// regard to case); any other body is the file itself.
fn names_a_server_file(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.trim_start().to_ascii_lowercase().starts_with("application/json"))
}

async fn server_file(s: &AppState, body: Body) -> ApiResult<Job> {
    let bytes =
        axum::body::to_bytes(body, MAX_PATH_REQUEST).await.map_err(|e| ApiError::bad_request("body", e.to_string()))?;
    let req: ServerFile = json_body(&bytes)?;
    let path = req.path.ok_or_else(|| {
        ApiError::bad_request(
            "path",
            "expected {\"path\": \"/file/on/the/server\"}; to upload a file, send it as the body with another content type",
        )
    })?;
    let roots = &s.config.import_roots;
    let resolved = trajstore::check_import_file(&path, roots)?;
    let mut read = ReadOptions { format: read_format(req.format.as_deref())?, ..Default::default() };
    read.labels_dir = req.labels.map(|labels| trajstore::check_labels_dir(&labels, roots)).transpose()?;
    Ok(Job { input: Input::File(resolved), source: path, keep: None, read })
}

async fn upload(headers: &HeaderMap, query: Option<&str>, body: Body) -> ApiResult<Job> {
    let p = Params::parse(query)?;
    p.only(&["format"])?;
    let read = ReadOptions { format: read_format(p.get("format"))?, ..Default::default() };
    let spooled = trajstore::spool_upload(body.into_data_stream()).await?;
    let name = headers.get("x-filename").and_then(|v| v.to_str().ok()).unwrap_or("upload").to_string();
    Ok(Job { input: Input::File(spooled.path.to_path_buf()), source: name, keep: Some(spooled.path), read })
}

/// `POST /api/imports`: `{"path": ..., "format"?, "labels"?}` (JSON) for a file on the
/// server, or the file itself as the body (any format, gzip or zstd; `?format=` names it),
/// streamed to a temporary file first.
pub async fn start(
    State(s): State<AppState>,
    headers: HeaderMap,
    uri: axum::http::Uri,
    body: Body,
) -> ApiResult<Response> {
    let job = if names_a_server_file(&headers) {
        server_file(&s, body).await?
    } else {
        upload(&headers, uri.query(), body).await?
    };
    let task_id = s.imports.start(s.store.clone(), job).await;
    Ok(reply::accepted(json!({"task_id": task_id})))
}

pub async fn get_one(State(s): State<AppState>, Path(task_id): Path<String>) -> ApiResult<Response> {
    let task = s
        .imports
        .get(&task_id)
        .ok_or_else(|| ApiError::new(Code::NotFound, format!("import task {task_id:?} not found")))?;
    Ok(Json(task).into_response())
}

pub async fn list(State(s): State<AppState>) -> Response {
    Json(json!({"data": s.imports.list()})).into_response()
}
