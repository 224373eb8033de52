//! One native record per trajectory group: ids, parent/child links, steps, and the
//! session's metadata (model, token sums, events).

use std::collections::HashMap;

use serde_json::{Map, Value};
use trajstore_model::parse_timestamp;

use super::steps::Steps;
use super::{text, Group, SESSION_KEYS};
use crate::normalize::{at_line, plain_text, Context};
use crate::Converted;

/// What the groups of one file say about Task calls: their inputs, and which sub-agent
/// each one's result names.
struct Tasks<'a> {
    /// tool_use id -> (main group, input) of every tool call of a main conversation.
    calls: HashMap<String, (usize, &'a Value)>,
    /// `agentId` named by a tool result's `toolUseResult` -> its tool_use id.
    by_agent: HashMap<String, String>,
}

fn blocks(obj: &Map<String, Value>) -> &[Value] {
    obj.get("message").and_then(|m| m.get("content")).and_then(Value::as_array).map_or(&[], Vec::as_slice)
}

fn tasks(groups: &[Group]) -> Tasks<'_> {
    let mut t = Tasks { calls: HashMap::new(), by_agent: HashMap::new() };
    for (gi, g) in groups.iter().enumerate().filter(|(_, g)| g.agent.is_none()) {
        for e in &g.entries {
            for b in blocks(&e.obj) {
                match b.get("type").and_then(Value::as_str) {
                    Some("tool_use") => {
                        if let (Some(id), Some(input)) = (b.get("id").and_then(Value::as_str), b.get("input")) {
                            t.calls.insert(id.to_string(), (gi, input));
                        }
                    }
                    Some("tool_result") => {
                        let agent = e.obj.get("toolUseResult").and_then(|r| r.get("agentId")).and_then(Value::as_str);
                        if let (Some(agent), Some(id)) = (agent, b.get("tool_use_id").and_then(Value::as_str)) {
                            t.by_agent.insert(agent.to_string(), id.to_string());
                        }
                    }
                    _ => {}
                }
            }
        }
    }
    t
}

/// The first thing a user typed: not a meta line, a slash command's echo or a
/// compaction summary.
fn question(steps: &[Value]) -> Option<String> {
    steps.iter().filter(|s| s["role"] == "user").find_map(|s| {
        if s.get("isMeta") == Some(&Value::Bool(true)) || s.get("is_compaction_summary").is_some() {
            return None;
        }
        let t = plain_text(&s["content"]);
        let t = t.trim();
        let command = ["<command-", "<local-command-", "Caveat:"].iter().any(|p| t.starts_with(p));
        (!t.is_empty() && !command).then(|| t.to_string())
    })
}

/// The Task call that started a sub-agent: named by its lines, else by the result that
/// names its `agentId`, else the one whose prompt is the sub-agent's first message.
fn parent_call(g: &Group, tasks: &Tasks<'_>) -> Option<String> {
    if let Some(id) = &g.parent_tool_use_id {
        return Some(id.clone());
    }
    if let Some(id) = g.agent.as_ref().and_then(|a| tasks.by_agent.get(a)) {
        return Some(id.clone());
    }
    let first = g.entries.iter().find(|e| text(&e.obj, "type") == Some("user"))?;
    let prompt = plain_text(first.obj.get("message")?.get("content")?);
    let mut matches: Vec<&String> = tasks
        .calls
        .iter()
        .filter(|(_, (_, input))| input.get("prompt").and_then(Value::as_str) == Some(prompt.as_str()))
        .map(|(id, _)| id)
        .collect();
    matches.sort();
    matches.first().map(|id| id.to_string())
}

pub(super) fn build_all(ctx: &mut Context<'_>, groups: &[Group]) -> Vec<Converted> {
    // Every id first: a parent lists its children's ids and a child names its parent's.
    let ids: Vec<String> = groups
        .iter()
        .map(|g| {
            let session = if g.session_id.is_empty() { format!("line{}", g.first_line) } else { g.session_id.clone() };
            match &g.agent {
                None => ctx.id(&[session]),
                Some(a) => ctx.id(&[session, format!("agent-{a}")]),
            }
        })
        .collect();
    let tasks = tasks(groups);
    let main_of: HashMap<&str, usize> =
        groups.iter().enumerate().filter(|(_, g)| g.agent.is_none()).map(|(i, g)| (g.session_id.as_str(), i)).collect();
    let mut links: Vec<Link> = groups.iter().map(|_| Link::default()).collect();
    for (i, g) in groups.iter().enumerate().filter(|(_, g)| g.agent.is_some()) {
        let call = parent_call(g, &tasks);
        let parent = call
            .as_ref()
            .and_then(|c| tasks.calls.get(c).map(|(p, _)| *p))
            .or_else(|| main_of.get(g.session_id.as_str()).copied());
        if let Some(p) = parent {
            links[p].children.push(ids[i].clone());
            if let Some(c) = &call {
                links[p].calls.insert(c.clone(), ids[i].clone());
            }
            links[i].parent = Some(ids[p].clone());
        }
        links[i].input = call.as_ref().and_then(|c| tasks.calls.get(c)).map(|(_, input)| (*input).clone());
        links[i].call = call;
    }
    let mut out = Vec::new();
    for ((g, id), link) in groups.iter().zip(ids).zip(links) {
        let (record, errors) = build(ctx, g, id, link);
        out.push(at_line(g.first_line, Ok(record)));
        out.extend(errors.into_iter().map(|(line, e)| at_line(line, Err(e))));
    }
    out
}

/// How a trajectory is tied to the others of its file.
#[derive(Default)]
struct Link {
    /// Trajectory ids of the sub-agents this conversation started.
    children: Vec<String>,
    /// tool_use id of a Task call -> the sub-agent trajectory it started.
    calls: HashMap<String, String>,
    parent: Option<String>,
    call: Option<String>,
    /// The Task call's input (subagent_type, description, prompt).
    input: Option<Value>,
}

fn build(ctx: &Context<'_>, g: &Group, id: String, link: Link) -> (Value, Vec<(u64, crate::RecordError)>) {
    let mut steps = Steps::default();
    steps.children = link.calls;
    let mut events = Vec::new();
    let mut last_prompt = None;
    for e in &g.entries {
        if steps.add(e) {
            continue;
        }
        match text(&e.obj, "type") {
            Some("last-prompt") => {
                last_prompt = e.obj.get("lastPrompt").cloned();
                continue;
            }
            // Counted in `progress_counts`; here only for their timestamps.
            Some("progress") => continue,
            _ => {}
        }
        let mut event: Map<String, Value> = e
            .obj
            .iter()
            .filter(|(k, _)| !SESSION_KEYS.contains(&k.as_str()))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        event.insert("line".into(), Value::from(e.line));
        events.push(Value::Object(event));
    }
    let usage = std::mem::take(&mut steps.usage);
    let errors = std::mem::take(&mut steps.errors);
    let steps = steps.finish();

    let mut b = ctx.record(id);
    b.set("agent_name", Value::from("claude-code"));
    match question(&steps).map(Value::String).or_else(|| g.prompt.clone()) {
        Some(q) => b.question(&q),
        None => &mut b,
    };
    times(&mut b, g);
    if !g.session_id.is_empty() {
        b.meta("session_id", Value::from(g.session_id.clone()));
    }
    session_meta(&mut b, g);
    usage_meta(&mut b, &usage);
    if let Some(agent) = &g.agent {
        b.meta("is_sidechain", Value::Bool(true));
        b.meta("agent_id", Value::from(agent.clone()));
        b.meta("parent_session_id", Value::from(g.session_id.clone()));
        b.meta("parent_tool_use_id", link.call.map_or(Value::Null, Value::String));
        b.meta("parent_trajectory_id", link.parent.map_or(Value::Null, Value::String));
        if let Some(input) = &link.input {
            b.meta("subagent_type", input.get("subagent_type").cloned().unwrap_or(Value::Null));
            b.meta("description", input.get("description").cloned().unwrap_or(Value::Null));
        }
    }
    if !link.children.is_empty() {
        b.meta("child_trajectory_ids", Value::from(link.children));
    }
    summary_meta(&mut b, &g.summaries);
    b.meta("last_prompt", last_prompt.unwrap_or(Value::Null));
    if !g.progress.is_empty() {
        b.meta("progress_counts", serde_json::to_value(&g.progress).unwrap_or(Value::Null));
    }
    if !events.is_empty() {
        b.meta("events", Value::Array(events));
    }
    b.steps(steps);
    (b.finish(), errors)
}

/// `created_at` from the first timestamp, `exec_time` from the earliest to the latest.
fn times(b: &mut crate::normalize::Builder, g: &Group) {
    let stamps: Vec<(&Value, i64)> = g
        .entries
        .iter()
        .filter_map(|e| {
            let v = e.obj.get("timestamp")?;
            Some((v, parse_timestamp(v.as_str()?)?))
        })
        .collect();
    if let Some((first, _)) = stamps.first() {
        b.created_at(first);
    }
    let (min, max) = (stamps.iter().map(|s| s.1).min(), stamps.iter().map(|s| s.1).max());
    if let (Some(min), Some(max)) = (min, max) {
        b.set_number("exec_time", &Value::from((max - min) as f64 / 1e6));
    }
}

/// The session's constant keys, once: the first value, and every value when they change
/// (a branch switched or the CLI updated mid-session).
fn session_meta(b: &mut crate::normalize::Builder, g: &Group) {
    for (key, name, plural) in [
        ("cwd", "cwd", "cwds"),
        ("version", "version", "versions"),
        ("gitBranch", "git_branch", "git_branches"),
        ("slug", "slug", "slugs"),
        ("entrypoint", "entrypoint", "entrypoints"),
        ("userType", "user_type", "user_types"),
    ] {
        let mut values: Vec<&str> = Vec::new();
        for v in g.entries.iter().filter_map(|e| text(&e.obj, key)) {
            if !values.contains(&v) {
                values.push(v);
            }
        }
        if let Some(first) = values.first() {
            b.meta(name, Value::from(*first));
        }
        if values.len() > 1 {
            b.meta(plural, Value::from(values));
        }
    }
}

/// Token sums over the API messages (each counted once, however many lines it spans),
/// `input_tokens` counting all the prompt's tokens as the other importers do (Anthropic's
/// own `input_tokens` leaves out the cached and cache-written part),
/// the cost where the transcript has one (`costUSD`, older versions), and the model most
/// used (`<synthetic>`, Claude Code's own placeholder messages, is no model).
fn usage_meta(b: &mut crate::normalize::Builder, usage: &[super::steps::Usage]) {
    let sum = |key: &str| -> i64 { usage.iter().filter_map(|u| u.usage.as_ref()?.get(key)?.as_i64()).sum() };
    if usage.iter().any(|u| u.usage.is_some()) {
        let prompt = sum("input_tokens") + sum("cache_read_input_tokens") + sum("cache_creation_input_tokens");
        b.meta("input_tokens", Value::from(prompt));
        b.meta("output_tokens", Value::from(sum("output_tokens")));
        b.meta("cache_read_tokens", Value::from(sum("cache_read_input_tokens")));
        b.meta("cache_write_tokens", Value::from(sum("cache_creation_input_tokens")));
    }
    if usage.iter().any(|u| u.cost.is_some()) {
        b.meta("cost", Value::from(usage.iter().filter_map(|u| u.cost).sum::<f64>()));
    }
    let mut models: Vec<(&str, usize)> = Vec::new();
    for m in usage.iter().filter_map(|u| u.model.as_deref()).filter(|m| *m != "<synthetic>") {
        match models.iter_mut().find(|(n, _)| *n == m) {
            Some(entry) => entry.1 += 1,
            None => models.push((m, 1)),
        }
    }
    // The most used; on a tie, the first used.
    let top = models.iter().fold(None::<(&str, usize)>, |best, &(m, n)| match best {
        Some((_, bn)) if bn >= n => best,
        _ => Some((m, n)),
    });
    if let Some((m, _)) = top {
        b.meta("model", Value::from(m));
    }
    if models.len() > 1 {
        b.meta("models", Value::from(models.iter().map(|(m, _)| *m).collect::<Vec<_>>()));
    }
}

/// `summary`: the title whose leaf is in this trajectory (the last such), else the last
/// one; `summaries`: every distinct title, when there are several.
fn summary_meta(b: &mut crate::normalize::Builder, summaries: &[(bool, String)]) {
    let chosen = summaries.iter().rev().find(|(own, _)| *own).or(summaries.last());
    if let Some((_, summary)) = chosen {
        b.meta("summary", Value::from(summary.clone()));
    }
    let mut distinct: Vec<&String> = Vec::new();
    for (_, s) in summaries {
        if !distinct.contains(&s) {
            distinct.push(s);
        }
    }
    if distinct.len() > 1 {
        b.meta("summaries", Value::from(distinct.into_iter().cloned().collect::<Vec<_>>()));
    }
}
