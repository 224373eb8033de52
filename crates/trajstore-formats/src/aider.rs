//! Aider chat histories (`.aider.chat.history.md`): Markdown that aider appends to, one
//! session per `# aider chat started at <local time>` header, read as UTF-8 (invalid
//! bytes replaced). Within a session:
//!
//! * `#### ` lines are what the user typed (consecutive ones are one message, aider's
//!   two trailing spaces removed) -> a `user` step;
//! * `> ` lines are aider's own output (banner, `Tokens:` / `Cost:` reports, confirmation
//!   prompts, `Applied edit to ...`, commits, errors) -> one `role: "tool"` step named
//!   `aider` per run of them between two messages (there is no call to pair it with);
//! * everything else is the model's reply -> an `assistant` step, edit blocks and code
//!   fences kept as written.
//!
//! aider ends each line it writes with two spaces; a `> ` or `#### ` line without them
//! inside a reply is the model's own Markdown (a quote, a heading) and stays in the reply,
//! as does anything inside a code fence. An older multi-line message whose first line has
//! `> ` and no trailing spaces runs until the line that has them.
//!
//! The `Tokens:` and `Cost:` lines are summed into `metadata.input_tokens` /
//! `output_tokens` / `cache_write_tokens` / `cache_read_tokens` / `cost` (aider prints
//! tokens rounded, such as `2.4k`), `Model:` lines give `metadata.model`.

use std::path::Path;

use serde_json::{json, Map, Value};

use crate::detect::Shape;
use crate::normalize::{at_line, message, observation, Context};
use crate::{Converted, FormatError};

const HEADER: &str = "# aider chat started at";

pub fn convert(ctx: &mut Context<'_>, file: &crate::SourceFile<'_>) -> Result<Vec<Converted>, FormatError> {
    let bytes = file.bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(file.bytes);
    let text = String::from_utf8_lossy(bytes);
    let sessions = split(&text);
    if sessions.iter().all(|s| s.blocks.is_empty() && s.started.is_none()) {
        return Err(ctx.invalid(format!("no `{HEADER}` header and no chat")));
    }
    Ok(sessions.iter().map(|s| at_line(s.line, Ok(record(ctx, s)))).collect())
}

/// True for a chat history: its first non-blank line is a session header. The file is
/// Markdown, so the bytes decide (the shape of a JSON record says nothing here).
pub(crate) fn detect(_shape: &Shape, bytes: &[u8]) -> bool {
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    let start = bytes.iter().position(|b| !b.is_ascii_whitespace()).unwrap_or(bytes.len());
    bytes[start..].starts_with(HEADER.as_bytes())
}

/// True for a file a directory walk leaves out because this format reads it with another.
#[allow(dead_code)]
pub(crate) fn is_companion(_path: &Path) -> bool {
    false
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    User,
    Assistant,
    Tool,
}

struct Block {
    kind: Kind,
    lines: Vec<String>,
}

/// One session: its header's line (1-based) and time, and its blocks in order.
struct Session {
    line: u64,
    started: Option<String>,
    blocks: Vec<Block>,
}

/// Reads the lines of one session into blocks (see the module header for the rules).
#[derive(Default)]
struct Reader {
    blocks: Vec<Block>,
    cur: Option<Block>,
    /// Inside a code fence of the model's reply.
    fence: bool,
    /// Inside an older multi-line aider message, until a line ending in two spaces.
    cont: bool,
    prev_blank: bool,
}

/// `#### text` (or `####` alone): a line the user typed.
fn user_text(line: &str) -> Option<&str> {
    let rest = line.strip_prefix("####")?;
    match rest.strip_prefix(' ') {
        Some(r) => Some(r),
        None if rest.trim().is_empty() => Some(""),
        None => None,
    }
}

/// `> text` (or `>` alone): a line of aider's output. `>>>>>>> REPLACE` is not one.
fn tool_text(line: &str) -> Option<&str> {
    let rest = line.strip_prefix('>')?;
    match rest.strip_prefix(' ') {
        Some(r) => Some(r),
        None if rest.trim().is_empty() => Some(""),
        None => None,
    }
}

fn is_fence(line: &str) -> bool {
    let t = line.trim_start();
    t.starts_with("```") || t.starts_with("~~~")
}

impl Reader {
    fn flush(&mut self) {
        let Some(mut b) = self.cur.take() else { return };
        while b.lines.last().is_some_and(|l| l.trim().is_empty()) {
            b.lines.pop();
        }
        match self.blocks.last_mut() {
            // aider's output between two messages is one step, blank lines and all.
            Some(last) if last.kind == Kind::Tool && b.kind == Kind::Tool => last.lines.append(&mut b.lines),
            _ if b.lines.is_empty() => {}
            _ => self.blocks.push(b),
        }
    }

    fn push(&mut self, kind: Kind, text: &str) {
        if self.cur.as_ref().is_none_or(|b| b.kind != kind) {
            self.flush();
            self.cur = Some(Block { kind, lines: Vec::new() });
        }
        if let Some(b) = self.cur.as_mut() {
            b.lines.push(text.to_string());
        }
    }

    fn in_reply(&self) -> bool {
        self.cur.as_ref().is_some_and(|b| b.kind == Kind::Assistant)
    }

    fn line(&mut self, line: &str) {
        let aider_wrote = line.ends_with("  ");
        let marked = user_text(line).is_some() || tool_text(line).is_some();
        let blank = line.trim().is_empty();
        let prev_blank = std::mem::replace(&mut self.prev_blank, blank);
        if self.cont && !marked {
            self.cont = !aider_wrote;
            self.push(Kind::Tool, line.trim_end());
            return;
        }
        self.cont = false;
        if self.in_reply() && self.fence && !(marked && aider_wrote && prev_blank) {
            self.fence ^= is_fence(line);
            self.push(Kind::Assistant, line);
            return;
        }
        self.fence = false;
        let in_reply = self.in_reply();
        match (user_text(line), tool_text(line)) {
            (Some(text), _) if aider_wrote || !in_reply => {
                self.push(Kind::User, text.strip_suffix("  ").unwrap_or(text));
            }
            (_, Some(text)) if aider_wrote || !in_reply => {
                self.cont = !aider_wrote;
                self.push(Kind::Tool, text.trim_end());
            }
            _ if blank => match self.cur.as_ref().map(|b| b.kind) {
                Some(Kind::Assistant) => self.push(Kind::Assistant, ""),
                // A blank line ends what the user typed (their own blank lines are `####`).
                Some(Kind::User) => self.flush(),
                _ => {}
            },
            _ => {
                self.fence = is_fence(line);
                self.push(Kind::Assistant, line);
            }
        }
    }
}

/// Splits the text into sessions at each header; text before the first header (only a
/// file read as aider on request has any) is a session without a time.
fn split(text: &str) -> Vec<Session> {
    let mut sessions = Vec::new();
    let mut cur = Session { line: 1, started: None, blocks: Vec::new() };
    let mut reader = Reader::default();
    for (i, raw) in text.split('\n').enumerate() {
        let line = raw.strip_suffix('\r').unwrap_or(raw);
        if let Some(time) = line.strip_prefix(HEADER) {
            reader.flush();
            cur.blocks = std::mem::take(&mut reader.blocks);
            if cur.started.is_some() || !cur.blocks.is_empty() {
                sessions.push(cur);
            }
            cur = Session { line: i as u64 + 1, started: Some(time.trim().to_string()), blocks: Vec::new() };
            reader = Reader::default();
            continue;
        }
        reader.line(line);
    }
    reader.flush();
    cur.blocks = reader.blocks;
    sessions.push(cur);
    sessions
}

/// What aider's own lines say about a session.
#[derive(Default)]
struct Report {
    /// Sums: sent, received, cache write, cache hit.
    tokens: [u64; 4],
    reports: u64,
    cost: Option<f64>,
    /// Main models with the reports made while each was the current one.
    models: Vec<(String, u64)>,
    current: Option<usize>,
    other_models: Vec<String>,
    meta: Map<String, Value>,
    edited: Vec<String>,
    commits: Vec<Value>,
}

/// `2.4k` -> 2400, `12k` -> 12000, `1.1M` -> 1100000, `345` -> 345 (aider rounds).
fn token_count(text: &str) -> Option<u64> {
    let t = text.trim();
    let (num, scale) = match t.strip_suffix(['k', 'K']) {
        Some(n) => (n, 1e3),
        None => match t.strip_suffix('M') {
            Some(n) => (n, 1e6),
            None => (t, 1.0),
        },
    };
    let n: f64 = num.trim().parse().ok()?;
    (n.is_finite() && n >= 0.0).then(|| (n * scale).round() as u64)
}

impl Report {
    fn line(&mut self, line: &str) {
        let line = line.trim();
        if let Some(rest) = line.strip_prefix("Tokens:") {
            self.tokens_line(rest);
        } else if let Some(rest) = line.strip_prefix("Cost:") {
            self.cost_line(rest);
        } else if let Some(rest) = line.strip_prefix("Model:").or_else(|| line.strip_prefix("Main model:")) {
            self.model_line(rest);
        } else if let Some(rest) = line.strip_prefix("Editor model:") {
            self.side_model("editor_model", "editor_edit_format", rest);
        } else if let Some(rest) = line.strip_prefix("Weak model:") {
            self.side_model("weak_model", "", rest);
        } else if let Some(v) = line.strip_prefix("Aider v").filter(|v| !v.contains(' ')) {
            self.meta.entry("aider_version").or_insert_with(|| json!(v));
        } else if let Some(f) = line.strip_prefix("Applied edit to ") {
            if !self.edited.iter().any(|e| e == f) {
                self.edited.push(f.to_string());
            }
        } else if let Some((sha, msg)) = line.strip_prefix("Commit ").and_then(|r| r.split_once(' ')) {
            if sha.len() >= 7 && sha.bytes().all(|b| b.is_ascii_hexdigit()) {
                self.commits.push(json!({"sha": sha, "message": msg}));
            }
        }
    }

    /// `Tokens: 2.4k sent, 1.0k cache write, 3.1k cache hit, 345 received. Cost: ...`
    fn tokens_line(&mut self, rest: &str) {
        let (counts, cost) = match rest.split_once("Cost:") {
            Some((c, cost)) => (c, Some(cost)),
            None => (rest, None),
        };
        for part in counts.trim().trim_end_matches('.').split(',') {
            let part = part.trim().trim_end_matches('.');
            let slot = [" sent", " received", " cache write", " cache hit"]
                .iter()
                .enumerate()
                .find_map(|(i, suffix)| Some((i, token_count(part.strip_suffix(suffix)?)?)));
            if let Some((i, n)) = slot {
                self.tokens[i] += n;
            }
        }
        self.reports += 1;
        if let Some(i) = self.current {
            self.models[i].1 += 1;
        }
        if let Some(cost) = cost {
            self.cost_line(cost);
        }
    }

    /// `Cost: $0.00042 message, $0.0016 session.`: the message's cost is summed.
    fn cost_line(&mut self, rest: &str) {
        let first = rest.split(',').next().unwrap_or("").trim();
        if let Some(amount) = first.strip_suffix("message").and_then(|a| a.trim().strip_prefix('$')) {
            if let Ok(c) = amount.trim().parse::<f64>() {
                *self.cost.get_or_insert(0.0) += c;
            }
        }
    }

    /// `Model: NAME with diff edit format[, weak model W]`.
    fn model_line(&mut self, rest: &str) {
        let (name, format) = model_and_format(rest);
        let i = match self.models.iter().position(|(m, _)| *m == name) {
            Some(i) => i,
            None => {
                self.models.push((name, 0));
                self.models.len() - 1
            }
        };
        self.current = Some(i);
        if let Some(f) = format {
            self.meta.entry("edit_format").or_insert_with(|| json!(f));
        }
        if let Some(weak) = rest.split(", weak model ").nth(1) {
            self.meta.entry("weak_model").or_insert_with(|| json!(weak.split(',').next().unwrap_or("").trim()));
        }
    }

    fn side_model(&mut self, key: &str, format_key: &str, rest: &str) {
        let (name, format) = model_and_format(rest);
        if !self.other_models.contains(&name) {
            self.other_models.push(name.clone());
        }
        self.meta.entry(key).or_insert_with(|| json!(name));
        if let (Some(f), false) = (format, format_key.is_empty()) {
            self.meta.entry(format_key).or_insert_with(|| json!(f));
        }
    }
}

fn model_and_format(rest: &str) -> (String, Option<String>) {
    let rest = rest.trim();
    match rest.split_once(" with ") {
        Some((name, tail)) => {
            let format = tail.split_once(" edit format").map(|(f, _)| f.trim().to_string());
            (name.trim().to_string(), format)
        }
        None => (rest.split(',').next().unwrap_or(rest).trim().to_string(), None),
    }
}

/// The request: the first message the user typed that is not an aider command (`/add`,
/// `/exit`, ...) nor `<blank>` (aider's mark for an empty input), or the text of an
/// `/ask`, `/code` or `/architect` command, whichever comes first.
fn question(blocks: &[Block]) -> Option<String> {
    blocks.iter().filter(|b| b.kind == Kind::User).find_map(|b| {
        let text = b.lines.join("\n");
        let t = text.trim();
        match t.strip_prefix('/') {
            None if t.is_empty() || t == "<blank>" => None,
            None => Some(text),
            Some(_) => {
                let (cmd, rest) = t.split_once(char::is_whitespace)?;
                let asks = ["/ask", "/code", "/architect"].contains(&cmd) && !rest.trim().is_empty();
                asks.then(|| rest.trim().to_string())
            }
        }
    })
}

fn record(ctx: &mut Context<'_>, s: &Session) -> Value {
    let mut report = Report::default();
    let mut steps = Vec::new();
    for b in &s.blocks {
        let text = b.lines.join("\n");
        let step = match b.kind {
            Kind::User => message("user", json!(text)),
            Kind::Assistant => message("assistant", json!(text)),
            Kind::Tool => {
                b.lines.iter().for_each(|l| report.line(l));
                observation(None, Some("aider"), json!(text))
            }
        };
        steps.push(Value::Object(step));
    }
    let mut b = ctx.new_record(&[format!("line{}", s.line)]);
    b.set("agent_name", json!("aider"));
    if let Some(q) = question(&s.blocks) {
        b.question(&json!(q));
    }
    if let Some(started) = &s.started {
        // aider writes local time without a zone; it is read as UTC.
        let rfc = started.replacen(' ', "T", 1) + "Z";
        b.created_at(&json!(if trajstore_model::parse_timestamp(&rfc).is_some() { rfc } else { started.clone() }));
        b.meta("started_at", json!(started));
    }
    if report.reports > 0 {
        let keys = ["input_tokens", "output_tokens", "cache_write_tokens", "cache_read_tokens"];
        for (i, key) in keys.iter().enumerate() {
            if i < 2 || report.tokens[i] > 0 {
                b.meta(key, json!(report.tokens[i]));
            }
        }
        b.meta("llm_calls", json!(report.reports));
    }
    if let Some(c) = report.cost {
        b.meta("cost", json!(c));
    }
    // The main model with the most replies; the first announced among equals.
    let top = report.models.iter().fold(None::<&(String, u64)>, |best, m| match best {
        Some(b) if b.1 >= m.1 => Some(b),
        _ => Some(m),
    });
    if let Some((model, _)) = top {
        b.meta("model", json!(model));
        let mut all: Vec<&String> = report.models.iter().map(|(m, _)| m).collect();
        all.extend(report.other_models.iter().filter(|m| !report.models.iter().any(|(n, _)| n == *m)));
        b.meta("models", json!(all));
    }
    for (k, v) in std::mem::take(&mut report.meta) {
        b.meta(&k, v);
    }
    if !report.edited.is_empty() {
        b.meta("edited_files", json!(report.edited));
    }
    if !report.commits.is_empty() {
        b.meta("commits", Value::Array(report.commits));
    }
    b.steps(steps);
    b.finish()
}
