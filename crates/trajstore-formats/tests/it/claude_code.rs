//! The claude_code format: its fixtures (tests/fixtures/claude_code/) and the real data.

use std::collections::{HashMap, HashSet};
use std::path::Path;

use serde_json::{json, Value};
use trajstore_formats::{convert, detect, Format, SourceFile};

use crate::common::{convert_file, files, files_under, meta, ok, read, realdata};

const OLDER: &str = "5b3e2c1a-7d4f-4e8a-9c0b-1f2e3d4c5b6a";
const NEWER: &str = "9a1b2c3d-4e5f-4a6b-8c7d-0e1f2a3b4c5d";

fn positions(name: &str) -> Vec<(Option<u64>, bool)> {
    let path = crate::common::fixture(name);
    let bytes = std::fs::read(&path).unwrap();
    let file = SourceFile { label: name, path: Some(&path), bytes: &bytes, labels_dir: None };
    convert(Format::ClaudeCode, &file).unwrap().into_iter().map(|c| (c.position.line, c.record.is_ok())).collect()
}

#[test]
fn older_transcript_with_summaries_costs_and_a_sidechain() {
    let got = read("claude_code/older.jsonl", Format::ClaudeCode);
    assert_eq!(got.len(), 2);
    assert_eq!(positions("claude_code/older.jsonl"), [(Some(3), true), (Some(6), true)]);
    let (t, v) = ok(&got[0]);
    let (child_t, child) = ok(&got[1]);
    assert!(t.trajectory_id.starts_with("claude-code:") && t.trajectory_id.ends_with(&format!(":{OLDER}")));
    assert_eq!(child_t.trajectory_id, format!("{}:agent-s-0001", t.trajectory_id));
    assert_eq!((t.agent_name.as_deref(), t.data_id.as_deref()), (Some("claude-code"), None));
    assert_eq!(t.question.as_deref(), Some("Prices in the cart show too many decimals, fix the rounding."));
    assert_eq!(t.exec_time, Some(304.0));
    assert_eq!(v["created_at"], "2025-07-01T09:00:00.000Z");
    let steps = v["steps"].as_array().unwrap();
    let roles: Vec<&str> = steps.iter().map(|s| s["role"].as_str().unwrap()).collect();
    assert_eq!(roles, ["user", "assistant", "tool", "assistant", "tool", "user", "assistant", "user", "assistant"]);
    // One turn written over two lines: one step, its cost counted once.
    assert_eq!(steps[1]["content"], "I'll look for where prices are rounded first.");
    assert_eq!(
        steps[1]["tool_calls"],
        json!([{"id": "toolu_task1", "name": "Task", "arguments": {"description": "Find rounding code",
            "prompt": "Find every place the price is rounded and list the files."},
            "child_trajectory_id": child_t.trajectory_id}])
    );
    assert_eq!((steps[1]["uuids"].clone(), steps[1]["costUSD"].clone()), (json!(["u-0002", "u-0003"]), json!(0.0042)));
    assert_eq!((steps[2]["tool_call_id"].as_str(), steps[2]["name"].as_str()), (Some("toolu_task1"), Some("Task")));
    assert_eq!(steps[2]["toolUseResult"]["totalTokens"], 695);
    assert_eq!(steps[3]["reasoning_content"], "cart.js uses toFixed(4); it should be 2.");
    assert_eq!(
        (steps[3]["content"].as_str(), steps[3]["thinking_signatures"].clone()),
        (Some("Let me fix cart.js."), json!(["sigB"]))
    );
    assert_eq!(steps[5]["content"][1]["type"], "image");
    assert_eq!(steps[6]["model"], "<synthetic>");
    // Older versions mark a compaction only by the summary's opening words.
    assert_eq!(steps[7]["is_compaction_summary"], true);
    assert_eq!(steps[7].get("parentUuid"), None);
    let m = meta(t);
    assert_eq!(m["summary"], "Round prices in the cart");
    assert_eq!(m["summaries"].as_array().unwrap().len(), 2);
    assert_eq!(
        (&m["input_tokens"], &m["output_tokens"], &m["cache_read_tokens"], &m["cache_write_tokens"]),
        (&json!(970 + 1900 + 900), &json!(175), &json!(1900), &json!(900))
    );
    assert!((m["cost"].as_f64().unwrap() - 0.0128).abs() < 1e-9);
    assert_eq!((m["model"].as_str(), m.get("models")), (Some("claude-sonnet-4-20250514"), None));
    assert_eq!(
        (m["version"].as_str(), m["git_branch"].as_str(), m["cwd"].as_str()),
        (Some("1.0.30"), Some("main"), Some("/home/dev/shop"))
    );
    assert_eq!(m["child_trajectory_ids"], json!([child_t.trajectory_id]));
    assert_eq!(m.get("events"), None);

    // The sidechain: linked to its Task call by its prompt (older results name no agent).
    let cm = meta(child_t);
    assert_eq!(child_t.question.as_deref(), Some("Find every place the price is rounded and list the files."));
    assert_eq!(
        (cm["parent_tool_use_id"].as_str(), cm["parent_trajectory_id"].as_str(), cm["parent_session_id"].as_str()),
        (Some("toolu_task1"), Some(t.trajectory_id.as_str()), Some(OLDER))
    );
    assert_eq!((cm["is_sidechain"].clone(), cm["description"].clone()), (json!(true), json!("Find rounding code")));
    let cs = child["steps"].as_array().unwrap();
    assert_eq!(cs.len(), 4);
    assert_eq!(
        (cs[2]["is_error"].clone(), cs[2]["tool_call_id"].clone(), cs[2]["name"].clone()),
        (json!(true), json!("toolu_s1"), json!("Grep"))
    );
    assert_eq!((cm["input_tokens"].clone(), cm["output_tokens"].clone()), (json!(640), json!(55)));
    assert!((cm["cost"].as_f64().unwrap() - 0.0023).abs() < 1e-9);
}

#[test]
fn newer_transcript_with_progress_sub_agent_and_compaction() {
    let got = read("claude_code/newer.jsonl", Format::ClaudeCode);
    assert_eq!(positions("claude_code/newer.jsonl"), [(Some(2), true), (Some(16), true), (Some(28), true)]);
    let (t, v) = ok(&got[0]);
    let (agent_t, agent) = ok(&got[1]);
    let (resumed, _) = ok(&got[2]);
    assert!(resumed.trajectory_id.ends_with(":0c0c0c0c-1111-4222-8333-444455556666"));
    assert_eq!((resumed.step_count, meta(resumed)["version"].as_str()), (2, Some("2.1.41")));
    assert_eq!(t.question.as_deref(), Some("Add retries to the HTTP client"));
    assert_eq!(v["created_at"], "2026-02-01T10:00:00.010Z");
    assert!((t.exec_time.unwrap() - 1803.99).abs() < 1e-6);
    let steps = v["steps"].as_array().unwrap();
    let roles: Vec<&str> = steps.iter().map(|s| s["role"].as_str().unwrap()).collect();
    assert_eq!(roles, ["user", "assistant", "tool", "tool", "assistant", "tool", "user", "assistant"]);
    // Four lines of one message, a tool result between two of them: one step, results after it.
    let turn = &steps[1];
    assert_eq!(
        (turn["content"].as_str(), turn["reasoning_content"].as_str()),
        (Some("Reading the client and its tests."), Some("I should read client.go first."))
    );
    let call_ids: Vec<&str> =
        turn["tool_calls"].as_array().unwrap().iter().map(|c| c["id"].as_str().unwrap()).collect();
    assert_eq!(call_ids, ["toolu_r1", "toolu_b1"]);
    assert_eq!((turn["usage"]["output_tokens"].clone(), turn["uuids"].as_array().unwrap().len()), (json!(88), 4));
    assert_eq!((turn["timestamp"].as_str(), turn["uuid"].as_str()), (Some("2026-02-01T10:00:04.000Z"), Some("n-0002")));
    assert_eq!((steps[3]["is_error"].clone(), steps[3]["name"].clone()), (json!(true), json!("Bash")));
    assert_eq!(steps[4]["tool_calls"][0]["child_trajectory_id"], agent_t.trajectory_id);
    assert_eq!(steps[6]["is_compaction_summary"], true);
    assert_eq!(steps[6]["compact_metadata"], json!({"trigger": "auto", "preTokens": 150000}));
    let m = meta(t);
    assert_eq!(
        (&m["input_tokens"], &m["output_tokens"], &m["cache_read_tokens"], &m["cache_write_tokens"]),
        (&json!(22 + 11000 + 5300), &json!(178), &json!(11000), &json!(5300))
    );
    assert_eq!(m["model"], "claude-opus-4-5-20251101");
    assert_eq!(m["models"], json!(["claude-opus-4-5-20251101", "claude-sonnet-4-5-20250929"]));
    assert_eq!(m["progress_counts"], json!({"bash_progress": 1, "hook_progress": 2}));
    let events: Vec<(u64, &str)> = m["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e["line"].as_u64().unwrap(), e["subtype"].as_str().or(e["type"].as_str()).unwrap()))
        .collect();
    assert_eq!(
        events,
        [
            (1, "file-history-snapshot"),
            (2, "queue-operation"),
            (3, "queue-operation"),
            (6, "attachment"),
            (22, "turn_duration"),
            (23, "compact_boundary"),
            (27, "stop_hook_summary")
        ]
    );
    assert_eq!(m["events"][3]["attachment"]["type"], "task_reminder");
    assert_eq!(
        (m["summary"].as_str(), m["last_prompt"].as_str()),
        (Some("Retries for the HTTP client"), Some("Add retries to the HTTP client"))
    );
    assert_eq!(
        (m["slug"].as_str(), m["child_trajectory_ids"].clone()),
        (Some("brisk-quiet-lake"), json!([agent_t.trajectory_id]))
    );

    // The sub-agent reported through agent_progress lines; a repeated message is taken once.
    assert_eq!(agent_t.trajectory_id, format!("{}:agent-a7f3c21", t.trajectory_id));
    let am = meta(agent_t);
    assert_eq!(
        (am["parent_tool_use_id"].as_str(), am["subagent_type"].as_str(), am["agent_id"].as_str()),
        (Some("toolu_task9"), Some("code-reviewer"), Some("a7f3c21"))
    );
    assert_eq!(am["parent_trajectory_id"].as_str(), Some(t.trajectory_id.as_str()));
    let roles: Vec<&str> = agent["steps"].as_array().unwrap().iter().map(|s| s["role"].as_str().unwrap()).collect();
    assert_eq!(roles, ["user", "assistant", "tool", "assistant"]);
    assert_eq!(agent_t.question.as_deref(), Some("Review the retry change in client.go for bugs."));
    assert_eq!(
        (am["input_tokens"].clone(), am["output_tokens"].clone()),
        (json!(3 + 2000 + 3 + 100 + 2000), json!(65))
    );
}

#[test]
fn a_sub_agent_file_on_its_own() {
    let got = read("claude_code/agent-b81d0e2.jsonl", Format::ClaudeCode);
    assert_eq!(got.len(), 1);
    let (t, v) = ok(&got[0]);
    assert!(t.trajectory_id.ends_with(&format!(":{NEWER}:agent-b81d0e2")));
    let m = meta(t);
    assert_eq!((m["parent_session_id"].as_str(), m["agent_id"].as_str()), (Some(NEWER), Some("b81d0e2")));
    assert_eq!((m.get("parent_trajectory_id"), m["model"].as_str()), (None, Some("claude-haiku-4-5-20251001")));
    assert_eq!((t.step_count, v["steps"][2]["tool_call_id"].as_str()), (4, Some("toolu_k1")));
    assert_eq!(t.question.as_deref(), Some("List the exported functions of client.go."));
}

#[test]
fn broken_lines_are_errors_and_the_session_still_converts() {
    let got = read("claude_code/broken.jsonl", Format::ClaudeCode);
    let lines: Vec<(Option<u64>, bool)> = positions("claude_code/broken.jsonl");
    assert_eq!(lines, [(Some(1), true), (Some(2), false), (Some(3), false), (Some(4), false), (Some(7), false)]);
    let errors: Vec<&String> = got.iter().filter_map(|r| r.as_ref().err()).collect();
    assert!(errors[0].contains("message.content"), "{}", errors[0]);
    assert!(errors[1].contains("invalid JSON"), "{}", errors[1]);
    assert!(errors[2].contains("object"), "{}", errors[2]);
    assert!(errors[3].starts_with("message: missing"), "{}", errors[3]);
    let (t, v) = ok(&got[0]);
    assert_eq!(t.step_count, 4);
    assert_eq!(v["steps"][1]["content"], "Hi!");
    assert_eq!(
        (v["steps"][2]["role"].as_str(), v["steps"][3]["content"][0]["text"].as_str()),
        (Some("tool"), Some("7"))
    );
}

#[test]
fn detection_and_stable_ids() {
    let summary_only = br#"{"type":"summary","summary":"A title","leafUuid":"0b6f0c7e-1"}
"#;
    assert_eq!(detect(summary_only), Some(Format::ClaudeCode));
    let file = SourceFile { label: "s", path: None, bytes: summary_only, labels_dir: None };
    assert!(convert(Format::ClaudeCode, &file).unwrap().is_empty());
    for first_line in [
        r#"{"type":"queue-operation","operation":"dequeue","timestamp":"2026-01-20T11:57:17.716Z","sessionId":"s"}"#,
        r#"{"type":"last-prompt","lastPrompt":"hi","leafUuid":"u","sessionId":"s"}"#,
        r#"{"type":"file-history-snapshot","messageId":"m","snapshot":{},"isSnapshotUpdate":false}"#,
        r#"{"parentUuid":null,"isSidechain":false,"userType":"external","cwd":"/","sessionId":"s","type":"user"}"#,
    ] {
        assert_eq!(detect(first_line.as_bytes()), Some(Format::ClaudeCode), "{first_line}");
    }
    // Others' first records: Codex, Gemini CLI, Claude Code's own stream-json output.
    for other in [
        r#"{"timestamp":"2026-06-23T07:21:41.800Z","type":"session_meta","payload":{"id":"x"}}"#,
        r#"{"sessionId":"s","projectHash":"h","startTime":"t","lastUpdated":"t","kind":"main"}"#,
        r#"{"type":"system","subtype":"init","session_id":"s","tools":[]}"#,
    ] {
        assert_ne!(detect(other.as_bytes()), Some(Format::ClaudeCode), "{other}");
    }
    let ids = |name: &str| -> Vec<String> {
        read(name, Format::ClaudeCode)
            .iter()
            .filter_map(|r| r.as_ref().ok())
            .map(|(t, _)| t.trajectory_id.clone())
            .collect()
    };
    assert_eq!(ids("claude_code/newer.jsonl"), ids("claude_code/newer.jsonl"));
}

/// What a session's lines say, computed here from the source with serde_json alone.
#[derive(Default)]
struct Expected {
    first_line: u64,
    steps: usize,
    message_ids: Vec<String>,
    usage: HashMap<String, Value>,
    tool_uses: HashSet<String>,
    tool_results: HashSet<String>,
    stamps: Vec<String>,
}

impl Expected {
    /// A user or assistant line (for a sub-agent, the message inside its progress line).
    fn add(&mut self, line: &Value) {
        let content = &line["message"]["content"];
        match line["type"].as_str() {
            Some("user") => match content.as_array() {
                None => self.steps += 1,
                Some(blocks) => {
                    let mut in_text = false;
                    for b in blocks {
                        let result = b["type"] == "tool_result";
                        if result {
                            self.tool_results.insert(b["tool_use_id"].as_str().unwrap().to_string());
                        }
                        if result || !in_text {
                            self.steps += 1;
                        }
                        in_text = !result;
                    }
                }
            },
            Some("assistant") => {
                let id = line["message"]["id"].as_str().unwrap().to_string();
                if !self.message_ids.contains(&id) {
                    self.message_ids.push(id.clone());
                    self.steps += 1;
                }
                self.usage.insert(id, line["message"]["usage"].clone());
                for b in content.as_array().unwrap() {
                    if b["type"] == "tool_use" {
                        self.tool_uses.insert(b["id"].as_str().unwrap().to_string());
                    }
                }
            }
            _ => {}
        }
    }

    fn tokens(&self, key: &str) -> i64 {
        self.usage.values().map(|u| u[key].as_i64().unwrap_or(0)).sum()
    }
}

/// Per trajectory key (session id, plus `agent-<id>` for a sub-agent), what to expect.
fn expected(path: &Path) -> HashMap<String, Expected> {
    let mut out: HashMap<String, Expected> = HashMap::new();
    let mut seen = HashSet::new();
    for (i, text) in std::fs::read_to_string(path).unwrap().lines().enumerate() {
        let line: Value = serde_json::from_str(text).unwrap();
        let Some(session) = line["sessionId"].as_str() else { continue };
        let agent = &line["data"];
        let (key, inner) = if agent["type"] == "agent_progress" {
            if !seen.insert(agent["message"]["uuid"].as_str().unwrap().to_string()) {
                continue;
            }
            (format!("{session}:agent-{}", agent["agentId"].as_str().unwrap()), &agent["message"])
        } else {
            assert_ne!(line["isSidechain"], true, "the real data has no sidechain lines");
            (session.to_string(), &line)
        };
        let e = out.entry(key).or_insert_with(|| Expected { first_line: i as u64 + 1, ..Expected::default() });
        if let Some(ts) = inner["timestamp"].as_str() {
            e.stamps.push(ts.to_string());
        }
        e.add(inner);
    }
    out
}

fn seconds(ts: &str) -> f64 {
    trajstore_model::parse_timestamp(ts).unwrap() as f64 / 1e6
}

#[test]
fn real_sessions_steps_tool_pairs_tokens_and_times() {
    let Some(root) = realdata() else { return };
    let mut total = 0;
    for path in files_under(&root, "claude-code").into_iter().filter(|p| p.ends_with("full.jsonl")) {
        let want = expected(&path);
        let out = convert_file(&path);
        assert_eq!(out.format, Some(Format::ClaudeCode), "{}", path.display());
        assert!(out.errors.is_empty(), "{:?}", out.errors);
        assert_eq!(out.records.len(), want.len(), "{}", path.display());
        let bytes = std::fs::read(&path).unwrap();
        let label = path.display().to_string();
        let file = SourceFile { label: &label, path: Some(&path), bytes: &bytes, labels_dir: None };
        let lines: Vec<Option<u64>> =
            convert(Format::ClaudeCode, &file).unwrap().iter().map(|c| c.position.line).collect();
        for (t, line) in out.records.iter().zip(lines) {
            let key = t.trajectory_id.splitn(3, ':').nth(2).unwrap();
            let e = &want[key];
            let v: Value = serde_json::from_str(&t.steps_json).unwrap();
            let steps = v.as_array().unwrap();
            let m = meta(t);
            assert_eq!((t.step_count as usize, line), (e.steps, Some(e.first_line)), "{key}");
            // Every call answered in the source pairs with its result, in this order.
            let mut calls = HashSet::new();
            for s in steps {
                for c in s["tool_calls"].as_array().into_iter().flatten() {
                    calls.insert(c["id"].as_str().unwrap().to_string());
                }
                if s["role"] == "tool" {
                    assert!(calls.contains(s["tool_call_id"].as_str().unwrap()), "{key}: result before its call");
                }
            }
            assert_eq!(calls, e.tool_uses, "{key}");
            let results: HashSet<String> = steps
                .iter()
                .filter(|s| s["role"] == "tool")
                .map(|s| s["tool_call_id"].as_str().unwrap().to_string())
                .collect();
            assert_eq!(results, e.tool_results, "{key}");
            let prompt = e.tokens("input_tokens")
                + e.tokens("cache_read_input_tokens")
                + e.tokens("cache_creation_input_tokens");
            assert_eq!(m["input_tokens"].as_i64(), Some(prompt), "{key} input_tokens");
            for (ours, theirs) in [
                ("output_tokens", "output_tokens"),
                ("cache_read_tokens", "cache_read_input_tokens"),
                ("cache_write_tokens", "cache_creation_input_tokens"),
            ] {
                assert_eq!(m[ours].as_i64(), Some(e.tokens(theirs)), "{key} {ours}");
            }
            assert_eq!(m["model"].as_str(), Some(model_of(&path, key).as_str()), "{key}");
            let times: Vec<f64> = e.stamps.iter().map(|s| seconds(s)).collect();
            let span = times.iter().cloned().fold(f64::MIN, f64::max) - times.iter().cloned().fold(f64::MAX, f64::min);
            assert!((t.exec_time.unwrap() - span).abs() < 1e-6, "{key}: {:?} vs {span}", t.exec_time);
            assert_eq!(t.created_at.map(|c| c as f64 / 1e6), Some(seconds(&e.stamps[0])), "{key}");
            assert!(t.question.as_deref().is_some_and(|q| !q.is_empty()), "{key}");
            assert_eq!(t.agent_name.as_deref(), Some("claude-code"));
        }
        // Converting the same bytes again gives the same ids.
        let again: Vec<String> = convert_file(&path).records.into_iter().map(|t| t.trajectory_id).collect();
        assert_eq!(again, out.records.iter().map(|t| t.trajectory_id.clone()).collect::<Vec<_>>());
        total += out.records.len();
    }
    assert!(total > 0);
    println!("claude-code: {total} trajectories");
}

/// The model of most of a trajectory's API messages, from the source.
fn model_of(path: &Path, key: &str) -> String {
    let mut counts: Vec<(String, usize)> = Vec::new();
    let mut seen = HashSet::new();
    for text in std::fs::read_to_string(path).unwrap().lines() {
        let line: Value = serde_json::from_str(text).unwrap();
        let Some(session) = line["sessionId"].as_str() else { continue };
        let (k, msg) = match line["data"]["type"].as_str() {
            Some("agent_progress") => {
                (format!("{session}:agent-{}", line["data"]["agentId"].as_str().unwrap()), &line["data"]["message"])
            }
            _ => (session.to_string(), &line),
        };
        let (Some(model), Some(id)) = (msg["message"]["model"].as_str(), msg["message"]["id"].as_str()) else {
            continue;
        };
        if k != key || model == "<synthetic>" || !seen.insert(id.to_string()) {
            continue;
        }
        match counts.iter_mut().find(|(m, _)| m == model) {
            Some(c) => c.1 += 1,
            None => counts.push((model.to_string(), 1)),
        }
    }
    let best = counts.iter().map(|c| c.1).max().unwrap();
    counts.into_iter().find(|c| c.1 == best).unwrap().0
}

#[test]
fn real_sub_agent_is_linked_to_its_task_call() {
    let Some(root) = realdata() else { return };
    let (mut linked, mut agents) = (0, 0);
    for path in files_under(&root, "claude-code").into_iter().filter(|p| p.ends_with("full.jsonl")) {
        agents += expected(&path).keys().filter(|k| k.contains(":agent-")).count();
        let out = convert_file(&path);
        let by_id: HashMap<&str, &trajstore_model::Trajectory> =
            out.records.iter().map(|t| (t.trajectory_id.as_str(), t)).collect();
        for child in out.records.iter().filter(|t| meta(t)["is_sidechain"] == true) {
            let m = meta(child);
            let parent = by_id[m["parent_trajectory_id"].as_str().unwrap()];
            assert!(meta(parent)["child_trajectory_ids"].as_array().unwrap().contains(&json!(child.trajectory_id)));
            let steps: Value = serde_json::from_str(&parent.steps_json).unwrap();
            let call = steps
                .as_array()
                .unwrap()
                .iter()
                .flat_map(|s| s["tool_calls"].as_array().cloned().unwrap_or_default())
                .find(|c| c["id"] == m["parent_tool_use_id"])
                .unwrap();
            assert_eq!(call["child_trajectory_id"], json!(child.trajectory_id));
            assert_eq!(call["arguments"]["prompt"].as_str(), child.question.as_deref());
            linked += 1;
        }
    }
    assert_eq!(linked, agents);
    println!("claude-code: {linked} sub-agents linked");
}

#[test]
fn detection_claims_its_files_and_only_those() {
    let Some(root) = realdata() else { return };
    let mut all = Vec::new();
    files(&root, &mut all);
    for path in all {
        let name = path.to_string_lossy();
        if name.ends_with(".md") {
            continue;
        }
        let bytes = std::fs::read(&path).unwrap();
        let ours = name.contains("/claude-code/") && name.ends_with("full.jsonl");
        assert_eq!(detect(&bytes) == Some(Format::ClaudeCode), ours, "{name}");
    }
}
