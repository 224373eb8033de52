//! Each format's mapping, on a small hand-written file of its own (tests/fixtures/).

use serde_json::{json, Value};

use crate::common::{fixture, ok, read};
use trajstore_formats::{convert, native_to_atif, Format, SourceFile};
use trajstore_model::Trajectory;

#[test]
fn tau_bench() {
    let got = read("tau_bench.json", Format::TauBench);
    assert_eq!(got.len(), 3);
    let (t, v) = ok(&got[0]);
    assert!(t.trajectory_id.starts_with("tau-bench:") && t.trajectory_id.ends_with(":3:0"));
    assert_eq!(
        (t.data_id.as_deref(), t.sample_id, t.reward, t.is_success),
        (Some("3"), Some(0), Some(1.0), Some(true))
    );
    assert_eq!(t.question.as_deref(), Some("You are Ana. Cancel reservation XK21."));
    assert_eq!(t.step_count, 5);
    assert_eq!(
        v["steps"][2]["tool_calls"][0],
        json!({"id": "call_1", "name": "cancel_reservation", "arguments": {"reservation_id": "XK21"}})
    );
    assert_eq!(v["steps"][3]["tool_call_id"], "call_1");
    assert_eq!(v["task"]["user_id"], "ana_ruiz_1");
    assert_eq!(v["metadata"]["user_cost"], 0.0021);
    let (t, v) = ok(&got[1]);
    assert_eq!(t.is_success, Some(false));
    // Arguments that are not valid JSON stay the string the model wrote.
    assert_eq!(v["steps"][1]["tool_calls"][0]["arguments"], "{\"reservation_id\": XK21");
    assert!(got[2].is_err());
}

#[test]
fn tau2() {
    let got = read("tau2.json", Format::Tau2);
    let (t, v) = ok(&got[0]);
    assert!(t.trajectory_id.ends_with(":sim-a"));
    assert_eq!(
        (t.data_id.as_deref(), t.sample_id, t.reward, t.is_success),
        (Some("7"), Some(2), Some(1.0), Some(true))
    );
    assert_eq!(
        (t.termination_reason.as_deref(), t.exec_time, t.agent_name.as_deref()),
        (Some("user_stop"), Some(12.5), Some("llm_agent"))
    );
    assert_eq!(t.question.as_deref(), Some("Cancel EHG.\n\nYou are Emma.\n\nInsist once."));
    assert!(t.created_at.is_some());
    assert_eq!(
        v["steps"][2]["tool_calls"][0],
        json!({"id": "g0", "name": "get_reservation", "arguments": {"reservation_id": "EHG"}, "requestor": "assistant"})
    );
    assert_eq!(v["steps"][3]["tool_call_id"], "g0");
    assert_eq!(v["steps"][0].get("cost"), None);
    assert_eq!((v["metadata"]["model"].as_str(), v["metadata"]["seed"].as_i64()), (Some("gpt-4.1"), Some(11)));
}

#[test]
fn intercode() {
    let got = read("intercode.json", Format::Intercode);
    let (t, v) = ok(&got[0]);
    assert_eq!((t.data_id.as_deref(), t.reward, t.step_count), (Some("nl2bash_fs_1:0"), Some(1.0), 5));
    assert_eq!(t.question.as_deref(), Some("Count the .java files under /testbed"));
    assert_eq!(
        v["steps"][1],
        json!({"role": "assistant", "content": "find /testbed -name '*.java' | wc -l", "reward": 0.5, "valid_action": true})
    );
    assert_eq!(v["steps"][2], json!({"role": "tool", "name": "bash", "content": "3"}));
    assert_eq!(v["metadata"]["summary"]["turns_taken"], 2);
    assert!(got[1].as_ref().unwrap_err().contains("turn_history"));
    let human = read("intercode_human.json", Format::Intercode);
    let (t, v) = ok(&human[0]);
    assert_eq!((t.reward, t.step_count, t.data_id.as_deref()), (Some(1.0), 5, Some("ic_sql:809")));
    assert_eq!(v["task"]["gold"], "SELECT Language FROM countrylanguage");
}

#[test]
fn responses() {
    let got = read("responses.jsonl", Format::Responses);
    assert_eq!(got.len(), 4);
    assert!(got[0].as_ref().unwrap_err().contains("invalid JSON"));
    let (t, v) = ok(&got[1]);
    assert!(t.trajectory_id.ends_with(":4:1"));
    assert_eq!(
        (t.data_id.as_deref(), t.sample_id, t.reward, t.agent_name.as_deref()),
        (Some("4"), Some(1), Some(1.0), Some("calc_agent"))
    );
    assert_eq!(
        (t.question.as_deref(), t.termination_reason.as_deref(), t.step_count),
        (Some("What is 6*7?"), Some("completed"), 6)
    );
    assert_eq!(v["steps"][2]["reasoning_content"], "Multiply.");
    assert_eq!(v["steps"][3]["tool_calls"][0], json!({"id": "call_a", "name": "calc", "arguments": {"expr": "6*7"}}));
    assert_eq!(v["steps"][4], json!({"role": "tool", "tool_call_id": "call_a", "content": "42"}));
    assert_eq!(
        (v["metadata"]["model"].as_str(), v["metadata"]["extracted_answer"].as_str()),
        (Some("qwen3-8b"), Some("42"))
    );
    assert!(got[2].as_ref().unwrap_err().contains("not a Responses API rollout"));
    let (t, v) = ok(&got[3]);
    assert_eq!((t.termination_reason.as_deref(), t.reward), (Some("max_output_tokens"), Some(0.0)));
    assert_eq!(v["steps"][1]["tool_calls"][0]["arguments"], "{not json");
}

#[test]
fn mini_swe_agent_with_labels_beside_and_given() {
    let got = read("mini/trajs/django__django-1.traj.json", Format::MiniSweAgent);
    let (t, v) = ok(&got[0]);
    assert_eq!(
        (t.data_id.as_deref(), t.is_success, t.reward, t.step_count),
        (Some("django__django-1"), Some(true), Some(1.0), 4)
    );
    assert_eq!((t.termination_reason.as_deref(), t.agent_name.as_deref()), (Some("Submitted"), Some("mini-swe-agent")));
    assert_eq!(v["metadata"]["model"], "openrouter/google/gemini-3-pro-preview");
    assert_eq!(v["steps"][2]["extra"]["response"]["id"], "gen-1");
    // The report's tests become verifier_tests (with their group); the diff submitted is the patch.
    assert_eq!(v["metadata"]["verifier_tests"], json!([{"name": "t1", "status": "passed", "group": "FAIL_TO_PASS"}]));
    assert_eq!(v["metadata"]["report"], json!({"patch_exists": true, "resolved": true}));
    assert_eq!(v["metadata"]["patch"], "diff --git a/x b/x");
    assert!(v["metadata"].get("submission").is_none());
    // Elsewhere, without labels: no success label; with --labels: found there.
    let dir = tempfile::tempdir().unwrap();
    let moved = dir.path().join("x.traj.json");
    std::fs::copy(fixture("mini/trajs/django__django-1.traj.json"), &moved).unwrap();
    let bytes = std::fs::read(&moved).unwrap();
    for (labels, expected) in [(None, None), (Some(fixture("mini/logs")), Some(true))] {
        let file = SourceFile { label: "x", path: Some(&moved), bytes: &bytes, labels_dir: labels.as_deref() };
        let v = convert(Format::MiniSweAgent, &file).unwrap().remove(0).record.unwrap();
        assert_eq!(v.get("is_success").and_then(Value::as_bool), expected);
    }
}

#[test]
fn swe_agent() {
    let got = read("swe_agent.traj", Format::SweAgent);
    let (t, v) = ok(&got[0]);
    assert_eq!(
        (t.data_id.as_deref(), t.termination_reason.as_deref(), t.exec_time, t.step_count),
        (Some("repo-i1"), Some("submitted"), Some(1.75), 4)
    );
    assert_eq!(
        v["steps"][2]["tool_calls"][0],
        json!({"id": "call_f", "name": "find_file", "arguments": {"file_name": "x.py"}})
    );
    assert_eq!(v["steps"][3]["tool_call_id"], "call_f");
    assert_eq!(v["metadata"]["trajectory"][0], json!({"execution_time": 0.5, "state": "{\"open_file\": \"n/a\"}"}));
    assert_eq!(v["metadata"]["model"], "gpt-4o");
    // "diff" alone is no unified diff: it stays the submission, no patch is made up.
    assert_eq!((v["metadata"].get("patch"), &v["metadata"]["submission"]), (None, &json!("diff")));
}

#[test]
fn inspect_json_and_eval() {
    let got = read("inspect.json", Format::Inspect);
    let (t, v) = ok(&got[0]);
    assert!(t.trajectory_id.ends_with(":1:1"));
    assert_eq!(
        (t.data_id.as_deref(), t.reward, t.is_success, t.exec_time),
        (Some("popularity:1"), Some(1.0), Some(true), Some(0.66))
    );
    assert_eq!((t.termination_reason.as_deref(), t.sample_id), (Some("stop"), Some(1)));
    assert_eq!(v["metadata"]["scores"]["match"]["value"], "C");
    let (t, v) = ok(&got[1]);
    assert_eq!(
        (t.reward, t.is_success, t.termination_reason.as_deref(), t.sample_id),
        (Some(0.0), Some(false), Some("error"), Some(2))
    );
    assert_eq!(t.question.as_deref(), Some("Compute 2+2 with the tool"));
    assert_eq!(v["steps"][1]["tool_calls"][0], json!({"id": "t1", "name": "add", "arguments": {"a": 2, "b": 2}}));
    assert_eq!(v["steps"][2]["tool_call_id"], "t1");
    let (t, _) = ok(&got[2]);
    assert_eq!((t.reward, t.is_success, t.termination_reason.as_deref()), (Some(0.25), None, Some("limit:token")));

    let eval = read("inspect.eval", Format::Inspect);
    assert_eq!(eval.len(), 2);
    let (t, v) = ok(&eval[0]);
    assert_eq!((t.data_id.as_deref(), t.is_success, t.exec_time), (Some("mmlu:1"), Some(true), Some(1.5)));
    assert_eq!(v["task"]["choices"], json!(["A", "B"]));
    assert_eq!(ok(&eval[1]).0.is_success, Some(false));
}

#[test]
fn openhands_rows_pairs_and_event_lists() {
    let got = read("openhands.jsonl", Format::Openhands);
    let (t, v) = ok(&got[0]);
    assert_eq!(
        (t.data_id.as_deref(), t.agent_name.as_deref(), t.question.as_deref()),
        (Some("pony-1"), Some("CodeActAgent"), Some("Fix the segfault"))
    );
    assert_eq!((t.is_success, t.termination_reason.as_deref(), t.step_count), (None, Some("finish"), 5));
    assert_eq!(v["steps"][0]["role"], "system");
    assert_eq!(v["steps"][2]["content"], "Look first");
    assert_eq!(
        v["steps"][2]["tool_calls"][0],
        json!({"id": "toolu_01", "name": "execute_bash", "arguments": {"command": "ls"}})
    );
    assert_eq!(
        (v["steps"][3]["role"].as_str(), v["steps"][3]["tool_call_id"].as_str()),
        (Some("tool"), Some("toolu_01"))
    );
    assert_eq!(v["metadata"]["model"], "llama-4");
    let (t, v) = ok(&got[1]);
    assert_eq!(
        (t.data_id.as_deref(), t.is_success, t.reward, t.termination_reason.as_deref()),
        (Some("12"), Some(false), Some(0.0), Some("error"))
    );
    // The "null" observation acknowledging a message says nothing and is dropped.
    assert_eq!(t.step_count, 3);
    assert_eq!(v["steps"][2]["tool_call_id"], "event-2");
    let events = read("openhands_events.json", Format::Openhands);
    let (t, _) = ok(&events[0]);
    assert_eq!((t.step_count, t.question.as_deref()), (3, Some("Create a game")));
}

#[test]
fn verl() {
    let got = read("verl.jsonl", Format::Verl);
    let (a, v) = ok(&got[0]);
    let (b, _) = ok(&got[1]);
    assert_eq!((a.iteration_id, a.reward, a.is_success, a.step_count), (Some(5), Some(1.0), Some(true), 2));
    assert_eq!((b.reward, b.is_success), (Some(0.0), Some(false)));
    // The responses to one prompt share a data_id.
    assert_eq!(a.data_id, b.data_id);
    assert_ne!(a.trajectory_id, b.trajectory_id);
    assert_eq!((v["task"]["ground_truth"].as_str(), v["metadata"]["pred"].as_str()), (Some("2"), Some("2")));
    assert!(got[2].is_err());
}

#[test]
fn openai_chat() {
    let got = read("openai_chat.jsonl", Format::OpenaiChat);
    let (t, v) = ok(&got[0]);
    assert!(t.trajectory_id.ends_with(":conv-1"));
    assert_eq!(
        (t.reward, t.data_id.as_deref(), t.epoch_id, t.question.as_deref()),
        (Some(0.5), Some("d1"), Some(2), Some("hi"))
    );
    assert_eq!(v["steps"][1]["tool_calls"][0]["arguments"], json!({"who": "you"}));
    assert_eq!(v["metadata"]["model"], "m1");
    assert!(got[1].as_ref().unwrap_err().contains("messages"));
}

#[test]
fn openai_chat_keeps_its_own_ids_and_every_value_it_cannot_map() {
    let line = json!({"messages": [{"role": "user", "content": "hi"}], "trajectory_id": "keep", "step_count": 7, "is_success": "yes",
        "metadata": {"model": "B", "reward": 1, "data_id": "m", "data_id (top level)": "taken"}, "model": "A", "task": 5,
        "data_id": [1], "reward": "high"});
    let bytes =
        format!("{line}\n{}\n", json!({"messages": [{"role": "user", "content": "x"}], "metadata": "m-string"}));
    let file = SourceFile { label: "chat.jsonl", path: None, bytes: bytes.as_bytes(), labels_dir: None };
    let got: Vec<Value> = convert(Format::OpenaiChat, &file).unwrap().into_iter().map(|c| c.record.unwrap()).collect();
    let (first, second) = (&got[0], &got[1]);
    assert_eq!(first["trajectory_id"], "keep");
    let meta = &first["metadata"];
    assert_eq!((&meta["model"], &meta["model (top level)"]), (&json!("B"), &json!("A")), "{meta}");
    for (k, v) in [("step_count", json!(7)), ("is_success", json!("yes")), ("task", json!(5))] {
        assert_eq!(meta[k], v, "{k}: {meta}");
    }
    // A rejected value whose name the record's own metadata holds sits beside it.
    assert_eq!((&meta["reward"], &meta["reward (top level)"]), (&json!(1), &json!("high")), "{meta}");
    assert_eq!(
        (&meta["data_id"], &meta["data_id (top level)"], &meta["data_id (top level 2)"]),
        (&json!("m"), &json!("taken"), &json!([1])),
        "{meta}"
    );
    // A task that is not an object or a string leaves the question to the first user message.
    assert_eq!(first["task"]["question"], "hi");
    assert_eq!(second["metadata"]["metadata"], "m-string");
    // Both still read as native records.
    for v in &got {
        Trajectory::from_json(v.to_string().as_bytes()).unwrap();
    }
}

#[test]
fn atif_in_and_native_round_trip() {
    let got = read("atif.json", Format::Atif);
    let (t, v) = ok(&got[0]);
    assert!(t.trajectory_id.ends_with(":sess-9"));
    assert_eq!(
        (t.agent_name.as_deref(), t.notes.as_deref(), t.step_count),
        (Some("claude-code"), Some("converted by hand"), 4)
    );
    assert_eq!(v["steps"][1]["tool_calls"][0], json!({"id": "c1", "name": "bash", "arguments": {"cmd": "ls"}}));
    assert_eq!(v["steps"][1]["reasoning_content"], "ls is enough");
    assert_eq!(v["steps"][2], json!({"role": "tool", "tool_call_id": "c1", "content": "a.txt"}));
    assert_eq!(v["metadata"]["model"], "claude-sonnet");

    // A native trajectory written as ATIF and read back is the same trajectory.
    let native = ok(&read("tau_bench.json", Format::TauBench)[0]).0.clone();
    let doc = native_to_atif(&native).unwrap();
    assert_eq!(doc["schema_version"], "ATIF-v1.8");
    assert_eq!(doc["steps"][2]["tool_calls"][0]["function_name"], "cancel_reservation");
    assert_eq!(doc["steps"][2]["observation"]["results"][0]["source_call_id"], "call_1");
    let bytes = doc.to_string();
    let file = SourceFile { label: "back.json", path: None, bytes: bytes.as_bytes(), labels_dir: None };
    let back = convert(Format::Atif, &file).unwrap().remove(0).record.unwrap();
    let back = Trajectory::from_json(back.to_string().as_bytes()).unwrap();
    assert_eq!(back, native);
    // Tool calls without ids, with extra keys, with string arguments, null content, and a
    // text block with more than its text.
    let odd = Trajectory::from_json(br#"{"trajectory_id":"t","reward":0.5,"steps":[{"role":"tool","content":"early"},{"role":"user","content":[{"type":"text","text":"go","cache_control":{"type":"ephemeral"}}]},{"role":"tool","content":"a"},{"role":"tool","content":"b"},{"role":"assistant","content":null,"tool_calls":[{"name":"run","arguments":"ls -l","view":{"k":1}}]},{"role":"tool","content":[{"type":"image","url":"u"}],"name":"run"}]}"#).unwrap();
    let bytes = native_to_atif(&odd).unwrap().to_string();
    let file = SourceFile { label: "odd.json", path: None, bytes: bytes.as_bytes(), labels_dir: None };
    let back = convert(Format::Atif, &file).unwrap().remove(0).record.unwrap();
    let as_value = |t: &Trajectory| serde_json::from_str::<Value>(&t.to_json()).unwrap();
    assert_eq!(as_value(&Trajectory::from_json(back.to_string().as_bytes()).unwrap()), as_value(&odd));
}
