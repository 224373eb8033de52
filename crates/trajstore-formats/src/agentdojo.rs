//! AgentDojo (prompt-injection benchmark) run logs, one run a file, as its `TraceLogger`
//! writes them to `runs/<pipeline>/<suite>/<user_task>/<attack>/<injection_task>.json`
//! (`none/none.json` for the run without an attack): `{suite_name, pipeline_name,
//! user_task_id, injection_task_id, attack_type, injections, messages, error, utility,
//! security, duration, evaluation_timestamp?, agentdojo_package_version?,
//! benchmark_version?}`. A list of such runs, or one a line, is read too.
//!
//! Messages: `{role, content}`; assistants add `tool_calls: [{function, args, id?,
//! placeholder_args?}]`; tool results add `tool_call` (the call they answer), `tool_call_id`
//! (null before AgentDojo gave calls ids) and `error`. `content` is a string (older
//! versions) or a list of blocks `{type: text|thinking|redacted_thinking, content}`.
//!
//! Mapping: `data_id` = `<suite>/<user_task>`, `agent_name` = `pipeline_name` (the model,
//! with `-<defense>` appended when the run had one: `metadata.model` and
//! `metadata.defense`), `is_success` = `utility` (reward 1 or 0), `exec_time` = `duration`,
//! `created_at` = `evaluation_timestamp`; `security` (true when the injection task's goal
//! was reached), the attack, the injection task and the injections go to metadata. Calls
//! without an id get `call_<n>`, and each result is paired with the earliest unanswered
//! call it names (by function and arguments), so every result carries its call's id.

use serde_json::{Map, Value};
use trajstore_model::parse_timestamp;

use crate::detect::Shape;
use crate::normalize::{
    any_tool_call, as_id, at_index, at_line, json_lines, kind, message, object, observation, plain_text, tool_call,
    Context,
};
use crate::{Converted, FormatError, RecordError};

/// The defenses AgentDojo's `AgentPipeline.from_config` appends to the model's name
/// (`pipeline.name = f"{llm_name}-{defense}"`).
const DEFENSES: [&str; 4] =
    ["tool_filter", "transformers_pi_detector", "spotlighting_with_delimiting", "repeat_user_prompt"];

/// The run-level keys mapped to native fields or to named metadata keys; the others are
/// copied to metadata as they are.
const MAPPED: [&str; 11] = [
    "suite_name",
    "pipeline_name",
    "user_task_id",
    "injection_task_id",
    "attack_type",
    "messages",
    "error",
    "utility",
    "security",
    "duration",
    "injections",
];

pub fn convert(ctx: &mut Context<'_>, file: &crate::SourceFile<'_>) -> Result<Vec<Converted>, FormatError> {
    let bytes = file.bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(file.bytes);
    if let Ok(doc) = serde_json::from_slice::<Value>(bytes) {
        return Ok(match doc {
            Value::Array(items) => items.iter().enumerate().map(|(i, r)| at_index(i, run(ctx, r))).collect(),
            one => vec![at_index(0, run(ctx, &one))],
        });
    }
    let lines = json_lines(bytes);
    if lines.is_empty() {
        return Err(ctx.invalid("empty file"));
    }
    Ok(lines.into_iter().map(|(line, r)| at_line(line, r.and_then(|r| run(ctx, &r)))).collect())
}

/// True when the start of a file (`bytes`, whose first record's keys are `shape`) is this format.
/// `suite_name` and `user_task_id` are AgentDojo's own; `messages` is required unless the
/// prefix was cut before it (it follows `injections`, which may be long).
pub(crate) fn detect(shape: &Shape, _bytes: &[u8]) -> bool {
    shape.has("suite_name") && shape.has("user_task_id") && (shape.has("messages") || !shape.complete)
}

/// True for a file a directory walk leaves out because this format reads it with another.
#[allow(dead_code)]
pub(crate) fn is_companion(_path: &std::path::Path) -> bool {
    false
}

/// A string field, or an error naming it when it holds something else.
fn text_field<'v>(obj: &'v Map<String, Value>, key: &str) -> Result<Option<&'v str>, RecordError> {
    match obj.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(other) => Err(RecordError::new(key, format!("expected a string, found {}", kind(other)))),
    }
}

/// One run: one trajectory.
fn run(ctx: &mut Context<'_>, value: &Value) -> Result<Value, RecordError> {
    let obj = object(value)?;
    let user_task = obj
        .get("user_task_id")
        .and_then(as_id)
        .ok_or_else(|| RecordError::new("user_task_id", "missing or not an id"))?;
    let suite = text_field(obj, "suite_name")?;
    let pipeline = text_field(obj, "pipeline_name")?;
    let injection_task = obj.get("injection_task_id").and_then(as_id);
    // AgentDojo writes the attack "none" as null; "none" names it again, so that the
    // baseline runs can be filtered on.
    let attack = text_field(obj, "attack_type")?.unwrap_or("none");
    let messages = match obj.get("messages") {
        Some(Value::Array(m)) => m,
        Some(other) => return Err(RecordError::new("messages", format!("expected a list, found {}", kind(other)))),
        None => return Err(RecordError::new("messages", "missing")),
    };
    let steps = steps(messages)?;

    let mut parts = vec![
        suite.unwrap_or("").to_string(),
        user_task.clone(),
        injection_task.clone().unwrap_or_else(|| "none".into()),
        attack.to_string(),
    ];
    parts.extend(pipeline.map(str::to_string));
    let mut b = ctx.new_record(&parts);
    b.set("data_id", Value::String(suite.map_or_else(|| user_task.clone(), |s| format!("{s}/{user_task}"))));
    if let Some(p) = pipeline {
        b.set("agent_name", Value::String(p.to_string()));
        let (model, defense) = split_pipeline(p);
        b.meta("model", Value::String(model.to_string()));
        b.meta("defense", defense.map_or(Value::Null, |d| Value::String(d.to_string())));
    }
    if let Some(q) = messages.iter().find(|m| m.get("role").and_then(Value::as_str) == Some("user")) {
        b.question(&Value::String(plain_text(&text_of(q.get("content").unwrap_or(&Value::Null)))));
    }
    outcome(&mut b, obj);
    b.meta("suite_name", suite.map_or(Value::Null, |s| Value::String(s.to_string())));
    b.meta("user_task_id", Value::String(user_task.clone()));
    // A run whose "user task" is an injection task checks that the injection task can be
    // solved at all (AgentDojo runs each one so, without an attack).
    let task_type = if user_task.starts_with("injection_task") { "injection_task" } else { "user_task" };
    b.meta("task_type", Value::String(task_type.into()));
    b.meta("injection_task_id", injection_task.map_or(Value::Null, Value::String));
    b.meta("attack_type", Value::String(attack.to_string()));
    b.meta("injections", obj.get("injections").cloned().unwrap_or(Value::Null));
    b.meta_rest(obj, &MAPPED);
    b.steps(steps);
    Ok(b.finish())
}

/// The labels and the run's outcome: utility, security, duration, error, timestamp.
fn outcome(b: &mut crate::normalize::Builder, obj: &Map<String, Value>) {
    match obj.get("utility") {
        Some(Value::Bool(u)) => {
            b.set_bool("is_success", Some(*u));
            b.set("reward", Value::from(if *u { 1.0 } else { 0.0 }));
        }
        Some(other) => {
            b.keep("utility", other);
        }
        None => {}
    }
    // Kept as AgentDojo wrote it: true when the injection task's security check passed,
    // i.e. the attacker's goal was reached; AgentDojo also writes true when there was no
    // injection task and when the run failed on an API error.
    b.keep("security", obj.get("security").unwrap_or(&Value::Null));
    match obj.get("duration") {
        Some(d) if d.as_f64().is_some_and(f64::is_finite) => {
            b.set_number("exec_time", d);
        }
        Some(other) => {
            b.keep("duration", other);
        }
        None => {}
    }
    if let Some(e) = obj.get("error").filter(|e| !e.is_null()) {
        b.set("termination_reason", Value::String("error".into()));
        b.keep("error", e);
    }
    // Local time without a zone, read as UTC; the text stays in metadata as written (and
    // is all there is when it does not read as a time).
    if let Some(t) = obj.get("evaluation_timestamp").filter(|t| t.as_str().and_then(parse_timestamp).is_some()) {
        b.created_at(t);
    }
}

/// `<model>-<defense>` for the defenses AgentDojo names its pipelines after, else the
/// whole name is the model's.
fn split_pipeline(name: &str) -> (&str, Option<&str>) {
    for d in DEFENSES {
        if let Some(model) = name.strip_suffix(d).and_then(|m| m.strip_suffix('-')).filter(|m| !m.is_empty()) {
            return (model, Some(d));
        }
    }
    (name, None)
}

/// A tool call not yet answered by a result: its native id and the source call.
struct Pending<'v> {
    id: String,
    call: &'v Value,
}

/// The messages as native steps, each result paired with the call it answers.
fn steps(messages: &[Value]) -> Result<Vec<Value>, RecordError> {
    let mut out = Vec::with_capacity(messages.len());
    let mut pending: Vec<Pending<'_>> = Vec::new();
    let mut calls_seen = 0usize;
    for (i, m) in messages.iter().enumerate() {
        let at = |e: RecordError| RecordError {
            field: Some(match e.field {
                Some(f) => format!("messages[{i}].{f}"),
                None => format!("messages[{i}]"),
            }),
            message: e.message,
        };
        let obj = object(m).map_err(at)?;
        let role = match obj.get("role") {
            Some(Value::String(r)) => r.as_str(),
            Some(other) => {
                return Err(at(RecordError::new("role", format!("expected a string, found {}", kind(other)))))
            }
            None => return Err(at(RecordError::new("role", "missing"))),
        };
        let step = match role {
            "tool" => result_step(obj, &mut pending),
            _ => chat_step(role, obj, &mut pending, &mut calls_seen).map_err(at)?,
        };
        out.push(Value::Object(step));
    }
    Ok(out)
}

/// A system, user or assistant message; an assistant's calls become native tool calls.
fn chat_step<'v>(
    role: &str,
    obj: &'v Map<String, Value>,
    pending: &mut Vec<Pending<'v>>,
    calls_seen: &mut usize,
) -> Result<Map<String, Value>, RecordError> {
    let mut step = content_step(role, obj.get("content").unwrap_or(&Value::Null));
    match obj.get("tool_calls") {
        Some(Value::Array(calls)) if !calls.is_empty() => {
            let mut native = Vec::with_capacity(calls.len());
            for call in calls {
                let id = call.get("id").and_then(as_id).unwrap_or_else(|| format!("call_{calls_seen}"));
                *calls_seen += 1;
                native.push(native_call(call, &id));
                pending.push(Pending { id, call });
            }
            step.insert("tool_calls".into(), Value::Array(native));
        }
        Some(Value::Array(_)) | Some(Value::Null) | None => {}
        Some(other) => {
            return Err(RecordError::new("tool_calls", format!("expected a list, found {}", kind(other))));
        }
    }
    for (k, v) in obj {
        if !matches!(k.as_str(), "role" | "content" | "tool_calls") && !v.is_null() && !step.contains_key(k) {
            step.insert(k.clone(), v.clone());
        }
    }
    Ok(step)
}

/// AgentDojo's `{function, args, id, placeholder_args}` (or an OpenAI-shaped call) with
/// the id it goes by.
fn native_call(call: &Value, id: &str) -> Value {
    let id_value = Value::String(id.to_string());
    let mut native = match call.get("function") {
        Some(Value::String(_)) | None => {
            let args = call.get("args").or_else(|| call.get("arguments")).unwrap_or(&Value::Null);
            tool_call(
                &id_value,
                call.get("function").unwrap_or(&Value::Null),
                args,
                call.as_object(),
                &["id", "function", "args", "arguments"],
            )
        }
        Some(_) => any_tool_call(call),
    };
    if let Some(n) = native.as_object_mut() {
        n.insert("id".into(), id_value);
    }
    native
}

/// The function and arguments of a call, for matching a result to it.
fn signature(call: &Value) -> (Option<&Value>, Option<&Value>) {
    (call.get("function"), call.get("args").or_else(|| call.get("arguments")))
}

/// A tool result: paired by its `tool_call_id`, else with the earliest unanswered call of
/// the same function and arguments, else with the earliest unanswered call.
fn result_step(obj: &Map<String, Value>, pending: &mut Vec<Pending<'_>>) -> Map<String, Value> {
    let named = obj.get("tool_call").filter(|c| c.is_object());
    let own_id = obj.get("tool_call_id").and_then(as_id).or_else(|| named.and_then(|c| c.get("id")).and_then(as_id));
    let position = match (&own_id, named) {
        (Some(id), _) => pending.iter().position(|p| &p.id == id),
        (None, named) => named
            .and_then(|c| pending.iter().position(|p| signature(p.call) == signature(c)))
            .or(if pending.is_empty() { None } else { Some(0) }),
    };
    let paired = position.map(|i| pending.remove(i));
    let id = own_id.or_else(|| paired.as_ref().map(|p| p.id.clone()));
    let name = named.and_then(|c| c.get("function")).and_then(Value::as_str);
    let error = obj.get("error").filter(|e| !e.is_null());
    let source_content = obj.get("content").unwrap_or(&Value::Null);
    let empty = match source_content {
        Value::Null => true,
        Value::String(s) => s.is_empty(),
        Value::Array(a) => a.is_empty(),
        _ => false,
    };
    // A failed call has empty content and the error text, which is what the model was
    // shown in its place (AgentDojo's LLM adapters send the error as the result).
    let content = match error {
        Some(e) if empty => Value::String(plain_text(e)),
        _ => content_step("tool", source_content).remove("content").unwrap_or(Value::Null),
    };
    let mut step = observation(id, name, content);
    if let Some(e) = error {
        step.insert("error".into(), e.clone());
        step.insert("is_error".into(), Value::Bool(true));
    }
    // The call a result repeats is dropped when it is the one it was paired with.
    let same_call = |c: &Value| paired.as_ref().is_some_and(|p| signature(p.call) == signature(c));
    for (k, v) in obj {
        let skip = match k.as_str() {
            "role" | "content" | "tool_call_id" | "error" => true,
            "tool_call" => same_call(v),
            _ => false,
        };
        if !skip && !v.is_null() && !step.contains_key(k) {
            step.insert(k.clone(), v.clone());
        }
    }
    step
}

/// A step of `role` from AgentDojo content: a string as it is; a list of blocks becomes
/// the text of its text blocks (joined by newlines, as AgentDojo's own
/// `get_text_content_as_str` does) with the thinking blocks' text in `reasoning_content`;
/// blocks of other kinds (redacted thinking, ...) keep the content a list.
fn content_step(role: &str, value: &Value) -> Map<String, Value> {
    let Value::Array(blocks) = value else {
        return message(role, crate::normalize::content(value));
    };
    let mut texts = Vec::new();
    let mut reasoning = Vec::new();
    let mut reasoning_ids = Vec::new();
    let mut others = false;
    for block in blocks {
        match block.get("type").and_then(Value::as_str) {
            Some("text") | None if block_text(block).is_some() => texts.push(block_text(block).unwrap_or_default()),
            Some("thinking") => {
                reasoning.push(block_text(block).unwrap_or_default());
                if let Some(id) = block.get("id").filter(|v| !v.is_null()) {
                    reasoning_ids.push(id.clone());
                }
            }
            _ => others = true,
        }
    }
    let content = if others {
        // Through the shared normaliser, so that a stray number or string becomes a text block.
        crate::normalize::content(&Value::Array(
            blocks
                .iter()
                .filter(|b| b.get("type").and_then(Value::as_str) != Some("thinking"))
                .map(native_block)
                .collect(),
        ))
    } else if texts.is_empty() {
        Value::Null
    } else {
        Value::String(texts.join("\n"))
    };
    let mut step = message(role, content);
    if !reasoning.is_empty() {
        step.insert("reasoning_content".into(), Value::String(reasoning.join("\n")));
    }
    if !reasoning_ids.is_empty() {
        step.insert("reasoning_ids".into(), Value::Array(reasoning_ids));
    }
    step
}

/// The text of a block: a bare string, or AgentDojo's `content` (others' `text`).
fn block_text(block: &Value) -> Option<String> {
    match block {
        Value::String(s) => Some(s.clone()),
        _ => block.get("content").or_else(|| block.get("text")).and_then(Value::as_str).map(str::to_string),
    }
}

/// A block as native content holds it: text blocks as `{type: "text", text}`, others whole.
fn native_block(block: &Value) -> Value {
    match (block.get("type").and_then(Value::as_str), block_text(block)) {
        (Some("text") | None, Some(text)) => serde_json::json!({"type": "text", "text": text}),
        _ => block.clone(),
    }
}

/// The text of content (a string or blocks), for the question.
fn text_of(value: &Value) -> Value {
    content_step("user", value).remove("content").unwrap_or(Value::Null)
}
