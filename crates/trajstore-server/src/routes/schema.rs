//! The summary columns, their filters, sort and statistics, from the column table.

use axum::Json;
use serde_json::Value;

pub async fn schema() -> Json<Value> {
    Json(trajstore::schema_document())
}
