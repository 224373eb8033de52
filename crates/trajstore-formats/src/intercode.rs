//! InterCode results (`data/results/{bash,sql}/<model>/*.json`): a dict keyed by task
//! index, each `{environment, dataset, task_id, query, turn_history: {actions[],
//! observations[], rewards[], valid_action[], steps[]?}, summary: {max_reward, ...},
//! info?}`; `*plan_solve*` files wrap the dict as `{meta, logs}`; the human file holds
//! `{query_idx, query, gold, reward, trajectory: [{action, observation}]}` per key.
//!
//! Each turn becomes an assistant step (the action, with its reward) and a tool step
//! (the observation). The trajectory's reward is `summary.max_reward` (what InterCode
//! reports), or `reward` in the human file.

use serde_json::{Map, Value};

use crate::normalize::{as_id, at_index, content, message, object, observation, Context};
use crate::{Converted, FormatError, RecordError};

pub fn convert(ctx: &mut Context<'_>, _: &crate::SourceFile<'_>) -> Result<Vec<Converted>, FormatError> {
    let doc = ctx.document()?;
    let root = doc.as_object().ok_or_else(|| ctx.invalid("expected a dict of runs keyed by task"))?;
    let (runs, meta) = match (root.get("logs"), root.get("meta")) {
        (Some(Value::Object(logs)), meta) => (logs, meta.cloned()),
        _ => (root, None),
    };
    // serde_json sorts keys as text ("10" before "2"); runs go in numeric order instead.
    let mut keys: Vec<&String> = runs.keys().collect();
    keys.sort_by_key(|k| (k.parse::<u64>().unwrap_or(u64::MAX), k.to_string()));
    Ok(keys.into_iter().enumerate().map(|(i, k)| at_index(i, run(ctx, k, &runs[k], meta.as_ref()))).collect())
}

fn list<'v>(history: &'v Map<String, Value>, key: &str) -> &'v [Value] {
    history.get(key).and_then(Value::as_array).map(Vec::as_slice).unwrap_or(&[])
}

fn run(ctx: &mut Context<'_>, key: &str, value: &Value, file_meta: Option<&Value>) -> Result<Value, RecordError> {
    let obj = object(value)?;
    let env = obj.get("environment").and_then(Value::as_str).unwrap_or("intercode");
    let tool = env.strip_prefix("ic_").unwrap_or(env);
    let mut steps = Vec::new();
    let query = obj.get("query").cloned().unwrap_or(Value::Null);
    if !query.is_null() {
        steps.push(Value::Object(message("user", content(&query))));
    }
    let reward;
    if let Some(history) = obj.get("turn_history") {
        let history = history.as_object().ok_or_else(|| RecordError::new("turn_history", "expected an object"))?;
        let (actions, observations, rewards, valid, plans) = (
            list(history, "actions"),
            list(history, "observations"),
            list(history, "rewards"),
            list(history, "valid_action"),
            list(history, "steps"),
        );
        for (i, action) in actions.iter().enumerate() {
            let mut step = message("assistant", content(action));
            if let Some(r) = rewards.get(i).filter(|r| r.as_f64().is_some_and(f64::is_finite)) {
                step.insert("reward".into(), r.clone());
            }
            if let Some(v) = valid.get(i) {
                step.insert("valid_action".into(), v.clone());
            }
            if let Some(plan) = plans.get(i) {
                step.insert("plan_step".into(), plan.clone());
            }
            steps.push(Value::Object(step));
            if let Some(o) = observations.get(i) {
                steps.push(Value::Object(observation(None, Some(tool), content(o))));
            }
        }
        reward = obj.get("summary").and_then(|s| s.get("max_reward")).cloned();
    } else if let Some(turns) = obj.get("trajectory") {
        let turns = turns.as_array().ok_or_else(|| RecordError::new("trajectory", "expected a list of turns"))?;
        for turn in turns {
            steps.push(Value::Object(message("assistant", content(turn.get("action").unwrap_or(&Value::Null)))));
            if let Some(o) = turn.get("observation") {
                steps.push(Value::Object(observation(None, Some(tool), content(o))));
            }
        }
        reward = obj.get("reward").cloned();
    } else {
        return Err(RecordError::new("turn_history", "missing (neither `turn_history` nor `trajectory`)"));
    }
    let source_task =
        obj.get("task_id").or_else(|| obj.get("query_idx")).and_then(as_id).unwrap_or_else(|| key.to_string());
    let mut b = ctx.new_record(&[key.to_string()]);
    // The same task index means the same task only within one dataset file.
    let dataset = obj
        .get("dataset")
        .and_then(Value::as_str)
        .map(|d| d.rsplit('/').next().unwrap_or(d).trim_end_matches(".json").to_string());
    b.set("data_id", Value::String(format!("{}:{source_task}", dataset.as_deref().unwrap_or(env))));
    b.question(&query);
    b.task("gold", obj.get("gold").cloned().unwrap_or(Value::Null));
    if let Some(r) = reward {
        b.set_number("reward", &r);
    }
    b.meta_rest(obj, &["query", "turn_history", "trajectory", "reward"]);
    if let Some(m) = file_meta {
        b.meta("run_config", m.clone());
    }
    b.steps(steps);
    Ok(b.finish())
}
