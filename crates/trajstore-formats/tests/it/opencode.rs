//! The opencode format: its fixture (tests/fixtures/opencode/) and the real data.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};

use serde_json::{json, Value};
use trajstore_formats::{convert, detect, Format, SourceFile};
use trajstore_model::{parse_timestamp, Trajectory};

use crate::common::{convert_file, files, files_under, fixture, json, meta, ok, read, realdata};

#[test]
fn fixture_session_maps_every_part() {
    let got = read("opencode/parent.json", Format::Opencode);
    assert_eq!(got.len(), 1);
    let (t, v) = ok(&got[0]);
    assert!(t.trajectory_id.starts_with("opencode:") && t.trajectory_id.ends_with(":ses_parent01"));
    assert_eq!(t.agent_name.as_deref(), Some("opencode"));
    // The question is the user's first words; the title OpenCode wrote is kept in the task.
    assert_eq!(t.question.as_deref(), Some("The parser test fails. Fix it."));
    assert_eq!(v["task"]["title"], "Fix the failing parser test");
    assert_eq!(t.created_at, parse_timestamp("1773620400"));
    assert_eq!(t.exec_time, Some(60.5));
    assert_eq!(t.termination_reason.as_deref(), Some("MessageAbortedError"));
    // user, assistant + 2 results, assistant + 1, user (subtask), assistant + 1, assistant + 2
    assert_eq!(t.step_count, 1 + 3 + 2 + 1 + 2 + 3);
    let steps = v["steps"].as_array().unwrap();

    // A user message: its text and file parts as content, the message info on the step.
    assert_eq!(steps[0]["role"], "user");
    assert_eq!(steps[0]["content"][0], json!({"type": "text", "text": "The parser test fails. Fix it."}));
    assert_eq!(steps[0]["content"][1]["filename"], "log.txt");
    assert_eq!(steps[0]["agent"], "build");
    assert_eq!(steps[0]["timestamp"], "2026-03-16T00:20:00.100000Z");

    // An assistant message: text, reasoning, tool calls with their input, then the results.
    let a = &steps[1];
    assert_eq!((a["role"].as_str(), a["content"].as_str()), (Some("assistant"), Some("Let me look at the test.")));
    assert_eq!(a["reasoning_content"], "**Reading the test first**");
    assert_eq!(
        a["tool_calls"][0],
        json!({"id": "call_read", "name": "read", "arguments": {"filePath": "/home/u/app/parser.test.ts"},
               "metadata": {"opencode": {"itemId": "fc_1"}}})
    );
    assert_eq!((a["modelID"].as_str(), a["cost"].as_f64()), (Some("gpt-5.3-codex"), Some(0.02)));
    assert_eq!(a["tokens"]["input"], 1000);
    let kept: Vec<&str> = a["parts"].as_array().unwrap().iter().map(|p| p["type"].as_str().unwrap()).collect();
    assert_eq!(kept, ["step-start", "reasoning", "step-finish"]);
    assert_eq!(steps[2]["role"], "tool");
    assert_eq!(
        (steps[2]["tool_call_id"].as_str(), steps[2]["name"].as_str(), steps[2]["content"].as_str()),
        (Some("call_read"), Some("read"), Some("expect(parse('1')).toBe(1)"))
    );
    assert_eq!((steps[2]["status"].as_str(), steps[2]["title"].as_str()), (Some("completed"), Some("parser.test.ts")));
    assert_eq!(steps[3]["content"], "Error: File not found: /home/u/app/README");
    assert_eq!(steps[3]["status"], "error");

    // A subtask runs a sub-agent: the prompt is the user's content, the rest on the step;
    // the `task` tool's result names the child session.
    assert_eq!(steps[6]["content"], "Review the uncommitted changes.");
    assert_eq!(steps[6]["subtask"]["command"], "review");
    assert_eq!(steps[8]["child_session_id"], "ses_child01");
    // An aborted message: its text, a failed call, and a call that never ran (no output).
    assert_eq!(steps[9]["error"]["name"], "MessageAbortedError");
    assert_eq!(steps[9]["parts"], json!([{"type": "agent", "name": "reviewer"}]));
    assert_eq!(steps[11]["content"], Value::Null);
    assert_eq!(steps[11]["status"], "pending");

    let m = &v["metadata"];
    assert_eq!(m["input_tokens"], 1000 + 1200 + 300);
    assert_eq!(m["output_tokens"], 100 + 150 + 20);
    assert_eq!(m["reasoning_tokens"], 45);
    assert_eq!((m["cache_read_tokens"].as_i64(), m["cache_write_tokens"].as_i64()), (Some(1500), Some(10)));
    assert!((m["cost"].as_f64().unwrap() - 0.06).abs() < 1e-9);
    // The most used model wins; every model is listed in first-use order.
    assert_eq!((m["model"].as_str(), m["provider"].as_str()), (Some("gpt-5.3-codex"), Some("opencode")));
    assert_eq!(m["models"], json!(["gpt-5.3-codex", "claude-sonnet-4"]));
    assert_eq!(m["child_sessions"], json!(["ses_child01"]));
    assert_eq!(m["patches"], json!([{"hash": "aaa111", "files": ["/home/u/app/parser.ts"]}]));
    assert!(
        m["patch"].as_str().unwrap().starts_with("Index: parser.ts\n")
            && m["patch"].as_str().unwrap().contains("+return Number(s)")
    );
    assert_eq!(m["tool_errors"], 2);
    assert_eq!((m["slug"].as_str(), m["version"].as_str()), (Some("brave-otter"), Some("1.2.26")));
    assert_eq!(m["session_id"], "ses_parent01");
    assert!(m.get("parent_session_id").is_none());
}

#[test]
fn fixture_child_session_links_its_parent() {
    let got = read("opencode/child.json", Format::Opencode);
    let (t, v) = ok(&got[0]);
    assert_eq!(meta(t)["parent_session_id"], "ses_parent01");
    // Synthetic text (OpenCode's own notes) is not the question.
    assert_eq!(t.question.as_deref(), Some("Review the uncommitted changes."));
    assert_eq!(v["steps"][1]["reasoning_content"], "Checking the diff.\n\nIt is small.");
    assert_eq!(v["steps"][1]["content"], "Looks good.");
    assert_eq!(t.termination_reason.as_deref(), Some("stop"));
    assert!(meta(t).get("patch").is_none() && meta(t).get("child_sessions").is_none());
}

#[test]
fn fixture_sessions_one_per_line_and_bad_ones() {
    let got = read("opencode/sessions.jsonl", Format::Opencode);
    assert_eq!(got.len(), 3);
    assert!(ok(&got[0]).0.trajectory_id.ends_with(":ses_child01"));
    let e1 = got[1].as_ref().unwrap_err();
    assert!(e1.contains("info.id"), "{e1}");
    let e2 = got[2].as_ref().unwrap_err();
    assert!(e2.contains("messages[1].info.role"), "{e2}");
}

#[test]
fn detection_leaves_look_alikes_alone() {
    // mini-swe-agent also has `info` + `messages`.
    let mini = br#"{"info":{"exit_status":"Submitted"},"messages":[],"trajectory_format":"mini-swe-agent-1","instance_id":"x"}"#;
    assert_eq!(detect(mini), Some(Format::MiniSweAgent));
    let bare = br#"{"info":{"id":"a"},"messages":[{"role":"user","content":"hi"}]}"#;
    assert_ne!(detect(bare), Some(Format::Opencode));
    let file = SourceFile { label: "x", path: None, bytes: b"{not json", labels_dir: None };
    assert!(convert(Format::Opencode, &file).is_err());
    // A pretty-printed document cut short is one error for the file, not one per line.
    let cut = &std::fs::read(fixture("opencode/parent.json")).unwrap()[..2000];
    assert!(convert(Format::Opencode, &SourceFile { label: "x", path: None, bytes: cut, labels_dir: None }).is_err());
}

#[test]
fn a_list_of_session_documents() {
    let parent = json(&fixture("opencode/parent.json"));
    let child = json(&fixture("opencode/child.json"));
    let bytes = serde_json::to_vec(&json!([parent, child])).unwrap();
    assert_eq!(detect(&bytes), Some(Format::Opencode));
    let out =
        convert(Format::Opencode, &SourceFile { label: "x", path: None, bytes: &bytes, labels_dir: None }).unwrap();
    let ids: Vec<String> = out.iter().map(|c| c.record.as_ref().unwrap()["trajectory_id"].to_string()).collect();
    assert!(ids[0].ends_with(":ses_parent01\"") && ids[1].ends_with(":ses_child01\""), "{ids:?}");
    assert_eq!((out[0].position.index, out[1].position.index), (Some(0), Some(1)));
}

/// What the test expects from one session document, computed with serde_json alone.
struct Expected {
    steps: usize,
    tokens: [i64; 3],
    cost: f64,
    children: Vec<String>,
    question: Option<String>,
}

fn expected(doc: &Value) -> Expected {
    let mut e = Expected { steps: 0, tokens: [0; 3], cost: 0.0, children: vec![], question: None };
    for m in doc["messages"].as_array().unwrap() {
        let parts = m["parts"].as_array().unwrap();
        let tools: Vec<&Value> = parts.iter().filter(|p| p["type"] == "tool").collect();
        e.steps += 1 + tools.len();
        if m["info"]["role"] == "assistant" {
            let t = &m["info"]["tokens"];
            e.tokens[0] += t["input"].as_i64().unwrap_or(0);
            e.tokens[1] += t["output"].as_i64().unwrap_or(0);
            e.tokens[2] += t["cache"]["read"].as_i64().unwrap_or(0);
            e.cost += m["info"]["cost"].as_f64().unwrap_or(0.0);
        } else if e.question.is_none() {
            let text: Vec<&str> = parts
                .iter()
                .filter(|p| p["type"] == "text" && p["synthetic"] != true)
                .filter_map(|p| p["text"].as_str())
                .collect();
            if !text.is_empty() {
                e.question = Some(text.join("\n\n"));
            }
        }
        for p in tools {
            if let Some(c) = p["state"]["metadata"]["sessionId"].as_str() {
                e.children.push(c.to_string());
            }
        }
    }
    e
}

/// Every tool call of an assistant step is answered by one of the tool steps after it.
fn assert_paired(t: &Trajectory) {
    let steps: Vec<Value> = serde_json::from_str(&t.steps_json).unwrap();
    for (i, s) in steps.iter().enumerate() {
        for call in s["tool_calls"].as_array().into_iter().flatten() {
            let answered = steps[i + 1..]
                .iter()
                .take_while(|r| r["role"] == "tool")
                .any(|r| r["tool_call_id"] == call["id"] && r["name"] == call["name"]);
            assert!(answered, "{} step {i}: {call}", t.trajectory_id);
        }
    }
}

fn sessions(root: &Path) -> Vec<PathBuf> {
    files_under(root, "opencode").into_iter().filter(|p| p.file_name().is_some_and(|n| n == "full.jsonl")).collect()
}

#[test]
fn real_sessions_steps_tokens_and_links() {
    let Some(root) = realdata() else { return };
    let mut by_session: HashMap<String, (Value, Trajectory)> = HashMap::new();
    for path in sessions(&root) {
        let doc = json(&path);
        let out = convert_file(&path);
        assert_eq!(out.format, Some(Format::Opencode), "{}", path.display());
        assert!(out.errors.is_empty(), "{:?}", out.errors);
        assert_eq!(out.records.len(), 1);
        let t = out.records.into_iter().next().unwrap();
        let e = expected(&doc);
        let m = meta(&t);
        assert_eq!(t.step_count as usize, e.steps, "{}", path.display());
        assert_eq!(
            [
                m["input_tokens"].as_i64().unwrap(),
                m["output_tokens"].as_i64().unwrap(),
                m["cache_read_tokens"].as_i64().unwrap()
            ],
            e.tokens
        );
        assert!((m["cost"].as_f64().unwrap() - e.cost).abs() < 1e-9);
        assert_eq!(t.question, e.question);
        assert_eq!(t.agent_name.as_deref(), Some("opencode"));
        assert_eq!(
            t.created_at,
            parse_timestamp(&(doc["info"]["time"]["created"].as_f64().unwrap() / 1000.0).to_string())
        );
        assert_eq!(m["parent_session_id"].as_str(), doc["info"]["parentID"].as_str());
        let children: Vec<String> =
            m["child_sessions"].as_array().into_iter().flatten().map(|c| c.as_str().unwrap().to_string()).collect();
        assert_eq!(children, e.children);
        assert!(m["model"].is_string());
        assert_paired(&t);
        // Converting the same bytes again gives the same ids.
        assert_eq!(convert_file(&path).records[0].trajectory_id, t.trajectory_id);
        println!("opencode {}: {} steps, {} children", path.display(), t.step_count, children.len());
        by_session.insert(doc["info"]["id"].as_str().unwrap().to_string(), (doc, t));
    }
    // The one sub-agent session in the data names its parent, and the parent names it.
    let mut linked = 0;
    for (id, (doc, _)) in &by_session {
        if let Some(parent) = doc["info"]["parentID"].as_str() {
            let (_, p) = &by_session[parent];
            assert!(meta(p)["child_sessions"].as_array().unwrap().contains(&Value::from(id.as_str())));
            linked += 1;
        }
    }
    assert!(by_session.is_empty() || linked > 0);
}

#[test]
fn real_files_detection_both_ways() {
    let Some(root) = realdata() else { return };
    // Entire's metadata.json beside the sessions is not OpenCode's.
    for path in files_under(&root, "opencode") {
        let bytes = std::fs::read(&path).unwrap();
        let name = path.file_name().unwrap().to_string_lossy();
        if name == "full.jsonl" {
            assert_eq!(detect(&bytes), Some(Format::Opencode), "{}", path.display());
        } else {
            assert_ne!(detect(&bytes), Some(Format::Opencode), "{}", path.display());
        }
    }
    let mut all = Vec::new();
    files(&root, &mut all);
    let mut others = HashSet::new();
    for path in all.iter().filter(|p| !p.starts_with(root.join("opencode"))) {
        let bytes = std::fs::read(path).unwrap();
        assert_ne!(detect(&bytes), Some(Format::Opencode), "{}", path.display());
        others.insert(path.clone());
    }
    assert!(!others.is_empty());
}
