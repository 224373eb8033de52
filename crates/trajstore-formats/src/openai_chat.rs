//! Generic OpenAI chat records: one per line, a JSON list of them, or one object; each
//! with `messages` (or `steps`) in OpenAI chat shape and any other fields. Fields that
//! the native model knows (`reward`, `data_id`, `task`, ...) are taken as they are;
//! everything else goes to metadata. The source's `id` is used when there is one.

use serde_json::{Map, Value};
use trajstore_model::KNOWN_FIELDS;

use crate::normalize::{as_id, at_index, at_line, chat_messages, json_lines, object, plain_text, Context};
use crate::{Converted, FormatError, RecordError};

pub fn convert(ctx: &mut Context<'_>, file: &crate::SourceFile<'_>) -> Result<Vec<Converted>, FormatError> {
    // One document (a list or a single record) when the whole file parses; else lines.
    if let Ok(doc) = serde_json::from_slice::<Value>(file.bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(file.bytes)) {
        return Ok(match doc {
            Value::Array(items) => items.iter().enumerate().map(|(i, r)| at_index(i, record(ctx, &format!("#{i}"), r))).collect(),
            one => vec![at_index(0, record(ctx, "0", &one))],
        });
    }
    Ok(json_lines(file.bytes).into_iter().map(|(line, r)| at_line(line, r.and_then(|r| record(ctx, &format!("line{line}"), &r)))).collect())
}

fn record(ctx: &mut Context<'_>, position: &str, value: &Value) -> Result<Value, RecordError> {
    let obj = object(value)?;
    let (key, messages) = match (obj.get("messages"), obj.get("steps")) {
        (Some(Value::Array(m)), _) => ("messages", m),
        (_, Some(Value::Array(s))) => ("steps", s),
        _ => return Err(RecordError::new("messages", "expected a list of chat messages in `messages` or `steps`")),
    };
    let steps = chat_messages(messages, key)?;
    let source_id = ["id", "conversation_id", "session_id"].iter().find_map(|k| obj.get(*k).and_then(as_id));
    let mut b = ctx.new_record(&[source_id.unwrap_or_else(|| position.to_string())]);
    let mut metadata: Map<String, Value> = obj.get("metadata").and_then(Value::as_object).cloned().unwrap_or_default();
    for (k, v) in obj {
        match k.as_str() {
            "messages" | "steps" | "metadata" | "trajectory_id" | "task" | "step_count" => {}
            "data_id" | "agent_name" | "training_id" | "termination_reason" => {
                b.set_id(k, v);
            }
            "epoch_id" | "iteration_id" | "sample_id" => {
                b.set_int(k, v);
            }
            "reward" | "toolcall_reward" | "res_reward" | "exec_time" => {
                b.set_number(k, v);
            }
            "is_success" => {
                b.set_bool(k, v.as_bool());
            }
            "created_at" => {
                b.created_at(v);
            }
            _ if KNOWN_FIELDS.contains(&k.as_str()) && (k == "tags" || k == "notes") => {
                b.set(k, v.clone());
            }
            _ => {
                if !v.is_null() {
                    metadata.insert(k.clone(), v.clone());
                }
            }
        }
    }
    match obj.get("task") {
        Some(Value::Object(task)) => {
            for (k, v) in task {
                b.task(k, v.clone());
            }
        }
        Some(Value::String(q)) => {
            b.question(&Value::String(q.clone()));
        }
        _ => {
            if let Some(first_user) = steps.iter().find(|s| s["role"] == "user") {
                b.question(&Value::String(plain_text(&first_user["content"])));
            }
        }
    }
    for (k, v) in metadata {
        b.meta(&k, v);
    }
    b.steps(steps);
    Ok(b.finish())
}
