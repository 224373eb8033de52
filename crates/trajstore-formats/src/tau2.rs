//! tau2-bench results: `{info: {agent_info, user_info, environment_info, ...}, tasks:
//! [{id, description, user_scenario, ...}], simulations: [{id, task_id, trial, duration,
//! termination_reason, reward_info: {reward}, messages, ...}]}`. The question lives in
//! `tasks`, joined by `task_id`.

use std::collections::HashMap;

use serde_json::{Map, Value};

use crate::normalize::{as_id, at_index, chat_messages, object, Context};
use crate::usage::{amount, Usage};
use crate::{Converted, FormatError, RecordError};

pub fn convert(ctx: &mut Context<'_>, _: &crate::SourceFile<'_>) -> Result<Vec<Converted>, FormatError> {
    let doc = ctx.document()?;
    let root = doc.as_object().ok_or_else(|| ctx.invalid("expected an object with `simulations`"))?;
    let sims =
        root.get("simulations").and_then(Value::as_array).ok_or_else(|| ctx.invalid("`simulations` must be a list"))?;
    let tasks: HashMap<String, &Map<String, Value>> = root
        .get("tasks")
        .and_then(Value::as_array)
        .map(|t| t.iter().filter_map(|t| Some((t.get("id").and_then(as_id)?, t.as_object()?))).collect())
        .unwrap_or_default();
    let info = root.get("info").cloned().unwrap_or(Value::Null);
    Ok(sims.iter().enumerate().map(|(i, sim)| at_index(i, simulation(ctx, i, sim, &tasks, &info, root))).collect())
}

/// The user's task as one text: tau2 splits it into reason, known facts and instructions.
fn question_of(task: &Map<String, Value>) -> Value {
    let instructions = task.get("user_scenario").and_then(|s| s.get("instructions"));
    match instructions {
        Some(Value::String(s)) => Value::String(s.clone()),
        Some(Value::Object(parts)) => {
            let text: Vec<&str> = ["reason_for_call", "known_info", "unknown_info", "task_instructions"]
                .iter()
                .filter_map(|k| parts.get(*k).and_then(Value::as_str))
                .collect();
            if text.is_empty() {
                Value::Null
            } else {
                Value::String(text.join("\n\n"))
            }
        }
        _ => task.get("description").and_then(|d| d.get("purpose")).cloned().unwrap_or(Value::Null),
    }
}

/// The agent's tokens and cost: the simulation's `agent_cost`, else summed over the
/// assistant messages a model call produced (those with a `usage` object: `usage`'s
/// tokens and the message's `cost`). The scripted greeting carries cost 0.0 and no usage;
/// counting it would claim a free run where the model's calls were not priced. The user
/// simulator's messages carry usage and cost too (`user_cost`): not the agent's.
fn agent_usage(sim: &Map<String, Value>) -> Usage {
    let messages = sim.get("messages").and_then(Value::as_array).map(Vec::as_slice).unwrap_or(&[]);
    let calls =
        messages.iter().filter(|m| m.get("role").and_then(Value::as_str) == Some("assistant")).filter_map(|m| {
            let usage = m.get("usage").filter(|u| u.is_object())?;
            Some(Usage { cost: m.get("cost").and_then(amount), ..Usage::default() }.or(Usage::openai(usage)))
        });
    let total = Usage { cost: sim.get("agent_cost").and_then(amount), ..Usage::default() };
    total.or(Usage::sum(calls))
}

fn simulation(
    ctx: &mut Context<'_>,
    index: usize,
    sim: &Value,
    tasks: &HashMap<String, &Map<String, Value>>,
    info: &Value,
    root: &Map<String, Value>,
) -> Result<Value, RecordError> {
    let obj = object(sim)?;
    let sim_id = obj.get("id").and_then(as_id).unwrap_or_else(|| format!("#{index}"));
    let task_id = obj.get("task_id").and_then(as_id);
    let messages = match obj.get("messages") {
        Some(Value::Array(m)) => chat_messages(m, "messages")?,
        Some(Value::Null) | None => Vec::new(),
        Some(_) => return Err(RecordError::new("messages", "expected a list of messages")),
    };
    let mut b = ctx.new_record(std::slice::from_ref(&sim_id));
    if let Some(t) = &task_id {
        b.set("data_id", Value::String(t.clone()));
    }
    if let Some(trial) = obj.get("trial") {
        b.set_int("sample_id", trial);
    }
    b.set_id("agent_name", info.pointer("/agent_info/implementation").unwrap_or(&Value::Null));
    let model = info.pointer("/agent_info/llm").cloned().unwrap_or(Value::Null);
    b.model(&model).meta("model", model).usage(&agent_usage(obj));
    b.set_id("termination_reason", obj.get("termination_reason").unwrap_or(&Value::Null));
    if let Some(reward) = obj.get("reward_info").and_then(|r| r.get("reward")) {
        b.set_number("reward", reward);
        // A tau2 simulation succeeds when every check passes, i.e. reward 1.
        b.set_bool("is_success", reward.as_f64().map(|r| r == 1.0));
    }
    if let Some(d) = obj.get("duration") {
        b.set_number("exec_time", d);
    }
    if let Some(t) = obj.get("start_time").or_else(|| obj.get("timestamp")) {
        b.created_at(t);
    }
    if let Some(task) = task_id.as_ref().and_then(|t| tasks.get(t)) {
        b.question(&question_of(task));
        for (k, v) in task.iter() {
            b.task(k, v.clone());
        }
    }
    b.meta_rest(obj, &["id", "task_id", "trial", "termination_reason", "duration", "messages"]);
    b.meta("simulation_id", Value::String(sim_id));
    b.meta("run_info", info.clone());
    b.meta("run_timestamp", root.get("timestamp").cloned().unwrap_or(Value::Null));
    b.steps(messages);
    Ok(b.finish())
}
