//! The RL training views through the HTTP server, over a run of 8,192 samples per step
//! (512 prompts x 16 samples), beside the same aggregation in DataFusion over the same
//! columns held in memory (SQL on a `MemTable`, no HTTP).

use std::io::{BufWriter, Write};
use std::sync::Arc;
use std::time::Instant;

use datafusion::arrow::array::{ArrayRef, BooleanArray, Float64Array, Int64Array, StringArray};
use datafusion::arrow::datatypes::{DataType, Field, Schema};
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::datasource::MemTable;
use datafusion::prelude::SessionContext;
use trajstore::demo::Rng;
use trajstore::Trajstore;

use crate::load::{Conn, InProcessServer};
use crate::{import_child, line, memory_handle, time, work_dir};

const PROMPTS: u64 = 512;
const SAMPLES: u64 = 16;
const PER_STEP: u64 = PROMPTS * SAMPLES;

/// A run of `steps` steps as JSONL: each prompt has a difficulty, the policy improves
/// with the step, and one prompt in eight is scored pass/fail (zero-variance groups).
fn write_run(path: &std::path::Path, steps: u64) {
    let mut rng = Rng::new(3);
    let difficulty: Vec<f64> = (0..PROMPTS).map(|_| rng.f64() * 5.0 - 1.0).collect();
    let mut w = BufWriter::with_capacity(1 << 20, std::fs::File::create(path).unwrap());
    for step in 0..steps {
        let skill = step as f64 / steps as f64 * 4.0 - 0.5;
        for p in 0..PROMPTS {
            let p_success = 1.0 / (1.0 + (-(skill - difficulty[p as usize]) * 1.5).exp());
            for s in 0..SAMPLES {
                let success = rng.f64() < p_success;
                let partial = (rng.f64() * 80.0).round() / 100.0;
                let reward = if success {
                    1.0
                } else if p % 8 == 0 {
                    0.0
                } else {
                    partial
                };
                writeln!(
                    w,
                    r#"{{"trajectory_id":"s{step}-p{p}-{s}","training_id":"run-0","iteration_id":{step},"epoch_id":{},"data_id":"prompt-{p}","sample_id":{s},"reward":{reward},"is_success":{success},"input_tokens":{},"output_tokens":{},"steps":[{{"role":"user","content":"Solve prompt {p}."}},{{"role":"assistant","content":"Answer {s}."}}]}}"#,
                    step / 10,
                    900 + (s * 37 + p) % 500,
                    100 + (p * 13 + s) % 300,
                )
                .unwrap();
            }
        }
    }
    w.flush().unwrap();
}

/// The columns the views read, as one in-memory table for DataFusion.
async fn reference_context(store: &Trajstore) -> SessionContext {
    let rows = store.summaries(&Default::default()).await.unwrap();
    let schema = Arc::new(Schema::new(vec![
        Field::new("training_id", DataType::Utf8, true),
        Field::new("iteration_id", DataType::Int64, true),
        Field::new("data_id", DataType::Utf8, true),
        Field::new("reward", DataType::Float64, true),
        Field::new("is_success", DataType::Boolean, true),
        Field::new("step_count", DataType::Int64, false),
    ]));
    let columns: Vec<ArrayRef> = vec![
        Arc::new(rows.iter().map(|r| r.training_id.as_deref()).collect::<StringArray>()),
        Arc::new(rows.iter().map(|r| r.iteration_id).collect::<Int64Array>()),
        Arc::new(rows.iter().map(|r| r.data_id.as_deref()).collect::<StringArray>()),
        Arc::new(rows.iter().map(|r| r.reward).collect::<Float64Array>()),
        Arc::new(rows.iter().map(|r| r.is_success).collect::<BooleanArray>()),
        Arc::new(rows.iter().map(|r| Some(r.step_count)).collect::<Int64Array>()),
    ];
    let batch = RecordBatch::try_new(schema.clone(), columns).unwrap();
    // Two partitions, one per core, as DataFusion would split a scan.
    let half = batch.num_rows() / 2;
    let parts = vec![vec![batch.slice(0, half)], vec![batch.slice(half, batch.num_rows() - half)]];
    let ctx = SessionContext::new();
    ctx.register_table("t", Arc::new(MemTable::try_new(schema, parts).unwrap())).unwrap();
    ctx
}

async fn sql(ctx: &SessionContext, q: &str) {
    std::hint::black_box(ctx.sql(q).await.unwrap().collect().await.unwrap());
}

/// The store of a run of about `n` trajectories, imported once: (its path, steps, total).
fn ensure_run(n: u64) -> (std::path::PathBuf, u64, u64) {
    let steps = n.div_ceil(PER_STEP).max(2);
    let total = steps * PER_STEP;
    let db = work_dir().join(format!("training-{total}"));
    let marker = db.join(".complete");
    if !marker.exists() {
        let file = work_dir().join(format!("training-{total}.jsonl"));
        if !file.exists() {
            write_run(&file, steps);
        }
        let _ = std::fs::remove_dir_all(&db);
        let t = Instant::now();
        let report = import_child(&file, &db, &["--optimize"]);
        println!("  imported {} in {:.1} s", report["imported"], t.elapsed().as_secs_f64());
        std::fs::write(&marker, "").unwrap();
    }
    (db, steps, total)
}

pub async fn bench_training(n: u64) {
    let (db, steps, total) = ensure_run(n);
    println!(
        "\n== training views, {total} trajectories ({steps} steps x {PROMPTS} prompts x {SAMPLES} samples), p50 / p95"
    );
    // As `trajstore serve` runs, with its cache off so that every request computes.
    let store = memory_handle(&Trajstore::open(db.to_str().unwrap()).await.unwrap()).await;
    let server = InProcessServer::start(store.clone()).await;
    let addr = server.addr.clone();
    let ctx = reference_context(&store).await;
    let mut conn = Conn::open(&addr).await.unwrap();
    let (mid, early, late) = (steps / 2, steps / 10, steps - steps / 10 - 1);

    let get = |path: String| {
        let addr = addr.clone();
        async move {
            let mut c = Conn::open(&addr).await.unwrap();
            assert_eq!(c.send("GET", &path, b"").await.unwrap(), 200, "{path}");
        }
    };
    // One step's groups, sorted by spread.
    let groups = format!("/api/groups?training_id=run-0&iteration_id={mid}&sort=spread&page_size=50");
    assert_eq!(conn.send("GET", &groups, b"").await.unwrap(), 200);
    let ours = time(30, || get(groups.clone())).await;
    let q = format!(
        "SELECT data_id, count(*) AS n, avg(reward), stddev_samp(reward), min(reward), max(reward), \
         sum(CAST(is_success AS INT)), avg(step_count), max(reward) - min(reward) AS spread \
         FROM t WHERE training_id = 'run-0' AND iteration_id = {mid} GROUP BY data_id ORDER BY spread DESC LIMIT 50"
    );
    let reference = time(30, || sql(&ctx, &q)).await;
    line("groups of one step, by spread (HTTP)", ours, Some(reference));

    // The per-step curve over the whole run, with the group shares.
    let curve = "/api/curves?x=iteration_id&series=none&training_id=run-0".to_string();
    let ours = time(10, || get(curve.clone())).await;
    let q = "WITH g AS (SELECT iteration_id, data_id, count(*) AS n, sum(reward) AS r, min(reward) AS lo, \
             max(reward) AS hi, sum(CAST(is_success AS INT)) AS s, sum(step_count) AS steps \
             FROM t WHERE training_id = 'run-0' GROUP BY iteration_id, data_id) \
             SELECT iteration_id, sum(n), sum(r) / sum(n), sum(s) / sum(n), sum(steps) / sum(n), \
             avg(CASE WHEN lo = hi THEN 1.0 ELSE 0.0 END), avg(CASE WHEN s = 0 THEN 1.0 ELSE 0.0 END) \
             FROM g GROUP BY iteration_id ORDER BY iteration_id";
    let reference = time(10, || sql(&ctx, q)).await;
    line("per-step curve of the run (HTTP)", ours, Some(reference));

    // Learned and forgotten tasks between two steps.
    let diff = format!(
        "/api/diff-runs?a=training_id%3Drun-0,iteration_id%3D{early}&b=training_id%3Drun-0,iteration_id%3D{late}"
    );
    let ours = time(30, || get(diff.clone())).await;
    let q = format!(
        "WITH a AS (SELECT data_id, avg(CAST(is_success AS DOUBLE)) AS r FROM t \
         WHERE training_id = 'run-0' AND iteration_id = {early} GROUP BY data_id), \
         b AS (SELECT data_id, avg(CAST(is_success AS DOUBLE)) AS r FROM t \
         WHERE training_id = 'run-0' AND iteration_id = {late} GROUP BY data_id) \
         SELECT sum(CASE WHEN a.r < 0.5 AND b.r >= 0.5 THEN 1 ELSE 0 END), \
         sum(CASE WHEN a.r >= 0.5 AND b.r < 0.5 THEN 1 ELSE 0 END), avg(b.r - a.r), \
         sum(CASE WHEN b.r IS NULL THEN 1 ELSE 0 END), sum(CASE WHEN a.r IS NULL THEN 1 ELSE 0 END) \
         FROM a FULL OUTER JOIN b ON a.data_id = b.data_id"
    );
    let reference = time(30, || sql(&ctx, &q)).await;
    line("learned/forgotten between two steps (HTTP)", ours, Some(reference));
    println!(
        "  (reference: DataFusion SQL over the same columns in memory, in process, without the bootstrap interval)"
    );
    server.stop().await;
}
