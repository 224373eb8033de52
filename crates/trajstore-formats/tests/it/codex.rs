//! codex: OpenAI Codex CLI / Codex Desktop rollout files, on hand-written fixtures (the
//! current layout, an older one, a forked session) and on the real files of
//! `realdata/codex`, checked against values computed here from the source lines.

use std::collections::{HashMap, HashSet};
use std::path::Path;

use serde_json::{json, Value};
use trajstore_formats::{convert, detect, Format, SourceFile};

use crate::common::{files, files_under, fixture, meta, ok, read, realdata};

#[test]
fn codex_current_layout_maps_every_part() {
    let got = read("codex/rollout.jsonl", Format::Codex);
    // One trajectory, then one error for each of the two broken lines, in file order.
    assert_eq!(got.len(), 3);
    let (t, v) = ok(&got[0]);
    assert!(t.trajectory_id.starts_with("codex:"));
    assert!(t.trajectory_id.ends_with(":019a0000-0000-7000-8000-000000000001"), "{}", t.trajectory_id);
    assert_eq!(t.agent_name.as_deref(), Some("codex"));
    assert_eq!(t.question.as_deref(), Some("Fix the failing parser test"));
    assert_eq!(v["created_at"], "2026-06-18T00:52:03.755Z");
    // Both turns' durations: 19 s completed, 29 s aborted.
    assert_eq!(t.exec_time, Some(48.0));
    assert_eq!(t.termination_reason.as_deref(), Some("interrupted"));
    assert!(got[1].as_ref().is_err_and(|e| e.contains("invalid JSON")), "{:?}", got[1].as_ref().err());
    assert!(got[2].as_ref().is_err_and(|e| e.contains("payload")), "{:?}", got[2].as_ref().err());

    let m = meta(t);
    assert_eq!((m["model"].as_str(), m["models"].clone()), (Some("gpt-5.4"), json!(["gpt-5.4", "gpt-5.5"])));
    assert_eq!(m["effort"], "medium");
    let tokens = ["input_tokens", "output_tokens", "cache_read_tokens", "reasoning_tokens", "total_tokens"];
    assert_eq!(tokens.map(|k| m[k].as_i64()), [3000, 150, 1200, 30, 3150].map(Some));
    assert_eq!(m["rate_limits"]["primary"]["used_percent"], 11);
    assert_eq!(m["session_id"], "019a0000-0000-7000-8000-000000000001");
    assert_eq!((m["cwd"].as_str(), m["cli_version"].as_str()), (Some("/home/u/repo"), Some("0.142.5")));
    assert_eq!((m["originator"].as_str(), m["model_provider"].as_str()), (Some("codex-tui"), Some("openai")));
    assert_eq!(m["git"]["branch"], "main");
    assert_eq!(m["base_instructions"], "You are Codex, a coding agent.");
    assert_eq!(m["model_context_window"], 258400);
    // The resume repeats the session; only what changed is kept.
    assert_eq!(
        m["resumes"],
        json!([{"line_timestamp": "2026-06-18T01:10:00.000Z", "git": {"commit_hash": "abc123", "branch": "fix/parser", "repository_url": "https://example.org/repo.git"}}])
    );
    assert_eq!((m["turn_count"].as_i64(), m["aborted_turns"].as_i64()), (Some(2), Some(1)));
    assert_eq!(m["turns"][0]["status"], "completed");
    assert_eq!(m["turns"][0]["time_to_first_token_ms"], 4000);
    assert_eq!(m["turns"][1]["reason"], "interrupted");
    assert_eq!((m["turns"][1]["model"].as_str(), m["turns"][1]["effort"].as_str()), (Some("gpt-5.5"), Some("high")));
    assert_eq!(m["turn_contexts"].as_array().map(Vec::len), Some(1));
    // The last turn that patched: README.md applied, bad.rs failed (left out).
    assert_eq!(m["patch"], "*** Begin Patch\n*** Update File: README.md\n@@\n-a\n+b\n*** End Patch\n");
    // Events that add nothing to the items are not kept; the unknown one is.
    assert_eq!(
        m["events"],
        json!([{"type": "thread_name_updated", "name": "Parser fix", "timestamp": "2026-06-18T00:57:24.100Z"}])
    );
}

#[test]
fn codex_current_layout_steps() {
    let got = read("codex/rollout.jsonl", Format::Codex);
    let (t, v) = ok(&got[0]);
    let steps = v["steps"].as_array().unwrap();
    let roles: Vec<&str> = steps.iter().map(|s| s["role"].as_str().unwrap()).collect();
    assert_eq!(
        roles,
        [
            "developer",
            "user",
            "user",
            "assistant",
            "tool",
            "tool",
            "assistant",
            "tool",
            "assistant",
            "tool",
            "assistant",
            "user",
            "system",
            "assistant",
            "tool",
            "assistant",
            "tool",
            "assistant",
            "user"
        ]
    );
    assert_eq!(t.step_count, 19);
    assert_eq!(
        (steps[1]["injected"].as_bool(), steps[2].get("injected"), steps[18]["injected"].as_bool()),
        (Some(true), None, Some(true))
    );
    assert_eq!(steps[2]["content"], json!([{"type": "text", "text": "Fix the failing parser test"}]));
    // Reasoning, message and calls of one response make one assistant step.
    let a = &steps[3];
    assert_eq!(a["reasoning_content"], "Look at the test first.");
    assert_eq!(a["reasoning"], json!({"id": "rs_1", "encrypted_content": "gAAA"}));
    assert_eq!(a["content"], json!([{"type": "text", "text": "Running the tests."}]));
    assert_eq!((a["phase"].as_str(), a["id"].as_str()), (Some("commentary"), Some("msg_1")));
    assert_eq!(
        (a["timestamp"].as_str(), a["turn_id"].as_str()),
        (Some("2026-06-18T00:57:11.647Z"), Some("019a0000-0000-7000-8000-0000000000t1"))
    );
    assert_eq!(
        a["tool_calls"],
        json!([
            {"id": "call_a", "name": "exec_command", "arguments": {"cmd": "cargo test", "workdir": "/home/u/repo"}, "item_id": "fc_1"},
            {"id": "call_b", "name": "view_image", "arguments": {"path": "shot.png"}}
        ])
    );
    assert_eq!((steps[4]["tool_call_id"].as_str(), steps[4]["name"].as_str()), (Some("call_a"), Some("exec_command")));
    assert_eq!(
        steps[5]["content"],
        json!([{"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBO", "detail": "high"}}])
    );
    let patch_call = &steps[6]["tool_calls"][0];
    assert_eq!(
        (patch_call["name"].as_str(), patch_call["type"].as_str()),
        (Some("apply_patch"), Some("custom_tool_call"))
    );
    assert!(patch_call["arguments"]["input"].as_str().unwrap().starts_with("*** Begin Patch"));
    assert_eq!(steps[7]["event"]["patch_apply_end"]["success"], true);
    assert_eq!(steps[7]["event"]["patch_apply_end"]["changes"]["a.rs"]["type"], "update");
    assert_eq!(steps[7]["event"]["patch_apply_end"].get("stdout"), None);
    assert_eq!(
        steps[8]["tool_calls"],
        json!([
            {"name": "web_search", "arguments": {"type": "search", "query": "rust parser"}, "status": "completed", "type": "web_search_call"},
            {"id": "call_ts", "name": "tool_search", "arguments": {"query": "wiki", "limit": 1}, "status": "completed", "execution": "client", "type": "tool_search_call"}
        ])
    );
    assert_eq!((steps[9]["tool_call_id"].as_str(), steps[9]["name"].as_str()), (Some("call_ts"), Some("tool_search")));
    assert_eq!(
        serde_json::from_str::<Value>(steps[9]["content"].as_str().unwrap()).unwrap(),
        json!([{"type": "namespace", "name": "mcp__wiki"}])
    );
    assert_eq!(steps[10]["phase"], "final_answer");
    assert_eq!((steps[12]["type"].as_str(), steps[12]["window_id"].as_str()), (Some("compacted"), Some("w2")));
    assert_eq!(steps[12]["replacement_history"].as_array().map(Vec::len), Some(2));
    assert_eq!(steps[13]["tool_calls"][0]["arguments"]["input"].as_str().map(|s| s.contains("README.md")), Some(true));
    assert_eq!(steps[16]["event"]["patch_apply_end"]["success"], false);
    // The call the user interrupted has no output.
    assert_eq!(steps[17]["tool_calls"][0]["id"], "call_c");
}

#[test]
fn codex_older_layout_without_turn_ids_or_durations() {
    let got = read("codex/legacy.jsonl", Format::Codex);
    assert_eq!(got.len(), 1);
    let (t, v) = ok(&got[0]);
    assert!(t.trajectory_id.ends_with(":5973b6c0-94b8-487b-a530-2aeb6098ae0e"));
    assert_eq!(t.question.as_deref(), Some("list the files"));
    // No turn durations: first to last line.
    assert_eq!(t.exec_time, Some(7.5));
    assert_eq!(t.termination_reason.as_deref(), Some("completed"));
    let m = meta(t);
    assert_eq!((m["base_instructions"].as_str(), m["model"].as_str()), (Some("Be brief."), Some("gpt-5")));
    // The counter started again (520 then 210): both parts count.
    assert_eq!(
        (m["input_tokens"].as_i64(), m["output_tokens"].as_i64(), m["total_tokens"].as_i64()),
        (Some(700), Some(30), Some(730))
    );
    assert_eq!(m["turn_count"], 1);
    assert_eq!(m.get("patch"), None);
    let steps = v["steps"].as_array().unwrap();
    assert_eq!(steps.len(), 8);
    assert!(steps[0]["injected"].as_bool().unwrap() && steps[1]["injected"].as_bool().unwrap());
    assert_eq!(
        steps[3]["tool_calls"][0],
        json!({"id": "call_1", "name": "shell", "arguments": {"command": ["bash", "-lc", "ls"]}})
    );
    assert_eq!(steps[4]["content"], "{\"output\":\"a.py\\n\",\"metadata\":{\"exit_code\":0,\"duration_seconds\":0.1}}");
    assert_eq!(steps[5]["tool_calls"][0]["name"], "local_shell");
    assert_eq!(steps[5]["tool_calls"][0]["arguments"]["command"], json!(["cat", "a.py"]));
    assert_eq!((steps[6]["tool_call_id"].as_str(), steps[6]["name"].as_str()), (Some("call_2"), Some("local_shell")));
}

#[test]
fn codex_forked_file_is_one_trajectory_of_its_own_session() {
    let got = read("codex/forked.jsonl", Format::Codex);
    assert_eq!(got.len(), 1);
    let (t, v) = ok(&got[0]);
    assert!(t.trajectory_id.ends_with(":019b0000-0000-7000-8000-00000000000b"));
    let m = meta(t);
    assert_eq!(m["forked_from_id"], "019b0000-0000-7000-8000-00000000000a");
    assert_eq!(m["parent_session_id"], "019b0000-0000-7000-8000-00000000000a");
    assert_eq!(m["source"]["subagent"]["thread_spawn"]["depth"], 1);
    let others = m["other_sessions"].as_array().unwrap();
    assert_eq!(others.len(), 1);
    assert_eq!(others[0]["id"], "019b0000-0000-7000-8000-00000000000a");
    assert_eq!(others[0]["timestamp"], "2026-06-30T08:00:00.000Z");
    // The copied history is kept (it was the model's context): its question is the first.
    assert_eq!(v["steps"].as_array().map(Vec::len), Some(4));
    assert_eq!(t.question.as_deref(), Some("What does main.rs do?"));
    assert_eq!(t.exec_time, Some(2.5));
}

#[test]
fn codex_detection_needs_a_session_meta_first_line() {
    let line = |t: &str| format!(r#"{{"timestamp":"2026-01-01T00:00:00Z","type":"{t}","payload":{{"id":"x"}}}}"#);
    assert_eq!(detect(line("session_meta").as_bytes()), Some(Format::Codex));
    // Cut inside the payload (a prefix), with the type after a nested "type" key.
    assert_eq!(
        detect(br#"{"timestamp":"t","type":"session_meta","payload":{"type":"x","base_instructions":{"text":"You are"#),
        Some(Format::Codex)
    );
    assert_ne!(detect(line("response_item").as_bytes()), Some(Format::Codex));
    assert_ne!(detect(br#"{"timestamp":"t","type":"session_meta","payload":{},"uuid":"u"}"#), Some(Format::Codex));
    assert_ne!(detect(br#"{"type":"session_meta","payload":{}}"#), Some(Format::Codex));
    // Forcing the format on a file with no rollout line is a file error.
    for bytes in [&b"{\"a\":1}\n"[..], b"\n", b"[1, 2]"] {
        let file = SourceFile { label: "x", path: None, bytes, labels_dir: None };
        assert!(convert(Format::Codex, &file).is_err());
    }
    // Rollout lines without a session_meta still make the trajectory.
    let only_items = line("response_item");
    let file = SourceFile { label: "x", path: None, bytes: only_items.as_bytes(), labels_dir: None };
    let out = convert(Format::Codex, &file).unwrap();
    assert!(out[0].record.as_ref().is_ok_and(|r| r["trajectory_id"].as_str().unwrap().ends_with(":session")));
    let bytes = std::fs::read(fixture("codex/rollout.jsonl")).unwrap();
    let ids = |b: &[u8]| -> Vec<String> {
        let file = SourceFile { label: "x", path: None, bytes: b, labels_dir: None };
        convert(Format::Codex, &file)
            .unwrap()
            .into_iter()
            .filter_map(|c| c.record.ok())
            .map(|r| r["trajectory_id"].as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(ids(&bytes), ids(&bytes));
}

/// The response items of a rollout file, with the values the checks need.
struct Source {
    session_id: String,
    items: Vec<Value>,
    events: Vec<Value>,
    models: Vec<String>,
}

fn source(path: &Path) -> Source {
    let lines: Vec<Value> = std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let of = |t: &str| lines.iter().filter(|l| l["type"] == t).map(|l| l["payload"].clone()).collect::<Vec<_>>();
    Source {
        session_id: of("session_meta")[0]["id"].as_str().unwrap().to_string(),
        items: of("response_item"),
        events: of("event_msg"),
        models: of("turn_context").iter().filter_map(|c| c["model"].as_str().map(str::to_string)).collect(),
    }
}

fn count(values: &[Value], types: &[&str]) -> usize {
    values.iter().filter(|v| types.contains(&v["type"].as_str().unwrap_or(""))).count()
}

fn rollout_files(root: &Path) -> Vec<std::path::PathBuf> {
    files_under(root, "codex").into_iter().filter(|p| p.extension().is_some_and(|e| e == "jsonl")).collect()
}

#[test]
fn codex_real_sessions_steps_calls_and_tokens() {
    let Some(root) = realdata() else { return };
    let paths = rollout_files(&root);
    assert!(!paths.is_empty());
    for path in paths {
        let src = source(&path);
        let name = path.display().to_string();
        let out = crate::common::convert_file(&path);
        assert_eq!(out.format, Some(Format::Codex), "{name}");
        assert!(out.errors.is_empty(), "{:?}", out.errors);
        assert_eq!(out.records.len(), 1, "{name}");
        let t = &out.records[0];
        assert!(t.trajectory_id.ends_with(&format!(":{}", src.session_id)));
        let steps: Vec<Value> = serde_json::from_str(&t.steps_json).unwrap();
        let role = |r: &str| steps.iter().filter(|s| s["role"] == r).count();
        let messages = |r: &str| src.items.iter().filter(|i| i["type"] == "message" && i["role"] == r).count();
        assert_eq!((role("user"), role("developer")), (messages("user"), messages("developer")), "{name}");
        let outputs = ["function_call_output", "custom_tool_call_output", "tool_search_output"];
        assert_eq!(role("tool"), count(&src.items, &outputs), "{name}");
        let calls = ["function_call", "custom_tool_call", "tool_search_call", "web_search_call", "local_shell_call"];
        let step_calls: Vec<&Value> = steps.iter().filter_map(|s| s["tool_calls"].as_array()).flatten().collect();
        assert_eq!(step_calls.len(), count(&src.items, &calls), "{name}");
        // Every output answers a call made in an earlier step, and each call at most once.
        let mut made = HashSet::new();
        let mut answered = HashSet::new();
        for s in &steps {
            for c in s["tool_calls"].as_array().into_iter().flatten() {
                if let Some(id) = c["id"].as_str() {
                    made.insert(id.to_string());
                }
            }
            if let Some(id) = s["tool_call_id"].as_str() {
                assert!(made.contains(id), "{name}: {id} answered before it was called");
                assert!(answered.insert(id.to_string()), "{name}: {id} answered twice");
            }
        }
        let assistant_texts = steps.iter().filter(|s| s["role"] == "assistant" && !s["content"].is_null()).count();
        assert_eq!(assistant_texts, messages("assistant"), "{name}");
        let compacted =
            std::fs::read_to_string(&path).unwrap().lines().filter(|l| l.contains(r#""type":"compacted""#)).count();
        assert_eq!(steps.iter().filter(|s| s["type"] == "compacted").count(), compacted, "{name}");
        assert!(steps.iter().all(|s| s["timestamp"].is_string()), "{name}");
        check_session_metadata(&src, t, &name);
    }
}

fn check_session_metadata(src: &Source, t: &trajstore_model::Trajectory, name: &str) {
    let m = meta(t);
    let totals: Vec<&Value> = src
        .events
        .iter()
        .filter(|e| e["type"] == "token_count")
        .filter_map(|e| e.pointer("/info/total_token_usage"))
        .collect();
    let last = totals.last().unwrap();
    assert_eq!(m["input_tokens"], last["input_tokens"], "{name}");
    assert_eq!(m["output_tokens"], last["output_tokens"], "{name}");
    assert_eq!(m["cache_read_tokens"], last["cached_input_tokens"], "{name}");
    let ms: f64 = src
        .events
        .iter()
        .filter(|e| e["type"] == "task_complete" || e["type"] == "turn_aborted")
        .filter_map(|e| e["duration_ms"].as_f64())
        .sum();
    assert_eq!(t.exec_time, Some(ms / 1000.0), "{name}");
    let mut counts: HashMap<&str, usize> = HashMap::new();
    for model in &src.models {
        *counts.entry(model).or_default() += 1;
    }
    let top = counts.values().max().unwrap();
    let expected = src.models.iter().find(|m| counts[m.as_str()] == *top).unwrap();
    assert_eq!(m["model"].as_str(), Some(expected.as_str()), "{name}");
    let first_typed = src.events.iter().find(|e| e["type"] == "user_message").unwrap();
    assert_eq!(t.question.as_deref(), first_typed["message"].as_str(), "{name}");
    let started: HashSet<&str> =
        src.events.iter().filter(|e| e["type"] == "task_started").filter_map(|e| e["turn_id"].as_str()).collect();
    assert_eq!(m["turn_count"].as_u64(), Some(started.len() as u64), "{name}");
    assert_eq!(m["aborted_turns"].as_u64(), Some(count(&src.events, &["turn_aborted"]) as u64), "{name}");
    // The last apply_patch of the session, when it applied, ends the patch.
    let last_patch = src.items.iter().rev().find(|i| i["type"] == "custom_tool_call" && i["name"] == "apply_patch");
    if let Some(p) = last_patch {
        let failed = src
            .events
            .iter()
            .any(|e| e["type"] == "patch_apply_end" && e["call_id"] == p["call_id"] && e["success"] == false);
        if !failed {
            assert!(m["patch"].as_str().unwrap().ends_with(p["input"].as_str().unwrap()), "{name}");
        }
    }
    for k in ["cwd", "cli_version", "model_provider", "originator", "git", "base_instructions", "session_id"] {
        assert!(!m[k].is_null(), "{name}: metadata.{k}");
    }
}

#[test]
fn codex_real_conversion_is_stable() {
    let Some(root) = realdata() else { return };
    for path in rollout_files(&root) {
        let bytes = std::fs::read(&path).unwrap();
        let ids = || -> Vec<String> {
            let file = SourceFile { label: "x", path: Some(&path), bytes: &bytes, labels_dir: None };
            let out = convert(Format::Codex, &file).unwrap();
            out.into_iter().map(|c| c.record.unwrap()["trajectory_id"].as_str().unwrap().to_string()).collect()
        };
        assert_eq!(ids(), ids());
    }
}

#[test]
fn codex_detector_claims_only_rollout_files() {
    let Some(root) = realdata() else { return };
    let mut all = Vec::new();
    files(&root, &mut all);
    let codex_dir = root.join("codex");
    let mut claimed = 0;
    for path in all {
        let bytes = std::fs::read(&path).unwrap();
        let is_rollout = path.starts_with(&codex_dir) && path.extension().is_some_and(|e| e == "jsonl");
        assert_eq!(detect(&bytes) == Some(Format::Codex), is_rollout, "{}", path.display());
        claimed += usize::from(is_rollout);
    }
    assert!(claimed > 0);
}

#[test]
fn codex_odd_values_never_panic() {
    let lines = [
        r#"{"timestamp":5,"type":"session_meta","payload":{"id":42,"timestamp":"not a time","base_instructions":"text"}}"#,
        r#"{"timestamp":"2026-01-01T00:00:00Z","type":"turn_context","payload":{"turn_id":7,"model":3}}"#,
        r#"{"timestamp":"2026-01-01T00:00:01Z","type":"response_item","payload":{"type":"message","role":"user","content":"plain text"}}"#,
        r#"{"timestamp":"2026-01-01T00:00:02Z","type":"response_item","payload":{"type":"function_call","name":5,"arguments":7}}"#,
        r#"{"timestamp":"2026-01-01T00:00:03Z","type":"response_item","payload":{"type":"function_call_output","call_id":null,"output":{"a":1}}}"#,
        r#"{"timestamp":"2026-01-01T00:00:04Z","type":"response_item","payload":{"type":"reasoning","summary":"thinking"}}"#,
        r#"{"timestamp":"2026-01-01T00:00:05Z","type":"event_msg","payload":{"type":"token_count","info":"x"}}"#,
        r#"{"timestamp":"2026-01-01T00:00:06Z","type":"event_msg","payload":{"type":"patch_apply_end","call_id":3}}"#,
        r#"{"timestamp":"2026-01-01T00:00:07Z","type":"event_msg","payload":{"type":"task_complete","duration_ms":"slow"}}"#,
        r#"{"timestamp":"2026-01-01T00:00:08Z","type":"something_new","payload":{"x":1}}"#,
        r#"{"timestamp":"2026-01-01T00:00:09Z","type":"response_item","payload":{"type":"image_generation_call","result":"r"}}"#,
        r#"{"type":7,"payload":{}}"#,
    ]
    .join("\n");
    let file = SourceFile { label: "odd", path: None, bytes: lines.as_bytes(), labels_dir: None };
    let out = convert(Format::Codex, &file).unwrap();
    assert_eq!(out.len(), 2);
    let record = out[0].record.as_ref().unwrap();
    let t = trajstore_model::Trajectory::from_json(record.to_string().as_bytes()).unwrap();
    assert!(t.trajectory_id.ends_with(":42"));
    assert_eq!(t.question.as_deref(), Some("plain text"));
    let m = meta(&t);
    assert_eq!(m["created_at"], "not a time");
    assert_eq!(m["other_lines"][0]["type"], "something_new");
    assert_eq!(m["events"][0]["type"], "patch_apply_end");
    let steps: Vec<Value> = serde_json::from_str(&t.steps_json).unwrap();
    assert_eq!(steps.last().unwrap()["type"], "image_generation_call");
    assert!(out[1].record.as_ref().is_err_and(|e| e.field.as_deref() == Some("type")));
}
