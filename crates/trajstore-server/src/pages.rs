//! The web UI's routes: the HTML shell for each page path and the embedded assets.
//! The pages themselves are rendered in the browser from the JSON API.

use axum::extract::Path;
use axum::http::{header, HeaderMap};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use axum::Router;

use crate::error::{ApiError, Code};
use crate::reply;

pub fn router<S: Clone + Send + Sync + 'static>() -> Router<S> {
    Router::new()
        .route("/", get(shell))
        .route("/trajectories", get(shell))
        .route("/trajectories/{id}", get(shell))
        .route("/compare", get(shell))
        .route("/statistics", get(shell))
        .route("/training", get(shell))
        .route("/runs", get(shell))
        .route("/sql", get(shell))
        .route("/failure-modes", get(shell))
        .route("/import", get(shell))
        .route("/assets/{*name}", get(asset))
}

async fn shell() -> Response {
    // The shell must never be cached past an upgrade: it names the assets.
    ([(header::CACHE_CONTROL, "no-cache")], Html(trajstore_web::INDEX_HTML)).into_response()
}

/// Assets change only with the binary, so the version and the size make a good ETag.
async fn asset(Path(name): Path<String>, headers: HeaderMap) -> Response {
    let Some(a) = trajstore_web::asset(&name) else {
        return ApiError::new(Code::NotFound, format!("no asset {name:?}")).into_response();
    };
    let etag = format!("\"{}-{}\"", trajstore_web::ASSET_VERSION, a.bytes.len());
    if headers.get(header::IF_NONE_MATCH).and_then(|v| v.to_str().ok()) == Some(etag.as_str()) {
        return reply::not_modified();
    }
    (
        [
            (header::CONTENT_TYPE, a.content_type.to_string()),
            (header::ETAG, etag),
            (header::CACHE_CONTROL, "no-cache".to_string()),
        ],
        a.bytes,
    )
        .into_response()
}
