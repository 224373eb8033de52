//! OpenAI Codex CLI / Codex Desktop rollout files (`~/.codex/sessions/YYYY/MM/DD/rollout-*.jsonl`):
//! one `{timestamp, type, payload}` a line, `type` one of `session_meta` (session id, cwd,
//! cli_version, base instructions, git; repeated on every resume), `turn_context` (model,
//! effort, policies of a turn), `response_item` (what the model saw and said: messages,
//! reasoning, tool calls and their outputs), `event_msg` (the UI stream: it repeats the
//! messages, and adds token counts, turn starts, ends, durations and aborts) and `compacted`.
//!
//! A file is one trajectory (its first `session_meta` names it): `response_item`s become the
//! steps ([`steps`]), `compacted` lines marker steps, and the rest goes to metadata
//! ([`session`]): session, turns, tokens, the events that add something. A line that is not
//! a rollout line is a record error of its own; the trajectory converts without it.

mod session;
mod steps;

use std::path::Path;

use serde_json::{Map, Value};

use crate::detect::Shape;
use crate::normalize::{at_line, json_lines, kind, Context};
use crate::{Converted, FormatError, RecordError};

/// One line of a rollout file.
pub(crate) struct Line {
    pub number: u64,
    pub timestamp: Option<String>,
    pub kind: String,
    pub payload: Map<String, Value>,
}

impl Line {
    /// The payload's own `type` (of a `response_item` or an `event_msg`), or "".
    pub fn payload_type(&self) -> &str {
        self.payload.get("type").and_then(Value::as_str).unwrap_or("")
    }
    pub fn str(&self, key: &str) -> Option<&str> {
        self.payload.get(key).and_then(Value::as_str)
    }
}

pub fn convert(ctx: &mut Context<'_>, file: &crate::SourceFile<'_>) -> Result<Vec<Converted>, FormatError> {
    let mut out = Vec::new();
    let mut lines = Vec::new();
    for (number, parsed) in json_lines(file.bytes) {
        match parsed.and_then(|v| rollout_line(number, v)) {
            Ok(line) => lines.push(line),
            Err(e) => out.push(at_line(number, Err(e))),
        }
    }
    let Some(first) = lines.first().map(|l| l.number) else {
        return Err(ctx.invalid("no Codex rollout line ({timestamp, type, payload})"));
    };
    out.push(at_line(first, session::trajectory(ctx, &lines)));
    out.sort_by_key(|c| c.position.line);
    Ok(out)
}

fn rollout_line(number: u64, value: Value) -> Result<Line, RecordError> {
    let Value::Object(mut obj) = value else {
        return Err(RecordError::whole(format!("expected a rollout line (an object), found {}", kind(&value))));
    };
    let kind_name = match obj.remove("type") {
        Some(Value::String(s)) => s,
        Some(other) => return Err(RecordError::new("type", format!("expected a string, found {}", kind(&other)))),
        None => return Err(RecordError::new("type", "missing")),
    };
    let payload = match obj.remove("payload") {
        Some(Value::Object(p)) => p,
        Some(other) => return Err(RecordError::new("payload", format!("expected an object, found {}", kind(&other)))),
        None => return Err(RecordError::new("payload", "missing")),
    };
    let timestamp = obj.remove("timestamp").and_then(|t| t.as_str().map(str::to_string));
    Ok(Line { number, timestamp, kind: kind_name, payload })
}

/// True when the first record is a rollout line `{timestamp, type: "session_meta", payload}`:
/// exactly those three keys (as every Codex version since the wrapped layout writes them),
/// and the `type` value, read from the bytes of the first line, is `session_meta`.
pub(crate) fn detect(shape: &Shape, bytes: &[u8]) -> bool {
    let keys_fit = shape.keys.len() == 3 && shape.has("timestamp") && shape.has("type") && shape.has("payload");
    keys_fit && first_type_is_session_meta(bytes)
}

/// The first line's top-level `"type"` value: the first `"type"` key at depth 1.
fn first_type_is_session_meta(bytes: &[u8]) -> bool {
    let start = bytes.iter().position(|&b| b == b'{').unwrap_or(0);
    let end = bytes[start..].iter().position(|&b| b == b'\n').map_or(bytes.len(), |e| start + e);
    let line = &bytes[start..end];
    let (mut depth, mut i) = (0usize, 0usize);
    while i < line.len() {
        match line[i] {
            b'"' => {
                let s = i + 1;
                i = s;
                while i < line.len() && line[i] != b'"' {
                    i += if line[i] == b'\\' { 2 } else { 1 };
                }
                if depth == 1 && &line[s..i.min(line.len())] == b"type" {
                    let rest = &line[(i + 1).min(line.len())..];
                    // A string value "type" is not followed by a colon: look further.
                    if let Some(value) = trim_start(rest).strip_prefix(b":") {
                        return trim_start(value).starts_with(b"\"session_meta\"");
                    }
                }
            }
            b'{' | b'[' => depth += 1,
            b'}' | b']' => depth = depth.saturating_sub(1),
            _ => {}
        }
        i += 1;
    }
    false
}

fn trim_start(b: &[u8]) -> &[u8] {
    let n = b.iter().take_while(|c| c.is_ascii_whitespace()).count();
    &b[n..]
}

/// True for a file a directory walk leaves out because this format reads it with another.
#[allow(dead_code)]
pub(crate) fn is_companion(_path: &Path) -> bool {
    false
}
