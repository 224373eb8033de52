//! The documents of requests that succeed.

use axum::http::StatusCode;
use serde_json::json;
use trajstore_server::ServerConfig;

use crate::{app, call, get};

const TWO: &str = r#"[{"trajectory_id":"a","reward":1,"steps":[{"role":"user","content":"x"},{"role":"assistant","content":"y"},{"role":"user","content":"z"}]},{"trajectory_id":"b","reward":0}]"#;

#[tokio::test]
async fn add_list_get_patch_and_delete() {
    let dir = tempfile::tempdir().unwrap();
    let (app, _) = app(dir.path(), ServerConfig::default()).await;
    let r = call(&app, "POST", "/api/trajectories", &[], TWO.as_bytes()).await;
    assert_eq!((r.status, r.json()), (StatusCode::OK, json!({"imported": 2, "skipped": 0, "failed": 0, "errors": []})));
    let r = call(&app, "POST", "/api/trajectories", &[], br#"[{"trajectory_id":"a"},{"reward":1}]"#).await;
    assert_eq!(r.status, StatusCode::MULTI_STATUS);
    assert_eq!((r.json()["skipped"].clone(), r.json()["errors"][0]["index"].clone()), (json!(1), json!(1)));

    let page = get(&app, "/api/trajectories?sort=reward&order=desc").await.json();
    assert_eq!((page["total"].clone(), page["data"][0]["trajectory_id"].clone()), (json!(2), json!("a")));

    let r = get(&app, "/api/trajectories/a?steps=1:").await;
    assert_eq!(r.headers["content-type"], "application/json");
    let record = r.json();
    assert_eq!(record["steps"].as_array().unwrap().len(), 2);
    assert_eq!(record["steps_range"], json!({"from": 1, "to": 3, "total": 3}));

    let r = call(&app, "PATCH", "/api/trajectories/a", &[], br#"{"tags":["t"],"notes":"n"}"#).await;
    assert_eq!(
        (r.status, r.json()["tags"].clone(), r.json()["notes"].clone()),
        (StatusCode::OK, json!(["t"]), json!("n"))
    );
    let r = call(&app, "PATCH", "/api/trajectories/a", &[], br#"{"notes":null}"#).await;
    assert_eq!((r.status, r.json()["notes"].clone()), (StatusCode::OK, json!(null)));

    let r = get(&app, "/api/compare?ids=a,nope").await.json();
    assert_eq!((r["data"][0]["trajectory_id"].clone(), r["missing"].clone()), (json!("a"), json!(["nope"])));

    let r = call(&app, "DELETE", "/api/trajectories/b", &[], b"").await;
    assert_eq!((r.status, r.body.len()), (StatusCode::NO_CONTENT, 0));
}

#[tokio::test]
async fn every_answer_has_a_request_id_and_ids_differ() {
    let dir = tempfile::tempdir().unwrap();
    let (app, _) = app(dir.path(), ServerConfig::default()).await;
    let first = get(&app, "/api/health").await;
    assert_eq!((first.status, first.json()["status"].clone()), (StatusCode::OK, json!("ok")));
    let second = get(&app, "/api/version").await;
    let id = |r: &crate::Reply| r.headers[trajstore_server::REQUEST_ID].to_str().unwrap().to_string();
    assert_ne!(id(&first), id(&second));
    assert!(get(&app, "/").await.headers.contains_key(trajstore_server::REQUEST_ID), "the UI's pages too");
}

#[tokio::test]
async fn an_upload_is_imported_in_the_background() {
    let dir = tempfile::tempdir().unwrap();
    let (app, _) = app(dir.path(), ServerConfig::default()).await;
    let body = b"{\"trajectory_id\":\"u1\"}\n{\"trajectory_id\":\"u2\"}\n";
    let r = call(&app, "POST", "/api/imports", &[("x-filename", "mine.jsonl")], body).await;
    assert_eq!(r.status, StatusCode::ACCEPTED);
    let task_id = r.json()["task_id"].as_str().unwrap().to_string();
    let task = loop {
        let task = get(&app, &format!("/api/imports/{task_id}")).await.json();
        if task["status"] == "done" || task["status"] == "failed" {
            break task;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    };
    assert_eq!((task["status"].clone(), task["result"]["imported"].clone()), (json!("done"), json!(2)), "{task}");
    assert_eq!(task["result"]["files"][0]["path"], "mine.jsonl");
    assert_eq!(get(&app, "/api/imports").await.json()["data"][0]["task_id"], json!(task_id));
}

#[tokio::test]
async fn a_server_file_below_a_root_is_imported() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("files");
    std::fs::create_dir(&root).unwrap();
    std::fs::write(root.join("a.jsonl"), "{\"trajectory_id\":\"f1\"}\n").unwrap();
    let config = ServerConfig { import_roots: vec![root.canonicalize().unwrap()], ..Default::default() };
    let (app, _) = app(dir.path(), config).await;
    let body = json!({"path": root.join("a.jsonl"), "format": "auto"}).to_string();
    let r = call(&app, "POST", "/api/imports", &[("content-type", "application/json")], body.as_bytes()).await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{}", String::from_utf8_lossy(&r.body));
}

#[tokio::test]
async fn schema_lists_the_column_table() {
    let dir = tempfile::tempdir().unwrap();
    let (app, _) = app(dir.path(), ServerConfig::default()).await;
    let r = get(&app, "/api/schema").await;
    assert_eq!(r.status, StatusCode::OK);
    let doc = r.json();
    let columns = doc["columns"].as_array().unwrap();
    assert_eq!(columns.len(), serde_json::to_value(trajstore::Summary::default()).unwrap().as_object().unwrap().len());
    let reward = columns.iter().find(|c| c["name"] == "reward").unwrap();
    assert_eq!(reward["type"], "float");
    assert_eq!(reward["sortable"], true);
    assert_eq!(reward["filters"][1], json!({"name": "reward_min", "value": "number"}));
    assert!(reward["statistics"].as_array().unwrap().contains(&json!("reward_mean")));
    assert!(doc["sort"].as_array().unwrap().contains(&json!("created_at")));
    assert!(doc["filters"].as_array().unwrap().contains(&json!({"name": "created_after", "value": "timestamp"})));
}

/// Two steps of one run, two prompts of 3 samples: enough for every training endpoint.
const RUN: &str = r#"[
{"trajectory_id":"s0-a-0","training_id":"run/1","iteration_id":0,"data_id":"a/x","sample_id":0,"reward":1,"is_success":true},
{"trajectory_id":"s0-a-1","training_id":"run/1","iteration_id":0,"data_id":"a/x","sample_id":1,"reward":0,"is_success":false},
{"trajectory_id":"s0-a-2","training_id":"run/1","iteration_id":0,"data_id":"a/x","sample_id":2,"reward":0,"is_success":false},
{"trajectory_id":"s0-b-0","training_id":"run/1","iteration_id":0,"data_id":"b","sample_id":0,"reward":0,"is_success":false},
{"trajectory_id":"s0-b-1","training_id":"run/1","iteration_id":0,"data_id":"b","sample_id":1,"reward":0,"is_success":false},
{"trajectory_id":"s1-a-0","training_id":"run/1","iteration_id":1,"data_id":"a/x","sample_id":0,"reward":1,"is_success":true},
{"trajectory_id":"s1-a-1","training_id":"run/1","iteration_id":1,"data_id":"a/x","sample_id":1,"reward":1,"is_success":true},
{"trajectory_id":"s1-b-0","training_id":"run/1","iteration_id":1,"data_id":"b","sample_id":0,"reward":1,"is_success":true}
]"#;

#[tokio::test]
async fn training_groups_a_group_and_a_diff() {
    let dir = tempfile::tempdir().unwrap();
    let (app, _) = app(dir.path(), ServerConfig::default()).await;
    assert_eq!(call(&app, "POST", "/api/trajectories", &[], RUN.as_bytes()).await.status, StatusCode::OK);

    let page = get(&app, "/api/groups?training_id=run/1&iteration_id=0").await.json();
    assert_eq!(page["total"], 2);
    assert_eq!(page["data"][0]["data_id"], "a/x", "the group with a spread of rewards first");
    assert_eq!(page["data"][0]["kind"], "mixed");
    assert_eq!(page["data"][1]["kind"], "all_fail");
    assert_eq!(
        page["kinds"],
        json!({"mixed": 1, "all_success": 0, "all_fail": 1, "zero_variance": 0, "no_gradient": 1})
    );
    let page = get(&app, "/api/groups?kind=all_success&page_size=1").await.json();
    assert_eq!((page["total"].clone(), page["data"].as_array().unwrap().len()), (json!(2), 1));

    // Path segments are percent-decoded: a `/` in a key travels as %2F.
    let r = get(&app, "/api/groups/run%2F1/0/a%2Fx?std=population").await;
    assert_eq!(r.status, StatusCode::OK);
    let g = r.json();
    let members: Vec<&str> =
        g["members"].as_array().unwrap().iter().map(|m| m["trajectory_id"].as_str().unwrap()).collect();
    assert_eq!(members, ["s0-a-0", "s0-a-1", "s0-a-2"]);
    // population std of (1, 0, 0) = sqrt(2)/3; GRPO = (1 - 1/3) / (std + 1e-6).
    let grpo = g["members"][0]["advantage_grpo"].as_f64().unwrap();
    assert!((grpo - (2.0 / 3.0) / (2f64.sqrt() / 3.0 + 1e-6)).abs() < 1e-9, "{grpo}");
    assert_eq!(g["members"][0]["advantage_rloo"], 1.0);
    assert_eq!((g["members"][1]["rank"].clone(), g["members"][2]["rank"].clone()), (json!(2), json!(2)));

    let d = get(&app, "/api/diff-runs?a=training_id%3Drun/1,iteration_id%3D0&b=training_id%3Drun/1,iteration_id%3D1")
        .await
        .json();
    assert_eq!(d["learned"], json!({"count": 2, "tasks": ["a/x", "b"]}), "1 of 3 is below 0.5, 2 of 2 above");
    assert_eq!(d["forgotten"], json!({"count": 0, "tasks": []}));
    assert_eq!(d["a"]["tasks"], 2);

    let curve = get(&app, "/api/curves?x=iteration_id&series=none").await.json();
    assert_eq!(curve["points"][0]["groups"], 2);
    assert_eq!(curve["points"][0]["all_fail_share"], 0.5);
    assert_eq!(curve["points"][1]["no_gradient_share"], 1.0);
}

#[tokio::test]
async fn training_errors_name_their_parameter() {
    let dir = tempfile::tempdir().unwrap();
    let (app, _) = app(dir.path(), ServerConfig::default()).await;
    assert_eq!(call(&app, "POST", "/api/trajectories", &[], RUN.as_bytes()).await.status, StatusCode::OK);
    for (uri, parameter) in [
        ("/api/groups?sort=reward;drop", "sort"),
        ("/api/groups?by=data_id", "by"),
        ("/api/groups?kind=odd", "kind"),
        ("/api/groups?page_size=5000", "page_size"),
        ("/api/groups?reward_min=x", "reward_min"),
        ("/api/groups/run/x/a", "iteration_id"),
        ("/api/groups/run/1/a?eps=-1", "eps"),
        ("/api/groups/run/1/a?nope=1", "nope"),
        ("/api/diff-runs?a=training_id%3Dx", "b"),
        ("/api/diff-runs?a=iteration_id%3Dx&b=training_id%3Dx", "a"),
        ("/api/diff-runs?a=x&b=training_id%3Dx", "a"),
        ("/api/diff-runs?a=training_id%3Dx&b=training_id%3Dy&solved_threshold=2", "solved_threshold"),
    ] {
        let r = get(&app, uri).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{uri}");
        assert_eq!(r.error()["parameter"], parameter, "{uri}");
    }
    let r = get(&app, "/api/groups/run%2F1/7/a%2Fx").await;
    assert_eq!((r.status, r.error()["code"].clone()), (StatusCode::NOT_FOUND, json!("not_found")));
}
