//! verl rollout dumps (`trainer.rollout_data_dir`, `<step>.jsonl`): one sample a line,
//! `{input, output, gts, score, step, ...reward extras (acc, pred, ...)}`, where `input`
//! is the prompt as the model saw it and `output` the generated response.
//!
//! verl writes no ids: a sample's id is its line in the file, and its `data_id` is a hash
//! of its prompt, so that the n responses of one prompt (GRPO groups) share a task.

use serde_json::Value;

use crate::normalize::{as_id, at_line, content, content_hash, json_lines, message, object, Context};
use crate::{Converted, FormatError, RecordError};

pub fn convert(ctx: &mut Context<'_>, file: &crate::SourceFile<'_>) -> Result<Vec<Converted>, FormatError> {
    Ok(json_lines(file.bytes)
        .into_iter()
        .map(|(line, row)| at_line(line, row.and_then(|r| sample(ctx, line, &r))))
        .collect())
}

fn sample(ctx: &mut Context<'_>, line: u64, row: &Value) -> Result<Value, RecordError> {
    let obj = object(row)?;
    let input = obj.get("input").ok_or_else(|| RecordError::new("input", "missing"))?;
    let output = obj.get("output").unwrap_or(&Value::Null);
    let mut b = ctx.new_record(&[format!("line{line}")]);
    let data_id = ["data_id", "uid", "index"].iter().find_map(|k| obj.get(*k).and_then(as_id)).unwrap_or_else(|| {
        let prompt = input.as_str().map(str::to_string).unwrap_or_else(|| input.to_string());
        format!("prompt-{:016x}", content_hash(prompt.as_bytes()))
    });
    b.set("data_id", Value::String(data_id));
    b.question(input);
    b.task("ground_truth", obj.get("gts").cloned().unwrap_or(Value::Null));
    if let Some(step) = obj.get("step") {
        b.set_int("iteration_id", step);
    }
    if let Some(score) = obj.get("score") {
        b.set_number("reward", score);
    }
    // verl's math and code scorers add `acc` (true/false or 1/0) beside the score.
    match obj.get("acc") {
        Some(Value::Bool(ok)) => {
            b.set_bool("is_success", Some(*ok));
        }
        Some(n) if n.as_f64().is_some() => {
            b.set_bool("is_success", n.as_f64().map(|f| f >= 1.0));
        }
        _ => {}
    }
    b.meta_rest(obj, &["input", "output", "gts", "score", "step", "data_id"]);
    b.steps(vec![Value::Object(message("user", content(input))), Value::Object(message("assistant", content(output)))]);
    Ok(b.finish())
}
