//! Statistics and training curves.

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::Json;
use trajstore::{CurveRequest, StatsRequest, ToolReport, ToolsRequest};

use crate::error::ApiResult;
use crate::openapi::{CurveParams, Curves, Filters, Statistics, StatsParams, ToolsParams};
use crate::query::Query;
use crate::AppState;

/// Success rate, pass@k, pass^k and aggregates, overall and per group.
#[utoipa::path(get, path = "/api/statistics", tag = "statistics", params(StatsParams, Filters),
    responses((status = 200, description = "the statistics", body = Statistics)))]
pub async fn statistics(State(s): State<AppState>, Query(req): Query<StatsRequest>) -> ApiResult<Response> {
    Ok(Json(&*s.store.statistics(&req).await?).into_response())
}

/// The points of training curves: statistics per (series, x).
#[utoipa::path(get, path = "/api/curves", tag = "statistics", params(CurveParams, Filters),
    responses((status = 200, description = "the points", body = Curves)))]
pub async fn curves(State(s): State<AppState>, Query(req): Query<CurveRequest>) -> ApiResult<Response> {
    Ok(Json(&*s.store.curve(&req).await?).into_response())
}

/// Per tool over the filtered set: calls, the share of trajectories that use it, its
/// error rate, and its share in successful and in failed trajectories.
#[utoipa::path(get, path = "/api/tools", tag = "statistics", params(ToolsParams, Filters),
    responses((status = 200, description = "the tools, the most called first", body = ToolReport)))]
pub async fn tools(State(s): State<AppState>, Query(req): Query<ToolsRequest>) -> ApiResult<Response> {
    Ok(Json(s.store.tool_usage(&req).await?).into_response())
}
