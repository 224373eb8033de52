//! Prime Intellect `verifiers` evaluation runs (`vf-eval`, the rollouts prime-rl trains on):
//! `outputs/evals/<env>--<model>/<run>/results.jsonl`, one rollout a line, `{example_id (or
//! id), prompt: [messages], completion: [messages], answer, task, info, reward, <one numeric
//! column per reward function or metric>, generation_ms, scoring_ms, total_ms}`, with the
//! run's `metadata.json` beside it (`env_id`/`env`, `model`, sampling, averages).
//!
//! Prompt then completion messages are the steps (their `tool_calls` are JSON-encoded
//! strings, parsed here; tool messages have no `tool_call_id` and are paired with the
//! calls in order); `reward` is the reward, every other numeric column a metric in
//! `metadata.metrics`. `data_id` is the example id, `sample_id` the rollout's index among
//! the rows of the same example, `training_id` `<env>/<run folder>` and `metadata.model`
//! the model from `metadata.json`. `is_success` only where a correctness metric exists.

use std::collections::HashMap;
use std::path::Path;

use serde_json::{Map, Value};

use crate::detect::Shape;
use crate::normalize::{
    any_tool_call, as_id, at_line, chat_message, json_lines, kind, message, object, plain_text, tool_call, Context,
};
use crate::{Converted, FormatError, RecordError};

/// Columns with a meaning of their own; any other numeric column is a reward function's
/// score or a metric.
const KNOWN: [&str; 13] = [
    "id",
    "example_id",
    "prompt",
    "completion",
    "answer",
    "task",
    "info",
    "reward",
    "generation_ms",
    "scoring_ms",
    "total_ms",
    "metrics",
    "token_usage",
];

/// Correctness metrics, in the order looked for: the first present with a value of
/// exactly 0 or 1 decides `is_success` (names of the environments' own reward functions;
/// `reward` itself is a weighted sum, not a label).
const SUCCESS_METRICS: [&str; 9] = [
    "success",
    "correct_answer_reward_func",
    "correct_answer",
    "check_answer_reward_func",
    "exact_match_reward_func",
    "exact_match",
    "judge_reward_func",
    "judge_reward",
    "is_correct",
];

pub fn convert(ctx: &mut Context<'_>, file: &crate::SourceFile<'_>) -> Result<Vec<Converted>, FormatError> {
    let run = Run::beside(file.path);
    let mut seen: HashMap<String, i64> = HashMap::new();
    Ok(json_lines(file.bytes)
        .into_iter()
        .map(|(line, parsed)| at_line(line, parsed.and_then(|row| rollout(ctx, line, &row, &run, &mut seen))))
        .collect())
}

/// True when the start of a file (`bytes`, whose first record's keys are `shape`) is this format.
/// A chat `prompt` and `completion` scored by a `reward`; verl's rows are `input` /
/// `output` / `score` and NeMo Gym's carry `response`, so those keys rule it out. A prefix
/// cut before `reward` still shows verifiers' own `example_id`.
pub(crate) fn detect(shape: &Shape, _bytes: &[u8]) -> bool {
    shape.has("prompt")
        && !shape.any(&["input", "output", "response", "responses_create_params", "messages", "steps"])
        && ((shape.has("completion") && shape.has("reward")) || (!shape.complete && shape.has("example_id")))
}

/// True for a file a directory walk leaves out because this format reads it with another:
/// a run's `metadata.json`, beside its `results.jsonl`.
pub(crate) fn is_companion(path: &Path) -> bool {
    path.file_name().is_some_and(|n| n == "metadata.json")
        && path.parent().is_some_and(|dir| dir.join("results.jsonl").is_file())
}

/// The run a results file belongs to: its `metadata.json` and folder name, when beside it.
struct Run {
    metadata: Option<Map<String, Value>>,
    problem: Option<String>,
    folder: Option<String>,
}

impl Run {
    fn beside(path: Option<&Path>) -> Run {
        let mut run = Run { metadata: None, problem: None, folder: None };
        let Some(dir) = path.and_then(Path::parent) else { return run };
        let meta_path = dir.join("metadata.json");
        let Ok(bytes) = std::fs::read(&meta_path) else { return run };
        match serde_json::from_slice::<Value>(&bytes) {
            Ok(Value::Object(m)) => run.metadata = Some(m),
            Ok(other) => {
                run.problem = Some(format!("{}: expected an object, found {}", meta_path.display(), kind(&other)))
            }
            Err(e) => run.problem = Some(format!("{}: invalid JSON: {e}", meta_path.display())),
        }
        run.folder = dir.file_name().map(|n| n.to_string_lossy().into_owned());
        run
    }

    fn get(&self, key: &str) -> Option<&Value> {
        self.metadata.as_ref().and_then(|m| m.get(key)).filter(|v| !v.is_null())
    }

    /// `<env>/<run folder>`: the environment and the run's own (random) folder name.
    fn training_id(&self) -> Option<String> {
        let env = self.get("env_id").or_else(|| self.get("env")).and_then(as_id)?;
        Some(match &self.folder {
            Some(f) => format!("{env}/{f}"),
            None => env,
        })
    }
}

/// One message; `tool_calls` written as JSON strings are parsed first.
fn step(value: &Value) -> Result<Value, RecordError> {
    let Some(calls) = value.get("tool_calls").and_then(Value::as_array) else {
        return chat_message(value);
    };
    let parsed: Vec<Value> = calls
        .iter()
        .map(|c| match c {
            Value::String(s) => match serde_json::from_str::<Value>(s) {
                Ok(v @ Value::Object(_)) => any_tool_call(&v),
                // Not JSON: kept as the text it was, with no name to guess.
                _ => tool_call(&Value::Null, &Value::Null, c, None, &[]),
            },
            other => any_tool_call(other),
        })
        .collect();
    let mut m = object(value)?.clone();
    m.remove("tool_calls");
    let mut out = chat_message(&Value::Object(m))?;
    if let (Some(o), false) = (out.as_object_mut(), parsed.is_empty()) {
        o.insert("tool_calls".into(), Value::Array(parsed));
    }
    Ok(out)
}

/// `prompt` or `completion`: a list of messages, or the text of a completion-style env.
fn messages(row: &Map<String, Value>, field: &str, role: &str) -> Result<Vec<Value>, RecordError> {
    match row.get(field) {
        Some(Value::Array(items)) => items
            .iter()
            .enumerate()
            .map(|(i, m)| {
                step(m).map_err(|e| RecordError {
                    field: Some(match e.field {
                        Some(f) => format!("{field}[{i}].{f}"),
                        None => format!("{field}[{i}]"),
                    }),
                    message: e.message,
                })
            })
            .collect(),
        Some(Value::String(s)) => Ok(vec![Value::Object(message(role, Value::String(s.clone())))]),
        Some(Value::Null) | None => Ok(Vec::new()),
        Some(other) => Err(RecordError::new(field, format!("expected a list of messages, found {}", kind(other)))),
    }
}

/// The reward functions' scores and metrics: the entries of a `metrics` object when the
/// row has one, and every numeric column that is not a known one.
fn metrics(row: &Map<String, Value>) -> Map<String, Value> {
    let mut out = Map::new();
    if let Some(Value::Object(m)) = row.get("metrics") {
        out.extend(m.iter().filter(|(_, v)| !v.is_null()).map(|(k, v)| (k.clone(), v.clone())));
    }
    for (k, v) in row {
        if v.is_number() && !KNOWN.contains(&k.as_str()) {
            out.insert(k.clone(), v.clone());
        }
    }
    out
}

/// `is_success` from the first correctness metric whose value is exactly 0 or 1.
fn success(metrics: &Map<String, Value>) -> Option<(&'static str, bool)> {
    SUCCESS_METRICS.iter().find_map(|name| {
        let v = metrics.get(*name)?.as_f64()?;
        (v == 0.0 || v == 1.0).then_some((*name, v == 1.0))
    })
}

fn rollout(
    ctx: &mut Context<'_>,
    line: u64,
    row: &Value,
    run: &Run,
    seen: &mut HashMap<String, i64>,
) -> Result<Value, RecordError> {
    let obj = object(row)?;
    if !obj.contains_key("prompt") && !obj.contains_key("completion") {
        return Err(RecordError::whole("not a verifiers rollout: neither `prompt` nor `completion`"));
    }
    let example = obj.get("example_id").or_else(|| obj.get("id")).and_then(as_id);
    // Rows of one example repeat its id, one per rollout; their order numbers them (a
    // broken row counts too, so that the others keep their numbers).
    let sample = example.as_ref().map(|e| {
        let n = seen.entry(e.clone()).or_insert(0);
        *n += 1;
        *n - 1
    });
    let prompt = messages(obj, "prompt", "user")?;
    let completion = messages(obj, "completion", "assistant")?;
    let parts = match (&example, sample) {
        (Some(e), Some(s)) => vec![e.clone(), s.to_string()],
        _ => vec![format!("line{line}")],
    };
    let mut b = ctx.new_record(&parts);
    if let Some(e) = &example {
        b.set("data_id", Value::String(e.clone()));
    }
    if let Some(s) = sample {
        b.set("sample_id", Value::from(s));
    }
    if let Some(t) = run.training_id() {
        b.set("training_id", Value::String(t));
    }
    // The question is the last user turn of the prompt (earlier ones may be few-shot examples).
    if let Some(q) = prompt.iter().rev().find(|s| s["role"] == "user") {
        b.question(&Value::String(plain_text(&q["content"])));
    }
    b.task("answer", obj.get("answer").cloned().unwrap_or(Value::Null));
    if let Some(r) = obj.get("reward").filter(|r| !r.is_null()) {
        b.set_number("reward", r);
    }
    let scores = metrics(obj);
    if let Some((name, ok)) = success(&scores) {
        b.set_bool("is_success", Some(ok));
        b.meta("success_metric", Value::from(name));
    }
    if !scores.is_empty() {
        b.meta("metrics", Value::Object(scores));
    }
    if let Some(ms) = obj.get("total_ms").and_then(Value::as_f64).filter(|f| f.is_finite() && *f >= 0.0) {
        b.set_number("exec_time", &Value::from(ms / 1000.0));
    }
    usage(&mut b, obj);
    run_metadata(&mut b, run);
    b.meta("prompt_steps", Value::from(prompt.len()));
    // Everything else (`task`, `info`, timings, env-specific columns) is kept as it is;
    // the numeric columns are in `metrics` already.
    for (k, v) in obj {
        let mapped = matches!(k.as_str(), "id" | "example_id" | "prompt" | "completion" | "answer" | "reward")
            || matches!(k.as_str(), "total_ms" | "metrics")
            || (matches!(k.as_str(), "token_usage" | "usage") && v.is_object());
        let metric = v.is_number() && !KNOWN.contains(&k.as_str());
        if !mapped && !metric {
            b.keep(k, v);
        }
    }
    let mut steps: Vec<Value> = prompt.into_iter().chain(completion).collect();
    pair_results(&mut steps);
    b.steps(steps);
    Ok(b.finish())
}

/// verifiers drops `tool_call_id` from tool messages: each answers the next unanswered
/// call of the assistant message before it, in order (as the environment ran them).
fn pair_results(steps: &mut [Value]) {
    let mut pending: std::collections::VecDeque<(Option<Value>, Option<Value>)> = Default::default();
    for step in steps.iter_mut() {
        let Some(s) = step.as_object_mut() else { continue };
        match s.get("role").and_then(Value::as_str) {
            Some("assistant") => {
                pending = s
                    .get("tool_calls")
                    .and_then(Value::as_array)
                    .map(|calls| calls.iter().map(|c| (c.get("id").cloned(), c.get("name").cloned())).collect())
                    .unwrap_or_default();
            }
            Some("tool") if !s.contains_key("tool_call_id") => {
                let Some((id, name)) = pending.pop_front() else { continue };
                if let Some(id) = id {
                    s.insert("tool_call_id".into(), id);
                }
                if let Some(name) = name.filter(|n| n.as_str().is_some_and(|n| !n.is_empty())) {
                    s.entry("name").or_insert(name);
                }
            }
            Some("tool") => {
                let id = s.get("tool_call_id").cloned();
                pending.retain(|(p, _)| *p != id);
            }
            _ => pending.clear(),
        }
    }
}

/// Token counts, when a newer `verifiers` writes them (`token_usage` per row).
fn usage(b: &mut crate::normalize::Builder, row: &Map<String, Value>) {
    let Some((key, u)) =
        ["token_usage", "usage"].iter().find_map(|k| Some((*k, row.get(*k).and_then(Value::as_object)?)))
    else {
        return;
    };
    let n = |keys: &[&str]| keys.iter().find_map(|k| u.get(*k)).and_then(Value::as_i64);
    b.meta("input_tokens", n(&["input_tokens", "prompt_tokens"]).map(Value::from).unwrap_or(Value::Null));
    b.meta("output_tokens", n(&["output_tokens", "completion_tokens"]).map(Value::from).unwrap_or(Value::Null));
    b.meta(key, Value::Object(u.clone()));
}

/// The model, environment and the rest of the run's `metadata.json`.
fn run_metadata(b: &mut crate::normalize::Builder, run: &Run) {
    if let Some(model) = run.get("model") {
        b.meta("model", model.clone());
    }
    if let Some(env) = run.get("env_id").or_else(|| run.get("env")) {
        b.meta("env_id", env.clone());
    }
    // vf-eval writes a local time without a zone (older versions only).
    if let Some(date) = run.get("date") {
        b.created_at(date);
    }
    if let Some(m) = &run.metadata {
        b.meta("run", Value::Object(m.clone()));
    }
    if let Some(folder) = run.folder.as_ref().filter(|_| run.metadata.is_some()) {
        b.meta("run_id", Value::String(folder.clone()));
    }
    if let Some(p) = &run.problem {
        b.meta("run_metadata_error", Value::String(p.clone()));
    }
}
