//! mini-swe-agent (`trajs/<instance_id>.traj.json`): `{instance_id, trajectory_format:
//! "mini-swe-agent-1", info: {exit_status, submission, model_stats, config}, messages:
//! [{role, content, extra}]}`. Its success label lives apart, in SWE-bench's
//! `logs/<instance_id>/report.json` (`{resolved, ...}`, or keyed by the instance id):
//! looked up in the labels directory given, else in the `logs/` beside `trajs/`. The
//! report's `tests_status` becomes `metadata.verifier_tests`, a diff in `info.submission`
//! `metadata.patch`.

use std::path::{Path, PathBuf};

use serde_json::{Map, Value};

use crate::normalize::{as_id, at_index, chat_messages, plain_text, Context};
use crate::usage::{amount, assistant_usage, Usage};
use crate::{Converted, FormatError, RecordError};

pub fn convert(ctx: &mut Context<'_>, file: &crate::SourceFile<'_>) -> Result<Vec<Converted>, FormatError> {
    let doc = ctx.document()?;
    Ok(vec![at_index(0, record(ctx, file, &doc))])
}

/// `logs/<instance_id>/report.json`: a SWE-bench evaluation report, read as the label of
/// the trajectory of the same instance.
pub(crate) fn is_label_file(path: &Path) -> bool {
    path.file_name().is_some_and(|n| n == "report.json")
        && path.parent().and_then(Path::parent).and_then(Path::file_name).is_some_and(|n| n == "logs")
}

/// Where the report of `instance_id` may be: `<labels>/<id>/report.json`, then the
/// `logs/<id>/report.json` of the folder holding `trajs/`.
fn report_paths(file: &crate::SourceFile<'_>, instance_id: &str) -> Vec<PathBuf> {
    let mut out = Vec::new();
    if let Some(dir) = file.labels_dir {
        out.push(dir.join(instance_id).join("report.json"));
    }
    if let Some(run_dir) = file.path.and_then(Path::parent).and_then(Path::parent) {
        out.push(run_dir.join("logs").join(instance_id).join("report.json"));
    }
    out
}

/// Reads the report of `instance_id`; a missing report is no label, an unreadable one
/// is kept as the reason in metadata rather than failing the trajectory.
fn label(file: &crate::SourceFile<'_>, instance_id: &str) -> (Option<Value>, Option<String>) {
    for path in report_paths(file, instance_id) {
        let Ok(bytes) = std::fs::read(&path) else { continue };
        return match serde_json::from_slice::<Value>(&bytes) {
            // SWE-bench writes `{instance_id: {...}}`; some harnesses write the inner object.
            Ok(v) => (Some(v.get(instance_id).cloned().unwrap_or(v)), None),
            Err(e) => (None, Some(format!("{}: invalid JSON: {e}", path.display()))),
        };
    }
    (None, None)
}

/// The run's cost is mini-swe-agent's own total, `model_stats.instance_cost`; the tokens
/// are summed over the responses kept on the assistant messages (`extra.response.usage`,
/// LiteLLM's `prompt_tokens` / `completion_tokens`), which `model_stats` does not count.
fn usage(obj: &Map<String, Value>, info: &Map<String, Value>) -> Usage {
    let messages = obj.get("messages").and_then(Value::as_array).map(Vec::as_slice).unwrap_or(&[]);
    let summed = assistant_usage(messages, |m| m.pointer("/extra/response/usage"));
    let total = Usage {
        cost: info.get("model_stats").and_then(|s| s.get("instance_cost")).and_then(amount),
        ..Usage::default()
    };
    total.or(summed)
}

fn record(ctx: &mut Context<'_>, file: &crate::SourceFile<'_>, doc: &Value) -> Result<Value, RecordError> {
    let obj = crate::normalize::object(doc)?;
    let messages = match obj.get("messages") {
        Some(Value::Array(m)) => chat_messages(m, "messages")?,
        _ => return Err(RecordError::new("messages", "expected a list of messages")),
    };
    let instance_id = obj.get("instance_id").and_then(as_id);
    let mut b = ctx.new_record(&[instance_id.clone().unwrap_or_else(|| "0".into())]);
    b.set("agent_name", Value::String("mini-swe-agent".into()));
    if let Some(id) = &instance_id {
        b.set("data_id", Value::String(id.clone()));
    }
    let info = obj.get("info").and_then(Value::as_object);
    if let Some(info) = info {
        b.set_id("termination_reason", info.get("exit_status").unwrap_or(&Value::Null));
        let model = info.get("config").and_then(|c| c.pointer("/model/model_name")).cloned().unwrap_or(Value::Null);
        b.model(&model).meta("model", model);
        b.usage(&usage(obj, info));
        let patch = info.get("submission").and_then(crate::verifier::patch);
        let used_as_patch: &[&str] = if patch.is_some() { &["exit_status", "submission"] } else { &["exit_status"] };
        b.meta("patch", patch.unwrap_or(Value::Null));
        b.meta_rest(info, used_as_patch);
    }
    // The task is the first user message (the issue, inside the instance template).
    if let Some(first_user) = messages.iter().find(|m| m["role"] == "user") {
        b.question(&Value::String(plain_text(&first_user["content"])));
    }
    if let Some(id) = &instance_id {
        let (report, problem) = label(file, id);
        if let Some(report) = report {
            if let Some(resolved) = report.get("resolved").and_then(Value::as_bool) {
                b.set_bool("is_success", Some(resolved));
                // SWE-bench's reward is exactly resolved or not.
                b.set("reward", Value::from(if resolved { 1.0 } else { 0.0 }));
            }
            // The tests move to `verifier_tests`; the rest of the report stays as it was.
            let mut report = report;
            if let Some(tests) = crate::verifier::swebench_tests(&report) {
                b.meta("verifier_tests", Value::Array(tests));
                report.as_object_mut().map(|r| r.remove("tests_status"));
            }
            b.meta("report", report);
        }
        if let Some(p) = problem {
            b.meta("report_error", Value::String(p));
        }
    }
    b.meta_rest(obj, &["messages", "instance_id", "info"]);
    b.steps(messages);
    Ok(b.finish())
}
