//! The trajectory of one rollout file: ids and metadata from `session_meta`, turns from
//! `turn_context` and the turn events, token totals from `token_count`, and the steps.

use std::collections::HashMap;

use serde_json::{Map, Value};
use trajstore_model::parse_timestamp;

use crate::normalize::{as_id, plain_text, Context};
use crate::RecordError;

use super::{steps, Line};

pub(crate) fn trajectory(ctx: &mut Context<'_>, lines: &[Line]) -> Result<Value, RecordError> {
    let meta = SessionMeta::collect(lines);
    let turns = Turns::collect(lines);
    let built = steps::build(lines);
    let id = meta.id.clone().unwrap_or_else(|| "session".to_string());
    let mut b = ctx.new_record(&[id]);
    b.set("agent_name", Value::String("codex".into()));
    b.question(&question(&built.steps, lines));
    // The session's own start (before its first line was written), else the first line's time.
    let first_line_time = lines.iter().find_map(|l| l.timestamp.clone()).map(Value::String);
    if let Some(t) = meta.first.as_ref().and_then(|p| p.get("timestamp")).or(first_line_time.as_ref()) {
        b.created_at(t);
    }
    if let Some(secs) = turns.exec_time().or_else(|| span(lines)) {
        b.set_number("exec_time", &Value::from(secs));
    }
    if let Some(reason) = turns.termination() {
        b.set("termination_reason", Value::String(reason));
    }
    let (model, models) = most_used(turns.list.iter().filter_map(|t| t.get("model").and_then(Value::as_str)));
    b.meta("model", model.map_or(Value::Null, Value::String));
    if models.len() > 1 {
        b.meta("models", Value::from(models));
    }
    let (effort, _) = most_used(turns.list.iter().filter_map(|t| t.get("effort").and_then(Value::as_str)));
    b.meta("effort", effort.map_or(Value::Null, Value::String));
    for (k, v) in tokens(lines) {
        b.meta(&k, v);
    }
    meta.write(&mut b);
    turns.write(&mut b);
    b.meta("patch", built.patch.map_or(Value::Null, Value::String));
    if !built.events.is_empty() {
        b.meta("events", Value::Array(built.events));
    }
    if !built.other_lines.is_empty() {
        b.meta("other_lines", Value::Array(built.other_lines));
    }
    b.steps(built.steps);
    Ok(b.finish())
}

/// The first user message Codex did not inject; the first typed prompt when none is left.
fn question(steps: &[Value], lines: &[Line]) -> Value {
    let from_steps = steps.iter().find(|s| s["role"] == "user" && s.get("injected").is_none());
    if let Some(step) = from_steps {
        return Value::String(plain_text(&step["content"]));
    }
    lines
        .iter()
        .find(|l| l.kind == "event_msg" && l.payload_type() == "user_message")
        .and_then(|l| l.payload.get("message").cloned())
        .unwrap_or(Value::Null)
}

/// Seconds from the first to the last line's timestamp.
fn span(lines: &[Line]) -> Option<f64> {
    let micros: Vec<i64> = lines.iter().filter_map(|l| parse_timestamp(l.timestamp.as_deref()?)).collect();
    let (first, last) = (micros.iter().min()?, micros.iter().max()?);
    Some((last - first) as f64 / 1e6)
}

/// The most frequent value (the first seen wins a tie) and all values in first-seen order.
fn most_used<'a>(values: impl Iterator<Item = &'a str>) -> (Option<String>, Vec<String>) {
    let mut order: Vec<String> = Vec::new();
    let mut counts: HashMap<String, usize> = HashMap::new();
    for v in values {
        if !counts.contains_key(v) {
            order.push(v.to_string());
        }
        *counts.entry(v.to_string()).or_default() += 1;
    }
    let best = order.iter().fold(None::<&String>, |best, v| match best {
        Some(b) if counts[b] >= counts[v] => Some(b),
        _ => Some(v),
    });
    (best.cloned(), order)
}

/// Codex's token names as trajstore's metadata columns name them.
fn token_key(codex: &str) -> String {
    match codex {
        "cached_input_tokens" => "cache_read_tokens",
        "cache_write_input_tokens" => "cache_write_tokens",
        "reasoning_output_tokens" => "reasoning_tokens",
        other => other,
    }
    .to_string()
}

/// The session's token totals, from `token_count` events: each carries the cumulative
/// `total_token_usage`, so the last one is the total. A total smaller than the one before
/// means the counter started again (a resumed session in some versions): what was counted
/// before is added.
fn tokens(lines: &[Line]) -> Vec<(String, Value)> {
    let mut banked: Map<String, Value> = Map::new();
    let mut last: Option<&Map<String, Value>> = None;
    let mut rate_limits = None;
    for line in lines.iter().filter(|l| l.kind == "event_msg" && l.payload_type() == "token_count") {
        rate_limits = line.payload.get("rate_limits").filter(|r| !r.is_null()).or(rate_limits);
        let Some(total) = line.payload.get("info").and_then(|i| i.get("total_token_usage")).and_then(Value::as_object)
        else {
            continue;
        };
        let size = |m: &Map<String, Value>| m.get("total_tokens").and_then(Value::as_i64).unwrap_or(0);
        if let Some(prev) = last.filter(|prev| size(total) < size(prev)) {
            add(&mut banked, prev);
        }
        last = Some(total);
    }
    let mut sums = banked;
    if let Some(last) = last {
        add(&mut sums, last);
    }
    let mut out: Vec<(String, Value)> = sums.into_iter().map(|(k, v)| (token_key(&k), v)).collect();
    if let Some(r) = rate_limits {
        out.push(("rate_limits".into(), r.clone()));
    }
    out
}

fn add(sums: &mut Map<String, Value>, usage: &Map<String, Value>) {
    for (k, v) in usage {
        if let Some(n) = v.as_i64() {
            let held = sums.get(k).and_then(Value::as_i64).unwrap_or(0);
            sums.insert(k.clone(), Value::from(held + n));
        }
    }
}

/// What the `session_meta` lines say. The first names the session; later ones with the
/// same id are resumes (only what changed is kept); lines with another id come from a
/// session whose history this file carries (a fork, a sub-agent) and are kept whole.
#[derive(Default)]
struct SessionMeta {
    id: Option<String>,
    first: Option<Map<String, Value>>,
    resumes: Vec<Value>,
    others: Vec<Value>,
}

impl SessionMeta {
    fn collect(lines: &[Line]) -> SessionMeta {
        let mut meta = SessionMeta::default();
        for line in lines.iter().filter(|l| l.kind == "session_meta") {
            let p = &line.payload;
            let id = p.get("id").or_else(|| p.get("session_id")).and_then(as_id);
            let ts = line.timestamp.clone().map_or(Value::Null, Value::String);
            let Some(first) = &meta.first else {
                meta.id = id;
                meta.first = Some(p.clone());
                continue;
            };
            let mut kept: Map<String, Value> = Map::new();
            // The line's own time: when the session was resumed (or the history copied).
            kept.insert("line_timestamp".into(), ts);
            let same = id == meta.id;
            for (k, v) in p {
                // A resume repeats the session's fields: only changed ones are news.
                if !v.is_null() && (first.get(k) != Some(v) || (!same && !is_bulky(k))) {
                    kept.insert(k.clone(), v.clone());
                }
            }
            if same {
                meta.resumes.push(Value::Object(kept));
            } else {
                meta.others.push(Value::Object(kept));
            }
        }
        meta
    }

    fn write(&self, b: &mut crate::normalize::Builder) {
        let Some(first) = &self.first else { return };
        b.meta("session_id", self.id.clone().map_or(Value::Null, Value::String));
        let instructions = first.get("base_instructions").or_else(|| first.get("instructions"));
        let text = instructions.map(|i| match i.get("text") {
            Some(Value::String(t)) if i.as_object().is_some_and(|o| o.len() == 1) => Value::String(t.clone()),
            _ => i.clone(),
        });
        b.meta("base_instructions", text.unwrap_or(Value::Null));
        let same_id = |v: &Value| as_id(v) == self.id;
        for (k, v) in first {
            match k.as_str() {
                "id" | "timestamp" | "base_instructions" | "instructions" => {}
                "session_id" if same_id(v) => {}
                _ => {
                    b.keep(k, v);
                }
            }
        }
        // A sub-agent's session names the session that spawned it.
        let parent = first.get("source").and_then(|s| s.pointer("/subagent/thread_spawn/parent_thread_id"));
        b.meta("parent_session_id", parent.cloned().unwrap_or(Value::Null));
        if !self.resumes.is_empty() {
            b.meta("resumes", Value::Array(self.resumes.clone()));
        }
        if !self.others.is_empty() {
            b.meta("other_sessions", Value::Array(self.others.clone()));
        }
    }
}

/// Fields of another session's `session_meta` that are left out when equal to this one's.
fn is_bulky(key: &str) -> bool {
    matches!(key, "base_instructions" | "instructions" | "dynamic_tools")
}

/// The turns, in order: each `{turn_id, model, effort, started_at, completed_at,
/// duration_ms, time_to_first_token_ms, status: completed|aborted, reason, ...}`.
#[derive(Default)]
struct Turns {
    list: Vec<Map<String, Value>>,
    by_id: HashMap<String, usize>,
    /// Distinct `turn_context` settings other than the per-turn model, effort and date.
    contexts: Vec<Value>,
    context_window: Option<Value>,
}

impl Turns {
    fn collect(lines: &[Line]) -> Turns {
        let mut turns = Turns::default();
        for line in lines {
            let p = &line.payload;
            match (line.kind.as_str(), line.payload_type()) {
                ("turn_context", _) => {
                    let turn = turns.turn(p.get("turn_id"), false);
                    for k in ["model", "effort", "current_date"] {
                        if let Some(v) = p.get(k).filter(|v| !v.is_null()) {
                            turn.insert(k.into(), v.clone());
                        }
                    }
                    let rest: Map<String, Value> = p
                        .iter()
                        .filter(|(k, v)| {
                            !matches!(k.as_str(), "turn_id" | "model" | "effort" | "current_date") && !v.is_null()
                        })
                        .map(|(k, v)| (k.clone(), v.clone()))
                        .collect();
                    let rest = Value::Object(rest);
                    if !turns.contexts.contains(&rest) {
                        turns.contexts.push(rest);
                    }
                }
                ("event_msg", "task_started") => {
                    if let Some(w) = p.get("model_context_window").filter(|w| !w.is_null()) {
                        turns.context_window = Some(w.clone());
                    }
                    let turn = turns.turn(p.get("turn_id"), true);
                    copy(turn, p, &["type", "turn_id", "model_context_window"]);
                }
                ("event_msg", kind @ ("task_complete" | "turn_aborted")) => {
                    let turn = turns.turn(p.get("turn_id"), false);
                    let status = if kind == "task_complete" { "completed" } else { "aborted" };
                    turn.insert("status".into(), Value::String(status.into()));
                    // The last agent message is the turn's last assistant step already.
                    copy(turn, p, &["type", "turn_id", "last_agent_message"]);
                }
                _ => {}
            }
        }
        turns
    }

    /// The turn named `id`; without an id, the last turn (or a new one when `new`).
    fn turn(&mut self, id: Option<&Value>, new: bool) -> &mut Map<String, Value> {
        let id = id.and_then(as_id);
        let index = match &id {
            Some(id) => self.by_id.get(id).copied(),
            None if new => None,
            None => self.list.len().checked_sub(1),
        };
        let index = index.unwrap_or_else(|| {
            let mut turn = Map::new();
            if let Some(id) = &id {
                turn.insert("turn_id".into(), Value::String(id.clone()));
                self.by_id.insert(id.clone(), self.list.len());
            }
            self.list.push(turn);
            self.list.len() - 1
        });
        &mut self.list[index]
    }

    /// The sum of the turns' `duration_ms`, in seconds; `None` when no turn has one.
    fn exec_time(&self) -> Option<f64> {
        let ms: Vec<f64> = self.list.iter().filter_map(|t| t.get("duration_ms").and_then(Value::as_f64)).collect();
        (!ms.is_empty()).then(|| ms.iter().sum::<f64>() / 1000.0)
    }

    /// How the last turn ended: `completed`, the abort's reason, or nothing while it runs.
    fn termination(&self) -> Option<String> {
        let last = self.list.last()?;
        match last.get("status").and_then(Value::as_str)? {
            "aborted" => Some(last.get("reason").and_then(as_id).unwrap_or_else(|| "aborted".into())),
            other => Some(other.to_string()),
        }
    }

    fn write(&self, b: &mut crate::normalize::Builder) {
        if self.list.is_empty() {
            return;
        }
        let aborted = self.list.iter().filter(|t| t.get("status").and_then(Value::as_str) == Some("aborted")).count();
        b.meta("turn_count", Value::from(self.list.len()));
        b.meta("aborted_turns", Value::from(aborted));
        b.meta("turns", Value::Array(self.list.iter().cloned().map(Value::Object).collect()));
        if !self.contexts.is_empty() {
            b.meta("turn_contexts", Value::Array(self.contexts.clone()));
        }
        b.meta("model_context_window", self.context_window.clone().unwrap_or(Value::Null));
    }
}

fn copy(turn: &mut Map<String, Value>, p: &Map<String, Value>, skip: &[&str]) {
    for (k, v) in p {
        if !skip.contains(&k.as_str()) && !v.is_null() {
            turn.insert(k.clone(), v.clone());
        }
    }
}
