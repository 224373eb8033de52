//! `GET /api/export?format=jsonl|parquet|atif&<filters>`: the whole filtered set, streamed.

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
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

/// A `Write` that hands chunks to the HTTP body. It runs on the export's own thread,
/// inside that thread's runtime, so it parks the thread with `futures`' executor (tokio's
/// `blocking_send` refuses to run inside a runtime); the receiver lives on the server's
/// runtime, so waiting here cannot deadlock.
struct ChannelWriter {
    tx: tokio::sync::mpsc::Sender<std::io::Result<Bytes>>,
    buf: Vec<u8>,
}

impl std::io::Write for ChannelWriter {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        self.buf.extend_from_slice(data);
        if self.buf.len() >= 256 << 10 {
            self.flush()?;
        }
        Ok(data.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let chunk = Bytes::from(std::mem::take(&mut self.buf));
        futures::executor::block_on(self.tx.send(Ok(chunk)))
            .map_err(|_| std::io::Error::new(std::io::ErrorKind::BrokenPipe, "the client went away"))
    }
}

/// Streamed with back-pressure (a channel of a few chunks), so memory stays bounded. A
/// failure after the headers went out can only cut the body short; it is logged here.
#[utoipa::path(get, path = "/api/export", tag = "trajectories", params(ExportQuery, Filters),
    responses((status = 200, description = "every matching trajectory: JSON Lines (native or ATIF) or Parquet",
        content((String = "application/x-ndjson"), (Vec<u8> = "application/vnd.apache.parquet")))))]
pub async fn export(State(s): State<AppState>, Query(q): Query<ExportQuery>) -> ApiResult<Response> {
    let ExportQuery { format, filters } = q;
    let (tx, mut rx) = tokio::sync::mpsc::channel::<std::io::Result<Bytes>>(4);
    let store = s.store.clone();
    std::thread::spawn(move || {
        let rt = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
            Ok(rt) => rt,
            Err(e) => return drop(futures::executor::block_on(tx.send(Err(e)))),
        };
        let writer = ChannelWriter { tx: tx.clone(), buf: Vec::new() };
        if let Err(e) = rt.block_on(store.export_to_writer(&filters, format, writer)) {
            tracing::error!(error = %source_chain(&e).join("; caused by: "), "an export stopped part way");
            let _ = futures::executor::block_on(tx.send(Err(std::io::Error::other(e.to_string()))));
        }
    });
    let stream = futures::stream::poll_fn(move |cx| rx.poll_recv(cx));
    let (content_type, name) = match format {
        ExportFormat::Jsonl => ("application/x-ndjson", "trajectories.jsonl"),
        ExportFormat::Parquet => ("application/vnd.apache.parquet", "trajectories.parquet"),
        ExportFormat::Atif => ("application/x-ndjson", "trajectories.atif.jsonl"),
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
