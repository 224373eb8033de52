//! Harbor (terminal-bench's harness) job and trial directories, and Harbor's trace exports.
//!
//! A job directory holds `config.json` (JobConfig: job_name, jobs_dir, n_attempts, agents,
//! ...), `result.json` (JobResult: id, n_total_trials, stats) and one folder per trial,
//! `<task>__<rand>/`, holding `config.json` (TrialConfig), `result.json` (TrialResult:
//! trial_name, task_name, agent_info, agent_result, verifier_result, exception_info,
//! timings), `agent/` (the agent's logs and, for agents that write one, an ATIF
//! `trajectory.json`) and `verifier/` (`reward.txt`, `test-stdout.txt`, often `ctrf.json`).
//!
//! * A trial's `result.json` is the file this format converts: one trajectory per trial,
//!   the steps read from its `agent/` folder (see [`trial`] and [`agent`]).
//! * Every other file of a trial, and the job's own `config.json`/`result.json`/`job.log`,
//!   is a companion ([`is_companion`]): a directory walk leaves it out.
//! * A job's `result.json` or `config.json` (or a trial's `config.json`) given on its own
//!   converts the trials of its folder; with no trial folder beside it, it is refused as
//!   a job summary, saying so. The ids are those of the trials' own `result.json`.
//! * `harbor traces export` files (`*.traces.json`, rows of `{conversations, agent, model,
//!   task, episode, run_id, trial_name, result}`) are read by [`traces`].

mod agent;
mod traces;
mod trial;

use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::detect::Shape;
use crate::normalize::{as_id, at_index, Context};
use crate::{Converted, FormatError};

/// What a Harbor JSON document is, from its top-level keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    TrialResult,
    TrialConfig,
    JobResult,
    JobConfig,
    Traces,
}

fn kind_of_keys(has: impl Fn(&str) -> bool, array: bool) -> Option<Kind> {
    if array {
        return (has("conversations") && has("episode") && (has("run_id") || has("trial_name")))
            .then_some(Kind::Traces);
    }
    if has("n_total_trials") && has("stats") {
        Some(Kind::JobResult)
    } else if has("job_name") && has("jobs_dir") && (has("orchestrator") || has("n_attempts")) {
        Some(Kind::JobConfig)
    } else if has("trial_name") && has("task_name") && (has("trial_uri") || has("agent_info") || has("verifier_result"))
    {
        Some(Kind::TrialResult)
    } else if has("trial_name") && has("trials_dir") && has("task") {
        Some(Kind::TrialConfig)
    } else {
        None
    }
}

fn kind_of(doc: &Value) -> Option<Kind> {
    match doc {
        Value::Array(rows) => rows.first()?.as_object().and_then(|r| kind_of_keys(|k| r.contains_key(k), true)),
        Value::Object(o) => kind_of_keys(|k| o.contains_key(k), false),
        _ => None,
    }
}

/// True when the start of a file (`bytes`, whose first record's keys are `shape`) is this format.
pub(crate) fn detect(shape: &Shape, _bytes: &[u8]) -> bool {
    kind_of_keys(|k| shape.has(k), shape.array).is_some()
}

pub fn convert(ctx: &mut Context<'_>, file: &crate::SourceFile<'_>) -> Result<Vec<Converted>, FormatError> {
    let doc = ctx.document()?;
    let here = file.path.and_then(Path::parent);
    match kind_of(&doc) {
        Some(Kind::TrialResult) => Ok(numbered(vec![trial::records(file, &doc)])),
        Some(Kind::Traces) => Ok(traces::convert(ctx, &doc)),
        Some(Kind::TrialConfig) => {
            let Some(result) = here.map(|d| d.join("result.json")).filter(|p| p.is_file()) else {
                return Err(ctx.invalid(
                    "a Harbor trial config.json with no result.json beside it (the trial did not finish?): \
                     no trajectory to read",
                ));
            };
            trials(ctx, &[result])
        }
        Some(Kind::JobResult | Kind::JobConfig) => {
            let found = here.map(trial_results).unwrap_or_default();
            if found.is_empty() {
                let job = doc.get("id").or_else(|| doc.get("job_name")).and_then(as_id).unwrap_or_default();
                return Err(ctx.invalid(format!(
                    "a Harbor job summary (job {job}): it holds no trajectory itself, and no trial folder \
                     (<task>__<id>/result.json) was found beside it; import the job folder or its trials"
                )));
            }
            trials(ctx, &found)
        }
        None => Err(ctx.invalid(
            "not a Harbor trial result.json (trial_name, task_name, agent_info, ...), job file or trace export",
        )),
    }
}

/// The trials of `paths` (each a trial's result.json), each with the id its own file gives.
fn trials(ctx: &Context<'_>, paths: &[PathBuf]) -> Result<Vec<Converted>, FormatError> {
    let mut out = Vec::new();
    for path in paths {
        let bytes = std::fs::read(path).map_err(|e| ctx.invalid(format!("{}: {e}", path.display())))?;
        let label = path.display().to_string();
        let file = crate::SourceFile { label: &label, path: Some(path), bytes: &bytes, labels_dir: None };
        out.push(match serde_json::from_slice::<Value>(&bytes) {
            Ok(doc) => trial::records(&file, &doc),
            Err(e) => Err(crate::RecordError::whole(format!("{}: invalid JSON: {e}", path.display()))),
        });
    }
    Ok(numbered(out))
}

/// The records of each trial in turn (a trial that failed is one error), numbered in order.
fn numbered(trials: Vec<Result<Vec<Value>, crate::RecordError>>) -> Vec<Converted> {
    let flat = trials.into_iter().flat_map(|t| match t {
        Ok(records) => records.into_iter().map(Ok).collect::<Vec<_>>(),
        Err(e) => vec![Err(e)],
    });
    flat.enumerate().map(|(i, r)| at_index(i, r)).collect()
}

/// The result.json of every trial folder directly under a job folder, by folder name.
fn trial_results(job_dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(job_dir) else { return Vec::new() };
    let mut out: Vec<PathBuf> = entries
        .flatten()
        .map(|e| e.path().join("result.json"))
        .filter(|p| file_kind(p) == Some(Kind::TrialResult))
        .collect();
    out.sort();
    out
}

/// The kind of a Harbor file on disk (`None` when absent, unreadable or not Harbor's).
fn file_kind(path: &Path) -> Option<Kind> {
    if !path.is_file() {
        return None;
    }
    let bytes = std::fs::read(path).ok()?;
    kind_of(&serde_json::from_slice::<Value>(&bytes).ok()?)
}

/// How far below a trial folder its files go (agent/sessions/projects/<p>/<s>.jsonl).
const TRIAL_DEPTH: usize = 6;

/// True for a file a directory walk leaves out because this format reads it with another:
/// every file of a trial folder but its result.json (config.json, trial.log, agent/**,
/// verifier/**), and a job's config.json, result.json and job.log.
pub(crate) fn is_companion(path: &Path) -> bool {
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
    for (depth, dir) in path.ancestors().skip(1).take(TRIAL_DEPTH).enumerate() {
        if file_kind(&dir.join("result.json")) == Some(Kind::TrialResult) {
            return !(depth == 0 && name == "result.json");
        }
    }
    let job_file = |p: &Path| matches!(file_kind(p), Some(Kind::JobResult | Kind::JobConfig));
    match name {
        "result.json" | "config.json" => job_file(path),
        "job.log" => {
            path.parent().is_some_and(|d| job_file(&d.join("result.json")) || job_file(&d.join("config.json")))
        }
        _ => false,
    }
}
