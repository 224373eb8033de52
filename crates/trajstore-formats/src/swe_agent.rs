//! SWE-agent `.traj` files: `{history: [chat messages], trajectory: [{action,
//! observation, response, thought, execution_time, state}], info: {exit_status,
//! submission, model_stats}, environment, replay_config}`. The steps are the `history`
//! (the conversation the model saw, with tool calls in function-calling runs); the
//! per-turn `state` and `execution_time` of `trajectory` stay in metadata. A file with no
//! history is built from `trajectory`. A diff in `info.submission` becomes `metadata.patch`.

use serde_json::{Map, Value};

use crate::normalize::{
    as_id, at_index, chat_messages, content, message, object, observation, plain_text, Builder, Context,
};
use crate::usage::{amount, count, Usage};
use crate::{Converted, FormatError, RecordError};

pub fn convert(ctx: &mut Context<'_>, file: &crate::SourceFile<'_>) -> Result<Vec<Converted>, FormatError> {
    let doc = ctx.document()?;
    Ok(vec![at_index(0, record(ctx, file, &doc))])
}

/// `info.model_stats`: `tokens_sent`, `tokens_received` and `instance_cost` (this
/// instance's share of `total_cost`). Stats that report no API call for a trajectory with
/// assistant steps were not kept (replayed and demonstration trajectories carry zeros
/// there), so they leave the columns unset rather than claim a free run.
fn usage(info: Option<&Value>, steps: &[Value]) -> Usage {
    let Some(stats) = info.and_then(|i| i.get("model_stats")) else { return Usage::default() };
    let answered = steps.iter().any(|s| s["role"] == "assistant");
    if answered && stats.get("api_calls").and_then(count) == Some(0) {
        return Usage::default();
    }
    Usage {
        input: stats.get("tokens_sent").and_then(count),
        output: stats.get("tokens_received").and_then(count),
        cost: stats.get("instance_cost").and_then(amount),
    }
}

fn record(ctx: &mut Context<'_>, file: &crate::SourceFile<'_>, doc: &Value) -> Result<Value, RecordError> {
    let obj = object(doc)?;
    let turns = obj.get("trajectory").and_then(Value::as_array);
    let steps = match obj.get("history") {
        Some(Value::Array(h)) => chat_messages(h, "history")?,
        Some(_) => return Err(RecordError::new("history", "expected a list of messages")),
        None => {
            let mut steps = Vec::new();
            for turn in turns.map(Vec::as_slice).unwrap_or(&[]) {
                let mut s = message("assistant", content(turn.get("response").unwrap_or(&Value::Null)));
                if let Some(a) = turn.get("action") {
                    s.insert("action".into(), a.clone());
                }
                steps.push(Value::Object(s));
                steps.push(Value::Object(observation(
                    None,
                    None,
                    content(turn.get("observation").unwrap_or(&Value::Null)),
                )));
            }
            steps
        }
    };
    // `replay_config` is a JSON string (or object) naming the instance and the model.
    let replay: Value = match obj.get("replay_config") {
        Some(Value::String(s)) => serde_json::from_str(s).unwrap_or(Value::Null),
        Some(v) => v.clone(),
        None => Value::Null,
    };
    let instance_id = replay
        .pointer("/problem_statement/id")
        .and_then(as_id)
        .or_else(|| replay.pointer("/instance_id").and_then(as_id));
    let mut b = ctx.new_record(&[instance_id.clone().unwrap_or_else(|| "0".into())]);
    b.set("agent_name", Value::String("swe-agent".into()));
    // Without an instance id in the content, the file's stem names the task.
    let stem = file.label.rsplit('/').next().unwrap_or(file.label).trim_end_matches(".traj").to_string();
    b.set("data_id", Value::String(instance_id.unwrap_or(stem)));
    if let Some(first_user) = steps.iter().find(|m| m["role"] == "user") {
        b.question(&Value::String(plain_text(&first_user["content"])));
    }
    let model = replay.pointer("/agent/model/name").cloned().unwrap_or(Value::Null);
    b.model(&model).meta("model", model);
    b.usage(&usage(obj.get("info"), &steps));
    if let Some(info) = obj.get("info").and_then(Value::as_object) {
        b.set_id("termination_reason", info.get("exit_status").unwrap_or(&Value::Null));
        // A diff submitted is the run's patch; other submissions (CTF flags) stay as they are.
        let patch = info.get("submission").and_then(crate::verifier::patch);
        let used_as_patch: &[&str] = if patch.is_some() { &["exit_status", "submission"] } else { &["exit_status"] };
        b.meta("patch", patch.unwrap_or(Value::Null));
        b.meta_rest(info, used_as_patch);
    }
    if let Some(turns) = turns {
        turn_fields(&mut b, turns, obj.get("history").is_some());
    }
    if !replay.is_null() {
        b.meta("replay_config", replay);
    }
    b.meta_rest(obj, &["history", "trajectory", "info", "replay_config"]);
    b.steps(steps);
    Ok(b.finish())
}

/// What the `trajectory` turns add: their summed execution time, and (beside a history,
/// which holds the conversation) each turn's state and timing.
fn turn_fields(b: &mut Builder, turns: &[Value], has_history: bool) {
    let times: Vec<f64> = turns.iter().filter_map(|t| t.get("execution_time").and_then(Value::as_f64)).collect();
    if !times.is_empty() {
        b.set("exec_time", Value::from(times.iter().sum::<f64>()));
    }
    if has_history {
        // What the history does not already hold: each turn's state and timing.
        let rest: Vec<Value> = turns
            .iter()
            .map(|t| {
                Value::Object(
                    t.as_object()
                        .map(|o| {
                            o.iter()
                                .filter(|(k, _)| {
                                    !matches!(
                                        k.as_str(),
                                        "action" | "observation" | "response" | "thought" | "messages"
                                    )
                                })
                                .map(|(k, v)| (k.clone(), v.clone()))
                                .collect()
                        })
                        .unwrap_or_else(Map::new),
                )
            })
            .collect();
        b.meta("trajectory", Value::Array(rest));
    }
}
