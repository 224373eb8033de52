//! `GET /api/export?format=jsonl|parquet|atif|arrow|arrow-summary&<filters>`: the whole filtered set, streamed.

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use futures::TryStreamExt;
use trajstore::{ExportFormat, FilterSet};

use utoipa::openapi::path::{Parameter, ParameterIn};
use utoipa::IntoParams;

use crate::error::{source_chain, ApiResult};
use crate::openapi::{enumeration, query, Filters};
use crate::query::{FromParams, Params, Query};
use crate::AppState;

/// `?format=...&<filters>`.
pub struct ExportQuery {
    format: ExportFormat,
    filters: FilterSet,
}

impl FromParams for ExportQuery {
    fn from_params(p: Params) -> ApiResult<Self> {
        let mut format = ExportFormat::Jsonl;
        let mut filters = Vec::new();
        for (k, v) in p.iter() {
            match k {
                "format" => format = ExportFormat::parse(v)?,
                _ => filters.push((k, v)),
            }
        }
        let filters = FilterSet::parse(filters).map_err(trajstore::Error::from)?;
        Ok(ExportQuery { format, filters })
    }
}

impl IntoParams for ExportQuery {
    fn into_params(_: impl Fn() -> Option<ParameterIn>) -> Vec<Parameter> {
        let formats = enumeration(ExportFormat::ALL.iter().map(|f| f.name()));
        vec![query("format", false, formats, "the output format (default jsonl)")]
    }
}

/// Streamed on the server's runtime from the store's stream of encoded chunks (each
/// encoded on the blocking pool): hyper pulls the next chunk only when the last one is
/// written, so memory stays bounded. A failure after the headers went out can only cut
/// the body short; it is logged here.
#[utoipa::path(get, path = "/api/export", tag = "trajectories", params(ExportQuery, Filters),
    responses((status = 200, description = "every matching trajectory: JSON Lines (native or ATIF), Parquet or an Arrow IPC stream",
        content((String = "application/x-ndjson"), (Vec<u8> = "application/vnd.apache.parquet"),
            (Vec<u8> = "application/vnd.apache.arrow.stream")))))]
pub async fn export(State(s): State<AppState>, Query(q): Query<ExportQuery>) -> ApiResult<Response> {
    let ExportQuery { format, filters } = q;
    let stream = s
        .store
        .export_stream(&filters, format)
        .try_filter(|chunk| std::future::ready(!chunk.bytes.is_empty()))
        .map_ok(|chunk| Bytes::from(chunk.bytes))
        .inspect_err(|e| tracing::error!(error = %source_chain(e).join("; caused by: "), "an export stopped part way"));
    let (content_type, name) = match format {
        ExportFormat::Jsonl => ("application/x-ndjson", "trajectories.jsonl"),
        ExportFormat::Parquet => ("application/vnd.apache.parquet", "trajectories.parquet"),
        ExportFormat::Atif => ("application/x-ndjson", "trajectories.atif.jsonl"),
        ExportFormat::Arrow => (trajstore::ARROW_STREAM, "trajectories.arrows"),
        ExportFormat::ArrowSummary => (trajstore::ARROW_STREAM, "summaries.arrows"),
    };
    Ok((
        [
            (header::CONTENT_TYPE, content_type.to_string()),
            (header::CONTENT_DISPOSITION, format!("attachment; filename=\"{name}\"")),
        ],
        Body::from_stream(stream),
    )
        .into_response())
}
