//! The text of a trajectory that search uses, derived from its steps without a DOM.
//!
//! * Full-text search indexes the question, every message's content (a string, or the
//!   blocks of a list: plain strings and typed blocks' `text`), every tool call's name
//!   and arguments (the strings of object arguments), and tool outputs (a tool message's
//!   content): [`search_text`]. Hex strings of eight or more
//!   characters with digits and letters (hashes, addresses, random ids) are left out:
//!   see [`is_hex_noise`].
//! * Similarity embeds the question plus the last assistant message by default:
//!   [`embed_text`].
//!
//! Steps are read with borrowed strings (see `step`) and every other field skipped. An
//! import derives the texts while it checks each step (see `Trajectory::from_object`), in
//! the same pass.

use std::borrow::Cow;
use std::fmt;

use serde::de::{Deserializer, MapAccess, SeqAccess, Visitor};
use serde::Deserialize;
use serde_json::value::RawValue;

use crate::step::Step;
use crate::step_facts::{StepFacts, StepParts};
use crate::Trajectory;

/// The two texts derived from a trajectory's question and steps, and the facts of its
/// steps when they were derived in the same pass.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct DerivedTexts {
    /// What full-text search indexes (see [`search_text`]).
    pub search: String,
    /// What similarity search embeds (see [`embed_text`]).
    pub embed: String,
    /// The step and call facts ([`crate::step_facts::step_facts`]), when the import's
    /// check of each step derived them; `None` when the texts were derived otherwise.
    pub facts: Option<StepFacts>,
}

/// A message's content: a string, or a list of blocks (read for their text later, so
/// that a block of any shape is accepted).
pub(crate) enum Content<'a> {
    Text(Cow<'a, str>),
    Blocks(Vec<&'a RawValue>),
}

impl<'de: 'a, 'a> Deserialize<'de> for Content<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Content<'de>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a string, null or a list of content blocks")
            }
            fn visit_borrowed_str<E>(self, s: &'de str) -> Result<Content<'de>, E> {
                Ok(Content::Text(Cow::Borrowed(s)))
            }
            fn visit_str<E>(self, s: &str) -> Result<Content<'de>, E> {
                Ok(Content::Text(Cow::Owned(s.to_owned())))
            }
            fn visit_string<E>(self, s: String) -> Result<Content<'de>, E> {
                Ok(Content::Text(Cow::Owned(s)))
            }
            fn visit_unit<E>(self) -> Result<Content<'de>, E> {
                Ok(Content::Blocks(Vec::new()))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Content<'de>, A::Error> {
                let mut blocks = Vec::new();
                while let Some(raw) = seq.next_element::<&'de RawValue>()? {
                    blocks.push(raw);
                }
                Ok(Content::Blocks(blocks))
            }
        }
        d.deserialize_any(V)
    }
}

/// A JSON string's text; `None` for any other value (or an invalid one).
pub(crate) fn string_text(raw: &RawValue) -> Option<Cow<'_, str>> {
    if !raw.get().starts_with('"') {
        return None;
    }
    // `Cow<str>` borrows only through the derive's `borrow` attribute: a newtype gets it.
    #[derive(Deserialize)]
    struct Text<'a>(#[serde(borrow)] Cow<'a, str>);
    serde_json::from_str::<Text<'_>>(raw.get()).ok().map(|t| t.0)
}

/// A content block's text: the block itself if it is a string, else its `text` field.
fn block_text(raw: &RawValue) -> Option<Cow<'_, str>> {
    #[derive(Deserialize)]
    struct Block<'a> {
        #[serde(borrow)]
        text: Option<&'a RawValue>,
    }
    match raw.get().as_bytes().first() {
        Some(b'"') => string_text(raw),
        Some(b'{') => serde_json::from_str::<Block<'_>>(raw.get()).ok()?.text.and_then(string_text),
        _ => None,
    }
}

/// A tool call's name and arguments, wherever the shape puts them: `function.name` and
/// `function.arguments` (OpenAI), or `name` and `arguments` beside `id` (others).
fn tool_call_texts(raw: &RawValue) -> (Option<Cow<'_, str>>, Option<Cow<'_, str>>) {
    #[derive(Deserialize)]
    struct Call<'a> {
        #[serde(borrow)]
        function: Option<&'a RawValue>,
        #[serde(borrow)]
        name: Option<&'a RawValue>,
        #[serde(borrow)]
        arguments: Option<&'a RawValue>,
    }
    fn parse(raw: &RawValue) -> Option<Call<'_>> {
        if raw.get().starts_with('{') {
            serde_json::from_str(raw.get()).ok()
        } else {
            None
        }
    }
    let Some(call) = parse(raw) else { return (None, None) };
    let function = call.function.and_then(parse);
    let name = function.as_ref().and_then(|f| f.name).or(call.name).and_then(string_text);
    let arguments = function.as_ref().and_then(|f| f.arguments).or(call.arguments).and_then(arguments_text);
    (name, arguments)
}

/// Tool-call arguments as text: a string as it is; an object or list as its strings
/// (keys and values, escapes decoded) joined by spaces; anything else none.
fn arguments_text(raw: &RawValue) -> Option<Cow<'_, str>> {
    struct Strings<'a, 'o>(&'o mut Vec<Cow<'a, str>>);
    impl<'de, 'o> serde::de::DeserializeSeed<'de> for Strings<'de, 'o> {
        type Value = ();
        fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
            d.deserialize_any(self)
        }
    }
    impl<'de, 'o> Visitor<'de> for Strings<'de, 'o> {
        type Value = ();
        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("any value")
        }
        fn visit_borrowed_str<E>(self, s: &'de str) -> Result<(), E> {
            self.0.push(Cow::Borrowed(s));
            Ok(())
        }
        fn visit_str<E>(self, s: &str) -> Result<(), E> {
            self.0.push(Cow::Owned(s.to_owned()));
            Ok(())
        }
        fn visit_bool<E>(self, _: bool) -> Result<(), E> {
            Ok(())
        }
        fn visit_i64<E>(self, _: i64) -> Result<(), E> {
            Ok(())
        }
        fn visit_u64<E>(self, _: u64) -> Result<(), E> {
            Ok(())
        }
        fn visit_f64<E>(self, _: f64) -> Result<(), E> {
            Ok(())
        }
        fn visit_unit<E>(self) -> Result<(), E> {
            Ok(())
        }
        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
            while seq.next_element_seed(Strings(&mut *self.0))?.is_some() {}
            Ok(())
        }
        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
            while map.next_key_seed(Strings(&mut *self.0))?.is_some() {
                map.next_value_seed(Strings(&mut *self.0))?;
            }
            Ok(())
        }
    }
    match raw.get().as_bytes().first() {
        Some(b'"') => string_text(raw),
        Some(b'{' | b'[') => {
            let mut strings = Vec::new();
            let mut d = serde_json::Deserializer::from_str(raw.get());
            serde::de::DeserializeSeed::deserialize(Strings(&mut strings), &mut d).ok()?;
            Some(Cow::Owned(strings.join(" ")))
        }
        _ => None,
    }
}

/// Builds the texts of one trajectory step by step, as its steps are read.
#[derive(Default)]
pub(crate) struct TextBuilder {
    search: String,
    last_assistant: String,
    /// Whether `search` starts with the question (known before the steps were read).
    question_first: bool,
    spare: String,
    /// The steps' facts, when collected (the import's check collects them).
    facts: Option<StepFacts>,
}

impl TextBuilder {
    /// A builder for steps of `steps_len` bytes; the question, when already known, goes
    /// first now rather than being copied in front of the text at the end.
    pub(crate) fn with_capacity(steps_len: usize, question: Option<&str>) -> Self {
        let q = question.unwrap_or("");
        let mut search = String::with_capacity(q.len() + 1 + steps_len / 2 + 64);
        if let Some(q) = question {
            search.push_str(q);
            search.push('\n');
        }
        TextBuilder {
            search,
            last_assistant: String::new(),
            question_first: question.is_some(),
            spare: String::new(),
            facts: None,
        }
    }

    /// Collects the steps' facts too (see [`crate::step_facts::step_facts`]).
    pub(crate) fn with_facts(mut self) -> Self {
        self.facts = Some(StepFacts::default());
        self
    }

    pub(crate) fn push_step(&mut self, s: &Step<'_>) {
        let content_start = self.search.len();
        push_content(&mut self.search, &s.content);
        if let Some(facts) = &mut self.facts {
            if s.repeated_fact_key {
                // Empty, as `step_facts` gives a step it cannot read.
                facts.steps.push(Default::default());
            } else {
                let content = &self.search[content_start..];
                facts.push(StepParts {
                    role: s.role.to_string(),
                    content: content.strip_suffix('\n').unwrap_or(content),
                    tool_calls: s.tool_calls.as_deref().unwrap_or_default(),
                    name: s.name,
                    tool_call_id: s.tool_call_id,
                    is_error: s.is_error,
                    reward: s.reward,
                    timestamp: s.timestamp,
                });
            }
        }
        for &call in s.tool_calls.iter().flatten() {
            let (name, arguments) = tool_call_texts(call);
            if let Some(n) = name {
                self.search.push_str(&n);
                self.search.push(' ');
            }
            if let Some(a) = arguments {
                self.search.push_str(&a);
                self.search.push('\n');
            }
        }
        if s.role == "assistant" {
            // Written into a spare buffer that becomes the last message when it has
            // text: no allocation per assistant step.
            self.spare.clear();
            push_content(&mut self.spare, &s.content);
            if !self.spare.trim().is_empty() {
                std::mem::swap(&mut self.last_assistant, &mut self.spare);
            }
        }
    }

    /// The texts, with the question (which a record may give after its steps) first.
    pub(crate) fn finish(self, question: Option<&str>) -> DerivedTexts {
        let mut search = match question.filter(|_| !self.question_first) {
            Some(q) => {
                let mut s = String::with_capacity(q.len() + 1 + self.search.len());
                s.push_str(q);
                s.push('\n');
                s.push_str(&self.search);
                s
            }
            None => self.search,
        };
        drop_hex_noise(&mut search);
        // The builder reserved for half the steps' bytes; batches of texts wait in queues.
        if search.capacity() > search.len() + search.len() / 4 + 64 {
            search.shrink_to_fit();
        }
        DerivedTexts { search, embed: join_embed_text(question, &self.last_assistant), facts: self.facts }
    }
}

pub(crate) fn push_content(out: &mut String, c: &Option<Content<'_>>) {
    match c {
        Some(Content::Text(t)) => {
            out.push_str(t);
            out.push('\n');
        }
        Some(Content::Blocks(blocks)) => {
            for t in blocks.iter().filter_map(|&b| block_text(b)) {
                out.push_str(&t);
                out.push('\n');
            }
        }
        None => {}
    }
}

/// Whether a word is a hex string of at least 8 characters that has both digits and
/// letters: a hash, address or random id. Such words are left out of the full-text
/// index: nearly every one is distinct, so a store of 1M trajectories with verbose logs
/// held hundreds of millions of them, and the index's dictionary grew past this
/// machine's memory while adding almost nothing that a person searches for by word.
pub fn is_hex_noise(word: &str) -> bool {
    let b = word.as_bytes();
    b.iter().all(|&c| CLASSES[c as usize] & WORD != 0)
        && is_noise_run(b.len(), b.iter().fold(0, |seen, &c| seen | CLASSES[c as usize]))
}

/// Whether a run of ASCII letters and digits of `len` bytes, whose byte classes OR-ed
/// together are `seen`, is hex noise.
fn is_noise_run(len: usize, seen: u8) -> bool {
    len >= 8 && seen & NOT_HEX == 0 && seen & DIGIT != 0 && seen & HEX_LETTER != 0
}

const HIGH_BITS: u64 = 0x8080_8080_8080_8080;
const LOW_BITS: u64 = 0x0101_0101_0101_0101;

/// Bit 7 of each byte of `w` set where the byte is an ASCII hex digit, for eight bytes
/// at once. For an ASCII byte x (below 0x80), x + (0x80 - lo) has bit 7 set exactly
/// when x >= lo, and no addition carries into the next byte.
fn hex_digit_bytes(w: u64) -> u64 {
    let ascii = !w & HIGH_BITS;
    let x = w & !HIGH_BITS;
    let in_range = |x: u64, lo: u8, hi: u8| {
        (x + LOW_BITS * u64::from(0x80 - lo)) & !(x + LOW_BITS * u64::from(0x7f - hi)) & HIGH_BITS
    };
    // Setting bit 5 lower-cases letters and leaves digits (0x30-0x39) as they are.
    (in_range(x, b'0', b'9') | in_range(x | (LOW_BITS * 0x20), b'a', b'f')) & ascii
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
///
/// The scan reads eight bytes at a time and looks only for runs of eight or more hex
/// digits (0-9, a-f, A-F), which every noise word contains; only around such a run are
/// the letters and digits classified one by one. (A byte-by-byte scan was a seventh of
/// an import's parsing time; this one is about 2.5 times faster.)
fn drop_hex_noise(text: &mut String) {
    let b = text.as_bytes();
    let mut noise: Vec<(usize, usize)> = Vec::new();
    // Records the run of ASCII letters and digits around `at` if it is noise; returns
    // the index after the run.
    let mut check_run_around = |at: usize| -> usize {
        let in_word = |i: usize| CLASSES[b[i] as usize] & WORD != 0;
        let (mut start, mut end) = (at, at);
        while start > 0 && in_word(start - 1) {
            start -= 1;
        }
        while end < b.len() && in_word(end) {
            end += 1;
        }
        let seen = b[start..end].iter().fold(0, |seen, &c| seen | CLASSES[c as usize]);
        // A run next to a non-ASCII letter or digit is part of a longer word for the
        // index's tokenizer (which splits on what is not a Unicode letter or digit): kept.
        if is_noise_run(end - start, seen) {
            let word_char = |c: Option<char>| c.is_some_and(|c| !c.is_ascii() && c.is_alphanumeric());
            if !word_char(text[..start].chars().next_back()) && !word_char(text[end..].chars().next()) {
                noise.push((start, end));
            }
        }
        end.max(at + 1)
    };
    let mut i = 0;
    // How many hex digits come right before `i`.
    let mut hex_before = 0usize;
    while i + 8 <= b.len() {
        let not_hex = !hex_digit_bytes(u64::from_le_bytes(b[i..i + 8].try_into().expect("eight bytes"))) & HIGH_BITS;
        if not_hex == 0 {
            hex_before += 8;
            i += 8;
            continue;
        }
        // Bytes are little-endian: trailing zeros count from the first byte.
        let leading_hex = (not_hex.trailing_zeros() / 8) as usize;
        if hex_before + leading_hex >= 8 {
            i = check_run_around(i - hex_before);
            hex_before = 0;
        } else {
            hex_before = (not_hex.leading_zeros() / 8) as usize;
            i += 8;
        }
    }
    // The last few bytes (fewer than eight), with the hex digits before them.
    if hex_before + (b.len() - i) >= 8 {
        let mut j = i - hex_before;
        while j < b.len() {
            j = if CLASSES[b[j] as usize] & WORD != 0 { check_run_around(j) } else { j + 1 };
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

/// The searchable text of each step, in order (empty for a step that does not read as
/// one). Used to find the step and snippet of a full-text hit.
pub fn step_texts(steps_json: &str) -> Vec<String> {
    let Ok(values) = serde_json::from_str::<Vec<&RawValue>>(steps_json) else { return Vec::new() };
    values
        .iter()
        .map(|raw| {
            let mut b = TextBuilder::default();
            if let Ok(step) = serde_json::from_str::<Step<'_>>(raw.get()) {
                b.push_step(&step);
            }
            b.search
        })
        .collect()
}

/// The text full-text search indexes: the question, then every step's content (string,
/// or the text of typed blocks), tool calls' names and arguments, and tool outputs.
pub fn search_text(t: &Trajectory) -> String {
    derive_texts(t).search
}

/// [`search_text`] from the question and the steps (a JSON array) alone.
pub fn search_text_of(question: Option<&str>, steps_json: &str) -> String {
    texts_of(question, steps_json).search
}

/// Both texts. A trajectory parsed from JSON carries them already (derived while its
/// steps were checked); for one read back from the store they are derived here.
pub fn derive_texts(t: &Trajectory) -> DerivedTexts {
    match t.texts.get_for(t) {
        Some(texts) => texts.clone(),
        None => texts_of(t.question.as_deref(), &t.steps_json),
    }
}

fn texts_of(question: Option<&str>, steps_json: &str) -> DerivedTexts {
    let mut b = TextBuilder::with_capacity(steps_json.len(), question);
    for raw in serde_json::from_str::<Vec<&RawValue>>(steps_json).unwrap_or_default() {
        if let Ok(step) = serde_json::from_str::<Step<'_>>(raw.get()) {
            b.push_step(&step);
        }
    }
    b.finish(question)
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

/// The text similarity search embeds: the question, then the last assistant message
/// with content (see [`join_embed_text`]).
pub fn embed_text(t: &Trajectory) -> String {
    derive_texts(t).embed
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
        let DerivedTexts { search, embed, .. } = derive_texts(&t);
        for needle in
            ["Fix the parser", "Running tests", "bash", "pytest -x", "1 failed, 41 passed", "Fixed the tokenizer."]
        {
            assert!(search.contains(needle), "{needle} missing from {search}");
        }
        assert_eq!(embed, "Fix the parser\n\nFixed the tokenizer.");
        let steps = step_texts(&t.steps_json);
        assert_eq!(steps.len(), 5);
        assert!(steps[2].contains("41 passed"));
        assert!(steps[1].contains("pytest"));
    }

    #[test]
    fn tool_calls_of_every_shape_and_loose_blocks_are_read() {
        let t = Trajectory::from_json(
            br#"{"trajectory_id":"a","steps":[
            {"role":"assistant","content":null,"tool_calls":[
                {"id":"1","name":"search_flights","arguments":{"from":"SFO","to":"JFK","note":"caf\u00e9\nbooking"}},
                {"id":"2","function":{"name":"bash","arguments":"ls \u002ftmp"}},
                "not a call", 7, null, ["nested"],
                {"id":"3","name":"noop","arguments":null}]},
            {"role":"user","content":["plain string block",{"type":"image_url","image_url":{"url":"x"}},{"type":"text","text":"typed block"},{"type":"text","text":5},3]},
            {"role":"tool","content":"escaped \"quote\" and \n newline"}]}"#,
        )
        .unwrap();
        let search = derive_texts(&t).search;
        for needle in [
            "search_flights",
            "SFO",
            "JFK",
            "caf\u{e9}\nbooking",
            "bash",
            "ls /tmp",
            "noop",
            "plain string block",
            "typed block",
            "escaped \"quote\" and \n newline",
        ] {
            assert!(search.contains(needle), "{needle:?} missing from {search:?}");
        }
        assert!(!search.contains("not a call") && !search.contains("image_url"), "{search:?}");
    }

    #[test]
    fn texts_derived_while_parsing_equal_texts_derived_later() {
        // The import stores the texts derived during the parse; the store backfills old
        // rows and locates hits with the same functions run on the stored steps.
        for line in crate::demo::DemoConfig::with_total(300, 7).lines() {
            let parsed = Trajectory::from_json(line.as_bytes()).unwrap();
            let cached = parsed.texts.get_for(&parsed).cloned().expect("parsing derives the texts");
            assert!(!cached.search.is_empty());
            let mut stored = parsed.clone();
            stored.texts = Default::default();
            // Facts are derived in the parse only (compared in `step_facts`' tests).
            let texts = |t: DerivedTexts| (t.search, t.embed);
            assert!(cached.facts.is_some());
            assert_eq!(texts(derive_texts(&stored)), texts(cached.clone()), "{}", parsed.trajectory_id);
            // A clone's strings are new allocations: its texts are derived again, alike.
            assert!(parsed.clone().texts.get_for(&parsed.clone()).is_none());
            assert_eq!(texts(parsed.clone().take_texts()), texts(cached.clone()));
            assert_eq!(search_text_of(parsed.question.as_deref(), &parsed.steps_json), cached.search);
        }
    }

    #[test]
    fn texts_kept_from_parsing_are_not_used_once_the_steps_or_question_change() {
        let mut t = Trajectory::from_json(br#"{"trajectory_id":"a","task":{"question":"old question"},"steps":[{"role":"assistant","content":"old answer"}]}"#).unwrap();
        assert!(t.texts.get_for(&t).unwrap().search.contains("old answer"));
        t.steps_json = r#"[{"role":"assistant","content":"new answer"}]"#.to_string();
        assert!(t.texts.get_for(&t).is_none());
        let texts = derive_texts(&t);
        assert!(texts.search.contains("new answer") && !texts.search.contains("old answer"), "{texts:?}");
        t.question = Some("new question".into());
        assert_eq!(t.take_texts().embed, "new question\n\nnew answer");
    }

    #[test]
    fn hex_noise_is_left_out_of_the_search_text_and_nothing_else() {
        let mut text = String::from("commit 775b19bf ok deadbeef 1234567890 abc12345x 0x7ffd5e8a9c10 \u{e9}775b19bf9 A1B2C3D4 a1b2c3d \u{201c}9c7d64aa\u{201d}\n");
        drop_hex_noise(&mut text);
        // Words of letters only, digits only, with a non-hex letter, shorter than 8, or
        // joined to a non-ASCII letter stay; "0x7ffd5e8a9c10" is one run with 'x': kept.
        // Non-ASCII punctuation (curly quotes) does not join.
        assert_eq!(
            text,
            "commit  ok deadbeef 1234567890 abc12345x 0x7ffd5e8a9c10 \u{e9}775b19bf9  a1b2c3d \u{201c}\u{201d}\n"
        );
        for (word, noise) in [
            ("775b19bf", true),
            ("DEADBEEF", false),
            ("deadbeef1", true),
            ("1234abcd", true),
            ("1234abc", false),
            ("12345678", false),
        ] {
            assert_eq!(is_hex_noise(word), noise, "{word}");
        }
        let mut text = String::from("at the end 775b19bf");
        drop_hex_noise(&mut text);
        assert_eq!(text, "at the end ");
    }

    /// The plain definition: cut the text into runs of ASCII letters and digits and the
    /// rest, and leave out the runs that are noise and not joined to a non-ASCII letter.
    fn drop_hex_noise_by_definition(text: &str) -> String {
        let chars: Vec<char> = text.chars().collect();
        let joins = |c: Option<&char>| c.is_some_and(|c| !c.is_ascii() && c.is_alphanumeric());
        let (mut out, mut i) = (String::new(), 0);
        while i < chars.len() {
            if !chars[i].is_ascii_alphanumeric() {
                out.push(chars[i]);
                i += 1;
                continue;
            }
            let start = i;
            while i < chars.len() && chars[i].is_ascii_alphanumeric() {
                i += 1;
            }
            let run: String = chars[start..i].iter().collect();
            let joined = joins(start.checked_sub(1).and_then(|p| chars.get(p))) || joins(chars.get(i));
            if joined || !is_hex_noise(&run) {
                out.push_str(&run);
            }
        }
        out
    }

    proptest::proptest! {
        #[test]
        fn hex_noise_removal_matches_its_definition(pieces in proptest::collection::vec(proptest::prop_oneof![
            "[0-9a-fA-F]{5,11}", "[0-9]{7,9}", "[a-z]{1,4}", "[ \n.:/]{1,2}", "\u{e9}|\u{201c}|\u{4e2d}",
        ], 0..40)) {
            let text = pieces.concat();
            let mut fast = text.clone();
            drop_hex_noise(&mut fast);
            proptest::prop_assert_eq!(fast, drop_hex_noise_by_definition(&text));
        }
    }
}
