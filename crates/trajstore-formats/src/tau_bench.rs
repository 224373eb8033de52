//! tau-bench (`historical_trajectories/*.json`): a JSON list of runs
//! `{task_id, trial, reward, traj: [OpenAI chat messages], info: {task: {instruction,
//! ...}, reward_info, ...}}`. The reward is the success label (0 or 1).

use serde_json::Value;

use crate::normalize::{as_id, at_index, chat_messages, object, Context};
use crate::{Converted, FormatError, RecordError};

pub fn convert(ctx: &mut Context<'_>, _: &crate::SourceFile<'_>) -> Result<Vec<Converted>, FormatError> {
    let doc = ctx.document()?;
    let runs = doc.as_array().ok_or_else(|| ctx.invalid("expected a list of runs"))?;
    Ok(runs.iter().enumerate().map(|(i, run)| at_index(i, run_record(ctx, i, run))).collect())
}

fn run_record(ctx: &mut Context<'_>, index: usize, run: &Value) -> Result<Value, RecordError> {
    let obj = object(run)?;
    let task_id = obj.get("task_id").and_then(as_id);
    let trial = obj.get("trial").and_then(as_id);
    let id = match (&task_id, &trial) {
        (Some(t), Some(k)) => ctx.id(&[t.clone(), k.clone()]),
        (Some(t), None) => ctx.id(std::slice::from_ref(t)),
        _ => ctx.id(&[format!("#{index}")]),
    };
    let traj = match obj.get("traj") {
        Some(Value::Array(m)) => chat_messages(m, "traj")?,
        Some(Value::Null) | None => Vec::new(),
        Some(_) => return Err(RecordError::new("traj", "expected a list of messages")),
    };
    let mut b = ctx.record(id);
    b.set_id("data_id", obj.get("task_id").unwrap_or(&Value::Null));
    if let Some(trial) = obj.get("trial") {
        b.set_int("sample_id", trial);
    }
    let reward = obj.get("reward").unwrap_or(&Value::Null);
    if !reward.is_null() {
        b.set_number("reward", reward);
        // tau-bench scores a run 1 when the task is solved and 0 otherwise.
        b.set_bool("is_success", reward.as_f64().map(|r| r == 1.0));
    }
    let info = obj.get("info").and_then(Value::as_object);
    if let Some(task) = info.and_then(|i| i.get("task")).and_then(Value::as_object) {
        b.question(task.get("instruction").unwrap_or(&Value::Null));
        for (k, v) in task {
            if k != "instruction" {
                b.task(k, v.clone());
            }
        }
    }
    if let Some(info) = info {
        b.meta_rest(info, &["task"]);
    }
    b.meta_rest(obj, &["task_id", "trial", "reward", "traj", "info"]);
    b.steps(traj);
    Ok(b.finish())
}
