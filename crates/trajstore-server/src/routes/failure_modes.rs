//! Failure modes: start an analysis, follow it, read the stored runs.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use trajstore::{FailureModes, FailureModesRequest};

use crate::analyses::AnalysisTask;
use crate::error::{ApiError, ApiResult, Code};
use crate::openapi::{FailureModeParams, Filters};
use crate::query::Query;
use crate::AppState;

/// The task started.
#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct Started {
    pub task_id: String,
}

/// The stored runs, newest first.
#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct Runs {
    pub data: Vec<FailureModes>,
    /// The language model that labels clusters when a run asks for `llm_labels=true`
    /// (the server's `--llm-model`), or null when the server has none.
    pub label_model: Option<String>,
}

/// Starts clustering the matching trajectories (by default the failed ones) by what went
/// wrong; follow it at `/api/failure-modes/tasks/{task_id}`.
#[utoipa::path(post, path = "/api/failure-modes", tag = "analysis", params(FailureModeParams, Filters),
    responses((status = 202, description = "the analysis started", body = Started)))]
pub async fn start(State(s): State<AppState>, Query(req): Query<FailureModesRequest>) -> ApiResult<Response> {
    s.store.check_failure_modes(&req)?;
    let task_id = s.analyses.start(s.store.clone(), req).ok_or_else(|| {
        ApiError::new(Code::Conflict, "an analysis is running: follow it at GET /api/failure-modes/tasks/{task_id}")
    })?;
    Ok((StatusCode::ACCEPTED, Json(Started { task_id })).into_response())
}

/// An analysis task: its stage, progress, and result or error.
#[utoipa::path(get, path = "/api/failure-modes/tasks/{task_id}", tag = "analysis",
    params(("task_id" = String, Path, description = "the id POST /api/failure-modes answered")),
    responses((status = 200, description = "the task", body = AnalysisTask)))]
pub async fn task(State(s): State<AppState>, Path(id): Path<String>) -> ApiResult<Response> {
    let task = s.analyses.get(&id).ok_or_else(|| ApiError::new(Code::NotFound, format!("no analysis task {id:?}")))?;
    Ok(Json(task).into_response())
}

/// The stored runs of the analysis, newest first.
#[utoipa::path(get, path = "/api/failure-modes", tag = "analysis",
    responses((status = 200, description = "the runs", body = Runs)))]
pub async fn list(State(s): State<AppState>) -> ApiResult<Response> {
    let label_model = s.store.label_model().map(|m| m.model().to_string());
    Ok(Json(Runs { data: s.store.failure_mode_runs(None).await?, label_model }).into_response())
}

/// One stored run.
#[utoipa::path(get, path = "/api/failure-modes/{analysis_id}", tag = "analysis",
    params(("analysis_id" = String, Path, description = "the run's id")),
    responses((status = 200, description = "the run", body = FailureModes)))]
pub async fn get_one(State(s): State<AppState>, Path(id): Path<String>) -> ApiResult<Response> {
    let mut runs = s.store.failure_mode_runs(Some(&id)).await?;
    match runs.pop() {
        Some(run) => Ok(Json(run).into_response()),
        None => Err(ApiError::new(Code::NotFound, format!("no failure-mode run {id:?}"))),
    }
}
