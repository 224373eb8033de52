//! `harbor traces export` files: a list of rows `{conversations: [{role, content}], agent,
//! model, model_provider, date, task, episode, run_id, trial_name, result,
//! tool_definitions?}`, one per episode of a trial, each holding the conversation up to
//! that episode (an SFT data set derived from the trial's trajectory). Each row is one
//! record: the rows of one trial overlap, as the export does.

use serde_json::Value;

use crate::normalize::{as_id, at_index, chat_messages, object, plain_text, score_value, Context};
use crate::{Converted, RecordError};

/// The row keys mapped to native fields; the others stay in metadata.
const MAPPED: &[&str] =
    &["conversations", "agent", "model", "task", "run_id", "trial_name", "episode", "result", "date"];

pub(super) fn convert(ctx: &mut Context<'_>, doc: &Value) -> Vec<Converted> {
    let rows = doc.as_array().map(Vec::as_slice).unwrap_or(&[]);
    rows.iter().enumerate().map(|(i, row)| at_index(i, record(ctx, i, row))).collect()
}

fn record(ctx: &mut Context<'_>, index: usize, row: &Value) -> Result<Value, RecordError> {
    let obj = object(row)?;
    let steps = match obj.get("conversations") {
        Some(Value::Array(m)) => chat_messages(m, "conversations")?,
        _ => return Err(RecordError::new("conversations", "expected a list of {role, content} messages")),
    };
    let part = |k: &str| obj.get(k).and_then(as_id);
    let mut parts: Vec<String> = ["run_id", "trial_name", "episode"].iter().filter_map(|k| part(k)).collect();
    if parts.is_empty() {
        // No id of its own: the row's place names it.
        parts.push(format!("#{index}"));
    }
    let mut b = ctx.new_record(&parts);
    b.set_id("data_id", obj.get("task").unwrap_or(&Value::Null));
    b.set_id("agent_name", obj.get("agent").unwrap_or(&Value::Null));
    b.set_id("training_id", obj.get("run_id").unwrap_or(&Value::Null));
    b.meta("model", obj.get("model").cloned().unwrap_or(Value::Null));
    b.meta("trial_name", obj.get("trial_name").cloned().unwrap_or(Value::Null));
    b.meta("episode", obj.get("episode").cloned().unwrap_or(Value::Null));
    b.created_at(obj.get("date").unwrap_or(&Value::Null));
    // The export writes the trial's reward as text ("1.0"), or null.
    if let Some(result) = obj.get("result").filter(|r| !r.is_null()) {
        match score_value(result) {
            Some(r) => {
                b.set("reward", Value::from(r));
                b.set_bool("is_success", Some(r >= 1.0));
            }
            None => {
                b.meta("result", result.clone());
            }
        }
    }
    if let Some(first_user) = steps.iter().find(|s| s["role"] == "user") {
        b.question(&Value::String(plain_text(&first_user["content"])));
    }
    b.meta("trace_export", Value::Bool(true));
    b.meta_rest(obj, MAPPED);
    b.steps(steps);
    Ok(b.finish())
}
