//! OpenAI Responses API rollouts, as NeMo Gym writes them: one per line,
//! `{responses_create_params: {input: [...] | "text", tools, ...}, response: {id, model,
//! output: [message | reasoning | function_call | function_call_output ...], status},
//! reward, ...verifier fields}`. `function_call.arguments` is a JSON string, paired with
//! its `function_call_output` by `call_id`.
//!
//! A line that is not JSON (NeMo Gym's `<PLACEHOLDER ROW>`), or a JSON row with neither
//! `responses_create_params` nor `response`, is a per-record error.

use serde_json::{Map, Value};

use crate::normalize::{
    as_id, at_line, content, json_lines, kind, message, object, observation, plain_text, tool_call, Builder, Context,
};
use crate::usage::Usage;
use crate::{Converted, FormatError, RecordError};

pub fn convert(ctx: &mut Context<'_>, file: &crate::SourceFile<'_>) -> Result<Vec<Converted>, FormatError> {
    Ok(json_lines(file.bytes)
        .into_iter()
        .map(|(line, parsed)| at_line(line, parsed.and_then(|row| rollout(ctx, line, &row))))
        .collect())
}

/// Appends the native steps for one Responses item (input or output).
fn item_steps(item: &Value, steps: &mut Vec<Value>) {
    let Some(obj) = item.as_object() else {
        match item {
            // Some environments log one list per turn; their items are flattened in order.
            Value::Array(items) => items.iter().for_each(|i| item_steps(i, steps)),
            Value::Null => {}
            other => steps.push(Value::Object(message("user", content(other)))),
        }
        return;
    };
    let kind = obj.get("type").and_then(Value::as_str).unwrap_or("message");
    let (mut step, used): (Map<String, Value>, &[&str]) = match kind {
        "function_call" => {
            let mut s = message("assistant", Value::Null);
            let call = tool_call(
                obj.get("call_id").unwrap_or(&Value::Null),
                obj.get("name").unwrap_or(&Value::Null),
                obj.get("arguments").unwrap_or(&Value::Null),
                None,
                &[],
            );
            s.insert("tool_calls".into(), Value::Array(vec![call]));
            (s, &["type", "call_id", "name", "arguments"])
        }
        "function_call_output" => {
            let id = obj.get("call_id").and_then(as_id);
            (observation(id, None, content(obj.get("output").unwrap_or(&Value::Null))), &["type", "call_id", "output"])
        }
        "reasoning" => {
            // Reasoning has a summary and/or content, both lists of text blocks.
            let mut s = message("assistant", Value::Null);
            let text: Vec<String> = ["summary", "content"]
                .iter()
                .filter_map(|k| obj.get(*k))
                .map(plain_text)
                .filter(|t| !t.is_empty())
                .collect();
            s.insert("reasoning_content".into(), Value::String(text.join("\n")));
            (s, &["type"])
        }
        "message" => {
            let role = obj.get("role").and_then(Value::as_str).unwrap_or("user");
            (message(role, content(obj.get("content").unwrap_or(&Value::Null))), &["type", "role", "content"])
        }
        // Built-in tool calls (web search, computer use, ...) are kept whole on an assistant step.
        _ => (message("assistant", Value::Null), &[]),
    };
    for (k, v) in obj {
        if !used.contains(&k.as_str()) && !v.is_null() && !step.contains_key(k) {
            step.insert(k.clone(), v.clone());
        }
    }
    if kind != "message" && kind != "function_call" && kind != "function_call_output" && kind != "reasoning" {
        step.insert("type".into(), Value::String(kind.to_string()));
    }
    steps.push(Value::Object(step));
}

fn rollout(ctx: &mut Context<'_>, line: u64, row: &Value) -> Result<Value, RecordError> {
    let obj = object(row)?;
    let params = obj.get("responses_create_params");
    let response = obj.get("response");
    if params.is_none() && response.is_none() {
        return Err(RecordError::whole(
            "not a Responses API rollout: neither `responses_create_params` nor `response`",
        ));
    }
    if let Some(r) = response.filter(|r| !r.is_object() && !r.is_null()) {
        return Err(RecordError::new("response", format!("expected an object, found {}", kind(r))));
    }
    let mut steps = Vec::new();
    let input = params.and_then(|p| p.get("input")).unwrap_or(&Value::Null);
    match input {
        Value::String(s) => steps.push(Value::Object(message("user", Value::String(s.clone())))),
        other => item_steps(other, &mut steps),
    }
    if let Some(instructions) = params.and_then(|p| p.get("instructions")).filter(|v| v.is_string()) {
        steps.insert(0, Value::Object(message("system", instructions.clone())));
    }
    if let Some(output) = response.and_then(|r| r.get("output")) {
        item_steps(output, &mut steps);
    }
    let question = steps
        .iter()
        .find(|s| s["role"] == "user")
        .map(|s| Value::String(plain_text(&s["content"])))
        .unwrap_or(Value::Null);

    let task_index = obj.get("_ng_task_index").and_then(as_id);
    let rollout_index = obj.get("_ng_rollout_index").and_then(as_id);
    let response_id = response.and_then(|r| r.get("id")).and_then(as_id);
    let parts = match (&task_index, &rollout_index, &response_id) {
        (Some(t), Some(r), _) => vec![t.clone(), r.clone()],
        (_, _, Some(id)) => vec![id.clone()],
        _ => vec![format!("line{line}")],
    };
    let mut b = ctx.new_record(&parts);
    let data_id = task_index.clone().or_else(|| {
        ["task_id", "id", "instance_id", "uuid", "task_idx"].iter().find_map(|k| obj.get(*k).and_then(as_id))
    });
    if let Some(d) = data_id {
        b.set("data_id", Value::String(d));
    }
    if let Some(r) = obj.get("_ng_rollout_index") {
        b.set_int("sample_id", r);
    }
    b.set_id("agent_name", obj.get("agent_ref").and_then(|a| a.get("name")).unwrap_or(&Value::Null));
    b.question(&question);
    if let Some(reward) = obj.get("reward").filter(|r| !r.is_null()) {
        b.set_number("reward", reward);
    }
    if let Some(r) = response.and_then(Value::as_object) {
        response_fields(&mut b, r);
    }
    if let Some(p) = params.and_then(Value::as_object) {
        let rest: Map<String, Value> =
            p.iter().filter(|(k, v)| *k != "input" && !v.is_null()).map(|(k, v)| (k.clone(), v.clone())).collect();
        b.meta("request", Value::Object(rest));
    }
    b.meta_rest(obj, &["responses_create_params", "response", "reward"]);
    b.steps(steps);
    Ok(b.finish())
}

/// What the response says beside its output: model, usage, status, time; the rest of it
/// (usage included, with its cache and reasoning details) in `metadata.response`.
fn response_fields(b: &mut Builder, r: &Map<String, Value>) {
    let model = r.get("model").cloned().unwrap_or(Value::Null);
    b.model(&model).meta("model", model);
    // A rollout is one response: its usage is the trajectory's (`input_tokens` /
    // `output_tokens`, or `prompt_tokens` / `completion_tokens` from chat-completions
    // backed servers, and `cost` where the server adds it).
    b.usage(&r.get("usage").map(Usage::openai).unwrap_or_default());
    let reason = r.get("incomplete_details").and_then(|d| d.get("reason")).or_else(|| r.get("status"));
    b.set_id("termination_reason", reason.unwrap_or(&Value::Null));
    if let Some(t) = r.get("created_at") {
        b.created_at(t);
    }
    let rest: Map<String, Value> =
        r.iter().filter(|(k, v)| *k != "output" && !v.is_null()).map(|(k, v)| (k.clone(), v.clone())).collect();
    b.meta("response", Value::Object(rest));
}
