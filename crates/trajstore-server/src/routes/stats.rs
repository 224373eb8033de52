//! Statistics and training curves.

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::Json;
use trajstore::{CurveRequest, StatsRequest};

use crate::error::ApiResult;
use crate::openapi::{CurveParams, Curves, Filters, Statistics, StatsParams};
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
