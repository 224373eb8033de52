//! Rebuilding sessions from a Gemini CLI file: one whole `ConversationRecord` document, or
//! the JSON Lines log newer versions append to (a header line, message records re-sent
//! whole each time they change, `{"$set": {...}}` patches and `{"$rewindTo": id}` marks).

use std::collections::HashMap;

use serde_json::{Map, Value};

use crate::normalize::{at_line, json_lines};
use crate::{Converted, Position};

/// One session as the file leaves it: its header fields (with every `$set` applied), its
/// messages in first-seen order, each in its last state, and what the log removed.
#[derive(Default)]
pub(super) struct Session {
    pub(super) header: Map<String, Value>,
    /// `(where, message)`: where names the message in errors (`messages[3]`, `line 7`).
    pub(super) messages: Vec<(String, Value)>,
    /// Messages a `$rewindTo` took back, as last seen (gemini-cli drops them too).
    pub(super) rewound: Vec<Value>,
    /// Lines that are JSON but none of the record kinds the log holds.
    pub(super) other: Vec<Value>,
    pub(super) position: Position,
    index: HashMap<String, usize>,
}

impl Session {
    fn at(position: Position) -> Self {
        Session { position, ..Session::default() }
    }

    /// A message record: a new id is appended, a known one replaced where it stands.
    fn upsert(&mut self, at: String, message: Value) {
        match message.get("id").and_then(Value::as_str).and_then(|id| self.index.get(id)) {
            Some(&i) => self.messages[i] = (at, message),
            None => self.push(at, message),
        }
    }

    fn push(&mut self, at: String, message: Value) {
        if let Some(id) = message.get("id").and_then(Value::as_str) {
            self.index.insert(id.to_string(), self.messages.len());
        }
        self.messages.push((at, message));
    }

    /// `$set.messages` is the model's history as gemini-cli rebuilt it (session context,
    /// compression, masking): it may omit or shorten messages the log already holds, so
    /// only the messages it introduces are added; the log's own records stay as they are.
    fn add_history(&mut self, line: u64, history: &[Value]) {
        for (i, m) in history.iter().enumerate() {
            let known = m.get("id").and_then(Value::as_str).is_some_and(|id| self.index.contains_key(id));
            if !known {
                self.push(format!("line {line}.$set.messages[{i}]"), m.clone());
            }
        }
    }

    /// Removes the message `id` and every later one, as gemini-cli does; an unknown id
    /// clears the whole list (gemini-cli's rule too).
    fn rewind(&mut self, id: &str) {
        let from = self.index.get(id).copied().unwrap_or(0);
        self.rewound.extend(self.messages.drain(from..).map(|(_, m)| m));
        self.index.retain(|_, i| *i < from);
    }

    fn is_empty(&self) -> bool {
        self.header.is_empty() && self.messages.is_empty() && self.rewound.is_empty() && self.other.is_empty()
    }
}

/// A whole `ConversationRecord`: its header fields and `messages`, at position `position`.
pub(super) fn document(obj: &Map<String, Value>, position: Position) -> Result<Session, (String, String)> {
    let mut s = Session::at(position);
    for (k, v) in obj {
        if k != "messages" {
            s.header.insert(k.clone(), v.clone());
        }
    }
    match obj.get("messages") {
        None | Some(Value::Null) => {}
        Some(Value::Array(items)) => {
            for (i, m) in items.iter().enumerate() {
                s.push(format!("messages[{i}]"), m.clone());
            }
        }
        Some(_) => return Err(("messages".into(), "expected a list of messages".into())),
    }
    Ok(s)
}

/// Replays a JSON Lines log. Returns the sessions (a header line naming another
/// `sessionId` starts a new one) and a per-line error for each line that is not JSON.
pub(super) fn log(bytes: &[u8]) -> (Vec<Session>, Vec<Converted>) {
    let mut sessions = Vec::new();
    let mut errors = Vec::new();
    let mut cur: Option<Session> = None;
    for (line, parsed) in json_lines(bytes) {
        let record = match parsed {
            Ok(v) => v,
            Err(e) => {
                errors.push(at_line(line, Err(e)));
                continue;
            }
        };
        let position = Position { line: Some(line), index: None };
        if starts_other_session(cur.as_ref(), &record) {
            sessions.extend(cur.take());
        }
        let s = cur.get_or_insert_with(|| Session::at(position));
        apply(s, line, record);
    }
    sessions.extend(cur.filter(|s| !s.is_empty()));
    (sessions, errors)
}

/// A header line whose `sessionId` differs from the session being read.
fn starts_other_session(cur: Option<&Session>, record: &Value) -> bool {
    let Some(cur) = cur else { return false };
    let is_header = record.get("id").is_none() && record.get("$set").is_none();
    match (is_header, record.get("sessionId").and_then(Value::as_str), cur.header.get("sessionId")) {
        (true, Some(new), Some(Value::String(old))) => new != old,
        _ => false,
    }
}

fn apply(s: &mut Session, line: u64, record: Value) {
    if let Some(id) = record.get("$rewindTo").and_then(Value::as_str) {
        s.rewind(id);
        return;
    }
    if let Some(Value::Object(set)) = record.get("$set") {
        for (k, v) in set {
            match (k.as_str(), v) {
                ("messages", Value::Array(history)) => s.add_history(line, history),
                _ => {
                    s.header.insert(k.clone(), v.clone());
                }
            }
        }
        return;
    }
    if record.get("id").is_some_and(Value::is_string) {
        s.upsert(format!("line {line}"), record);
        return;
    }
    match record {
        Value::Object(header) if header.contains_key("sessionId") => s.header.extend(header),
        other => s.other.push(other),
    }
}
