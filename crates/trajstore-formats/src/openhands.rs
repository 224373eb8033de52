//! OpenHands evaluation outputs (`output.jsonl`): one run a line, `{instance_id |
//! question_id | id, instruction, metadata: {agent_class, llm_config: {model} |
//! model_name}, history: [events] | [[action, observation], ...], metrics, error,
//! test_result, ...}`; and a bare JSON list of events (one run, as in its test data).
//!
//! An event is an action (`{source, action, args, message, tool_call_metadata}`) or an
//! observation (`{source, observation, content, cause, extras}`); older files put the
//! args at the top level. Messages become user/assistant/system steps, other actions
//! assistant tool calls (named by the action, arguments = args), observations tool steps
//! answering the call whose id they carry, or the event that caused them.

use serde_json::{Map, Value};

use crate::normalize::{
    as_id, at_index, at_line, content, json_lines, message, object, observation, plain_text, pointer, tool_call,
    Context,
};
use crate::usage::{amount, count, Usage};
use crate::{Converted, FormatError, RecordError};

pub fn convert(ctx: &mut Context<'_>, file: &crate::SourceFile<'_>) -> Result<Vec<Converted>, FormatError> {
    let first = file.bytes.iter().find(|b| !b.is_ascii_whitespace());
    if first == Some(&b'[') {
        let doc = ctx.document()?;
        let events = doc.as_array().map(Vec::as_slice).unwrap_or(&[]);
        let record = events_record(ctx, events, None, 0);
        return Ok(vec![at_index(0, record)]);
    }
    Ok(json_lines(file.bytes)
        .into_iter()
        .map(|(line, row)| at_line(line, row.and_then(|r| run(ctx, line, &r))))
        .collect())
}

/// Keys of an event that are not its arguments (older events inline their args).
const EVENT_KEYS: &[&str] = &[
    "id",
    "timestamp",
    "source",
    "message",
    "action",
    "observation",
    "args",
    "content",
    "cause",
    "extras",
    "tool_call_metadata",
    "llm_metrics",
    "thought",
    "timeout",
];

fn event_step(event: &Value, position: usize, steps: &mut Vec<Value>) {
    let Some(e) = event.as_object() else {
        if let Value::Array(pair) = event {
            pair.iter().for_each(|ev| event_step(ev, position, steps));
        }
        return;
    };
    let source = e.get("source").and_then(Value::as_str);
    let call_id = event.pointer("/tool_call_metadata/tool_call_id").and_then(as_id);
    let mut step = if let Some(action) = e.get("action").and_then(Value::as_str) {
        action_step(event, e, action, position, call_id.as_deref())
    } else if let Some(kind) = e.get("observation").and_then(Value::as_str) {
        let body = e.get("content").cloned().unwrap_or(Value::Null);
        // A "null" observation only acknowledges a message; it says nothing.
        if kind == "null" && plain_text(&body).is_empty() {
            return;
        }
        let answers = call_id.clone().or_else(|| e.get("cause").and_then(as_id).map(|c| format!("event-{c}")));
        let mut s = observation(answers, Some(kind), content(&body));
        if e.get("args").is_none() {
            for (k, v) in e.iter().filter(|(k, _)| !EVENT_KEYS.contains(&k.as_str())) {
                s.insert(k.clone(), v.clone());
            }
        }
        s
    } else {
        message(
            if source == Some("user") { "user" } else { "assistant" },
            content(e.get("message").or_else(|| e.get("content")).unwrap_or(&Value::Null)),
        )
    };
    for key in ["id", "timestamp", "source", "cause", "extras", "args", "tool_call_metadata", "llm_metrics", "timeout"]
    {
        if let Some(v) = e.get(key).filter(|v| !v.is_null()) {
            let name = if key == "id" { "event_id" } else { key };
            step.entry(name.to_string()).or_insert_with(|| v.clone());
        }
    }
    steps.push(Value::Object(step));
}

/// An action event: a system or chat message, or a tool call (with the thought before it).
fn action_step(
    event: &Value,
    e: &Map<String, Value>,
    action: &str,
    position: usize,
    call_id: Option<&str>,
) -> Map<String, Value> {
    let source = e.get("source").and_then(Value::as_str);
    let args: Map<String, Value> = match e.get("args") {
        Some(Value::Object(a)) => a.clone(),
        _ => e.iter().filter(|(k, _)| !EVENT_KEYS.contains(&k.as_str())).map(|(k, v)| (k.clone(), v.clone())).collect(),
    };
    let text =
        args.get("content").or_else(|| e.get("content")).or_else(|| e.get("message")).cloned().unwrap_or(Value::Null);
    match action {
        "system" => message("system", content(&text)),
        "message" => {
            let role = match source {
                Some("user") => "user",
                Some(_) => "assistant",
                // Old events carry no source: the first message is the task.
                None if position == 0 => "user",
                None => "assistant",
            };
            message(role, content(&text))
        }
        _ => {
            let thought =
                args.get("thought").or_else(|| e.get("thought")).filter(|t| t.as_str().is_some_and(|s| !s.is_empty()));
            let mut s =
                message("assistant", thought.cloned().or_else(|| e.get("message").cloned()).unwrap_or(Value::Null));
            let id = call_id
                .map(|c| Value::String(c.to_string()))
                .or_else(|| e.get("id").and_then(as_id).map(|i| Value::String(format!("event-{i}"))))
                .unwrap_or(Value::Null);
            let name = event
                .pointer("/tool_call_metadata/function_name")
                .cloned()
                .unwrap_or_else(|| Value::String(action.to_string()));
            let mut call_args = args.clone();
            call_args.remove("thought");
            s.insert(
                "tool_calls".into(),
                Value::Array(vec![tool_call(&id, &name, &Value::Object(call_args), None, &[])]),
            );
            s.insert("action".into(), Value::String(action.to_string()));
            s
        }
    }
}

/// OpenHands' running totals: the row's `metrics`, else the last event's `llm_metrics`
/// (each event's are cumulative): `accumulated_token_usage.prompt_tokens` /
/// `completion_tokens` and `accumulated_cost`.
fn run_usage(row: Option<&Map<String, Value>>, events: &[Value]) -> Usage {
    let last_event =
        events.iter().rev().find_map(|e| e.get("llm_metrics").or_else(|| e.get(0).and_then(|a| a.get("llm_metrics"))));
    let Some(m) = row.and_then(|r| r.get("metrics")).filter(|m| m.is_object()).or(last_event) else {
        return Usage::default();
    };
    let tokens = |k: &str| m.get("accumulated_token_usage").and_then(|t| t.get(k)).and_then(count);
    Usage {
        input: tokens("prompt_tokens"),
        output: tokens("completion_tokens"),
        cost: m.get("accumulated_cost").and_then(amount),
    }
}

fn events_record(
    ctx: &mut Context<'_>,
    events: &[Value],
    row: Option<&Map<String, Value>>,
    line: u64,
) -> Result<Value, RecordError> {
    let mut steps = Vec::new();
    for (i, e) in events.iter().enumerate() {
        event_step(e, i, &mut steps);
    }
    let row_id = row.and_then(|r| ["instance_id", "question_id", "id"].iter().find_map(|k| r.get(*k).and_then(as_id)));
    let mut b =
        ctx.new_record(&[row_id.clone().unwrap_or_else(|| if line > 0 { format!("line{line}") } else { "0".into() })]);
    if let Some(id) = &row_id {
        b.set("data_id", Value::String(id.clone()));
    }
    let meta = row.and_then(|r| r.get("metadata"));
    b.set_id("agent_name", meta.and_then(|m| m.get("agent_class")).unwrap_or(&Value::Null));
    let model = meta
        .and_then(|m| m.pointer("/llm_config/model").or_else(|| m.get("model_name")))
        .cloned()
        .unwrap_or(Value::Null);
    b.model(&model).meta("model", model).usage(&run_usage(row, events));
    let issue_text = row.and_then(|r| r.get("issue")).map(|i| {
        Value::String(
            [i.get("title"), i.get("body")].into_iter().flatten().map(plain_text).collect::<Vec<_>>().join("\n\n"),
        )
    });
    let question = row
        .and_then(|r| r.get("instruction").filter(|v| !v.is_null()).cloned())
        .or(issue_text)
        .or_else(|| steps.iter().find(|s| s["role"] == "user").map(|s| Value::String(plain_text(&s["content"]))))
        .unwrap_or(Value::Null);
    b.question(&question);
    // The success label differs by benchmark; the first one present is taken.
    let label = row.and_then(|r| {
        pointer(r, "/test_result/result")
            .and_then(Value::as_bool)
            .or_else(|| pointer(r, "/test_result/report/resolved").and_then(Value::as_bool))
            .or_else(|| r.get("correct").and_then(Value::as_bool))
            .or_else(|| r.get("success").and_then(Value::as_bool))
    });
    if let Some(ok) = label {
        b.set_bool("is_success", Some(ok));
        b.set("reward", Value::from(if ok { 1.0 } else { 0.0 }));
    }
    let error = row.and_then(|r| r.get("error")).filter(|e| !e.is_null() && e.as_str() != Some(""));
    let finished = steps.iter().any(|s| s["action"] == "finish");
    let termination = if error.is_some() {
        Some("error")
    } else if finished {
        Some("finish")
    } else {
        None
    };
    b.set("termination_reason", termination.map(|t| Value::String(t.into())).unwrap_or(Value::Null));
    if let Some(t) =
        events.iter().find_map(|e| e.get("timestamp").or_else(|| e.get(0).and_then(|a| a.get("timestamp"))))
    {
        b.created_at(t);
    }
    if let Some(r) = row {
        b.meta_rest(r, &["history", "instruction", "metadata"]);
        b.meta("run_metadata", meta.cloned().unwrap_or(Value::Null));
    }
    b.steps(steps);
    Ok(b.finish())
}

fn run(ctx: &mut Context<'_>, line: u64, row: &Value) -> Result<Value, RecordError> {
    let obj = object(row)?;
    let events = match obj.get("history") {
        Some(Value::Array(h)) => h.as_slice(),
        Some(Value::Null) | None => &[],
        Some(_) => return Err(RecordError::new("history", "expected a list of events")),
    };
    events_record(ctx, events, Some(obj), line)
}
