//! Claude Code session transcripts (`~/.claude/projects/<project>/<session>.jsonl`): one
//! event a line, `{type, uuid, parentUuid, sessionId, timestamp, cwd, version, gitBranch,
//! isSidechain, message: {role, model, id, content: [text | thinking | tool_use |
//! tool_result ...], usage}, ...}`.
//!
//! * One trajectory per `sessionId` (its main conversation), plus one per sub-agent:
//!   sidechain lines (`isSidechain: true`, keyed by `agentId`, or by the root of their
//!   `parentUuid` chain in older transcripts) and the `agent_progress` lines through which
//!   newer versions report a Task sub-agent's messages. Parent and child name each other in
//!   metadata (`child_trajectory_ids`; `parent_session_id`, `parent_tool_use_id`,
//!   `parent_trajectory_id`).
//! * `user` and `assistant` lines become steps in file order ([`steps`]); the lines of one
//!   assistant turn (one message id) become one step; `tool_result` blocks become tool steps.
//! * Every other line (`system`, `attachment`, `queue-operation`, `file-history-snapshot`,
//!   ...) is kept in `metadata.events`; `summary` and `last-prompt` lines give
//!   `metadata.summary` / `last_prompt`; other `progress` lines are only counted.
//!
//! A line that is not JSON (a transcript cut mid-write) or whose message cannot be read is
//! an error at its line; the rest of its session still converts. See
//! docs/formats.md#claude-code for the field-by-field mapping.

mod record;
mod steps;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::Path;

use serde_json::{Map, Value};

use crate::detect::Shape;
use crate::normalize::{at_line, json_lines, kind, Context};
use crate::{Converted, FormatError, RecordError};

/// Keys that every line of a session repeats: they go to the trajectory's metadata once,
/// not onto each step.
const SESSION_KEYS: &[&str] =
    &["sessionId", "cwd", "version", "gitBranch", "slug", "userType", "entrypoint", "isSidechain", "agentId"];

/// One line of a trajectory (for a sub-agent reported through `agent_progress`, the
/// message inside it).
struct Entry {
    line: u64,
    obj: Map<String, Value>,
}

/// The lines of one trajectory: a session's main conversation, or one of its sub-agents.
struct Group {
    session_id: String,
    /// `None` for the main conversation; the sub-agent's id (`agentId`, or the root uuid
    /// of an older sidechain) otherwise.
    agent: Option<String>,
    /// The first line that carries this session (or this sub-agent).
    first_line: u64,
    entries: Vec<Entry>,
    /// The Task tool call that started a sub-agent, when its lines say so.
    parent_tool_use_id: Option<String>,
    /// The prompt `agent_progress` lines repeat (the sub-agent's task).
    prompt: Option<Value>,
    /// `summary` lines: (whether their `leafUuid` is a line of this trajectory, the text).
    summaries: Vec<(bool, String)>,
    /// `progress` lines other than a sub-agent's, counted by `data.type`.
    progress: BTreeMap<String, u64>,
}

pub fn convert(ctx: &mut Context<'_>, file: &crate::SourceFile<'_>) -> Result<Vec<Converted>, FormatError> {
    let mut out = Vec::new();
    let mut lines = Vec::new();
    for (line, parsed) in json_lines(file.bytes) {
        match parsed {
            Ok(Value::Object(obj)) => lines.push((line, obj)),
            Ok(other) => out.push(at_line(
                line,
                Err(RecordError::whole(format!("a transcript line must be an object, found {}", kind(&other)))),
            )),
            Err(e) => out.push(at_line(line, Err(e))),
        }
    }
    let groups = group_lines(lines);
    out.extend(record::build_all(ctx, &groups));
    // Records at their session's first line, line errors at theirs: file order.
    out.sort_by_key(|c| c.position.line);
    Ok(out)
}

/// True when the first record has Claude Code's keys: a message or event line
/// (`type` + `sessionId` + `uuid`/`parentUuid`/`isSidechain`, or a `queue-operation`), a
/// `summary` or `last-prompt` line (`leafUuid`), or a `file-history-snapshot`.
pub(crate) fn detect(shape: &Shape, _bytes: &[u8]) -> bool {
    if !shape.has("type") {
        return false;
    }
    (shape.has("sessionId") && shape.any(&["uuid", "parentUuid", "isSidechain", "operation", "leafUuid"]))
        || (shape.has("leafUuid") && shape.any(&["summary", "lastPrompt"]))
        || (shape.has("messageId") && shape.has("snapshot"))
}

/// Claude Code has no companion files: sub-agent transcripts are sessions of their own.
#[allow(dead_code)]
pub(crate) fn is_companion(_path: &Path) -> bool {
    false
}

fn text<'v>(obj: &'v Map<String, Value>, key: &str) -> Option<&'v str> {
    obj.get(key).and_then(Value::as_str).filter(|s| !s.is_empty())
}

/// The sub-agent key of a sidechain line: its `agentId`, else (older transcripts, where
/// every sub-agent shares the session's file) the uuid at the root of its chain.
fn sidechain_key(obj: &Map<String, Value>, parents: &HashMap<String, Option<String>>) -> Option<String> {
    if obj.get("isSidechain") != Some(&Value::Bool(true)) {
        return None;
    }
    if let Some(agent) = text(obj, "agentId") {
        return Some(agent.to_string());
    }
    let mut root = text(obj, "uuid").unwrap_or_default().to_string();
    let mut seen = HashSet::new();
    while let Some(Some(parent)) = parents.get(&root) {
        if !seen.insert(root.clone()) {
            break;
        }
        root = parent.clone();
    }
    Some(root)
}

/// Where each sidechain line's chain goes up: uuid -> parent uuid (only sidechain parents).
fn sidechain_parents(lines: &[(u64, Map<String, Value>)]) -> HashMap<String, Option<String>> {
    let side: HashSet<&str> = lines
        .iter()
        .filter(|(_, o)| o.get("isSidechain") == Some(&Value::Bool(true)))
        .filter_map(|(_, o)| text(o, "uuid"))
        .collect();
    lines
        .iter()
        .filter_map(|(_, o)| {
            let uuid = text(o, "uuid").filter(|u| side.contains(u))?;
            let parent = text(o, "parentUuid").filter(|p| side.contains(p)).map(str::to_string);
            Some((uuid.to_string(), parent))
        })
        .collect()
}

struct Grouper {
    groups: Vec<Group>,
    index: HashMap<(String, Option<String>), usize>,
    /// uuid -> group, to place `summary` lines by their `leafUuid`.
    by_uuid: HashMap<String, usize>,
    /// Sub-agent messages already taken (`agent_progress` may repeat one).
    agent_messages: HashSet<String>,
}

impl Grouper {
    fn group(&mut self, session: &str, agent: Option<String>, line: u64) -> usize {
        let key = (session.to_string(), agent);
        if let Some(&i) = self.index.get(&key) {
            return i;
        }
        self.groups.push(Group {
            session_id: key.0.clone(),
            agent: key.1.clone(),
            first_line: line,
            entries: Vec::new(),
            parent_tool_use_id: None,
            prompt: None,
            summaries: Vec::new(),
            progress: BTreeMap::new(),
        });
        self.index.insert(key, self.groups.len() - 1);
        self.groups.len() - 1
    }

    fn push(&mut self, g: usize, line: u64, obj: Map<String, Value>) {
        if let Some(uuid) = text(&obj, "uuid") {
            self.by_uuid.insert(uuid.to_string(), g);
        }
        self.groups[g].entries.push(Entry { line, obj });
    }

    /// A `progress` line: a sub-agent's message (`agent_progress`) joins that sub-agent's
    /// trajectory; any other kind is counted on the line's own trajectory (and kept there
    /// for its timestamp only).
    fn progress(&mut self, session: &str, own: usize, line: u64, obj: Map<String, Value>) {
        let data = obj.get("data").and_then(Value::as_object);
        let kind = data.and_then(|d| text(d, "type")).unwrap_or("unknown");
        let inner = data.and_then(|d| d.get("message")).and_then(Value::as_object);
        let (Some(data), Some(inner), "agent_progress") = (data, inner, kind) else {
            *self.groups[own].progress.entry(kind.to_string()).or_default() += 1;
            self.groups[own].entries.push(Entry { line, obj });
            return;
        };
        let parent_tool = text(&obj, "parentToolUseID").map(str::to_string);
        let agent = text(data, "agentId").map(str::to_string).or_else(|| parent_tool.clone());
        let g = self.group(session, Some(agent.unwrap_or_else(|| "agent".into())), line);
        let group = &mut self.groups[g];
        group.parent_tool_use_id = group.parent_tool_use_id.take().or(parent_tool);
        if group.prompt.is_none() {
            group.prompt = data.get("prompt").filter(|p| !p.is_null()).cloned();
        }
        let fresh = text(inner, "uuid").is_none_or(|u| self.agent_messages.insert(u.to_string()));
        if fresh {
            self.push(g, line, inner.clone());
        }
    }
}

/// Sorts the lines into trajectories (see the module header). Lines without a session
/// (`file-history-snapshot`) join the session of the line before them, or the first one.
fn group_lines(lines: Vec<(u64, Map<String, Value>)>) -> Vec<Group> {
    let parents = sidechain_parents(&lines);
    let mut g =
        Grouper { groups: Vec::new(), index: HashMap::new(), by_uuid: HashMap::new(), agent_messages: HashSet::new() };
    let mut current: Option<String> = None;
    let mut before_any: Vec<Entry> = Vec::new();
    let mut summaries: Vec<(Option<String>, String)> = Vec::new();
    for (line, obj) in lines {
        let kind = text(&obj, "type").unwrap_or("");
        if kind == "summary" {
            let leaf = text(&obj, "leafUuid").map(str::to_string);
            summaries.push((leaf, obj.get("summary").map(crate::normalize::plain_text).unwrap_or_default()));
            continue;
        }
        if let Some(s) = text(&obj, "sessionId") {
            current = Some(s.to_string());
        }
        let session = match (&current, kind) {
            (Some(s), _) => s.clone(),
            // A conversation line with no session anywhere before it still needs a home.
            (None, "user" | "assistant") => String::new(),
            (None, _) => {
                before_any.push(Entry { line, obj });
                continue;
            }
        };
        let own = g.group(&session, sidechain_key(&obj, &parents), line);
        if kind == "progress" {
            g.progress(&session, own, line, obj);
        } else {
            g.push(own, line, obj);
        }
    }
    let home = g.groups.iter().position(|gr| gr.agent.is_none()).or((!g.groups.is_empty()).then_some(0));
    if let Some(first) = home {
        g.groups[first].entries.splice(0..0, before_any);
    }
    for (leaf, summary) in summaries {
        // A leaf in another file (a title of an earlier session) still names this file's session.
        let own = leaf.and_then(|l| g.by_uuid.get(&l).copied());
        if let Some(t) = own.or(home) {
            g.groups[t].summaries.push((own.is_some(), summary));
        }
    }
    g.groups
}
