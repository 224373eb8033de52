//! One Harbor trial (`<task>__<rand>/result.json` and the folder around it) as one
//! native trajectory: the ids, the label and the figures from result.json, the steps from
//! `agent/` ([`super::agent`]), the tests from `verifier/ctrf.json`.

use std::path::Path;

use serde_json::{Map, Value};
use trajstore_model::parse_timestamp;

use super::agent;
use crate::normalize::{as_id, object, plain_text, Context};
use crate::{Format, RecordError, SourceFile};

/// The keys of result.json this module maps; the others are kept in metadata as they are.
const MAPPED: &[&str] = &[
    "id",
    "task_name",
    "trial_name",
    "source",
    "agent_info",
    "agent_result",
    "verifier_result",
    "exception_info",
    "started_at",
];

/// The trajectory of the trial whose result.json is `file` (parsed as `doc`), followed by
/// the subagent trajectories its steps refer to (see [`agent::Agent`]).
pub(super) fn records(file: &SourceFile<'_>, doc: &Value) -> Result<Vec<Value>, RecordError> {
    let obj = object(doc)?;
    let trial_name = obj
        .get("trial_name")
        .and_then(as_id)
        .ok_or_else(|| RecordError::new("trial_name", "missing or not a string"))?;
    let task = obj.get("task_name").and_then(as_id).ok_or_else(|| RecordError::new("task_name", "missing"))?;
    // The trial's own file names it in ids, whichever file the import started from.
    let mut ctx = Context::new(Format::Harbor, file);
    let trial_dir = file.path.and_then(Path::parent);
    let mut b = ctx.new_record(std::slice::from_ref(&trial_name));
    b.set("data_id", Value::String(task.clone()));
    let agent_info = obj.get("agent_info");
    let agent_name =
        agent_info.and_then(|a| a.get("name")).or_else(|| doc.pointer("/config/agent/name")).and_then(as_id);
    b.set("agent_name", agent_name.clone().map(Value::String).unwrap_or(Value::Null));
    let job = job_name(doc);
    b.set("training_id", job.clone().map(Value::String).unwrap_or(Value::Null));
    if let Some(n) = file.path.and_then(|p| attempt(p, doc)) {
        b.set("sample_id", Value::from(n));
    }
    b.created_at(obj.get("started_at").unwrap_or(&Value::Null));
    label(&mut b, doc);
    figures(&mut b, doc);
    if let Some(e) = obj.get("exception_info").filter(|e| !e.is_null()) {
        b.set_id("termination_reason", e.get("exception_type").unwrap_or(&Value::Null));
        b.meta("exception", e.clone());
    }
    b.meta("trial_name", Value::String(trial_name.clone()));
    b.meta("trial_id", obj.get("id").cloned().unwrap_or(Value::Null));
    b.meta("dataset", obj.get("source").cloned().unwrap_or(Value::Null));
    if let Some(dir) = trial_dir {
        verifier(&mut b, dir);
    }
    b.meta_rest(obj, MAPPED);
    let got = trial_dir.map(|d| agent::read(&mut ctx, d)).unwrap_or_default();
    if let Some(first_user) = got.steps.iter().find(|s| s["role"] == "user") {
        b.question(&Value::String(plain_text(&first_user["content"])));
    }
    for (k, v) in &got.meta {
        b.meta(k, v.clone());
    }
    // The agent's own totals when result.json has none (an older Harbor, a crash).
    for (key, value) in &got.totals {
        if obj.get("agent_result").is_none_or(|r| r.get(source_key(key)).is_none_or(Value::is_null)) {
            b.meta(key, value.clone());
        }
    }
    b.steps(got.steps);
    let mut out = vec![b.finish()];
    let parent = out[0]["trajectory_id"].clone();
    for (session, mut sub) in got.subagents {
        let id = ctx.id(&[trial_name.clone(), session]);
        sub["trajectory_id"] = Value::String(id);
        sub["data_id"] = Value::String(task.clone());
        if let Some(j) = &job {
            sub["training_id"] = Value::String(j.clone());
        }
        sub["metadata"]["subagent_of"] = parent.clone();
        out.push(sub);
    }
    Ok(out)
}

/// The job: its folder's name (`trials_dir` ends with it), else the job's id.
fn job_name(obj: &Value) -> Option<String> {
    let dir = obj.pointer("/config/trials_dir").and_then(Value::as_str).unwrap_or("");
    let name = dir.trim_end_matches(['/', '\\']).rsplit(['/', '\\']).next().filter(|n| !n.is_empty());
    name.map(str::to_string).or_else(|| obj.pointer("/config/job_id").and_then(as_id))
}

/// The reward (`rewards.reward`, else the only reward there is) and success (reward 1,
/// as Harbor's tasks score a solved task).
fn label(b: &mut crate::normalize::Builder, obj: &Value) {
    let Some(rewards) = obj.pointer("/verifier_result/rewards").and_then(Value::as_object) else { return };
    let reward = rewards.get("reward").or_else(|| (rewards.len() == 1).then(|| rewards.values().next()).flatten());
    if let Some(r) = reward {
        b.set_number("reward", r);
        b.set_bool("is_success", r.as_f64().map(|r| r >= 1.0));
    }
    b.meta("rewards", Value::Object(rewards.clone()));
}

/// The name in `agent_result` of a token or cost figure of the conventions.
fn source_key(key: &str) -> &'static str {
    match key {
        "input_tokens" => "n_input_tokens",
        "output_tokens" => "n_output_tokens",
        "cache_read_tokens" => "n_cache_tokens",
        _ => "cost_usd",
    }
}

/// Tokens, cost, model and timings: the agent's figures from result.json.
fn figures(b: &mut crate::normalize::Builder, obj: &Value) {
    if let Some(r) = obj.get("agent_result").and_then(Value::as_object) {
        for key in ["input_tokens", "output_tokens", "cache_read_tokens", "cost"] {
            b.meta(key, r.get(source_key(key)).cloned().unwrap_or(Value::Null));
        }
        let rest: Map<String, Value> = r
            .iter()
            .filter(|(k, v)| {
                !v.is_null()
                    && !matches!(k.as_str(), "n_input_tokens" | "n_output_tokens" | "n_cache_tokens" | "cost_usd")
            })
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        if !rest.is_empty() {
            b.meta("agent_result", Value::Object(rest));
        }
    }
    if let Some(info) = obj.get("agent_info").and_then(Value::as_object) {
        let model = info.get("model_info").and_then(|m| m.get("name")).cloned();
        b.meta("model", model.or_else(|| obj.pointer("/config/agent/model_name").cloned()).unwrap_or(Value::Null));
        b.meta(
            "model_provider",
            info.get("model_info").and_then(|m| m.get("provider")).cloned().unwrap_or(Value::Null),
        );
        b.meta("agent_version", info.get("version").cloned().unwrap_or(Value::Null));
    }
    if let Some(t) = seconds(obj.get("agent_execution")) {
        b.set("exec_time", Value::from(t));
    }
    if let Some(t) = seconds(Some(obj)) {
        b.meta("trial_time", Value::from(t));
    }
}

/// The seconds between a phase's `started_at` and `finished_at`.
fn seconds(phase: Option<&Value>) -> Option<f64> {
    let at = |k: &str| phase?.get(k)?.as_str().and_then(parse_timestamp);
    let (start, end) = (at("started_at")?, at("finished_at")?);
    (end >= start).then(|| (end - start) as f64 / 1e6)
}

/// `verifier/ctrf.json` as `verifier_tests` (and its summary); a report that cannot be
/// read is said in metadata rather than failing the trial.
fn verifier(b: &mut crate::normalize::Builder, trial_dir: &Path) {
    let path = trial_dir.join("verifier").join("ctrf.json");
    let Ok(bytes) = std::fs::read(&path) else { return };
    match serde_json::from_slice::<Value>(&bytes) {
        Ok(report) => match crate::verifier::ctrf_tests(&report) {
            Some(tests) => {
                b.meta("verifier_tests", Value::Array(tests));
                b.meta("verifier_summary", report.pointer("/results/summary").cloned().unwrap_or(Value::Null));
                b.meta("verifier_tool", report.pointer("/results/tool").cloned().unwrap_or(Value::Null));
            }
            None => {
                b.meta("verifier_error", Value::String("verifier/ctrf.json has no results.tests list".into()));
            }
        },
        Err(e) => {
            b.meta("verifier_error", Value::String(format!("verifier/ctrf.json: invalid JSON: {e}")));
        }
    }
}

/// The trial's attempt: its rank, by start time, among the trials of the same task and
/// agent in its job folder (Harbor names trials `<task>__<random>`, with no number).
fn attempt(result_path: &Path, doc: &Value) -> Option<i64> {
    let trial_dir = result_path.parent()?;
    let job_dir = trial_dir.parent()?;
    let name = doc.get("trial_name")?.as_str()?;
    let prefix = format!("{}__", name.rsplit_once("__")?.0);
    let key = |d: &Value| (d.get("task_name").cloned(), d.pointer("/config/agent").cloned());
    let mine = key(doc);
    let mut peers: Vec<(String, String)> = Vec::new();
    for entry in std::fs::read_dir(job_dir).ok()?.flatten() {
        if !entry.file_name().to_string_lossy().starts_with(&prefix) {
            continue;
        }
        let Ok(bytes) = std::fs::read(entry.path().join("result.json")) else { continue };
        let Ok(d) = serde_json::from_slice::<Value>(&bytes) else { continue };
        if key(&d) == mine {
            let started = d.get("started_at").and_then(Value::as_str).unwrap_or("").to_string();
            peers.push((started, d.get("trial_name").and_then(as_id).unwrap_or_default()));
        }
    }
    peers.sort();
    peers.iter().position(|(_, n)| n == name).map(|i| i as i64)
}
