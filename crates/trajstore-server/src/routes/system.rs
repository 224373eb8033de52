//! The server itself: health, version and the OpenAPI document.

use axum::extract::State;
use axum::Json;
use serde::Serialize;
use serde_json::Value;
use trajstore::{CacheStats, Fragments, MemoryIndexInfo};

use crate::error::ApiResult;
use crate::{openapi, AppState};

#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Ok,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct Health {
    pub status: Status,
    pub dataset_version: u64,
    pub cache: CacheStats,
    /// Files of the two tables (many small ones slow reads until `optimize`).
    pub fragments: Fragments,
    /// The in-memory index, when enabled and built.
    pub memory_index: Option<MemoryIndexInfo>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct Version {
    /// The server's version.
    pub trajstore: &'static str,
}

/// Liveness, the dataset version and cache counters.
#[utoipa::path(get, path = "/api/health", tag = "server",
    responses((status = 200, description = "the server is up", body = Health)))]
pub async fn health(State(s): State<AppState>) -> ApiResult<Json<Health>> {
    let dataset_version = s.store.version().await?;
    let fragments = s.store.fragments().await?;
    Ok(Json(Health {
        status: Status::Ok,
        dataset_version,
        cache: s.store.cache_stats(),
        fragments,
        memory_index: s.store.memory_index(),
    }))
}

/// The server's version.
#[utoipa::path(get, path = "/api/version", tag = "server",
    responses((status = 200, description = "the version", body = Version)))]
pub async fn version() -> Json<Version> {
    Json(Version { trajstore: env!("CARGO_PKG_VERSION") })
}

/// This document.
#[utoipa::path(get, path = "/api/openapi.json", tag = "server",
    responses((status = 200, description = "the OpenAPI 3.1 document", body = serde_json::Value)))]
pub async fn openapi() -> Json<&'static Value> {
    Json(openapi::document())
}
