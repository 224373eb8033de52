//! Read-only SQL: results against values computed here from the records themselves, the
//! statements that are refused (and leave the store and the disk as they were), and each
//! of the limits.

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::Value;
use trajstore::demo::DemoConfig;
use trajstore::{Error, SqlRequest, SqlSettings, Trajectory, Trajstore};

fn request(sql: &str) -> SqlRequest {
    SqlRequest { sql: sql.to_string(), max_rows: None }
}

async fn demo_store(dir: &std::path::Path, settings: SqlSettings) -> (Trajstore, Vec<Trajectory>) {
    let uri = dir.join("db");
    let store = Trajstore::builder(uri.to_str().unwrap()).sql_settings(settings).open().await.unwrap();
    let cfg = DemoConfig { prompts: 5, runs: 2, epochs: 3, large_observation_rate: 0.0, ..Default::default() };
    let rows: Vec<Trajectory> = cfg.lines().map(|l| Trajectory::from_json(l.as_bytes()).unwrap()).collect();
    store.add(rows.clone()).await.unwrap();
    (store, rows)
}

#[tokio::test(flavor = "multi_thread")]
async fn group_by_run_and_epoch_equals_a_computation_over_the_records() {
    let dir = tempfile::tempdir().unwrap();
    let (store, rows) = demo_store(dir.path(), SqlSettings::default()).await;
    let sql = "SELECT training_id, epoch_id, count(*) AS n, sum(CASE WHEN is_success THEN 1 ELSE 0 END) AS ok, \
               avg(reward) AS mean_reward, max(created_at) AS last \
               FROM trajectories GROUP BY training_id, epoch_id ORDER BY training_id, epoch_id";
    let answer = store.sql(&request(sql)).await.unwrap().answer().unwrap();
    let names: Vec<&str> = answer.columns.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(names, ["training_id", "epoch_id", "n", "ok", "mean_reward", "last"]);
    assert_eq!(answer.columns[2].ty, "Int64");
    assert!(answer.columns[5].ty.starts_with("Timestamp"), "{}", answer.columns[5].ty);

    let mut want: BTreeMap<(String, i64), (u64, u64, f64, i64)> = BTreeMap::new();
    for t in &rows {
        let e = want.entry((t.training_id.clone().unwrap(), t.epoch_id.unwrap())).or_default();
        e.0 += 1;
        e.1 += u64::from(t.is_success == Some(true));
        e.2 += t.reward.unwrap();
        e.3 = e.3.max(t.created_at.unwrap());
    }
    assert_eq!(answer.rows.len(), want.len());
    assert!(!answer.truncated);
    for (row, ((run, epoch), (n, ok, sum, last))) in answer.rows.iter().zip(&want) {
        assert_eq!(row[0], Value::from(run.as_str()));
        assert_eq!(row[1], Value::from(*epoch));
        assert_eq!(row[2], Value::from(*n));
        assert_eq!(row[3], Value::from(*ok));
        assert!((row[4].as_f64().unwrap() - sum / *n as f64).abs() < 1e-9, "{row:?}");
        assert_eq!(row[5], Value::from(trajstore::format_timestamp(*last)), "{row:?}");
    }

    // Lists come back as arrays, nulls as null; the internal columns are not there.
    let answer = store.sql(&request("SELECT tags, notes FROM trajectories LIMIT 1")).await.unwrap().answer().unwrap();
    assert_eq!(answer.rows[0], vec![Value::Array(vec![]), Value::Null]);
    for internal in ["write_id", "metadata_kv"] {
        let e = store.sql(&request(&format!("SELECT {internal} FROM trajectories"))).await.unwrap_err();
        assert!(matches!(&e, Error::InvalidParameter { parameter, .. } if parameter == "sql"), "{e}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn statements_that_write_or_read_files_are_refused_and_change_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let (store, rows) = demo_store(dir.path(), SqlSettings::default()).await;
    let version = store.version().await.unwrap();
    let outside = dir.path().join("outside.csv");
    std::fs::write(&outside, "a,b\n1,2\n").unwrap();
    let copied = dir.path().join("copied.csv");
    let refused = [
        ("INSERT INTO trajectories (trajectory_id) VALUES ('x')", "INSERT"),
        ("DELETE FROM trajectories", "DELETE"),
        ("UPDATE trajectories SET notes = 'x'", "UPDATE"),
        ("DROP TABLE trajectories", "DROP TABLE"),
        ("CREATE TABLE t AS SELECT * FROM trajectories", "CREATE TABLE"),
        ("CREATE VIEW v AS SELECT 1", "CREATE VIEW"),
        (&format!("CREATE EXTERNAL TABLE t STORED AS CSV LOCATION '{}'", outside.display()), "CREATE EXTERNAL TABLE"),
        (&format!("COPY (SELECT * FROM trajectories) TO '{}'", copied.display()), "COPY"),
        ("SET datafusion.execution.batch_size = 1", "SET"),
        ("EXPLAIN SELECT 1", "EXPLAIN"),
    ];
    for (sql, kind) in refused {
        let e = store.sql(&request(sql)).await.unwrap_err();
        let Error::InvalidParameter { parameter, message } = &e else { panic!("{sql}: {e}") };
        assert_eq!(parameter, "sql");
        assert!(message.contains("only queries that read") && message.ends_with(kind), "{sql}: {message}");
    }
    // A path or a URL is not a table, and two statements are not one.
    for sql in [
        format!("SELECT * FROM '{}'", outside.display()),
        "SELECT 1; DELETE FROM trajectories".to_string(),
        "SELECT nope FROM trajectories".to_string(),
        String::new(),
    ] {
        let e = store.sql(&request(&sql)).await.unwrap_err();
        assert!(matches!(&e, Error::InvalidParameter { parameter, .. } if parameter == "sql"), "{sql}: {e}");
    }
    assert!(!copied.exists());
    assert_eq!(store.version().await.unwrap(), version);
    let n = store.sql(&request("SELECT count(*) FROM trajectories")).await.unwrap().answer().unwrap();
    assert_eq!(n.rows[0][0], Value::from(rows.len()));
}

#[tokio::test(flavor = "multi_thread")]
async fn each_limit_is_reported_when_hit() {
    let dir = tempfile::tempdir().unwrap();
    let settings = SqlSettings { max_rows: 25, timeout: Duration::from_millis(500), memory_bytes: 1 << 20 };
    let (store, rows) = demo_store(dir.path(), settings).await;
    assert!(rows.len() > 25);

    let all = store.sql(&request("SELECT trajectory_id FROM trajectories")).await.unwrap();
    let answer = all.answer().unwrap();
    assert_eq!((answer.rows.len(), answer.truncated, answer.row_limit), (25, true, 25));
    let fewer = SqlRequest { max_rows: Some(3), ..request("SELECT trajectory_id FROM trajectories") };
    assert_eq!(store.sql(&fewer).await.unwrap().rows(), 3);
    let exact = store.sql(&request("SELECT value FROM generate_series(1, 25)")).await.unwrap().answer().unwrap();
    assert_eq!((exact.rows.len(), exact.truncated), (25, false));
    let more = SqlRequest { max_rows: Some(1000), ..request("SELECT trajectory_id FROM trajectories") };
    let capped = store.sql(&more).await.unwrap();
    assert_eq!((capped.rows(), capped.row_limit(), capped.truncated()), (25, 25, true), "capped by the server's limit");
    let none = SqlRequest { max_rows: Some(0), ..request("SELECT 1") };
    let e = store.sql(&none).await.unwrap_err();
    assert!(matches!(&e, Error::InvalidParameter { parameter, .. } if parameter == "max_rows"), "{e}");

    let e = store.sql(&request("SELECT count(*) FROM generate_series(1, 100000000000)")).await.unwrap_err();
    assert!(matches!(&e, Error::LimitExceeded { limit: "time", .. }), "{e}");
    assert!(e.to_string().contains("time limit of 0.5 s"), "{e}");

    let e = store.sql(&request("SELECT count(DISTINCT value) FROM generate_series(1, 3000000)")).await.unwrap_err();
    assert!(matches!(&e, Error::LimitExceeded { limit: "memory", .. }), "{e}");
    assert!(e.to_string().contains("memory than its limit of 1 MB"), "{e}");
}
