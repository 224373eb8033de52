//! The API's routes, one module per resource. Each handler reads its typed query or body,
//! calls one library function and answers; errors become documents in `error.rs`.

mod export;
mod imports;
mod schema;
mod search;
mod stats;
mod system;
mod trajectories;

use axum::extract::DefaultBodyLimit;
use axum::middleware;
use axum::routing::get;
use axum::Router;

use crate::error::{ApiError, Code};
use crate::{auth, error, observe, pages, AppState};

/// Every endpoint, with the token check, JSON error bodies and the request layer.
pub fn router(state: AppState) -> Router {
    let max_body = state.config.max_body_bytes;
    let api = Router::new()
        .route("/api/trajectories", get(trajectories::list).post(trajectories::add))
        .route(
            "/api/trajectories/{id}",
            get(trajectories::get_one).patch(trajectories::patch).delete(trajectories::delete),
        )
        .route("/api/compare", get(trajectories::compare))
        .route("/api/statistics", get(stats::statistics))
        .route("/api/curves", get(stats::curves))
        .route("/api/imports", get(imports::list).post(imports::start))
        .route("/api/imports/{task_id}", get(imports::get_one))
        .route("/api/export", get(export::export))
        .route("/api/health", get(system::health))
        .route("/api/version", get(system::version))
        .route("/api/trajectories/{id}/similar", get(search::similar_to_id))
        .route("/api/similar", get(search::similar_to_text))
        .route("/api/search", get(search::search_text))
        .route("/api/openapi.json", get(system::openapi))
        .route("/api/schema", get(schema::schema))
        .fallback(|| async { ApiError::new(Code::NotFound, "no such endpoint; see /api/openapi.json") })
        .layer(middleware::from_fn_with_state(state.clone(), auth::require_token))
        .layer(DefaultBodyLimit::max(max_body));
    // The UI's pages and assets hold no data, so they need no token; the pages ask for one
    // when the API answers 401.
    api.merge(pages::router())
        .layer(middleware::map_response(error::json_error_body))
        .layer(middleware::from_fn(observe::request_context))
        .with_state(state)
}
