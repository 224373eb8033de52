//! The SQL tables `steps` and `tool_calls`: their rows against the records, payloads
//! that no summary names left out, and a store written before them filled by `optimize`.

use std::time::Duration;

use arrow_array::cast::AsArray;
use arrow_array::types::Int64Type;
use trajstore_model::Trajectory;
use trajstore_store::{InsertMode, SqlLimits, Store, ToolUsage, ToolUsageRow};

const LIMITS: SqlLimits = SqlLimits { max_rows: 1000, memory_bytes: 64 << 20 };

fn traj(json: &str) -> Trajectory {
    Trajectory::from_json(json.as_bytes()).unwrap()
}

fn records() -> Vec<Trajectory> {
    vec![
        traj(
            r#"{"trajectory_id":"a","training_id":"r1","is_success":true,"steps":[
            {"role":"user","content":"go"},
            {"role":"assistant","content":"calling","tool_calls":[
                {"id":"1","type":"function","function":{"name":"bash","arguments":"{\"command\":\"ls\"}"}},
                {"id":"2","type":"function","function":{"name":"read","arguments":"{\"path\":\"x\"}"}}]},
            {"role":"tool","tool_call_id":"1","content":"no such file","is_error":true},
            {"role":"tool","tool_call_id":"2","content":"hello","timestamp":"2026-01-02T00:00:00Z"},
            {"role":"assistant","content":"done","reward":1.0}]}"#,
        ),
        traj(
            r#"{"trajectory_id":"b","training_id":"r2","steps":[
            {"role":"assistant","content":null,"tool_calls":[{"id":"9","function":{"name":"bash","arguments":"{}"}}]},
            {"role":"tool","tool_call_id":"9","content":"ok","is_error":false}]}"#,
        ),
    ]
}

/// The rows of a query whose columns are all integers or text, as text.
async fn rows(store: &Store, sql: &str) -> Vec<Vec<String>> {
    let out = store.sql(sql, &LIMITS).await.unwrap();
    let mut rows = Vec::new();
    for b in &out.batches {
        for i in 0..b.num_rows() {
            rows.push(
                b.columns()
                    .iter()
                    .map(|c| {
                        if c.is_null(i) {
                            "null".to_string()
                        } else if let Some(ints) = c.as_primitive_opt::<Int64Type>() {
                            ints.value(i).to_string()
                        } else if let Some(b) = c.as_boolean_opt() {
                            b.value(i).to_string()
                        } else if let Some(view) = c.as_string_view_opt() {
                            view.value(i).to_string()
                        } else {
                            c.as_string::<i32>().value(i).to_string()
                        }
                    })
                    .collect(),
            );
        }
    }
    rows
}

#[tokio::test(flavor = "multi_thread")]
async fn steps_and_tool_calls_hold_each_step_and_call_of_the_stored_records() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path().to_str().unwrap()).await.unwrap();
    store.insert(records(), InsertMode::Deduplicate).await.unwrap();
    // A payload that no summary names: staged, never committed.
    let _orphan = store
        .stage(
            vec![traj(r#"{"trajectory_id":"lost","steps":[{"role":"user","content":"x"}]}"#)],
            InsertMode::Deduplicate,
        )
        .await
        .unwrap();

    let steps = rows(
        &store,
        "SELECT trajectory_id, step, role, coalesce(tool_name, 'null'), content, content_length, is_error \
         FROM steps ORDER BY trajectory_id, step",
    )
    .await;
    let want: Vec<Vec<&str>> = vec![
        vec!["a", "0", "user", "null", "go", "2", "null"],
        vec!["a", "1", "assistant", "null", "calling", "7", "null"],
        vec!["a", "2", "tool", "bash", "no such file", "12", "true"],
        vec!["a", "3", "tool", "read", "hello", "5", "null"],
        vec!["a", "4", "assistant", "null", "done", "4", "null"],
        vec!["b", "0", "assistant", "null", "", "0", "null"],
        vec!["b", "1", "tool", "bash", "ok", "2", "false"],
    ];
    assert_eq!(steps, want);
    let reward = rows(&store, "SELECT CAST(reward AS BIGINT) FROM steps WHERE reward IS NOT NULL").await;
    assert_eq!(reward, vec![vec!["1"]]);
    let at = rows(&store, "SELECT CAST(timestamp AS VARCHAR) FROM steps WHERE timestamp IS NOT NULL").await;
    assert_eq!(at[0][0], "2026-01-02T00:00:00Z");

    let calls = rows(
        &store,
        "SELECT trajectory_id, step, call_index, tool_name, call_id, arguments, result_length, result_is_error \
         FROM tool_calls ORDER BY trajectory_id, call_index",
    )
    .await;
    let want: Vec<Vec<&str>> = vec![
        vec!["a", "1", "0", "bash", "1", r#"{"command":"ls"}"#, "12", "true"],
        vec!["a", "1", "1", "read", "2", r#"{"path":"x"}"#, "5", "null"],
        vec!["b", "0", "0", "bash", "9", "{}", "2", "false"],
    ];
    assert_eq!(calls, want);

    // Error rate per tool per run, with a join to the summaries.
    let per_tool = rows(
        &store,
        "SELECT t.training_id, c.tool_name, count(*) AS calls, \
         sum(CASE WHEN c.result_is_error THEN 1 ELSE 0 END) AS errors \
         FROM tool_calls c JOIN trajectories t ON c.trajectory_id = t.trajectory_id \
         GROUP BY 1, 2 ORDER BY 1, 2",
    )
    .await;
    assert_eq!(
        per_tool,
        vec![vec!["r1", "bash", "1", "1"], vec!["r1", "read", "1", "0"], vec!["r2", "bash", "1", "0"]]
    );

    // A deleted trajectory's steps go with it.
    store.delete("b").await.unwrap();
    assert_eq!(rows(&store, "SELECT count(*) FROM steps").await, vec![vec!["5"]]);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_store_written_before_the_facts_gets_them_from_optimize() {
    let dir = tempfile::tempdir().unwrap();
    let uri = dir.path().to_str().unwrap();
    Store::open(uri).await.unwrap().insert(records(), InsertMode::Deduplicate).await.unwrap();
    {
        let conn = lancedb::connect(uri).execute().await.unwrap();
        let payloads = conn.open_table("payloads").execute().await.unwrap();
        payloads.drop_columns(&["step_facts", "call_facts"]).await.unwrap();
    }
    let store = Store::open(uri).await.unwrap();
    assert_eq!(rows(&store, "SELECT count(*) FROM steps").await, vec![vec!["0"]], "empty until optimize");
    let report = store.optimize(Duration::from_secs(3600)).await.unwrap();
    assert_eq!(report.step_facts_filled, 2);
    assert_eq!(rows(&store, "SELECT count(*) FROM steps").await, vec![vec!["7"]]);
    assert_eq!(rows(&store, "SELECT count(*) FROM tool_calls WHERE result_is_error").await, vec![vec!["1"]]);
    assert_eq!(store.optimize(Duration::from_secs(3600)).await.unwrap().step_facts_filled, 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn tool_usage_counts_calls_errors_and_successful_and_failed_users() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path().to_str().unwrap()).await.unwrap();
    store.insert(records(), InsertMode::Deduplicate).await.unwrap();
    let row = |name: &str, calls, trajectories, errors, flagged, ok, failed| ToolUsageRow {
        tool_name: Some(name.to_string()),
        calls,
        trajectories,
        errors,
        calls_with_error_flag: flagged,
        in_successful: ok,
        in_failed: failed,
    };
    let all = store.tool_usage(None, 1.0).await.unwrap();
    let want = ToolUsage {
        trajectories: 2,
        successful: 1,
        tools: vec![row("bash", 2, 2, 1, 2, 1, 1), row("read", 1, 1, 0, 0, 1, 0)],
    };
    assert_eq!(all, want);
    let r2 = store.tool_usage(Some("`training_id` = 'r2'"), 1.0).await.unwrap();
    assert_eq!(r2, ToolUsage { trajectories: 1, successful: 0, tools: vec![row("bash", 1, 1, 0, 1, 0, 1)] });
    let none = store.tool_usage(Some("`training_id` = 'nobody'"), 1.0).await.unwrap();
    assert_eq!(none, ToolUsage::default());
}
