//! `POST /api/failure-modes` as a background task, and the stored runs.

use std::time::Duration;

use axum::http::StatusCode;
use serde_json::{json, Value};
use trajstore_server::ServerConfig;

use crate::{app, call, get};

fn failed(id: &str, reason: &str, output: &str) -> Value {
    json!({"trajectory_id": id, "training_id": "fm", "epoch_id": 0, "is_success": false, "termination_reason": reason,
           "steps": [{"role": "tool", "content": output}]})
}

#[tokio::test(flavor = "multi_thread")]
async fn an_analysis_runs_in_the_background_and_its_run_is_stored() {
    let dir = tempfile::tempdir().unwrap();
    let (app, _) = app(dir.path(), ServerConfig::default()).await;
    let mut records = Vec::new();
    for i in 0..12 {
        records.push(failed(&format!("t{i}"), "timeout", "the command timed out after 300 seconds"));
        records.push(failed(&format!("f{i}"), "error", "FileNotFoundError: no such file or directory"));
    }
    records.push(json!({"trajectory_id": "ok", "training_id": "fm", "is_success": true}));
    let body = Value::Array(records).to_string();
    assert_eq!(call(&app, "POST", "/api/trajectories", &[], body.as_bytes()).await.status, StatusCode::OK);

    let r = call(&app, "POST", "/api/failure-modes?training_id=fm&k=2", &[], b"").await;
    assert_eq!(r.status, StatusCode::ACCEPTED);
    let task_id = r.json()["task_id"].as_str().unwrap().to_string();
    let mut task = Value::Null;
    for _ in 0..600 {
        task = get(&app, &format!("/api/failure-modes/tasks/{task_id}")).await.json();
        if task["status"] == "done" || task["status"] == "failed" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(task["status"], "done", "{task}");
    let run = task["result"].clone();
    let counts: Vec<u64> = run["clusters"].as_array().unwrap().iter().map(|c| c["count"].as_u64().unwrap()).collect();
    assert_eq!(counts, [12, 12], "the two kinds, and not the successful one");
    let label = run["clusters"][0]["label"].as_str().unwrap();
    let page = get(&app, &format!("/api/count?failure_mode={}", urlencode(label))).await.json();
    assert_eq!(page["total"], 12);

    let runs = get(&app, "/api/failure-modes").await.json();
    assert_eq!(runs["data"][0]["analysis_id"], run["analysis_id"]);
    assert_eq!(runs["label_model"], Value::Null, "this server has no language model");
    let r = call(&app, "POST", "/api/failure-modes?llm_labels=true", &[], b"").await;
    assert_eq!((r.status, r.json()["error"]["parameter"].clone()), (StatusCode::BAD_REQUEST, json!("llm_labels")));
    let one = get(&app, &format!("/api/failure-modes/{}", run["analysis_id"].as_str().unwrap())).await;
    assert_eq!((one.status, one.json()["clusters"].clone()), (StatusCode::OK, run["clusters"].clone()));

    assert_eq!(get(&app, "/api/failure-modes/fm-nope").await.status, StatusCode::NOT_FOUND);
    assert_eq!(get(&app, "/api/failure-modes/tasks/nope").await.status, StatusCode::NOT_FOUND);
    let r = call(&app, "POST", "/api/failure-modes?k=1", &[], b"").await;
    assert_eq!((r.status, r.error()["parameter"].clone()), (StatusCode::BAD_REQUEST, json!("k")));
    let r = call(&app, "POST", "/api/failure-modes?text=nope", &[], b"").await;
    assert_eq!((r.status, r.error()["parameter"].clone()), (StatusCode::BAD_REQUEST, json!("text")));
}

fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}
