//! `POST /api/sql`: the answer's document, its errors, and that a long query does not
//! hold up other requests. `GET /api/tools`: the shares it derives.

use std::time::{Duration, Instant};

use axum::http::StatusCode;
use serde_json::json;
use trajstore::{SqlSettings, Trajstore};
use trajstore_server::ServerConfig;

use crate::{call, get};

async fn app_with(dir: &std::path::Path, settings: SqlSettings) -> axum::Router {
    let store = Trajstore::builder(dir.join("db").to_str().unwrap()).sql_settings(settings).open().await.unwrap();
    let lines: Vec<_> = trajstore::demo::DemoConfig::with_total(200, 5)
        .lines()
        .map(|l| trajstore::Trajectory::from_json(l.as_bytes()).unwrap())
        .collect();
    store.add(lines).await.unwrap();
    trajstore_server::router(store, ServerConfig::default()).0
}

async fn post_sql(app: &axum::Router, body: serde_json::Value) -> crate::Reply {
    call(app, "POST", "/api/sql", &[("content-type", "application/json")], body.to_string().as_bytes()).await
}

#[tokio::test(flavor = "multi_thread")]
async fn a_query_answers_columns_and_rows_and_errors_name_their_cause() {
    let dir = tempfile::tempdir().unwrap();
    let settings = SqlSettings { max_rows: 50, timeout: Duration::from_millis(300), ..Default::default() };
    let app = app_with(dir.path(), settings).await;
    let total = get(&app, "/api/count").await.json()["total"].clone();

    let r = post_sql(&app, json!({"sql": "SELECT count(*) AS n, max(step_count) AS longest FROM trajectories"})).await;
    assert_eq!(r.status, StatusCode::OK);
    let doc = r.json();
    assert_eq!(doc["columns"], json!([{"name": "n", "type": "Int64"}, {"name": "longest", "type": "Int64"}]));
    assert_eq!(doc["rows"][0][0], total);
    assert_eq!((doc["truncated"].clone(), doc["row_limit"].clone()), (json!(false), json!(50)));
    assert!(doc["elapsed_ms"].as_f64().unwrap() > 0.0);

    let doc = post_sql(&app, json!({"sql": "SELECT trajectory_id FROM trajectories"})).await.json();
    assert_eq!((doc["rows"].as_array().unwrap().len(), doc["truncated"].clone()), (50, json!(true)));

    let r = post_sql(&app, json!({"sql": "DELETE FROM trajectories"})).await;
    assert_eq!(
        (r.status, r.error()["code"].clone(), r.error()["parameter"].clone()),
        (StatusCode::BAD_REQUEST, json!("invalid_parameter"), json!("sql"))
    );
    assert!(r.error()["message"].as_str().unwrap().contains("only queries that read"), "{}", r.error());
    let r = post_sql(&app, json!({"sql": "SELECT 1", "max_rows": 0})).await;
    assert_eq!((r.status, r.error()["parameter"].clone()), (StatusCode::BAD_REQUEST, json!("max_rows")));
    let doc = post_sql(&app, json!({"sql": "SELECT trajectory_id FROM trajectories", "max_rows": 500})).await.json();
    assert_eq!((doc["rows"].as_array().unwrap().len(), doc["row_limit"].clone()), (50, json!(50)));
    let r = post_sql(&app, json!({"query": "SELECT 1"})).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "an unknown field");
    let r = post_sql(&app, json!({"sql": "SELECT count(*) FROM generate_series(1, 100000000000)"})).await;
    assert_eq!((r.status, r.error()["code"].clone()), (StatusCode::UNPROCESSABLE_ENTITY, json!("limit_exceeded")));
    assert!(r.error()["message"].as_str().unwrap().contains("time limit"), "{}", r.error());
    assert_eq!(get(&app, "/api/count").await.json()["total"], total, "nothing changed");
}

/// The median time of `n` list requests.
async fn list_p50(app: &axum::Router, n: usize) -> Duration {
    let mut times = Vec::new();
    for i in 0..n {
        let started = Instant::now();
        let r = get(app, &format!("/api/trajectories?sort=reward&page={}", i % 5 + 1)).await;
        assert_eq!(r.status, StatusCode::OK);
        times.push(started.elapsed());
    }
    times.sort();
    times[n / 2]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_long_query_does_not_delay_a_list_request() {
    let dir = tempfile::tempdir().unwrap();
    let settings = SqlSettings { timeout: Duration::from_secs(6), ..Default::default() };
    let app = app_with(dir.path(), settings).await;
    list_p50(&app, 5).await;
    let before = list_p50(&app, 15).await;

    let long = {
        let app = app.clone();
        tokio::spawn(async move {
            post_sql(&app, json!({"sql": "SELECT count(*) FROM generate_series(1, 100000000000)"})).await
        })
    };
    tokio::time::sleep(Duration::from_millis(200)).await;
    let during = list_p50(&app, 15).await;
    assert!(!long.is_finished(), "the long query ran all through the measurement");
    let r = long.await.unwrap();
    assert_eq!(r.error()["code"], "limit_exceeded");
    assert!(
        during <= before + Duration::from_millis(50),
        "a list request took {during:?} (median) during a long query, {before:?} before it"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn tools_report_shares_of_the_filtered_set() {
    let dir = tempfile::tempdir().unwrap();
    let (app, _) = crate::app(dir.path(), ServerConfig::default()).await;
    let records = r#"[
      {"trajectory_id":"ok","training_id":"r","is_success":true,"steps":[
        {"role":"assistant","tool_calls":[{"id":"1","function":{"name":"bash","arguments":"{}"}}]},
        {"role":"tool","tool_call_id":"1","content":"fine","is_error":false}]},
      {"trajectory_id":"bad","training_id":"r","reward":0.2,"steps":[
        {"role":"assistant","tool_calls":[{"id":"1","function":{"name":"bash","arguments":"{}"}},
                                          {"id":"2","function":{"name":"edit","arguments":"{}"}}]},
        {"role":"tool","tool_call_id":"1","content":"boom","is_error":true},
        {"role":"tool","tool_call_id":"2","content":"done"}]},
      {"trajectory_id":"quiet","training_id":"other","reward":1.0}
    ]"#;
    assert_eq!(call(&app, "POST", "/api/trajectories", &[], records.as_bytes()).await.status, StatusCode::OK);
    let doc = get(&app, "/api/tools?training_id=r").await.json();
    assert_eq!(
        (doc["trajectories"].clone(), doc["successful"].clone(), doc["failed"].clone()),
        (json!(2), json!(1), json!(1))
    );
    assert_eq!(doc["tools"][0]["tool_name"], "bash");
    assert_eq!(doc["tools"][0]["calls"], 2);
    assert_eq!(doc["tools"][0]["trajectory_share"], 1.0);
    assert_eq!(doc["tools"][0]["error_rate"], 0.5);
    assert_eq!(
        (doc["tools"][0]["share_in_successful"].clone(), doc["tools"][0]["share_in_failed"].clone()),
        (json!(1.0), json!(1.0))
    );
    assert_eq!(doc["tools"][1]["tool_name"], "edit");
    assert_eq!(doc["tools"][1]["error_rate"], json!(null), "no result says either way");
    assert_eq!(
        (doc["tools"][1]["share_in_successful"].clone(), doc["tools"][1]["share_in_failed"].clone()),
        (json!(0.0), json!(1.0))
    );
    // The threshold decides for records without is_success: "bad" succeeds at 0.1.
    let doc = get(&app, "/api/tools?training_id=r&success_threshold=0.1").await.json();
    assert_eq!((doc["successful"].clone(), doc["tools"][1]["share_in_successful"].clone()), (json!(2), json!(0.5)));
    let all = get(&app, "/api/tools").await.json();
    assert_eq!(all["trajectories"], 3);
    assert_eq!(all["tools"][0]["trajectory_share"], json!(2.0 / 3.0));
    let r = get(&app, "/api/tools?success_threshold=x").await;
    assert_eq!((r.status, r.error()["parameter"].clone()), (StatusCode::BAD_REQUEST, json!("success_threshold")));
}
