//! End-to-end tests of the `trajstore` binary in temporary directories.

use std::collections::HashSet;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use serde_json::Value;

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_trajstore"))
}

fn run(db: &Path, args: &[&str]) -> Output {
    bin().arg("--db").arg(db).args(args).env_remove("TRAJSTORE_DB").output().expect("the binary runs")
}

/// Runs with --json and parses the single document on stdout.
fn run_json(db: &Path, args: &[&str]) -> (i32, Value) {
    let out = run(db, &[&["--json"], args].concat());
    let stdout = String::from_utf8(out.stdout).unwrap();
    let doc: Value = serde_json::from_str(stdout.trim()).unwrap_or_else(|e| {
        panic!("one JSON document on stdout ({e}): {stdout:?}\nstderr: {}", String::from_utf8_lossy(&out.stderr))
    });
    assert_eq!(stdout.trim().lines().count(), 1, "exactly one line of JSON");
    (out.status.code().unwrap_or(-1), doc)
}

fn demo_file(dir: &Path, prompts: u32, name: &str) -> (PathBuf, Vec<String>) {
    let cfg =
        trajstore::demo::DemoConfig { prompts, runs: 1, epochs: 2, large_observation_rate: 0.0, ..Default::default() };
    let lines: Vec<String> = cfg.lines().collect();
    let path = dir.join(name);
    std::fs::write(&path, lines.join("\n") + "\n").unwrap();
    let ids = lines
        .iter()
        .map(|l| serde_json::from_str::<Value>(l).unwrap()["trajectory_id"].as_str().unwrap().to_string())
        .collect();
    (path, ids)
}

/// Every stored record, through a JSONL export to stdout.
fn exported(db: &Path) -> Vec<Value> {
    let out = run(db, &["export", "-"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect()
}

fn count(db: &Path) -> u64 {
    let (code, doc) = run_json(db, &["query", "--page-size", "1"]);
    assert_eq!(code, 0, "{doc}");
    doc["total"].as_u64().unwrap()
}

#[test]
fn import_reports_bad_records_with_their_place_and_keeps_the_good_ones() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("db");
    let file = dir.path().join("mixed.jsonl");
    let mut bytes = b"\xEF\xBB\xBF{\"trajectory_id\":\"ok-1\",\"steps\":[{\"role\":\"user\",\"content\":\"hi\"}],\"custom\":{\"kept\":true}}\r\n".to_vec();
    bytes.extend_from_slice(b"\r\n");
    bytes.extend_from_slice(b"{\"trajectory_id\":\"bad-type\",\"reward\":\"high\"}\n");
    bytes.extend_from_slice(b"{\"data_id\":\"no id\"}\n");
    bytes.extend_from_slice(b"{not json}\n");
    bytes.extend_from_slice(b"{\"trajectory_id\":\"bad-utf8\",\"notes\":\"\xC3\x28\"}\n");
    bytes.extend_from_slice(b"{\"trajectories\":[{\"trajectory_id\":\"ok-2\"},{\"trajectory_id\":\"bad-step\",\"steps\":[{\"content\":\"x\"}]}]}\n");
    bytes.extend_from_slice(b"{\"trajectory_id\":\"ok-1\"}\n");
    bytes.extend_from_slice(b"{\"trajectory_id\":\"truncated\",\"st");
    std::fs::write(&file, &bytes).unwrap();

    let (code, report) = run_json(&db, &["import", file.to_str().unwrap()]);
    assert_eq!(code, 3, "partial imports exit 3: {report}");
    assert_eq!(report["imported"], 2, "{report}");
    assert_eq!(report["skipped"], 1, "the repeated ok-1");
    assert_eq!(report["failed"], 6);
    let errors = report["errors"].as_array().unwrap();
    let places: Vec<(u64, Option<u64>, Option<&str>)> =
        errors.iter().map(|e| (e["line"].as_u64().unwrap(), e["index"].as_u64(), e["field"].as_str())).collect();
    assert_eq!(
        places,
        [
            (3, None, Some("reward")),
            (4, None, Some("trajectory_id")),
            (5, None, None),
            (6, None, None),
            (7, Some(1), Some("steps[0]")),
            (9, None, None)
        ]
    );
    assert!(errors.iter().all(|e| e["file"].as_str().unwrap().ends_with("mixed.jsonl")));
    assert!(report["seconds"].as_f64().is_some());

    let (code, shown) = run_json(&db, &["show", "ok-1"]);
    assert_eq!(code, 0);
    assert_eq!(shown["custom"]["kept"], true, "unknown fields come back");
    assert_eq!(shown["steps"][0]["content"], "hi");
    let (code, missing) = run_json(&db, &["show", "nope"]);
    assert_eq!(code, 4);
    assert_eq!(missing["error"]["code"], "not_found");

    // --strict stores nothing when a record is bad; the store keeps what it had.
    let db2 = dir.path().join("db2");
    let (code, strict) = run_json(&db2, &["import", "--strict", file.to_str().unwrap()]);
    assert_eq!(code, 3);
    assert_eq!((strict["imported"].as_u64(), strict["failed"].as_u64()), (Some(0), Some(6)));
    assert_eq!(count(&db2), 0);
    assert_eq!(count(&db), 2);
}

#[test]
fn compressed_inputs_directories_globs_and_stdin() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("db");
    let data = dir.path().join("data");
    std::fs::create_dir_all(data.join("sub")).unwrap();
    let line = |id: &str| format!("{{\"trajectory_id\":\"{id}\"}}\n");
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all((line("g1") + &line("g2")).as_bytes()).unwrap();
    std::fs::write(data.join("a.jsonl.gz"), gz.finish().unwrap()).unwrap();
    std::fs::write(data.join("sub/b.json"), format!("[{}, {}]", line("j1").trim(), line("j2").trim())).unwrap();
    std::fs::write(data.join("ignored.txt"), "not data").unwrap();
    let (code, r) = run_json(&db, &["import", data.to_str().unwrap()]);
    assert_eq!((code, r["imported"].as_u64()), (0, Some(4)), "{r}");

    std::fs::write(dir.path().join("c1.jsonl"), line("c1")).unwrap();
    std::fs::write(dir.path().join("c2.jsonl"), line("c2")).unwrap();
    let (code, r) = run_json(&db, &["import", &format!("{}/c*.jsonl", dir.path().display())]);
    assert_eq!((code, r["imported"].as_u64()), (0, Some(2)), "{r}");

    let mut child = bin()
        .args(["--json", "--db", db.to_str().unwrap(), "import", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all((line("s1") + &line("g1")).as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    let r: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!((r["imported"].as_u64(), r["skipped"].as_u64()), (Some(1), Some(1)), "{r}");
    // --strict reads stdin twice (from a spooled copy); its errors still name stdin.
    let mut child = bin()
        .args(["--json", "--db", db.to_str().unwrap(), "import", "--strict", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all((line("s2") + "{\"trajectory_id\":5}\n").as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    let r: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!((r["imported"].as_u64(), r["failed"].as_u64()), (Some(0), Some(1)), "{r}");
    assert_eq!(r["errors"][0]["file"], "<stdin>", "{r}");
    assert_eq!(r["errors"][0]["line"], 2, "{r}");

    let (code, err) = run_json(&db, &["import", dir.path().join("missing.jsonl").to_str().unwrap()]);
    assert_eq!(code, 2);
    assert!(err["error"]["message"].as_str().unwrap().contains("missing.jsonl"));
    assert_eq!(count(&db), 7);
}

#[test]
fn reimport_skips_everything_and_export_round_trips() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("db");
    let (file, ids) = demo_file(dir.path(), 6, "demo.jsonl");
    let (_, first) = run_json(&db, &["import", file.to_str().unwrap()]);
    assert_eq!(first["imported"].as_u64(), Some(ids.len() as u64));
    let (_, second) = run_json(&db, &["import", file.to_str().unwrap()]);
    assert_eq!((second["imported"].as_u64(), second["skipped"].as_u64()), (Some(0), Some(ids.len() as u64)));

    // Native JSONL export re-imports into an empty store as the identical set.
    let out = dir.path().join("out.jsonl");
    let (code, e) = run_json(&db, &["export", out.to_str().unwrap()]);
    assert_eq!((code, e["exported"].as_u64()), (0, Some(ids.len() as u64)));
    let db2 = dir.path().join("db2");
    let (_, r) = run_json(&db2, &["import", out.to_str().unwrap()]);
    assert_eq!(r["imported"].as_u64(), Some(ids.len() as u64));
    let sorted = |mut v: Vec<Value>| {
        v.sort_by(|a, b| a["trajectory_id"].as_str().cmp(&b["trajectory_id"].as_str()));
        v
    };
    assert_eq!(sorted(exported(&db)), sorted(exported(&db2)));

    // The export matches the source records field by field (timestamps normalised).
    let source: Vec<Value> =
        std::fs::read_to_string(&file).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let by_id: std::collections::HashMap<String, Value> =
        exported(&db).into_iter().map(|v| (v["trajectory_id"].as_str().unwrap().to_string(), v)).collect();
    for s in &source {
        let e = &by_id[s["trajectory_id"].as_str().unwrap()];
        for (k, v) in s.as_object().unwrap() {
            match (v.as_f64(), e[k].as_f64()) {
                // A float field written as 1 comes back as 1.0.
                (Some(a), Some(b)) => assert_eq!(a, b, "field {k} of {}", s["trajectory_id"]),
                _ if k == "created_at" => {}
                _ => assert_eq!(&e[k], v, "field {k} of {}", s["trajectory_id"]),
            }
        }
    }

    // A filtered Parquet export holds exactly the matching rows.
    let pq = dir.path().join("run.parquet");
    let (code, e) = run_json(&db, &["export", pq.to_str().unwrap(), "--filter", "epoch_id=1"]);
    assert_eq!(code, 0);
    let expected = source.iter().filter(|s| s["epoch_id"] == 1).count() as u64;
    assert_eq!(e["exported"].as_u64(), Some(expected));
    assert_eq!(&std::fs::read(&pq).unwrap()[..4], b"PAR1");
}

#[test]
fn query_errors_name_the_parameter() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("db");
    for (args, parameter) in [
        (vec!["query", "--filter", "rewrd_min=1"], "rewrd_min"),
        (vec!["query", "--filter", "reward_min=high"], "reward_min"),
        (vec!["query", "--filter", "oops"], "--filter"),
        (vec!["query", "--sort", "steps"], "sort"),
        (vec!["query", "--page-size", "5000"], "page_size"),
        (vec!["query", "--cursor", "garbage"], "cursor"),
        (vec!["failure-modes", "--llm-endpoint", "ftp://x", "--llm-model", "m"], "--llm-endpoint"),
        (vec!["failure-modes", "--llm-endpoint", "http://127.0.0.1:9", "--llm-model", " "], "--llm-model"),
    ] {
        let (code, doc) = run_json(&db, &args);
        assert_eq!(code, 2, "{args:?}: {doc}");
        assert_eq!(doc["error"]["parameter"], parameter, "{args:?}: {doc}");
    }
}

#[test]
fn command_line_errors_under_json_are_one_json_document() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("db");
    for (args, parameter) in [
        (vec!["query", "--page", "abc"], Some("--page")),
        (vec!["query", "--page", "99999999999999999999"], Some("--page")),
        (vec!["query", "--no-such-flag"], Some("--no-such-flag")),
        (vec!["show"], None),
    ] {
        let (code, doc) = run_json(&db, &args);
        assert_eq!(code, 2, "{args:?}: {doc}");
        assert_eq!(doc["error"]["code"], "invalid_parameter", "{args:?}: {doc}");
        assert!(!doc["error"]["message"].as_str().unwrap().is_empty(), "{args:?}: {doc}");
        if let Some(p) = parameter {
            assert_eq!(doc["error"]["parameter"], p, "{args:?}: {doc}");
        }
    }
    // An argument that is not UTF-8 is clap's error too, not a panic of ours.
    #[cfg(unix)]
    {
        use std::os::unix::ffi::OsStrExt;
        let out = bin()
            .arg("--db")
            .arg(&db)
            .args(["query", "--filter"])
            .arg(std::ffi::OsStr::from_bytes(b"training_id=\xff"))
            .arg("--json")
            .env_remove("TRAJSTORE_DB")
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert_eq!(out.status.code(), Some(2), "{stdout}{}", String::from_utf8_lossy(&out.stderr));
        let doc: Value =
            serde_json::from_str(stdout.trim()).unwrap_or_else(|e| panic!("one JSON document ({e}): {stdout:?}"));
        assert_eq!(doc["error"]["code"], "invalid_parameter", "{doc}");
    }
    // Without --json clap's own message goes to stderr; --help still prints help.
    let out = run(&db, &["query", "--page", "abc"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(out.stdout.is_empty() && String::from_utf8_lossy(&out.stderr).contains("--page"));
    let help = run(&db, &["--json", "query", "--help"]);
    assert_eq!(help.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&help.stdout).contains("--filter"));
}

#[test]
fn a_relative_store_path_starting_with_db_is_a_local_directory() {
    let dir = tempfile::tempdir().unwrap();
    let (file, ids) = demo_file(dir.path(), 2, "in.jsonl");
    // lancedb alone read "db..." as a LanceDB Cloud address.
    for name in ["db", "dbstore"] {
        let out = bin()
            .current_dir(dir.path())
            .args(["import", file.to_str().unwrap(), "--db", name, "--json"])
            .env_remove("TRAJSTORE_DB")
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{name}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(dir.path().join(name).is_dir(), "{name} is a directory under the working directory");
        assert_eq!(count(&dir.path().join(name)), ids.len() as u64);
    }
}

/// The number of full-text hits for `q`.
fn search_hits(db: &Path, q: &str) -> usize {
    let (code, doc) = run_json(db, &["search", q]);
    assert_eq!(code, 0, "{q}: {doc}");
    doc["data"].as_array().unwrap().len()
}

#[test]
fn a_small_first_import_is_searchable_by_word_forms_and_so_are_later_ones() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("db");
    let file = |name: &str, id: &str, text: &str| {
        let path = dir.path().join(name);
        std::fs::write(
            &path,
            format!("{}\n", serde_json::json!({"trajectory_id": id, "steps": [{"role": "user", "content": text}]})),
        )
        .unwrap();
        path
    };
    // Imports leave their rows out of the full-text index (it is created empty), and
    // search scans them with the index's word forms; after `optimize` the index holds
    // them and finds the same.
    let (code, report) = run_json(&db, &["import", file("a.jsonl", "z1", "zebra stripes running").to_str().unwrap()]);
    assert_eq!((code, report["unindexed_rows"].as_u64()), (0, Some(1)));
    let (code, report) = run_json(&db, &["import", file("b.jsonl", "g1", "Giraffes walking slowly").to_str().unwrap()]);
    assert_eq!((code, report["unindexed_rows"].as_u64()), (0, Some(2)));
    let searches_agree = || {
        for q in ["zebra", "Zebra", "zebras", "run", "the zebra", "giraffe", "walk", "the Giraffes"] {
            assert_eq!(search_hits(&db, q), 1, "{q}");
        }
        assert_eq!(search_hits(&db, "elephant"), 0);
    };
    searches_agree();
    assert_eq!(run_json(&db, &["optimize"]).0, 0);
    let (code, report) = run_json(&db, &["import", file("c.jsonl", "z1", "zebra stripes running").to_str().unwrap()]);
    assert_eq!((code, report["skipped"].as_u64(), report["unindexed_rows"].as_u64()), (0, Some(1), Some(0)));
    searches_agree();
    // --wait-for-index folds a new import in before it returns.
    let (code, report) =
        run_json(&db, &["import", "--wait-for-index", file("d.jsonl", "e1", "an elephant").to_str().unwrap()]);
    assert_eq!((code, report["unindexed_rows"].as_u64()), (0, Some(0)));
    assert_eq!(search_hits(&db, "elephants"), 1);
}

#[test]
fn a_step_number_beyond_f64_is_kept_shown_and_refused_only_by_atif() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("db");
    let file = dir.path().join("big.jsonl");
    std::fs::write(
        &file,
        "{\"trajectory_id\":\"big\",\"steps\":[{\"role\":\"user\",\"content\":\"hi\",\"other\":1e400}]}\n",
    )
    .unwrap();
    assert_eq!(run_json(&db, &["import", file.to_str().unwrap()]).1["imported"], 1);
    let shown = run(&db, &["show", "big"]);
    assert!(shown.status.success() && String::from_utf8_lossy(&shown.stdout).contains("1e400"));
    assert!(String::from_utf8_lossy(&run(&db, &["export", "-"]).stdout).contains("1e400"), "JSONL keeps it as sent");
    // ATIF needs values: an error naming the record, not a document emptied of its steps.
    let atif = run(&db, &["export", "-", "--format", "atif"]);
    assert_eq!(atif.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&atif.stderr).contains("\"big\""), "{}", String::from_utf8_lossy(&atif.stderr));
}

#[test]
fn two_concurrent_imports_store_each_record_once() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("db");
    let (file, ids) = demo_file(dir.path(), 150, "same.jsonl");
    // Create the store first so both processes race on the writes, not the creation.
    run_json(&db, &["query"]);
    let spawn = || {
        bin()
            .args(["--json", "--db", db.to_str().unwrap(), "import", "--no-optimize", file.to_str().unwrap()])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    };
    let (a, b) = (spawn(), spawn());
    let reports: Vec<Value> = [a, b]
        .into_iter()
        .map(|c| {
            let out = c.wait_with_output().unwrap();
            assert!(
                out.status.success(),
                "{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
            serde_json::from_slice(&out.stdout).unwrap()
        })
        .collect();
    let imported: u64 = reports.iter().map(|r| r["imported"].as_u64().unwrap()).sum();
    assert_eq!(imported, ids.len() as u64, "{reports:?}");
    let records = exported(&db);
    let unique: HashSet<&str> = records.iter().map(|r| r["trajectory_id"].as_str().unwrap()).collect();
    assert_eq!((records.len(), unique.len()), (ids.len(), ids.len()));
    // Payloads written by the loser of a race are unreachable and removed by optimize.
    let (code, _) = run_json(&db, &["optimize"]);
    assert_eq!(code, 0);
    assert_eq!(exported(&db).len(), ids.len());
}

#[test]
fn an_import_killed_midway_leaves_whole_records_and_completes_on_rerun() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("db");
    let (file, ids) = demo_file(dir.path(), 1500, "big.jsonl");
    run_json(&db, &["query"]);
    let mut child = bin()
        .args(["--json", "--db", db.to_str().unwrap(), "import", "--no-optimize", file.to_str().unwrap()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // Wait until at least one batch is committed, then SIGKILL.
    let started = std::time::Instant::now();
    loop {
        std::thread::sleep(std::time::Duration::from_millis(100));
        if count(&db) > 0 || started.elapsed().as_secs() > 120 {
            break;
        }
    }
    child.kill().unwrap();
    child.wait().unwrap();
    let partial = count(&db);
    assert!(partial > 0 && partial < ids.len() as u64, "killed midway: {partial} of {}", ids.len());
    // Whole records only: every listed trajectory has its steps.
    let records = exported(&db);
    assert_eq!(records.len() as u64, partial);
    assert!(records.iter().all(|r| r["steps"].as_array().is_some_and(|s| !s.is_empty())));

    let (code, r) = run_json(&db, &["import", file.to_str().unwrap()]);
    assert_eq!(code, 0, "{r}");
    assert_eq!(r["imported"].as_u64().unwrap() + partial, ids.len() as u64, "{r}");
    let records = exported(&db);
    let unique: HashSet<&str> = records.iter().map(|r| r["trajectory_id"].as_str().unwrap()).collect();
    assert_eq!((records.len(), unique.len()), (ids.len(), ids.len()));
}

#[test]
fn a_long_lived_handle_sees_another_process_write_and_never_serves_stale_cache() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("db");
    let rt = tokio::runtime::Runtime::new().unwrap();
    let store = rt.block_on(trajstore::Trajstore::open(db.to_str().unwrap())).unwrap();
    let req = trajstore::ListRequest::default();
    assert_eq!(rt.block_on(store.list(&req)).unwrap().total, 0);
    assert_eq!(rt.block_on(store.list(&req)).unwrap().total, 0);
    let stats = store.cache_stats();
    assert!(stats.hits >= 1, "the repeated page is a cache hit: {stats:?}");

    let file = dir.path().join("one.jsonl");
    std::fs::write(&file, "{\"trajectory_id\":\"from-another-process\"}\n").unwrap();
    let (code, _) = run_json(&db, &["import", file.to_str().unwrap()]);
    assert_eq!(code, 0);
    let page = rt.block_on(store.list(&req)).unwrap();
    assert_eq!(page.total, 1);
    assert_eq!(page.data[0].trajectory_id, "from-another-process");
    assert_eq!(rt.block_on(store.get("from-another-process")).unwrap().trajectory_id, "from-another-process");
}

#[test]
fn import_detects_formats_names_them_and_refuses_unknown_names() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("db");
    let fixtures = std::path::PathBuf::from(
        std::env::var_os("CARGO_MANIFEST_DIR").unwrap_or_else(|| env!("CARGO_MANIFEST_DIR").into()),
    )
    .join("../trajstore-formats/tests/fixtures");
    let tau = fixtures.join("tau_bench.json");
    let (code, report) = run_json(&db, &["import", tau.to_str().unwrap()]);
    // Two runs import; the third element is not a run (exit 3: partly imported).
    assert_eq!((code, report["imported"].as_u64(), report["failed"].as_u64()), (3, Some(2), Some(1)));
    assert_eq!(report["files"][0]["format"], "tau-bench");
    let (_, again) = run_json(&db, &["import", tau.to_str().unwrap(), "--format", "tau-bench"]);
    assert_eq!((again["imported"].as_u64(), again["skipped"].as_u64()), (Some(0), Some(2)));
    let (code, err) = run_json(&db, &["import", tau.to_str().unwrap(), "--format", "bogus"]);
    assert_ne!(code, 0);
    let text = err.to_string();
    assert!(text.contains("unknown format") && text.contains("mini-swe-agent"), "{text}");
    // ATIF export of what is stored.
    let out = dir.path().join("out.atif.jsonl");
    let (code, e) = run_json(&db, &["export", out.to_str().unwrap(), "--format", "atif"]);
    assert_eq!((code, e["exported"].as_u64()), (0, Some(2)));
    let first: Value = serde_json::from_str(std::fs::read_to_string(&out).unwrap().lines().next().unwrap()).unwrap();
    assert_eq!(first["schema_version"], "ATIF-v1.8");
}
