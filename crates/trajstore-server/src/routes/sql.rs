//! Read-only SQL over the store.

use axum::body::Bytes;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::Json;
use trajstore::{SqlAnswer, SqlRequest};

use crate::error::ApiResult;
use crate::query::json_body;
use crate::AppState;

/// Runs one read-only statement (`SELECT`, `WITH`, `VALUES`) over the tables
/// `trajectories` (the summary columns), `steps` and `tool_calls` (docs/sql.md); anything
/// that writes or reads files is refused.
/// The server's limits (time, memory, rows) apply; `truncated` says the row limit was hit.
#[utoipa::path(post, path = "/api/sql", tag = "sql", request_body = SqlRequest,
    responses((status = 200, description = "the result", body = SqlAnswer)))]
pub async fn run(State(s): State<AppState>, body: Bytes) -> ApiResult<Response> {
    let request: SqlRequest = json_body(&body)?;
    let result = s.store.sql(&request).await?;
    Ok(Json(result.answer()?).into_response())
}
