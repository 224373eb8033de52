//! OpenCode session exports (`opencode export <session>`): one JSON document per session,
//! `{info: {id, title, parentID?, time: {created, updated}, ...}, messages: [{info: {role,
//! modelID, providerID, tokens, cost, time, finish, error, ...}, parts: [...]}]}` (a file may
//! also be a list of such documents, or one per line).
//!
//! One trajectory per session. A user message is one user step (its text, file and subtask
//! parts as content); an assistant message is one assistant step (`text` parts -> content,
//! `reasoning` -> `reasoning_content`, `tool` parts -> `tool_calls` with `state.input`),
//! followed by one `tool` step per tool part (its `state.output` or `state.error`, status,
//! title and metadata). Other parts (`step-start`, `step-finish`, `patch`, ...) stay on the
//! step under `parts`. Tokens and cost of the assistant messages are summed into metadata;
//! `info.parentID` links a sub-agent's session to its parent (`parent_session_id`) and the
//! parent's `task` tool results name their children (`child_sessions`).

use std::collections::HashMap;

use serde_json::{Map, Value};
use trajstore_model::format_timestamp;

use crate::detect::Shape;
use crate::normalize::{as_id, at_index, at_line, content, json_lines, kind, message, observation, plain_text};
use crate::normalize::{tool_call, Builder, Context};
use crate::{Converted, FormatError, RecordError};

pub fn convert(ctx: &mut Context<'_>, file: &crate::SourceFile<'_>) -> Result<Vec<Converted>, FormatError> {
    // `opencode export` writes one pretty-printed document; a list of them, or one per
    // line (as a collector may append them), is read the same way.
    match ctx.document() {
        Ok(Value::Array(docs)) => Ok(docs.iter().enumerate().map(|(i, d)| at_index(i, session(ctx, d))).collect()),
        Ok(doc) => Ok(vec![at_index(0, session(ctx, &doc))]),
        Err(whole) => {
            // A document cut short (or pretty-printed and broken) is one error for the
            // file, not one per line: only a first line that is a document makes it JSONL.
            let lines = json_lines(file.bytes);
            if lines.len() < 2 || !lines[0].1.as_ref().is_ok_and(Value::is_object) {
                return Err(whole);
            }
            Ok(lines.into_iter().map(|(n, parsed)| at_line(n, parsed.and_then(|d| session(ctx, &d)))).collect())
        }
    }
}

/// True when the start of a file (`bytes`, whose first record's keys are `shape`) is this format.
/// `info` + `messages` alone is also mini-swe-agent's shape; OpenCode's session info has
/// keys of its own (`projectID`, `slug`, `directory`), and its message ids start `ses_`.
pub(crate) fn detect(shape: &Shape, bytes: &[u8]) -> bool {
    shape.has("info")
        && shape.has("messages")
        && !shape.any(&["trajectory_format", "instance_id"])
        && (shape.inner_has("projectID")
            || shape.inner_has("slug")
            || (shape.inner_has("id") && contains(bytes, b"\"ses_") && contains(bytes, b"\"sessionID\"")))
}

fn contains(bytes: &[u8], needle: &[u8]) -> bool {
    bytes.windows(needle.len()).any(|w| w == needle)
}

/// True for a file a directory walk leaves out because this format reads it with another.
#[allow(dead_code)]
pub(crate) fn is_companion(_path: &std::path::Path) -> bool {
    false
}

/// What a session adds up over its messages.
#[derive(Default)]
struct Totals {
    model_uses: Vec<(String, usize)>,
    provider: HashMap<String, String>,
    input: i64,
    output: i64,
    reasoning: i64,
    cache_read: i64,
    cache_write: i64,
    cost: f64,
    has_tokens: bool,
    has_cost: bool,
    child_sessions: Vec<Value>,
    patches: Vec<Value>,
    diffs: Vec<String>,
    first_user_text: Option<String>,
    last_finish: Option<Value>,
    tool_errors: usize,
}

impl Totals {
    fn add_model(&mut self, model: &str, provider: Option<&str>) {
        match self.model_uses.iter_mut().find(|(m, _)| m == model) {
            Some((_, n)) => *n += 1,
            None => self.model_uses.push((model.to_string(), 1)),
        }
        if let Some(p) = provider {
            self.provider.entry(model.to_string()).or_insert_with(|| p.to_string());
        }
    }

    fn add_usage(&mut self, info: &Map<String, Value>) {
        let n = |v: Option<&Value>| v.and_then(Value::as_i64).unwrap_or(0);
        if let Some(t) = info.get("tokens").filter(|t| t.is_object()) {
            self.has_tokens = true;
            self.input += n(t.get("input"));
            self.output += n(t.get("output"));
            self.reasoning += n(t.get("reasoning"));
            self.cache_read += n(t.pointer("/cache/read"));
            self.cache_write += n(t.pointer("/cache/write"));
        }
        if let Some(c) = info.get("cost").and_then(Value::as_f64) {
            self.has_cost = true;
            self.cost += c;
        }
    }

    /// `model` (the most used), `models`, token sums and cost, as every format names them.
    fn write(&self, b: &mut Builder) {
        // The first of the most used wins a tie: max_by_key keeps the last maximum.
        if let Some((model, _)) = self.model_uses.iter().rev().max_by_key(|(_, n)| *n) {
            b.meta("model", Value::String(model.clone()));
            b.meta("provider", self.provider.get(model).cloned().map(Value::String).unwrap_or(Value::Null));
        }
        if !self.model_uses.is_empty() {
            b.meta("models", self.model_uses.iter().map(|(m, _)| Value::String(m.clone())).collect());
        }
        if self.has_tokens {
            b.meta("input_tokens", Value::from(self.input));
            b.meta("output_tokens", Value::from(self.output));
            b.meta("reasoning_tokens", Value::from(self.reasoning));
            b.meta("cache_read_tokens", Value::from(self.cache_read));
            b.meta("cache_write_tokens", Value::from(self.cache_write));
        }
        if self.has_cost {
            b.meta("cost", Value::from(self.cost));
        }
        if !self.child_sessions.is_empty() {
            b.meta("child_sessions", Value::Array(self.child_sessions.clone()));
        }
        if !self.patches.is_empty() {
            b.meta("patches", Value::Array(self.patches.clone()));
        }
        if !self.diffs.is_empty() {
            b.meta("patch", Value::String(self.diffs.join("\n")));
        }
        b.meta("tool_errors", Value::from(self.tool_errors));
    }
}

/// Epoch milliseconds (OpenCode's `time` values) as RFC 3339.
fn millis(value: Option<&Value>) -> Option<Value> {
    let ms = value?.as_f64().filter(|f| f.is_finite())?;
    (ms.abs() < 9e15).then(|| Value::String(format_timestamp((ms * 1000.0).round() as i64)))
}

fn session(ctx: &mut Context<'_>, doc: &Value) -> Result<Value, RecordError> {
    let obj = crate::normalize::object(doc)?;
    let info = match obj.get("info") {
        Some(Value::Object(i)) => i,
        Some(other) => return Err(RecordError::new("info", format!("expected an object, found {}", kind(other)))),
        None => return Err(RecordError::new("info", "missing")),
    };
    let id = info.get("id").and_then(as_id).ok_or_else(|| RecordError::new("info.id", "missing session id"))?;
    let messages = match obj.get("messages") {
        Some(Value::Array(m)) => m,
        _ => return Err(RecordError::new("messages", "expected a list of messages")),
    };
    let mut totals = Totals::default();
    let mut steps = Vec::new();
    for (i, m) in messages.iter().enumerate() {
        message_steps(m, &mut steps, &mut totals).map_err(|e| RecordError {
            field: Some(match e.field {
                Some(f) => format!("messages[{i}].{f}"),
                None => format!("messages[{i}]"),
            }),
            message: e.message,
        })?;
    }
    let mut b = ctx.new_record(std::slice::from_ref(&id));
    b.set("agent_name", Value::String("opencode".into()));
    // The title is a summary OpenCode writes itself; the user's first words are the task.
    let title = info.get("title").filter(|t| t.as_str().is_some_and(|s| !s.is_empty()));
    match (&totals.first_user_text, title) {
        (Some(text), _) => b.question(&Value::String(text.clone())),
        (None, Some(t)) => b.question(t),
        (None, None) => &mut b,
    };
    b.task("title", title.cloned().unwrap_or(Value::Null));
    let created = info.pointer_ms("created");
    if let Some(t) = millis(created) {
        b.created_at(&t);
    }
    if let (Some(start), Some(end)) =
        (created.and_then(Value::as_f64), info.pointer_ms("updated").and_then(Value::as_f64))
    {
        b.set_number("exec_time", &Value::from((end - start).max(0.0) / 1000.0));
    }
    b.set_id("termination_reason", totals.last_finish.as_ref().unwrap_or(&Value::Null));
    b.meta("session_id", Value::String(id));
    b.meta("parent_session_id", info.get("parentID").cloned().unwrap_or(Value::Null));
    totals.write(&mut b);
    b.meta_rest(info, &["id", "title", "parentID"]);
    b.meta_rest(obj, &["info", "messages"]);
    b.steps(steps);
    Ok(b.finish())
}

/// `info.time.<key>` of a session or message.
trait TimeOf {
    fn pointer_ms(&self, key: &str) -> Option<&Value>;
}

impl TimeOf for Map<String, Value> {
    fn pointer_ms(&self, key: &str) -> Option<&Value> {
        self.get("time").and_then(|t| t.get(key)).filter(|v| v.is_number())
    }
}

/// A part without the ids that only repeat the session and message it belongs to.
fn bare(part: &Map<String, Value>, drop: &[&str]) -> Map<String, Value> {
    part.iter()
        .filter(|(k, v)| {
            !v.is_null() && !drop.contains(&k.as_str()) && !matches!(k.as_str(), "sessionID" | "messageID")
        })
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

/// Appends the steps of one message: a user step, or an assistant step and its tool results.
fn message_steps(m: &Value, steps: &mut Vec<Value>, totals: &mut Totals) -> Result<(), RecordError> {
    let obj = crate::normalize::object(m)?;
    let info = obj.get("info").and_then(Value::as_object).ok_or_else(|| RecordError::new("info", "missing"))?;
    let role = match info.get("role") {
        Some(Value::String(r)) => r.as_str(),
        Some(other) => return Err(RecordError::new("info.role", format!("expected a string, found {}", kind(other)))),
        None => return Err(RecordError::new("info.role", "missing")),
    };
    let parts: Vec<&Map<String, Value>> = match obj.get("parts") {
        Some(Value::Array(p)) => p
            .iter()
            .enumerate()
            .map(|(j, p)| p.as_object().ok_or_else(|| RecordError::new(format!("parts[{j}]"), "expected an object")))
            .collect::<Result<_, _>>()?,
        None | Some(Value::Null) => Vec::new(),
        Some(other) => return Err(RecordError::new("parts", format!("expected a list, found {}", kind(other)))),
    };
    let mut results = Vec::new();
    let mut step = if role == "assistant" {
        totals.add_usage(info);
        if let Some(model) = info.get("modelID").and_then(Value::as_str) {
            totals.add_model(model, info.get("providerID").and_then(Value::as_str));
        }
        let finish = info.get("error").and_then(|e| e.get("name")).or_else(|| info.get("finish"));
        totals.last_finish = finish.cloned();
        assistant_step(&parts, &mut results, totals)
    } else {
        user_step(role, &parts, totals)
    };
    if let Some(t) = millis(info.pointer_ms("created")) {
        step.insert("timestamp".into(), t);
    }
    for (k, v) in info {
        if !v.is_null() && !matches!(k.as_str(), "role" | "sessionID") && !step.contains_key(k) {
            step.insert(k.clone(), v.clone());
        }
    }
    steps.push(Value::Object(step));
    steps.extend(results);
    Ok(())
}

/// A user (or system) message: its text, files and subtask prompts as content.
fn user_step(role: &str, parts: &[&Map<String, Value>], totals: &mut Totals) -> Map<String, Value> {
    let mut blocks = Vec::new();
    let mut subtasks = Vec::new();
    let mut other = Vec::new();
    for part in parts {
        match part.get("type").and_then(Value::as_str) {
            Some("text") => {
                let mut block = bare(part, &["id"]);
                block.insert("type".into(), Value::from("text"));
                block.entry("text").or_insert(Value::from(""));
                blocks.push(Value::Object(block));
            }
            Some("file") => blocks.push(Value::Object(bare(part, &["id"]))),
            // A command that runs a sub-agent (`/review`): its prompt is what the user sent.
            Some("subtask") => {
                if let Some(prompt) = part.get("prompt").filter(|p| p.is_string()) {
                    blocks.push(serde_json::json!({"type": "text", "text": prompt}));
                }
                subtasks.push(Value::Object(bare(part, &["id", "type", "prompt"])));
            }
            _ => other.push(Value::Object(bare(part, &["id"]))),
        }
    }
    if totals.first_user_text.is_none() && role == "user" {
        let text: Vec<String> = blocks
            .iter()
            .filter(|b| b["type"] == "text" && b.get("synthetic") != Some(&Value::Bool(true)))
            .map(|b| plain_text(&b["text"]))
            .filter(|t| !t.trim().is_empty())
            .collect();
        if !text.is_empty() {
            totals.first_user_text = Some(text.join("\n\n"));
        }
    }
    let content = match blocks.as_slice() {
        [] => Value::Null,
        [one] if one.as_object().is_some_and(|o| o.len() == 2) && one["text"].is_string() => one["text"].clone(),
        _ => content(&Value::Array(blocks)),
    };
    let mut step = message(role, content);
    if !subtasks.is_empty() {
        step.insert("subtask".into(), if subtasks.len() == 1 { subtasks.remove(0) } else { Value::Array(subtasks) });
    }
    if !other.is_empty() {
        step.insert("parts".into(), Value::Array(other));
    }
    step
}

/// An assistant message: text, reasoning and tool calls on one step; each tool part's
/// result goes to `results`, the steps that follow it.
fn assistant_step(parts: &[&Map<String, Value>], results: &mut Vec<Value>, totals: &mut Totals) -> Map<String, Value> {
    let (mut text, mut reasoning, mut calls, mut other) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for part in parts {
        match part.get("type").and_then(Value::as_str) {
            Some(kind @ ("text" | "reasoning")) => {
                if let Some(t) = part.get("text").and_then(Value::as_str).filter(|t| !t.is_empty()) {
                    if kind == "text" { &mut text } else { &mut reasoning }.push(t.to_string());
                }
                // Timing and provider ids of the part: kept, without the text again.
                let rest = bare(part, &["id", "text"]);
                if rest.len() > 1 {
                    other.push(Value::Object(rest));
                }
            }
            Some("tool") => {
                let (call, result) = tool_part(part, totals);
                calls.push(call);
                results.push(Value::Object(result));
            }
            Some("patch") => {
                totals.patches.push(Value::Object(bare(part, &["id", "type"])));
                other.push(Value::Object(bare(part, &["id"])));
            }
            _ => other.push(Value::Object(bare(part, &["id"]))),
        }
    }
    let mut step = message("assistant", if text.is_empty() { Value::Null } else { Value::String(text.join("\n\n")) });
    if !reasoning.is_empty() {
        step.insert("reasoning_content".into(), Value::String(reasoning.join("\n\n")));
    }
    if !calls.is_empty() {
        step.insert("tool_calls".into(), Value::Array(calls));
    }
    if !other.is_empty() {
        step.insert("parts".into(), Value::Array(other));
    }
    step
}

/// A `tool` part: the call (`state.input`) and its result step (`state.output` or `error`).
fn tool_part(part: &Map<String, Value>, totals: &mut Totals) -> (Value, Map<String, Value>) {
    let empty = Map::new();
    let state = part.get("state").and_then(Value::as_object).unwrap_or(&empty);
    let id = part.get("callID").unwrap_or(&Value::Null);
    let name = part.get("tool").unwrap_or(&Value::Null);
    let call = tool_call(
        id,
        name,
        state.get("input").unwrap_or(&Value::Null),
        Some(part),
        &["callID", "tool", "state", "id", "type", "sessionID", "messageID"],
    );
    let output = state.get("output").filter(|o| !o.is_null()).or_else(|| state.get("error")).unwrap_or(&Value::Null);
    let mut result = observation(as_id(id), name.as_str(), content(output));
    for (k, v) in state {
        if !v.is_null() && !matches!(k.as_str(), "input" | "output") {
            result.insert(k.clone(), v.clone());
        }
    }
    if state.get("status").and_then(Value::as_str) == Some("error") {
        totals.tool_errors += 1;
    }
    if let Some(t) = millis(state.get("time").and_then(|t| t.get("end").or_else(|| t.get("start")))) {
        result.insert("timestamp".into(), t);
    }
    // The `task` tool runs a sub-agent in a session of its own.
    if let Some(child) = state.get("metadata").and_then(|m| m.get("sessionId")).filter(|c| c.is_string()) {
        result.insert("child_session_id".into(), child.clone());
        totals.child_sessions.push(child.clone());
    }
    let diff = state.get("metadata").and_then(|m| m.get("diff")).and_then(Value::as_str);
    if let Some(d) = diff.filter(|d| !d.trim().is_empty() && state.get("status") == Some(&Value::from("completed"))) {
        totals.diffs.push(d.trim_end().to_string());
    }
    (call, result)
}
