//! The trajstore HTTP service: the JSON API over the library, and the web UI.
//!
//! `routes/` holds the handlers, one module per resource; each reads its typed query
//! (`query.rs`) or body and calls one library function. Errors have one table of codes in
//! `error.rs`; `observe.rs` gives each request an id and logs every 5xx.

mod analyses;
mod auth;
mod embedding;
mod error;
mod imports;
mod indexing;
mod observe;
mod openapi;
mod pages;
mod query;
mod reply;
mod routes;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use tokio::task::JoinHandle;
use trajstore::otlp::OtlpOptions;
use trajstore::{TraceBuffer, Trajstore};

pub use embedding::spawn_background_embedding;
pub use error::{ApiError, Code};
pub use imports::Imports;
pub use indexing::spawn_background_indexing;
pub use observe::REQUEST_ID;

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
    /// A trajectory sent over OTLP is stored once no span of it has arrived for this long.
    pub otlp_quiet: Duration,
    /// How OTLP spans map to records (the prefix of the RL attributes).
    pub otlp: OtlpOptions,
    /// How often rows that the full-text index does not cover yet are folded into it
    /// (`None`: never; `optimize` does it too).
    pub index_every: Option<Duration>,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            token: None,
            token_reads: false,
            import_roots: Vec::new(),
            max_body_bytes: 1 << 30,
            embed_in_background: false,
            otlp_quiet: Duration::from_secs(5),
            otlp: OtlpOptions::default(),
            index_every: None,
        }
    }
}

#[derive(Clone)]
struct AppState {
    store: Trajstore,
    config: Arc<ServerConfig>,
    imports: Imports,
    analyses: analyses::Analyses,
    traces: Arc<TraceBuffer>,
}

/// What the server does beside answering requests: imports, and the OTLP traces waiting
/// to be stored.
#[derive(Clone)]
pub struct Background {
    pub imports: Imports,
    pub traces: Arc<TraceBuffer>,
}

/// Every endpoint of the API as (method, path); the router is built from this list alone.
pub fn endpoints() -> Vec<(axum::http::Method, &'static str)> {
    routes::endpoints().into_iter().map(|e| (e.method, e.path)).collect()
}

/// The router with every endpoint, and what it does in the background (which `serve_on`
/// waits for on shutdown).
pub fn router(store: Trajstore, config: ServerConfig) -> (Router, Background) {
    let imports = Imports::default();
    let traces = Arc::new(TraceBuffer::new(config.otlp_quiet, config.otlp.clone()));
    let state = AppState {
        store,
        config: Arc::new(config),
        imports: imports.clone(),
        analyses: Default::default(),
        traces: traces.clone(),
    };
    (routes::router(state), Background { imports, traces })
}

/// Stores the OTLP trajectories that have gone quiet, twice a second, until `stop`.
fn spawn_trace_flusher(store: Trajstore, traces: Arc<TraceBuffer>, stop: Arc<AtomicBool>) -> JoinHandle<()> {
    tokio::spawn(async move {
        while !stop.load(Ordering::Relaxed) {
            tokio::time::sleep(Duration::from_millis(500)).await;
            log_flush(store.store_quiet_traces(&traces, false).await);
        }
    })
}

fn log_flush(flush: trajstore::Result<trajstore::TraceFlush>) {
    match flush {
        Ok(f) => {
            if f.failed > 0 {
                tracing::warn!(stored = f.stored, failed = f.failed, errors = ?f.errors, "OTLP traces not stored");
            }
            if f.skipped > 0 {
                tracing::warn!(
                    skipped = f.skipped,
                    "OTLP spans arrived after their trajectory was stored; they were not added (raise --otlp-quiet)"
                );
            }
        }
        Err(e) => tracing::error!(error = %e, "storing OTLP traces failed; they are held and tried again"),
    }
}

/// Serves on `listener` until `shutdown` completes; then running imports finish their
/// current batch, and the OTLP traces held are stored, before this returns.
pub async fn serve_on(
    listener: tokio::net::TcpListener,
    store: Trajstore,
    config: ServerConfig,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let index_every = config.index_every;
    let (app, background) = router(store.clone(), config);
    let stop = Arc::new(AtomicBool::new(false));
    let flusher = spawn_trace_flusher(store.clone(), background.traces.clone(), stop.clone());
    let indexing =
        index_every.map(|every| indexing::spawn_background_indexing(store.clone(), background.imports.clone(), every));
    axum::serve(listener, app).with_graceful_shutdown(shutdown).await?;
    // A fold cut short commits nothing; the next start folds those rows again.
    if let Some(task) = indexing {
        task.abort();
    }
    background.imports.cancel.store(true, Ordering::Relaxed);
    background.imports.wait_all().await;
    // Every trace still held is stored, finished or not.
    stop.store(true, Ordering::Relaxed);
    flusher.await.ok();
    log_flush(store.store_quiet_traces(&background.traces, true).await);
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
        .then(|| embedding::spawn_background_embedding(store.clone(), std::time::Duration::from_secs(30)));
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
