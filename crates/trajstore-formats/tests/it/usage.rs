//! The `model`, `input_tokens`, `output_tokens` and `cost` columns, per format: each is a
//! top-level field of the converted record (not only a metadata entry the model falls back
//! on), and a format that does not say leaves it null.
//!
//! The expected numbers were computed from the files with python3 (json module), not with
//! the code under test; each test names the expression.

use serde_json::{json, Value};
use trajstore_formats::{convert, native_to_atif, Format, SourceFile};
use trajstore_model::Trajectory;

use crate::common::{files_under, fixture, ok, read, read_path, realdata};

type Columns<'a> = (Option<&'a str>, Option<i64>, Option<i64>, Option<f64>);

/// The four columns of a converted record, checked to be its top-level fields: the
/// parsed trajectory and the record's own fields must agree.
fn columns<'a>(t: &'a Trajectory, v: &Value) -> Columns<'a> {
    let cols = (t.model.as_deref(), t.input_tokens, t.output_tokens, t.cost);
    let top = (v["model"].as_str(), v["input_tokens"].as_i64(), v["output_tokens"].as_i64(), v["cost"].as_f64());
    assert_eq!((top.0, top.1, top.2, top.3), (cols.0, cols.1, cols.2, cols.3), "columns not at the top level: {v}");
    cols
}

/// `columns` with the cost compared to within a unit in the last place or so: the
/// importers parse JSON numbers with serde_json's fast float parser, which can miss the
/// nearest double by one ulp (0.029804999999999998 reads as 0.029805).
fn assert_columns(got: Columns<'_>, want: Columns<'_>) {
    assert_eq!((got.0, got.1, got.2), (want.0, want.1, want.2));
    match (got.3, want.3) {
        (Some(a), Some(b)) => assert!((a - b).abs() <= 1e-15 * b.abs().max(1.0), "cost {a} != {b}"),
        (a, b) => assert_eq!(a, b),
    }
}

/// The record at `index` of a real file (a path under the real-data folder).
fn real(root: &std::path::Path, path: &str, format: Format, index: usize) -> (Trajectory, Value) {
    let got = read_path(&root.join(path), path, format);
    let (t, v) = ok(&got[index]);
    (t.clone(), v.clone())
}

fn parsed(t: &Trajectory) -> Value {
    serde_json::from_str(&t.to_json()).unwrap()
}

/// Converts `doc` (the bytes of a file of `format`) and parses the first record back.
fn inline(format: Format, doc: &Value) -> (Trajectory, Value) {
    let bytes = doc.to_string().into_bytes();
    let file = SourceFile { label: "inline", path: None, bytes: &bytes, labels_dir: None };
    let v = convert(format, &file).unwrap().remove(0).record.unwrap();
    (Trajectory::from_json(v.to_string().as_bytes()).unwrap(), v)
}

#[test]
fn openai_chat_usage_per_record_per_message_and_fields() {
    let got = read("openai_chat_usage.jsonl", Format::OpenaiChat);
    // The record's `usage` is its total; the messages' usage is then not added.
    let (t, v) = ok(&got[0]);
    assert_eq!(columns(t, v), (Some("gpt-4o"), Some(120), Some(30), Some(0.0012)));
    assert_eq!(v["metadata"]["model"], "gpt-4o");
    // Summed over the assistant messages: 50 + 70, 5 + 9; the user's 1000s are not the model's.
    let (t, v) = ok(&got[1]);
    assert_eq!(columns(t, v), (None, Some(120), Some(14), Some(0.0004)));
    // Top-level fields win over `usage`, and the top-level model over metadata's.
    let (t, v) = ok(&got[2]);
    assert_eq!(columns(t, v), (Some("m-top"), Some(7), Some(4), None));
    // Values of the wrong type leave the columns null and stay in metadata.
    let (t, v) = ok(&got[3]);
    assert_eq!(columns(t, v), (None, None, None, None));
    let m = &v["metadata"];
    assert_eq!(
        (&m["model"], &m["usage"], &m["input_tokens"], &m["output_tokens"], &m["cost"]),
        (&json!(7), &json!("lots"), &json!("many"), &json!([1]), &json!("free"))
    );
    let (t, v) = ok(&got[4]);
    assert_eq!(columns(t, v), (None, None, None, None));
}

#[test]
fn responses_usage_of_the_response() {
    // The fixture's responses carry a model and no usage.
    let got = read("responses.jsonl", Format::Responses);
    let (t, v) = ok(&got[1]);
    assert_eq!(columns(t, v), (Some("qwen3-8b"), None, None, None));
    let Some(root) = realdata() else { return };
    // python3: r = json.loads(line 1); r["response"]["model"], r["response"]["usage"]
    //   -> "openai/openai/gpt-5-nano", input_tokens 318, output_tokens 1816, cost None.
    let (t, v) = real(&root, "nemo-gym/resources_servers_gpqa_diamond.jsonl", Format::Responses, 0);
    assert_eq!(columns(&t, &v), (Some("openai/openai/gpt-5-nano"), Some(318), Some(1816), None));
    // Chat-completions style usage (prompt_tokens 100, completion_tokens 10).
    let (t, v) = real(&root, "nemo-gym/resources_servers_ruler2.jsonl", Format::Responses, 0);
    assert_eq!(columns(&t, &v), (Some("stub"), Some(100), Some(10), None));
    // The row's own `input_tokens` (106804, the task's prompt size) stays in metadata;
    // the response's usage (112938 / 221) is the column.
    let (t, v) = real(&root, "nemo-gym/resources_servers_aalcr.jsonl", Format::Responses, 0);
    assert_eq!(columns(&t, &v), (Some("model"), Some(112938), Some(221), None));
    assert_eq!(v["metadata"]["input_tokens"], 106804);
}

#[test]
fn inspect_model_usage_summed_over_models() {
    // A provider that counts the cached prompt apart (total = input + output + cache):
    // 10 + 100 + 20 = 130, plus another model's 7; outputs 5 + 1; total_cost 0.5.
    let log = json!({"version": 2, "status": "success",
        "eval": {"task": "t", "model": "anthropic/claude", "created": "2025-01-01T00:00:00Z"},
        "samples": [
            {"id": 1, "epoch": 1, "input": "q", "messages": [], "model_usage": {
                "anthropic/claude": {"input_tokens": 10, "output_tokens": 5, "input_tokens_cache_read": 100,
                    "input_tokens_cache_write": 20, "total_tokens": 135, "total_cost": 0.5},
                "openai/grader": {"input_tokens": 7, "output_tokens": 1, "total_tokens": 8}}},
            {"id": 2, "epoch": 1, "input": "q", "messages": [], "model_usage": {"m": {"input_tokens": "x"}}}]});
    let bytes = log.to_string().into_bytes();
    let file = SourceFile { label: "inline", path: None, bytes: &bytes, labels_dir: None };
    let got: Vec<Value> = convert(Format::Inspect, &file).unwrap().into_iter().map(|c| c.record.unwrap()).collect();
    let t = Trajectory::from_json(got[0].to_string().as_bytes()).unwrap();
    assert_eq!(columns(&t, &got[0]), (Some("anthropic/claude"), Some(137), Some(6), Some(0.5)));
    let t = Trajectory::from_json(got[1].to_string().as_bytes()).unwrap();
    assert_eq!(columns(&t, &got[1]), (Some("anthropic/claude"), None, None, None));

    let Some(root) = realdata() else { return };
    // python3: d["samples"][0]["model_usage"] -> {"openai/gpt-4o-mini": {"input_tokens": 64, "output_tokens": 2, ...}}
    let (t, v) = real(&root, "inspect/2025-05-12T20-28-13-04-00_popularity.json", Format::Inspect, 0);
    assert_eq!(columns(&t, &v), (Some("openai/gpt-4o-mini"), Some(64), Some(2), None));
    // OpenAI counts the cached prompt inside input_tokens (total 15516 = 15235 + 281).
    let (t, v) = real(&root, "inspect/2025-05-12T20-27-36-04-00_browser.json", Format::Inspect, 0);
    assert_eq!(columns(&t, &v), (Some("openai/gpt-4o-mini"), Some(15235), Some(281), None));
    // Its one sample has `model_usage: {}`: no counts, though the log's stats have some.
    let (t, v) = real(&root, "inspect/log_formats.eval", Format::Inspect, 0);
    assert_eq!(columns(&t, &v), (Some("ollama/llama3.1"), None, None, None));
}

#[test]
fn mini_swe_agent_instance_cost_and_response_usage() {
    // The fixture: instance_cost 0.31; one response with prompt_tokens 10 only.
    let got = read("mini/trajs/django__django-1.traj.json", Format::MiniSweAgent);
    let (t, v) = ok(&got[0]);
    assert_eq!(columns(t, v), (Some("openrouter/google/gemini-3-pro-preview"), Some(10), None, Some(0.31)));
    let Some(root) = realdata() else { return };
    // python3: sum(m["extra"]["response"]["usage"]["prompt_tokens"]) over the messages with
    // a response -> 258532, completion_tokens -> 5083; info.model_stats.instance_cost
    // -> 0.23051419999999997; info.config.model.model_name -> google/gemini-3-pro-preview.
    let (t, v) = real(&root, "mini-swe-agent/trajs/astropy__astropy-12907.traj.json", Format::MiniSweAgent, 0);
    assert_columns(
        columns(&t, &v),
        (Some("google/gemini-3-pro-preview"), Some(258532), Some(5083), Some(0.23051419999999997)),
    );
}

#[test]
fn swe_agent_model_stats() {
    // The fixture's model_stats: instance_cost 0.02, no token counts.
    let got = read("swe_agent.traj", Format::SweAgent);
    let (t, v) = ok(&got[0]);
    assert_eq!((t.input_tokens, t.output_tokens, t.cost), (None, None, Some(0.02)));
    columns(t, v);
    let Some(root) = realdata() else { return };
    // python3: info.model_stats -> tokens_sent 7141, tokens_received 243,
    // instance_cost 0.019520000000000006; replay_config.agent.model.name -> gpt-4o.
    let (t, v) = real(&root, "swe-agent/6e44b9__sweagenttestrepo-1c2844.traj", Format::SweAgent, 0);
    assert_columns(columns(&t, &v), (Some("gpt-4o"), Some(7141), Some(243), Some(0.019520000000000006)));
    // tokens_sent 122612, tokens_received 1369, instance_cost 1.26719, no replay config.
    let (t, v) = real(&root, "swe-agent/pydicom__pydicom-1458.traj", Format::SweAgent, 0);
    assert_eq!(columns(&t, &v), (None, Some(122612), Some(1369), Some(1.26719)));
    // All zeros with api_calls 0 beside assistant steps: counters that did not run.
    let (t, v) = real(&root, "swe-agent/BabyEncryption.traj", Format::SweAgent, 0);
    assert_eq!(columns(&t, &v), (None, None, None, None));
}

#[test]
fn atif_final_metrics_else_step_metrics() {
    // The fixture: final_metrics has total_prompt_tokens 12 only; the steps' metrics give
    // completion_tokens 3; no cost anywhere.
    let got = read("atif.json", Format::Atif);
    let (t, v) = ok(&got[0]);
    assert_eq!(columns(t, v), (Some("claude-sonnet"), Some(12), Some(3), None));
    let Some(root) = realdata() else { return };
    // python3: d["final_metrics"] -> 7802, 1030, 0.029804999999999998 (the steps' own sum,
    // 6502, leaves out the summarization subagents); d["agent"]["model_name"] -> openai/gpt-4o.
    let path = "harbor/sachiny0106__Xelron/tests/golden/terminus_2/hello-world-context-summarization.trajectory.json";
    let (t, v) = real(&root, path, Format::Atif, 0);
    assert_columns(columns(&t, &v), (Some("openai/gpt-4o"), Some(7802), Some(1030), Some(0.029804999999999998)));
    // No model_name: the model stays null; final_metrics 220, 80, 0.00135.
    let (t, v) =
        real(&root, "harbor/sachiny0106__Xelron/tests/golden/openhands/hello-world.trajectory.json", Format::Atif, 0);
    assert_eq!(columns(&t, &v), (None, Some(220), Some(80), Some(0.00135)));
}

#[test]
fn atif_round_trip_adds_no_column_fields() {
    // A native record whose model and cost are only in metadata: the export writes the
    // columns the model filled from there, and they come back, nothing more.
    let native = r#"{"trajectory_id":"n1","metadata":{"model":"m","cost":0.5},"steps":[{"role":"user","content":"q"},{"role":"assistant","content":"a"}]}"#;
    let t = Trajectory::from_json(native.as_bytes()).unwrap();
    let (back, v) = inline(Format::Atif, &native_to_atif(&t).unwrap());
    assert_eq!(columns(&back, &v), (Some("m"), None, None, Some(0.5)));
    assert_eq!(parsed(&back), parsed(&t));
    let native = r#"{"trajectory_id":"n2","model":"m2","input_tokens":4,"steps":[{"role":"user","content":"q"}]}"#;
    let t = Trajectory::from_json(native.as_bytes()).unwrap();
    let (back, v) = inline(Format::Atif, &native_to_atif(&t).unwrap());
    assert_eq!(columns(&back, &v), (Some("m2"), Some(4), None, None));
    assert_eq!(parsed(&back), parsed(&t));
}

#[test]
fn tau2_agent_usage_not_the_user_simulators() {
    // The fixture names the agent's model and counts nothing.
    let got = read("tau2.json", Format::Tau2);
    let (t, v) = ok(&got[0]);
    assert_eq!(columns(t, v), (Some("gpt-4.1"), None, None, None));
    let msg =
        |role: &str, usage: Value, cost: Value| json!({"role": role, "content": "x", "usage": usage, "cost": cost});
    let doc = json!({"info": {"agent_info": {"implementation": "llm_agent", "llm": "gpt-4o"}}, "tasks": [],
        "simulations": [
            {"id": "a", "task_id": "1", "messages": [
                msg("assistant", Value::Null, json!(0.0)),
                msg("user", json!({"prompt_tokens": 900, "completion_tokens": 90}), json!(0.9)),
                msg("assistant", json!({"prompt_tokens": 40, "completion_tokens": 4}), json!(0.25)),
                msg("assistant", json!({"prompt_tokens": 60, "completion_tokens": 6}), json!(0.5))]},
            {"id": "b", "task_id": "1", "agent_cost": 2.0, "messages": [
                msg("assistant", json!({"prompt_tokens": 1, "completion_tokens": 1}), json!(0.5))]}]});
    let bytes = doc.to_string().into_bytes();
    let file = SourceFile { label: "inline", path: None, bytes: &bytes, labels_dir: None };
    let got: Vec<Value> = convert(Format::Tau2, &file).unwrap().into_iter().map(|c| c.record.unwrap()).collect();
    // 40 + 60, 4 + 6, 0.25 + 0.5: the greeting (no usage) and the user simulator left out.
    let t = Trajectory::from_json(got[0].to_string().as_bytes()).unwrap();
    assert_eq!(columns(&t, &got[0]), (Some("gpt-4o"), Some(100), Some(10), Some(0.75)));
    let t = Trajectory::from_json(got[1].to_string().as_bytes()).unwrap();
    assert_eq!(columns(&t, &got[1]), (Some("gpt-4o"), Some(1), Some(1), Some(2.0)));
    let Some(root) = realdata() else { return };
    // python3: the agent's messages have usage None and cost None, but for the greeting's
    // 0.0; agent_cost is None: no cost is known.
    let (t, v) = real(&root, "tau2-bench/airline_run1.json", Format::Tau2, 0);
    assert_eq!(columns(&t, &v), (Some("whissle"), None, None, None));
}

#[test]
fn openhands_accumulated_metrics() {
    let Some(root) = realdata() else { return };
    // python3: r["metrics"]["accumulated_token_usage"] -> prompt_tokens 565158,
    // completion_tokens 2558; accumulated_cost 0.0; metadata.llm_config.model.
    let (t, v) =
        real(&root, "openhands/evaluation/benchmarks/multi_swe_bench/examples/output.jsonl", Format::Openhands, 0);
    assert_eq!(columns(&t, &v), (Some("openai/openrouter-llama-4-maverick"), Some(565158), Some(2558), Some(0.0)));
    // metrics: accumulated_cost 0.070713 and no token usage; no run metadata.
    let (t, v) = real(&root, "openhands/tests/unit/resolver/mock_output/output.jsonl", Format::Openhands, 0);
    assert_eq!(columns(&t, &v), (None, None, None, Some(0.070713)));
    // An event list without llm_metrics counts nothing.
    let (t, v) = real(&root, "openhands/tests/runtime/trajs/basic.json", Format::Openhands, 0);
    assert_eq!(columns(&t, &v), (None, None, None, None));
}

/// The formats whose conventions keep the model and the sums in metadata have them as
/// top-level fields too, equal to metadata's.
#[test]
fn metadata_sums_are_top_level_fields_too() {
    // claude-code's fixture: 970 + 1900 + 900 prompt tokens, 175 output, cost 0.0128
    // (computed in claude_code.rs's test of the same file).
    let got = read("claude_code/older.jsonl", Format::ClaudeCode);
    let (t, v) = ok(&got[0]);
    let (model, input, output, cost) = columns(t, v);
    assert_eq!((model, input, output), (Some("claude-sonnet-4-20250514"), Some(3770), Some(175)));
    assert!((cost.unwrap() - 0.0128).abs() < 1e-9);
    let mut all = files_under(&fixture(""), "");
    if let Some(root) = realdata() {
        for sub in ["claude-code", "codex", "gemini-cli", "opencode", "aider", "verifiers", "harbor"] {
            all.extend(files_under(&root, sub));
        }
    }
    let mut checked = 0;
    for path in all {
        let bytes = std::fs::read(&path).unwrap();
        let Some(format) = trajstore_formats::detect(&bytes) else { continue };
        let file = SourceFile { label: "x", path: Some(&path), bytes: &bytes, labels_dir: None };
        let Ok(records) = convert(format, &file) else { continue };
        for v in records.into_iter().filter_map(|c| c.record.ok()) {
            for key in ["model", "input_tokens", "output_tokens", "cost"] {
                let held = &v["metadata"][key];
                let valid = match key {
                    "model" => held.as_str().is_some_and(|s| !s.trim().is_empty()),
                    "cost" => held.as_f64().is_some_and(|c| c >= 0.0),
                    _ => held.as_i64().is_some_and(|n| n >= 0),
                };
                if valid {
                    checked += 1;
                    // A field the format set itself may differ (openai-chat's top-level model).
                    assert!(v.get(key).is_some(), "{}: {key} only in metadata", path.display());
                }
            }
        }
    }
    assert!(checked > 0);
}
