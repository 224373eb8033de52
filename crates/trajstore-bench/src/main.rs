//! trajstore benchmarks. Each figure is printed beside a reference measured in the same
//! run on the same machine, so that a ratio can be read:
//! * import (the command, the import proper, the index catch-up, search before and
//!   after it): parsing every line of the same file into `serde_json::Value` on one thread;
//! * queries and statistics: the same work over the same rows already in memory.
//!
//! Usage (release build; data is generated, never committed):
//!   trajstore-bench import --n 10000 --n 100000 [--dir DIR] [--bin PATH] [--reps N]
//!   trajstore-bench query --n 100000 [--dir DIR]
//!   trajstore-bench stats --n 100000 [--dir DIR]
//!   trajstore-bench search --n 100000 [--dir DIR]
//!   trajstore-bench sql --n 1000000
//!   trajstore-bench failure-modes --n 100000
//!   trajstore-bench load --n 100000 [--clients 50] [--seconds 30]
//!   trajstore-bench object-store --n 100000 --remote s3://BUCKET/PREFIX [--reps 3]
//!   trajstore-bench all --n 10000 --n 100000

mod analysis;
mod import;
mod load;
mod object_store;
mod search;
mod training;

use std::collections::HashMap;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use trajstore::demo::DemoConfig;
use trajstore::{CurveRequest, ImportOptions, Input, ListRequest, StatsRequest, Summary, Trajstore};

fn args_after(name: &str) -> Vec<String> {
    let args: Vec<String> = std::env::args().collect();
    args.windows(2).filter(|w| w[0] == name).map(|w| w[1].clone()).collect()
}

fn work_dir() -> PathBuf {
    let dir =
        args_after("--dir").pop().map(PathBuf::from).unwrap_or_else(|| std::env::temp_dir().join("trajstore-bench"));
    std::fs::create_dir_all(&dir).expect("bench dir");
    dir
}

/// A numeric field of /proc/PID/FILE (the first number after `key`; PID may be `self`).
fn proc_field(pid: impl std::fmt::Display, file: &str, key: &str) -> u64 {
    let text = std::fs::read_to_string(format!("/proc/{pid}/{file}")).unwrap_or_default();
    text.lines()
        .find(|l| l.starts_with(key))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

/// Peak resident memory of this process, from /proc.
fn peak_rss_mb() -> f64 {
    proc_field("self", "status", "VmHWM:") as f64 / 1024.0
}

fn percentile(samples: &mut [Duration], p: f64) -> f64 {
    samples.sort();
    let i = ((p * samples.len() as f64).ceil() as usize).clamp(1, samples.len()) - 1;
    samples[i].as_secs_f64() * 1000.0
}

/// The demo data set of (about) `n` trajectories as a JSONL file, generated once.
fn data_file(n: u64) -> (PathBuf, u64, u64) {
    let cfg = DemoConfig::with_total(n, 42);
    let path = work_dir().join(format!("demo-{}.jsonl", cfg.total()));
    if !path.exists() {
        let tmp = path.with_extension("tmp");
        let mut w = BufWriter::with_capacity(1 << 20, std::fs::File::create(&tmp).unwrap());
        for line in cfg.lines() {
            w.write_all(line.as_bytes()).unwrap();
            w.write_all(b"\n").unwrap();
        }
        w.flush().unwrap();
        std::fs::rename(&tmp, &path).unwrap();
    }
    let bytes = std::fs::metadata(&path).unwrap().len();
    (path, cfg.total(), bytes)
}

/// Runs one import in a child process (so its peak memory is its own) and returns its report.
fn import_child(file: &Path, db: &Path, extra: &[&str]) -> serde_json::Value {
    let out = Command::new(std::env::current_exe().unwrap())
        .args(["import-child", file.to_str().unwrap(), db.to_str().unwrap()])
        .args(extra)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap()
}

async fn run_import_child() {
    let args: Vec<String> = std::env::args().collect();
    let (file, db) = (&args[2], &args[3]);
    let optimize = args.iter().any(|a| a == "--optimize");
    let store = Trajstore::open(db).await.unwrap();
    let started = Instant::now();
    let opts = ImportOptions::default();
    let report = store.import(vec![Input::File(file.into())], opts, Default::default()).await.unwrap();
    let import_s = started.elapsed().as_secs_f64();
    let import_rss_mb = peak_rss_mb();
    let mut indexes = Vec::new();
    let optimize_s = if optimize {
        let t = Instant::now();
        indexes = store.optimize().await.unwrap().indexes_created.into_iter().map(|i| (i.name, i.seconds)).collect();
        t.elapsed().as_secs_f64()
    } else {
        0.0
    };
    println!(
        "{}",
        serde_json::json!({"imported": report.imported, "skipped": report.skipped, "failed": report.failed, "import_s": import_s, "optimize_s": optimize_s, "indexes": indexes, "import_rss_mb": import_rss_mb, "peak_rss_mb": peak_rss_mb()})
    );
}

/// A store of about `n` trajectories, imported once and kept in the work directory.
async fn ensure_store(n: u64) -> (Trajstore, Trajstore, u64) {
    let (file, total, _) = data_file(n);
    let db = work_dir().join(format!("import-{total}"));
    let marker = db.join(".complete");
    if !marker.exists() {
        let _ = std::fs::remove_dir_all(&db);
        import_child(&file, &db, &["--optimize"]);
        std::fs::write(&marker, "").unwrap();
    }
    let uri = db.to_str().unwrap();
    (Trajstore::builder(uri).cache(0, 0).open().await.unwrap(), Trajstore::open(uri).await.unwrap(), total)
}

/// An uncached handle answering from its in-memory index, as `trajstore serve` does.
async fn memory_handle(uncached: &Trajstore) -> Trajstore {
    let memory = Trajstore::builder(uncached.uri()).cache(0, 0).memory_index(true).open().await.unwrap();
    let t = Instant::now();
    let info = memory.warm_memory_index().await.unwrap().expect("no writes while it is read");
    println!(
        "  in-memory index: {} rows, {} MiB, built in {:.2} s",
        info.rows,
        info.bytes >> 20,
        t.elapsed().as_secs_f64()
    );
    memory
}

fn req(pairs: &[(&str, &str)]) -> ListRequest {
    ListRequest::parse(pairs.iter().copied()).unwrap()
}

/// Times `f` `reps` times after two warm-up runs; returns (p50, p95) in ms.
async fn time<F, Fut>(reps: usize, mut f: F) -> (f64, f64)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    for _ in 0..2 {
        f().await;
    }
    let mut samples = Vec::with_capacity(reps);
    for _ in 0..reps {
        let t = Instant::now();
        f().await;
        samples.push(t.elapsed());
    }
    (percentile(&mut samples, 0.5), percentile(&mut samples, 0.95))
}

fn time_sync(reps: usize, mut f: impl FnMut()) -> (f64, f64) {
    f();
    let mut samples = Vec::with_capacity(reps);
    for _ in 0..reps {
        let t = Instant::now();
        f();
        samples.push(t.elapsed());
    }
    (percentile(&mut samples, 0.5), percentile(&mut samples, 0.95))
}

fn line(label: &str, ours: (f64, f64), reference: Option<(f64, f64)>) {
    let r = reference.map_or(String::from("      -"), |r| format!("{:>7.2} / {:>7.2}", r.0, r.1));
    println!("  {label:<46} {:>8.2} / {:>8.2} ms   reference {r} ms", ours.0, ours.1);
}

/// The in-memory reference of a list query: filter, full sort, slice.
fn reference_page<'a>(
    rows: &'a [Summary],
    keep: &dyn Fn(&Summary) -> bool,
    offset: usize,
    limit: usize,
) -> Vec<&'a Summary> {
    let mut hits: Vec<&Summary> = rows.iter().filter(|r| keep(r)).collect();
    hits.sort_by(|a, b| {
        b.reward.partial_cmp(&a.reward).unwrap_or(std::cmp::Ordering::Equal).then(a.trajectory_id.cmp(&b.trajectory_id))
    });
    hits.into_iter().skip(offset).take(limit).collect()
}

async fn bench_query(ns: &[u64]) {
    for &n in ns {
        let (uncached, cached, total) = ensure_store(n).await;
        let rows = uncached.summaries(&Default::default()).await.unwrap();
        println!("\n== queries on {total} trajectories: p50 / p95 over 30 runs (uncached unless said)");
        let memory = memory_handle(&uncached).await;
        let one = [("training_id", "run-2"), ("sort", "reward"), ("order", "desc")];
        let four = [
            ("training_id", "run-2"),
            ("epoch_id_min", "2"),
            ("termination_reason", "success,timeout"),
            ("reward_min", "0.2"),
            ("sort", "reward"),
            ("order", "desc"),
        ];
        let keep1 = |r: &Summary| r.training_id.as_deref() == Some("run-2");
        let keep4 = |r: &Summary| {
            keep1(r)
                && r.epoch_id.is_some_and(|e| e >= 2)
                && matches!(r.termination_reason.as_deref(), Some("success" | "timeout"))
                && r.reward.is_some_and(|x| x >= 0.2)
        };
        let mut p500_one = one.to_vec();
        p500_one.push(("page", "500"));
        let mut p500_four = four.to_vec();
        p500_four.push(("page", "500"));
        let no_filter = [("sort", "created_at"), ("order", "desc")];
        // The references: the same work over rows already in memory, in plain Rust.
        let references = [
            time_sync(30, || {
                let mut v: Vec<&Summary> = rows.iter().collect();
                v.sort_by(|a, b| b.created_at.cmp(&a.created_at).then(a.trajectory_id.cmp(&b.trajectory_id)));
                std::hint::black_box(v.len());
            }),
            time_sync(30, || {
                std::hint::black_box(reference_page(&rows, &keep1, 0, 20));
            }),
            time_sync(30, || {
                std::hint::black_box(reference_page(&rows, &keep4, 0, 20));
            }),
            time_sync(30, || {
                std::hint::black_box(reference_page(&rows, &keep1, 499 * 20, 20));
            }),
            time_sync(30, || {
                std::hint::black_box(reference_page(&rows, &keep4, 499 * 20, 20));
            }),
            time_sync(30, || {
                std::hint::black_box(rows.iter().filter(|r| keep4(r)).count());
            }),
        ];
        let filters = req(&four).filters;
        let pages: [(&str, &[(&str, &str)]); 5] = [
            ("page 1, no filter, sort created_at, with total", &no_filter),
            ("page 1, 1 filter, sort reward desc, with total", &one),
            ("page 1, 4 filters, sort reward desc, with total", &four),
            ("page 500, 1 filter, sort reward desc", &p500_one),
            ("page 500, 4 filters, sort reward desc", &p500_four),
        ];
        let ids: Vec<String> = rows.iter().step_by(rows.len() / 50 + 1).map(|r| r.trajectory_id.clone()).collect();
        for (mode, store) in [
            ("in-memory index (as `trajstore serve` answers)", &memory),
            ("Lance scans (as one-shot CLI commands answer)", &uncached),
        ] {
            println!("  -- {mode}");
            query_mode(store, &pages, &filters, &ids, &references).await;
        }
        println!("  -- either");
        let r = time(200, || async {
            std::hint::black_box(cached.list(&req(&four)).await.unwrap());
        })
        .await;
        line("cache hit (page 1, 4 filters)", r, None);
    }
}

/// The list, count, cursor and get timings of one store handle; `references[i]` is the
/// in-memory reference of `pages[i]`, `references[5]` that of the count.
async fn query_mode(
    store: &Trajstore,
    pages: &[(&str, &[(&str, &str)])],
    filters: &trajstore::FilterSet,
    ids: &[String],
    references: &[(f64, f64)],
) {
    for (i, &(label, pairs)) in pages.iter().enumerate() {
        let r = time(30, || async {
            std::hint::black_box(store.list(&req(pairs)).await.unwrap());
        })
        .await;
        line(label, r, Some(references[i]));
    }
    let r = time(30, || async {
        std::hint::black_box(store.count(filters).await.unwrap());
    })
    .await;
    line("exact total alone, 4 filters", r, Some(references[5]));
    let one = pages[1].1;
    let r = time(10, || async {
        let mut cursor: Option<String> = None;
        for _ in 0..10 {
            let mut p = one.to_vec();
            if let Some(c) = &cursor {
                p.push(("cursor", c.as_str()));
            }
            let page = store.list(&req(&p)).await.unwrap();
            cursor = page.next_cursor.clone();
        }
    })
    .await;
    line("10-page cursor walk, 1 filter (whole walk)", r, None);
    let mut i = 0;
    let r = time(50, || {
        i += 1;
        let id = ids[i % ids.len()].clone();
        async move {
            std::hint::black_box(store.get(&id).await.unwrap());
        }
    })
    .await;
    line("one full trajectory by id (with steps)", r, None);
}

async fn bench_stats(ns: &[u64]) {
    for &n in ns {
        let (uncached, cached, total) = ensure_store(n).await;
        let rows = uncached.summaries(&Default::default()).await.unwrap();
        println!("\n== statistics on {total} trajectories: p50 / p95 over 10 runs");
        let memory = memory_handle(&uncached).await;
        let overall = StatsRequest::parse([("k", "1")]).unwrap();
        let grouped = StatsRequest::parse([("group_by", "training_id,epoch_id"), ("k", "1,8")]).unwrap();
        let curve = CurveRequest::parse([("x", "epoch_id"), ("series", "training_id"), ("k", "1,8")]).unwrap();
        // Reference: the same grouping and counting over rows already in memory.
        let reference_grouped = || {
            // (training_id, epoch_id) -> data_id -> (attempts, successes)
            type Group<'a> = (Option<&'a str>, Option<i64>);
            let mut groups: HashMap<Group, HashMap<&str, (u64, u64)>> = HashMap::new();
            let mut rewards: HashMap<Group, Vec<f64>> = HashMap::new();
            for r in &rows {
                let key = (r.training_id.as_deref(), r.epoch_id);
                let ok = r.is_success.unwrap_or(r.reward.is_some_and(|x| x >= 1.0));
                let t = groups.entry(key).or_default().entry(r.data_id.as_deref().unwrap_or("")).or_default();
                t.0 += 1;
                t.1 += ok as u64;
                if let Some(x) = r.reward {
                    rewards.entry(key).or_default().push(x);
                }
            }
            for v in rewards.values_mut() {
                v.sort_by(f64::total_cmp);
            }
            std::hint::black_box((groups.len(), rewards.len()));
        };
        let reference_overall = time_sync(10, || {
            let mut v: Vec<f64> = rows.iter().filter_map(|r| r.reward).collect();
            v.sort_by(f64::total_cmp);
            std::hint::black_box(v.len());
        });
        let reference = time_sync(10, reference_grouped);
        for (mode, store) in [
            ("in-memory index (as `trajstore serve` answers)", &memory),
            ("Lance scans (as one-shot CLI commands answer)", &uncached),
        ] {
            println!("  -- {mode}");
            let r = time(10, || async {
                std::hint::black_box(store.statistics(&overall).await.unwrap());
            })
            .await;
            line("overall, uncached", r, Some(reference_overall));
            let r = time(10, || async {
                std::hint::black_box(store.statistics(&grouped).await.unwrap());
            })
            .await;
            line("by (training_id, epoch_id), k = 1,8, uncached", r, Some(reference));
            let r = time(10, || async {
                std::hint::black_box(store.curve(&curve).await.unwrap());
            })
            .await;
            line("curve epoch_id x training_id, uncached", r, Some(reference));
        }
        println!("  -- either");
        let r = time(200, || async {
            std::hint::black_box(cached.statistics(&grouped).await.unwrap());
        })
        .await;
        line("grouped, cached", r, None);
    }
}

const USAGE: &str = "\
trajstore-bench: release-mode benchmarks, each figure beside a reference measured in the
same run. Data is generated into the work directory (default: $TMPDIR/trajstore-bench).

Usage: trajstore-bench COMMAND [--n N]... [--dir DIR] [options]

Commands:
  import    serde_json parse of the generated file (the reference); the `trajstore import`
            command end to end (a child process: time, peak RSS, rows left unindexed);
            the full-text index catch-up (fold_indexes) on the store it wrote; full-text
            search before and after the catch-up (same rows required); the import
            in-process, optimize and a re-import
  query     list, count, cursor and get timings
  stats     statistics and curves
  search    embedding throughput, similarity and full-text search
  sql       SQL: GROUP BY over trajectories, error rate per tool over tool_calls, beside
            the same GROUP BY over the rows in memory
  failure-modes  the failure-mode analysis of N planted failures, each stage timed,
            beside the serde_json parse of the same records
  load      concurrent clients against the server
  object-store  the same store on an S3 endpoint (AWS_* variables; --remote URI) and on
            a local directory: import, optimize, server start to first page, list and
            statistics p50 (first call and cached), bytes read per list request
            (scripts/bench-object-store.sh runs it on SeaweedFS on loopback)
  training  the training views
  all       import, query and stats

Options:
  --n N           about N trajectories (repeatable; default 10000 and 100000)
  --dir DIR       work directory for generated files and stores
  --bin PATH      (import) the trajstore binary to run (default: beside this one)
  --remote URI    (object-store) where the object-store copy goes, s3://BUCKET/PREFIX
  --reps N        (object-store) server starts on each store (default 3)
                  (import) timed runs of each full-text query (default 5; at least 3,
                  fewer than N once a query has taken 30 s)
  --clients N     (load) concurrent clients (default 50)
  --seconds N     (load) duration (default 30)
  -h, --help      print this and exit

Build both binaries in release: cargo build --release -p trajstore-bench -p trajstore-cli
";

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.iter().skip(1).any(|a| a == "--help" || a == "-h") {
        print!("{USAGE}");
        return;
    }
    // As the trajstore binary does.
    // SAFETY: no other thread exists yet (only the arguments were read).
    unsafe { trajstore::configure_process() };
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    let mut ns: Vec<u64> = args_after("--n").iter().map(|s| s.parse().expect("--n takes an integer")).collect();
    if ns.is_empty() {
        ns = vec![10_000, 100_000];
    }
    match args.get(1).map(String::as_str) {
        Some("import-child") => rt.block_on(run_import_child()),
        Some("import") => import::bench_import(&rt, &ns),
        Some("query") => rt.block_on(bench_query(&ns)),
        Some("stats") => rt.block_on(bench_stats(&ns)),
        Some("search") => rt.block_on(search::bench_search(&ns)),
        Some("sql") => rt.block_on(analysis::bench_sql(&ns)),
        Some("failure-modes") => rt.block_on(analysis::bench_failure_modes(&ns)),
        Some("object-store") => rt.block_on(object_store::bench_object_store(&ns)),
        Some("training") => rt.block_on(async {
            for &n in &ns {
                training::bench_training(n).await;
            }
        }),
        Some("load") => rt.block_on(async {
            let clients = args_after("--clients").pop().map_or(50, |c| c.parse().expect("--clients takes an integer"));
            let seconds = args_after("--seconds").pop().map_or(30, |c| c.parse().expect("--seconds takes an integer"));
            for &n in &ns {
                let (_, cached, total) = ensure_store(n).await;
                load::bench_load(cached, total, clients, seconds).await;
            }
        }),
        Some("all") => {
            import::bench_import(&rt, &ns);
            rt.block_on(bench_query(&ns));
            rt.block_on(bench_stats(&ns));
        }
        _ => {
            eprint!("{USAGE}");
            std::process::exit(2);
        }
    }
    rt.shutdown_background();
}
