//! Statistics and training curves.

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::Json;
use trajstore::{CurveRequest, StatsRequest};

use crate::error::ApiResult;
use crate::query::Query;
use crate::AppState;

pub async fn statistics(State(s): State<AppState>, Query(req): Query<StatsRequest>) -> ApiResult<Response> {
    Ok(Json(&*s.store.statistics(&req).await?).into_response())
}

pub async fn curves(State(s): State<AppState>, Query(req): Query<CurveRequest>) -> ApiResult<Response> {
    Ok(Json(&*s.store.curve(&req).await?).into_response())
}
