//! Analysis benchmarks: SQL over the store, and the failure-mode analysis.
//!
//! * `sql`: a GROUP BY over `trajectories` and the error rate per tool over `tool_calls`
//!   on the demo store, beside the same GROUP BY over the summary rows held in memory.
//! * `failure-modes`: the analysis of N failed trajectories of planted kinds, each stage
//!   timed, beside the serde_json parse of the same records (one thread).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use trajstore::demo::planted_failures;
use trajstore::{FailureModesProgress, FailureModesRequest, FilterSet, SqlRequest, Trajectory, Trajstore};

/// A (training_id, epoch_id) group.
type RunEpoch<'a> = (Option<&'a str>, Option<i64>);

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

async fn sql_ms(store: &Trajstore, sql: &str, reps: usize) -> (f64, usize) {
    let mut times = Vec::new();
    let mut rows = 0;
    for _ in 0..reps {
        let started = Instant::now();
        let r = store.sql(&SqlRequest { sql: sql.to_string(), max_rows: None }).await.unwrap();
        times.push(started.elapsed().as_secs_f64() * 1e3);
        rows = r.rows();
    }
    (median(times), rows)
}

pub async fn bench_sql(ns: &[u64]) {
    for &n in ns {
        let (_, store, total) = crate::ensure_store(n).await;
        println!("sql over {total} trajectories (median of 5)");
        let rows = store.summaries(&FilterSet::default()).await.unwrap();
        let mut times = Vec::new();
        for _ in 0..5 {
            let started = Instant::now();
            let mut groups: HashMap<RunEpoch<'_>, (u64, f64)> = HashMap::new();
            for r in &rows {
                let g = groups.entry((r.training_id.as_deref(), r.epoch_id)).or_default();
                g.0 += 1;
                g.1 += r.reward.unwrap_or(0.0);
            }
            std::hint::black_box(&groups);
            times.push(started.elapsed().as_secs_f64() * 1e3);
        }
        let reference = median(times);
        println!("  reference: the same GROUP BY over the rows in memory      {reference:>8.1} ms");
        let (ms, groups) = sql_ms(
            &store,
            "SELECT training_id, epoch_id, count(*), avg(reward) FROM trajectories GROUP BY training_id, epoch_id",
            5,
        )
        .await;
        println!("  GROUP BY training_id, epoch_id over trajectories ({groups} groups) {ms:>8.1} ms");
        let (ms, tools) = sql_ms(
            &store,
            "SELECT tool_name, count(*) AS calls, avg(CASE WHEN result_is_error THEN 1.0 ELSE 0.0 END) AS error_rate \
             FROM tool_calls GROUP BY tool_name",
            3,
        )
        .await;
        println!("  error rate per tool over tool_calls ({tools} tools)            {ms:>8.1} ms");
        let (ms, _) = sql_ms(
            &store,
            "SELECT t.training_id, c.tool_name, count(*) FROM tool_calls c JOIN trajectories t \
             ON c.trajectory_id = t.trajectory_id GROUP BY 1, 2",
            3,
        )
        .await;
        println!("  calls per tool per run (a join to trajectories)                {ms:>8.1} ms");
    }
}

/// A store of `n` failed trajectories of planted kinds (generated once).
async fn failures_store(n: u64) -> (Trajstore, Vec<String>) {
    let per_kind = (n as usize).div_ceil(4);
    let lines: Vec<String> = planted_failures(per_kind, 42).into_iter().map(|(l, _)| l).collect();
    let db = crate::work_dir().join(format!("failures-{}", lines.len()));
    let marker = db.join(".complete");
    let store = Trajstore::open(db.to_str().unwrap()).await.unwrap();
    if !marker.exists() {
        for chunk in lines.chunks(20_000) {
            let rows: Vec<Trajectory> = chunk.iter().map(|l| Trajectory::from_json(l.as_bytes()).unwrap()).collect();
            store.add(rows).await.unwrap();
        }
        store.optimize().await.unwrap();
        std::fs::write(&marker, "").unwrap();
    }
    (store, lines)
}

pub async fn bench_failure_modes(ns: &[u64]) {
    for &n in ns {
        let (store, lines) = failures_store(n).await;
        let started = Instant::now();
        for l in &lines {
            std::hint::black_box(serde_json::from_str::<serde_json::Value>(l).unwrap());
        }
        let reference = started.elapsed().as_secs_f64();
        println!("failure modes over {} failed trajectories", lines.len());
        println!("  reference: serde_json parse of the same records, one thread   {reference:>7.2} s");
        for k in ["auto", "8"] {
            let progress = Arc::new(FailureModesProgress::default());
            let watcher = {
                let progress = progress.clone();
                tokio::spawn(async move {
                    let (mut stage, mut since, mut out) = (progress.stage(), Instant::now(), Vec::new());
                    loop {
                        tokio::time::sleep(Duration::from_millis(20)).await;
                        let now = progress.stage();
                        if now != stage {
                            out.push((stage, since.elapsed().as_secs_f64()));
                            (stage, since) = (now, Instant::now());
                        }
                        if now == "done" {
                            return out;
                        }
                    }
                })
            };
            let request = FailureModesRequest::parse([("k", k)]).unwrap();
            let started = Instant::now();
            let run = store.failure_modes(&request, progress).await.unwrap();
            let seconds = started.elapsed().as_secs_f64();
            let stages = watcher.await.unwrap();
            let stages: Vec<String> = stages.iter().map(|(s, t)| format!("{s} {t:.1} s")).collect();
            println!(
                "  k={k:<4} {} clusters in {seconds:>6.2} s = {:.1}x the reference ({})",
                run.clusters.len(),
                seconds / reference,
                stages.join(", ")
            );
        }
    }
}
