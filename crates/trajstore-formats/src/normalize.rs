//! The normaliser core every format shares: ids, the native record builder, and the
//! mapping of messages, tool calls, observations and content into native steps.
//!
//! Native steps are OpenAI chat messages: `{role, content, tool_calls: [{id, name,
//! arguments}], tool_call_id, name, reward, timestamp}`, where `content` is null, a string
//! or a list of typed blocks. Keys of a source message that have no native meaning are
//! kept on the step (null values dropped), so a step loses nothing either.

use std::collections::HashSet;

use serde_json::{Map, Value};
use trajstore_model::{parse_timestamp, RecordError};

use crate::usage::{amount, count, Usage};
use crate::{Converted, Format, FormatError, Position, SourceFile};

/// FNV-1a, 64 bits: a stable content hash with no dependency. It names a file in ids, so
/// it must never change between versions (std's `DefaultHasher` may).
pub fn content_hash(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in bytes {
        h ^= b as u64;
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

/// What a format module converts with: the file, its identity, and the ids handed out.
pub struct Context<'a> {
    pub format: Format,
    pub file: SourceFile<'a>,
    /// The file's identity in ids: the hash of its content, so that importing the same
    /// bytes again (from any path, or uploaded) yields the same ids and is skipped, while
    /// two files that reuse task ids never collide.
    pub file_hash: String,
    seen: HashSet<String>,
}

impl<'a> Context<'a> {
    pub fn new(format: Format, file: &SourceFile<'a>) -> Self {
        Context { format, file: *file, file_hash: format!("{:016x}", content_hash(file.bytes)), seen: HashSet::new() }
    }

    /// `<format>:<file hash>:<part>:<part>...`; an id already handed out in this file gets
    /// `#2`, `#3`, ... so that a source repeating its own ids still yields unique records.
    pub fn id(&mut self, parts: &[String]) -> String {
        let base = format!("{}:{}:{}", self.format.name(), self.file_hash, parts.join(":"));
        let mut id = base.clone();
        let mut n = 1;
        while !self.seen.insert(id.clone()) {
            n += 1;
            id = format!("{base}#{n}");
        }
        id
    }

    /// A record whose id is made of `parts` (see [`Context::id`]).
    pub fn new_record(&mut self, parts: &[String]) -> Builder {
        let id = self.id(parts);
        self.record(id)
    }

    /// A record with its id, `source` (the file's label) and the provenance metadata.
    pub fn record(&self, id: String) -> Builder {
        let mut b = Builder::default();
        b.rec.insert("trajectory_id".into(), Value::String(id));
        b.rec.insert("source".into(), Value::String(self.file.label.to_string()));
        b.meta.insert("source_format".into(), Value::from(self.format.name()));
        b
    }

    pub fn invalid(&self, message: impl Into<String>) -> FormatError {
        FormatError::Invalid { file: self.file.label.to_string(), format: self.format.name(), message: message.into() }
    }

    /// The whole file as one JSON document.
    pub fn document(&self) -> Result<Value, FormatError> {
        let bytes = strip_bom(self.file.bytes);
        serde_json::from_slice(bytes).map_err(|e| self.invalid(format!("invalid JSON: {e}")))
    }
}

fn strip_bom(bytes: &[u8]) -> &[u8] {
    bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes)
}

/// The non-blank lines of a JSON Lines file, each parsed, with its 1-based line number.
pub fn json_lines(bytes: &[u8]) -> Vec<(u64, Result<Value, RecordError>)> {
    let mut out = Vec::new();
    for (i, line) in strip_bom(bytes).split(|&b| b == b'\n').enumerate() {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        let parsed =
            serde_json::from_slice::<Value>(line).map_err(|e| RecordError::whole(format!("invalid JSON: {e}")));
        out.push((i as u64 + 1, parsed));
    }
    out
}

/// A record converted from line `line` of a JSON Lines file.
pub fn at_line(line: u64, record: Result<Value, RecordError>) -> Converted {
    Converted { position: Position { line: Some(line), index: None }, record }
}

/// A record converted from position `index` of a list, dict or archive.
pub fn at_index(index: usize, record: Result<Value, RecordError>) -> Converted {
    Converted { position: Position { line: None, index: Some(index as u64) }, record }
}

/// Builds one native record. Null values are never written; `finish` adds `metadata`
/// (what the source had beyond the native fields) and `task`.
#[derive(Default)]
pub struct Builder {
    rec: Map<String, Value>,
    task: Map<String, Value>,
    meta: Map<String, Value>,
}

impl Builder {
    pub fn set(&mut self, key: &str, value: Value) -> &mut Self {
        if !value.is_null() {
            self.rec.insert(key.to_string(), value);
        }
        self
    }

    /// An id-like field (`data_id`, `agent_name`, ...): strings as they are, numbers as
    /// text; any other value is kept in metadata under the same name.
    pub fn set_id(&mut self, key: &str, value: &Value) -> &mut Self {
        match as_id(value) {
            Some(s) => {
                self.rec.insert(key.to_string(), Value::String(s));
            }
            None => {
                self.keep(key, value);
            }
        }
        self
    }

    /// A number field (`reward`, `exec_time`); anything that is not a finite number is
    /// kept in metadata under the same name instead of failing the record.
    pub fn set_number(&mut self, key: &str, value: &Value) -> &mut Self {
        match value.as_f64().filter(|f| f.is_finite()) {
            Some(f) => {
                self.rec.insert(key.to_string(), Value::from(f));
            }
            None => {
                self.keep(key, value);
            }
        }
        self
    }

    /// An integer field (`epoch_id`, `iteration_id`, `sample_id`); others go to metadata.
    pub fn set_int(&mut self, key: &str, value: &Value) -> &mut Self {
        match as_int(value) {
            Some(i) => {
                self.rec.insert(key.to_string(), Value::from(i));
            }
            None => {
                self.keep(key, value);
            }
        }
        self
    }

    pub fn set_bool(&mut self, key: &str, value: Option<bool>) -> &mut Self {
        if let Some(b) = value {
            self.rec.insert(key.to_string(), Value::Bool(b));
        }
        self
    }

    /// `created_at` when the value is a timestamp the model reads; otherwise metadata.
    pub fn created_at(&mut self, value: &Value) -> &mut Self {
        let ok = match value {
            Value::String(s) => parse_timestamp(s).is_some(),
            Value::Number(n) => n.as_f64().is_some_and(|f| parse_timestamp(&f.to_string()).is_some()),
            _ => false,
        };
        if ok {
            self.rec.insert("created_at".into(), value.clone());
        } else {
            self.keep("created_at", value);
        }
        self
    }

    pub fn question(&mut self, question: &Value) -> &mut Self {
        match question {
            Value::Null => {}
            Value::String(_) => {
                self.task.insert("question".into(), question.clone());
            }
            other => {
                self.task.insert("question".into(), Value::String(plain_text(other)));
            }
        }
        self
    }

    pub fn task(&mut self, key: &str, value: Value) -> &mut Self {
        if !value.is_null() {
            self.task.insert(key.to_string(), value);
        }
        self
    }

    pub fn meta(&mut self, key: &str, value: Value) -> &mut Self {
        if !value.is_null() {
            self.meta.insert(key.to_string(), value);
        }
        self
    }

    /// Keeps a value that no native field can take in metadata under its own name, or,
    /// when metadata already holds another value by that name (the source's own
    /// `metadata` is loaded first), under "NAME (top level)", "NAME (top level 2)", ...:
    /// nothing a record sends is overwritten or dropped.
    pub fn keep(&mut self, key: &str, value: &Value) -> &mut Self {
        if value.is_null() {
            return self;
        }
        let mut name = key.to_string();
        for n in 1.. {
            match self.meta.get(&name) {
                Some(held) if held == value => return self,
                Some(_) => name = if n == 1 { format!("{key} (top level)") } else { format!("{key} (top level {n})") },
                None => break,
            }
        }
        self.meta.insert(name, value.clone());
        self
    }

    /// Copies every entry of `object` whose key is not in `mapped` into metadata.
    pub fn meta_rest(&mut self, object: &Map<String, Value>, mapped: &[&str]) -> &mut Self {
        for (k, v) in object {
            if !mapped.contains(&k.as_str()) && !v.is_null() {
                self.meta.insert(k.clone(), v.clone());
            }
        }
        self
    }

    pub fn steps(&mut self, steps: Vec<Value>) -> &mut Self {
        self.rec.insert("steps".into(), Value::Array(steps));
        self
    }

    /// The `model` column, when `value` is a model's name (a non-empty string) and the
    /// record has none yet: the first source a format consults wins.
    pub fn model(&mut self, value: &Value) -> &mut Self {
        if let Some(name) = value.as_str().filter(|s| !s.trim().is_empty()) {
            self.rec.entry("model").or_insert_with(|| Value::String(name.to_string()));
        }
        self
    }

    /// The `input_tokens`, `output_tokens` and `cost` columns the record has not set yet,
    /// from what `usage` knows (an unknown stays unset, never 0).
    pub fn usage(&mut self, usage: &Usage) -> &mut Self {
        if let Some(n) = usage.input {
            self.rec.entry("input_tokens").or_insert(Value::from(n));
        }
        if let Some(n) = usage.output {
            self.rec.entry("output_tokens").or_insert(Value::from(n));
        }
        if let Some(c) = usage.cost {
            self.rec.entry("cost").or_insert(Value::from(c));
        }
        self
    }

    /// The formats whose conventions keep the model and the summed tokens and cost in
    /// `metadata` (beside the cache and reasoning counts they have no column for) get
    /// the columns as top-level fields too, so every importer's record carries them where
    /// the native format puts them. A value of the wrong type stays in metadata only:
    /// at the top level it would fail the record.
    fn usage_from_meta(&mut self) {
        let model = self.meta.get("model").cloned().unwrap_or(Value::Null);
        self.model(&model);
        let usage = Usage {
            input: self.meta.get("input_tokens").and_then(count),
            output: self.meta.get("output_tokens").and_then(count),
            cost: self.meta.get("cost").and_then(amount),
        };
        self.usage(&usage);
    }

    pub fn finish(mut self) -> Value {
        self.usage_from_meta();
        if !self.task.is_empty() {
            self.rec.insert("task".into(), Value::Object(self.task));
        }
        if !self.meta.is_empty() {
            self.rec.insert("metadata".into(), Value::Object(self.meta));
        }
        Value::Object(self.rec)
    }
}

/// Ids arrive as strings or integers; both become text. Anything else is not an id.
pub fn as_id(value: &Value) -> Option<String> {
    match value {
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        Value::Number(n) if n.is_i64() || n.is_u64() => Some(n.to_string()),
        Value::Number(n) => n.as_f64().filter(|f| f.fract() == 0.0 && f.abs() < 9e15).map(|f| (f as i64).to_string()),
        _ => None,
    }
}

pub fn as_int(value: &Value) -> Option<i64> {
    match value {
        Value::Number(n) => {
            n.as_i64().or_else(|| n.as_f64().filter(|f| f.fract() == 0.0 && f.abs() < 9e15).map(|f| f as i64))
        }
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

/// A score as a number: numbers and booleans as they are, Inspect's letters
/// (`C` correct 1, `I` incorrect 0, `P` partial 0.5, `N` no answer 0), yes/no, and
/// numeric text. `None` for anything else (dicts, lists, free text).
pub fn score_value(value: &Value) -> Option<f64> {
    match value {
        Value::Number(n) => n.as_f64().filter(|f| f.is_finite()),
        Value::Bool(b) => Some(if *b { 1.0 } else { 0.0 }),
        Value::String(s) => match s.trim() {
            "C" => Some(1.0),
            "I" | "N" => Some(0.0),
            "P" => Some(0.5),
            t if t.eq_ignore_ascii_case("yes")
                || t.eq_ignore_ascii_case("true")
                || t.eq_ignore_ascii_case("correct") =>
            {
                Some(1.0)
            }
            t if t.eq_ignore_ascii_case("no")
                || t.eq_ignore_ascii_case("false")
                || t.eq_ignore_ascii_case("incorrect") =>
            {
                Some(0.0)
            }
            t => t.parse::<f64>().ok().filter(|f| f.is_finite()),
        },
        _ => None,
    }
}

/// The text of a value, for a question or a log line: strings as they are, the `text`
/// of content blocks joined, anything else as compact JSON.
pub fn plain_text(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        Value::Array(items) if items.iter().all(|i| i.is_string() || i.get("text").is_some_and(Value::is_string)) => {
            items
                .iter()
                .map(|i| i.as_str().or_else(|| i.get("text").and_then(Value::as_str)).unwrap_or(""))
                .collect::<Vec<_>>()
                .join("\n")
        }
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

/// Content as native steps hold it: null, a string, or a list of typed blocks. A bare
/// string inside a list becomes a text block; a single object becomes a list of one;
/// numbers and booleans become text.
pub fn content(value: &Value) -> Value {
    match value {
        Value::Null | Value::String(_) => value.clone(),
        Value::Array(items) => Value::Array(
            items
                .iter()
                .map(|i| match i {
                    Value::String(s) => serde_json::json!({"type": "text", "text": s}),
                    Value::Object(_) => i.clone(),
                    other => serde_json::json!({"type": "text", "text": other.to_string()}),
                })
                .collect(),
        ),
        Value::Object(_) => Value::Array(vec![value.clone()]),
        other => Value::String(other.to_string()),
    }
}

/// Tool-call arguments: a JSON object stays one; a string that parses as a JSON object
/// becomes that object; any other string stays a string (the model wrote invalid JSON,
/// which is worth seeing as it was); other values are kept as they are.
pub fn arguments(value: &Value) -> Value {
    match value {
        Value::String(s) => match serde_json::from_str::<Value>(s) {
            Ok(v @ Value::Object(_)) => v,
            _ => value.clone(),
        },
        Value::Null => Value::Object(Map::new()),
        other => other.clone(),
    }
}

/// A native tool call `{id, name, arguments, ...}` with the source's other keys kept.
pub fn tool_call(id: &Value, name: &Value, args: &Value, extra: Option<&Map<String, Value>>, skip: &[&str]) -> Value {
    let mut call = Map::new();
    if let Some(id) = as_id(id) {
        call.insert("id".into(), Value::String(id));
    }
    call.insert(
        "name".into(),
        match name {
            Value::String(_) => name.clone(),
            Value::Null => Value::String(String::new()),
            other => Value::String(other.to_string()),
        },
    );
    call.insert("arguments".into(), arguments(args));
    if let Some(extra) = extra {
        for (k, v) in extra {
            if !skip.contains(&k.as_str()) && !v.is_null() && (k != "type" || v != "function") {
                call.insert(k.clone(), v.clone());
            }
        }
    }
    Value::Object(call)
}

/// One tool call in any of the shapes seen: OpenAI `{id, type, function: {name,
/// arguments}}`, flat `{id, name, arguments}` (tau2, ours), Inspect `{id, function:
/// "name", arguments}`, ATIF `{tool_call_id, function_name, arguments}`, Responses
/// `{call_id, name, arguments}`.
pub fn any_tool_call(call: &Value) -> Value {
    let Some(obj) = call.as_object() else {
        return tool_call(&Value::Null, &Value::String(plain_text(call)), &Value::Null, None, &[]);
    };
    let id = obj.get("id").or_else(|| obj.get("tool_call_id")).or_else(|| obj.get("call_id")).unwrap_or(&Value::Null);
    match obj.get("function") {
        Some(Value::Object(f)) => {
            let name = f.get("name").unwrap_or(&Value::Null);
            let args = f.get("arguments").unwrap_or(&Value::Null);
            tool_call(id, name, args, Some(obj), &["id", "function"])
        }
        Some(name @ Value::String(_)) => tool_call(
            id,
            name,
            obj.get("arguments").unwrap_or(&Value::Null),
            Some(obj),
            &["id", "function", "arguments"],
        ),
        _ => {
            let name = obj.get("name").or_else(|| obj.get("function_name")).unwrap_or(&Value::Null);
            let args = obj.get("arguments").or_else(|| obj.get("args")).unwrap_or(&Value::Null);
            tool_call(
                id,
                name,
                args,
                Some(obj),
                &["id", "tool_call_id", "call_id", "name", "function_name", "arguments", "args"],
            )
        }
    }
}

/// A native step from its parts.
pub fn message(role: &str, content: Value) -> Map<String, Value> {
    let mut m = Map::new();
    m.insert("role".into(), Value::String(role.to_string()));
    m.insert("content".into(), content);
    m
}

/// A tool result (observation) step.
pub fn observation(tool_call_id: Option<String>, name: Option<&str>, content_value: Value) -> Map<String, Value> {
    let mut m = message("tool", content_value);
    if let Some(id) = tool_call_id {
        m.insert("tool_call_id".into(), Value::String(id));
    }
    if let Some(name) = name {
        m.insert("name".into(), Value::String(name.to_string()));
    }
    m
}

/// Normalises one chat message of any OpenAI-like shape into a native step. Keys with no
/// native meaning stay on the step; nulls are dropped.
pub fn chat_message(value: &Value) -> Result<Value, RecordError> {
    let obj = value
        .as_object()
        .ok_or_else(|| RecordError::whole(format!("a message must be an object, found {}", kind(value))))?;
    let role = match obj.get("role") {
        Some(Value::String(r)) => r.clone(),
        Some(other) => return Err(RecordError::new("role", format!("expected a string, found {}", kind(other)))),
        None => return Err(RecordError::new("role", "missing")),
    };
    let mut step = message(&role, content(obj.get("content").unwrap_or(&Value::Null)));
    if let Some(Value::Array(calls)) = obj.get("tool_calls") {
        if !calls.is_empty() {
            step.insert("tool_calls".into(), Value::Array(calls.iter().map(any_tool_call).collect()));
        }
    }
    let tool_call_id = obj
        .get("tool_call_id")
        .and_then(as_id)
        .or_else(|| obj.get("tool_call_ids").and_then(|v| v.get(0)).and_then(as_id))
        // tau2 and Inspect name the call a tool message answers by `id`.
        .or_else(|| if role == "tool" { obj.get("id").and_then(as_id) } else { None });
    if let Some(id) = tool_call_id {
        step.insert("tool_call_id".into(), Value::String(id));
    }
    match obj.get("reward") {
        Some(r) if r.as_f64().is_some_and(f64::is_finite) => {
            step.insert("reward".into(), r.clone());
        }
        Some(Value::Null) | None => {}
        Some(other) => {
            step.insert("reward_raw".into(), other.clone());
        }
    }
    for (k, v) in obj {
        if matches!(k.as_str(), "role" | "content" | "tool_calls" | "tool_call_id" | "reward")
            || v.is_null()
            || step.contains_key(k)
        {
            continue;
        }
        step.insert(k.clone(), v.clone());
    }
    Ok(Value::Object(step))
}

/// Normalises a list of messages; the first bad one fails the record, naming its place.
pub fn chat_messages(values: &[Value], field: &str) -> Result<Vec<Value>, RecordError> {
    values
        .iter()
        .enumerate()
        .map(|(i, m)| {
            chat_message(m).map_err(|e| RecordError {
                field: Some(match e.field {
                    Some(f) => format!("{field}[{i}].{f}"),
                    None => format!("{field}[{i}]"),
                }),
                message: e.message,
            })
        })
        .collect()
}

/// The JSON kind of a value, for error messages.
pub fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// `Value::pointer` for a map: `/a/b` reads key `a`, then `/b` inside it.
pub fn pointer<'v>(map: &'v Map<String, Value>, path: &str) -> Option<&'v Value> {
    let path = path.strip_prefix('/')?;
    let (first, rest) = path.split_once('/').map(|(f, r)| (f, Some(r))).unwrap_or((path, None));
    let v = map.get(first)?;
    match rest {
        Some(r) => v.pointer(&format!("/{r}")),
        None => Some(v),
    }
}

/// The object a record must be, or a record error.
pub fn object(value: &Value) -> Result<&Map<String, Value>, RecordError> {
    value.as_object().ok_or_else(|| RecordError::whole(format!("expected an object, found {}", kind(value))))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn tool_call_shapes_and_arguments() {
        let openai = any_tool_call(
            &json!({"id": "c1", "type": "function", "function": {"name": "f", "arguments": "{\"a\": 1}"}}),
        );
        assert_eq!(openai, json!({"id": "c1", "name": "f", "arguments": {"a": 1}}));
        let broken = any_tool_call(&json!({"id": "c2", "function": {"name": "f", "arguments": "{\"a\": "}}));
        assert_eq!(broken["arguments"], json!("{\"a\": "));
        let list = any_tool_call(&json!({"id": "c3", "function": {"name": "f", "arguments": "[1]"}}));
        assert_eq!(list["arguments"], json!("[1]"));
        let inspect =
            any_tool_call(&json!({"id": "c4", "function": "bash", "arguments": {"cmd": "ls"}, "type": "function"}));
        assert_eq!(inspect, json!({"id": "c4", "name": "bash", "arguments": {"cmd": "ls"}}));
        let flat = any_tool_call(&json!({"id": "c5", "name": "g", "arguments": {"x": true}, "requestor": "assistant"}));
        assert_eq!(flat, json!({"id": "c5", "name": "g", "arguments": {"x": true}, "requestor": "assistant"}));
    }

    #[test]
    fn messages_content_and_letters() {
        let m = chat_message(&json!({"role": "tool", "id": "c5", "content": 3, "turn_idx": 2, "cost": null})).unwrap();
        assert_eq!(m, json!({"role": "tool", "content": "3", "tool_call_id": "c5", "id": "c5", "turn_idx": 2}));
        let m = chat_message(&json!({"role": "user", "content": ["hi", {"type": "image", "url": "u"}]})).unwrap();
        assert_eq!(m["content"], json!([{"type": "text", "text": "hi"}, {"type": "image", "url": "u"}]));
        assert!(chat_message(&json!({"content": "x"})).is_err());
        assert_eq!(
            (score_value(&json!("C")), score_value(&json!("I")), score_value(&json!("P")), score_value(&json!({}))),
            (Some(1.0), Some(0.0), Some(0.5), None)
        );
    }

    #[test]
    fn ids_are_namespaced_and_unique_within_a_file() {
        let file = SourceFile { label: "x", path: None, bytes: b"abc", labels_dir: None };
        let mut ctx = Context::new(Format::TauBench, &file);
        let a = ctx.id(&["1".into(), "0".into()]);
        let b = ctx.id(&["1".into(), "0".into()]);
        assert_eq!(a, format!("tau-bench:{:016x}:1:0", content_hash(b"abc")));
        assert_eq!(b, format!("{a}#2"));
    }
}
