//! `trajstore-bench import --n N`: what a user waits for when importing one generated
//! file, each figure beside the serde_json parse of the same file (MB/s, % of it):
//! * the `trajstore import` command end to end, as a user runs it (a child process,
//!   start to exit, with its peak memory and the rows it left out of the full-text index);
//! * the import proper in-process (then `optimize`), and a re-import of the same file;
//! * the index catch-up on the store the command wrote (`fold_indexes`);
//! * full-text search before and after that catch-up, whose results must be the same.

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use trajstore::search::MAX_RESULTS;
use trajstore::{FilterSet, Input, Trajstore};

use crate::{args_after, data_file, import_child, percentile, work_dir};

/// Full-text queries: words of the generated questions, thoughts, tool outputs and
/// answers, and (last) a line number only the rare large tool outputs reach, which
/// matches a few rows in ten thousand.
const TEXT_QUERIES: [&str; 4] = ["parser", "memory leak connection pool", "traceback", "5555"];
/// Results per query, as `trajstore search` shows by default.
const SEARCH_LIMIT: usize = 20;
/// Timed runs of each query: at least this many, more (up to `--reps`) within the budget.
const MIN_RUNS: usize = 3;
const QUERY_BUDGET: Duration = Duration::from_secs(30);

/// The serde_json reference and one of our figures, in the same row layout.
fn rate_line(label: &str, seconds: f64, mb: f64, reference: f64) {
    println!(
        "  {label:<61}{seconds:>7.2} s  {:>6.0} MB/s  = {:.0}% of reference",
        mb / seconds,
        100.0 * reference / seconds
    );
}

pub fn bench_import(rt: &tokio::runtime::Runtime, ns: &[u64]) {
    for &n in ns {
        let (file, total, bytes) = data_file(n);
        let mb = bytes as f64 / 1e6;
        println!(
            "\n== import: {total} generated trajectories, {mb:.0} MB ({:.1} KB each)",
            bytes as f64 / total as f64 / 1e3
        );
        let reference = reference_parse(&file);
        println!(
            "  reference: serde_json::Value parse of every line, 1 thread   {reference:>7.2} s  {:>6.0} MB/s",
            mb / reference
        );
        let parse_only = ours_parse_only(&file);
        println!(
            "  ours: read, parse and validate only (no storage), all cores {parse_only:>7.2} s  {:>6.0} MB/s",
            mb / parse_only
        );
        let facts = facts_only(&file, total);
        println!(
            "  ours: step and call facts alone, 1 thread (from a sample)     {facts:>7.2} s  = {:.0}% of the reference's time",
            100.0 * facts / reference
        );
        let cli_db = cli_import(&file, total, mb, reference);
        rt.block_on(catch_up(&cli_db, mb, reference));
        let _ = std::fs::remove_dir_all(&cli_db);
        in_process_import(&file, total, mb, reference);
    }
}

/// Reads the file once, so that the reference (measured first) does not also pay for
/// reading it from disk while the runs after it find it in the page cache.
fn warm_page_cache(path: &Path) {
    let mut file = std::fs::File::open(path).unwrap();
    std::io::copy(&mut file, &mut std::io::sink()).unwrap();
}

pub(crate) fn reference_parse(path: &Path) -> f64 {
    warm_page_cache(path);
    let started = Instant::now();
    let mut reader = BufReader::with_capacity(1 << 20, std::fs::File::open(path).unwrap());
    let mut line = Vec::new();
    let mut n = 0u64;
    while reader.read_until(b'\n', &mut line).unwrap() > 0 {
        let v: serde_json::Value = serde_json::from_slice(&line).unwrap();
        n += v.is_object() as u64;
        line.clear();
    }
    std::hint::black_box(n);
    started.elapsed().as_secs_f64()
}

/// The import's parsing stage alone: records are validated and dropped.
fn ours_parse_only(path: &Path) -> f64 {
    let started = Instant::now();
    let progress = std::sync::Arc::new(trajstore::ingest::Progress::default());
    let mut n = 0u64;
    trajstore::ingest::read_input(&Input::File(path.into()), &progress, &mut |item| {
        n += matches!(item, trajstore::ingest::Item::Record(..)) as u64;
        true
    })
    .unwrap();
    std::hint::black_box(n);
    started.elapsed().as_secs_f64()
}

/// What deriving the facts behind the SQL tables `steps` and `tool_calls` costs the
/// import, in seconds of one thread for the whole file: `step_facts` timed alone over the
/// steps of the first [`FACTS_SAMPLE`] records (held in memory, so that nothing else runs
/// meanwhile), scaled to all records.
fn facts_only(path: &Path, total: u64) -> f64 {
    let progress = std::sync::Arc::new(trajstore::ingest::Progress::default());
    let mut steps = Vec::new();
    trajstore::ingest::read_input(&Input::File(path.into()), &progress, &mut |item| {
        if let trajstore::ingest::Item::Record(_, t) = item {
            steps.push(t.steps_json);
        }
        steps.len() < FACTS_SAMPLE
    })
    .unwrap();
    let started = Instant::now();
    for s in &steps {
        std::hint::black_box(trajstore_model::step_facts::step_facts(s));
    }
    started.elapsed().as_secs_f64() * total as f64 / steps.len().max(1) as f64
}

/// Records whose facts [`facts_only`] times.
const FACTS_SAMPLE: usize = 20_000;

/// The import proper in a child of this benchmark (so that its peak memory is its own),
/// then `optimize`, then the same file again (every record a duplicate).
fn in_process_import(file: &Path, total: u64, mb: f64, reference: f64) {
    println!("  -- the import in-process (the library call `trajstore import` makes)");
    let db = work_dir().join(format!("import-{total}"));
    let _ = std::fs::remove_dir_all(&db);
    let fresh = import_child(file, &db, &["--optimize"]);
    let (import_s, optimize_s) = (fresh["import_s"].as_f64().unwrap(), fresh["optimize_s"].as_f64().unwrap());
    assert_eq!(fresh["imported"].as_u64(), Some(total));
    rate_line("fresh import (parse, validate, de-duplicate, write)", import_s, mb, reference);
    println!(
        "  then optimize (indexes, compaction)                          {optimize_s:>7.2} s  (end to end {:.0} MB/s)",
        mb / (import_s + optimize_s)
    );
    for i in fresh["indexes"].as_array().unwrap() {
        println!("    of which building {:<40} {:>7.2} s", i[0].as_str().unwrap(), i[1].as_f64().unwrap());
    }
    println!(
        "  peak RSS of the import                                       {:>7.0} MB",
        fresh["import_rss_mb"].as_f64().unwrap()
    );
    println!(
        "  peak RSS of the process (import, then optimize)              {:>7.0} MB",
        fresh["peak_rss_mb"].as_f64().unwrap()
    );
    std::fs::write(db.join(".complete"), "").unwrap();
    let again = import_child(file, &db, &[]);
    assert_eq!(again["skipped"].as_u64(), Some(total));
    println!(
        "  re-import of the same file (all {total} duplicates)           {:>7.2} s",
        again["import_s"].as_f64().unwrap()
    );
}

/// The release `trajstore` binary: `--bin PATH`, else beside this benchmark's own.
pub(crate) fn cli_binary() -> PathBuf {
    let bin = args_after("--bin").pop().map(PathBuf::from).unwrap_or_else(|| {
        let exe = std::env::current_exe().expect("the benchmark's own path");
        exe.parent().expect("a directory").join("trajstore")
    });
    assert!(
        bin.is_file(),
        "no trajstore binary at {}: build it (cargo build --release -p trajstore-bench -p trajstore-cli) or pass --bin PATH",
        bin.display()
    );
    bin
}

/// `trajstore import FILE --db DIR --json` into a fresh directory, timed from spawn to
/// exit, as a user runs it. Returns the directory it wrote.
fn cli_import(file: &Path, total: u64, mb: f64, reference: f64) -> PathBuf {
    let bin = cli_binary();
    let db = work_dir().join(format!("cli-import-{total}"));
    let _ = std::fs::remove_dir_all(&db);
    let mut cmd = Command::new(&bin);
    cmd.arg("import").arg(file).arg("--db").arg(&db).arg("--json");
    let run = run_measured(&mut cmd);
    let report: serde_json::Value = serde_json::from_slice(&run.stdout).unwrap_or_else(|e| {
        panic!(
            "`{} import --json` printed no JSON report ({e}): {}",
            bin.display(),
            String::from_utf8_lossy(&run.stdout)
        )
    });
    assert_eq!(report["imported"].as_u64(), Some(total), "the command's report: {report}");
    let unindexed = report["unindexed_rows"].as_u64().expect("the report has unindexed_rows");
    println!("  -- the command as a user runs it: {} import FILE --db DIR --json", bin.display());
    rate_line("`trajstore import` end to end (spawn to exit)", run.seconds, mb, reference);
    println!("  peak RSS of the command                                      {:>7.0} MB", run.peak_rss_mb);
    println!("  rows left out of the full-text index (unindexed_rows)        {unindexed:>7}");
    db
}

/// What a child process cost: its wall time, peak resident memory and output.
pub(crate) struct ChildRun {
    pub(crate) seconds: f64,
    pub(crate) peak_rss_mb: f64,
    pub(crate) stdout: Vec<u8>,
}

/// Runs `cmd` to its end; panics with its stderr when it fails. The peak memory is the
/// child's own `ru_maxrss`, from `wait4` on its pid.
// The child is reaped by that `wait4`, not by `Child::wait`, which would not return it.
#[allow(clippy::zombie_processes)]
pub(crate) fn run_measured(cmd: &mut Command) -> ChildRun {
    let started = Instant::now();
    let mut child = cmd.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().expect("spawn");
    let mut err = child.stderr.take().unwrap();
    let stderr = std::thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = err.read_to_end(&mut buf);
        buf
    });
    let mut stdout = Vec::new();
    child.stdout.take().unwrap().read_to_end(&mut stdout).unwrap();
    let pid = libc::pid_t::try_from(child.id()).expect("a pid");
    let mut status = 0;
    // SAFETY: `rusage` is plain integers, for which all zeroes is a valid value.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    loop {
        // SAFETY: both pointers are to live locals; the child is ours and not reaped yet
        // (std only reaps it in `wait`, which is never called on it).
        let r = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
        if r == pid {
            break;
        }
        let e = std::io::Error::last_os_error();
        assert!(e.kind() == std::io::ErrorKind::Interrupted, "wait4 on {pid}: {e}");
    }
    let seconds = started.elapsed().as_secs_f64();
    let stderr = stderr.join().unwrap();
    let ok = libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0;
    assert!(ok, "{cmd:?} failed (wait status {status}): {}", String::from_utf8_lossy(&stderr));
    // Linux reports ru_maxrss in KiB.
    ChildRun { seconds, peak_rss_mb: usage.ru_maxrss as f64 / 1024.0, stdout }
}

/// The timings and results of the queries over one state of the store.
struct SearchRound {
    /// (p50, p95) in ms of each query with the default limit, and the number of runs.
    times: Vec<(f64, f64, usize)>,
    /// The trajectories each query finds, up to [`MAX_RESULTS`].
    found: Vec<BTreeSet<String>>,
}

/// The full-text queries on `store`: first each with the largest limit (its rows, for the
/// comparison; also a warm-up), then up to `reps` timed runs with the default limit.
async fn search_round(store: &Trajstore, reps: usize) -> SearchRound {
    let none = FilterSet::default();
    let (mut times, mut found) = (Vec::new(), Vec::new());
    for q in TEXT_QUERIES {
        let all = store.search_text(q, &none, MAX_RESULTS).await.unwrap();
        found.push(all.data.into_iter().map(|h| h.summary.trajectory_id).collect());
        let mut samples: Vec<Duration> = Vec::with_capacity(reps);
        let started = Instant::now();
        // Scans of many unindexed rows take seconds each: after MIN_RUNS, stop at the budget.
        while samples.len() < reps && (samples.len() < MIN_RUNS || started.elapsed() < QUERY_BUDGET) {
            let t = Instant::now();
            let page = store.search_text(q, &none, SEARCH_LIMIT).await.unwrap();
            samples.push(t.elapsed());
            std::hint::black_box(page);
        }
        times.push((percentile(&mut samples, 0.5), percentile(&mut samples, 0.95), samples.len()));
    }
    SearchRound { times, found }
}

/// Search on the store the command left (rows not in the full-text index), the catch-up
/// (`fold_indexes`), then search again: the same rows must be found.
async fn catch_up(db: &Path, mb: f64, reference: f64) {
    let reps = args_after("--reps").pop().map_or(5, |r| r.parse().expect("--reps takes an integer"));
    let uri = db.to_str().unwrap();
    let store = Trajstore::open(uri).await.unwrap();
    let unindexed = store.unindexed_text_rows().await.unwrap();
    let before = search_round(&store, reps).await;
    let t = Instant::now();
    store.fold_indexes().await.unwrap();
    let fold_s = t.elapsed().as_secs_f64();
    println!("  -- the index catch-up on the store the command wrote (serve's background step)");
    rate_line("fold_indexes (every row into the full-text index)", fold_s, mb, reference);
    // A new handle, as the next command would open.
    let store = Trajstore::open(uri).await.unwrap();
    let left = store.unindexed_text_rows().await.unwrap();
    assert_eq!(left, 0, "rows still outside the full-text index after fold_indexes");
    let after = search_round(&store, reps).await;
    println!(
        "  -- full-text search, top {SEARCH_LIMIT}, no filter: p50 / p95 (runs) with {unindexed} rows not \
         indexed (scanned), then after the catch-up"
    );
    for (i, q) in TEXT_QUERIES.iter().enumerate() {
        let (b, a) = (before.times[i], after.times[i]);
        let hits = before.found[i].len();
        let shown = if hits >= MAX_RESULTS { format!(">= {MAX_RESULTS}") } else { hits.to_string() };
        println!(
            "  {:<30} {:>8.1} / {:>8.1} ms ({})   indexed {:>6.1} / {:>6.1} ms ({})   {shown:>7} rows found",
            format!("{q:?}"),
            b.0,
            b.1,
            b.2,
            a.0,
            a.1,
            a.2
        );
    }
    check_same_rows(&before, &after);
}

/// The benchmark doubles as a check: each query finds the same rows (up to the largest
/// limit) whether its rows are scanned or come from the index.
fn check_same_rows(before: &SearchRound, after: &SearchRound) {
    for (i, q) in TEXT_QUERIES.iter().enumerate() {
        let (b, a) = (&before.found[i], &after.found[i]);
        assert!(!b.is_empty(), "full-text query {q:?} found nothing in the generated texts: pick another word");
        assert_eq!(
            b.len(),
            a.len(),
            "full-text query {q:?} found {} rows while the index was behind, {} after the catch-up",
            b.len(),
            a.len()
        );
        // Below the limit the whole result is compared; at it, BM25 statistics of a scan
        // and of the index may rank equal-looking rows differently.
        if b.len() < MAX_RESULTS {
            let missing: Vec<&String> = b.symmetric_difference(a).take(5).collect();
            assert!(
                missing.is_empty(),
                "full-text query {q:?} found different rows before and after the catch-up, e.g. {missing:?}"
            );
        }
    }
    println!("  same rows found by every query before and after the catch-up: yes");
}
