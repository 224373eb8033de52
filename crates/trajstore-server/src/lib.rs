//! The trajstore HTTP service: the JSON API over the library, and the web UI.
//! Handlers only translate HTTP to library calls and back; errors map in `error.rs`.

mod error;
mod imports;
mod openapi;
mod pages;
mod search;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use axum::body::{Body, Bytes};
use axum::extract::{DefaultBodyLimit, Path, RawQuery, Request, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use futures::StreamExt;
use serde_json::{json, Value};
use trajstore::{
    CurveRequest, ExportFormat, FilterSet, ImportErrorEntry, Input, ListRequest, Patch, StatsRequest, Trajectory,
    Trajstore,
};

pub use error::ApiError;
use error::ApiResult;
use imports::{check_import_path, Imports};

#[derive(Debug, Clone)]
pub struct ServerConfig {
    pub token: Option<String>,
    /// Require the token for reads too.
    pub token_reads: bool,
    /// Directories below which `POST /api/imports {"path"}` may read (canonical).
    pub import_roots: Vec<PathBuf>,
    pub max_body_bytes: usize,
    /// Fill missing embeddings in the background (`serve --embed`).
    pub embed_in_background: bool,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            token: None,
            token_reads: false,
            import_roots: Vec::new(),
            max_body_bytes: 1 << 30,
            embed_in_background: false,
        }
    }
}

#[derive(Clone)]
struct AppState {
    store: Trajstore,
    config: Arc<ServerConfig>,
    imports: Imports,
}

/// The query string as (name, value) pairs, decoded. A name or value whose bytes are not
/// UTF-8 is an error naming it (decoding lossily would have turned them into U+FFFD and
/// matched something else); a U+FFFD sent as its own UTF-8 bytes is kept as it is.
fn pairs(raw: &Option<String>) -> ApiResult<Vec<(String, String)>> {
    let Some(q) = raw.as_deref() else { return Ok(Vec::new()) };
    // What form_urlencoded::parse does, without its lossy step: '+' is a space, then
    // percent-decoding to bytes, then a strict UTF-8 check.
    let decode = |part: &str| {
        let bytes: Vec<u8> = percent_encoding::percent_decode(part.replace('+', " ").as_bytes()).collect();
        String::from_utf8(bytes).ok()
    };
    let mut out = Vec::new();
    for pair in q.split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        let Some(name) = decode(k) else {
            return Err(ApiError::bad_request("query", "a parameter name is not valid UTF-8 once percent-decoded"));
        };
        let Some(value) = decode(v) else {
            return Err(ApiError::bad_request(&name, "not valid UTF-8 once percent-decoded"));
        };
        out.push((name, value));
    }
    Ok(out)
}

/// Checks that `p` holds only parameters named in `known`, each at most once (a second
/// value would otherwise be silently ignored or silently win).
fn only_known(p: &[(String, String)], known: &[&str]) -> ApiResult<()> {
    for (i, (k, _)) in p.iter().enumerate() {
        if !known.contains(&k.as_str()) {
            let expected = if known.is_empty() { "none".to_string() } else { known.join(", ") };
            return Err(ApiError::bad_request(k, format!("unknown parameter; this endpoint takes: {expected}")));
        }
        if p[..i].iter().any(|(earlier, _)| earlier == k) {
            return Err(ApiError::bad_request(k, "given more than once"));
        }
    }
    Ok(())
}

fn as_refs(p: &[(String, String)]) -> impl Iterator<Item = (&str, &str)> {
    p.iter().map(|(k, v)| (k.as_str(), v.as_str()))
}

/// Compares in time that depends only on the lengths, not on where the bytes differ.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    let mut diff = (a.len() ^ b.len()) as u8 | ((a.len() ^ b.len()) >> 8) as u8;
    for i in 0..a.len().max(b.len()) {
        diff |= a.get(i).copied().unwrap_or(0) ^ b.get(i).copied().unwrap_or(0);
    }
    diff == 0
}

async fn auth(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let Some(token) = &state.config.token else { return next.run(request).await };
    let write =
        !matches!(*request.method(), axum::http::Method::GET | axum::http::Method::HEAD | axum::http::Method::OPTIONS);
    let public = matches!(request.uri().path(), "/api/health" | "/api/version" | "/api/openapi.json");
    if !write && (public || !state.config.token_reads) {
        return next.run(request).await;
    }
    let given = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or("");
    if constant_time_eq(given.as_bytes(), token.as_bytes()) {
        next.run(request).await
    } else {
        let mut r = ApiError::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "this endpoint needs Authorization: Bearer <token>",
        )
        .into_response();
        r.headers_mut().insert(header::WWW_AUTHENTICATE, "Bearer".parse().expect("a valid header"));
        r
    }
}

/// The router with every endpoint; `serve` binds it.
pub fn router(store: Trajstore, config: ServerConfig) -> (Router, Imports) {
    let imports = Imports::default();
    let max_body = config.max_body_bytes;
    let state = AppState { store, config: Arc::new(config), imports: imports.clone() };
    let api = Router::new()
        .route("/api/trajectories", get(list).post(add))
        .route("/api/trajectories/{id}", get(get_one).patch(patch).delete(delete))
        .route("/api/compare", get(compare))
        .route("/api/statistics", get(statistics))
        .route("/api/curves", get(curves))
        .route("/api/imports", get(list_imports).post(start_import))
        .route("/api/imports/{task_id}", get(get_import))
        .route("/api/export", get(export))
        .route("/api/health", get(health))
        .route("/api/version", get(version))
        .route("/api/trajectories/{id}/similar", get(search::similar_to_id))
        .route("/api/similar", get(search::similar_to_text))
        .route("/api/search", get(search::search_text))
        .route("/api/openapi.json", get(|| async { Json(openapi::document()) }))
        .fallback(|| async {
            ApiError::new(StatusCode::NOT_FOUND, "not_found", "no such endpoint; see /api/openapi.json")
        })
        .layer(middleware::from_fn_with_state(state.clone(), auth))
        .layer(middleware::map_response(error::json_error_body))
        .layer(DefaultBodyLimit::max(max_body))
        // The UI's pages and assets hold no data, so they need no token; the pages ask
        // for one when the API answers 401.
        .merge(pages::router())
        .with_state(state);
    (api, imports)
}

async fn list(State(s): State<AppState>, RawQuery(q): RawQuery) -> ApiResult<Response> {
    let p = pairs(&q)?;
    let req = ListRequest::parse(as_refs(&p)).map_err(trajstore::Error::from)?;
    let page = s.store.list(&req).await?;
    Ok(Json(&*page).into_response())
}

/// `?steps=FROM:TO` (0-based, TO exclusive; either side may be left out).
fn slice_steps(record: &str, range: &str) -> ApiResult<String> {
    let bad = || ApiError::bad_request("steps", format!("expected FROM:TO with integers, got {range:?}"));
    let (from, to) = range.split_once(':').ok_or_else(bad)?;
    let from: usize = if from.is_empty() { 0 } else { from.parse().map_err(|_| bad())? };
    let to: Option<usize> = if to.is_empty() { None } else { Some(to.parse().map_err(|_| bad())?) };
    // Steps are stored as their text, which may hold a number beyond f64 (1e400).
    let mut value: Value = serde_json::from_str(record).map_err(|e| {
        ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "unreadable_record", format!("the record's JSON does not read back as values ({e}), so its steps cannot be sliced; ask without ?steps"))
    })?;
    let total = value["steps"].as_array().map_or(0, Vec::len);
    let to = to.unwrap_or(total).min(total);
    let part: Vec<Value> = value["steps"].as_array().map(|s| s[from.min(to)..to].to_vec()).unwrap_or_default();
    value["steps"] = Value::Array(part);
    value["steps_range"] = json!({"from": from.min(to), "to": to, "total": total});
    Ok(value.to_string())
}

async fn get_one(State(s): State<AppState>, Path(id): Path<String>, RawQuery(q): RawQuery) -> ApiResult<Response> {
    let p = pairs(&q)?;
    only_known(&p, &["steps"])?;
    let record = s.store.get(&id).await?.to_json();
    let body = match p.iter().find(|(k, _)| k == "steps") {
        Some((_, range)) => slice_steps(&record, range)?,
        None => record,
    };
    Ok(([(header::CONTENT_TYPE, "application/json")], body).into_response())
}

/// Most trajectories one comparison loads (each may be megabytes).
const MAX_COMPARE: usize = 10;

/// `GET /api/compare?ids=a,b,c`: the whole records, in the order asked, for the compare
/// page; ids not found are listed under `missing`.
async fn compare(State(s): State<AppState>, RawQuery(q): RawQuery) -> ApiResult<Response> {
    let p = pairs(&q)?;
    let mut ids: Vec<String> = Vec::new();
    for (k, v) in &p {
        match k.as_str() {
            "ids" => ids.extend(v.split(',').map(str::trim).filter(|s| !s.is_empty()).map(String::from)),
            other => return Err(ApiError::bad_request(other, "unknown parameter; expected ids=ID,ID,...")),
        }
    }
    if ids.is_empty() || ids.len() > MAX_COMPARE {
        return Err(ApiError::bad_request(
            "ids",
            format!("expected 1 to {MAX_COMPARE} comma-separated trajectory ids, got {}", ids.len()),
        ));
    }
    let mut data = Vec::with_capacity(ids.len());
    let mut missing = Vec::new();
    for id in ids {
        match s.store.get(&id).await {
            Ok(t) => data.push(
                serde_json::value::RawValue::from_string(t.to_json())
                    .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal_error", e.to_string()))?,
            ),
            Err(trajstore::Error::NotFound { .. }) => missing.push(id),
            Err(e) => return Err(e.into()),
        }
    }
    Ok(Json(json!({"data": data, "missing": missing})).into_response())
}

/// `POST /api/trajectories`: one object or an array; errors name the index and field.
async fn add(State(s): State<AppState>, body: Bytes) -> ApiResult<Response> {
    let value: Value =
        serde_json::from_slice(&body).map_err(|e| ApiError::bad_request("body", format!("invalid JSON: {e}")))?;
    let items: Vec<Value> = match value {
        Value::Array(items) => items,
        obj @ Value::Object(_) => vec![obj],
        _ => return Err(ApiError::bad_request("body", "expected a trajectory object or an array of them")),
    };
    let mut good = Vec::new();
    let mut errors = Vec::new();
    for (i, item) in items.iter().enumerate() {
        match Trajectory::from_json(item.to_string().as_bytes()) {
            Ok(t) => good.push(t),
            Err(e) => errors.push(ImportErrorEntry {
                file: "body".into(),
                line: None,
                index: Some(i as u64),
                field: e.field,
                message: e.message,
            }),
        }
    }
    let (imported, skipped) = if good.is_empty() { (0, 0) } else { s.store.add(good).await? };
    let status = if errors.is_empty() {
        StatusCode::OK
    } else if imported + skipped > 0 {
        StatusCode::MULTI_STATUS
    } else {
        StatusCode::BAD_REQUEST
    };
    Ok((status, Json(json!({"imported": imported, "skipped": skipped, "failed": errors.len(), "errors": errors})))
        .into_response())
}

async fn patch(State(s): State<AppState>, Path(id): Path<String>, body: Bytes) -> ApiResult<Response> {
    let value: Value =
        serde_json::from_slice(&body).map_err(|e| ApiError::bad_request("body", format!("invalid JSON: {e}")))?;
    let obj = value
        .as_object()
        .ok_or_else(|| ApiError::bad_request("body", "expected an object with is_bookmarked, tags or notes"))?;
    let mut p = Patch::default();
    for (k, v) in obj {
        match k.as_str() {
            "is_bookmarked" => {
                p.is_bookmarked =
                    Some(v.as_bool().ok_or_else(|| ApiError::bad_request("is_bookmarked", "expected true or false"))?)
            }
            "tags" => {
                let tags = v
                    .as_array()
                    .and_then(|a| a.iter().map(|t| t.as_str().map(String::from)).collect::<Option<Vec<_>>>());
                p.tags = Some(tags.ok_or_else(|| ApiError::bad_request("tags", "expected a list of strings"))?);
            }
            "notes" => {
                p.notes = Some(match v {
                    Value::Null => None,
                    Value::String(s) => Some(s.clone()),
                    _ => return Err(ApiError::bad_request("notes", "expected a string or null")),
                })
            }
            other => return Err(ApiError::bad_request(other, "only is_bookmarked, tags and notes can be changed")),
        }
    }
    if p == Patch::default() {
        return Err(ApiError::bad_request("body", "nothing to change: give is_bookmarked, tags or notes"));
    }
    Ok(Json(s.store.update(&id, &p).await?).into_response())
}

async fn delete(State(s): State<AppState>, Path(id): Path<String>) -> ApiResult<Response> {
    s.store.delete(&id).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn statistics(State(s): State<AppState>, RawQuery(q): RawQuery) -> ApiResult<Response> {
    let p = pairs(&q)?;
    let req = StatsRequest::parse(as_refs(&p))?;
    Ok(Json(&*s.store.statistics(&req).await?).into_response())
}

async fn curves(State(s): State<AppState>, RawQuery(q): RawQuery) -> ApiResult<Response> {
    let p = pairs(&q)?;
    let req = CurveRequest::parse(as_refs(&p))?;
    Ok(Json(&*s.store.curve(&req).await?).into_response())
}

/// The input format: `auto` (the default) or a format name; unknown names are a 400
/// that lists the known ones.
fn read_format(name: Option<&str>) -> Result<trajstore::FormatChoice, ApiError> {
    name.map(trajstore::FormatChoice::parse)
        .transpose()
        .map(Option::unwrap_or_default)
        .map_err(|e| ApiError::bad_request("format", e.to_string()))
}

/// `POST /api/imports`: `{"path": ..., "format"?, "labels"?}` (JSON) for a file on the
/// server, or the file itself as the body (any format, gzip or zstd; `?format=` names
/// it), streamed to a temporary file first.
async fn start_import(
    State(s): State<AppState>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
    body: Body,
) -> ApiResult<Response> {
    let mut read = trajstore::ReadOptions::default();
    let is_json_request = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.trim_start().to_ascii_lowercase().starts_with("application/json"));
    let (input, source, keep) = if is_json_request {
        let bytes =
            axum::body::to_bytes(body, 1 << 20).await.map_err(|e| ApiError::bad_request("body", e.to_string()))?;
        let value: Value =
            serde_json::from_slice(&bytes).map_err(|e| ApiError::bad_request("body", format!("invalid JSON: {e}")))?;
        let path = value.get("path").and_then(Value::as_str).ok_or_else(|| ApiError::bad_request("path", "expected {\"path\": \"/file/on/the/server\"}; to upload a file, send it as the body with another content type"))?;
        let resolved = check_import_path(path, &s.config.import_roots)?;
        read.format = read_format(value.get("format").and_then(Value::as_str))?;
        if let Some(labels) = value.get("labels").and_then(Value::as_str) {
            // Labels are read on the server too, so they obey the same roots as the path.
            let dir = std::path::Path::new(labels)
                .canonicalize()
                .map_err(|e| ApiError::bad_request("labels", format!("{labels}: {e}")))?;
            if !s.config.import_roots.iter().any(|root| dir.starts_with(root)) || !dir.is_dir() {
                return Err(ApiError::bad_request(
                    "labels",
                    format!("{labels} is not a directory below the import roots"),
                ));
            }
            read.labels_dir = Some(dir);
        }
        (Input::File(resolved), path.to_string(), None)
    } else {
        let p = pairs(&query)?;
        only_known(&p, &["format"])?;
        let format = p.into_iter().find(|(k, _)| k == "format").map(|(_, v)| v);
        read.format = read_format(format.as_deref())?;
        let tmp = tempfile::NamedTempFile::new()
            .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "io_error", e.to_string()))?;
        let (file, path) = tmp.into_parts();
        let mut file = tokio::fs::File::from_std(file);
        let mut stream = body.into_data_stream();
        let mut size = 0u64;
        while let Some(chunk) = stream.next().await {
            let chunk =
                chunk.map_err(|e| ApiError::bad_request("body", format!("upload interrupted or too large: {e}")))?;
            size += chunk.len() as u64;
            tokio::io::AsyncWriteExt::write_all(&mut file, &chunk)
                .await
                .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "io_error", e.to_string()))?;
        }
        tokio::io::AsyncWriteExt::flush(&mut file)
            .await
            .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "io_error", e.to_string()))?;
        if size == 0 {
            return Err(ApiError::bad_request("body", "empty upload"));
        }
        let name = headers.get("x-filename").and_then(|v| v.to_str().ok()).unwrap_or("upload").to_string();
        (Input::File(path.to_path_buf()), name, Some(path))
    };
    let task_id = s.imports.start(s.store.clone(), input, source, keep, read).await;
    Ok((StatusCode::ACCEPTED, Json(json!({"task_id": task_id}))).into_response())
}

async fn get_import(State(s): State<AppState>, Path(task_id): Path<String>) -> ApiResult<Response> {
    let task = s.imports.get(&task_id).ok_or_else(|| {
        ApiError::new(StatusCode::NOT_FOUND, "not_found", format!("import task {task_id:?} not found"))
    })?;
    Ok(Json(task).into_response())
}

async fn list_imports(State(s): State<AppState>) -> Json<Value> {
    Json(json!({"data": s.imports.list()}))
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

/// `GET /api/export?format=jsonl|parquet|atif&<filters>`: the whole filtered set, streamed
/// with back-pressure (a channel of a few chunks), so memory stays bounded.
async fn export(State(s): State<AppState>, RawQuery(q): RawQuery) -> ApiResult<Response> {
    let p = pairs(&q)?;
    let mut format = ExportFormat::Jsonl;
    let mut filters = Vec::new();
    for (k, v) in &p {
        match k.as_str() {
            "format" => format = ExportFormat::parse(v)?,
            _ => filters.push((k.as_str(), v.as_str())),
        }
    }
    let filters = FilterSet::parse(filters).map_err(trajstore::Error::from)?;
    let (tx, mut rx) = tokio::sync::mpsc::channel::<std::io::Result<Bytes>>(4);
    let store = s.store.clone();
    std::thread::spawn(move || {
        let rt = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
            Ok(rt) => rt,
            Err(e) => return drop(futures::executor::block_on(tx.send(Err(e)))),
        };
        let writer = ChannelWriter { tx: tx.clone(), buf: Vec::new() };
        if let Err(e) = rt.block_on(store.export_to_writer(&filters, format, writer)) {
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

async fn health(State(s): State<AppState>) -> ApiResult<Json<Value>> {
    let version = s.store.version().await?;
    let (summaries, payloads) = s.store.fragments().await?;
    Ok(Json(
        json!({"status": "ok", "dataset_version": version, "cache": s.store.cache_stats(), "fragments": {"summaries": summaries, "payloads": payloads}, "memory_index": s.store.memory_index()}),
    ))
}

async fn version() -> Json<Value> {
    Json(json!({"trajstore": env!("CARGO_PKG_VERSION")}))
}

/// Serves on `listener` until `shutdown` completes; then running imports finish their
/// current batch before this returns.
pub async fn serve_on(
    listener: tokio::net::TcpListener,
    store: Trajstore,
    config: ServerConfig,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let (app, imports) = router(store, config);
    axum::serve(listener, app).with_graceful_shutdown(shutdown).await?;
    imports.cancel.store(true, Ordering::Relaxed);
    imports.wait_all().await;
    Ok(())
}

/// Serves until SIGTERM or Ctrl-C; then running imports finish their current batch.
pub async fn serve(store: Trajstore, config: ServerConfig, addr: SocketAddr) -> std::io::Result<()> {
    if !addr.ip().is_loopback() && config.token.is_none() {
        eprintln!("warning: listening on {addr} without a token: anyone who can reach it can change and delete data (use --token)");
    }
    let listener = tokio::net::TcpListener::bind(addr).await?;
    let _embedding = config
        .embed_in_background
        .then(|| search::spawn_background_embedding(store.clone(), std::time::Duration::from_secs(30)));
    // Read the in-memory index (when enabled) now rather than on the first request.
    let warming = store.clone();
    tokio::spawn(async move {
        match warming.warm_memory_index().await {
            Ok(Some(i)) => eprintln!("trajstore: in-memory index ready: {} rows, {} MiB", i.rows, i.bytes >> 20),
            Ok(None) => {}
            Err(e) => eprintln!("trajstore: the in-memory index could not be built ({e}); answering from the store"),
        }
    });
    eprintln!("trajstore: serving {} on http://{}", store.uri(), listener.local_addr()?);
    let shutdown = async {
        let ctrl_c = tokio::signal::ctrl_c();
        #[cfg(unix)]
        {
            let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
                .expect("a SIGTERM handler installs");
            tokio::select! { _ = ctrl_c => {}, _ = term.recv() => {} }
        }
        #[cfg(not(unix))]
        let _ = ctrl_c.await;
        eprintln!("trajstore: shutting down; running imports finish their current batch");
    };
    serve_on(listener, store, config, shutdown).await
}
