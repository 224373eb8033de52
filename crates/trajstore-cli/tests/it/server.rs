//! The real server (`trajstore serve --port 0`) exercised over loopback HTTP.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

struct Server {
    child: Child,
    addr: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start(db: &Path, extra: &[&str]) -> Server {
    use std::os::unix::process::CommandExt;
    let mut command = Command::new(env!("CARGO_BIN_EXE_trajstore"));
    command
        .args(["--db", db.to_str().unwrap(), "serve", "--port", "0"])
        .args(extra)
        .env_remove("TRAJSTORE_TOKEN")
        .stderr(Stdio::piped());
    // The server dies with the thread that started it, even when no Drop runs (a server
    // in a static): a leftover would hold the test's output pipe open.
    // SAFETY: prctl is async-signal-safe and touches no memory of the parent.
    unsafe {
        command.pre_exec(|| {
            libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
            Ok(())
        });
    }
    let mut child = command.spawn().unwrap();
    let mut stderr = BufReader::new(child.stderr.take().unwrap());
    let mut line = String::new();
    let addr = loop {
        line.clear();
        assert!(stderr.read_line(&mut line).unwrap() > 0, "the server exited before listening");
        if let Some(rest) = line.trim().rsplit_once("http://") {
            break rest.1.to_string();
        }
    };
    // Keep draining stderr so the server never blocks on a full pipe.
    std::thread::spawn(move || for _ in stderr.lines() {});
    Server { child, addr }
}

struct Reply {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Reply {
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&self.body)))
    }
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }
}

fn request(server: &Server, method: &str, path: &str, headers: &[(&str, &str)], body: &[u8]) -> Reply {
    request_to(&server.addr, method, path, headers, body)
}

/// A minimal HTTP/1.1 client (one request per connection), with chunked decoding.
fn request_to(addr: &str, method: &str, path: &str, headers: &[(&str, &str)], body: &[u8]) -> Reply {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(120))).unwrap();
    let mut head =
        format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Length: {}\r\n", body.len());
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("\r\n");
    s.write_all(head.as_bytes()).unwrap();
    s.write_all(body).unwrap();
    let mut r = BufReader::new(s);
    let mut status_line = String::new();
    r.read_line(&mut status_line).unwrap();
    let status: u16 = status_line.split_whitespace().nth(1).unwrap().parse().unwrap();
    let mut headers = Vec::new();
    loop {
        let mut l = String::new();
        r.read_line(&mut l).unwrap();
        let l = l.trim_end();
        if l.is_empty() {
            break;
        }
        let (k, v) = l.split_once(':').unwrap();
        headers.push((k.trim().to_string(), v.trim().to_string()));
    }
    let chunked = headers.iter().any(|(k, v)| k.eq_ignore_ascii_case("transfer-encoding") && v.contains("chunked"));
    let mut body = Vec::new();
    if chunked {
        loop {
            let mut size = String::new();
            r.read_line(&mut size).unwrap();
            let n = usize::from_str_radix(size.trim(), 16).unwrap();
            if n == 0 {
                break;
            }
            let mut chunk = vec![0; n];
            r.read_exact(&mut chunk).unwrap();
            body.extend_from_slice(&chunk);
            let mut crlf = [0; 2];
            r.read_exact(&mut crlf).unwrap();
        }
    } else {
        r.read_to_end(&mut body).unwrap();
    }
    Reply { status, headers, body }
}

fn get(server: &Server, path: &str) -> Reply {
    request(server, "GET", path, &[], b"")
}

fn records(n: usize, prefix: &str) -> String {
    (0..n)
        .map(|i| {
            json!({"trajectory_id": format!("{prefix}{i:06}"), "data_id": format!("task-{}", i % 50), "training_id": format!("run-{}", i % 3), "epoch_id": i % 4,
                "reward": (i % 5) as f64 / 4.0, "is_success": i % 5 == 4, "termination_reason": if i % 5 == 4 { "success" } else { "error" },
                "steps": [{"role": "user", "content": format!("question {i}")}, {"role": "assistant", "content": "answer"}]})
            .to_string()
                + "\n"
        })
        .collect()
}

fn poll_import(server: &Server, task_id: &str) -> Value {
    poll_import_at(&server.addr, task_id)
}

fn poll_import_at(addr: &str, task_id: &str) -> Value {
    let started = Instant::now();
    loop {
        let r = request_to(addr, "GET", &format!("/api/imports/{task_id}"), &[], b"");
        assert_eq!(r.status, 200);
        let task = r.json();
        match task["status"].as_str().unwrap() {
            "done" | "failed" => return task,
            "queued" | "running" => {}
            other => panic!("unexpected status {other}"),
        }
        assert!(started.elapsed() < Duration::from_secs(120), "import did not finish: {task}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn every_endpoint_end_to_end() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("root");
    std::fs::create_dir_all(&root).unwrap();
    let server = start(&dir.path().join("db"), &["--import-root", root.to_str().unwrap()]);

    assert_eq!(get(&server, "/api/version").json()["trajstore"], env!("CARGO_PKG_VERSION"));
    let openapi = get(&server, "/api/openapi.json").json();
    for path in [
        "/api/trajectories",
        "/api/trajectories/{id}",
        "/api/statistics",
        "/api/curves",
        "/api/imports",
        "/api/imports/{task_id}",
        "/api/export",
        "/api/health",
    ] {
        assert!(openapi["paths"].get(path).is_some(), "{path} documented");
    }

    // Upload a gzip file as the body; poll until done.
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(records(300, "u").as_bytes()).unwrap();
    gz.write_all(b"{\"trajectory_id\": 5}\n").unwrap();
    let r = request(
        &server,
        "POST",
        "/api/imports",
        &[("Content-Type", "application/gzip"), ("X-Filename", "up.jsonl.gz")],
        &gz.finish().unwrap(),
    );
    assert_eq!(r.status, 202);
    let task = poll_import(&server, r.json()["task_id"].as_str().unwrap());
    assert_eq!(task["status"], "done", "{task}");
    assert_eq!((task["result"]["imported"].as_u64(), task["result"]["failed"].as_u64()), (Some(300), Some(1)));
    assert_eq!(task["result"]["errors"][0]["field"], "trajectory_id");
    assert!(task["bytes_done"].as_u64().unwrap() > 0 && task["bytes_done"] == task["bytes_total"], "{task}");
    assert!(!get(&server, "/api/imports").json()["data"].as_array().unwrap().is_empty());

    // A server-side path below the root works; .. and symlink escapes are refused.
    std::fs::write(root.join("more.jsonl"), records(20, "p")).unwrap();
    let path_req = |p: &str| {
        request(
            &server,
            "POST",
            "/api/imports",
            &[("Content-Type", "application/json")],
            json!({"path": p}).to_string().as_bytes(),
        )
    };
    let r = path_req(root.join("more.jsonl").to_str().unwrap());
    assert_eq!(r.status, 202);
    assert_eq!(poll_import(&server, r.json()["task_id"].as_str().unwrap())["result"]["imported"], 20);
    let outside = dir.path().join("secret.jsonl");
    std::fs::write(&outside, records(1, "s")).unwrap();
    let r = path_req(&format!("{}/../secret.jsonl", root.display()));
    assert_eq!((r.status, r.json()["error"]["parameter"].as_str()), (403, Some("path")));
    std::os::unix::fs::symlink(&outside, root.join("link.jsonl")).unwrap();
    assert_eq!(path_req(root.join("link.jsonl").to_str().unwrap()).status, 403);
    assert_eq!(path_req(root.join("missing.jsonl").to_str().unwrap()).status, 404);

    // List: filters, sort, total, cursor; the same document as `trajstore query --json`.
    let page = get(&server, "/api/trajectories?training_id=run-1&sort=reward&order=desc&page_size=7").json();
    assert_eq!(page["total"], 100 + 7, "run-1: every third of 300 and of 20");
    assert_eq!(page["data"].as_array().unwrap().len(), 7);
    assert!(page["data"][0]["steps"].is_null(), "no steps in lists");
    let next = get(
        &server,
        &format!(
            "/api/trajectories?training_id=run-1&sort=reward&order=desc&page_size=7&cursor={}",
            page["next_cursor"].as_str().unwrap()
        ),
    )
    .json();
    assert_ne!(next["data"][0]["trajectory_id"], page["data"][0]["trajectory_id"]);
    for (q, parameter) in [
        ("rewrd_min=1", "rewrd_min"),
        ("reward_min=x", "reward_min"),
        ("sort=steps", "sort"),
        ("page_size=0", "page_size"),
        ("cursor=zz", "cursor"),
    ] {
        let r = get(&server, &format!("/api/trajectories?{q}"));
        assert_eq!((r.status, r.json()["error"]["parameter"].as_str()), (400, Some(parameter)), "{q}");
    }

    // One record, a slice of its steps, 404.
    let one = get(&server, "/api/trajectories/u000004").json();
    assert_eq!(one["steps"].as_array().unwrap().len(), 2);
    let part = get(&server, "/api/trajectories/u000004?steps=1:").json();
    assert_eq!((part["steps"].as_array().unwrap().len(), part["steps_range"]["total"].as_u64()), (1, Some(2)));
    assert_eq!(get(&server, "/api/trajectories/u000004?steps=a:b").status, 400);
    let r = get(&server, "/api/trajectories/nope");
    assert_eq!((r.status, r.json()["error"]["code"].as_str()), (404, Some("not_found")));

    // Add, patch, delete.
    let r = request(
        &server,
        "POST",
        "/api/trajectories",
        &[],
        json!([{"trajectory_id": "new-1"}, {"trajectory_id": "u000001"}, {"reward": 1}]).to_string().as_bytes(),
    );
    assert_eq!(r.status, 207);
    let res = r.json();
    assert_eq!(
        (res["imported"].as_u64(), res["skipped"].as_u64(), res["failed"].as_u64()),
        (Some(1), Some(1), Some(1))
    );
    assert_eq!(res["errors"][0]["index"], 2);
    let r = request(
        &server,
        "PATCH",
        "/api/trajectories/new-1",
        &[],
        br#"{"is_bookmarked":true,"tags":["a"],"notes":"n"}"#,
    );
    assert_eq!(r.status, 200);
    assert_eq!((r.json()["is_bookmarked"].as_bool(), r.json()["tags"][0].as_str()), (Some(true), Some("a")));
    assert_eq!(get(&server, "/api/trajectories?is_bookmarked=true").json()["total"], 1);
    assert_eq!(
        request(&server, "PATCH", "/api/trajectories/new-1", &[], br#"{"steps":[]}"#).json()["error"]["parameter"],
        "steps"
    );
    assert_eq!(request(&server, "PATCH", "/api/trajectories/new-1", &[], br#"{"tags":"x"}"#).status, 400);
    assert_eq!(request(&server, "PATCH", "/api/trajectories/nope", &[], br#"{"is_bookmarked":true}"#).status, 404);
    assert_eq!(request(&server, "DELETE", "/api/trajectories/new-1", &[], b"").status, 204);
    assert_eq!(request(&server, "DELETE", "/api/trajectories/new-1", &[], b"").status, 404);

    // Statistics and curves: the same documents as `trajstore stats --json`.
    let stats = get(&server, "/api/statistics?group_by=training_id&k=1,4&training_id=run-*").json();
    assert_eq!(stats["overall"]["count"], 320);
    assert_eq!(stats["groups"].as_array().unwrap().len(), 3);
    assert!(stats["overall"]["pass@4"].as_f64().is_some());
    let curve = get(&server, "/api/curves?x=epoch_id&series=training_id&k=1").json();
    assert_eq!(curve["points"].as_array().unwrap().len(), 12);
    assert_eq!(get(&server, "/api/statistics?k=zero").status, 400);

    // Export streams every matching row.
    let r = get(&server, "/api/export?format=jsonl&training_id=run-0");
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-type"), Some("application/x-ndjson"));
    assert_eq!(r.body.split(|b| *b == b'\n').filter(|l| !l.is_empty()).count(), 100 + 7);
    assert_eq!(get(&server, "/api/export?format=csv").status, 400);

    let health = get(&server, "/api/health").json();
    assert_eq!(health["status"], "ok");
    assert!(health["cache"]["hits"].as_u64().is_some() && health["dataset_version"].as_u64().unwrap() > 1);
    assert_eq!(get(&server, "/api/nothing").status, 404);

    // The in-memory index catches up with the last write (reads start its rebuild), then
    // answers: the same statistics as Lance gave above, asked under another cache key.
    let mut caught_up = false;
    for i in 0..200 {
        let h = get(&server, "/api/health").json();
        if h["memory_index"]["version"] == h["dataset_version"] {
            assert_eq!(h["memory_index"]["rows"], get(&server, "/api/trajectories").json()["total"]);
            caught_up = true;
            break;
        }
        get(&server, &format!("/api/trajectories?page_size={}", i + 1));
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    assert!(caught_up, "the in-memory index never reached the dataset version");
    let again = get(&server, "/api/statistics?group_by=training_id&k=4,1&training_id=run-*").json();
    for key in ["count", "success_count", "tasks", "pass@4", "pass@1", "reward_mean"] {
        let (a, b) = (again["overall"][key].as_f64().unwrap(), stats["overall"][key].as_f64().unwrap());
        assert!((a - b).abs() < 1e-9, "{key}: {a} from the index, {b} from Lance");
    }
    assert_eq!(again["groups"].as_array().unwrap().len(), 3);
}

#[test]
fn tokens_guard_writes_and_optionally_reads() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(&dir.path().join("db"), &["--token", "s3cret"]);
    let body = br#"{"trajectory_id":"t"}"#;
    assert_eq!(request(&server, "POST", "/api/trajectories", &[], body).status, 401);
    assert_eq!(request(&server, "POST", "/api/trajectories", &[("Authorization", "Bearer wrong")], body).status, 401);
    assert_eq!(request(&server, "POST", "/api/trajectories", &[("Authorization", "Bearer s3cret")], body).status, 200);
    assert_eq!(get(&server, "/api/trajectories").status, 200, "reads stay open");
    drop(server);

    let server = start(&dir.path().join("db"), &["--token", "s3cret", "--token-reads"]);
    assert_eq!(get(&server, "/api/trajectories").status, 401);
    assert_eq!(
        request(&server, "GET", "/api/trajectories", &[("Authorization", "Bearer s3cret")], b"").json()["total"],
        1
    );
    assert_eq!(get(&server, "/api/health").status, 200);
    // The UI's shell and assets hold no data: they load without the token, then ask for it.
    assert_eq!(get(&server, "/trajectories").status, 200);
    assert_eq!(get(&server, "/assets/js/main.js").status, 200);
    assert_eq!(get(&server, "/api/compare?ids=t").status, 401);
}

#[test]
fn every_error_is_a_json_document_and_odd_inputs_are_refused_by_name() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(&dir.path().join("db"), &[]);
    assert_eq!(
        request(&server, "POST", "/api/trajectories", &[], br#"{"trajectory_id":"t","tags":["x"]}"#).status,
        200
    );
    let error = |r: &Reply| r.json()["error"].clone();
    // Answered by axum itself: a path that is not UTF-8, a method the endpoint lacks.
    let r = get(&server, "/api/trajectories/%ff");
    assert_eq!(r.status, 400);
    assert!(error(&r)["message"].as_str().unwrap().contains("UTF-8"), "{}", String::from_utf8_lossy(&r.body));
    let r = request(&server, "DELETE", "/api/trajectories", &[], b"");
    assert_eq!(r.status, 405);
    assert_eq!(error(&r)["code"], "method_not_allowed");
    assert!(r.header("allow").is_some_and(|a| a.contains("GET")), "{:?}", r.headers);
    // An empty filter value would match everything: refused, naming the filter.
    for name in ["question", "trajectory_id"] {
        let r = get(&server, &format!("/api/trajectories?{name}="));
        assert_eq!((r.status, error(&r)["parameter"].as_str()), (400, Some(name)));
    }
    // Unknown or repeated parameters, and bytes that are not UTF-8, are refused by name
    // rather than ignored (or decoded into U+FFFD and matched as that).
    for (path, parameter) in [
        ("/api/trajectories/t?foo=bar", "foo"),
        ("/api/trajectories/t?steps=0:1&steps=zz", "steps"),
        ("/api/search?q=a&q=b", "q"),
        ("/api/trajectories?training_id=%ff", "training_id"),
        ("/api/trajectories?page=1&page=2", "page"),
        ("/api/trajectories?sort=reward&training_id=x&sort=exec_time", "sort"),
    ] {
        let r = get(&server, path);
        assert_eq!((r.status, error(&r)["parameter"].as_str()), (400, Some(parameter)), "{path}");
    }
    // A U+FFFD sent as its own UTF-8 bytes is text like any other; '+' is a space.
    let r = get(&server, "/api/trajectories?question=%EF%BF%BD");
    assert_eq!((r.status, &r.json()["total"]), (200, &serde_json::json!(0)), "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(get(&server, "/api/trajectories?training_id=a+b&page=1").status, 200);
    let r = request(&server, "POST", "/api/imports?foo=bar", &[("X-Filename", "x.jsonl")], b"{}\n");
    assert_eq!((r.status, error(&r)["parameter"].as_str()), (400, Some("foo")));
    assert_eq!(get(&server, "/api/trajectories/t?steps=0:1").status, 200);
    // A step holding a number beyond f64 is stored as sent; slicing it is a 422, not a 500.
    let r = request(
        &server,
        "POST",
        "/api/imports",
        &[("X-Filename", "big.jsonl")],
        b"{\"trajectory_id\":\"big\",\"steps\":[{\"role\":\"user\",\"content\":\"x\",\"n\":1e400}]}\n",
    );
    assert_eq!(poll_import(&server, r.json()["task_id"].as_str().unwrap())["result"]["imported"], 1);
    assert!(String::from_utf8_lossy(&get(&server, "/api/trajectories/big").body).contains("1e400"));
    let r = get(&server, "/api/trajectories/big?steps=0:1");
    assert_eq!((r.status, error(&r)["code"].as_str()), (422, Some("unreadable_record")));
    // A tag the tags filter could never find is refused on both ways in.
    for tags in [r#"["a,b"]"#, r#"[" lead"]"#, r#"[""]"#] {
        let r = request(&server, "PATCH", "/api/trajectories/t", &[], format!(r#"{{"tags":{tags}}}"#).as_bytes());
        assert_eq!((r.status, error(&r)["parameter"].as_str()), (400, Some("tags[0]")), "{tags}");
        let r = request(
            &server,
            "POST",
            "/api/trajectories",
            &[],
            format!(r#"{{"trajectory_id":"u","tags":{tags}}}"#).as_bytes(),
        );
        assert_ne!(r.status, 200, "{tags}: {}", String::from_utf8_lossy(&r.body));
    }
    // The media type is matched without regard to case: this asks for a server path
    // (refused: no --import-root), it is not an upload of the JSON text as a file.
    let r =
        request(&server, "POST", "/api/imports", &[("Content-Type", "Application/JSON")], br#"{"path":"/etc/passwd"}"#);
    assert_eq!(r.status, 403, "{}", String::from_utf8_lossy(&r.body));
    // An upload's errors name the file as it was sent, not the server's temporary copy.
    let body = b"{\"trajectory_id\":\"up-1\"}\n{\"trajectory_id\":7}\n";
    let r = request(&server, "POST", "/api/imports", &[("X-Filename", "mine.jsonl")], body);
    assert_eq!(r.status, 202);
    let task = poll_import(&server, r.json()["task_id"].as_str().unwrap());
    assert_eq!(task["result"]["errors"][0]["file"], "mine.jsonl", "{task}");
    assert_eq!(task["result"]["files"][0]["path"], "mine.jsonl", "{task}");
}

#[test]
fn uploads_in_other_formats_are_detected_or_named() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(&dir.path().join("db"), &[]);
    // A tau-bench results file: a JSON list of runs with their chat messages.
    let run = |task: u64, reward: f64| {
        json!({"task_id": task, "trial": 0, "reward": reward, "info": {"task": {"instruction": format!("Cancel reservation {task}")}},
        "traj": [{"role": "user", "content": "cancel it"}, {"role": "assistant", "content": null, "tool_calls": [{"id": "c1", "type": "function", "function": {"name": "cancel", "arguments": "{\"id\": 1}"}}]},
                 {"role": "tool", "tool_call_id": "c1", "name": "cancel", "content": "ok"}]})
    };
    let body = serde_json::to_vec(&json!([run(1, 1.0), run(2, 0.0), run(3, 1.0)])).unwrap();
    for (query, expect_format) in [("", "tau-bench"), ("?format=tau-bench", "tau-bench")] {
        let r = request(&server, "POST", &format!("/api/imports{query}"), &[("X-Filename", "airline.json")], &body);
        assert_eq!(r.status, 202, "{}", String::from_utf8_lossy(&r.body));
        let task = poll_import(&server, r.json()["task_id"].as_str().unwrap());
        assert_eq!(task["status"], "done", "{task}");
        assert_eq!(task["result"]["files"][0]["format"], expect_format, "{task}");
    }
    let page = get(&server, "/api/trajectories?sort=reward&order=desc").json();
    assert_eq!(page["total"], 3, "the second upload of the same bytes skipped every record");
    assert_eq!(page["data"][0]["step_count"], 3);
    assert_eq!(get(&server, "/api/trajectories?reward_min=1").json()["total"], 2);
    // An unknown format name is refused up front, naming the parameter and the choices.
    let r = request(&server, "POST", "/api/imports?format=csv", &[], &body);
    assert_eq!(r.status, 400);
    assert_eq!(r.json()["error"]["parameter"], "format");
    assert!(r.json()["error"]["message"].as_str().unwrap().contains("tau-bench"));
    // The OpenAPI document lists the names the UI offers.
    let spec = get(&server, "/api/openapi.json").json();
    let names = &spec["paths"]["/api/imports"]["post"]["parameters"][0]["schema"]["enum"];
    assert!(names.as_array().unwrap().iter().any(|n| n == "mini-swe-agent") && names[0] == "auto");
}

#[test]
fn web_ui_pages_assets_and_the_compare_twin() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(&dir.path().join("db"), &[]);
    assert_eq!(
        request(&server, "POST", "/api/trajectories", &[], records(3, "c-").as_bytes()).status,
        400,
        "JSONL is not a JSON body"
    );
    let array = format!("[{}]", records(3, "c-").trim_end().replace('\n', ","));
    assert_eq!(request(&server, "POST", "/api/trajectories", &[], array.as_bytes()).json()["imported"], 3);
    for page in ["/", "/trajectories", "/trajectories/c-000001", "/compare", "/statistics", "/import"] {
        let r = get(&server, page);
        assert_eq!(r.status, 200, "{page}");
        assert!(r.header("content-type").unwrap().starts_with("text/html"), "{page}");
        assert!(String::from_utf8_lossy(&r.body).contains("/assets/js/main.js"));
    }
    let js = get(&server, "/assets/js/main.js");
    assert_eq!((js.status, js.header("content-type")), (200, Some("text/javascript; charset=utf-8")));
    let etag = js.header("etag").unwrap().to_string();
    assert_eq!(request(&server, "GET", "/assets/js/main.js", &[("If-None-Match", &etag)], b"").status, 304);
    assert_eq!(get(&server, "/assets/../Cargo.toml").status, 404);
    assert_eq!(get(&server, "/assets/nope.js").status, 404);
    // main.js imports the page modules from next to it, with the same headers.
    let page = get(&server, "/assets/js/detail.js");
    assert_eq!((page.status, page.header("content-type")), (200, Some("text/javascript; charset=utf-8")));
    assert_eq!(page.header("cache-control"), js.header("cache-control"));
    assert_eq!(get(&server, "/assets/js/../../Cargo.toml").status, 404);
    assert_eq!(get(&server, "/nope").status, 404);

    let both = get(&server, "/api/compare?ids=c-000002,missing,c-000000").json();
    let ids: Vec<&str> =
        both["data"].as_array().unwrap().iter().map(|t| t["trajectory_id"].as_str().unwrap()).collect();
    assert_eq!(ids, ["c-000002", "c-000000"], "records come whole, in the order asked");
    assert_eq!(both["data"][0]["steps"].as_array().unwrap().len(), 2);
    assert_eq!(both["missing"], json!(["missing"]));
    for bad in ["/api/compare", "/api/compare?ids=", "/api/compare?ids=a,b,c,d,e,f,g,h,i,j,k", "/api/compare?ids=a&x=1"]
    {
        let r = get(&server, bad);
        assert_eq!(r.status, 400, "{bad}");
        assert!(r.json()["error"]["parameter"].is_string(), "{bad}");
    }
    // The step-count distribution the statistics page charts.
    let by_steps = get(&server, "/api/statistics?group_by=step_count").json();
    assert_eq!(by_steps["groups"][0]["step_count"], 2);
    assert_eq!(by_steps["groups"][0]["count"], 3);
}

/// Peak resident memory of a process, in MB.
fn peak_rss_mb(pid: u32) -> f64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status.lines().find(|l| l.starts_with("VmHWM:")).unwrap().split_whitespace().nth(1).unwrap().parse::<f64>().unwrap()
        / 1024.0
}

#[test]
fn a_large_export_streams_in_bounded_memory() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("db");
    let file = dir.path().join("big.jsonl");
    // 100k records of about 1.6 KB: an export of ~160 MB.
    let pad = "x".repeat(1200);
    let mut w = std::io::BufWriter::new(std::fs::File::create(&file).unwrap());
    for i in 0..100_000 {
        writeln!(w, "{}", json!({"trajectory_id": format!("b{i:06}"), "training_id": "big", "steps": [{"role": "tool", "content": pad}]})).unwrap();
    }
    w.flush().unwrap();
    drop(w);
    let out = Command::new(env!("CARGO_BIN_EXE_trajstore"))
        .args(["--json", "--db", db.to_str().unwrap(), "import", file.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let server = start(&db, &[]);
    assert_eq!(get(&server, "/api/trajectories?page_size=1").json()["total"], 100_000);
    let before = peak_rss_mb(server.child.id());
    let r = get(&server, "/api/export?format=jsonl");
    assert_eq!(r.status, 200);
    let lines = r.body.split(|b| *b == b'\n').filter(|l| !l.is_empty()).count();
    assert_eq!(lines, 100_000);
    let grown = peak_rss_mb(server.child.id()) - before;
    let exported_mb = r.body.len() as f64 / 1e6;
    assert!(
        grown < exported_mb / 2.0,
        "the server's peak memory grew by {grown:.0} MB for an export of {exported_mb:.0} MB"
    );
}

mod robustness {
    use super::*;
    use proptest::prelude::*;
    use std::sync::OnceLock;

    fn shared() -> &'static (tempfile::TempDir, Server) {
        static S: OnceLock<(tempfile::TempDir, Server)> = OnceLock::new();
        S.get_or_init(|| {
            let dir = tempfile::tempdir().unwrap();
            // Started from a thread that lives as long as the test process (see `start`).
            let (tx, rx) = std::sync::mpsc::channel();
            let db = dir.path().to_path_buf();
            std::thread::spawn(move || {
                tx.send(start(&db.join("db"), &["--import-root", db.to_str().unwrap()])).unwrap();
                loop {
                    std::thread::park();
                }
            });
            let server = rx.recv().unwrap();
            let r = request(
                &server,
                "POST",
                "/api/trajectories",
                &[],
                format!("[{}]", records(50, "r").trim().replace('\n', ",")).as_bytes(),
            );
            assert_eq!(r.status, 200);
            (dir, server)
        })
    }

    fn percent_encode(s: &str) -> String {
        s.bytes()
            .map(|b| {
                if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
                    (b as char).to_string()
                } else {
                    format!("%{b:02X}")
                }
            })
            .collect()
    }

    const NAMES: &[&str] = &[
        "page",
        "page_size",
        "sort",
        "order",
        "cursor",
        "data_id",
        "question",
        "termination_reason",
        "reward_min",
        "reward_exact",
        "epoch_id",
        "epoch_id_max",
        "is_success",
        "tags",
        "metadata.k",
        "metadata.",
        "created_after",
        "group_by",
        "k",
        "success_threshold",
        "x",
        "series",
        "format",
        "steps",
        "bogus",
        "",
    ];
    const VALUES: &[&str] = &[
        "",
        "0",
        "1",
        "-1",
        "1.5",
        "1e309",
        "NaN",
        "true",
        "maybe",
        "reward",
        "desc",
        "'",
        "\"",
        "\\",
        "%",
        "_",
        "*",
        "--",
        "\0",
        "\n",
        "é😀",
        "a,b",
        ",",
        "training_id,epoch_id",
        "1,2,3",
        "0:",
        ":5",
        "9999999999999999999999",
        "epoch_id",
        "jsonl",
        "parquet",
        "x' OR '1'='1",
    ];
    const PATHS: &[&str] = &[
        "/api/trajectories",
        "/api/statistics",
        "/api/curves",
        "/api/export",
        "/api/trajectories/r000001",
        "/api/trajectories/%27%22",
    ];

    proptest! {
        #![proptest_config(ProptestConfig { cases: 120, failure_persistence: None, ..ProptestConfig::default() })]

        /// Whatever the query string, the answer is never a server error, and every
        /// error is the JSON error body.
        #[test]
        fn no_query_string_gives_a_server_error(
            path in prop::sample::select(PATHS),
            params in prop::collection::vec((prop::sample::select(NAMES), prop::sample::select(VALUES)), 0..4),
        ) {
            let (_, server) = shared();
            let query: Vec<String> = params.iter().map(|(k, v)| format!("{}={}", percent_encode(k), percent_encode(v))).collect();
            let r = get(server, &format!("{path}?{}", query.join("&")));
            prop_assert!(r.status < 500, "{} {path}?{:?}: {}", r.status, params, String::from_utf8_lossy(&r.body));
            if r.status >= 400 {
                prop_assert!(r.json()["error"]["code"].is_string());
            }
        }

        /// Whatever the body of a write, the answer is never a server error.
        #[test]
        fn no_body_gives_a_server_error(
            method_path in prop::sample::select(vec![("POST", "/api/trajectories"), ("PATCH", "/api/trajectories/r000002"), ("POST", "/api/imports")]),
            body in prop_oneof![
                prop::sample::select(vec!["", "{", "[]", "[1]", "null", "{\"trajectory_id\":1}", "{\"is_bookmarked\":\"yes\"}", "{\"tags\":[1]}",
                    "{\"notes\":null}", "{\"path\":\"/etc/passwd\"}", "{\"path\":5}", "{\"trajectory_id\":\"x\",\"steps\":[{\"role\":1}]}"]).prop_map(String::from),
                "\\PC{0,40}",
            ],
            json_type in any::<bool>(),
        ) {
            let (_, server) = shared();
            let (method, path) = method_path;
            let headers: Vec<(&str, &str)> = if json_type { vec![("Content-Type", "application/json")] } else { vec![] };
            let r = request(server, method, path, &headers, body.as_bytes());
            prop_assert!(r.status < 500, "{} {method} {path} {body:?}: {}", r.status, String::from_utf8_lossy(&r.body));
        }
    }
}

#[test]
fn concurrent_uploads_store_each_record_once_and_sigterm_is_graceful() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("db");
    let server = start(&db, &[]);
    let body = records(3000, "c");
    let addr = server.addr.clone();
    let uploads: Vec<_> = (0..2)
        .map(|_| {
            let (addr, body) = (addr.clone(), body.clone());
            std::thread::spawn(move || {
                let r = request_to(
                    &addr,
                    "POST",
                    "/api/imports",
                    &[("Content-Type", "application/x-ndjson")],
                    body.as_bytes(),
                );
                assert_eq!(r.status, 202);
                let task = poll_import_at(&addr, r.json()["task_id"].as_str().unwrap());
                task["result"]["imported"].as_u64().unwrap()
            })
        })
        .collect();
    // Reads keep answering while the imports run.
    for _ in 0..5 {
        assert_eq!(get(&server, "/api/trajectories?page_size=1").status, 200);
    }
    let imported: u64 = uploads.into_iter().map(|t| t.join().unwrap()).sum();
    assert_eq!(imported, 3000);
    assert_eq!(get(&server, "/api/trajectories?page_size=1").json()["total"], 3000);

    // SIGTERM during a large upload's import: the server exits cleanly, and the store
    // holds whole records only (each listed record has its steps).
    let big = records(60_000, "g");
    let r = request(&server, "POST", "/api/imports", &[("Content-Type", "application/x-ndjson")], big.as_bytes());
    assert_eq!(r.status, 202);
    std::thread::sleep(Duration::from_millis(300));
    let mut server = server;
    sigterm(server.child.id());
    let status = server.child.wait().unwrap();
    assert!(status.success(), "clean exit on SIGTERM: {status:?}");
    let out = Command::new(env!("CARGO_BIN_EXE_trajstore"))
        .args(["--db", db.to_str().unwrap(), "export", "-"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let lines: Vec<Value> =
        String::from_utf8(out.stdout).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert!(lines.len() >= 3000 && lines.len() <= 63_000);
    assert!(lines.iter().all(|l| l["steps"].as_array().is_some_and(|s| s.len() == 2)));
}

fn sigterm(pid: u32) {
    let ok = Command::new("kill").args(["-TERM", &pid.to_string()]).status().unwrap();
    assert!(ok.success());
}
