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
    // A record's own trajectory_id is its id; else one is made from the source's id.
    let mut b = match obj.get("trajectory_id").and_then(as_id) {
        Some(id) => ctx.record(id),
        None => {
            let source_id = ["id", "conversation_id", "session_id"].iter().find_map(|k| obj.get(*k).and_then(as_id));
            ctx.new_record(&[source_id.unwrap_or_else(|| position.to_string())])
        }
    };
    // Nothing sent is dropped: a value the native field cannot take goes to metadata
    // under its own name, and a top-level field never overwrites one in `metadata`.
    let mut metadata: Map<String, Value> = match obj.get("metadata") {
        Some(Value::Object(m)) => m.clone(),
        Some(Value::Null) | None => Map::new(),
        Some(other) => Map::from_iter([("metadata".to_string(), other.clone())]),
    };
    for (k, v) in obj {
        match k.as_str() {
            "messages" | "steps" | "metadata" | "task" => {}
            "trajectory_id" if as_id(v).is_some() => {}
            "trajectory_id" | "step_count" => keep(&mut metadata, k, v),
            "data_id" | "agent_name" | "training_id" | "termination_reason" => {
                b.set_id(k, v);
            }
            "epoch_id" | "iteration_id" | "sample_id" => {
                b.set_int(k, v);
            }
            "reward" | "toolcall_reward" | "res_reward" | "exec_time" => {
                b.set_number(k, v);
            }
            "is_success" => match v {
                Value::Bool(ok) => {
                    b.set_bool(k, Some(*ok));
                }
                other => keep(&mut metadata, k, other),
            },
            "created_at" => {
                b.created_at(v);
            }
            _ if KNOWN_FIELDS.contains(&k.as_str()) && (k == "tags" || k == "notes") => {
                b.set(k, v.clone());
            }
            _ => keep(&mut metadata, k, v),
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
        Some(other) if !other.is_null() => {
            keep(&mut metadata, "task", other);
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

/// Keeps a top-level value in metadata under its name, or under "NAME (top level)" when
/// `metadata` already holds another value by that name.
fn keep(metadata: &mut Map<String, Value>, k: &str, v: &Value) {
    if v.is_null() || metadata.get(k) == Some(v) {
        return;
    }
    let key = if metadata.contains_key(k) { format!("{k} (top level)") } else { k.to_string() };
    metadata.insert(key, v.clone());
}
