//! Live ingest: the count a page polls, Arrow pages, and OTLP traces.

use std::io::Write;

use arrow_array::cast::AsArray;
use axum::http::StatusCode;
use serde_json::{json, Value};
use trajstore_server::ServerConfig;

use crate::{app, call, get};

#[tokio::test]
async fn count_follows_writes_and_arrow_pages_hold_the_json_rows() {
    let dir = tempfile::tempdir().unwrap();
    let (app, _) = app(dir.path(), ServerConfig::default()).await;
    let first = get(&app, "/api/count?training_id=r").await.json();
    assert_eq!(first["total"], 0);
    let rows: Vec<Value> = (0..5)
        .map(|i| json!({"trajectory_id": format!("t{i}"), "training_id": "r", "reward": i, "tags": ["x"], "steps": []}))
        .collect();
    let r = call(&app, "POST", "/api/trajectories", &[], Value::Array(rows).to_string().as_bytes()).await;
    assert_eq!(r.status, StatusCode::OK);
    let now = get(&app, "/api/count?training_id=r").await.json();
    assert_eq!(now["total"], 5);
    assert!(now["dataset_version"].as_u64() > first["dataset_version"].as_u64());
    assert_eq!(get(&app, "/api/count?reward_min=oops").await.error()["parameter"], "reward_min");

    let page = get(&app, "/api/trajectories?sort=reward&order=desc&page_size=2").await.json();
    let r = get(&app, "/api/trajectories?sort=reward&order=desc&page_size=2&format=arrow").await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.headers["content-type"], "application/vnd.apache.arrow.stream");
    assert_eq!(r.headers["x-total-count"], "5");
    assert_eq!(r.headers["x-next-cursor"].to_str().unwrap(), page["next_cursor"].as_str().unwrap());
    let batches: Vec<_> = arrow_ipc::reader::StreamReader::try_new(std::io::Cursor::new(r.body), None)
        .unwrap()
        .map(Result::unwrap)
        .collect();
    let ids = batches[0].column_by_name("trajectory_id").unwrap().as_string::<i32>();
    assert_eq!(ids.iter().map(Option::unwrap).collect::<Vec<_>>(), ["t4", "t3"]);
    let r = get(&app, "/api/trajectories?format=csv").await;
    assert_eq!((r.status, r.error()["parameter"].clone()), (StatusCode::BAD_REQUEST, json!("format")));
}

fn otlp_request(trace: &str) -> Value {
    let kv = |k: &str, v: &str| json!({"key": k, "value": {"stringValue": v}});
    let messages = json!([{"role": "user", "parts": [{"type": "text", "content": "hello"}]}]).to_string();
    let answer = json!([{"role": "assistant", "parts": [{"type": "text", "content": "hi"}]}]).to_string();
    json!({"resourceSpans": [{
        "resource": {"attributes": [kv("trajstore.training_id", "otel-run")]},
        "scopeSpans": [{"spans": [{
            "traceId": trace, "spanId": "0000000000000001", "name": "chat m",
            "startTimeUnixNano": "1700000000000000000", "endTimeUnixNano": "1700000001000000000",
            "attributes": [kv("gen_ai.operation.name", "chat"), kv("gen_ai.input.messages", &messages),
                           kv("gen_ai.output.messages", &answer)],
        }]}],
    }]})
}

#[tokio::test]
async fn otlp_json_and_gzip_traces_are_held_then_stored() {
    let dir = tempfile::tempdir().unwrap();
    let store = trajstore::Trajstore::open(dir.path().join("db").to_str().unwrap()).await.unwrap();
    let (app, background) = trajstore_server::router(store.clone(), ServerConfig::default());
    let json_type = [("content-type", "application/json")];
    let r = call(&app, "POST", "/v1/traces", &json_type, otlp_request("aaaa").to_string().as_bytes()).await;
    assert_eq!((r.status, r.json()), (StatusCode::OK, json!({})));
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(otlp_request("bbbb").to_string().as_bytes()).unwrap();
    let headers = [("content-type", "application/json"), ("content-encoding", "gzip")];
    let r = call(&app, "POST", "/v1/traces", &headers, &gz.finish().unwrap()).await;
    assert_eq!(r.status, StatusCode::OK);
    // Held until quiet (5 s by default): nothing stored yet.
    assert_eq!(background.traces.held(), (2, 2));
    assert_eq!(get(&app, "/api/count").await.json()["total"], 0);
    let flush = store.store_quiet_traces(&background.traces, true).await.unwrap();
    assert_eq!((flush.trajectories, flush.stored, flush.failed), (2, 2, 0));
    let record = get(&app, "/api/trajectories/aaaa").await.json();
    assert_eq!(record["training_id"], "otel-run");
    assert_eq!(record["steps"], json!([{"role": "user", "content": "hello"}, {"role": "assistant", "content": "hi"}]));
    // The same trace again is stored once.
    call(&app, "POST", "/v1/traces", &json_type, otlp_request("aaaa").to_string().as_bytes()).await;
    let flush = store.store_quiet_traces(&background.traces, true).await.unwrap();
    assert_eq!((flush.stored, flush.skipped), (0, 1));

    let r = call(&app, "POST", "/v1/traces", &[("content-type", "text/plain")], b"x").await;
    assert_eq!((r.status, r.error()["parameter"].clone()), (StatusCode::BAD_REQUEST, json!("content-type")));
    let r = call(&app, "POST", "/v1/traces", &[("content-type", "application/x-protobuf")], b"\xff\xff\xff").await;
    assert_eq!((r.status, r.error()["parameter"].clone()), (StatusCode::BAD_REQUEST, json!("body")));
    let r = call(&app, "POST", "/v1/traces", &[("content-type", "application/x-protobuf")], b"").await;
    assert_eq!(
        (r.status, r.headers["content-type"].to_str().unwrap(), r.body.len()),
        (StatusCode::OK, "application/x-protobuf", 0)
    );
}

#[tokio::test]
async fn otlp_waits_for_the_root_span_holds_a_resent_span_once_and_refuses_spans_without_ids() {
    let dir = tempfile::tempdir().unwrap();
    let store = trajstore::Trajstore::open(dir.path().join("db").to_str().unwrap()).await.unwrap();
    let quiet = std::time::Duration::from_millis(100);
    let config = ServerConfig { otlp_quiet: quiet, ..ServerConfig::default() };
    let (app, background) = trajstore_server::router(store.clone(), config);
    let json_type = [("content-type", "application/json")];
    let mut child = otlp_request("cccc");
    child["resourceSpans"][0]["scopeSpans"][0]["spans"][0]["parentSpanId"] = json!("00000000000000ff");
    for _ in 0..2 {
        let r = call(&app, "POST", "/v1/traces", &json_type, child.to_string().as_bytes()).await;
        assert_eq!(r.status, StatusCode::OK);
    }
    assert_eq!(background.traces.held(), (1, 1), "a span sent twice is held once");
    tokio::time::sleep(quiet * 2).await;
    let flush = store.store_quiet_traces(&background.traces, false).await.unwrap();
    assert_eq!(flush.trajectories, 0, "quiet, but its root has not come: still waited for");
    let mut root = otlp_request("cccc");
    root["resourceSpans"][0]["scopeSpans"][0]["spans"][0]["spanId"] = json!("00000000000000ff");
    call(&app, "POST", "/v1/traces", &json_type, root.to_string().as_bytes()).await;
    tokio::time::sleep(quiet * 2).await;
    let flush = store.store_quiet_traces(&background.traces, false).await.unwrap();
    assert_eq!((flush.trajectories, flush.stored), (1, 1));
    let record = get(&app, "/api/trajectories/cccc").await.json();
    assert_eq!(record["metadata"]["otel"]["spans"].as_array().unwrap().len(), 2);

    let mut nameless = otlp_request("");
    nameless["resourceSpans"][0]["scopeSpans"][0]["spans"][0]["traceId"] = json!("");
    let r = call(&app, "POST", "/v1/traces", &json_type, nameless.to_string().as_bytes()).await;
    assert_eq!((r.status, r.error()["parameter"].clone()), (StatusCode::BAD_REQUEST, json!("traceId")));
}

#[tokio::test]
async fn the_background_step_folds_new_rows_into_the_full_text_index() {
    let dir = tempfile::tempdir().unwrap();
    let store = trajstore::Trajstore::open(dir.path().join("db").to_str().unwrap()).await.unwrap();
    let (app, background) = trajstore_server::router(store.clone(), ServerConfig::default());
    for (id, text) in [("z1", "zebra stripes running"), ("g1", "giraffes walking slowly")] {
        let body = json!({"trajectory_id": id, "steps": [{"role": "user", "content": text}]}).to_string();
        assert_eq!(call(&app, "POST", "/api/trajectories", &[], body.as_bytes()).await.status, StatusCode::OK);
    }
    assert_eq!(store.unindexed_text_rows().await.unwrap(), 2, "adds leave the full-text index to later");
    let every = std::time::Duration::from_millis(50);
    let task = trajstore_server::spawn_background_indexing(store.clone(), background.imports.clone(), every);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while store.unindexed_text_rows().await.unwrap() > 0 {
        assert!(std::time::Instant::now() < deadline, "the rows were never folded in");
        tokio::time::sleep(every).await;
    }
    task.abort();
    let hits = get(&app, "/api/search?q=zebras").await.json();
    assert_eq!(hits["data"][0]["trajectory_id"], "z1", "{hits}");
}
