//! HTTP load on loopback: the real router in this process, clients on keep-alive
//! connections, a bookmark toggle every second (which changes the dataset version, so
//! cached pages are recomputed once a second, as in a live session).

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use trajstore::Trajstore;

/// One keep-alive HTTP/1.1 connection that reads Content-Length bodies.
pub(crate) struct Conn {
    stream: BufReader<TcpStream>,
    addr: String,
}

impl Conn {
    pub(crate) async fn open(addr: &str) -> std::io::Result<Self> {
        let s = TcpStream::connect(addr).await?;
        s.set_nodelay(true)?;
        Ok(Conn { stream: BufReader::new(s), addr: addr.to_string() })
    }

    pub(crate) async fn send(&mut self, method: &str, path: &str, body: &[u8]) -> std::io::Result<u16> {
        Ok(self.request(method, path, body).await?.0)
    }

    /// The status and the body of the answer.
    pub(crate) async fn request(&mut self, method: &str, path: &str, body: &[u8]) -> std::io::Result<(u16, Vec<u8>)> {
        let head = format!(
            "{method} {path} HTTP/1.1\r\nHost: {}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
            self.addr,
            body.len()
        );
        self.stream.get_mut().write_all(head.as_bytes()).await?;
        self.stream.get_mut().write_all(body).await?;
        let mut line = String::new();
        self.stream.read_line(&mut line).await?;
        let status: u16 = line
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| std::io::Error::other(format!("bad status line {line:?}")))?;
        let mut length = 0usize;
        loop {
            line.clear();
            self.stream.read_line(&mut line).await?;
            if line == "\r\n" || line.is_empty() {
                break;
            }
            if let Some((k, v)) = line.split_once(':') {
                if k.eq_ignore_ascii_case("content-length") {
                    length = v.trim().parse().unwrap_or(0);
                }
            }
        }
        let mut body = vec![0; length];
        self.stream.read_exact(&mut body).await?;
        Ok((status, body))
    }
}

/// The real server on a loopback port of this process.
pub(crate) struct InProcessServer {
    pub addr: String,
    stop: tokio::sync::oneshot::Sender<()>,
    task: tokio::task::JoinHandle<()>,
}

impl InProcessServer {
    pub async fn start(store: Trajstore) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            let shutdown = async {
                let _ = stopped.await;
            };
            let _ = trajstore_server::serve_on(listener, store, Default::default(), shutdown).await;
        });
        InProcessServer { addr, stop, task }
    }

    pub async fn stop(self) {
        let _ = self.stop.send(());
        let _ = self.task.await;
    }
}

#[derive(Default)]
struct Recorder {
    latencies: HashMap<&'static str, Vec<Duration>>,
    errors: u64,
}

fn pct(v: &mut [Duration], p: f64) -> f64 {
    if v.is_empty() {
        return 0.0;
    }
    v.sort();
    v[((p * v.len() as f64).ceil() as usize).clamp(1, v.len()) - 1].as_secs_f64() * 1000.0
}

/// The request a client sends next, from its pseudo-random state `i`: a mix of cached
/// list views, uncached deep pages, single trajectories and statistics (or only the
/// cached views when not `mixed`).
fn pick_request(i: u64, mixed: bool, ids: &[String]) -> (&'static str, String) {
    let r = (i >> 33) % 100;
    if !mixed || r < 50 {
        // A handful of popular views: cached after their first request.
        let views = [
            "training_id=run-2&sort=reward&order=desc",
            "termination_reason=error,timeout&sort=created_at",
            "reward_min=0.5&epoch_id_min=2&sort=reward",
            "sort=created_at&order=desc",
        ];
        ("list (cached views)", format!("/api/trajectories?{}&page_size=20", views[(i >> 20) as usize % views.len()]))
    } else if r < 70 {
        // Deep pages of filtered lists: almost always a cache miss.
        (
            "list (uncached pages)",
            format!(
                "/api/trajectories?training_id=run-{}&sort=reward&order=desc&page_size=20&page={}",
                (i >> 13) % 3 + 1,
                (i >> 17) % 500 + 1
            ),
        )
    } else if r < 90 {
        ("one trajectory", format!("/api/trajectories/{}", ids[(i >> 11) as usize % ids.len()]))
    } else {
        ("statistics", "/api/statistics?group_by=training_id,epoch_id&k=1,8".to_string())
    }
}

/// Runs `clients` connections for `seconds`, each picking requests from `pick`.
async fn run_phase(addr: &str, clients: usize, seconds: u64, ids: Arc<Vec<String>>, mixed: bool) -> (Recorder, f64) {
    let recorder = Arc::new(Mutex::new(Recorder::default()));
    let stop = Arc::new(AtomicBool::new(false));
    let total = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let mut tasks = Vec::new();
    for c in 0..clients {
        let (addr, recorder, stop, total, ids) =
            (addr.to_string(), recorder.clone(), stop.clone(), total.clone(), ids.clone());
        tasks.push(tokio::spawn(async move {
            let mut conn = Conn::open(&addr).await.expect("connect");
            let mut local: HashMap<&'static str, Vec<Duration>> = HashMap::new();
            let mut errors = 0;
            let mut i = c as u64 * 7919;
            while !stop.load(Ordering::Relaxed) {
                i = i.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                let (name, path) = pick_request(i, mixed, &ids);
                let t = Instant::now();
                match conn.send("GET", &path, b"").await {
                    Ok(200) => local.entry(name).or_default().push(t.elapsed()),
                    Ok(_) | Err(_) => {
                        errors += 1;
                        if let Ok(c) = Conn::open(&addr).await {
                            conn = c;
                        }
                    }
                }
                total.fetch_add(1, Ordering::Relaxed);
            }
            let mut rec = recorder.lock().unwrap();
            rec.errors += errors;
            for (k, v) in local {
                rec.latencies.entry(k).or_default().extend(v);
            }
        }));
    }
    let toggler = mixed.then(|| {
        let (addr, recorder, stop, ids) = (addr.to_string(), recorder.clone(), stop.clone(), ids.clone());
        tokio::spawn(async move {
            let mut conn = Conn::open(&addr).await.expect("connect");
            let mut on = true;
            while !stop.load(Ordering::Relaxed) {
                let t = Instant::now();
                let body = format!("{{\"is_bookmarked\":{on}}}");
                match conn.send("PATCH", &format!("/api/trajectories/{}", ids[0]), body.as_bytes()).await {
                    Ok(200) => {
                        recorder.lock().unwrap().latencies.entry("bookmark toggle (1/s)").or_default().push(t.elapsed())
                    }
                    _ => recorder.lock().unwrap().errors += 1,
                }
                on = !on;
                tokio::time::sleep(Duration::from_secs(1).saturating_sub(t.elapsed())).await;
            }
        })
    });
    tokio::time::sleep(Duration::from_secs(seconds)).await;
    stop.store(true, Ordering::Relaxed);
    for t in tasks {
        let _ = t.await;
    }
    if let Some(t) = toggler {
        let _ = t.await;
    }
    let elapsed = started.elapsed().as_secs_f64();
    let rec = Arc::try_unwrap(recorder).ok().expect("all tasks done").into_inner().unwrap();
    (rec, total.load(Ordering::Relaxed) as f64 / elapsed)
}

fn report(title: &str, mut rec: Recorder, rps: f64) {
    println!("  {title}: {rps:.0} requests/s, {} errors", rec.errors);
    let mut names: Vec<&'static str> = rec.latencies.keys().copied().collect();
    names.sort();
    for name in names {
        let v = rec.latencies.get_mut(name).unwrap();
        let n = v.len();
        println!("    {name:<24} {n:>8} requests   p50 {:>7.2} ms   p99 {:>7.2} ms", pct(v, 0.5), pct(v, 0.99));
    }
}

pub async fn bench_load(store: Trajstore, total: u64, clients: usize, seconds: u64) {
    // As `trajstore serve` runs: with the in-memory index, read before the clients start.
    let store = Trajstore::builder(store.uri()).memory_index(true).open().await.unwrap();
    let t = std::time::Instant::now();
    let info = store.warm_memory_index().await.unwrap().expect("no writes while it is read");
    println!(
        "  in-memory index: {} rows, {} MiB, built in {:.2} s",
        info.rows,
        info.bytes >> 20,
        t.elapsed().as_secs_f64()
    );
    let server = InProcessServer::start(store.clone()).await;
    let addr = server.addr.clone();
    let ids: Vec<String> =
        store.summaries(&Default::default()).await.unwrap().into_iter().step_by(97).map(|s| s.trajectory_id).collect();
    let ids = Arc::new(ids);
    println!("\n== HTTP load on loopback, {total} trajectories, {clients} clients (server and clients share this machine's cores)");
    let (rec, rps) = run_phase(&addr, clients, seconds.min(10), ids.clone(), false).await;
    report("cached list pages only, no writes", rec, rps);
    let (rec, rps) = run_phase(&addr, clients, seconds, ids, true).await;
    report(&format!("mixed for {seconds} s: 50% cached views, 20% deep pages, 20% single trajectories, 10% statistics, a bookmark toggle every second"), rec, rps);
    if let Some(i) = store.memory_index() {
        println!("  in-memory index after the run: {} full reads, {} updates followed in place", i.builds, i.patches);
    }
    server.stop().await;
}
