//! The summary columns, their filters, sort and statistics, from the column table.

use axum::Json;
use serde_json::Value;

/// The summary columns as the column table declares them: each column's type, label,
/// filter parameters (with the kind of value each takes), sortability and statistics,
/// and the lists of filter names and sort fields. The web UI reads its columns from here.
#[utoipa::path(get, path = "/api/schema", tag = "server",
    responses((status = 200, description = "`{columns: [{name, type, label, nullable, sortable, filters: [{name, value}], in_list, statistics}], filters: [{name, value}], sort: [name]}`", body = serde_json::Value)))]
pub async fn schema() -> Json<Value> {
    Json(trajstore::schema_document())
}
