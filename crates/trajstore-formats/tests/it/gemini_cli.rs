//! The gemini_cli format: its fixture (tests/fixtures/gemini_cli/) and the real data.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};

use serde_json::{json, Value};
use trajstore_formats::{convert, detect, Format, SourceFile};

use crate::common::{convert_file, files, fixture, meta, ok, read, realdata};

#[test]
fn single_document_maps_every_field() {
    let got = read("gemini_cli/session.json", Format::GeminiCli);
    assert_eq!(got.len(), 1);
    let (t, v) = ok(&got[0]);
    assert!(t.trajectory_id.starts_with("gemini-cli:"), "{}", t.trajectory_id);
    assert!(t.trajectory_id.ends_with(":0b6c1d2e-aaaa-4bbb-8ccc-000000000001"), "{}", t.trajectory_id);
    assert_eq!(t.agent_name.as_deref(), Some("gemini-cli"));
    assert_eq!(t.question.as_deref(), Some("Fix the failing test in dates.py"));
    assert_eq!(v["created_at"], "2026-03-17T22:22:30.000Z");
    // From startTime to lastUpdated (the latest time in the file).
    assert_eq!(t.exec_time, Some(40.5));
    let steps = v["steps"].as_array().unwrap();
    let roles: Vec<&str> = steps.iter().map(|s| s["role"].as_str().unwrap()).collect();
    assert_eq!(
        roles,
        ["system", "user", "assistant", "tool", "tool", "assistant", "tool", "system", "user", "assistant", "system"]
    );
    assert_eq!((steps[0]["type"].as_str(), steps[0].get("is_error")), (Some("info"), None));
    assert_eq!(steps[1]["content"], "Fix the failing test in dates.py");
    assert_eq!(steps[1]["timestamp"], "2026-03-17T22:22:32.132Z");
    let a = &steps[2];
    assert_eq!(a["content"], "I will run the tests first.");
    assert_eq!(
        a["reasoning_content"],
        "**Planning the Run**\nRunning pytest shows which test fails.\n\n**Choosing Tools**\nA shell command is enough."
    );
    assert_eq!(a["model"], "gemini-3-flash-preview");
    assert_eq!(a["tokens"]["input"], 6341);
    assert_eq!(
        a["tool_calls"][0],
        json!({"id": "run_shell_command_1773786154086_0", "name": "run_shell_command",
               "arguments": {"command": "pytest -x", "description": "Run the tests."},
               "displayName": "Shell", "description": "Run the tests.", "renderOutputAsMarkdown": false})
    );
    assert_eq!(steps[3]["tool_call_id"], "run_shell_command_1773786154086_0");
    assert_eq!(steps[3]["name"], "run_shell_command");
    assert_eq!(steps[3]["content"], "1 failed, 41 passed");
    assert_eq!(steps[3]["status"], "success");
    assert_eq!(steps[3]["timestamp"], "2026-03-17T22:22:40.000Z");
    assert_eq!(steps[3]["resultDisplay"], "1 failed, 41 passed");
    assert_eq!(steps[3].get("is_error"), None);
    // A failed call: its error text, its status, and the flag.
    assert_eq!(steps[4]["tool_call_id"], "read_file_1773786154090_1");
    assert_eq!(steps[4]["content"], "File not found: missing.py");
    assert_eq!((steps[4]["status"].as_str(), steps[4]["is_error"].as_bool()), (Some("error"), Some(true)));
    // Empty assistant text with calls is null; a call without result still gets its step.
    assert_eq!(steps[5]["content"], Value::Null);
    assert_eq!(steps[5].get("thoughts"), None);
    assert_eq!(steps[5].get("reasoning_content"), None);
    assert_eq!(
        (steps[6]["tool_call_id"].as_str(), steps[6]["content"].is_null(), steps[6]["status"].as_str()),
        (Some("replace_1773786170000_0"), true, Some("cancelled"))
    );
    assert_eq!(steps[7]["type"], "warning");
    assert_eq!((steps[10]["type"].as_str(), steps[10]["is_error"].as_bool()), (Some("error"), Some(true)));
    let m = &v["metadata"];
    assert_eq!(m["source_format"], "gemini-cli");
    assert_eq!(
        (m["input_tokens"].as_i64(), m["output_tokens"].as_i64()),
        (Some(6341 + 7000 + 7200), Some(40 + 120 + 12))
    );
    assert_eq!(m["cache_read_tokens"], 1000 + 6000 + 7000);
    assert_eq!((m["reasoning_tokens"].as_i64(), m["tool_tokens"].as_i64()), (Some(88), Some(5)));
    assert_eq!(m["total_tokens"], 6439 + 7155 + 7212);
    // Two messages of gemini-3-flash-preview, one of gemini-2.5-pro.
    assert_eq!(m["model"], "gemini-3-flash-preview");
    assert_eq!(m["models"], json!(["gemini-3-flash-preview", "gemini-2.5-pro"]));
    assert_eq!(m["projectHash"], "8b4f91c53c99173b79614e87a4358ae6859b85fd475d3abf32fc97ebc0aad63c");
    assert_eq!((m["kind"].as_str(), m["summary"].as_str()), (Some("main"), Some("Fix the failing date test")));
    assert_eq!(m["sessionId"], "0b6c1d2e-aaaa-4bbb-8ccc-000000000001");
}

#[test]
fn log_replays_updates_rewinds_and_resent_results() {
    let got = read("gemini_cli/session.jsonl", Format::GeminiCli);
    assert_eq!(got.len(), 2, "the session and the line that is not JSON");
    let (t, v) = ok(&got[0]);
    assert!(t.trajectory_id.ends_with(":fee94c8d-ce1b-4317-9d72-000000000002"));
    // The `<session_context>` turn is a step but not the question.
    assert_eq!(t.question.as_deref(), Some("Add a logout button to the navbar"));
    let steps = v["steps"].as_array().unwrap();
    let ids: Vec<String> = steps
        .iter()
        .map(|s| {
            format!("{}:{}", s["role"].as_str().unwrap(), s["tool_call_id"].as_str().or(s["id"].as_str()).unwrap())
        })
        .collect();
    assert_eq!(
        ids,
        [
            "user:ctx",
            "user:u1",
            "assistant:g1",
            "tool:read_file__read_file_1_0",
            // The re-sent result of read_file is not repeated; the unanswered one is kept.
            "tool:orphan_call_9",
            "assistant:g2",
            "user:u4"
        ]
    );
    // g1's last state (with its call) won.
    assert_eq!(steps[2]["tool_calls"][0]["name"], "read_file");
    assert_eq!(steps[2]["reasoning_content"], "**Locating the Navbar**\nThe navbar lives in components/nav.tsx.");
    assert_eq!(steps[3]["content"], "export function Nav() {}\n");
    assert_eq!((steps[4]["content"].as_str(), steps[4]["is_error"].as_bool()), (Some("pattern too broad"), Some(true)));
    let m = &v["metadata"];
    assert_eq!(m["resent_tool_results"], 1);
    assert_eq!(m["input_tokens"], 10514 + 23293);
    assert_eq!(m["summary"], "Logout button");
    assert_eq!(m["lastUpdated"], "2026-06-07T15:53:30.000Z");
    let rewound: Vec<&str> =
        m["rewound_messages"].as_array().unwrap().iter().map(|r| r["id"].as_str().unwrap()).collect();
    assert_eq!(rewound, ["u3", "g3"]);
    assert_eq!(m["other_records"], json!([{"note": "a record of a kind this reader does not know"}]));
    assert_eq!(v["created_at"], "2026-06-07T15:50:29.489Z");
    assert_eq!(t.exec_time, Some(180.511));
    assert!(got[1].as_ref().unwrap_err().contains("invalid JSON"), "{:?}", got[1]);
}

#[test]
fn sessions_in_one_log_and_bad_messages() {
    let got = read("gemini_cli/two_sessions.jsonl", Format::GeminiCli);
    assert_eq!(got.len(), 3);
    let (t, v) = ok(&got[0]);
    assert!(t.trajectory_id.ends_with(":s-one"));
    assert_eq!((t.step_count, v["metadata"]["model"].as_str()), (2, Some("gemini-2.5-flash")));
    assert_eq!(v["metadata"]["input_tokens"], 10);
    let e = got[1].as_ref().unwrap_err();
    assert!(e.starts_with("line 5.type: expected a string"), "{e}");
    let e = got[2].as_ref().unwrap_err();
    assert!(e.starts_with("line 7.toolCalls: expected a list"), "{e}");
}

#[test]
fn bad_files_and_detection() {
    let file = |bytes: &'static [u8]| SourceFile { label: "x", path: None, bytes, labels_dir: None };
    assert!(convert(Format::GeminiCli, &file(b"not json\nnor this\n")).is_err());
    assert!(convert(Format::GeminiCli, &file(b"5")).is_err());
    let out = convert(Format::GeminiCli, &file(br#"{"sessionId":"s","projectHash":"h","messages":{"a":1}}"#)).unwrap();
    assert_eq!(out[0].record.as_ref().unwrap_err().to_string(), "messages: expected a list of messages");
    // A header line alone is a session with no steps.
    let out =
        convert(Format::GeminiCli, &file(br#"{"sessionId":"s","projectHash":"h","startTime":"2026-01-01T00:00:00Z"}"#))
            .unwrap();
    assert_eq!(out[0].record.as_ref().unwrap()["steps"], json!([]));
    assert_eq!(
        detect(br#"{"kind":"main","lastUpdated":"2026-03-18T20:52:04.329Z","messages":[{"content":"x"#),
        Some(Format::GeminiCli)
    );
    assert_eq!(
        detect(br#"{"sessionId":"s","projectHash":"h","startTime":"t","lastUpdated":"t","kind":"main"}"#),
        Some(Format::GeminiCli)
    );
    // Claude Code lines carry a sessionId but none of the recording's header keys.
    assert_ne!(detect(br#"{"parentUuid":null,"sessionId":"s","type":"user","message":{}}"#), Some(Format::GeminiCli));
    assert_ne!(detect(br#"{"messages":[{"role":"user","content":"hi"}]}"#), Some(Format::GeminiCli));
}

/// One session replayed from a real file with serde_json alone: the messages in
/// first-seen order, each in its last state (the files hold no `$rewindTo`).
fn replay(path: &Path) -> (Value, Vec<Value>) {
    let text = std::fs::read_to_string(path).unwrap();
    if let Ok(doc) = serde_json::from_str::<Value>(&text) {
        let messages = doc["messages"].as_array().cloned().unwrap_or_default();
        return (doc, messages);
    }
    let mut header = json!({});
    let mut order: Vec<String> = Vec::new();
    let mut last: HashMap<String, Value> = HashMap::new();
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let r: Value = serde_json::from_str(line).unwrap();
        assert!(r.get("$rewindTo").is_none(), "the real files hold no rewind");
        let new: Vec<Value> = match (r.get("$set"), r.get("id")) {
            (Some(set), _) => {
                for (k, v) in set.as_object().unwrap() {
                    if k != "messages" {
                        header[k] = v.clone();
                    }
                }
                set["messages"]
                    .as_array()
                    .cloned()
                    .unwrap_or_default()
                    .into_iter()
                    .filter(|m| !last.contains_key(m["id"].as_str().unwrap()))
                    .collect()
            }
            (None, Some(_)) => vec![r],
            (None, None) => {
                for (k, v) in r.as_object().unwrap() {
                    header[k] = v.clone();
                }
                vec![]
            }
        };
        for m in new {
            let id = m["id"].as_str().unwrap().to_string();
            if !last.contains_key(&id) {
                order.push(id.clone());
            }
            last.insert(id, m);
        }
    }
    (header, order.iter().map(|id| last[id].clone()).collect())
}

/// The sessions of the gemini-cli folder (`full.jsonl`; `metadata.json` beside each is
/// Entire's), and the recording another folder holds as an example
/// (`harbor/.../gemini-cli-trajectory.json`, the older single-document shape).
fn gemini_files(root: &Path) -> Vec<PathBuf> {
    let mut all = Vec::new();
    files(root, &mut all);
    all.into_iter().filter(|p| is_gemini_session(root, p)).collect()
}

fn is_gemini_session(root: &Path, path: &Path) -> bool {
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
    (path.starts_with(root.join("gemini-cli")) && name == "full.jsonl") || name == "gemini-cli-trajectory.json"
}

#[test]
fn real_sessions_steps_calls_and_tokens() {
    let Some(root) = realdata() else { return };
    let paths = gemini_files(&root);
    assert!(paths.len() >= 8, "{paths:?}");
    assert!(paths.iter().any(|p| p.starts_with(root.join("gemini-cli"))));
    let (mut sessions, mut calls_seen) = (0, 0);
    for path in &paths {
        let (header, messages) = replay(path);
        let out = convert_file(path);
        assert_eq!(out.format, Some(Format::GeminiCli), "{}", path.display());
        assert!(out.errors.is_empty(), "{:?}", out.errors);
        assert_eq!(out.records.len(), 1, "{}", path.display());
        let t = &out.records[0];
        assert!(t.trajectory_id.ends_with(&format!(":{}", header["sessionId"].as_str().unwrap())));
        assert_eq!(t.agent_name.as_deref(), Some("gemini-cli"));
        let steps: Vec<Value> = serde_json::from_str(&t.steps_json).unwrap();

        // Steps: one per message, one more per tool call; a user turn made only of
        // results the calls already hold adds none.
        let answered: HashSet<&str> = messages
            .iter()
            .flat_map(|m| m["toolCalls"].as_array().into_iter().flatten())
            .filter(|c| !c["result"].is_null())
            .map(|c| c["id"].as_str().unwrap())
            .collect();
        let mut expected = 0;
        for m in &messages {
            let parts = m["content"].as_array();
            let responses: Vec<&Value> =
                parts.into_iter().flatten().filter_map(|p| p.get("functionResponse")).collect();
            if m["type"] == "user" && !responses.is_empty() && responses.len() == parts.unwrap().len() {
                expected += responses.iter().filter(|r| !answered.contains(r["id"].as_str().unwrap())).count();
            } else {
                expected += 1 + m["toolCalls"].as_array().map_or(0, Vec::len);
            }
        }
        assert_eq!(steps.len(), expected, "{}", path.display());

        // Every call pairs with exactly one result step, in the order of the calls.
        let call_ids: Vec<&str> = steps
            .iter()
            .flat_map(|s| s["tool_calls"].as_array().into_iter().flatten())
            .map(|c| c["id"].as_str().unwrap())
            .collect();
        let result_ids: Vec<&str> =
            steps.iter().filter(|s| s["role"] == "tool").map(|s| s["tool_call_id"].as_str().unwrap()).collect();
        assert_eq!(call_ids, result_ids, "{}", path.display());
        calls_seen += call_ids.len();

        let sum = |key: &str| messages.iter().filter_map(|m| m["tokens"][key].as_i64()).sum::<i64>();
        let m = meta(t);
        assert_eq!(m["input_tokens"].as_i64(), Some(sum("input")), "{}", path.display());
        assert_eq!(m["output_tokens"].as_i64(), Some(sum("output")));
        assert_eq!(m["cache_read_tokens"].as_i64(), Some(sum("cached")));
        assert_eq!(m["reasoning_tokens"].as_i64(), Some(sum("thoughts")));
        let models: HashSet<&str> = messages.iter().filter_map(|m| m["model"].as_str()).collect();
        assert!(models.contains(m["model"].as_str().unwrap()));
        assert_eq!(m["models"].as_array().unwrap().len(), models.len());
        assert_eq!(m["projectHash"], header["projectHash"]);
        let created = trajstore_model::parse_timestamp(header["startTime"].as_str().unwrap());
        assert_eq!(t.created_at, created);
        assert!(t.exec_time.is_some_and(|e| e >= 0.0));
        let thoughts = messages.iter().filter(|m| m["thoughts"].as_array().is_some_and(|t| !t.is_empty())).count();
        assert_eq!(steps.iter().filter(|s| s["reasoning_content"].is_string()).count(), thoughts);
        sessions += 1;
    }
    println!("gemini-cli: {sessions} sessions, {calls_seen} tool calls paired");
}

#[test]
fn real_ids_are_stable_and_detection_stays_in_its_folder() {
    let Some(root) = realdata() else { return };
    for path in gemini_files(&root) {
        let a: Vec<String> = convert_file(&path).records.into_iter().map(|t| t.trajectory_id).collect();
        let b: Vec<String> = convert_file(&path).records.into_iter().map(|t| t.trajectory_id).collect();
        assert_eq!(a, b);
    }
    let mut all = Vec::new();
    files(&root, &mut all);
    for path in all {
        let bytes = std::fs::read(&path).unwrap();
        assert_eq!(detect(&bytes) == Some(Format::GeminiCli), is_gemini_session(&root, &path), "{}", path.display());
    }
    // The fixtures are found where the tests expect them.
    assert!(fixture("gemini_cli/session.json").is_file());
}

#[test]
fn cut_files_never_panic() {
    let mut paths = vec![fixture("gemini_cli/session.json"), fixture("gemini_cli/session.jsonl")];
    if let Some(root) = realdata() {
        paths.extend(gemini_files(&root));
    }
    for path in paths {
        let bytes = std::fs::read(&path).unwrap();
        for cut in (0..bytes.len()).step_by(bytes.len() / 40 + 1) {
            let file = SourceFile { label: "cut", path: None, bytes: &bytes[..cut], labels_dir: None };
            // An error for the file or per record is fine; a panic is not.
            if let Ok(out) = convert(Format::GeminiCli, &file) {
                assert!(!out.is_empty());
            }
        }
    }
}
