//! The harbor format: its fixtures (tests/fixtures/harbor/: a job folder with five trials,
//! and a trace export) and the real data (realdata/harbor).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde_json::{json, Value};
use trajstore_formats::{convert, detect, is_companion_file, Format, SourceFile};
use trajstore_model::{parse_timestamp, Trajectory};

use crate::common::{convert_file, files, files_under, fixture, json, meta, read_path, realdata};

const JOB: &str = "harbor/jobs/job-a";

/// Each record of `path` (detected as `expected`), parsed back through the model, or the error.
fn convert_path(path: &Path, expected: Format) -> Vec<Result<(Trajectory, Value), String>> {
    read_path(path, &path.display().to_string(), expected)
}

fn trial(name: &str) -> Vec<Result<(Trajectory, Value), String>> {
    convert_path(&fixture(&format!("{JOB}/{name}/result.json")), Format::Harbor)
}

fn ids(records: &[Result<(Trajectory, Value), String>]) -> Vec<String> {
    records.iter().filter_map(|r| r.as_ref().ok()).map(|(t, _)| t.trajectory_id.clone()).collect()
}

#[test]
fn a_trial_with_an_atif_trajectory_its_continuation_subagent_and_tests() {
    let got = trial("hello-world__AAAAAAA");
    assert_eq!(got.len(), 2, "the trial, then its summarization subagent");
    let (t, v) = got[0].as_ref().unwrap();
    assert!(t.trajectory_id.starts_with("harbor:") && t.trajectory_id.ends_with(":hello-world__AAAAAAA"));
    assert_eq!(
        (t.data_id.as_deref(), t.agent_name.as_deref(), t.training_id.as_deref(), t.sample_id),
        (Some("hello-world"), Some("terminus-2"), Some("job-a"), Some(0))
    );
    assert_eq!((t.reward, t.is_success, t.termination_reason.as_deref()), (Some(1.0), Some(true), None));
    // The agent's execution, 10:00:40 to 10:04:10; the whole trial took 5 minutes.
    assert_eq!(t.exec_time, Some(210.0));
    assert_eq!(v["metadata"]["trial_time"], 300.0);
    assert_eq!(v["created_at"], "2026-01-01T10:00:00.000000Z");
    let m = &v["metadata"];
    assert_eq!(
        (&m["input_tokens"], &m["output_tokens"], &m["cache_read_tokens"], &m["cost"]),
        (&json!(3000), &json!(250), &json!(100), &json!(0.012))
    );
    assert_eq!(
        (&m["model"], &m["model_provider"], &m["agent_version"]),
        (&json!("gpt-4o"), &json!("openai"), &json!("2.0.0"))
    );
    assert_eq!(m["agent_result"], json!({"metadata": {"n_episodes": 3}}));
    assert_eq!(m["rewards"], json!({"reward": 1.0}));
    assert_eq!(m["config"]["job_id"], "11111111-0000-0000-0000-000000000001");
    assert_eq!(m["task_checksum"], "abc123");
    assert!(m["environment_setup"]["started_at"].is_string());
    // The verifier's CTRF tests, each with its status (and message, duration when given).
    assert_eq!(
        m["verifier_tests"],
        json!([
            {"name": "test_outputs.py::test_file_exists", "status": "passed", "duration": 0.001},
            {"name": "test_outputs.py::test_content", "status": "passed", "duration": 0.002},
            {"name": "test_outputs.py::test_optional", "status": "skipped", "message": "not on this platform"}
        ])
    );
    assert_eq!(m["verifier_summary"]["tests"], 3);
    // Steps: trajectory.json (user, agent and its tool result, the handoff and its reference to
    // the summarization subagent) then trajectory.cont-1.json.
    let roles: Vec<&str> = v["steps"].as_array().unwrap().iter().map(|s| s["role"].as_str().unwrap()).collect();
    assert_eq!(
        roles,
        ["user", "assistant", "tool", "system", "tool", "user", "assistant", "tool", "assistant", "tool"]
    );
    assert_eq!(v["steps"][4]["subagent_trajectory_ref"][0]["session_id"], "sess-a-summary");
    assert_eq!(t.question.as_deref(), Some("Create hello.txt with 'Hello, world!'"));
    assert_eq!(v["steps"][1]["reasoning_content"], "Simple task.");
    assert_eq!(v["steps"][1]["tool_calls"][0]["id"], "call_1");
    assert_eq!(v["steps"][2]["tool_call_id"], "call_1");
    assert_eq!(v["steps"][5]["continuation"], "trajectory.cont-1.json");
    assert_eq!(v["steps"][9]["tool_call_id"], "call_3");
    assert_eq!(m["continuations"], json!(["trajectory.cont-1.json"]));
    assert_eq!(m["steps_source"], "agent/trajectory.json (ATIF-v1.5)");
    assert_eq!(m["atif"]["session_id"], "sess-a");
    // The subagent: a record of its own, in the same task and job, pointing at its trial.
    let (s, sv) = got[1].as_ref().unwrap();
    assert!(s.trajectory_id.ends_with(":hello-world__AAAAAAA:sess-a-summary"), "{}", s.trajectory_id);
    assert_eq!((s.data_id.as_deref(), s.training_id.as_deref(), s.step_count), (Some("hello-world"), Some("job-a"), 2));
    assert_eq!(sv["metadata"]["subagent_of"], json!(t.trajectory_id));
    assert!(sv["source"].as_str().unwrap().ends_with("trajectory.summarization-1-summary.json"));
    // The same bytes give the same ids.
    assert_eq!(ids(&got), ids(&trial("hello-world__AAAAAAA")));
}

#[test]
fn a_second_attempt_read_from_its_episode_logs() {
    let got = trial("hello-world__BBBBBBB");
    let (t, v) = got[0].as_ref().unwrap();
    // Started after hello-world__AAAAAAA, same task and agent: the second attempt.
    assert_eq!(t.sample_id, Some(1));
    assert_eq!((t.reward, t.is_success), (Some(0.0), Some(false)));
    assert_eq!(t.termination_reason.as_deref(), Some("AgentTimeoutError"));
    assert_eq!(v["metadata"]["exception"]["exception_message"], "Agent timed out after 900s");
    assert_eq!((v["metadata"].get("cache_read_tokens"), &v["metadata"]["input_tokens"]), (None, &json!(500)));
    let steps = v["steps"].as_array().unwrap();
    assert_eq!(steps.len(), 4);
    assert_eq!(
        (&steps[0]["role"], &steps[0]["content"], &steps[0]["episode"]),
        (&json!("user"), &json!("Create hello.txt"), &json!(0))
    );
    assert_eq!((&steps[3]["role"], &steps[3]["episode"]), (&json!("assistant"), &json!(1)));
    assert_eq!(v["metadata"]["steps_source"], "agent/episode-*/{prompt,response}.txt");
    assert_eq!(
        v["metadata"]["verifier_tests"],
        json!([{"name": "test_outputs.py::test_content", "status": "failed", "message": "AssertionError: file missing", "trace": "assert False"}])
    );
}

#[test]
fn a_trajectory_json_that_is_not_atif_is_said_so_and_the_command_logs_are_read() {
    let got = trial("other-task__CCCCCCC");
    let (t, v) = got[0].as_ref().unwrap();
    assert!(v["metadata"]["trajectory_error"].as_str().unwrap().contains("is not ATIF"), "{}", v["metadata"]);
    // The only reward there is counts; 0.5 is not a success.
    assert_eq!((t.reward, t.is_success, t.sample_id), (Some(0.5), Some(false), Some(0)));
    assert_eq!(
        (&v["metadata"]["rewards"], &v["metadata"]["dataset"]),
        (&json!({"accuracy": 0.5}), &json!("my-dataset"))
    );
    assert!(v["metadata"].get("input_tokens").is_none());
    assert_eq!(
        v["steps"][0]["tool_calls"][0],
        json!({"id": "command-0", "name": "command", "arguments": {"command": "claude --print 'solve the task'"}})
    );
    assert_eq!(
        v["steps"][3],
        json!({"role": "tool", "tool_call_id": "command-1", "name": "command", "content": "42\n", "return_code": 1})
    );
    assert_eq!(t.step_count, 4);
}

#[test]
fn a_custom_agents_episode_list_is_read_and_marked() {
    let got = trial("custom-task__DDDDDDD");
    let (t, v) = got[0].as_ref().unwrap();
    assert_eq!(t.step_count, 4);
    assert_eq!((t.agent_name.as_deref(), t.question.as_deref()), (Some("terminus-2"), Some("Task: say hi")));
    assert!(v["metadata"]["steps_source"].as_str().unwrap().contains("not ATIF"));
    assert_eq!((&v["metadata"]["input_tokens"], &v["metadata"]["output_tokens"]), (&json!(10), &json!(5)));
}

#[test]
fn a_broken_trial_names_the_field() {
    let got = trial("broken-task__EEEEEEE");
    assert_eq!(got.len(), 1);
    assert!(got[0].as_ref().unwrap_err().contains("trial_name"), "{:?}", got[0]);
}

#[test]
fn job_files_convert_the_trials_beside_them_with_the_trials_own_ids() {
    let mut each = Vec::new();
    for name in [
        "broken-task__EEEEEEE",
        "custom-task__DDDDDDD",
        "hello-world__AAAAAAA",
        "hello-world__BBBBBBB",
        "other-task__CCCCCCC",
    ] {
        each.extend(trial(name));
    }
    for file in ["result.json", "config.json"] {
        let got = convert_path(&fixture(&format!("{JOB}/{file}")), Format::Harbor);
        assert_eq!(got.len(), each.len(), "{file}");
        assert_eq!(got.iter().filter(|r| r.is_err()).count(), 1);
        assert_eq!(ids(&got), ids(&each), "{file}");
    }
    // A trial's config.json stands for its trial.
    let got = convert_path(&fixture(&format!("{JOB}/hello-world__BBBBBBB/config.json")), Format::Harbor);
    assert_eq!(ids(&got), ids(&trial("hello-world__BBBBBBB")));
}

#[test]
fn a_job_summary_alone_says_what_it_is() {
    let dir = tempfile::tempdir().unwrap();
    let alone = dir.path().join("result.json");
    std::fs::copy(fixture(&format!("{JOB}/result.json")), &alone).unwrap();
    let bytes = std::fs::read(&alone).unwrap();
    for path in [Some(alone.as_path()), None] {
        let file = SourceFile { label: "result.json", path, bytes: &bytes, labels_dir: None };
        let err = convert(Format::Harbor, &file).unwrap_err().to_string();
        assert!(err.contains("Harbor job summary (job 11111111-0000-0000-0000-000000000001)"), "{err}");
    }
}

#[test]
fn a_walk_keeps_only_the_trials_result_json() {
    let mut all = Vec::new();
    files(&fixture("harbor"), &mut all);
    let kept: Vec<String> = all
        .iter()
        .filter(|p| !is_companion_file(p))
        .map(|p| p.strip_prefix(fixture("harbor")).unwrap().display().to_string())
        .collect();
    let trials = [
        "broken-task__EEEEEEE",
        "custom-task__DDDDDDD",
        "hello-world__AAAAAAA",
        "hello-world__BBBBBBB",
        "other-task__CCCCCCC",
    ];
    let mut expected: Vec<String> = vec!["hello-world.traces.json".into()];
    expected.extend(trials.iter().map(|t| format!("jobs/job-a/{t}/result.json")));
    assert_eq!(kept, expected);
    // An ATIF file outside any trial is no companion.
    assert!(!is_companion_file(&fixture("atif.json")));
}

#[test]
fn trace_export_rows() {
    let got = convert_path(&fixture("harbor/hello-world.traces.json"), Format::Harbor);
    assert_eq!(got.len(), 3);
    let (t, v) = got[0].as_ref().unwrap();
    assert!(t.trajectory_id.ends_with(":job-a:hello-world__AAAAAAA:episode-0"), "{}", t.trajectory_id);
    assert_eq!(
        (t.data_id.as_deref(), t.agent_name.as_deref(), t.training_id.as_deref(), t.reward, t.is_success, t.step_count),
        (Some("hello-world"), Some("terminus-2"), Some("job-a"), Some(1.0), Some(true), 2)
    );
    assert_eq!(
        (&v["metadata"]["model"], &v["metadata"]["model_provider"]),
        (&json!("openai/gpt-4o"), &json!("openai"))
    );
    assert_eq!(t.question.as_deref(), Some("Create hello.txt"));
    assert_eq!(got[1].as_ref().unwrap().0.step_count, 4);
    assert!(got[2].as_ref().unwrap_err().contains("conversations"));
}

#[test]
fn other_fixtures_are_not_harbor() {
    let mut all = Vec::new();
    files(&fixture(""), &mut all);
    for p in all.iter().filter(|p| !p.starts_with(fixture("harbor"))) {
        assert_ne!(detect(&std::fs::read(p).unwrap()), Some(Format::Harbor), "{}", p.display());
    }
}

// ---- the real data ----

/// The tests of a CTRF report, by status, computed here.
fn ctrf_statuses(report: &Value) -> BTreeMap<String, usize> {
    let mut out = BTreeMap::new();
    for t in report["results"]["tests"].as_array().unwrap() {
        *out.entry(t["status"].as_str().unwrap().to_string()).or_default() += 1;
    }
    out
}

fn statuses(tests: &Value) -> BTreeMap<String, usize> {
    let mut out = BTreeMap::new();
    for t in tests.as_array().into_iter().flatten() {
        *out.entry(t["status"].as_str().unwrap().to_string()).or_default() += 1;
    }
    out
}

/// Checks a trial record against its result.json (and ctrf.json), with values computed here.
fn check_trial(path: &Path, t: &Trajectory) {
    let r = json(path);
    let m = meta(t);
    assert_eq!(t.data_id.as_deref(), r["task_name"].as_str());
    assert!(t.trajectory_id.ends_with(&format!(":{}", r["trial_name"].as_str().unwrap())));
    assert_eq!(t.agent_name.as_deref(), r["agent_info"]["name"].as_str());
    let job = r["config"]["trials_dir"].as_str().unwrap().rsplit('/').next().unwrap();
    assert_eq!(t.training_id.as_deref(), Some(job));
    let reward = r["verifier_result"]["rewards"]["reward"].as_f64();
    assert_eq!((t.reward, t.is_success), (reward, reward.map(|x| x >= 1.0)));
    let ar = &r["agent_result"];
    for (ours, theirs) in [
        ("input_tokens", "n_input_tokens"),
        ("output_tokens", "n_output_tokens"),
        ("cache_read_tokens", "n_cache_tokens"),
        ("cost", "cost_usd"),
    ] {
        assert_eq!(m.get(ours), ar.get(theirs).filter(|v| !v.is_null()), "{ours}");
    }
    assert_eq!(m["model"], r["agent_info"]["model_info"]["name"]);
    let at = |k: &str| parse_timestamp(r["agent_execution"][k].as_str().unwrap()).unwrap();
    assert_eq!(t.exec_time, Some((at("finished_at") - at("started_at")) as f64 / 1e6));
    let ctrf = path.parent().unwrap().join("verifier/ctrf.json");
    if ctrf.is_file() {
        let report = json(&ctrf);
        assert_eq!(statuses(&m["verifier_tests"]), ctrf_statuses(&report));
        let failed = report["results"]["tests"].as_array().unwrap().iter().filter(|x| x["status"] == "failed");
        let with_message: Vec<&Value> =
            m["verifier_tests"].as_array().unwrap().iter().filter(|x| x["message"].is_string()).collect();
        assert_eq!(with_message.len(), failed.filter(|x| x["message"].is_string()).count());
    } else {
        assert!(m.get("verifier_tests").is_none());
    }
}

fn is_trial_result(path: &Path) -> bool {
    path.file_name().is_some_and(|n| n == "result.json") && json(path).get("trial_name").is_some()
}

/// ATIF steps as native steps: one per step, plus one per observation result.
fn atif_step_count(doc: &Value) -> usize {
    doc["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| 1 + s.pointer("/observation/results").and_then(Value::as_array).map_or(0, Vec::len))
        .sum()
}

#[test]
fn real_harbor_files_convert_or_say_why() {
    let Some(root) = realdata() else { return };
    let mut counts: BTreeMap<String, (usize, usize)> = BTreeMap::new();
    for path in files_under(&root, "harbor") {
        let name = path.file_name().unwrap().to_string_lossy().to_string();
        if name == "SOURCES.md" {
            continue;
        }
        let bytes = std::fs::read(&path).unwrap();
        let format = detect(&bytes);
        let out = if format.is_some() { Some(convert_file(&path)) } else { None };
        let entry = counts.entry(format.map_or("unrecognised".into(), |f| f.name().to_string())).or_default();
        if let Some(o) = &out {
            entry.0 += o.records.len();
            entry.1 += o.errors.len();
        }
        let shown = path.display().to_string();
        if is_trial_result(&path) {
            let out = out.unwrap();
            assert_eq!(format, Some(Format::Harbor), "{shown}");
            assert!(out.errors.is_empty(), "{:?}", out.errors);
            assert_eq!(out.records.len(), 1, "{shown}");
            check_trial(&path, &out.records[0]);
            assert!(!is_companion_file(&path), "{shown}");
            // The same bytes, the same id.
            assert_eq!(convert_file(&path).records[0].trajectory_id, out.records[0].trajectory_id);
        } else if name == "result.json" || name == "config.json" {
            // Job files (and a trial's config.json) stand for the trials of their folder.
            assert_eq!(format, Some(Format::Harbor), "{shown}");
            assert!(is_companion_file(&path), "{shown}");
            let dir = path.parent().unwrap();
            let trial_dirs: Vec<PathBuf> =
                if dir.join("result.json").is_file() && is_trial_result(&dir.join("result.json")) {
                    vec![dir.join("result.json")]
                } else {
                    std::fs::read_dir(dir)
                        .unwrap()
                        .flatten()
                        .map(|e| e.path().join("result.json"))
                        .filter(|p| p.is_file())
                        .collect()
                };
            let got: Vec<String> = out.unwrap().records.iter().map(|t| t.trajectory_id.clone()).collect();
            let want: Vec<String> =
                trial_dirs.iter().map(|p| convert_file(p).records[0].trajectory_id.clone()).collect();
            assert_eq!(got, want, "{shown}");
        } else if name.ends_with(".traces.json") {
            // Harbor's SFT export: one record per episode row, the conversation as steps.
            let rows = json(&path);
            let out = out.unwrap();
            assert_eq!(format, Some(Format::Harbor), "{shown}");
            assert!(out.errors.is_empty(), "{:?}", out.errors);
            assert_eq!(out.records.len(), rows.as_array().unwrap().len());
            for (row, t) in rows.as_array().unwrap().iter().zip(&out.records) {
                assert_eq!(t.step_count as usize, row["conversations"].as_array().unwrap().len());
                assert_eq!(t.data_id.as_deref(), row["task"].as_str());
            }
        } else if name == "ctrf.json" {
            assert_eq!(format, None, "{shown}");
            assert!(is_companion_file(&path), "{shown}");
        } else if json_or_null(&bytes).get("schema_version").is_some() {
            // Standalone ATIF trajectories (Harbor's golden files): the atif format's.
            let doc = json(&path);
            let out = out.unwrap();
            assert_eq!(format, Some(Format::Atif), "{shown}");
            assert!(out.errors.is_empty(), "{:?}", out.errors);
            assert_eq!(out.records[0].step_count as usize, atif_step_count(&doc), "{shown}");
        } else {
            // The RFC's example inputs of other agents, and the RFC itself: never harbor.
            assert_ne!(format, Some(Format::Harbor), "{shown}");
        }
    }
    println!("{counts:#?}");
    assert!(counts.get("harbor").is_some_and(|c| c.0 > 0));
}

fn json_or_null(bytes: &[u8]) -> Value {
    serde_json::from_slice(bytes).unwrap_or(Value::Null)
}

#[test]
fn real_atif_tool_calls_pair_with_results() {
    let Some(root) = realdata() else { return };
    for path in files_under(&root, "harbor").iter().filter(|p| p.to_string_lossy().contains("trajectory")) {
        let out = convert_file(path);
        if out.format != Some(Format::Atif) {
            continue;
        }
        let bytes = std::fs::read(path).unwrap();
        let label = path.display().to_string();
        let file = SourceFile { label: &label, path: Some(path), bytes: &bytes, labels_dir: None };
        let v = convert(Format::Atif, &file).unwrap().remove(0).record.unwrap();
        let steps = v["steps"].as_array().unwrap();
        let calls: Vec<&Value> =
            steps.iter().flat_map(|s| s["tool_calls"].as_array().into_iter().flatten()).map(|c| &c["id"]).collect();
        let results: Vec<&Value> = steps
            .iter()
            .filter(|s| s["role"] == "tool" && s.get("tool_call_id").is_some())
            .map(|s| &s["tool_call_id"])
            .collect();
        for r in &results {
            assert!(calls.contains(r), "{}: result for {r} with no call", path.display());
        }
    }
}

#[test]
fn the_detector_claims_no_file_of_the_other_folders() {
    let Some(root) = realdata() else { return };
    let mut all = Vec::new();
    files(&root, &mut all);
    let mut n = 0;
    for path in all.iter().filter(|p| !p.starts_with(root.join("harbor"))) {
        let bytes = std::fs::read(path).unwrap();
        assert_ne!(detect(&bytes), Some(Format::Harbor), "{}", path.display());
        n += 1;
    }
    println!("harbor: none of {n} other files claimed");
}

#[test]
fn a_trial_result_uploaded_alone_keeps_its_id_and_label() {
    let path = fixture(&format!("{JOB}/hello-world__AAAAAAA/result.json"));
    let bytes = std::fs::read(&path).unwrap();
    let file = SourceFile { label: "upload", path: None, bytes: &bytes, labels_dir: None };
    let got = convert(Format::Harbor, &file).unwrap();
    assert_eq!(got.len(), 1, "no folder around it: no subagent either");
    let v = got[0].record.as_ref().unwrap();
    assert_eq!(v["trajectory_id"], json!(ids(&trial("hello-world__AAAAAAA"))[0]));
    assert_eq!((&v["steps"], &v["reward"], v.get("sample_id")), (&json!([]), &json!(1.0), None));
    Trajectory::from_json(v.to_string().as_bytes()).unwrap();
}
