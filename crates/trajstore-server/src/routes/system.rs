//! The server itself: health, version and the OpenAPI document.

use axum::extract::State;
use axum::Json;
use serde_json::{json, Value};

use crate::error::ApiResult;
use crate::{openapi, AppState};

pub async fn health(State(s): State<AppState>) -> ApiResult<Json<Value>> {
    let version = s.store.version().await?;
    let fragments = s.store.fragments().await?;
    Ok(Json(json!({
        "status": "ok", "dataset_version": version, "cache": s.store.cache_stats(),
        "fragments": fragments, "memory_index": s.store.memory_index(),
    })))
}

pub async fn version() -> Json<Value> {
    Json(json!({"trajstore": env!("CARGO_PKG_VERSION")}))
}

pub async fn openapi() -> Json<Value> {
    Json(openapi::document())
}
