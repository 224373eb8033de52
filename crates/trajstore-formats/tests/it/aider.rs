//! The aider format: its fixture (tests/fixtures/aider/) and the real data.

use std::path::{Path, PathBuf};

use serde_json::{json, Value};
use trajstore_formats::{convert, detect, Format, SourceFile};

use crate::common::{convert_file, files, files_under, meta, ok, read, realdata};

fn roles(v: &Value) -> Vec<String> {
    v["steps"].as_array().unwrap().iter().map(|s| s["role"].as_str().unwrap().to_string()).collect()
}

#[test]
fn sessions_messages_and_aider_output() {
    let got = read("aider/project.aider.chat.history.md", Format::Aider);
    assert_eq!(got.len(), 3);
    let (t, v) = ok(&got[0]);
    assert!(t.trajectory_id.starts_with("aider:") && t.trajectory_id.ends_with(":line2"), "{}", t.trajectory_id);
    assert_eq!(t.agent_name.as_deref(), Some("aider"));
    assert_eq!(v["created_at"], "2026-02-10T09:15:02Z");
    assert_eq!(t.question.as_deref(), Some("The date parser swaps day and month.\n\nFix it and keep the tests green."));
    assert_eq!(roles(v), ["tool", "user", "tool", "user", "assistant", "tool", "assistant", "tool"]);
    let s = v["steps"].as_array().unwrap();
    assert_eq!((s[0]["name"].as_str(), s[0].get("tool_call_id")), (Some("aider"), None));
    assert!(s[0]["content"].as_str().unwrap().starts_with("/home/dev/.local/bin/aider --model"));
    assert_eq!(s[1]["content"], "/add dates.py");
    assert_eq!(s[2]["content"], "Added dates.py to the chat");
    // The model's quote and heading (no trailing spaces) and a fence's markers stay in the reply.
    let reply = s[4]["content"].as_str().unwrap();
    assert!(reply.starts_with("The format string reads the month first.\n\n> Note: this quote"), "{reply}");
    assert!(reply.contains("\n#### Step 1\n"));
    assert!(
        reply.contains("<<<<<<< SEARCH\nFORMAT = \"%m-%d-%Y\"\n=======\nFORMAT = \"%d-%m-%Y\"\n>>>>>>> REPLACE\n```")
    );
    assert!(reply.ends_with("```markdown\n#### Usage\n> quoted inside a fence  \n```"), "{reply}");
    // aider's output, an older multi-line error message included, is one step.
    let out = s[5]["content"].as_str().unwrap();
    assert!(out.starts_with("Tokens: 2.1k sent, 1.0k cache write, 3.5k cache hit, 345 received.\nCost: $0.0123"));
    assert!(out.contains("Commit 1a2b3c4 fix: parse day before month\n# 1 SEARCH/REPLACE block failed to match!\n\n## SearchReplaceNoExactMatch"));
    assert!(
        out.ends_with(">>>>>>> REPLACE\n\nThe SEARCH section must exactly match an existing block of lines"),
        "{out}"
    );
    assert!(s[6]["content"].as_str().unwrap().starts_with("Sorry, here is the corrected block:"));
    let m = &v["metadata"];
    assert_eq!((m["input_tokens"].as_i64(), m["output_tokens"].as_i64()), (Some(2100 + 12000), Some(345 + 80)));
    assert_eq!((m["cache_write_tokens"].as_i64(), m["cache_read_tokens"].as_i64()), (Some(1000), Some(3500)));
    assert!((m["cost"].as_f64().unwrap() - 0.0523).abs() < 1e-12);
    assert_eq!(m["llm_calls"], 2);
    assert_eq!(m["model"], "anthropic/claude-sonnet-4-5");
    assert_eq!(m["models"], json!(["anthropic/claude-sonnet-4-5", "anthropic/claude-haiku-4-5"]));
    assert_eq!(
        (m["edit_format"].as_str(), m["weak_model"].as_str()),
        (Some("diff"), Some("anthropic/claude-haiku-4-5"))
    );
    assert_eq!(m["aider_version"], "0.86.1");
    assert_eq!(m["edited_files"], json!(["dates.py", "README.md"]));
    assert_eq!(m["commits"], json!([{"sha": "1a2b3c4", "message": "fix: parse day before month"}]));
    assert_eq!(m["started_at"], "2026-02-10 09:15:02");
    assert_eq!(m["source_format"], "aider");

    // A session of commands only: no question, no tokens.
    let (t, v) = ok(&got[1]);
    assert!(t.trajectory_id.ends_with(":line70"), "{}", t.trajectory_id);
    assert_eq!((t.question.as_deref(), t.step_count), (None, 2));
    assert_eq!(v["metadata"]["model"], "openai/gpt-4o-mini");
    assert_eq!(v["metadata"].get("input_tokens"), None);

    let (t, v) = ok(&got[2]);
    assert_eq!(t.question.as_deref(), Some("what does main.py do?"));
    assert_eq!(
        roles(v),
        ["tool", "user", "assistant", "tool", "user", "tool", "user", "assistant", "tool", "user", "assistant", "tool"]
    );
    let s = v["steps"].as_array().unwrap();
    assert_eq!(s[6]["content"], "<blank>");
    // A reply cut off inside a fence ends where aider writes again.
    assert_eq!(s[7]["content"], "Here is the whole file:\n\nmain.py\n```python\nprint('hello')");
    assert_eq!(s[8]["content"], "^C KeyboardInterrupt");
    assert_eq!(s[11]["content"], "Tokens: 1.5k sent, 20 received.\nTokens: 1.6k sent, 25 received.");
    let m = &v["metadata"];
    assert_eq!((m["input_tokens"].as_i64(), m["output_tokens"].as_i64()), (Some(4000), Some(85)));
    assert_eq!(m.get("cost"), None);
    // Two replies by gpt-4o after `/model`, one by the first model.
    assert_eq!(m["model"], "openai/gpt-4o");
    assert_eq!(m["models"], json!(["ollama/qwen2.5-coder", "openai/gpt-4o"]));
}

#[test]
fn detection_bad_input_and_lossy_text() {
    let file = |bytes: &'static [u8]| SourceFile { label: "x", path: None, bytes, labels_dir: None };
    assert_eq!(detect(b"\n\n# aider chat started at 2026-01-01 10:00:00\n"), Some(Format::Aider));
    assert_eq!(detect(b"\xEF\xBB\xBF# aider chat started at 2026-01-01 10:00:00\n"), Some(Format::Aider));
    // The input history beside it, and other Markdown, are not chats.
    assert_eq!(detect(b"\n# 2026-01-01 10:00:05.123456\n+Fix the parser\n"), None);
    assert_eq!(detect(b"# Aider chat history files\n\n#### x  \n"), None);
    assert!(convert(Format::Aider, &file(b"")).is_err());
    assert!(convert(Format::Aider, &file(b"\n\n")).is_err());
    // Read as aider on request: text before any header is a session without a time.
    let out = convert(Format::Aider, &file(b"#### hi  \n\nhello \xff there\n")).unwrap();
    let v = out[0].record.as_ref().unwrap();
    assert_eq!(v.get("created_at"), None);
    assert_eq!(v["steps"][1]["content"], "hello \u{fffd} there");
    // A header whose time does not parse keeps it in metadata only.
    let out = convert(Format::Aider, &file(b"# aider chat started at yesterday\n\n#### hi  \n")).unwrap();
    let v = out[0].record.as_ref().unwrap();
    assert_eq!((v.get("created_at").is_some(), v["metadata"]["started_at"].as_str()), (false, Some("yesterday")));
    assert_eq!(v["metadata"]["created_at"], "yesterday");
}

fn aider_files(root: &Path) -> Vec<PathBuf> {
    files_under(root, "aider").into_iter().filter(|p| p.to_string_lossy().ends_with(".aider.chat.history.md")).collect()
}

/// The sessions of a history, split with the standard library alone: the header's time
/// and the lines after it.
fn sessions(path: &Path) -> Vec<(String, Vec<String>)> {
    let text = String::from_utf8_lossy(&std::fs::read(path).unwrap()).into_owned();
    let mut out: Vec<(String, Vec<String>)> = Vec::new();
    for line in text.lines() {
        match line.strip_prefix("# aider chat started at ") {
            Some(time) => out.push((time.trim().to_string(), vec![])),
            None => match out.last_mut() {
                Some(session) => session.1.push(line.to_string()),
                None => assert!(line.trim().is_empty(), "the files start with a header"),
            },
        }
    }
    out
}

fn tokens(text: &str) -> i64 {
    let (n, scale) = match text.strip_suffix('k') {
        Some(n) => (n, 1000.0),
        None => (text, 1.0),
    };
    (n.parse::<f64>().unwrap() * scale).round() as i64
}

#[test]
fn real_histories_sessions_turns_and_tokens() {
    let Some(root) = realdata() else { return };
    let paths = aider_files(&root);
    assert_eq!(paths.len(), 3, "{paths:?}");
    let (mut total_sessions, mut total_turns) = (0, 0);
    for path in &paths {
        let expected = sessions(path);
        let out = convert_file(path);
        assert_eq!(out.format, Some(Format::Aider), "{}", path.display());
        assert!(out.errors.is_empty(), "{:?}", out.errors);
        assert_eq!(out.records.len(), expected.len(), "{}", path.display());
        for ((time, lines), t) in expected.iter().zip(&out.records) {
            let steps: Vec<Value> = serde_json::from_str(&t.steps_json).unwrap();
            let m = meta(t);
            assert_eq!(t.agent_name.as_deref(), Some("aider"));
            assert_eq!(t.created_at, trajstore_model::parse_timestamp(time), "{time}");
            // User turns: runs of `####` lines.
            let runs = (0..lines.len())
                .filter(|&i| lines[i].starts_with("####") && (i == 0 || !lines[i - 1].starts_with("####")));
            let users = steps.iter().filter(|s| s["role"] == "user").count();
            assert_eq!(users, runs.count(), "{} {time}", path.display());
            total_turns += users;
            // Nothing lost: every line with text is in a step (markers removed).
            let unmarked = |l: &str| {
                let l = l.strip_prefix("####").or_else(|| l.strip_prefix('>')).unwrap_or(l);
                !l.trim().is_empty()
            };
            let in_file = lines.iter().filter(|l| unmarked(l)).count();
            let in_steps: usize =
                steps.iter().map(|s| s["content"].as_str().unwrap().lines().filter(|l| unmarked(l)).count()).sum();
            assert_eq!(in_steps, in_file, "{} {time}", path.display());
            // Token sums from the `> Tokens:` lines.
            let reports: Vec<&String> = lines.iter().filter(|l| l.starts_with("> Tokens: ")).collect();
            let (mut sent, mut received) = (0, 0);
            for r in &reports {
                let counts = r["> Tokens: ".len()..].split("Cost:").next().unwrap();
                for part in counts.split(',').map(|p| p.trim().trim_end_matches('.')) {
                    if let Some(n) = part.strip_suffix(" sent") {
                        sent += tokens(n);
                    } else if let Some(n) = part.strip_suffix(" received") {
                        received += tokens(n);
                    }
                }
            }
            if reports.is_empty() {
                assert!(m.get("input_tokens").is_none());
            } else {
                assert_eq!((m["input_tokens"].as_i64(), m["output_tokens"].as_i64()), (Some(sent), Some(received)));
                assert_eq!(m["llm_calls"].as_u64(), Some(reports.len() as u64));
            }
            let costs: Vec<f64> =
                reports.iter().filter_map(|r| r.split("Cost: $").nth(1)?.split(' ').next()?.parse().ok()).collect();
            match m.get("cost").and_then(Value::as_f64) {
                Some(c) => assert!((c - costs.iter().sum::<f64>()).abs() < 1e-9),
                None => assert!(costs.is_empty()),
            }
            if let Some(model) = m["model"].as_str() {
                assert!(lines.iter().any(|l| l.starts_with("> Model: ") && l.contains(model)), "{model}");
            }
            // aider's output has no call to answer; nothing pretends to pair with one.
            assert!(steps.iter().all(|s| s.get("tool_call_id").is_none() && s.get("tool_calls").is_none()));
            total_sessions += 1;
        }
        let again: Vec<String> = convert_file(path).records.into_iter().map(|t| t.trajectory_id).collect();
        assert_eq!(again, out.records.iter().map(|t| t.trajectory_id.clone()).collect::<Vec<_>>());
    }
    println!("aider: {total_sessions} sessions, {total_turns} user turns");
}

#[test]
fn detection_stays_in_its_folder() {
    let Some(root) = realdata() else { return };
    let mut all = Vec::new();
    files(&root, &mut all);
    for path in all {
        let bytes = std::fs::read(&path).unwrap();
        let is_history = path.to_string_lossy().ends_with(".aider.chat.history.md");
        assert_eq!(detect(&bytes) == Some(Format::Aider), is_history, "{}", path.display());
    }
}

#[test]
fn cut_files_never_panic() {
    let mut paths = vec![crate::common::fixture("aider/project.aider.chat.history.md")];
    if let Some(root) = realdata() {
        paths.extend(aider_files(&root));
    }
    for path in paths {
        let bytes = std::fs::read(&path).unwrap();
        for cut in (0..bytes.len()).step_by(bytes.len() / 40 + 1) {
            let file = SourceFile { label: "cut", path: None, bytes: &bytes[..cut], labels_dir: None };
            // Cut inside a UTF-8 sequence or a fence: still sessions, or an error for the file.
            if let Ok(out) = convert(Format::Aider, &file) {
                assert!(out.iter().all(|c| c.record.is_ok()));
            }
        }
    }
}
