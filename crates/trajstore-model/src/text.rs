//! The text of a trajectory that search uses, derived from its steps without a DOM.
//!
//! * Full-text search indexes the question, every message's content (string, or the
//!   `text` of typed blocks), every tool call's name and arguments, and tool outputs
//!   (a tool message's content): [`search_text`]. Hex strings of eight or more
//!   characters with digits and letters (hashes, addresses, random ids) are left out:
//!   see [`is_hex_noise`].
//! * Similarity embeds the question plus the last assistant message by default:
//!   [`embed_text`].
//!
//! Steps are read with borrowed strings and every other field skipped, so deriving the
//! text costs one light pass over the steps' JSON.

use std::borrow::Cow;

use serde::de::IgnoredAny;
use serde::Deserialize;

use crate::Trajectory;

#[derive(Deserialize)]
#[serde(untagged)]
enum Content<'a> {
    #[serde(borrow)]
    Text(Cow<'a, str>),
    #[serde(borrow)]
    Blocks(Vec<Block<'a>>),
    Other(IgnoredAny),
}

#[derive(Deserialize)]
struct Block<'a> {
    #[serde(borrow, default)]
    text: Option<Cow<'a, str>>,
}

#[derive(Deserialize)]
struct Function<'a> {
    #[serde(borrow, default)]
    name: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    arguments: Option<Content<'a>>,
}

#[derive(Deserialize)]
struct ToolCall<'a> {
    #[serde(borrow, default)]
    function: Option<Function<'a>>,
}

#[derive(Deserialize)]
struct Step<'a> {
    #[serde(borrow, default)]
    role: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    content: Option<Content<'a>>,
    #[serde(borrow, default)]
    tool_calls: Option<Vec<ToolCall<'a>>>,
}

fn push_content(out: &mut String, c: &Option<Content<'_>>) {
    match c {
        Some(Content::Text(t)) => {
            out.push_str(t);
            out.push('\n');
        }
        Some(Content::Blocks(blocks)) => {
            for b in blocks {
                if let Some(t) = &b.text {
                    out.push_str(t);
                    out.push('\n');
                }
            }
        }
        _ => {}
    }
}

fn push_step(out: &mut String, s: &Step<'_>) {
    push_content(out, &s.content);
    for call in s.tool_calls.iter().flatten() {
        if let Some(f) = &call.function {
            if let Some(n) = &f.name {
                out.push_str(n);
                out.push(' ');
            }
            push_content(out, &f.arguments);
        }
    }
}

/// Whether a word is a hex string of at least 8 characters that has both digits and
/// letters: a hash, address or random id. Such words are left out of the full-text
/// index: nearly every one is distinct, so a store of 1M trajectories with verbose logs
/// held hundreds of millions of them, and the index's dictionary grew past this
/// machine's memory while adding almost nothing that a person searches for by word.
pub fn is_hex_noise(word: &str) -> bool {
    let b = word.as_bytes();
    b.iter().all(|&c| CLASSES[c as usize] & WORD != 0) && is_noise_run(b.len(), b.iter().fold(0, |seen, &c| seen | CLASSES[c as usize]))
}

/// Whether a run of ASCII letters and digits of `len` bytes, whose byte classes OR-ed
/// together are `seen`, is hex noise.
fn is_noise_run(len: usize, seen: u8) -> bool {
    len >= 8 && seen & NOT_HEX == 0 && seen & DIGIT != 0 && seen & HEX_LETTER != 0
}

/// Byte classes for [`drop_hex_noise`]: one table lookup per byte.
const WORD: u8 = 1; // an ASCII letter or digit
const DIGIT: u8 = 2;
const HEX_LETTER: u8 = 4; // a-f, A-F
const NOT_HEX: u8 = 8; // a letter beyond f
const CLASSES: [u8; 256] = {
    let mut t = [0u8; 256];
    let mut c = 0;
    while c < 256 {
        let b = c as u8;
        t[c] = if b.is_ascii_digit() {
            WORD | DIGIT
        } else if matches!(b, b'a'..=b'f' | b'A'..=b'F') {
            WORD | HEX_LETTER
        } else if b.is_ascii_alphabetic() {
            WORD | NOT_HEX
        } else {
            0
        };
        c += 1;
    }
    t
};

/// Removes [`is_hex_noise`] words (runs of ASCII letters and digits) in place. Most
/// texts have none and are left untouched after one scan.
fn drop_hex_noise(text: &mut String) {
    let b = text.as_bytes();
    let mut noise: Vec<(usize, usize)> = Vec::new();
    let mut i = 0;
    while i < b.len() {
        if CLASSES[b[i] as usize] & WORD == 0 {
            i += 1;
            continue;
        }
        let start = i;
        let mut seen = 0u8;
        while i < b.len() && CLASSES[b[i] as usize] & WORD != 0 {
            seen |= CLASSES[b[i] as usize];
            i += 1;
        }
        // A run next to a non-ASCII letter or digit is part of a longer word for the
        // index's tokenizer (which splits on what is not a Unicode letter or digit): kept.
        if is_noise_run(i - start, seen) {
            let word_char = |c: Option<char>| c.is_some_and(|c| !c.is_ascii() && c.is_alphanumeric());
            if !word_char(text[..start].chars().next_back()) && !word_char(text[i..].chars().next()) {
                noise.push((start, i));
            }
        }
    }
    if noise.is_empty() {
        return;
    }
    let mut bytes = std::mem::take(text).into_bytes();
    let (mut write, mut read) = (noise[0].0, noise[0].1);
    for &(start, end) in &noise[1..] {
        bytes.copy_within(read..start, write);
        write += start - read;
        read = end;
    }
    let len = bytes.len();
    bytes.copy_within(read..len, write);
    bytes.truncate(write + len - read);
    // Only whole ASCII runs were removed, so the rest is still valid UTF-8.
    *text = String::from_utf8(bytes).unwrap_or_default();
}

/// The searchable text of each step, in order (empty for steps that are not objects).
/// Used to find the step and snippet of a full-text hit.
pub fn step_texts(steps_json: &str) -> Vec<String> {
    let Ok(values) = serde_json::from_str::<Vec<&serde_json::value::RawValue>>(steps_json) else { return Vec::new() };
    values
        .iter()
        .map(|raw| {
            let mut s = String::new();
            if let Ok(step) = serde_json::from_str::<Step<'_>>(raw.get()) {
                push_step(&mut s, &step);
            }
            s
        })
        .collect()
}

/// The text full-text search indexes: the question, then every step's text.
pub fn search_text(t: &Trajectory) -> String {
    search_text_of(t.question.as_deref(), &t.steps_json)
}

/// [`search_text`] from the question and the steps (a JSON array) alone.
pub fn search_text_of(question: Option<&str>, steps_json: &str) -> String {
    let mut out = String::with_capacity(steps_json.len() / 2 + 256);
    if let Some(q) = question {
        out.push_str(q);
        out.push('\n');
    }
    if let Ok(steps) = serde_json::from_str::<Vec<Step<'_>>>(steps_json) {
        for s in &steps {
            push_step(&mut out, s);
        }
    }
    drop_hex_noise(&mut out);
    out
}

/// Both texts in one pass: (full-text search text, embedding text).
pub fn derive_texts(t: &Trajectory) -> (String, String) {
    let mut search = String::with_capacity(t.steps_json.len() / 2 + 256);
    let mut last_assistant = String::new();
    if let Some(q) = &t.question {
        search.push_str(q);
        search.push('\n');
    }
    if let Ok(steps) = serde_json::from_str::<Vec<Step<'_>>>(&t.steps_json) {
        for s in &steps {
            push_step(&mut search, s);
            if s.role.as_deref() == Some("assistant") {
                let mut m = String::new();
                push_content(&mut m, &s.content);
                if !m.trim().is_empty() {
                    last_assistant = m;
                }
            }
        }
    }
    drop_hex_noise(&mut search);
    (search, join_embed_text(t.question.as_deref(), &last_assistant))
}

/// The default text embedded for similarity: the question, a blank line, then the last
/// assistant message with content. Either may be empty.
pub fn join_embed_text(question: Option<&str>, last_assistant: &str) -> String {
    let q = question.unwrap_or("").trim();
    let a = last_assistant.trim();
    match (q.is_empty(), a.is_empty()) {
        (_, true) => q.to_string(),
        (true, false) => a.to_string(),
        (false, false) => format!("{q}\n\n{a}"),
    }
}

/// The embedding text of a trajectory (see [`derive_texts`]).
pub fn embed_text(t: &Trajectory) -> String {
    derive_texts(t).1
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn texts_cover_question_contents_tool_arguments_and_outputs() {
        let t = Trajectory::from_json(
            br#"{"trajectory_id":"a","task":{"question":"Fix the parser"},"steps":[
            {"role":"user","content":"Fix the parser"},
            {"role":"assistant","content":"Running tests","tool_calls":[{"id":"c1","type":"function","function":{"name":"bash","arguments":"{\"command\": \"pytest -x\"}"}}]},
            {"role":"tool","tool_call_id":"c1","content":[{"type":"text","text":"1 failed, 41 passed"}]},
            {"role":"assistant","content":"Fixed the tokenizer."},
            {"role":"assistant","content":null}]}"#,
        )
        .unwrap();
        let (search, embed) = derive_texts(&t);
        for needle in ["Fix the parser", "Running tests", "bash", "pytest -x", "1 failed, 41 passed", "Fixed the tokenizer."] {
            assert!(search.contains(needle), "{needle} missing from {search}");
        }
        assert_eq!(embed, "Fix the parser\n\nFixed the tokenizer.");
        let steps = step_texts(&t.steps_json);
        assert_eq!(steps.len(), 5);
        assert!(steps[2].contains("41 passed"));
        assert!(steps[1].contains("pytest"));
    }

    #[test]
    fn hex_noise_is_left_out_of_the_search_text_and_nothing_else() {
        let mut text = String::from("commit 775b19bf ok deadbeef 1234567890 abc12345x 0x7ffd5e8a9c10 \u{e9}775b19bf9 A1B2C3D4 a1b2c3d \u{201c}9c7d64aa\u{201d}\n");
        drop_hex_noise(&mut text);
        // Words of letters only, digits only, with a non-hex letter, shorter than 8, or
        // joined to a non-ASCII letter stay; "0x7ffd5e8a9c10" is one run with 'x': kept.
        // Non-ASCII punctuation (curly quotes) does not join.
        assert_eq!(text, "commit  ok deadbeef 1234567890 abc12345x 0x7ffd5e8a9c10 \u{e9}775b19bf9  a1b2c3d \u{201c}\u{201d}\n");
        for (word, noise) in [("775b19bf", true), ("DEADBEEF", false), ("deadbeef1", true), ("1234abcd", true), ("1234abc", false), ("12345678", false)] {
            assert_eq!(is_hex_noise(word), noise, "{word}");
        }
    }
}
