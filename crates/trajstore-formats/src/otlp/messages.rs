//! Messages from span attributes: the GenAI JSON values (`gen_ai.input.messages`,
//! `gen_ai.output.messages`, with their typed parts) and the flattened forms
//! (`llm.input_messages.N.message.*` of OpenInference, `gen_ai.prompt.N.*`), as steps.

use serde_json::{json, Map, Value};

use crate::normalize::{any_tool_call, as_id, chat_message, observation, plain_text};
use crate::RecordError;

/// A JSON value held in an attribute as JSON text, or as a structured value.
pub(super) fn json_attr(value: &Value) -> Value {
    match value {
        Value::String(s) => serde_json::from_str(s).unwrap_or_else(|_| value.clone()),
        other => other.clone(),
    }
}

/// Flattened attributes (`llm.input_messages.0.message.role`, `gen_ai.prompt.1.content`)
/// under `prefix` as nested values; maps whose keys are all indexes become lists.
pub(super) fn unflatten(attributes: &Map<String, Value>, prefix: &str) -> Value {
    let mut root = Map::new();
    for (k, v) in attributes {
        let Some(rest) = k.strip_prefix(prefix).and_then(|r| r.strip_prefix('.')) else { continue };
        let mut node = &mut root;
        let parts: Vec<&str> = rest.split('.').collect();
        for (i, part) in parts.iter().enumerate() {
            if i + 1 == parts.len() {
                node.insert((*part).to_string(), v.clone());
            } else {
                let next = node.entry((*part).to_string()).or_insert_with(|| Value::Object(Map::new()));
                if !next.is_object() {
                    *next = Value::Object(Map::new());
                }
                node = next.as_object_mut().expect("just made an object");
            }
        }
    }
    lists(Value::Object(root))
}

fn lists(v: Value) -> Value {
    match v {
        Value::Object(map) => {
            let numbered = !map.is_empty() && map.keys().all(|k| k.parse::<usize>().is_ok());
            if numbered {
                let mut items: Vec<(usize, Value)> =
                    map.into_iter().map(|(k, v)| (k.parse().expect("checked"), lists(v))).collect();
                items.sort_by_key(|(i, _)| *i);
                Value::Array(items.into_iter().map(|(_, v)| v).collect())
            } else {
                Value::Object(map.into_iter().map(|(k, v)| (k, lists(v))).collect())
            }
        }
        other => other,
    }
}

/// One message of any shape the instrumentations emit, as native steps (a GenAI
/// message's tool results become one tool step each).
pub(super) fn steps_of(message: &Value) -> Result<Vec<Value>, RecordError> {
    let Some(obj) = message.as_object() else { return Ok(Vec::new()) };
    // OpenInference: {"message": {"role", "content", "tool_calls": [{"tool_call": ...}]}}
    if let Some(inner) = obj.get("message").filter(|m| m.is_object()) {
        let mut m = inner.as_object().cloned().unwrap_or_default();
        if let Some(Value::Array(calls)) = m.get("tool_calls") {
            let calls = calls.iter().map(|c| c.get("tool_call").cloned().unwrap_or_else(|| c.clone())).collect();
            m.insert("tool_calls".into(), Value::Array(calls));
        }
        if !m.contains_key("content") {
            if let Some(Value::Array(parts)) = m.get("contents") {
                let text: Vec<String> =
                    parts.iter().filter_map(|p| p.pointer("/message_content/text")).map(plain_text).collect();
                m.insert("content".into(), Value::String(text.join("\n")));
            }
        }
        m.remove("contents");
        return Ok(vec![chat_message(&Value::Object(m))?]);
    }
    // GenAI semantic conventions: {"role", "parts": [{"type": "text" | "tool_call" | ...}]}
    if let Some(Value::Array(parts)) = obj.get("parts") {
        return Ok(genai_parts(obj, parts));
    }
    Ok(vec![chat_message(message)?])
}

pub(super) fn genai_parts(obj: &Map<String, Value>, parts: &[Value]) -> Vec<Value> {
    let role = obj.get("role").and_then(Value::as_str).unwrap_or("assistant");
    let mut text = Vec::new();
    let mut reasoning = Vec::new();
    let mut calls = Vec::new();
    let mut results = Vec::new();
    for p in parts {
        match p.get("type").and_then(Value::as_str) {
            Some("text") => text.push(plain_text(p.get("content").unwrap_or(&Value::Null))),
            Some("reasoning") => reasoning.push(plain_text(p.get("content").unwrap_or(&Value::Null))),
            Some("tool_call") => {
                let mut call = p.as_object().cloned().unwrap_or_default();
                call.remove("type");
                calls.push(any_tool_call(&Value::Object(call)));
            }
            Some("tool_call_response") => {
                let response = p.get("response").or_else(|| p.get("result")).unwrap_or(&Value::Null);
                let content = match response {
                    Value::String(s) => Value::String(s.clone()),
                    other => Value::String(other.to_string()),
                };
                let id = p.get("id").and_then(as_id);
                results.push(Value::Object(observation(id, None, content)));
            }
            _ => text.push(plain_text(p.get("content").unwrap_or(p))),
        }
    }
    let mut steps = Vec::new();
    if !text.is_empty() || !calls.is_empty() || !reasoning.is_empty() {
        let content = if text.is_empty() { Value::Null } else { Value::String(text.join("\n")) };
        let mut step = Map::new();
        step.insert("role".into(), Value::String(role.to_string()));
        step.insert("content".into(), content);
        if !calls.is_empty() {
            step.insert("tool_calls".into(), Value::Array(calls));
        }
        if !reasoning.is_empty() {
            step.insert("reasoning_content".into(), Value::String(reasoning.join("\n")));
        }
        if let Some(reason) = obj.get("finish_reason").filter(|v| !v.is_null()) {
            step.insert("finish_reason".into(), reason.clone());
        }
        steps.push(Value::Object(step));
    }
    steps.extend(results);
    steps
}

pub(super) fn messages_from(value: &Value) -> Result<Vec<Value>, RecordError> {
    match json_attr(value) {
        Value::Array(items) => {
            let mut steps = Vec::new();
            for m in &items {
                steps.extend(steps_of(m)?);
            }
            Ok(steps)
        }
        Value::Object(m) => steps_of(&Value::Object(m)),
        Value::String(s) if !s.is_empty() => Ok(vec![json!({"role": "user", "content": s})]),
        _ => Ok(Vec::new()),
    }
}
