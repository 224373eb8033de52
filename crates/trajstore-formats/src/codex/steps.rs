//! The steps of a Codex session, from its `response_item` and `compacted` lines.
//!
//! Items the model produced in one go (reasoning, an assistant message, tool calls) make one
//! assistant step: reasoning summaries go to `reasoning_content`, the message to `content`,
//! calls to `tool_calls`. Each call output is a `tool` step answering its call by `call_id`.
//! `event_msg` lines only add to steps what the items lack (a patch's per-file changes, an
//! MCP call's duration): they never make steps of their own.

use std::collections::HashMap;

use serde_json::{json, Map, Value};

use crate::normalize::{as_id, content, message, observation, plain_text, tool_call};

use super::Line;

/// What the steps pass give the session: the steps, and what had no place in them.
#[derive(Default)]
pub(crate) struct Steps {
    pub steps: Vec<Value>,
    /// `event_msg` payloads that are neither repeats of items nor read elsewhere.
    pub events: Vec<Value>,
    /// Lines whose `type` this reader does not know, kept whole.
    pub other_lines: Vec<Value>,
    /// See [`Pass::patch`].
    pub patch: Option<String>,
}

/// Events that repeat what the items already hold (or that the session pass reads).
const REPEATS: [&str; 11] = [
    "user_message",
    "agent_message",
    "agent_reasoning",
    "agent_reasoning_raw_content",
    "agent_reasoning_section_break",
    "context_compacted",
    "web_search_end",
    "token_count",
    "task_started",
    "task_complete",
    "turn_aborted",
];

/// Events about one tool call, added to that call's `tool` step under `event`.
const CALL_EVENTS: [&str; 3] = ["patch_apply_end", "mcp_tool_call_end", "exec_command_end"];

/// Keys of a call event that repeat the call's output.
const OUTPUT_REPEATS: [&str; 6] = ["type", "call_id", "stdout", "result", "aggregated_output", "formatted_output"];

#[derive(Default)]
struct Pass {
    out: Steps,
    steps: Vec<Map<String, Value>>,
    /// The assistant step being filled (reasoning, message, calls of one model response).
    open: Option<Map<String, Value>>,
    /// The turn the lines belong to (for items that do not carry their own `turn_id`).
    turn: Option<String>,
    call_names: HashMap<String, String>,
    /// `(turn, call_id, input)` of every apply_patch call.
    patches: Vec<(Option<String>, Option<String>, String)>,
    call_events: Vec<(String, Map<String, Value>)>,
}

pub(crate) fn build(lines: &[Line]) -> Steps {
    let mut pass = Pass::default();
    for line in lines {
        let ts = line.timestamp.as_deref();
        match line.kind.as_str() {
            "session_meta" => {}
            "turn_context" => pass.turn = line.str("turn_id").map(str::to_string).or(pass.turn.take()),
            "event_msg" => pass.event(line),
            "response_item" => pass.item(&line.payload, ts),
            "compacted" => pass.compacted(&line.payload, ts),
            other => {
                let mut kept = Map::new();
                kept.insert("type".into(), Value::String(other.to_string()));
                kept.insert("line".into(), Value::from(line.number));
                kept.insert("timestamp".into(), line.timestamp.clone().map_or(Value::Null, Value::String));
                kept.insert("payload".into(), Value::Object(line.payload.clone()));
                pass.out.other_lines.push(Value::Object(kept));
            }
        }
    }
    pass.close();
    pass.finish()
}

impl Pass {
    fn event(&mut self, line: &Line) {
        let kind = line.payload_type();
        if kind == "task_started" {
            if let Some(t) = line.str("turn_id") {
                self.turn = Some(t.to_string());
            }
        }
        if REPEATS.contains(&kind) {
            return;
        }
        if let (true, Some(id)) = (CALL_EVENTS.contains(&kind), line.payload.get("call_id").and_then(as_id)) {
            self.call_events.push((id, line.payload.clone()));
            return;
        }
        let mut kept = line.payload.clone();
        if let Some(ts) = &line.timestamp {
            kept.insert("timestamp".into(), Value::String(ts.clone()));
        }
        self.out.events.push(Value::Object(kept));
    }

    fn item(&mut self, p: &Map<String, Value>, ts: Option<&str>) {
        let kind = p.get("type").and_then(Value::as_str).unwrap_or("message");
        match kind {
            "reasoning" => self.reasoning(p, ts),
            "message" => self.message(p, ts),
            "function_call" | "custom_tool_call" | "tool_search_call" | "web_search_call" | "local_shell_call" => {
                self.call(kind, p, ts)
            }
            "function_call_output" | "custom_tool_call_output" | "tool_search_output" => self.output(kind, p, ts),
            _ => {
                // Items of kinds this reader does not know stay whole on an assistant step.
                self.close();
                let (rest, turn) = self.rest(p, &[]);
                let mut step = self.new_step("assistant", Value::Null, ts, turn);
                merge(&mut step, rest);
                self.steps.push(step);
            }
        }
    }

    /// The keys of an item that `used` does not name, nulls dropped; its `turn_id` (from
    /// `metadata` or `internal_chat_message_metadata_passthrough`) is taken out and returned.
    fn rest(&self, p: &Map<String, Value>, used: &[&str]) -> (Map<String, Value>, Option<String>) {
        let mut rest = Map::new();
        let mut turn = None;
        for (k, v) in p {
            if used.contains(&k.as_str()) || v.is_null() {
                continue;
            }
            if let ("metadata" | "internal_chat_message_metadata_passthrough", Value::Object(m)) = (k.as_str(), v) {
                turn = turn.or_else(|| m.get("turn_id").and_then(as_id));
                let others: Map<String, Value> =
                    m.iter().filter(|(k, _)| *k != "turn_id").map(|(k, v)| (k.clone(), v.clone())).collect();
                if !others.is_empty() {
                    rest.insert(k.clone(), Value::Object(others));
                }
                continue;
            }
            rest.insert(k.clone(), v.clone());
        }
        (rest, turn.or_else(|| self.turn.clone()))
    }

    fn new_step(&self, role: &str, content_value: Value, ts: Option<&str>, turn: Option<String>) -> Map<String, Value> {
        let mut step = message(role, content_value);
        stamp(&mut step, ts, turn);
        step
    }

    /// The open assistant step, or a new one when `fresh` says the open one is complete.
    fn assistant(&mut self, fresh: bool, ts: Option<&str>, turn: Option<String>) -> &mut Map<String, Value> {
        if fresh {
            self.close();
        }
        if self.open.is_none() {
            self.open = Some(self.new_step("assistant", Value::Null, ts, turn));
        }
        self.open.get_or_insert_with(Map::new)
    }

    fn close(&mut self) {
        if let Some(step) = self.open.take() {
            self.steps.push(step);
        }
    }

    fn reasoning(&mut self, p: &Map<String, Value>, ts: Option<&str>) {
        let (rest, turn) = self.rest(p, &["type", "summary", "content"]);
        let text: Vec<String> =
            ["summary", "content"].iter().filter_map(|k| p.get(*k)).map(plain_text).filter(|t| !t.is_empty()).collect();
        // Reasoning starts a model response: an open step that already said anything is done.
        let fresh = self.open.as_ref().is_some_and(|s| {
            has_content(s) || ["tool_calls", "reasoning_content", "reasoning"].iter().any(|k| s.contains_key(*k))
        });
        let step = self.assistant(fresh, ts, turn);
        if !text.is_empty() {
            step.insert("reasoning_content".into(), Value::String(text.join("\n")));
        }
        if !rest.is_empty() {
            step.insert("reasoning".into(), Value::Object(rest));
        }
    }

    fn message(&mut self, p: &Map<String, Value>, ts: Option<&str>) {
        let role = p.get("role").and_then(Value::as_str).unwrap_or("user");
        let (rest, turn) = self.rest(p, &["type", "role", "content"]);
        let body = blocks(p.get("content").unwrap_or(&Value::Null));
        if role == "assistant" {
            let fresh = self.open.as_ref().is_some_and(|s| has_content(s) || s.contains_key("tool_calls"));
            let step = self.assistant(fresh, ts, turn);
            step.insert("content".into(), body);
            merge(step, rest);
            return;
        }
        self.close();
        let injected = role == "user" && is_injected(&body);
        let mut step = self.new_step(role, body, ts, turn);
        if injected {
            step.insert("injected".into(), Value::Bool(true));
        }
        merge(&mut step, rest);
        self.steps.push(step);
    }

    fn call(&mut self, kind: &str, p: &Map<String, Value>, ts: Option<&str>) {
        let get = |k: &str| p.get(k).cloned().unwrap_or(Value::Null);
        let (name, args, used): (Value, Value, &[&str]) = match kind {
            "function_call" => (get("name"), get("arguments"), &["type", "name", "arguments", "call_id", "id"]),
            "custom_tool_call" => {
                (get("name"), json!({"input": get("input")}), &["type", "name", "input", "call_id", "id"])
            }
            "tool_search_call" => ("tool_search".into(), get("arguments"), &["type", "arguments", "call_id", "id"]),
            "web_search_call" => ("web_search".into(), get("action"), &["type", "action", "call_id", "id"]),
            _ => ("local_shell".into(), get("action"), &["type", "action", "call_id", "id"]),
        };
        let (mut rest, turn) = self.rest(p, used);
        if let Some(item_id) = p.get("id").filter(|v| !v.is_null()) {
            rest.insert("item_id".into(), item_id.clone());
        }
        if kind != "function_call" {
            rest.insert("type".into(), Value::String(kind.to_string()));
        }
        let call_id = p.get("call_id").and_then(as_id);
        let call = tool_call(p.get("call_id").unwrap_or(&Value::Null), &name, &args, Some(&rest), &[]);
        if let (Some(id), Some(n)) = (&call_id, name.as_str()) {
            self.call_names.insert(id.clone(), n.to_string());
        }
        if name == "apply_patch" {
            if let Some(input) = call["arguments"].get("input").and_then(Value::as_str) {
                self.patches.push((turn.clone(), call_id, input.to_string()));
            }
        }
        let step = self.assistant(false, ts, turn);
        match step.get_mut("tool_calls") {
            Some(Value::Array(calls)) => calls.push(call),
            _ => {
                step.insert("tool_calls".into(), Value::Array(vec![call]));
            }
        }
    }

    fn output(&mut self, kind: &str, p: &Map<String, Value>, ts: Option<&str>) {
        self.close();
        let id = p.get("call_id").and_then(as_id);
        let (body, used): (Value, &[&str]) = match kind {
            // The tools a search found are definitions, not text: shown as their JSON.
            "tool_search_output" => {
                (Value::String(p.get("tools").map(Value::to_string).unwrap_or_default()), &["type", "call_id", "tools"])
            }
            _ => (blocks(p.get("output").unwrap_or(&Value::Null)), &["type", "call_id", "output"]),
        };
        let (mut rest, turn) = self.rest(p, used);
        if kind != "function_call_output" {
            rest.insert("type".into(), Value::String(kind.to_string()));
        }
        let name = id.as_ref().and_then(|i| self.call_names.get(i)).cloned();
        let mut step = observation(id, name.as_deref(), body);
        stamp(&mut step, ts, turn);
        merge(&mut step, rest);
        self.steps.push(step);
    }

    /// A `compacted` line: the context was replaced by `replacement_history` (earlier user
    /// messages and an encrypted summary). A system step marks the place, keeping it all.
    fn compacted(&mut self, p: &Map<String, Value>, ts: Option<&str>) {
        self.close();
        let body = p.get("message").filter(|m| m.as_str().is_some_and(|s| !s.is_empty())).cloned();
        let (rest, turn) = self.rest(p, &["message"]);
        let mut step = self.new_step("system", body.unwrap_or(Value::Null), ts, turn);
        step.insert("type".into(), Value::String("compacted".into()));
        merge(&mut step, rest);
        self.steps.push(step);
    }

    fn finish(mut self) -> Steps {
        let mut by_call: HashMap<String, usize> = HashMap::new();
        for (i, s) in self.steps.iter().enumerate() {
            if let Some(id) = s.get("tool_call_id").and_then(Value::as_str) {
                by_call.entry(id.to_string()).or_insert(i);
            }
        }
        let mut failed_patches = Vec::new();
        for (id, payload) in std::mem::take(&mut self.call_events) {
            if payload.get("type").and_then(Value::as_str) == Some("patch_apply_end")
                && payload.get("success") == Some(&Value::Bool(false))
            {
                failed_patches.push(id.clone());
            }
            match by_call.get(&id) {
                Some(&i) => {
                    let kept: Map<String, Value> = payload
                        .iter()
                        .filter(|(k, v)| !OUTPUT_REPEATS.contains(&k.as_str()) && !v.is_null())
                        .map(|(k, v)| (k.clone(), v.clone()))
                        .collect();
                    let mut event = Map::new();
                    event.insert(
                        payload.get("type").and_then(Value::as_str).unwrap_or("event").to_string(),
                        Value::Object(kept),
                    );
                    self.steps[i].insert("event".into(), Value::Object(event));
                }
                None => self.out.events.push(Value::Object(payload)),
            }
        }
        self.out.patch = self.patch(&failed_patches);
        self.out.steps = self.steps.into_iter().map(Value::Object).collect();
        self.out
    }

    /// `metadata.patch`: the apply_patch inputs of the last turn that applied any patch, in
    /// order, joined by newlines, leaving out those Codex reported as failed. A session edits
    /// over many turns; the last one's patch is the final edit the agent made.
    fn patch(&self, failed: &[String]) -> Option<String> {
        let applied: Vec<&(Option<String>, Option<String>, String)> =
            self.patches.iter().filter(|(_, id, _)| id.as_ref().is_none_or(|id| !failed.contains(id))).collect();
        let last_turn = &applied.last()?.0;
        let inputs: Vec<&str> =
            applied.iter().filter(|(t, _, _)| t == last_turn).map(|(_, _, input)| input.as_str()).collect();
        Some(inputs.join("\n"))
    }
}

fn has_content(step: &Map<String, Value>) -> bool {
    step.get("content").is_some_and(|c| !c.is_null())
}

fn stamp(step: &mut Map<String, Value>, ts: Option<&str>, turn: Option<String>) {
    if let Some(ts) = ts {
        step.insert("timestamp".into(), Value::String(ts.to_string()));
    }
    if let Some(turn) = turn {
        step.insert("turn_id".into(), Value::String(turn));
    }
}

/// Adds an item's other keys to its step, never over a key the step already has.
fn merge(step: &mut Map<String, Value>, rest: Map<String, Value>) {
    for (k, v) in rest {
        step.entry(k).or_insert(v);
    }
}

/// Codex content as native blocks: `input_text` / `output_text` become `text` blocks and
/// `input_image` an `image_url` block (what OpenAI chat messages use); others stay.
pub(crate) fn blocks(value: &Value) -> Value {
    let Value::Array(items) = value else {
        return content(value);
    };
    let converted = items
        .iter()
        .map(|item| {
            let Some(obj) = item.as_object() else { return item.clone() };
            let mut block = obj.clone();
            match obj.get("type").and_then(Value::as_str) {
                Some("input_text" | "output_text") => {
                    block.insert("type".into(), Value::String("text".into()));
                }
                Some("input_image") => {
                    block.insert("type".into(), Value::String("image_url".into()));
                    let mut image = Map::new();
                    for key in ["image_url", "detail"] {
                        if let Some(v) = block.remove(key).filter(|v| !v.is_null()) {
                            image.insert(if key == "image_url" { "url".into() } else { key.into() }, v);
                        }
                    }
                    block.insert("image_url".into(), Value::Object(image));
                }
                _ => {}
            }
            Value::Object(block)
        })
        .collect();
    content(&Value::Array(converted))
}

/// True for a user message Codex wrote itself (AGENTS.md, environment context, a skill, a
/// note that the user interrupted a turn), not the user: all of its text blocks are either
/// `# AGENTS.md instructions for ...` or wrapped in one `<tag>...</tag>`.
pub(crate) fn is_injected(body: &Value) -> bool {
    let texts: Vec<&str> = match body {
        Value::String(s) => vec![s.as_str()],
        Value::Array(items) => items.iter().filter_map(|b| b.get("text").and_then(Value::as_str)).collect(),
        _ => vec![],
    };
    !texts.is_empty() && texts.iter().all(|t| is_context_text(t))
}

fn is_context_text(text: &str) -> bool {
    let t = text.trim();
    if t.starts_with("# AGENTS.md instructions for ") {
        return true;
    }
    let Some(inner) = t.strip_prefix('<') else { return false };
    let Some(end) = inner.find('>') else { return false };
    let tag = &inner[..end];
    !tag.is_empty()
        && tag.bytes().all(|b| b.is_ascii_lowercase() || b == b'_' || b == b'-')
        && t.ends_with(&format!("</{tag}>"))
}
