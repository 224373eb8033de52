//! Background imports: of a file on the server (`{"path"}`, below the import roots) or of
//! the file sent as the body; and their status.

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::{Deserialize, Serialize};
use trajstore::{FormatChoice, Input, ReadOptions};
use utoipa::openapi::path::{Parameter, ParameterIn};
use utoipa::openapi::schema::ObjectBuilder;
use utoipa::IntoParams;

use crate::error::{ApiError, ApiResult, Code};
use crate::imports::{ImportTask, Job};
use crate::openapi::{enumeration, query};
use crate::query::{json_body, Params};
use crate::{reply, AppState};

/// The largest `{"path"}` request body read.
const MAX_PATH_REQUEST: usize = 1 << 20;

/// The body of a server-side import.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct ServerFile {
    /// A file or folder below one of the server's import roots (`serve --import-root`).
    #[schema(required = true, nullable = false)]
    path: Option<String>,
    #[schema(schema_with = input_format)]
    format: Option<String>,
    /// Where mini-swe-agent's labels are, below an import root.
    labels: Option<String>,
}

/// `auto` or a format name.
fn input_format() -> ObjectBuilder {
    let names = std::iter::once("auto").chain(trajstore::Format::ALL.iter().map(|f| f.name()));
    enumeration(names).description(Some("the input format; auto (the default) detects it per file"))
}

/// `?format=` of an upload.
struct UploadQuery;

impl IntoParams for UploadQuery {
    fn into_params(_: impl Fn() -> Option<ParameterIn>) -> Vec<Parameter> {
        vec![query("format", false, input_format(), "the input format of an uploaded body")]
    }
}

#[derive(Serialize, utoipa::ToSchema)]
struct Started {
    /// Follow it at `/api/imports/{task_id}`.
    task_id: String,
}

#[derive(Serialize, utoipa::ToSchema)]
struct ImportTasks {
    /// The most recent first.
    data: Vec<ImportTask>,
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

/// Starts a background import: `{"path", "format"?, "labels"?}` (JSON) names a file on
/// the server; any other body is the file itself (any format, gzip or zstd; `?format=`
/// names it), streamed to a temporary file first.
#[utoipa::path(post, path = "/api/imports", tag = "imports", params(UploadQuery),
    request_body(content((ServerFile = "application/json"), (Vec<u8> = "application/octet-stream"))),
    responses((status = 202, description = "the import started", body = Started)))]
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
    Ok(reply::accepted(Started { task_id }))
}

/// The status and progress of an import task.
#[utoipa::path(get, path = "/api/imports/{task_id}", tag = "imports",
    params(("task_id" = String, Path, description = "the task_id from POST /api/imports")),
    responses((status = 200, description = "the task", body = ImportTask)))]
pub async fn get_one(State(s): State<AppState>, Path(task_id): Path<String>) -> ApiResult<Response> {
    let task = s
        .imports
        .get(&task_id)
        .ok_or_else(|| ApiError::new(Code::NotFound, format!("import task {task_id:?} not found")))?;
    Ok(Json(task).into_response())
}

/// The import tasks of this server process (the most recent 100).
#[utoipa::path(get, path = "/api/imports", tag = "imports",
    responses((status = 200, description = "the tasks", body = ImportTasks)))]
pub async fn list(State(s): State<AppState>) -> Response {
    Json(ImportTasks { data: s.imports.list() }).into_response()
}
