//! The steps of one trajectory, from its `user` and `assistant` lines in file order.
//!
//! * A `user` line's text (a string, or its non-`tool_result` blocks) is a user step; each
//!   `tool_result` block is a tool step (`tool_call_id`, the tool's `name`, `is_error`).
//! * The lines of one assistant turn share `message.id` (Claude Code writes each content
//!   block on a line of its own, sometimes with a tool result in between): they are joined
//!   into one step at the place of the first. `text` blocks give `content`, `thinking`
//!   blocks `reasoning_content`, `tool_use` blocks `tool_calls`.
//! * A line's own keys other than the session's (`uuid`, `parentUuid`, `timestamp`,
//!   `requestId`, `toolUseResult`, `isMeta`, ...) stay on its (first) step.

use std::collections::HashMap;

use serde_json::{json, Map, Value};

use super::{text, Entry, SESSION_KEYS};
use crate::normalize::{as_id, content, kind, message, observation, plain_text, tool_call};
use crate::RecordError;

/// The text Claude Code opens a compaction summary with, in versions that do not mark it.
const CONTINUED: &str = "This session is being continued from a previous conversation";

/// One assistant turn while its lines are gathered.
#[derive(Default)]
struct Turn {
    extras: Map<String, Value>,
    blocks: Vec<Value>,
    reasoning: Vec<String>,
    signatures: Vec<Value>,
    redacted: Vec<Value>,
    calls: Vec<Value>,
    uuids: Vec<Value>,
}

enum Slot {
    Done(Map<String, Value>),
    Turn(usize),
}

/// The usage of one API message (the last line of the message carries the final count).
#[derive(Default)]
pub(super) struct Usage {
    pub usage: Option<Map<String, Value>>,
    pub cost: Option<f64>,
    pub model: Option<String>,
}

#[derive(Default)]
pub(super) struct Steps {
    slots: Vec<Slot>,
    turns: Vec<Turn>,
    by_message: HashMap<String, usize>,
    tool_names: HashMap<String, String>,
    /// The sub-agent trajectory each Task call started (tool_use id -> trajectory id).
    pub children: HashMap<String, String>,
    /// Per API message, in order of first appearance.
    pub usage: Vec<Usage>,
    usage_index: HashMap<String, usize>,
    /// `compactMetadata` of the last compaction boundary, for the summary step after it.
    pending_compaction: Option<Value>,
    pub errors: Vec<(u64, RecordError)>,
}

/// The keys of a line that are its own (not the session's, not the message).
fn line_extras(obj: &Map<String, Value>, skip: &[&str]) -> Map<String, Value> {
    obj.iter()
        .filter(|(k, v)| {
            !v.is_null() && k.as_str() != "type" && k.as_str() != "message" && !SESSION_KEYS.contains(&k.as_str())
        })
        .filter(|(k, _)| !skip.contains(&k.as_str()))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

fn message_of(obj: &Map<String, Value>) -> Result<&Map<String, Value>, RecordError> {
    match obj.get("message") {
        Some(Value::Object(m)) => Ok(m),
        Some(other) => Err(RecordError::new("message", format!("expected an object, found {}", kind(other)))),
        None => Err(RecordError::new("message", "missing")),
    }
}

fn merge(step: &mut Map<String, Value>, extras: Map<String, Value>) {
    for (k, v) in extras {
        step.entry(k).or_insert(v);
    }
}

impl Steps {
    /// Adds one line: a user or assistant line gives steps; a compaction boundary is
    /// remembered for the summary that follows it. Returns false for the other lines.
    pub(super) fn add(&mut self, e: &Entry) -> bool {
        let result = match text(&e.obj, "type") {
            Some("user") => self.user_line(&e.obj),
            Some("assistant") => self.assistant_line(&e.obj),
            Some("system") if text(&e.obj, "subtype") == Some("compact_boundary") => {
                self.pending_compaction = e.obj.get("compactMetadata").cloned().or(Some(json!({})));
                return false;
            }
            _ => return false,
        };
        if let Err(err) = result {
            self.errors.push((e.line, err));
        }
        true
    }

    fn user_line(&mut self, obj: &Map<String, Value>) -> Result<(), RecordError> {
        let msg = message_of(obj)?;
        let mut produced: Vec<Map<String, Value>> = Vec::new();
        match msg.get("content").unwrap_or(&Value::Null) {
            c @ (Value::String(_) | Value::Null) => produced.push(message("user", c.clone())),
            Value::Array(blocks) => {
                let mut text_blocks = Vec::new();
                for (i, b) in blocks.iter().enumerate() {
                    if b.get("type").and_then(Value::as_str) != Some("tool_result") {
                        text_blocks.push(b.clone());
                        continue;
                    }
                    if !text_blocks.is_empty() {
                        produced.push(message("user", content(&Value::Array(std::mem::take(&mut text_blocks)))));
                    }
                    produced.push(self.tool_step(b, i)?);
                }
                if !text_blocks.is_empty() {
                    produced.push(message("user", content(&Value::Array(text_blocks))));
                }
            }
            other => {
                let found = kind(other);
                return Err(RecordError::new("message.content", format!("expected a string or blocks, found {found}")));
            }
        }
        let Some(first) = produced.first_mut() else { return Ok(()) };
        merge(first, line_extras(obj, &[]));
        merge(first, line_extras(msg, &["role", "content"]));
        let is_user = first.get("role").and_then(Value::as_str) == Some("user");
        let opening = first.get("content").map(plain_text).unwrap_or_default();
        let summary = obj.get("isCompactSummary") == Some(&Value::Bool(true)) || opening.starts_with(CONTINUED);
        if summary && is_user {
            first.insert("is_compaction_summary".into(), Value::Bool(true));
            if let Some(meta) = self.pending_compaction.take() {
                first.insert("compact_metadata".into(), meta);
            }
        }
        self.slots.extend(produced.into_iter().map(Slot::Done));
        Ok(())
    }

    fn tool_step(&self, block: &Value, i: usize) -> Result<Map<String, Value>, RecordError> {
        let b =
            block.as_object().ok_or_else(|| RecordError::new(format!("message.content[{i}]"), "expected an object"))?;
        let id = b.get("tool_use_id").and_then(as_id);
        let name = id.as_ref().and_then(|id| self.tool_names.get(id)).map(String::as_str);
        let mut step = observation(id.clone(), name, content(b.get("content").unwrap_or(&Value::Null)));
        for (k, v) in b {
            if !matches!(k.as_str(), "type" | "tool_use_id" | "content") && !v.is_null() {
                step.entry(k.clone()).or_insert_with(|| v.clone());
            }
        }
        Ok(step)
    }

    fn turn_for(&mut self, id: Option<&String>) -> usize {
        if let Some(&t) = id.and_then(|id| self.by_message.get(id)) {
            return t;
        }
        self.turns.push(Turn::default());
        let t = self.turns.len() - 1;
        self.slots.push(Slot::Turn(t));
        if let Some(id) = id {
            self.by_message.insert(id.clone(), t);
        }
        t
    }

    fn assistant_line(&mut self, obj: &Map<String, Value>) -> Result<(), RecordError> {
        let msg = message_of(obj)?;
        let blocks = match msg.get("content") {
            Some(Value::Array(b)) => b.clone(),
            Some(Value::String(s)) => vec![json!({"type": "text", "text": s})],
            None | Some(Value::Null) => Vec::new(),
            Some(other) => {
                let found = kind(other);
                return Err(RecordError::new("message.content", format!("expected a list of blocks, found {found}")));
            }
        };
        // Every block is checked before any is taken: a bad line adds nothing.
        let blocks = blocks
            .iter()
            .enumerate()
            .map(|(i, b)| {
                b.as_object().ok_or_else(|| RecordError::new(format!("message.content[{i}]"), "expected an object"))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let id = msg.get("id").and_then(as_id);
        self.count_usage(id.as_ref(), obj, msg);
        let t = self.turn_for(id.as_ref());
        for b in blocks {
            self.block(t, b);
        }
        let turn = &mut self.turns[t];
        // The last line holds the final usage and stop reason; the rest keep the first line's.
        for key in ["usage", "stop_reason"] {
            if let Some(v) = msg.get(key).filter(|v| !v.is_null()) {
                turn.extras.insert(key.into(), v.clone());
            }
        }
        if let Some(id) = id {
            turn.extras.insert("message_id".into(), Value::String(id));
        }
        merge(&mut turn.extras, line_extras(msg, &["id", "role", "content", "type"]));
        if let Some(uuid) = obj.get("uuid").filter(|u| !u.is_null()) {
            turn.uuids.push(uuid.clone());
        }
        merge(&mut turn.extras, line_extras(obj, &[]));
        Ok(())
    }

    fn block(&mut self, t: usize, b: &Map<String, Value>) {
        let turn = &mut self.turns[t];
        match b.get("type").and_then(Value::as_str) {
            Some("thinking") => {
                turn.reasoning.push(b.get("thinking").map(plain_text).unwrap_or_default());
                if let Some(sig) = b.get("signature").filter(|s| !s.is_null()) {
                    turn.signatures.push(sig.clone());
                }
            }
            Some("redacted_thinking") => turn.redacted.push(b.get("data").cloned().unwrap_or(Value::Null)),
            Some("tool_use") => {
                let id = b.get("id").unwrap_or(&Value::Null);
                let mut call = tool_call(
                    id,
                    b.get("name").unwrap_or(&Value::Null),
                    b.get("input").unwrap_or(&Value::Null),
                    Some(b),
                    &["id", "name", "input", "type"],
                );
                if let (Some(id), Some(name)) = (as_id(id), b.get("name").and_then(Value::as_str)) {
                    self.tool_names.insert(id.clone(), name.to_string());
                    if let (Some(child), Some(c)) = (self.children.get(&id), call.as_object_mut()) {
                        c.insert("child_trajectory_id".into(), Value::String(child.clone()));
                    }
                }
                self.turns[t].calls.push(call);
            }
            _ => turn.blocks.push(Value::Object(b.clone())),
        }
    }

    fn count_usage(&mut self, id: Option<&String>, obj: &Map<String, Value>, msg: &Map<String, Value>) {
        let i = match id.and_then(|id| self.usage_index.get(id)) {
            Some(&i) => i,
            None => {
                self.usage.push(Usage::default());
                if let Some(id) = id {
                    self.usage_index.insert(id.clone(), self.usage.len() - 1);
                }
                self.usage.len() - 1
            }
        };
        let u = &mut self.usage[i];
        if let Some(Value::Object(usage)) = msg.get("usage") {
            u.usage = Some(usage.clone());
        }
        if let Some(cost) = obj.get("costUSD").and_then(Value::as_f64) {
            u.cost = Some(cost);
        }
        if let Some(model) = text(msg, "model") {
            u.model = Some(model.to_string());
        }
    }

    /// The native steps, each assistant turn finished.
    pub(super) fn finish(self) -> Vec<Value> {
        let mut turns: Vec<Option<Turn>> = self.turns.into_iter().map(Some).collect();
        self.slots
            .into_iter()
            .filter_map(|s| match s {
                Slot::Done(m) => Some(Value::Object(m)),
                Slot::Turn(t) => turns[t].take().map(finish_turn),
            })
            .collect()
    }
}

/// Text blocks only: their text joined (one block: as it is). Anything else (images,
/// server tool blocks): the list of blocks.
fn turn_content(blocks: Vec<Value>) -> Value {
    if blocks.is_empty() {
        return Value::Null;
    }
    if blocks.iter().all(|b| b.get("type").and_then(Value::as_str) == Some("text")) {
        let texts: Vec<String> = blocks.iter().map(|b| b.get("text").map(plain_text).unwrap_or_default()).collect();
        return Value::String(texts.join("\n\n"));
    }
    content(&Value::Array(blocks))
}

fn finish_turn(turn: Turn) -> Value {
    let mut step = message("assistant", turn_content(turn.blocks));
    if !turn.calls.is_empty() {
        step.insert("tool_calls".into(), Value::Array(turn.calls));
    }
    // Newer versions write thinking blocks whose text is withheld (empty, signature only).
    let reasoning: Vec<String> = turn.reasoning.into_iter().filter(|r| !r.is_empty()).collect();
    if !reasoning.is_empty() {
        step.insert("reasoning_content".into(), Value::String(reasoning.join("\n\n")));
    }
    if !turn.signatures.is_empty() {
        step.insert("thinking_signatures".into(), Value::Array(turn.signatures));
    }
    if !turn.redacted.is_empty() {
        step.insert("redacted_thinking".into(), Value::Array(turn.redacted));
    }
    if turn.uuids.len() > 1 {
        step.insert("uuids".into(), Value::Array(turn.uuids));
    }
    merge(&mut step, turn.extras);
    Value::Object(step)
}
