//! The API's routes, one module per resource. Each handler reads its typed query or body,
//! calls one library function and answers; errors become documents in `error.rs`.
//!
//! [`endpoints`] is the one list of the API's endpoints: the router is built from it
//! alone, the OpenAPI document takes each endpoint's error codes from it, and a test
//! checks that the document describes every one of them.

pub(crate) mod export;
pub(crate) mod failure_modes;
pub(crate) mod groups;
pub(crate) mod imports;
pub(crate) mod otlp;
pub(crate) mod schema;
pub(crate) mod search;
pub(crate) mod sql;
pub(crate) mod stats;
pub(crate) mod system;
pub(crate) mod trajectories;

use axum::extract::DefaultBodyLimit;
use axum::handler::Handler;
use axum::http::Method;
use axum::middleware;
use axum::routing::{on, MethodFilter, MethodRouter};
use axum::Router;

use crate::error::{ApiError, Code};
use crate::{auth, error, observe, pages, AppState};

/// One endpoint: its method and path, the error codes its handler can answer with (the
/// token check's `unauthorized` aside), and the handler.
pub struct Endpoint {
    pub method: Method,
    pub path: &'static str,
    pub errors: &'static [Code],
    handler: MethodRouter<AppState>,
}

fn endpoint<H: Handler<T, AppState>, T: 'static>(
    method: Method,
    path: &'static str,
    errors: &'static [Code],
    handler: H,
) -> Endpoint {
    let filter = MethodFilter::try_from(method.clone()).expect("a method axum can route");
    Endpoint { method, path, errors, handler: on(filter, handler) }
}

/// Every endpoint of the API.
pub fn endpoints() -> Vec<Endpoint> {
    use Code::*;
    use Method as M;
    vec![
        endpoint(M::GET, "/api/trajectories", &[InvalidParameter, Storage, Internal], trajectories::list),
        endpoint(
            M::POST,
            "/api/trajectories",
            &[InvalidParameter, BodyTooLarge, Storage, WritesRefused, Internal],
            trajectories::add,
        ),
        endpoint(
            M::GET,
            "/api/trajectories/{id}",
            &[InvalidParameter, InvalidRequest, NotFound, UnreadableRecord, Storage, Internal],
            trajectories::get_one,
        ),
        endpoint(
            M::PATCH,
            "/api/trajectories/{id}",
            &[InvalidParameter, InvalidRequest, NotFound, BodyTooLarge, Storage, WritesRefused, Internal],
            trajectories::patch,
        ),
        endpoint(
            M::DELETE,
            "/api/trajectories/{id}",
            &[InvalidRequest, NotFound, Storage, WritesRefused, Internal],
            trajectories::delete,
        ),
        endpoint(M::GET, "/api/count", &[InvalidParameter, Storage, Internal], trajectories::count),
        endpoint(M::GET, "/api/compare", &[InvalidParameter, Storage, Internal], trajectories::compare),
        endpoint(M::GET, "/api/statistics", &[InvalidParameter, Storage, Internal], stats::statistics),
        endpoint(M::GET, "/api/curves", &[InvalidParameter, Storage, Internal], stats::curves),
        endpoint(M::GET, "/api/tools", &[InvalidParameter, Storage, Internal], stats::tools),
        endpoint(M::POST, "/api/failure-modes", &[InvalidParameter, Conflict], failure_modes::start),
        endpoint(M::GET, "/api/failure-modes", &[Storage, Internal], failure_modes::list),
        endpoint(M::GET, "/api/failure-modes/tasks/{task_id}", &[InvalidRequest, NotFound], failure_modes::task),
        endpoint(
            M::GET,
            "/api/failure-modes/{analysis_id}",
            &[InvalidRequest, NotFound, Storage, Internal],
            failure_modes::get_one,
        ),
        endpoint(M::GET, "/api/groups", &[InvalidParameter, Storage, Internal], groups::list),
        endpoint(
            M::GET,
            "/api/groups/{training_id}/{iteration_id}/{data_id}",
            &[InvalidParameter, NotFound, Storage, Internal],
            groups::get_one,
        ),
        endpoint(M::GET, "/api/diff-runs", &[InvalidParameter, Storage, Internal], groups::diff_runs),
        endpoint(M::GET, "/api/imports", &[], imports::list),
        endpoint(
            M::POST,
            "/api/imports",
            &[InvalidParameter, Forbidden, NotFound, BodyTooLarge, Io, Internal],
            imports::start,
        ),
        endpoint(M::GET, "/api/imports/{task_id}", &[InvalidRequest, NotFound], imports::get_one),
        endpoint(M::GET, "/api/export", &[InvalidParameter, Storage, Internal], export::export),
        endpoint(M::GET, "/api/health", &[Storage, Internal], system::health),
        endpoint(M::GET, "/api/version", &[], system::version),
        endpoint(
            M::GET,
            "/api/trajectories/{id}/similar",
            &[InvalidParameter, InvalidRequest, NotFound, EmbeddingUnavailable, Storage, Internal],
            search::similar_to_id,
        ),
        endpoint(
            M::GET,
            "/api/similar",
            &[InvalidParameter, EmbeddingUnavailable, Storage, Internal],
            search::similar_to_text,
        ),
        endpoint(M::GET, "/api/search", &[InvalidParameter, Storage, Internal], search::search_text),
        endpoint(M::POST, "/api/sql", &[InvalidParameter, BodyTooLarge, LimitExceeded, Storage, Internal], sql::run),
        endpoint(M::GET, "/api/openapi.json", &[], system::openapi),
        endpoint(M::GET, "/api/schema", &[], schema::schema),
        endpoint(M::POST, "/v1/traces", &[InvalidParameter, BodyTooLarge], otlp::traces),
    ]
}

/// Every endpoint, with the token check, JSON error bodies and the request layer.
pub fn router(state: AppState) -> Router {
    let max_body = state.config.max_body_bytes;
    let mut api = Router::new();
    for e in endpoints() {
        api = api.route(e.path, e.handler);
    }
    let api = api
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
