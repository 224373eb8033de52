//! A trial's `agent/` folder as native steps, in order of preference:
//!
//! 1. `trajectory.json` in ATIF (Harbor's own agents, and the installed agents Harbor
//!    converts: claude-code, codex, gemini-cli, openhands, ...), read by the `atif` module;
//!    its `continued_trajectory_ref` chain (`trajectory.cont-1.json`, ...) is appended, and
//!    the subagent trajectories its observations refer to (`trajectory.summarization-*`)
//!    become records of their own.
//! 2. A `trajectory.json` that is not ATIF is said so in `metadata.trajectory_error`; a
//!    list of `{episode, prompt, response}` (a custom agent's episodes) is still read as
//!    user/assistant pairs, marked in `metadata.steps_source`.
//! 3. Otherwise the logs, as plain steps: `episode-N/prompt.txt` + `response.txt`
//!    (terminus), else `command-N/command.txt` + `stdout.txt` (installed agents: a tool
//!    call and its result), else each `*.txt` log as one assistant step.

use std::path::{Path, PathBuf};

use serde_json::{json, Value};

use crate::normalize::{content, message, observation, tool_call, Context};

/// What the agent folder gave: steps, metadata about them, the agent's own totals (used
/// where result.json has none), and subagent records `(session id, record)`.
#[derive(Default)]
pub(super) struct Agent {
    pub(super) steps: Vec<Value>,
    pub(super) meta: Vec<(String, Value)>,
    pub(super) totals: Vec<(String, Value)>,
    pub(super) subagents: Vec<(String, Value)>,
}

/// How many continuation files are followed (a guard against a reference cycle).
const MAX_CONTINUATIONS: usize = 64;

pub(super) fn read(ctx: &mut Context<'_>, trial_dir: &Path) -> Agent {
    let dir = trial_dir.join("agent");
    let mut got = Agent::default();
    let path = dir.join("trajectory.json");
    if let Ok(bytes) = std::fs::read(&path) {
        match serde_json::from_slice::<Value>(&bytes) {
            Ok(doc) if is_atif(&doc) => {
                atif(ctx, &dir, doc, &mut got);
                return got;
            }
            Ok(Value::Array(rows)) if !rows.is_empty() && rows.iter().all(is_episode) => {
                got.steps = episodes(&rows);
                got.meta.push((
                    "steps_source".into(),
                    json!("agent/trajectory.json (not ATIF: {episode, prompt, response} list)"),
                ));
                return got;
            }
            Ok(other) => got.meta.push((
                "trajectory_error".into(),
                json!(format!(
                    "agent/trajectory.json is not ATIF (no schema_version/steps; found {}): its steps are not read",
                    shape(&other)
                )),
            )),
            Err(e) => {
                got.meta.push(("trajectory_error".into(), json!(format!("agent/trajectory.json: invalid JSON: {e}"))))
            }
        }
    }
    logs(&dir, &mut got);
    got
}

fn is_atif(doc: &Value) -> bool {
    doc.get("schema_version").and_then(Value::as_str).is_some_and(|v| v.starts_with("ATIF"))
        && doc.get("steps").is_some_and(Value::is_array)
}

fn is_episode(row: &Value) -> bool {
    row.get("prompt").is_some() && row.get("response").is_some()
}

fn shape(v: &Value) -> String {
    match v {
        Value::Object(o) => format!("an object with keys {}", o.keys().take(8).cloned().collect::<Vec<_>>().join(", ")),
        Value::Array(a) => format!("a list of {} items", a.len()),
        _ => "a scalar".into(),
    }
}

/// The ATIF trajectory, its continuations appended, its subagents collected.
fn atif(ctx: &mut Context<'_>, dir: &Path, doc: Value, got: &mut Agent) {
    let mut doc = doc;
    let mut file = "trajectory.json".to_string();
    let mut continuations = Vec::new();
    for _ in 0..=MAX_CONTINUATIONS {
        let converted = match crate::atif::document(ctx, &file, &doc) {
            Ok(r) => r,
            Err(e) => {
                got.meta.push(("trajectory_error".into(), json!(format!("agent/{file}: {e}"))));
                break;
            }
        };
        let mut steps = converted.get("steps").and_then(Value::as_array).cloned().unwrap_or_default();
        if let (false, Some(Value::Object(first))) = (continuations.is_empty(), steps.first_mut()) {
            // Where a context reset starts a new conversation.
            first.insert("continuation".into(), json!(file));
        }
        subagents(ctx, dir, &steps, got);
        got.steps.extend(steps);
        if continuations.is_empty() {
            let mut meta = converted.get("metadata").and_then(Value::as_object).cloned().unwrap_or_default();
            meta.remove("source_format");
            got.meta.push(("atif".into(), Value::Object(meta)));
            got.meta.push((
                "steps_source".into(),
                json!(format!("agent/trajectory.json ({})", doc["schema_version"].as_str().unwrap_or("ATIF"))),
            ));
        }
        // Each continuation's final_metrics count from the start of the run: the last one holds.
        got.totals = totals(doc.get("final_metrics"));
        let Some(next) = doc.get("continued_trajectory_ref").and_then(Value::as_str).map(str::to_string) else { break };
        match std::fs::read(dir.join(&next)).ok().and_then(|b| serde_json::from_slice::<Value>(&b).ok()) {
            Some(d) if is_atif(&d) => {
                continuations.push(json!(next));
                doc = d;
                file = next;
            }
            _ => {
                got.meta.push((
                    "trajectory_error".into(),
                    json!(format!("agent/{next} (continued_trajectory_ref) is missing or not ATIF")),
                ));
                break;
            }
        }
    }
    if !continuations.is_empty() {
        got.meta.push(("continuations".into(), Value::Array(continuations)));
    }
}

/// ATIF's `final_metrics` under the names of the conventions.
fn totals(final_metrics: Option<&Value>) -> Vec<(String, Value)> {
    let Some(m) = final_metrics.and_then(Value::as_object) else { return Vec::new() };
    [
        ("input_tokens", "total_prompt_tokens"),
        ("output_tokens", "total_completion_tokens"),
        ("cache_read_tokens", "total_cached_tokens"),
        ("cost", "total_cost_usd"),
    ]
    .iter()
    .filter_map(|(ours, theirs)| m.get(*theirs).filter(|v| v.is_number()).map(|v| (ours.to_string(), v.clone())))
    .collect()
}

/// The subagent trajectories the tool steps refer to (`subagent_trajectory_ref: [{session_id,
/// trajectory_path}]`), each read from the agent folder as a record of its own.
fn subagents(ctx: &mut Context<'_>, dir: &Path, steps: &[Value], got: &mut Agent) {
    let refs = steps.iter().filter_map(|s| s.get("subagent_trajectory_ref")).flat_map(|r| match r {
        Value::Array(items) => items.clone(),
        one => vec![one.clone()],
    });
    for r in refs {
        let Some(file) = r.get("trajectory_path").and_then(Value::as_str) else { continue };
        let path = dir.join(file);
        let Some(doc) =
            std::fs::read(&path).ok().and_then(|b| serde_json::from_slice::<Value>(&b).ok()).filter(is_atif)
        else {
            continue;
        };
        let session = r.get("session_id").and_then(Value::as_str).unwrap_or(file).to_string();
        if let Ok(mut record) = crate::atif::document(ctx, file, &doc) {
            record["source"] = json!(path.display().to_string());
            got.subagents.push((session, record));
        }
    }
}

/// A custom agent's `[{episode, prompt, response}]` as user/assistant pairs.
fn episodes(rows: &[Value]) -> Vec<Value> {
    let mut steps = Vec::new();
    for row in rows {
        for (role, key) in [("user", "prompt"), ("assistant", "response")] {
            let mut step = message(role, content(&row[key]));
            if let Some(e) = row.get("episode").filter(|e| !e.is_null()) {
                step.insert("episode".into(), e.clone());
            }
            steps.push(Value::Object(step));
        }
    }
    steps
}

fn text(path: &Path) -> Option<String> {
    std::fs::read(path).ok().map(|b| String::from_utf8_lossy(&b).into_owned())
}

/// The folders `<prefix>N` of `dir`, by N.
fn numbered(dir: &Path, prefix: &str) -> Vec<(u64, PathBuf)> {
    let Ok(entries) = std::fs::read_dir(dir) else { return Vec::new() };
    let mut out: Vec<(u64, PathBuf)> = entries
        .flatten()
        .filter_map(|e| {
            let n = e.file_name().to_str()?.strip_prefix(prefix)?.parse().ok()?;
            e.path().is_dir().then(|| (n, e.path()))
        })
        .collect();
    out.sort();
    out
}

/// The agent's logs as plain steps (see the module header).
fn logs(dir: &Path, got: &mut Agent) {
    let mut steps = Vec::new();
    for (n, ep) in numbered(dir, "episode-") {
        for (role, file) in [("user", "prompt.txt"), ("assistant", "response.txt")] {
            if let Some(t) = text(&ep.join(file)) {
                let mut step = message(role, Value::String(t));
                step.insert("episode".into(), json!(n));
                steps.push(Value::Object(step));
            }
        }
    }
    let mut source = "agent/episode-*/{prompt,response}.txt";
    if steps.is_empty() {
        source = "agent/command-*/{command,stdout}.txt";
        for (n, cmd) in numbered(dir, "command-") {
            let Some(command) = text(&cmd.join("command.txt")) else { continue };
            let id = format!("command-{n}");
            let mut call = message("assistant", Value::Null);
            call.insert(
                "tool_calls".into(),
                json!([tool_call(&json!(id), &json!("command"), &json!({"command": command}), None, &[])]),
            );
            steps.push(Value::Object(call));
            let mut result = observation(
                Some(id),
                Some("command"),
                text(&cmd.join("stdout.txt")).map(Value::String).unwrap_or(Value::Null),
            );
            if let Some(rc) = text(&cmd.join("return-code.txt")).and_then(|t| t.trim().parse::<i64>().ok()) {
                result.insert("return_code".into(), json!(rc));
            }
            steps.push(Value::Object(result));
        }
    }
    if steps.is_empty() {
        source = "agent/*.txt";
        let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
            .into_iter()
            .flatten()
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.is_file() && p.extension().is_some_and(|e| e == "txt"))
            .collect();
        files.sort();
        for f in files {
            let Some(t) = text(&f).filter(|t| !t.trim().is_empty()) else { continue };
            let mut step = message("assistant", Value::String(t));
            step.insert("log_file".into(), json!(f.file_name().map(|n| n.to_string_lossy().into_owned())));
            steps.push(Value::Object(step));
        }
    }
    if !steps.is_empty() {
        got.meta.push(("steps_source".into(), json!(source)));
    }
    got.steps = steps;
}
