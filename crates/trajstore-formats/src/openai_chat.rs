//! Generic OpenAI chat records: one per line, a JSON list of them, or one object; each
//! with `messages` (or `steps`) in OpenAI chat shape and any other fields. Fields that
//! the native model knows (`reward`, `data_id`, `task`, `model`, `input_tokens`, ...) are
//! taken as they are; everything else goes to metadata. Token counts and cost not given
//! as fields come from the record's `usage` (`prompt_tokens`, `completion_tokens`,
//! `cost`), else from the assistant messages' `usage`, summed. The source's `id` is used when there is one.

use serde_json::{Map, Value};

use crate::normalize::{as_id, at_index, at_line, chat_messages, json_lines, object, plain_text, Builder, Context};
use crate::usage::{assistant_usage, Usage};
use crate::{Converted, FormatError, RecordError};

pub fn convert(ctx: &mut Context<'_>, file: &crate::SourceFile<'_>) -> Result<Vec<Converted>, FormatError> {
    // One document (a list or a single record) when the whole file parses; else lines.
    if let Ok(doc) = serde_json::from_slice::<Value>(file.bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(file.bytes)) {
        return Ok(match doc {
            Value::Array(items) => {
                items.iter().enumerate().map(|(i, r)| at_index(i, record(ctx, &format!("#{i}"), r))).collect()
            }
            one => vec![at_index(0, record(ctx, "0", &one))],
        });
    }
    Ok(json_lines(file.bytes)
        .into_iter()
        .map(|(line, r)| at_line(line, r.and_then(|r| record(ctx, &format!("line{line}"), &r))))
        .collect())
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
    // Nothing sent is dropped: the source's own `metadata` is loaded first, and a value
    // the native field cannot take goes to metadata beside it (`Builder::keep`), so a
    // top-level field never overwrites one in `metadata`.
    match obj.get("metadata") {
        Some(Value::Object(m)) => {
            for (k, v) in m {
                b.meta(k, v.clone());
            }
        }
        Some(other) => {
            b.keep("metadata", other);
        }
        None => {}
    }
    top_level_fields(&mut b, obj);
    match obj.get("task") {
        Some(Value::Object(task)) => {
            for (k, v) in task {
                b.task(k, v.clone());
            }
        }
        Some(Value::String(q)) => {
            b.question(&Value::String(q.clone()));
        }
        other => {
            // No usable task (absent, null, or a number or list kept in metadata): the
            // first user message is the question.
            if let Some(task) = other {
                b.keep("task", task);
            }
            if let Some(first_user) = steps.iter().find(|s| s["role"] == "user") {
                b.question(&Value::String(plain_text(&first_user["content"])));
            }
        }
    }
    // The record's own total, else the sum over the model's messages; the fields given
    // at the top level (above) win over both.
    let total = obj.get("usage").map(Usage::openai).unwrap_or_default();
    b.usage(&total.or(assistant_usage(messages, |m| m.get("usage"))));
    b.steps(steps);
    Ok(b.finish())
}

/// The record's top-level fields besides messages, metadata and task: the native ones
/// set (a value of the wrong type kept in metadata instead), the rest kept in metadata.
fn top_level_fields(b: &mut Builder, obj: &Map<String, Value>) {
    for (k, v) in obj {
        match k.as_str() {
            "messages" | "steps" | "metadata" | "task" => {}
            "trajectory_id" if as_id(v).is_some() => {}
            "data_id" | "agent_name" | "training_id" | "termination_reason" => {
                b.set_id(k, v);
            }
            "epoch_id" | "iteration_id" | "sample_id" | "input_tokens" | "output_tokens" => {
                b.set_int(k, v);
            }
            "reward" | "toolcall_reward" | "res_reward" | "exec_time" | "cost" => {
                b.set_number(k, v);
            }
            "is_success" => match v {
                Value::Bool(ok) => {
                    b.set_bool(k, Some(*ok));
                }
                other => {
                    b.keep(k, other);
                }
            },
            "created_at" => {
                b.created_at(v);
            }
            // The model stays in metadata too, where records imported before it was a
            // column have it.
            "model" => {
                b.model(v).keep(k, v);
            }
            // Their types are checked when the record is read: a wrong one is an error
            // naming the field, as in the native format.
            "tags" | "notes" => {
                b.set(k, v.clone());
            }
            _ => {
                b.keep(k, v);
            }
        }
    }
}
