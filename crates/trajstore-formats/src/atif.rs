//! ATIF, the Agent Trajectory Interchange Format (v1.x, the `atif` package's pydantic
//! models): `{schema_version: "ATIF-v1.8", session_id, trajectory_id?, agent: {name,
//! version, model_name, tool_definitions, extra}, steps: [{step_id, timestamp, source:
//! system|user|agent, message, reasoning_content, model_name, tool_calls: [{tool_call_id,
//! function_name, arguments}], observation: {results: [{source_call_id, content}]},
//! metrics, extra}], notes, final_metrics, extra}`. ATIF has no reward field.
//!
//! Reading: one document, a list of them, or one per line. An agent step becomes an
//! assistant step, each of its observation results a tool step.
//!
//! Writing ([`native_to_atif`]): the reverse; the native fields ATIF has no place for
//! (reward, is_success, task, ...) go to the root `extra.trajstore`, and reading such a
//! document back restores them, trajectory id included.

use serde_json::{json, Map, Value};
use trajstore_model::{parse_timestamp, Trajectory};

use crate::normalize::{
    as_id, at_index, at_line, content, json_lines, message, object, observation, plain_text, tool_call, Context,
};
use crate::usage::{amount, count, Usage};
use crate::{Converted, FormatError, RecordError};

/// Marks a system step that `native_to_atif` made only to hold tool results.
const PLACEHOLDER: &str = "trajstore_placeholder";

/// The ATIF version written by [`native_to_atif`].
pub const ATIF_VERSION: &str = "ATIF-v1.8";

pub fn convert(ctx: &mut Context<'_>, file: &crate::SourceFile<'_>) -> Result<Vec<Converted>, FormatError> {
    if let Ok(doc) = serde_json::from_slice::<Value>(file.bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(file.bytes)) {
        return Ok(match doc {
            Value::Array(items) => {
                items.iter().enumerate().map(|(i, d)| at_index(i, document(ctx, &format!("#{i}"), d))).collect()
            }
            one => vec![at_index(0, document(ctx, "0", &one))],
        });
    }
    Ok(json_lines(file.bytes)
        .into_iter()
        .map(|(line, d)| at_line(line, d.and_then(|d| document(ctx, &format!("line{line}"), &d))))
        .collect())
}

/// ATIF content (a string or a list of content parts) as native content.
fn atif_content(v: &Value) -> Value {
    content(v)
}

pub(crate) fn document(ctx: &mut Context<'_>, position: &str, value: &Value) -> Result<Value, RecordError> {
    let obj = object(value)?;
    let atif_steps = obj
        .get("steps")
        .and_then(Value::as_array)
        .ok_or_else(|| RecordError::new("steps", "expected a list of steps"))?;
    let mut steps = Vec::new();
    for (i, s) in atif_steps.iter().enumerate() {
        native_steps(i, s, &mut steps)?;
    }
    let saved = value.pointer("/extra/trajstore").and_then(Value::as_object);
    let id = match saved.and_then(|t| t.get("trajectory_id")).and_then(as_id) {
        // A document trajstore wrote: the record gets its own id back.
        Some(original) => original,
        None => {
            let source_id = ["trajectory_id", "session_id"].iter().find_map(|k| obj.get(*k).and_then(as_id));
            ctx.id(&[source_id.unwrap_or_else(|| position.to_string())])
        }
    };
    let mut b = ctx.record(id);
    let agent = obj.get("agent").and_then(Value::as_object);
    let model = agent.and_then(|a| a.get("model_name")).cloned().unwrap_or(Value::Null);
    if saved.is_none() {
        b.set_id("agent_name", agent.and_then(|a| a.get("name")).unwrap_or(&Value::Null));
        b.model(&model).usage(&usage(obj, atif_steps));
    }
    b.meta("model", model);
    if let Some(n) = obj.get("notes").filter(|n| n.is_string()) {
        b.set("notes", n.clone());
    }
    let mut extra = obj.get("extra").and_then(Value::as_object).cloned().unwrap_or_default();
    extra.remove("trajstore");
    if let Some(saved) = saved {
        for (k, v) in saved {
            match k.as_str() {
                "trajectory_id" | "steps" | "step_count" => {}
                "metadata" => {
                    for (mk, mv) in v.as_object().into_iter().flatten() {
                        b.meta(mk, mv.clone());
                    }
                }
                "task" => {
                    for (tk, tv) in v.as_object().into_iter().flatten() {
                        b.task(tk, tv.clone());
                    }
                }
                _ => {
                    b.set(k, v.clone());
                }
            }
        }
    } else if let Some(first_user) = steps.iter().find(|s| s["role"] == "user") {
        b.question(&Value::String(plain_text(&first_user["content"])));
    }
    if let Some(a) = agent {
        b.meta("agent", Value::Object(a.clone()));
    }
    if !extra.is_empty() {
        b.meta("atif_extra", Value::Object(extra));
    }
    b.meta_rest(obj, &["steps", "agent", "notes", "extra", "trajectory_id"]);
    b.steps(steps);
    let mut record = b.finish();
    if let (Some(saved), Some(r)) = (saved, record.as_object_mut()) {
        restore_exported(r, saved);
    }
    Ok(record)
}

/// A round trip: the record is what was exported, not an "atif" import of it: its own
/// metadata and source, and only the columns it had at the top level (none filled from
/// the metadata here, which would add fields the exported record did not have).
fn restore_exported(record: &mut Map<String, Value>, saved: &Map<String, Value>) {
    for key in ["metadata", "source", "model", "input_tokens", "output_tokens", "cost"] {
        match saved.get(key) {
            Some(v) => {
                record.insert(key.to_string(), v.clone());
            }
            None => {
                record.remove(key);
            }
        }
    }
}

/// Tokens and cost: the totals of `final_metrics` (`total_prompt_tokens`, cached input
/// included; `total_completion_tokens`; `total_cost_usd`), which are the whole run's,
/// subagents included; each total it leaves out is summed over the steps' `metrics`
/// (`prompt_tokens`, `completion_tokens`, `cost_usd`).
fn usage(obj: &Map<String, Value>, steps: &[Value]) -> Usage {
    let read = |m: &Value, input: &str, output: &str, cost: &str| Usage {
        input: m.get(input).and_then(count),
        output: m.get(output).and_then(count),
        cost: m.get(cost).and_then(amount),
    };
    let total = obj
        .get("final_metrics")
        .map(|m| read(m, "total_prompt_tokens", "total_completion_tokens", "total_cost_usd"))
        .unwrap_or_default();
    let per_step = Usage::sum(
        steps
            .iter()
            .filter_map(|s| s.get("metrics"))
            .map(|m| read(m, "prompt_tokens", "completion_tokens", "cost_usd")),
    );
    total.or(per_step)
}

/// An ATIF tool call as a native one.
fn native_call(c: &Value) -> Value {
    let mut call = tool_call(
        c.get("tool_call_id").unwrap_or(&Value::Null),
        c.get("function_name").unwrap_or(&Value::Null),
        c.get("arguments").unwrap_or(&Value::Null),
        None,
        &[],
    );
    // A call's extra holds what `native_to_atif` could not place: the
    // call's other keys, and arguments that were not an object.
    if let (Some(Value::Object(extra)), Some(obj)) = (c.get("extra"), call.as_object_mut()) {
        for (k, v) in extra {
            if k == "arguments" {
                obj.insert(k.clone(), v.clone());
            } else if k == "trajstore_generated_id" {
                obj.remove("id");
            } else {
                obj.entry(k.clone()).or_insert_with(|| v.clone());
            }
        }
    }
    call
}

/// The native steps of ATIF step `i`: the step itself (an agent step as an assistant
/// step), then a tool step for each of its observation results.
fn native_steps(i: usize, s: &Value, steps: &mut Vec<Value>) -> Result<(), RecordError> {
    let so = s.as_object().ok_or_else(|| RecordError::new(format!("steps[{i}]"), "expected an object"))?;
    let role = match so.get("source").and_then(Value::as_str) {
        Some("agent") => "assistant",
        Some("user") => "user",
        Some("system") => "system",
        _ => return Err(RecordError::new(format!("steps[{i}].source"), "expected system, user or agent")),
    };
    let mut step = message(role, atif_content(so.get("message").unwrap_or(&Value::Null)));
    if let Some(Value::Array(calls)) = so.get("tool_calls") {
        let calls: Vec<Value> = calls.iter().map(native_call).collect();
        if !calls.is_empty() {
            step.insert("tool_calls".into(), Value::Array(calls));
        }
    }
    let mut extra = so.get("extra").and_then(Value::as_object).cloned().unwrap_or_default();
    // `native_to_atif` keeps non-text content and unusual roles in `extra`.
    if let Some(Value::Object(original)) = extra.remove("content") {
        step.insert("content".into(), original.get("value").cloned().unwrap_or(Value::Null));
    }
    if let Some(Value::String(r)) = extra.remove("role") {
        step.insert("role".into(), Value::String(r));
    }
    for (k, v) in so {
        if !matches!(k.as_str(), "source" | "message" | "tool_calls" | "observation" | "extra" | "step_id")
            && !v.is_null()
        {
            step.insert(k.clone(), v.clone());
        }
    }
    // Step-level extras sit on the native step itself, where keys without a native
    // meaning live (and where `native_to_atif` took them from).
    for (k, v) in extra {
        step.entry(k).or_insert(v);
    }
    if step.remove(PLACEHOLDER).is_none() {
        steps.push(Value::Object(step));
    }
    for r in
        so.get("observation").and_then(|o| o.get("results")).and_then(Value::as_array).map(Vec::as_slice).unwrap_or(&[])
    {
        let mut obs = observation(
            r.get("source_call_id").and_then(as_id),
            None,
            atif_content(r.get("content").unwrap_or(&Value::Null)),
        );
        if let Some(Value::Object(extra)) = r.get("extra") {
            for (k, v) in extra {
                match (k.as_str(), v) {
                    // Content ATIF could not hold as text, kept whole by `native_to_atif`.
                    ("content", Value::Object(original)) => {
                        obs.insert(k.clone(), original.get("value").cloned().unwrap_or(Value::Null));
                    }
                    _ => {
                        obs.insert(k.clone(), v.clone());
                    }
                }
            }
        }
        if let Some(refs) = r.get("subagent_trajectory_ref").filter(|v| !v.is_null()) {
            obs.insert("subagent_trajectory_ref".into(), refs.clone());
        }
        steps.push(Value::Object(obs));
    }
    Ok(())
}

/// Text of native content for an ATIF message: strings as they are, text blocks joined.
/// Blocks ATIF cannot hold as text (images, text blocks with more than their text, such as
/// a `cache_control` mark) are also kept whole in the step's extra.
fn message_text(v: &Value) -> (Value, bool) {
    match v {
        Value::String(s) => (Value::String(s.clone()), false),
        // ATIF needs a message; null content is restored from extra on the way back.
        Value::Null => (Value::String(String::new()), true),
        Value::Array(items)
            if items.iter().all(|i| {
                i.as_object().is_some_and(|o| o.len() == 2)
                    && i.get("type").and_then(Value::as_str) == Some("text")
                    && i.get("text").is_some_and(Value::is_string)
            }) =>
        {
            (json!(items.iter().map(|i| json!({"type": "text", "text": i["text"]})).collect::<Vec<_>>()), false)
        }
        other => (Value::String(plain_text(other)), true),
    }
}

fn iso_timestamp(v: &Value) -> Option<String> {
    let s = v.as_str()?;
    // ATIF requires ISO 8601; a native step may hold any text there.
    (parse_timestamp(s).is_some() && s.contains('T')).then(|| s.to_string())
}

/// One native trajectory as an ATIF v1.8 document. Fails when the stored record does
/// not read back as JSON values (steps are kept as their text, unchecked for numbers
/// beyond f64, such as 1e400); it used to become a document with no steps.
pub fn native_to_atif(t: &Trajectory) -> Result<Value, serde_json::Error> {
    let native: Value = serde_json::from_str(&t.to_json())?;
    let steps_in = native.get("steps").and_then(Value::as_array).cloned().unwrap_or_default();
    let mut steps: Vec<Map<String, Value>> = Vec::new();
    for s in &steps_in {
        let role = s.get("role").and_then(Value::as_str).unwrap_or("user");
        if role == "tool" {
            push_tool_result(&mut steps, s);
        } else {
            let step = message_step(s, role, steps.len() + 1);
            steps.push(step);
        }
    }
    let steps: Vec<Value> = steps
        .into_iter()
        .enumerate()
        .map(|(i, mut s)| {
            // step_id comes first for readability; ATIF numbers steps from 1.
            let mut ordered = Map::from_iter([("step_id".to_string(), json!(i + 1))]);
            ordered.append(&mut s);
            Value::Object(ordered)
        })
        .collect();
    let mut saved = native.as_object().cloned().unwrap_or_default();
    saved.remove("steps");
    let mut agent = json!({"name": t.agent_name.clone().unwrap_or_else(|| "unknown".into()), "version": "unknown"});
    if let Some(model) = native.pointer("/metadata/model").and_then(Value::as_str) {
        agent["model_name"] = json!(model);
    }
    let mut doc = json!({
        "schema_version": ATIF_VERSION,
        "session_id": t.trajectory_id,
        "trajectory_id": t.trajectory_id,
        "agent": agent,
        "steps": steps,
        "extra": {"trajstore": saved},
    });
    if let Some(notes) = &t.notes {
        doc["notes"] = json!(notes);
    }
    Ok(doc)
}

/// A tool result: it joins the observation of the agent step that called it.
fn push_tool_result(steps: &mut Vec<Map<String, Value>>, s: &Value) {
    // A tool result joins the observation of the agent step that called it.
    let call_id = s.get("tool_call_id").and_then(as_id);
    let (text, lossy) = message_text(s.get("content").unwrap_or(&Value::Null));
    let mut result = Map::new();
    let mut extra = Map::new();
    let is_placeholder = |p: &Map<String, Value>| p.get("extra").and_then(|e| e.get(PLACEHOLDER)).is_some();
    let last_agent = steps.last_mut().filter(|p| p["source"] == "agent" || is_placeholder(p));
    let matches_call = |p: &Map<String, Value>| {
        call_id.as_ref().is_some_and(|id| {
            p.get("tool_calls")
                .and_then(Value::as_array)
                .is_some_and(|c| c.iter().any(|c| c["tool_call_id"] == id.as_str()))
        })
    };
    let target = match last_agent {
        Some(p) => p,
        None => {
            // A result with no agent step before it hangs on a system step that
            // exists only to hold it, marked so that reading it back drops it.
            steps.push(Map::from_iter([
                ("source".to_string(), json!("system")),
                ("message".to_string(), json!("")),
                ("extra".to_string(), json!({PLACEHOLDER: true})),
            ]));
            steps.last_mut().expect("just pushed")
        }
    };
    if matches_call(target) {
        result.insert("source_call_id".into(), json!(call_id));
    } else if let Some(id) = &call_id {
        extra.insert("tool_call_id".into(), json!(id));
    }
    result.insert("content".into(), text);
    for (k, v) in s.as_object().into_iter().flatten() {
        if !matches!(k.as_str(), "role" | "content" | "tool_call_id") {
            extra.insert(k.clone(), v.clone());
        }
    }
    if lossy {
        extra.insert("content".into(), json!({"value": s.get("content")}));
    }
    if !extra.is_empty() {
        result.insert("extra".into(), Value::Object(extra));
    }
    let obs = target.entry("observation").or_insert_with(|| json!({"results": []}));
    obs["results"].as_array_mut().expect("results is a list").push(Value::Object(result));
}

/// A message of any role but `tool`, as an ATIF step; `step_no` is its number (from 1).
fn message_step(s: &Value, role: &str, step_no: usize) -> Map<String, Value> {
    let source = match role {
        "assistant" => "agent",
        "system" | "developer" => "system",
        _ => "user",
    };
    let (text, lossy) = message_text(s.get("content").unwrap_or(&Value::Null));
    let mut step = Map::from_iter([("source".to_string(), json!(source)), ("message".to_string(), text)]);
    let mut extra = Map::new();
    if lossy {
        extra.insert("content".into(), json!({"value": s.get("content")}));
    }
    if role != "assistant" && role != "system" && role != "user" {
        extra.insert("role".into(), json!(role));
    }
    for (k, v) in s.as_object().into_iter().flatten() {
        match k.as_str() {
            "role" | "content" => {}
            "tool_calls" if source == "agent" => {
                let calls = atif_tool_calls(v, step_no);
                if !calls.is_empty() {
                    step.insert("tool_calls".into(), Value::Array(calls));
                }
            }
            "reasoning_content" if source == "agent" && v.is_string() => {
                step.insert(k.clone(), v.clone());
            }
            "timestamp" if iso_timestamp(v).is_some() => {
                step.insert(k.clone(), v.clone());
            }
            _ => {
                extra.insert(k.clone(), v.clone());
            }
        }
    }
    if !extra.is_empty() {
        step.insert("extra".into(), Value::Object(extra));
    }
    step
}

/// An assistant message's tool calls as ATIF's: arguments an object, an id always
/// (made up and marked when the call had none).
fn atif_tool_calls(v: &Value, step_no: usize) -> Vec<Value> {
    v.as_array()
        .into_iter()
        .flatten()
        .enumerate()
        .map(|(i, c)| {
            let args = c.get("arguments").cloned().unwrap_or(json!({}));
            let mut call = json!({
                "tool_call_id": c.get("id").and_then(as_id).unwrap_or_else(|| format!("call-{step_no}-{i}")),
                "function_name": c.get("name").and_then(Value::as_str).unwrap_or(""),
                "arguments": if args.is_object() { args.clone() } else { json!({}) },
            });
            // ATIF arguments must be an object; a string the model wrote is kept
            // aside, with the call's keys ATIF has no place for.
            let mut extra: Map<String, Value> = c
                .as_object()
                .into_iter()
                .flatten()
                .filter(|(k, _)| !matches!(k.as_str(), "id" | "name" | "arguments"))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect();
            if !args.is_object() {
                extra.insert("arguments".into(), args);
            }
            // ATIF requires an id; one made up here is marked, to be dropped on the way back.
            if c.get("id").and_then(as_id).is_none() {
                extra.insert("trajstore_generated_id".into(), Value::Bool(true));
            }
            if !extra.is_empty() {
                call["extra"] = Value::Object(extra);
            }
            call
        })
        .collect()
}
