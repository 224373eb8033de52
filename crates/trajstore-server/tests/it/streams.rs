//! Work that must not hold an async worker: exports streamed from the store, and the
//! embedding model run on the blocking pool.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::http::{Request, StatusCode};
use serde_json::Value;
use tower::ServiceExt;
use trajstore::demo::DemoConfig;
use trajstore::search::{EmbedError, Embedder, HashEmbedder};
use trajstore::Trajectory;
use trajstore_server::ServerConfig;

use crate::{app, get};

fn demo(n: u64) -> Vec<Trajectory> {
    let cfg = DemoConfig { large_observation_rate: 0.0, ..DemoConfig::with_total(n, 5) };
    cfg.lines().map(|l| Trajectory::from_json(l.as_bytes()).unwrap()).collect()
}

#[tokio::test]
async fn the_export_of_demo_data_parses_in_every_format() {
    let dir = tempfile::tempdir().unwrap();
    let (app, store) = app(dir.path(), ServerConfig::default()).await;
    let rows = demo(600);
    store.add(rows.clone()).await.unwrap();

    for format in ["jsonl", "atif"] {
        let r = get(&app, &format!("/api/export?format={format}")).await;
        assert_eq!((r.status, r.headers["content-type"].to_str().unwrap()), (StatusCode::OK, "application/x-ndjson"));
        let docs: Vec<Value> =
            String::from_utf8(r.body).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect();
        assert_eq!(docs.len(), rows.len(), "{format}");
    }
    let r = get(&app, "/api/export?format=jsonl&epoch_id=1").await;
    let expected = rows.iter().filter(|t| t.epoch_id == Some(1)).count();
    assert_eq!(String::from_utf8(r.body).unwrap().lines().count(), expected);

    let r = get(&app, "/api/export?format=parquet").await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(r.body.starts_with(b"PAR1") && r.body.ends_with(b"PAR1") && r.body.len() > 10_000);
}

#[tokio::test]
async fn an_export_that_fails_part_way_cuts_the_body_short() {
    let dir = tempfile::tempdir().unwrap();
    let (app, store) = app(dir.path(), ServerConfig::default()).await;
    store.add(demo(600)).await.unwrap();
    // A number beyond f64 is kept in JSON Lines but cannot be written as ATIF.
    let bad = r#"{"trajectory_id":"zz-huge","steps":[{"role":"user","content":"x","n":1e400}]}"#;
    store.add(vec![Trajectory::from_json(bad.as_bytes()).unwrap()]).await.unwrap();
    let request = Request::get("/api/export?format=atif").body(Body::empty()).unwrap();
    let response = app.clone().oneshot(request).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK, "the headers went out before the failure");
    assert!(axum::body::to_bytes(response.into_body(), usize::MAX).await.is_err(), "the body ends in an error");
}

/// An embedder that takes a while (as the real model does on a long text), and says
/// when it started.
struct SlowEmbedder {
    started: Arc<AtomicBool>,
}

impl Embedder for SlowEmbedder {
    fn embed(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>, EmbedError> {
        self.started.store(true, Ordering::SeqCst);
        std::thread::sleep(Duration::from_secs(3));
        HashEmbedder { dim: 384 }.embed(texts)
    }
    fn dim(&self) -> usize {
        384
    }
    fn name(&self) -> &str {
        "slow"
    }
}

/// One async worker: if the embedding ran on it, `/api/health` (spawned as a task, so
/// that only that worker can run it) would wait the seconds the embedding takes.
#[tokio::test(flavor = "multi_thread", worker_threads = 1)]
async fn health_answers_while_an_embedding_runs() {
    let dir = tempfile::tempdir().unwrap();
    let (app, store) = app(dir.path(), ServerConfig::default()).await;
    store.add(demo(120)).await.unwrap();
    let started = Arc::new(AtomicBool::new(false));
    store.set_embedder(Arc::new(SlowEmbedder { started: started.clone() }));

    let similar = tokio::spawn({
        let app = app.clone();
        async move { get(&app, "/api/similar?text=how%20to%20sort%20a%20list").await }
    });
    let waiting = Instant::now();
    while !started.load(Ordering::SeqCst) {
        assert!(waiting.elapsed() < Duration::from_secs(20), "the embedding never started");
        std::thread::sleep(Duration::from_millis(5));
    }
    let asked = Instant::now();
    let health = tokio::spawn({
        let app = app.clone();
        async move { get(&app, "/api/health").await }
    })
    .await
    .unwrap();
    let took = asked.elapsed();
    assert_eq!(health.status, StatusCode::OK);
    assert!(took < Duration::from_millis(1500), "/api/health took {took:?} during an embedding");
    assert!(!similar.is_finished(), "the embedding was still running");
    let similar = similar.await.unwrap();
    assert_eq!(similar.status, StatusCode::OK, "{}", String::from_utf8_lossy(&similar.body));
}
