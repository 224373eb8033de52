//! Inspect AI eval logs: a `.json` EvalLog `{version, status, eval: {task, model,
//! eval_id, run_id, created, ...}, plan, results, stats, samples: [...]}`, or a `.eval`
//! zip holding `header.json` (or `_journal/start.json`) and `samples/<id>_epoch_<n>.json`.
//! A sample is `{id, epoch, input, target, messages, output, scores: {scorer: {value,
//! answer, explanation}}, metadata, total_time, working_time, error, limit, ...}`.
//!
//! The reward is the primary scorer's value as a number (C 1, I 0, P 0.5, N 0); letters
//! also give `is_success` (C only); the original scores are kept in metadata.

use serde_json::{Map, Value};

use crate::normalize::{as_id, at_index, chat_messages, object, plain_text, score_value, Context};
use crate::usage::{amount, count, Usage};
use crate::zipfile::Archive;
use crate::{Converted, FormatError, RecordError};

pub fn convert(ctx: &mut Context<'_>, file: &crate::SourceFile<'_>) -> Result<Vec<Converted>, FormatError> {
    if file.bytes.starts_with(b"PK\x03\x04") {
        return convert_eval(ctx, file);
    }
    let doc = ctx.document()?;
    let root = doc.as_object().ok_or_else(|| ctx.invalid("expected an eval log object"))?;
    let samples = match root.get("samples") {
        Some(Value::Array(s)) => s.as_slice(),
        Some(Value::Null) | None => &[],
        Some(_) => return Err(ctx.invalid("`samples` must be a list")),
    };
    let header =
        Value::Object(root.iter().filter(|(k, _)| *k != "samples").map(|(k, v)| (k.clone(), v.clone())).collect());
    Ok(samples.iter().enumerate().map(|(i, s)| at_index(i, sample(ctx, s, &header))).collect())
}

fn convert_eval(ctx: &mut Context<'_>, file: &crate::SourceFile<'_>) -> Result<Vec<Converted>, FormatError> {
    let archive = Archive::open(file.bytes).map_err(|e| ctx.invalid(e))?;
    let read_json = |name: &str| -> Result<Value, String> {
        serde_json::from_slice(&archive.read(name)?).map_err(|e| format!("{name}: invalid JSON: {e}"))
    };
    let names: Vec<String> = archive.names().map(str::to_string).collect();
    // A log still being written has no header.json yet; its journal start holds the eval.
    let header = if names.iter().any(|n| n == "header.json") {
        read_json("header.json")
    } else if names.iter().any(|n| n == "_journal/start.json") {
        read_json("_journal/start.json")
    } else {
        Ok(Value::Null)
    }
    .map_err(|e| ctx.invalid(e))?;
    let mut sample_names: Vec<&String> =
        names.iter().filter(|n| n.starts_with("samples/") && n.ends_with(".json")).collect();
    // Members are stored in completion order; ids then epochs make the order stable.
    sample_names.sort_by_key(|n| sample_order(n));
    Ok(sample_names
        .into_iter()
        .enumerate()
        .map(|(i, name)| {
            at_index(
                i,
                read_json(name).map_err(|e| RecordError::new(name.as_str(), e)).and_then(|s| sample(ctx, &s, &header)),
            )
        })
        .collect())
}

/// `samples/<id>_epoch_<n>.json` sorts by numeric id when there is one, then epoch.
fn sample_order(name: &str) -> (u64, String, u64) {
    let stem = name.trim_start_matches("samples/").trim_end_matches(".json");
    let (id, epoch) = stem.rsplit_once("_epoch_").unwrap_or((stem, "0"));
    (id.parse().unwrap_or(u64::MAX), id.to_string(), epoch.parse().unwrap_or(0))
}

/// The scorer whose value is the reward: the log's first listed scorer when the sample
/// has it, else the sample's first.
fn primary_score<'s>(scores: &'s Map<String, Value>, header: &Value) -> Option<(&'s String, &'s Value)> {
    let first_listed = header
        .pointer("/results/scores/0/name")
        .or_else(|| header.pointer("/eval/scorers/0/name"))
        .and_then(Value::as_str);
    first_listed.and_then(|n| scores.get_key_value(n)).or_else(|| scores.iter().next())
}

/// The sample's `model_usage` (`{model: {input_tokens, output_tokens, total_tokens,
/// input_tokens_cache_read, input_tokens_cache_write, total_cost, ...}}`) summed over its
/// models: every call the sample made, a grader's included. A sample without it (older
/// logs, or an empty map) has no counts; the log's `stats` total the whole eval, not it.
fn sample_usage(obj: &Map<String, Value>) -> Usage {
    let Some(models) = obj.get("model_usage").and_then(Value::as_object) else { return Usage::default() };
    Usage::sum(models.values().map(|u| {
        let n = |k: &str| u.get(k).and_then(count);
        let (input, output) = (n("input_tokens"), n("output_tokens"));
        let cached = n("input_tokens_cache_read").unwrap_or(0) + n("input_tokens_cache_write").unwrap_or(0);
        // Providers that report the prompt without its cached part (Anthropic) have it
        // counted apart in `total_tokens`; the column counts the whole prompt.
        let apart = cached > 0 && n("total_tokens") == Some(input.unwrap_or(0) + output.unwrap_or(0) + cached);
        Usage {
            input: input.map(|i| if apart { i + cached } else { i }),
            output,
            cost: u.get("total_cost").and_then(amount),
        }
    }))
}

fn sample(ctx: &mut Context<'_>, value: &Value, header: &Value) -> Result<Value, RecordError> {
    let obj = object(value)?;
    let steps = match obj.get("messages") {
        Some(Value::Array(m)) => chat_messages(m, "messages")?,
        Some(Value::Null) | None => Vec::new(),
        Some(_) => return Err(RecordError::new("messages", "expected a list of messages")),
    };
    let sample_id = obj.get("id").and_then(as_id).ok_or_else(|| RecordError::new("id", "missing sample id"))?;
    let epoch = obj.get("epoch").and_then(as_id).unwrap_or_else(|| "1".into());
    let mut b = ctx.new_record(&[sample_id.clone(), epoch]);
    let eval = header.get("eval").cloned().unwrap_or(Value::Null);
    let task = eval.get("task").and_then(Value::as_str).unwrap_or("task");
    b.set("data_id", Value::String(format!("{task}:{sample_id}")));
    if let Some(e) = obj.get("epoch") {
        // An Inspect epoch is another attempt at the same sample, as a trial is.
        b.set_int("sample_id", e);
    }
    b.set_id("agent_name", eval.get("solver").unwrap_or(&Value::Null));
    let model = eval.get("model").cloned().unwrap_or(Value::Null);
    b.model(&model).meta("model", model).usage(&sample_usage(obj));
    let input = obj.get("input").unwrap_or(&Value::Null);
    let question = match input {
        Value::Array(msgs) => Value::String(
            msgs.iter()
                .filter(|m| m["role"] == "user")
                .map(|m| plain_text(&m["content"]))
                .collect::<Vec<_>>()
                .join("\n"),
        ),
        other => other.clone(),
    };
    b.question(&question);
    b.task("target", obj.get("target").cloned().unwrap_or(Value::Null));
    b.task("choices", obj.get("choices").cloned().unwrap_or(Value::Null));
    if let Some(scores) = obj.get("scores").and_then(Value::as_object) {
        if let Some((_, score)) = primary_score(scores, header) {
            let v = score.get("value").unwrap_or(&Value::Null);
            if let Some(r) = score_value(v) {
                b.set("reward", Value::from(r));
            }
            match v {
                Value::String(s) if matches!(s.as_str(), "C" | "I" | "P" | "N") => {
                    b.set_bool("is_success", Some(s == "C"));
                }
                Value::Bool(t) => {
                    b.set_bool("is_success", Some(*t));
                }
                _ => {}
            }
        }
    }
    if let Some(t) = obj.get("total_time") {
        b.set_number("exec_time", t);
    }
    let termination = if obj.get("error").is_some_and(|e| !e.is_null()) {
        Some(Value::String("error".into()))
    } else if let Some(limit) = obj.get("limit").filter(|l| !l.is_null()) {
        Some(Value::String(format!("limit:{}", limit.get("type").and_then(Value::as_str).unwrap_or("unknown"))))
    } else {
        value.pointer("/output/choices/0/stop_reason").cloned()
    };
    b.set_id("termination_reason", termination.as_ref().unwrap_or(&Value::Null));
    if let Some(t) = obj.get("started_at").or_else(|| eval.get("created")) {
        b.created_at(t);
    }
    b.meta_rest(obj, &["id", "messages", "input", "total_time"]);
    // The log's header (eval spec, plan, results) is the same for every sample of the
    // file; each record carries it so that nothing is lost when one is exported alone.
    b.meta("eval", eval.clone());
    if let Some(h) = header.as_object() {
        b.meta(
            "log",
            Value::Object(h.iter().filter(|(k, _)| *k != "eval").map(|(k, v)| (k.clone(), v.clone())).collect()),
        );
    }
    b.steps(steps);
    Ok(b.finish())
}
