//! Recognising a file's format from its content.
//!
//! Detection reads only the keys of the first record (a scan that skips every value
//! without building it, and that accepts a prefix cut anywhere), so it costs next to
//! nothing even on a file of gigabytes. File names are never consulted.

use crate::Format;

/// The keys seen at the start of a document.
#[derive(Debug, Default)]
pub(crate) struct Shape {
    /// The document (or its first line) is a JSON array; `keys` are its first element's.
    pub(crate) array: bool,
    /// Keys of the first object (or of the first element of the top-level array).
    pub(crate) keys: Vec<String>,
    /// The first object was read to its closing brace (not cut off by the prefix).
    pub(crate) complete: bool,
    /// Keys of the first value of that object that is itself an object (the records of
    /// a file that is a dict keyed by task, such as InterCode's).
    pub(crate) inner: Vec<String>,
}

impl Shape {
    pub(crate) fn has(&self, key: &str) -> bool {
        self.keys.iter().any(|k| k == key)
    }
    pub(crate) fn any(&self, keys: &[&str]) -> bool {
        keys.iter().any(|k| self.has(k))
    }
    pub(crate) fn inner_has(&self, key: &str) -> bool {
        self.inner.iter().any(|k| k == key)
    }
}

struct Scanner<'a> {
    b: &'a [u8],
    i: usize,
}

impl Scanner<'_> {
    fn ws(&mut self) {
        while self.i < self.b.len() && self.b[self.i].is_ascii_whitespace() {
            self.i += 1;
        }
    }
    fn peek(&self) -> Option<u8> {
        self.b.get(self.i).copied()
    }
    /// A string at the cursor (which is on its opening quote); `None` when cut off.
    fn string(&mut self) -> Option<String> {
        self.i += 1;
        let start = self.i;
        while self.i < self.b.len() {
            match self.b[self.i] {
                b'\\' => self.i += 2,
                b'"' => {
                    let s = String::from_utf8_lossy(&self.b[start..self.i]).into_owned();
                    self.i += 1;
                    return Some(s);
                }
                _ => self.i += 1,
            }
        }
        None
    }
    /// Skips one value; `false` when the input ends first.
    fn skip(&mut self) -> bool {
        self.ws();
        match self.peek() {
            None => false,
            Some(b'"') => self.string().is_some(),
            Some(b'{') | Some(b'[') => {
                let mut depth = 0usize;
                while self.i < self.b.len() {
                    match self.b[self.i] {
                        b'"' => {
                            if self.string().is_none() {
                                return false;
                            }
                            continue;
                        }
                        b'{' | b'[' => depth += 1,
                        b'}' | b']' => {
                            depth -= 1;
                            if depth == 0 {
                                self.i += 1;
                                return true;
                            }
                        }
                        _ => {}
                    }
                    self.i += 1;
                }
                false
            }
            Some(_) => {
                while self.i < self.b.len()
                    && !matches!(self.b[self.i], b',' | b'}' | b']')
                    && !self.b[self.i].is_ascii_whitespace()
                {
                    self.i += 1;
                }
                true
            }
        }
    }
    /// The keys of the object at the cursor; with `inner`, also the keys of its first
    /// object value. Stops quietly where the input ends.
    fn object_keys(&mut self, keys: &mut Vec<String>, mut inner: Option<&mut Vec<String>>) {
        if self.peek() != Some(b'{') {
            return;
        }
        self.i += 1;
        loop {
            self.ws();
            match self.peek() {
                Some(b'"') => {}
                _ => return,
            }
            let Some(key) = self.string() else { return };
            keys.push(key);
            self.ws();
            if self.peek() != Some(b':') {
                return;
            }
            self.i += 1;
            self.ws();
            match inner.as_deref_mut() {
                Some(inner_keys) if inner_keys.is_empty() && self.peek() == Some(b'{') => {
                    self.object_keys(inner_keys, None);
                    // object_keys leaves the cursor inside when cut off; finish the value.
                    if !self.finish_object() {
                        return;
                    }
                }
                _ => {
                    if !self.skip() {
                        return;
                    }
                }
            }
            self.ws();
            match self.peek() {
                Some(b',') => self.i += 1,
                _ => return,
            }
        }
    }
    /// After `object_keys` read an object's keys, moves past its closing brace.
    fn finish_object(&mut self) -> bool {
        // object_keys returns on `}` without consuming it, or at the end of input.
        self.ws();
        if self.peek() == Some(b'}') {
            self.i += 1;
            true
        } else {
            false
        }
    }
}

fn shape(bytes: &[u8]) -> Shape {
    let mut s = Scanner { b: bytes, i: 0 };
    s.ws();
    let mut shape = Shape::default();
    if s.peek() == Some(b'[') {
        shape.array = true;
        s.i += 1;
        s.ws();
    }
    s.object_keys(&mut shape.keys, Some(&mut shape.inner));
    shape.complete = s.peek() == Some(b'}');
    shape
}

/// The second-wave formats, each recognised by its own module (from the keys of the first
/// record, or from the bytes where a format is not JSON); tried after the native check.
type Detector = fn(&Shape, &[u8]) -> bool;

const SECOND_WAVE: [(Format, Detector); 8] = [
    (Format::ClaudeCode, crate::claude_code::detect),
    (Format::Codex, crate::codex::detect),
    (Format::GeminiCli, crate::gemini_cli::detect),
    (Format::Opencode, crate::opencode::detect),
    (Format::Aider, crate::aider::detect),
    (Format::Harbor, crate::harbor::detect),
    (Format::Verifiers, crate::verifiers::detect),
    (Format::Agentdojo, crate::agentdojo::detect),
];

fn classify(s: &Shape, bytes: &[u8]) -> Option<Format> {
    if s.has("schema_version") && s.has("steps") && s.has("agent") {
        return Some(Format::Atif);
    }
    if s.any(&["trajectory_id", "trajectories"]) {
        return Some(Format::Native);
    }
    if s.any(&["resourceSpans", "resource_spans"]) {
        return Some(Format::Otlp);
    }
    if let Some((f, _)) = SECOND_WAVE.iter().find(|(_, detect)| detect(s, bytes)) {
        return Some(*f);
    }
    // Before the agent formats: Responses rows may carry their own `trajectory` or `history`.
    if s.has("responses_create_params") || (s.has("response") && s.has("reward")) {
        return Some(Format::Responses);
    }
    if s.has("simulations") && s.has("tasks") {
        return Some(Format::Tau2);
    }
    if s.array && s.has("traj") && s.any(&["task_id", "trial"]) {
        return Some(Format::TauBench);
    }
    if s.has("eval") && s.has("version") && s.any(&["samples", "results", "status", "stats"]) {
        return Some(Format::Inspect);
    }
    if s.has("trajectory_format") || (s.has("instance_id") && s.has("messages") && s.has("info") && !s.has("history")) {
        return Some(Format::MiniSweAgent);
    }
    if s.has("history")
        && s.any(&["instruction", "instance_id", "question_id", "test_result", "git_patch", "instance", "issue"])
    {
        return Some(Format::Openhands);
    }
    if s.array && s.has("source") && s.any(&["action", "observation"]) {
        return Some(Format::Openhands);
    }
    if !s.array && (s.has("history") || (s.has("trajectory") && s.any(&["info", "environment"]))) {
        return Some(Format::SweAgent);
    }
    let numeric_keys =
        !s.keys.is_empty() && s.keys.iter().all(|k| !k.is_empty() && k.bytes().all(|b| b.is_ascii_digit()));
    if (s.has("meta") && s.has("logs"))
        || (numeric_keys && (s.inner_has("turn_history") || (s.inner_has("query") && s.inner_has("trajectory"))))
    {
        return Some(Format::Intercode);
    }
    if s.has("input") && s.has("output") && s.any(&["score", "gts", "step"]) {
        return Some(Format::Verl);
    }
    if s.any(&["messages", "steps"]) {
        return Some(Format::OpenaiChat);
    }
    None
}

/// The lines tried when the first lines of a JSON Lines file are not JSON (placeholder
/// rows): detection looks this far for a recognisable record.
const LINES_TRIED: usize = 64;

/// The format of `bytes` (decompressed, whole or a prefix), or `None` when nothing fits.
/// A zip archive holding Inspect's `header.json` or `_journal/` is an Inspect `.eval` log.
pub fn detect(bytes: &[u8]) -> Option<Format> {
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    if bytes.starts_with(b"PK\x03\x04") {
        return crate::zipfile::looks_like_inspect(bytes).then_some(Format::Inspect);
    }
    if let Some(f) = classify(&shape(bytes), bytes) {
        return Some(f);
    }
    // One record per line whose first lines are not records: try the next ones.
    let mut rest = bytes;
    for _ in 0..LINES_TRIED {
        let Some(nl) = rest.iter().position(|&b| b == b'\n') else { break };
        rest = &rest[nl + 1..];
        let line_end = rest.iter().position(|&b| b == b'\n').unwrap_or(rest.len());
        let line = &rest[..line_end];
        if line.first().is_some_and(|&b| b == b'{') {
            if let Some(f) = classify(&shape(line), line) {
                return Some(f);
            }
        }
    }
    None
}

/// True when a prefix of a file already shows a native record (its first object has
/// `trajectory_id` or `trajectories`), so the file can go straight to the streaming
/// reader. `None` when the prefix does not tell (another format, or cut too early).
pub fn detect_native_prefix(prefix: &[u8]) -> Option<bool> {
    let bytes = prefix.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(prefix);
    if bytes.starts_with(b"PK\x03\x04") {
        return Some(false);
    }
    let s = shape(bytes);
    match classify(&s, bytes) {
        Some(Format::Native) => Some(true),
        // Keys of another format, but `trajectory_id` may still follow past the prefix.
        _ if !s.complete => None,
        _ => Some(false),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recognises_layouts_from_keys_even_when_cut() {
        assert_eq!(detect(br#"{"trajectory_id":"a","steps":[]}"#), Some(Format::Native));
        assert_eq!(
            detect(br#"[{"task_id":0,"reward":1.0,"info":{"x":"}"},"traj":[{"role":"us"#),
            Some(Format::TauBench)
        );
        assert_eq!(
            detect(br#"{"0":{"environment":"ic_bash","query":"q","turn_history":{"actions":[]}}}"#),
            Some(Format::Intercode)
        );
        assert_eq!(
            detect(b"<PLACEHOLDER ROW>\n{\"responses_create_params\":{},\"response\":{}}\n"),
            Some(Format::Responses)
        );
        assert_eq!(detect(b"<PLACEHOLDER ROW>\n"), None);
        assert_eq!(detect(br#"{"info":{"a":{"b":[1,2,"]"]}},"messages":[],"trajectory_format":"mini-swe-agent-1","instance_id":"x"}"#), Some(Format::MiniSweAgent));
        assert_eq!(detect(br#"{"input":"p","output":"o","score":1.0,"step":3}"#), Some(Format::Verl));
        assert_eq!(
            detect(br#"{"schema_version":"ATIF-v1.8","session_id":"s","agent":{},"steps":[]}"#),
            Some(Format::Atif)
        );
        assert_eq!(detect(br#"{"messages":[{"role":"user","content":"hi"}]}"#), Some(Format::OpenaiChat));
        assert_eq!(detect(br#"{"hello":1}"#), None);
        assert_eq!(detect_native_prefix(br#"{"trajectory_id":"a","steps":[{"role":"user","content":"aaa"#), Some(true));
        assert_eq!(detect_native_prefix(br#"{"steps":[{"role":"user","content":"aaa"#), None);
        assert_eq!(detect_native_prefix(br#"{"messages":[],"x":{"y":1}}"#), Some(false));
    }
}
