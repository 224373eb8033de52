//! Gemini CLI chat recordings (`~/.gemini/tmp/<project>/chats/session-*.json[l]`).
//!
//! Two layouts, one session each (a trajectory per `sessionId`): the older single
//! document `{sessionId, projectHash, startTime, lastUpdated, kind, summary, messages}`,
//! and the newer JSON Lines log (a header line, then message records re-sent whole as
//! they change, `{"$set": {...}}` patches and `{"$rewindTo": id}`), replayed in
//! [`replay`]: the last state of each message id wins.
//!
//! A message `{id, timestamp, type, content, thoughts, toolCalls, tokens, model}` maps as:
//! `user` -> a user step; `gemini` -> an assistant step (`thoughts` -> `reasoning_content`,
//! each of `toolCalls` -> a tool call and a `role: "tool"` step paired by the call id,
//! with the call's `status`, `is_error` when it failed, and `resultDisplay`);
//! `info` / `error` / `warning` (the CLI's own notices) -> `system` steps keeping `type`.
//! A user message made only of `functionResponse` parts re-sends results the calls
//! already hold: those are not repeated. `tokens` are summed into the metadata,
//! `model` per message gives `metadata.model` (the most used) and `metadata.models`.

mod replay;

use std::collections::HashSet;
use std::path::Path;

use serde_json::{json, Map, Value};
use trajstore_model::parse_timestamp;

use crate::detect::Shape;
use crate::normalize::{as_id, at_index, kind, message, observation, plain_text, tool_call, Context};
use crate::{Converted, FormatError, Position, RecordError};
use replay::Session;

pub fn convert(ctx: &mut Context<'_>, file: &crate::SourceFile<'_>) -> Result<Vec<Converted>, FormatError> {
    let bytes = file.bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(file.bytes);
    // A whole document (the older layout, or a log that is only its header line).
    if let Ok(doc) = serde_json::from_slice::<Value>(bytes) {
        let items = match doc {
            Value::Array(items) => items,
            one @ Value::Object(_) => vec![one],
            other => return Err(ctx.invalid(format!("expected a session object, found {}", kind(&other)))),
        };
        return Ok(items
            .iter()
            .enumerate()
            .map(|(i, item)| {
                let position = Position { line: None, index: Some(i as u64) };
                let record = match item {
                    Value::Object(obj) => replay::document(obj, position)
                        .map_err(|(field, message)| RecordError::new(field, message))
                        .and_then(|s| session(ctx, &s)),
                    other => Err(RecordError::whole(format!("expected a session object, found {}", kind(other)))),
                };
                at_index(i, record)
            })
            .collect());
    }
    let (sessions, mut out) = replay::log(bytes);
    if sessions.is_empty() {
        return Err(ctx.invalid("neither a session document nor a log of JSON lines holding a session"));
    }
    for s in &sessions {
        out.push(Converted { position: s.position, record: session(ctx, s) });
    }
    out.sort_by_key(|c| (c.position.line, c.position.index));
    Ok(out)
}

/// True for a Gemini CLI session: the header keys of a recording (`projectHash` with the
/// session's id or times), whether a whole document or the first line of a log.
pub(crate) fn detect(shape: &Shape, _bytes: &[u8]) -> bool {
    (shape.has("projectHash") && shape.any(&["sessionId", "startTime", "lastUpdated", "messages"]))
        || (shape.has("sessionId") && shape.has("startTime") && shape.any(&["lastUpdated", "messages"]))
        // A document whose keys were sorted (`kind`, `lastUpdated`, `messages`, ...) and
        // cut inside `messages` by a prefix.
        || (shape.has("messages") && shape.has("lastUpdated") && shape.any(&["kind", "startTime"]))
}

/// True for a file a directory walk leaves out because this format reads it with another.
#[allow(dead_code)]
pub(crate) fn is_companion(_path: &Path) -> bool {
    false
}

/// What the steps add up to, for the session's metadata.
#[derive(Default)]
struct Totals {
    /// Sums of `tokens` fields, in the order of [`TOKEN_KEYS`]; `None` until one is seen.
    tokens: Option<[i64; 6]>,
    /// Models of the assistant messages with their counts, in first-seen order.
    models: Vec<(String, usize)>,
    /// Call ids whose result came with the call (a later re-sent result is not repeated).
    answered: HashSet<String>,
    echoes: usize,
    /// The latest timestamp seen (message, tool call or thought), in microseconds.
    last: Option<(i64, Value)>,
}

/// Gemini's token fields and the metadata keys their sums go to. `input` is the prompt
/// and includes `cached`; `thoughts` and `tool` are counted apart from `output`.
const TOKEN_KEYS: [(&str, &str); 6] = [
    ("input", "input_tokens"),
    ("output", "output_tokens"),
    ("cached", "cache_read_tokens"),
    ("thoughts", "reasoning_tokens"),
    ("tool", "tool_tokens"),
    ("total", "total_tokens"),
];

impl Totals {
    fn add_tokens(&mut self, tokens: &Value) {
        let Some(t) = tokens.as_object() else { return };
        let sums = self.tokens.get_or_insert([0; 6]);
        for (i, (key, _)) in TOKEN_KEYS.iter().enumerate() {
            sums[i] += t.get(*key).and_then(Value::as_i64).unwrap_or(0);
        }
    }

    fn add_model(&mut self, model: &str) {
        match self.models.iter_mut().find(|(m, _)| m == model) {
            Some((_, n)) => *n += 1,
            None => self.models.push((model.to_string(), 1)),
        }
    }

    fn saw_time(&mut self, value: Option<&Value>) {
        let Some(v) = value else { return };
        if let Some(t) = v.as_str().and_then(parse_timestamp) {
            if self.last.as_ref().is_none_or(|(l, _)| t > *l) {
                self.last = Some((t, v.clone()));
            }
        }
    }
}

fn session(ctx: &mut Context<'_>, s: &Session) -> Result<Value, RecordError> {
    let mut steps = Vec::new();
    let mut totals = Totals::default();
    for (at, m) in &s.messages {
        message_steps(at, m, &mut steps, &mut totals)?;
    }
    let position = match (s.position.line, s.position.index) {
        (Some(l), _) => format!("line{l}"),
        (_, i) => format!("#{}", i.unwrap_or(0)),
    };
    let id = s.header.get("sessionId").and_then(as_id).unwrap_or(position);
    let mut b = ctx.new_record(&[id]);
    b.set("agent_name", json!("gemini-cli"));
    b.question(&question(&steps));
    b.meta_rest(&s.header, &[]);
    let start = s.header.get("startTime").or_else(|| s.messages.iter().find_map(|(_, m)| m.get("timestamp")));
    totals.saw_time(s.header.get("lastUpdated"));
    if let Some(start) = start {
        b.created_at(start);
        let span = start.as_str().and_then(parse_timestamp).zip(totals.last.as_ref().map(|(t, _)| *t));
        if let Some((from, to)) = span.filter(|(from, to)| to >= from) {
            b.set("exec_time", json!((to - from) as f64 / 1e6));
        }
    }
    if let Some(sums) = totals.tokens {
        for (i, (_, key)) in TOKEN_KEYS.iter().enumerate() {
            b.meta(key, json!(sums[i]));
        }
    }
    // The most used model; the first seen among equals.
    let top = totals.models.iter().fold(None::<&(String, usize)>, |best, m| match best {
        Some(b) if b.1 >= m.1 => Some(b),
        _ => Some(m),
    });
    if let Some((model, _)) = top {
        b.meta("model", json!(model));
        b.meta("models", json!(totals.models.iter().map(|(m, _)| m).collect::<Vec<_>>()));
    }
    if totals.echoes > 0 {
        b.meta("resent_tool_results", json!(totals.echoes));
    }
    if !s.rewound.is_empty() {
        b.meta("rewound_messages", Value::Array(s.rewound.clone()));
    }
    if !s.other.is_empty() {
        b.meta("other_records", Value::Array(s.other.clone()));
    }
    b.steps(steps);
    Ok(b.finish())
}

/// The first user prompt; the `<session_context>` turn newer versions open with (the
/// environment, not a request) is passed over.
fn question(steps: &[Value]) -> Value {
    steps
        .iter()
        .filter(|s| s["role"] == "user")
        .map(|s| plain_text(&s["content"]))
        .find(|t| !t.trim_start().starts_with("<session_context>"))
        .map(Value::String)
        .unwrap_or(Value::Null)
}

fn message_steps(at: &str, m: &Value, steps: &mut Vec<Value>, totals: &mut Totals) -> Result<(), RecordError> {
    let obj = m.as_object().ok_or_else(|| RecordError::new(at, format!("expected an object, found {}", kind(m))))?;
    let ty = match obj.get("type") {
        Some(Value::String(t)) => t.as_str(),
        Some(other) => {
            return Err(RecordError::new(format!("{at}.type"), format!("expected a string, found {}", kind(other))))
        }
        None => return Err(RecordError::new(format!("{at}.type"), "missing")),
    };
    totals.saw_time(obj.get("timestamp"));
    match ty {
        "gemini" => assistant(at, obj, steps, totals),
        "user" => {
            user(obj, steps, totals);
            Ok(())
        }
        _ => {
            let mut step = message("system", parts_content(obj.get("content").unwrap_or(&Value::Null)));
            if ty == "error" {
                step.insert("is_error".into(), Value::Bool(true));
            }
            keep_rest(&mut step, obj, &["content"]);
            steps.push(Value::Object(step));
            Ok(())
        }
    }
}

/// Copies the keys of `obj` not in `used` onto `step` (nulls dropped, step keys kept).
fn keep_rest(step: &mut Map<String, Value>, obj: &Map<String, Value>, used: &[&str]) {
    for (k, v) in obj {
        if !used.contains(&k.as_str()) && !v.is_null() && !step.contains_key(k) {
            step.insert(k.clone(), v.clone());
        }
    }
}

fn user(obj: &Map<String, Value>, steps: &mut Vec<Value>, totals: &mut Totals) {
    let content = obj.get("content").unwrap_or(&Value::Null);
    let responses: Vec<&Map<String, Value>> = match content {
        Value::Array(parts) => parts.iter().filter_map(|p| p.get("functionResponse")?.as_object()).collect(),
        _ => vec![],
    };
    if responses.is_empty() || responses.len() != content.as_array().map_or(0, Vec::len) {
        let mut step = message("user", parts_content(content));
        keep_rest(&mut step, obj, &["content", "type"]);
        steps.push(Value::Object(step));
        return;
    }
    // The results of the previous calls, sent back to the model as the next user turn.
    for r in responses {
        let id = r.get("id").and_then(as_id);
        if id.as_ref().is_some_and(|id| totals.answered.contains(id)) {
            totals.echoes += 1;
            continue;
        }
        let name = r.get("name").and_then(Value::as_str);
        let mut step = observation(id, name, response_text(r.get("response").unwrap_or(&Value::Null)));
        if r.get("response").and_then(|x| x.get("error")).is_some_and(|e| !e.is_null()) {
            step.insert("is_error".into(), Value::Bool(true));
        }
        keep_rest(&mut step, obj, &["content", "type"]);
        steps.push(Value::Object(step));
    }
}

fn assistant(
    at: &str,
    obj: &Map<String, Value>,
    steps: &mut Vec<Value>,
    totals: &mut Totals,
) -> Result<(), RecordError> {
    let calls = match obj.get("toolCalls") {
        None | Some(Value::Null) => &[][..],
        Some(Value::Array(c)) => c.as_slice(),
        Some(other) => {
            return Err(RecordError::new(format!("{at}.toolCalls"), format!("expected a list, found {}", kind(other))))
        }
    };
    let mut content = parts_content(obj.get("content").unwrap_or(&Value::Null));
    if content == "" && !calls.is_empty() {
        content = Value::Null;
    }
    let mut step = message("assistant", content);
    if let Some(reasoning) = thoughts_text(obj.get("thoughts")) {
        step.insert("reasoning_content".into(), Value::String(reasoning));
    }
    if let Some(t) = obj.get("tokens") {
        totals.add_tokens(t);
    }
    if let Some(model) = obj.get("model").and_then(Value::as_str) {
        totals.add_model(model);
    }
    for t in obj.get("thoughts").and_then(Value::as_array).into_iter().flatten() {
        totals.saw_time(t.get("timestamp"));
    }
    let message_id = obj.get("id").and_then(as_id).unwrap_or_default();
    let mut native_calls = Vec::new();
    let mut results = Vec::new();
    for (i, call) in calls.iter().enumerate() {
        let c = call.as_object().ok_or_else(|| {
            RecordError::new(format!("{at}.toolCalls[{i}]"), format!("expected an object, found {}", kind(call)))
        })?;
        // Calls always carry an id in the files seen; a missing one is made from the
        // message's, so that the call still pairs with its result.
        let id = c.get("id").and_then(as_id).unwrap_or_else(|| format!("{message_id}:{i}"));
        let skip = ["id", "name", "args", "result", "status", "resultDisplay", "timestamp"];
        native_calls.push(tool_call(
            &json!(id),
            c.get("name").unwrap_or(&Value::Null),
            c.get("args").unwrap_or(&Value::Null),
            Some(c),
            &skip,
        ));
        totals.saw_time(c.get("timestamp"));
        results.push(tool_result(&id, c, totals));
    }
    if !native_calls.is_empty() {
        step.insert("tool_calls".into(), Value::Array(native_calls));
    }
    // An empty `thoughts` list says nothing; a non-empty one keeps its timestamps here.
    let empty_thoughts = obj.get("thoughts").and_then(Value::as_array).is_some_and(Vec::is_empty);
    let used: &[&str] =
        if empty_thoughts { &["content", "type", "toolCalls", "thoughts"] } else { &["content", "type", "toolCalls"] };
    keep_rest(&mut step, obj, used);
    steps.push(Value::Object(step));
    steps.extend(results);
    Ok(())
}

/// The `role: "tool"` step of one call: its result, status, time and display.
fn tool_result(id: &str, c: &Map<String, Value>, totals: &mut Totals) -> Value {
    let result = c.get("result").unwrap_or(&Value::Null);
    if !result.is_null() {
        totals.answered.insert(id.to_string());
    }
    let mut step = observation(Some(id.to_string()), c.get("name").and_then(Value::as_str), result_content(result));
    let status = c.get("status").and_then(Value::as_str);
    let failed =
        parts(result).iter().any(|p| p.pointer("/functionResponse/response/error").is_some_and(|e| !e.is_null()));
    if status == Some("error") || failed {
        step.insert("is_error".into(), Value::Bool(true));
    }
    for key in ["status", "timestamp", "resultDisplay"] {
        if let Some(v) = c.get(key).filter(|v| !v.is_null()) {
            step.insert(key.into(), v.clone());
        }
    }
    Value::Object(step)
}

/// Thought summaries as one text, each as the model wrote it: `**subject**` then the
/// description.
fn thoughts_text(thoughts: Option<&Value>) -> Option<String> {
    let items = thoughts?.as_array()?;
    let texts: Vec<String> = items
        .iter()
        .map(|t| {
            let subject = t.get("subject").and_then(Value::as_str).unwrap_or("").trim();
            let description = t.get("description").map(plain_text).unwrap_or_default();
            match subject {
                "" => description,
                s => format!("**{s}**\n{description}").trim_end().to_string(),
            }
        })
        .filter(|t| !t.is_empty())
        .collect();
    (!texts.is_empty()).then(|| texts.join("\n\n"))
}

/// A value that may be one Gemini part or a list of them, as a list.
fn parts(value: &Value) -> Vec<&Value> {
    match value {
        Value::Array(items) => items.iter().collect(),
        Value::Null => vec![],
        other => vec![other],
    }
}

/// Gemini content (a string, or `Part`s such as `{text}`, `{inlineData}`,
/// `{functionCall}`) as native content: one text part becomes a string; other parts
/// become typed blocks named after their key.
fn parts_content(value: &Value) -> Value {
    match value {
        Value::Null | Value::String(_) => value.clone(),
        Value::Array(_) | Value::Object(_) => blocks(parts(value).into_iter().map(part_block).collect()),
        other => Value::String(other.to_string()),
    }
}

fn blocks(list: Vec<Value>) -> Value {
    match list.as_slice() {
        [one] if one["type"] == "text" && one.as_object().is_some_and(|o| o.len() == 2) => one["text"].clone(),
        _ => Value::Array(list),
    }
}

fn part_block(part: &Value) -> Value {
    match part {
        Value::String(s) => json!({"type": "text", "text": s}),
        Value::Object(o) => {
            if let Some(Value::String(text)) = o.get("text") {
                let mut block = o.clone();
                block.insert("type".into(), json!("text"));
                block.insert("text".into(), json!(text));
                return Value::Object(block);
            }
            let mut block = o.clone();
            if !block.contains_key("type") {
                let name = o.keys().next().cloned().unwrap_or_else(|| "part".into());
                block.insert("type".into(), Value::String(name));
            }
            Value::Object(block)
        }
        other => json!({"type": "text", "text": other.to_string()}),
    }
}

/// A call's `result` (`functionResponse` parts, possibly with others) as tool content:
/// each response's `output` (or `error`) text, other parts as blocks.
fn result_content(result: &Value) -> Value {
    match result {
        Value::Null | Value::String(_) => result.clone(),
        _ => blocks(
            parts(result)
                .into_iter()
                .map(|p| match p.get("functionResponse") {
                    Some(r) => json!({"type": "text", "text": plain_text(&response_text(r.get("response").unwrap_or(&Value::Null)))}),
                    None => part_block(p),
                })
                .collect(),
        ),
    }
}

/// The text of a function response: its `output`, else its `error`, else the whole
/// response as JSON.
fn response_text(response: &Value) -> Value {
    for key in ["output", "error"] {
        match response.get(key) {
            Some(Value::String(s)) => return Value::String(s.clone()),
            Some(Value::Null) | None => {}
            Some(other) => return Value::String(plain_text(other)),
        }
    }
    match response {
        Value::Null => Value::Null,
        other => Value::String(other.to_string()),
    }
}
