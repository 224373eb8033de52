//! `trajstore-bench object-store --n N --remote s3://BUCKET/PREFIX`: one generated data set
//! stored on an S3-compatible server and on a local directory in the same run, as a user
//! meets them, each figure of the object store beside the local one:
//! * `trajstore import` and then `trajstore optimize`, end to end (MB/s of the file, and
//!   the serde_json parse of the same file as the reference of both);
//! * `trajstore serve`: from spawn to the first page answered (read from Lance if need
//!   be), and to its in-memory index read (the requests below wait for it);
//! * list pages and statistics over HTTP: the p50 of the first call of each distinct
//!   request (the server computes it), of the same requests repeated (it is cached), and
//!   of cached pages asked once the refresh interval has passed (the server first looks
//!   for a newer version of the store, as on a user's next click);
//! * the bytes the server read from the store per list request: on the object store,
//!   counted by a loopback proxy between the server and the S3 endpoint; on the local
//!   disk, the server's `rchar` (every byte its file reads returned);
//! * the server's resident memory once the pages have been served;
//! * another process's update and delete (this benchmark's own handle on the store):
//!   from the first request after the refresh interval to the server's in-memory index
//!   holding them, and whether that took a full read of the summaries (it should not),
//!   beside the full read at its start.
//!
//! The standard AWS_* variables must point at the S3 endpoint;
//! `scripts/bench-object-store.sh` starts SeaweedFS on loopback, sets them and runs this.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use crate::import::{cli_binary, reference_parse, run_measured};
use crate::load::Conn;
use crate::{args_after, data_file, percentile, proc_field, work_dir};

/// Distinct list requests: each run, sorted three ways, both orders.
fn list_requests() -> Vec<String> {
    let mut out = Vec::new();
    for run in 0..3 {
        for sort in ["reward", "step_count", "created_at"] {
            for order in ["asc", "desc"] {
                out.push(format!("/api/trajectories?training_id=run-{run}&sort={sort}&order={order}&page_size=50"));
            }
        }
    }
    out
}

/// Distinct statistics requests: grouped by run or by epoch, over everything or one run.
fn stats_requests() -> Vec<String> {
    let mut out = Vec::new();
    for group in ["training_id", "epoch_id"] {
        for filter in ["", "&training_id=run-0", "&training_id=run-1", "&training_id=run-2"] {
            out.push(format!("/api/statistics?group_by={group}&k=1,8{filter}"));
        }
    }
    out
}

/// How many times the cached requests are repeated.
const CACHED_ROUNDS: usize = 5;
/// Cached requests sent once the server's refresh interval has passed, so that each
/// first looks for a newer version of the store (as a user's next click usually does).
const REFRESH_ROUNDS: usize = 5;
/// Longer than the default refresh interval on object storage (2 s).
const REFRESH_WAIT: Duration = Duration::from_millis(2_100);

/// Where the bytes a server reads from its store are counted.
enum ReadMeter {
    /// The proxy between the server and the S3 endpoint: bytes from the endpoint.
    Proxy(Arc<AtomicU64>),
    /// The server process's `rchar` in /proc.
    Process(u32),
}

impl ReadMeter {
    fn bytes(&self) -> u64 {
        match self {
            ReadMeter::Proxy(n) => n.load(Ordering::Relaxed),
            ReadMeter::Process(pid) => proc_field(*pid, "io", "rchar:"),
        }
    }
}

/// A TCP proxy on loopback to `upstream` that counts the bytes coming back from it.
async fn counting_proxy(upstream: String) -> (String, Arc<AtomicU64>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("a loopback port for the proxy");
    let addr = listener.local_addr().expect("the proxy's address").to_string();
    let counted = Arc::new(AtomicU64::new(0));
    let counter = counted.clone();
    tokio::spawn(async move {
        while let Ok((client, _)) = listener.accept().await {
            let (upstream, counter) = (upstream.clone(), counter.clone());
            tokio::spawn(async move {
                let Ok(server) = TcpStream::connect(&upstream).await else { return };
                let _ = client.set_nodelay(true);
                let _ = server.set_nodelay(true);
                let (mut client_read, mut client_write) = client.into_split();
                let (mut server_read, mut server_write) = server.into_split();
                let requests = async move {
                    let _ = tokio::io::copy(&mut client_read, &mut server_write).await;
                    let _ = server_write.shutdown().await;
                };
                let responses = async move {
                    let mut buf = vec![0u8; 64 << 10];
                    while let Ok(n) = server_read.read(&mut buf).await {
                        // Counted before they are passed on, so that a meter read after
                        // the answer that needed them includes them.
                        counter.fetch_add(n as u64, Ordering::Relaxed);
                        if n == 0 || client_write.write_all(&buf[..n]).await.is_err() {
                            break;
                        }
                    }
                    let _ = client_write.shutdown().await;
                };
                tokio::join!(requests, responses);
            });
        }
    });
    (format!("http://{addr}"), counted)
}

/// What one served store measured.
struct Served {
    start_s: f64,
    /// Spawn to the in-memory index read (until then, pages are read from Lance).
    ready_s: f64,
    list_first_ms: f64,
    list_cached_ms: f64,
    stats_first_ms: f64,
    stats_cached_ms: f64,
    bytes_per_list_first: f64,
    bytes_per_list_cached: f64,
    list_refresh_ms: f64,
    bytes_per_list_refresh: f64,
    rss_mb: f64,
    /// From the first request after another process's update and delete to the in-memory
    /// index holding them, and the full reads of the summaries that took.
    follow_s: f64,
    follow_full_reads: f64,
}

/// One store's figures: its import, optimize and each server start.
struct Target {
    name: String,
    import_s: f64,
    import_rss_mb: f64,
    optimize_s: f64,
    served: Vec<Served>,
}

pub async fn bench_object_store(ns: &[u64]) {
    let remote = args_after("--remote").pop().unwrap_or_else(|| {
        eprintln!("object-store needs --remote s3://BUCKET/PREFIX (and AWS_ENDPOINT_URL set)");
        std::process::exit(2);
    });
    let endpoint = std::env::var("AWS_ENDPOINT_URL").unwrap_or_else(|_| {
        eprintln!("object-store needs AWS_ENDPOINT_URL (the S3 endpoint, http://HOST:PORT)");
        std::process::exit(2);
    });
    let upstream = endpoint.trim_start_matches("http://").trim_end_matches('/').to_string();
    let reps: usize = args_after("--reps").pop().map_or(3, |r| r.parse().expect("--reps takes an integer"));
    let bin = cli_binary();
    let (proxy, counted) = counting_proxy(upstream).await;
    for &n in ns {
        let (file, total, bytes) = data_file(n);
        let mb = bytes as f64 / 1e6;
        println!("\n== object store: {total} generated trajectories, {mb:.0} MB; server restarts: {reps}");
        let reference = reference_parse(&file);
        println!(
            "  reference: serde_json::Value parse of every line, 1 thread: {reference:.2} s, {:.0} MB/s",
            mb / reference
        );
        let stamp = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
        let local = work_dir().join(format!("object-store-local-{total}"));
        let _ = std::fs::remove_dir_all(&local);
        let remote_uri = format!("{}/bench-{total}-{stamp}", remote.trim_end_matches('/'));
        let mut targets = Vec::new();
        for (name, uri, via) in
            [("local directory", local.to_str().unwrap().to_string(), None), ("object store", remote_uri, Some(&proxy))]
        {
            let mut target = import_and_optimize(&bin, name, &uri, &file, total);
            for _ in 0..reps {
                let meter = |pid| via.map_or(ReadMeter::Process(pid), |_| ReadMeter::Proxy(counted.clone()));
                target.served.push(serve(&bin, &uri, via.map(String::as_str), meter).await);
            }
            targets.push(target);
        }
        report(&targets, mb, reference);
        let _ = std::fs::remove_dir_all(&local);
    }
}

fn import_and_optimize(bin: &Path, name: &str, uri: &str, file: &Path, total: u64) -> Target {
    let mut cmd = Command::new(bin);
    cmd.arg("import").arg(file).args(["--db", uri, "--json"]);
    let import = run_measured(&mut cmd);
    let report: serde_json::Value = serde_json::from_slice(&import.stdout).expect("the import's JSON report");
    assert_eq!(report["imported"].as_u64(), Some(total), "{name}: the import's report: {report}");
    let optimize = run_measured(Command::new(bin).args(["optimize", "--db", uri]));
    Target {
        name: name.to_string(),
        import_s: import.seconds,
        import_rss_mb: import.peak_rss_mb,
        optimize_s: optimize.seconds,
        served: Vec::new(),
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).expect("a free port").port()
}

/// Starts `trajstore serve` on `uri` (through `endpoint` when given), waits for its first
/// page, then times the list and statistics requests and stops it.
async fn serve(bin: &Path, uri: &str, endpoint: Option<&str>, meter: impl Fn(u32) -> ReadMeter) -> Served {
    let port = free_port().to_string();
    let log = work_dir().join("object-store-serve.log");
    let mut cmd = Command::new(bin);
    // No background index step: its look at the indexes would land among the timed
    // requests (the store was optimized after its import).
    cmd.args(["serve", "--db", uri, "--port", &port, "--index-interval", "0"])
        .stdin(Stdio::null())
        .stdout(Stdio::null());
    cmd.stderr(std::fs::File::create(&log).expect("the server's log"));
    if let Some(endpoint) = endpoint {
        cmd.env("AWS_ENDPOINT_URL", endpoint);
    }
    let started = Instant::now();
    let mut child = cmd.spawn().expect("spawning trajstore serve");
    let addr = format!("127.0.0.1:{port}");
    let mut conn = first_page(&mut child, &addr, &log).await;
    let start_s = started.elapsed().as_secs_f64();
    memory_index_ready(&mut conn).await;
    let ready_s = started.elapsed().as_secs_f64();
    let meter = meter(child.id());
    let lists = list_requests();
    let before = meter.bytes();
    let list_first_ms = timed(&mut conn, &lists, 1).await;
    let first_bytes = meter.bytes() - before;
    let before = meter.bytes();
    let list_cached_ms = timed(&mut conn, &lists, CACHED_ROUNDS).await;
    let cached_bytes = meter.bytes() - before;
    let before = meter.bytes();
    let list_refresh_ms = after_refresh(&mut conn, &lists[..REFRESH_ROUNDS]).await;
    let refresh_bytes = meter.bytes() - before;
    let stats = stats_requests();
    let stats_first_ms = timed(&mut conn, &stats, 1).await;
    let stats_cached_ms = timed(&mut conn, &stats, CACHED_ROUNDS).await;
    let rss_mb = proc_field(child.id(), "status", "VmRSS:") as f64 / 1024.0;
    let (follow_s, follow_full_reads) = follow_elsewhere(&mut conn, uri).await;
    let _ = child.kill();
    let _ = child.wait();
    Served {
        start_s,
        ready_s,
        list_first_ms,
        list_cached_ms,
        stats_first_ms,
        stats_cached_ms,
        bytes_per_list_first: first_bytes as f64 / lists.len() as f64,
        bytes_per_list_cached: cached_bytes as f64 / (lists.len() * CACHED_ROUNDS) as f64,
        list_refresh_ms,
        bytes_per_list_refresh: refresh_bytes as f64 / REFRESH_ROUNDS as f64,
        rss_mb,
        follow_s,
        follow_full_reads,
    }
}

/// Updates one listed row and deletes another through a handle of this process (another
/// process to the server), then times, from the first list request after the refresh
/// interval, until the server's in-memory index is of the store's version. Each server
/// start measured thus changes the store a little for the next (one row fewer, two
/// more versions).
async fn follow_elsewhere(conn: &mut Conn, uri: &str) -> (f64, f64) {
    let (status, body) = conn.request("GET", "/api/trajectories?page_size=2", b"").await.expect("an answer");
    assert_eq!(status, 200);
    let page: serde_json::Value = serde_json::from_slice(&body).expect("a JSON page");
    let id = |i: usize| page["data"][i]["trajectory_id"].as_str().expect("a listed id").to_string();
    let writer = trajstore::Trajstore::open(uri).await.expect("opening the store to write to it");
    let builds = memory_index(conn).await["builds"].as_u64().expect("builds");
    let patch = trajstore::Patch { tags: Some(vec!["followed".into()]), ..Default::default() };
    writer.update(&id(0), &patch).await.expect("an update");
    writer.delete(&id(1)).await.expect("a delete");
    let version = writer.version().await.expect("the version");
    tokio::time::sleep(REFRESH_WAIT).await;
    let started = Instant::now();
    loop {
        // A list request starts the catch-up when none is running (the health check does not).
        let status = conn.send("GET", "/api/trajectories?tags=followed", b"").await.expect("an answer");
        assert_eq!(status, 200);
        let index = memory_index(conn).await;
        if index["version"].as_u64().is_some_and(|v| v >= version) {
            let full_reads = index["builds"].as_u64().expect("builds") - builds;
            return (started.elapsed().as_secs_f64(), full_reads as f64);
        }
        assert!(started.elapsed() < Duration::from_secs(120), "the server never followed version {version}: {index}");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// Polls until the server answers its first page (200), and returns that connection.
async fn first_page(child: &mut Child, addr: &str, log: &Path) -> Conn {
    loop {
        if let Ok(Some(status)) = child.try_wait() {
            panic!("trajstore serve exited ({status}): {}", std::fs::read_to_string(log).unwrap_or_default());
        }
        if let Ok(mut conn) = Conn::open(addr).await {
            match conn.send("GET", "/api/trajectories?page_size=50", b"").await {
                Ok(200) => return conn,
                Ok(status) => panic!("the first page answered {status}"),
                Err(_) => {}
            }
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Polls `/api/health` until the server's in-memory index is read.
async fn memory_index_ready(conn: &mut Conn) {
    while memory_index(conn).await.is_null() {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The `memory_index` of `/api/health` (null until it is read).
async fn memory_index(conn: &mut Conn) -> serde_json::Value {
    let (status, body) = conn.request("GET", "/api/health", b"").await.expect("an answer");
    assert_eq!(status, 200, "GET /api/health");
    let mut health: serde_json::Value = serde_json::from_slice(&body).expect("a JSON health document");
    health["memory_index"].take()
}

/// The p50 in ms of `rounds` passes over `paths`, each of which must answer 200.
async fn timed(conn: &mut Conn, paths: &[String], rounds: usize) -> f64 {
    let mut samples = Vec::new();
    for _ in 0..rounds {
        for path in paths {
            let t = Instant::now();
            let status = conn.send("GET", path, b"").await.expect("an answer");
            samples.push(t.elapsed());
            assert_eq!(status, 200, "GET {path}");
        }
    }
    percentile(&mut samples, 0.5)
}

/// The p50 in ms of cached requests, each sent once the refresh interval has passed.
async fn after_refresh(conn: &mut Conn, paths: &[String]) -> f64 {
    let mut samples = Vec::new();
    for path in paths {
        tokio::time::sleep(REFRESH_WAIT).await;
        let t = Instant::now();
        let status = conn.send("GET", path, b"").await.expect("an answer");
        samples.push(t.elapsed());
        assert_eq!(status, 200, "GET {path}");
    }
    percentile(&mut samples, 0.5)
}

/// `min-max` of a figure over the server starts.
fn range(served: &[Served], figure: impl Fn(&Served) -> f64, decimals: usize) -> String {
    let values: Vec<f64> = served.iter().map(figure).collect();
    let (lo, hi) = values.iter().fold((f64::MAX, f64::MIN), |(lo, hi), &v| (lo.min(v), hi.max(v)));
    if (hi - lo).abs() < f64::EPSILON {
        format!("{lo:.decimals$}")
    } else {
        format!("{lo:.decimals$}-{hi:.decimals$}")
    }
}

fn median(served: &[Served], figure: impl Fn(&Served) -> f64) -> f64 {
    let mut values: Vec<f64> = served.iter().map(figure).collect();
    values.sort_by(f64::total_cmp);
    let mid = values.len() / 2;
    if values.len().is_multiple_of(2) {
        (values[mid - 1] + values[mid]) / 2.0
    } else {
        values[mid]
    }
}

fn report(targets: &[Target], mb: f64, reference: f64) {
    let [local, remote] = targets else { unreachable!("two targets") };
    println!("  {:<44}{:>18}{:>18}{:>14}", "", local.name, remote.name, "object/local");
    let row = |label: &str, l: String, r: String, ratio: String| println!("  {label:<44}{l:>18}{r:>18}{ratio:>14}");
    let rate = |t: &Target| mb / t.import_s;
    row(
        "import end to end, MB/s (% of reference)",
        format!("{:.0} ({:.0}%)", rate(local), 100.0 * reference / local.import_s),
        format!("{:.0} ({:.0}%)", rate(remote), 100.0 * reference / remote.import_s),
        format!("{:.0}%", 100.0 * rate(remote) / rate(local)),
    );
    row(
        "import peak RSS, MB",
        format!("{:.0}", local.import_rss_mb),
        format!("{:.0}", remote.import_rss_mb),
        String::new(),
    );
    row(
        "optimize end to end, s",
        format!("{:.2}", local.optimize_s),
        format!("{:.2}", remote.optimize_s),
        format!("{:.2}x", remote.optimize_s / local.optimize_s),
    );
    type Figure = fn(&Served) -> f64;
    let served: [(&str, Figure, usize); 13] = [
        ("serve: spawn to first page, s", |s| s.start_s, 2),
        ("serve: spawn to in-memory index read, s", |s| s.ready_s, 2),
        ("list page p50, first call, ms", |s| s.list_first_ms, 2),
        ("list page p50, cached, ms", |s| s.list_cached_ms, 2),
        ("list page p50, cached, refresh due, ms", |s| s.list_refresh_ms, 2),
        ("statistics p50, first call, ms", |s| s.stats_first_ms, 2),
        ("statistics p50, cached, ms", |s| s.stats_cached_ms, 2),
        ("bytes read per list request, first call", |s| s.bytes_per_list_first, 0),
        ("bytes read per list request, cached", |s| s.bytes_per_list_cached, 0),
        ("bytes read per list request, refresh due", |s| s.bytes_per_list_refresh, 0),
        ("server RSS after the requests, MB", |s| s.rss_mb, 0),
        ("follow another's update and delete, s", |s| s.follow_s, 3),
        ("  full reads of the summaries for it", |s| s.follow_full_reads, 0),
    ];
    for (label, figure, decimals) in served {
        let (l, r) = (median(&local.served, figure), median(&remote.served, figure));
        let ratio = if decimals > 0 && l > 0.0 { format!("{:.2}x", r / l) } else { String::new() };
        row(label, range(&local.served, figure, decimals), range(&remote.served, figure, decimals), ratio);
    }
    println!("  (ranges over the server starts; ratios of their medians. Bytes on the local disk are the server's");
    println!("  rchar: its file reads, not its directory listings (the local look for a new version). The object");
    println!("  store is reached through the counting proxy, one more loopback hop per request.)");
}
