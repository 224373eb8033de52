//! The verifiers format: its fixture (tests/fixtures/verifiers/) and the real data.

use std::collections::HashMap;
use std::path::Path;

use serde_json::{json, Value};
use trajstore_formats::{convert, detect, is_companion_file, Format, SourceFile};
use trajstore_model::{parse_timestamp, Trajectory};

use crate::common::{convert_file, files, files_under, fixture, json, meta, ok, read, realdata};

const NEW: &str = "verifiers/math-tools--m-1/a1b2c3d4/results.jsonl";
const OLD: &str = "verifiers/arc--m-2/0f0f0f0f/results.jsonl";

#[test]
fn fixture_rollouts_steps_and_tool_calls() {
    let got = read(NEW, Format::Verifiers);
    assert_eq!(got.len(), 6);
    let (t, v) = ok(&got[0]);
    assert!(t.trajectory_id.starts_with("verifiers:") && t.trajectory_id.ends_with(":0:0"), "{}", t.trajectory_id);
    assert_eq!((t.data_id.as_deref(), t.sample_id, t.reward), (Some("0"), Some(0), Some(1.0)));
    assert_eq!(t.training_id.as_deref(), Some("math-tools/a1b2c3d4"));
    assert_eq!((t.question.as_deref(), t.exec_time), (Some("What is 6*7?"), Some(2.5)));
    assert_eq!(v["task"]["answer"], "42");
    assert_eq!(t.step_count, 2 + 4);
    // Tool calls written as JSON strings become calls; the tool messages, which carry no
    // id, answer them in order.
    assert_eq!(
        v["steps"][2]["tool_calls"],
        json!([{"id": "call_a", "name": "python", "arguments": {"code": "print(6*7)"}},
               {"id": "call_b", "name": "python", "arguments": {"code": "print('ok')"}}])
    );
    assert_eq!(v["steps"][3], json!({"role": "tool", "content": "42", "tool_call_id": "call_a", "name": "python"}));
    assert_eq!(v["steps"][4]["tool_call_id"], "call_b");
    assert_eq!(v["steps"][5], json!({"role": "assistant", "content": "\\boxed{42}"}));
    let m = &v["metadata"];
    assert_eq!(m["metrics"], json!({"correct_answer_reward_func": 1.0, "num_turns": 2.0}));
    assert_eq!((t.is_success, m["success_metric"].as_str()), (Some(true), Some("correct_answer_reward_func")));
    assert_eq!(
        (m["model"].as_str(), m["env_id"].as_str(), m["run_id"].as_str()),
        (Some("m-1"), Some("math-tools"), Some("a1b2c3d4"))
    );
    assert_eq!((m["input_tokens"].as_i64(), m["output_tokens"].as_i64()), (Some(120), Some(30)));
    assert_eq!(
        (m["task"].as_str(), m["generation_ms"].as_f64(), m["scoring_ms"].as_f64()),
        (Some("default"), Some(2400.5), Some(99.5))
    );
    assert_eq!(m["info"]["oai_tools"][0]["function"]["name"], "python");
    assert_eq!(m["run"]["avg_metrics"]["num_turns"], 1.67);
    assert_eq!(m["prompt_steps"], 2);
    assert!(m.get("correct_answer_reward_func").is_none() && m.get("total_ms").is_none());

    // A tool call that is not JSON stays the text it was.
    let (t, v) = ok(&got[1]);
    assert_eq!((t.data_id.as_deref(), t.sample_id, t.is_success), (Some("1"), Some(0), Some(false)));
    assert_eq!(v["steps"][2]["tool_calls"][0], json!({"name": "", "arguments": "{not json"}));
    // The second rollout of example 0; the question is the prompt's last user turn, and a
    // partial score is no success label.
    let (t, _) = ok(&got[2]);
    assert!(t.trajectory_id.ends_with(":0:1"));
    assert_eq!((t.sample_id, t.question.as_deref(), t.is_success), (Some(1), Some("What is 6*7?"), None));
    assert!(got[3].as_ref().unwrap_err().contains("invalid JSON"));
    assert!(got[4].as_ref().unwrap_err().contains("prompt"));
    let e = got[5].as_ref().unwrap_err();
    assert!(e.contains("completion[0].role"), "{e}");
}

#[test]
fn fixture_older_layout_and_text_completions() {
    let got = read(OLD, Format::Verifiers);
    let (t, v) = ok(&got[0]);
    assert_eq!((t.data_id.as_deref(), t.training_id.as_deref()), (Some("0"), Some("arc/0f0f0f0f")));
    assert_eq!((t.is_success, t.reward), (Some(false), Some(0.0)));
    // Older runs name the environment `env` and write a local `date`.
    assert_eq!(t.created_at, parse_timestamp("2025-09-19 20:30:27"));
    assert_eq!(v["steps"][3], json!({"role": "user", "content": "API error"}));
    assert_eq!(v["metadata"]["info"], json!({"game_id": "ls20"}));
    let (t, v) = ok(&got[1]);
    assert_eq!(t.is_success, Some(true));
    assert_eq!(
        v["steps"],
        json!([{"role": "user", "content": "Complete: The capital of France is"}, {"role": "assistant", "content": " Paris."}])
    );
    // No example id: the line stands in; no correctness metric: no label.
    let (t, v) = ok(&got[2]);
    assert!(t.trajectory_id.ends_with(":line3"));
    assert_eq!((t.data_id.as_deref(), t.sample_id, t.is_success), (None, None, None));
    assert_eq!(v["metadata"]["metrics"], json!({"format_reward_func": 0.2}));
}

#[test]
fn fixture_without_its_run_metadata() {
    let bytes = std::fs::read(fixture(NEW)).unwrap();
    let file = SourceFile { label: "upload", path: None, bytes: &bytes, labels_dir: None };
    let v = convert(Format::Verifiers, &file).unwrap().remove(0).record.unwrap();
    assert!(v.get("training_id").is_none() && v["metadata"].get("model").is_none());
    assert_eq!(v["data_id"], "0");
}

#[test]
fn companion_and_detection() {
    assert!(is_companion_file(&fixture("verifiers/math-tools--m-1/a1b2c3d4/metadata.json")));
    assert!(!is_companion_file(&fixture("verifiers/math-tools--m-1/a1b2c3d4/results.jsonl")));
    assert!(!is_companion_file(&fixture("opencode/parent.json")));
    // verl's rows and Responses rows are not verifiers', nor is a plain SFT pair.
    assert_eq!(detect(br#"{"input":"p","output":"o","score":1.0,"step":3}"#), Some(Format::Verl));
    assert_eq!(detect(br#"{"prompt":"p","completion":"c","response":{},"reward":1}"#), Some(Format::Responses));
    assert_eq!(detect(br#"{"prompt":"p","completion":"c"}"#), None);
    // A prefix cut inside the first row still shows verifiers' `example_id`.
    assert_eq!(detect(br#"{"example_id":0,"prompt":[{"role":"user","content":"a very long"#), Some(Format::Verifiers));
}

/// Success as the test reads it from the correctness columns the real runs have.
fn success_label(row: &Value) -> Option<bool> {
    ["success", "correct_answer_reward_func", "check_answer_reward_func", "judge_reward_func", "judge_reward"]
        .iter()
        .find_map(|k| row.get(*k).and_then(Value::as_f64).filter(|v| *v == 0.0 || *v == 1.0))
        .map(|v| v == 1.0)
}

/// Every tool step answers a call of the assistant step before it.
fn assert_paired(t: &Trajectory) -> usize {
    let steps: Vec<Value> = serde_json::from_str(&t.steps_json).unwrap();
    let mut calls: Vec<Value> = Vec::new();
    let mut paired = 0;
    for s in &steps {
        match s["role"].as_str() {
            Some("assistant") => calls = s["tool_calls"].as_array().cloned().unwrap_or_default(),
            Some("tool") => {
                assert!(calls.iter().any(|c| c["id"] == s["tool_call_id"] && c["name"] == s["name"]), "{s}");
                paired += 1;
            }
            _ => {}
        }
    }
    paired
}

fn check_run(path: &Path) -> (usize, usize, usize) {
    let run = json(&path.with_file_name("metadata.json"));
    let rows: Vec<Value> =
        std::fs::read_to_string(path).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let out = convert_file(path);
    assert_eq!(out.format, Some(Format::Verifiers), "{}", path.display());
    assert!(out.errors.is_empty(), "{:?}", out.errors);
    assert_eq!(out.records.len(), rows.len());
    let env = run.get("env_id").or_else(|| run.get("env")).and_then(Value::as_str).unwrap();
    let folder = path.parent().unwrap().file_name().unwrap().to_string_lossy();
    let (mut seen, mut labels, mut tools) = (HashMap::new(), 0, 0);
    for (row, t) in rows.iter().zip(&out.records) {
        let example = row.get("example_id").or_else(|| row.get("id")).unwrap().to_string();
        let n = seen.entry(example.clone()).or_insert(0);
        assert_eq!((t.data_id.as_deref(), t.sample_id), (Some(example.as_str()), Some(*n)));
        *n += 1;
        let len = |k: &str| row[k].as_array().map_or(1, Vec::len);
        assert_eq!(t.step_count as usize, len("prompt") + len("completion"));
        assert_eq!(t.reward, row["reward"].as_f64());
        assert_eq!(t.training_id.as_deref(), Some(format!("{env}/{folder}").as_str()));
        assert_eq!(t.exec_time, row["total_ms"].as_f64().map(|ms| ms / 1000.0));
        let m = meta(t);
        assert_eq!(m["model"], run["model"]);
        let expected_metrics: Vec<&String> = row
            .as_object()
            .unwrap()
            .iter()
            .filter(|(k, v)| {
                v.is_number()
                    && !["id", "example_id", "reward", "generation_ms", "scoring_ms", "total_ms"].contains(&k.as_str())
            })
            .map(|(k, _)| k)
            .collect();
        let got_metrics: Vec<&String> = m["metrics"].as_object().unwrap().keys().collect();
        assert_eq!(got_metrics.len(), expected_metrics.len());
        assert!(expected_metrics.iter().all(|k| m["metrics"][k.as_str()] == row[k.as_str()]));
        assert_eq!(t.is_success, success_label(row));
        labels += usize::from(t.is_success.is_some());
        let tool_messages = row["completion"].as_array().unwrap().iter().filter(|m| m["role"] == "tool").count();
        assert_eq!(assert_paired(t), tool_messages);
        tools += tool_messages;
    }
    let again = convert_file(path);
    let ids = |o: &crate::common::Outcome| o.records.iter().map(|t| t.trajectory_id.clone()).collect::<Vec<_>>();
    assert_eq!(ids(&again), ids(&out));
    (rows.len(), labels, tools)
}

#[test]
fn real_runs_rollouts_metrics_and_labels() {
    let Some(root) = realdata() else { return };
    let mut total = (0, 0, 0);
    for path in files_under(&root, "verifiers") {
        let name = path.file_name().unwrap().to_string_lossy();
        if name == "metadata.json" {
            assert!(is_companion_file(&path), "{}", path.display());
            assert_ne!(detect(&std::fs::read(&path).unwrap()), Some(Format::Verifiers));
        } else if name == "results.jsonl" {
            let (rows, labels, tools) = check_run(&path);
            println!("verifiers {}: {rows} rollouts, {labels} labelled, {tools} tool results", path.display());
            total = (total.0 + rows, total.1 + labels, total.2 + tools);
        }
    }
    assert!(total.0 > 0 && total.1 > 0 && total.2 > 0, "{total:?}");
}

#[test]
fn real_files_of_other_formats_are_not_claimed() {
    let Some(root) = realdata() else { return };
    let mut all = Vec::new();
    files(&root, &mut all);
    for path in all.iter().filter(|p| !p.starts_with(root.join("verifiers"))) {
        assert_ne!(detect(&std::fs::read(path).unwrap()), Some(Format::Verifiers), "{}", path.display());
        assert!(
            !path.ends_with("metadata.json")
                || !is_companion_file(path)
                || path.with_file_name("results.jsonl").is_file()
        );
    }
}
