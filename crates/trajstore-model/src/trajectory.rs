//! One trajectory of the native format: parsing, validation and serialisation.
//!
//! Parsing never builds a `serde_json::Value` of the steps: the record is split into its
//! top-level entries as raw JSON slices, the small known fields are decoded from their
//! slices, and the steps are checked by a streaming probe and kept as the raw JSON text
//! they arrived in. That keeps the import hot path close to the cost of one scan.

use std::fmt;

use serde_json::value::RawValue;

use crate::raw::{
    bool_field, float_field, id_field, int_field, is_null, kind, object_field, readable_json, string_field,
    timestamp_field, RawObject,
};
use crate::step_facts::StepFacts;
use crate::step_scan::scan_steps;
use crate::text::{DerivedTexts, TextBuilder};

/// Field names the model knows, in the order [`Trajectory::to_json`] writes them.
/// `messages` is read as a synonym of `steps` and written as `steps`.
pub const KNOWN_FIELDS: &[&str] = &[
    "trajectory_id",
    "data_id",
    "agent_name",
    "model",
    "training_id",
    "epoch_id",
    "iteration_id",
    "sample_id",
    "task",
    "termination_reason",
    "failure_mode",
    "reward",
    "toolcall_reward",
    "res_reward",
    "is_success",
    "step_count",
    "exec_time",
    "input_tokens",
    "output_tokens",
    "cost",
    "is_bookmarked",
    "tags",
    "notes",
    "metadata",
    "source",
    "created_at",
    "updated_at",
    "steps",
];

/// Why one record was rejected, with the field at fault where there is one
/// (`steps[3].role`, `reward`); `None` for a record that is not JSON at all.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct RecordError {
    pub field: Option<String>,
    pub message: String,
}

impl fmt::Display for RecordError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.field {
            Some(field) => write!(f, "{field}: {}", self.message),
            None => f.write_str(&self.message),
        }
    }
}

impl RecordError {
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        RecordError { field: Some(field.into()), message: message.into() }
    }
    pub fn whole(message: impl Into<String>) -> Self {
        RecordError { field: None, message: message.into() }
    }
}

/// A trajectory as trajstore stores it: the known scalar fields typed, the bulky or free
/// parts (`steps`, `task`, `metadata`, unknown fields) as JSON text. The summary
/// columns among its fields are listed in [`crate::COLUMNS`].
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Trajectory {
    pub trajectory_id: String,
    pub data_id: Option<String>,
    pub agent_name: Option<String>,
    /// The model's name; from `metadata.model` when the record has no `model`.
    pub model: Option<String>,
    pub training_id: Option<String>,
    pub epoch_id: Option<i64>,
    pub iteration_id: Option<i64>,
    pub sample_id: Option<i64>,
    /// `task.question` (or `task` itself when it is a string), copied out of `task` so
    /// that lists and filters never read the task object.
    pub question: Option<String>,
    /// The `task` value as JSON text, when present.
    pub task_json: Option<String>,
    /// The steps as a JSON array text (`[]` when the record had none).
    pub steps_json: String,
    pub termination_reason: Option<String>,
    /// The label of the failure mode the trajectory was put in (`trajstore
    /// failure-modes` writes it; a record may also arrive labelled).
    pub failure_mode: Option<String>,
    pub reward: Option<f64>,
    pub toolcall_reward: Option<f64>,
    pub res_reward: Option<f64>,
    pub is_success: Option<bool>,
    pub step_count: i64,
    pub exec_time: Option<f64>,
    /// Tokens read and written by the model, and what the run cost (the record's own
    /// fields, else `metadata`'s entries of the same names).
    pub input_tokens: Option<i64>,
    pub output_tokens: Option<i64>,
    pub cost: Option<f64>,
    pub is_bookmarked: bool,
    pub tags: Vec<String>,
    pub notes: Option<String>,
    /// The `metadata` object as JSON text, when present.
    pub metadata_json: Option<String>,
    pub source: Option<String>,
    /// Microseconds since the Unix epoch.
    pub created_at: Option<i64>,
    pub updated_at: Option<i64>,
    /// The fields this model does not know, as a JSON object text in input order, so that
    /// nothing a user sent is dropped.
    pub extra_json: Option<String>,
    /// The search and embedding texts and the steps' facts, derived while the steps were
    /// checked so that an import reads them once (see [`Trajectory::take_texts`]); empty
    /// for a trajectory built otherwise.
    pub texts: TextCache,
}

/// Texts derived from a trajectory's question and steps, kept from parsing with the
/// strings they came from (address and length): once either is replaced or resized, they
/// are stale and derived again. A cache, not data: it takes no part in equality.
#[derive(Debug, Clone, Default)]
pub struct TextCache(Option<(TextSource, DerivedTexts)>);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct TextSource {
    steps: (usize, usize),
    question: Option<(usize, usize)>,
}

impl TextSource {
    fn of(t: &Trajectory) -> Self {
        TextSource {
            steps: (t.steps_json.as_ptr() as usize, t.steps_json.len()),
            question: t.question.as_ref().map(|q| (q.as_ptr() as usize, q.len())),
        }
    }
}

impl TextCache {
    /// The memory the kept texts take.
    pub fn bytes(&self) -> usize {
        self.0
            .as_ref()
            .map_or(0, |(_, t)| t.search.capacity() + t.embed.capacity() + t.facts.as_ref().map_or(0, StepFacts::bytes))
    }

    /// The texts, if `t`'s question and steps are still the strings they came from.
    pub fn get_for(&self, t: &Trajectory) -> Option<&DerivedTexts> {
        self.0.as_ref().filter(|(source, _)| *source == TextSource::of(t)).map(|(_, texts)| texts)
    }
}

impl Trajectory {
    /// Moves the texts out, derived now if they were not kept or are stale. The import
    /// hands them to the store this way, without a copy.
    pub fn take_texts(&mut self) -> DerivedTexts {
        let source = TextSource::of(self);
        match self.texts.0.take() {
            Some((kept, texts)) if kept == source => texts,
            _ => crate::text::derive_texts(self),
        }
    }
}

impl PartialEq for TextCache {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}

/// Why `tag` cannot be a tag, if it cannot: the `tags` filter takes a comma-separated
/// list and trims each item, so a tag with a comma or edge spaces could never be found.
pub fn tag_problem(tag: &str) -> Option<&'static str> {
    if tag.is_empty() {
        Some("a tag must not be empty")
    } else if tag.contains(',') {
        Some("a tag must not contain a comma (the tags filter separates tags with commas)")
    } else if tag.trim() != tag {
        Some("a tag must not begin or end with white space")
    } else {
        None
    }
}

impl Trajectory {
    /// Parses and validates one native record from its JSON bytes.
    pub fn from_json(bytes: &[u8]) -> Result<Self, RecordError> {
        Self::from_object(&RawObject::parse(bytes)?)
    }

    /// Validates one record already split into entries.
    pub fn from_object(obj: &RawObject<'_>) -> Result<Self, RecordError> {
        let mut t = Trajectory { steps_json: String::from("[]"), ..Default::default() };
        let mut entries = Entries::default();
        for (i, (key, raw)) in obj.entries.iter().enumerate() {
            if obj.entries[..i].iter().any(|(k, _)| k == key) {
                return Err(RecordError::new(key.as_ref(), "field appears twice in the record"));
            }
            if !t.read_scalar(key, raw)? {
                t.read_entry(key, raw, &mut entries)?;
            }
        }
        t.trajectory_id = match entries.id {
            Some(id) if !id.trim().is_empty() => id,
            Some(_) => return Err(RecordError::new("trajectory_id", "must not be empty")),
            None => return Err(RecordError::new("trajectory_id", "missing (a unique string id is required)")),
        };
        t.step_count = entries.step_count.unwrap_or(entries.derived_steps);
        usage_from_metadata(&mut t);
        let texts = entries.texts.finish(t.question.as_deref());
        t.texts = TextCache(Some((TextSource::of(&t), texts)));
        if !entries.extra.is_empty() {
            entries.extra.push('}');
            t.extra_json = Some(entries.extra);
        }
        Ok(t)
    }

    /// Sets a field that holds one value of its own (text, number, boolean, time); false
    /// for any other key.
    fn read_scalar(&mut self, key: &str, raw: &RawValue) -> Result<bool, RecordError> {
        match key {
            "data_id" => self.data_id = id_field(key, raw)?,
            "training_id" => self.training_id = id_field(key, raw)?,
            "agent_name" => self.agent_name = string_field(key, raw)?,
            "model" => self.model = string_field(key, raw)?,
            "input_tokens" => self.input_tokens = int_field(key, raw)?,
            "output_tokens" => self.output_tokens = int_field(key, raw)?,
            "cost" => self.cost = float_field(key, raw)?,
            "epoch_id" => self.epoch_id = int_field(key, raw)?,
            "iteration_id" => self.iteration_id = int_field(key, raw)?,
            "sample_id" => self.sample_id = int_field(key, raw)?,
            "termination_reason" => self.termination_reason = string_field(key, raw)?,
            "failure_mode" => self.failure_mode = string_field(key, raw)?,
            "reward" => self.reward = float_field(key, raw)?,
            "toolcall_reward" => self.toolcall_reward = float_field(key, raw)?,
            "res_reward" => self.res_reward = float_field(key, raw)?,
            "is_success" => self.is_success = bool_field(key, raw)?,
            "exec_time" => self.exec_time = float_field(key, raw)?,
            "is_bookmarked" => self.is_bookmarked = bool_field(key, raw)?.unwrap_or(false),
            "notes" => self.notes = string_field(key, raw)?,
            "metadata" => self.metadata_json = object_field(key, raw)?,
            "source" => self.source = string_field(key, raw)?,
            "created_at" => self.created_at = timestamp_field(key, raw)?,
            "updated_at" => self.updated_at = timestamp_field(key, raw)?,
            _ => return Ok(false),
        }
        Ok(true)
    }

    /// The other entries: the id, the task, the steps and their count, the tags, and
    /// fields the model does not know (kept as they arrived).
    fn read_entry(&mut self, key: &str, raw: &RawValue, entries: &mut Entries) -> Result<(), RecordError> {
        match key {
            "trajectory_id" => entries.id = string_field(key, raw)?,
            "task" => self.read_task(key, raw)?,
            "steps" | "messages" => {
                if let Some(other) = entries.steps_seen {
                    return Err(RecordError::new(
                        key,
                        format!("both `{other}` and `{key}` are given; `messages` is a synonym of `steps`"),
                    ));
                }
                entries.steps_seen = Some(if key == "steps" { "steps" } else { "messages" });
                if !is_null(raw) {
                    entries.texts = TextBuilder::with_capacity(raw.get().len(), self.question.as_deref()).with_facts();
                    entries.derived_steps = scan_steps(key, raw, &mut entries.texts)?;
                    self.steps_json = raw.get().to_string();
                }
            }
            "step_count" => {
                entries.step_count = int_field(key, raw)?;
                if entries.step_count.is_some_and(|n| n < 0) {
                    return Err(RecordError::new(key, "must not be negative"));
                }
            }
            "tags" => self.read_tags(key, raw)?,
            _ => {
                readable_json(key, raw)?;
                let extra = &mut entries.extra;
                extra.push(if extra.is_empty() { '{' } else { ',' });
                extra.push_str(&serde_json::to_string(key).expect("a str serialises"));
                extra.push(':');
                extra.push_str(raw.get());
            }
        }
        Ok(())
    }

    /// `task`: an object (whose `question` is the question) or the question itself.
    fn read_task(&mut self, key: &str, raw: &RawValue) -> Result<(), RecordError> {
        if is_null(raw) {
            return Ok(());
        }
        match raw.get().as_bytes()[0] {
            b'{' => {
                let task = RawObject::parse(raw.get().as_bytes())?;
                if let Some(q) = task.get("question") {
                    self.question = string_field("task.question", q)?;
                }
            }
            b'"' => self.question = string_field(key, raw)?,
            _ => return Err(RecordError::new(key, format!("expected an object or a string, found {}", kind(raw)))),
        }
        readable_json(key, raw)?;
        self.task_json = Some(raw.get().to_string());
        Ok(())
    }

    fn read_tags(&mut self, key: &str, raw: &RawValue) -> Result<(), RecordError> {
        if is_null(raw) {
            return Ok(());
        }
        self.tags = serde_json::from_str::<Vec<String>>(raw.get())
            .map_err(|_| RecordError::new(key, "expected a list of strings"))?;
        match self.tags.iter().enumerate().find_map(|(i, tag)| tag_problem(tag).map(|p| (i, p))) {
            Some((i, problem)) => Err(RecordError::new(format!("{key}[{i}]"), problem)),
            None => Ok(()),
        }
    }

    /// The record as one JSON object: the known fields in [`KNOWN_FIELDS`] order (absent
    /// ones left out), then the unknown fields as they arrived.
    pub fn to_json(&self) -> String {
        let mut out = String::with_capacity(self.steps_json.len() + 512);
        let mut w = ObjectWriter::new(&mut out);
        w.str("trajectory_id", Some(&self.trajectory_id));
        w.str("data_id", self.data_id.as_deref());
        w.str("agent_name", self.agent_name.as_deref());
        w.str("model", self.model.as_deref());
        w.str("training_id", self.training_id.as_deref());
        w.num("epoch_id", self.epoch_id);
        w.num("iteration_id", self.iteration_id);
        w.num("sample_id", self.sample_id);
        w.raw("task", self.task_json.as_deref());
        w.str("termination_reason", self.termination_reason.as_deref());
        w.str("failure_mode", self.failure_mode.as_deref());
        w.float("reward", self.reward);
        w.float("toolcall_reward", self.toolcall_reward);
        w.float("res_reward", self.res_reward);
        w.raw("is_success", self.is_success.map(|b| if b { "true" } else { "false" }));
        w.num("step_count", Some(self.step_count));
        w.float("exec_time", self.exec_time);
        w.num("input_tokens", self.input_tokens);
        w.num("output_tokens", self.output_tokens);
        w.float("cost", self.cost);
        w.raw("is_bookmarked", Some(if self.is_bookmarked { "true" } else { "false" }));
        w.raw("tags", Some(&serde_json::to_string(&self.tags).expect("strings serialise")));
        w.str("notes", self.notes.as_deref());
        w.raw("metadata", self.metadata_json.as_deref());
        w.str("source", self.source.as_deref());
        w.str("created_at", self.created_at.map(crate::format_timestamp).as_deref());
        w.str("updated_at", self.updated_at.map(crate::format_timestamp).as_deref());
        w.raw("steps", Some(&self.steps_json));
        if let Some(extra) = &self.extra_json {
            let inner = &extra[1..extra.len() - 1];
            if !inner.trim().is_empty() {
                w.out.push(',');
                w.out.push_str(inner);
            }
        }
        out.push('}');
        out
    }
}

/// What [`Trajectory::from_object`] gathers on the way besides the fields it sets.
#[derive(Default)]
struct Entries {
    id: Option<String>,
    step_count: Option<i64>,
    /// `steps` or `messages`, whichever came first (both are an error).
    steps_seen: Option<&'static str>,
    /// The number of steps in the list, used when `step_count` is absent.
    derived_steps: i64,
    texts: TextBuilder,
    /// The unknown fields as one JSON object's text, being built.
    extra: String,
}

/// `model`, `input_tokens`, `output_tokens` and `cost` the record leaves out, taken from
/// its metadata's entries of the same names, where importers of other formats put them
/// (one place for every format). A value of the wrong type there is left alone.
fn usage_from_metadata(t: &mut Trajectory) {
    if t.model.is_some() && t.input_tokens.is_some() && t.output_tokens.is_some() && t.cost.is_some() {
        return;
    }
    let Some(meta) = t.metadata_json.as_deref() else { return };
    let Ok(meta) = RawObject::parse(meta.as_bytes()) else { return };
    if t.model.is_none() {
        t.model = meta.get("model").and_then(|v| string_field("model", v).ok().flatten());
    }
    if t.input_tokens.is_none() {
        t.input_tokens = meta.get("input_tokens").and_then(|v| int_field("input_tokens", v).ok().flatten());
    }
    if t.output_tokens.is_none() {
        t.output_tokens = meta.get("output_tokens").and_then(|v| int_field("output_tokens", v).ok().flatten());
    }
    if t.cost.is_none() {
        t.cost = meta.get("cost").and_then(|v| float_field("cost", v).ok().flatten());
    }
}

/// Writes `"key":value` pairs of one JSON object, skipping absent values.
struct ObjectWriter<'a> {
    out: &'a mut String,
    first: bool,
}

impl<'a> ObjectWriter<'a> {
    fn new(out: &'a mut String) -> Self {
        out.push('{');
        ObjectWriter { out, first: true }
    }
    fn raw(&mut self, key: &str, value: Option<&str>) {
        let Some(value) = value else { return };
        if !self.first {
            self.out.push(',');
        }
        self.first = false;
        self.out.push('"');
        self.out.push_str(key);
        self.out.push_str("\":");
        self.out.push_str(value);
    }
    fn str(&mut self, key: &str, value: Option<&str>) {
        if let Some(v) = value {
            self.raw(key, Some(&serde_json::to_string(v).expect("a str serialises")));
        }
    }
    fn num(&mut self, key: &str, value: Option<i64>) {
        if let Some(v) = value {
            self.raw(key, Some(&v.to_string()));
        }
    }
    fn float(&mut self, key: &str, value: Option<f64>) {
        if let Some(v) = value {
            // serde_json prints the shortest text that parses back to the same f64.
            self.raw(key, Some(&serde_json::to_string(&v).expect("finite floats serialise")));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> Result<Trajectory, RecordError> {
        Trajectory::from_json(s.as_bytes())
    }

    #[test]
    fn parses_a_full_record_and_keeps_unknown_fields() {
        let t = parse(r#"{"trajectory_id":"t1","data_id":7,"task":{"question":"What is 2+2?","answer":"4"},
            "messages":[{"role":"user","content":"hi"},{"role":"assistant","content":null,"tool_calls":[{"id":"c","name":"calc","arguments":"{}"}]},{"role":"tool","content":[{"type":"text","text":"4"}],"reward":0.5}],
            "reward":1,"is_success":true,"tags":["a","b"],"metadata":{"k":"v"},"created_at":1700000000,"custom":{"x":[1,2]}}"#)
        .unwrap();
        assert_eq!(t.trajectory_id, "t1");
        assert_eq!(t.data_id.as_deref(), Some("7"));
        assert_eq!(t.question.as_deref(), Some("What is 2+2?"));
        assert_eq!(t.step_count, 3);
        assert_eq!(t.reward, Some(1.0));
        assert_eq!(t.is_success, Some(true));
        assert_eq!(t.tags, vec!["a", "b"]);
        assert_eq!(t.created_at, Some(1_700_000_000_000_000));
        assert_eq!(t.extra_json.as_deref(), Some(r#"{"custom":{"x":[1,2]}}"#));
        let back: serde_json::Value = serde_json::from_str(&t.to_json()).unwrap();
        assert_eq!(back["custom"]["x"][1], 2);
        assert_eq!(back["steps"][2]["reward"], 0.5);
        assert!(back.get("messages").is_none());
        // The written record parses back to the same trajectory.
        assert_eq!(parse(&t.to_json()).unwrap(), t);
    }

    #[test]
    fn floats_keep_every_digit_and_minus_zero_is_zero() {
        let t = parse(r#"{"trajectory_id":"x","reward":0.9973084818293261,"exec_time":-0.0,"res_reward":-0}"#).unwrap();
        assert_eq!(t.reward, Some(0.9973084818293261));
        assert_eq!(t.exec_time.map(f64::to_bits), Some(0.0f64.to_bits()));
        assert_eq!(t.res_reward.map(f64::to_bits), Some(0.0f64.to_bits()));
        assert!(t.to_json().contains("0.9973084818293261"), "{}", t.to_json());
        let e = parse(r#"{"trajectory_id":"x","reward":1e400}"#).unwrap_err();
        assert_eq!(e.field.as_deref(), Some("reward"));
        assert!(e.message.contains("out of range"), "{e}");
    }

    #[test]
    fn tags_must_be_findable_by_the_tags_filter() {
        for (tags, at) in [
            (r#"["ok",""]"#, "tags[1]"),
            (r#"["a,b"]"#, "tags[0]"),
            (r#"["x"," lead"]"#, "tags[1]"),
            (r#"["tail "]"#, "tags[0]"),
        ] {
            let e = parse(&format!(r#"{{"trajectory_id":"x","tags":{tags}}}"#)).unwrap_err();
            assert_eq!(e.field.as_deref(), Some(at), "{tags}: {e}");
        }
        assert_eq!(parse(r#"{"trajectory_id":"x","tags":["in side","é"]}"#).unwrap().tags, ["in side", "é"]);
    }

    #[test]
    fn values_kept_as_json_must_read_back() {
        let deep = format!("{}1{}", "[".repeat(200), "]".repeat(200));
        for (json, field) in [
            (r#"{"trajectory_id":"x","metadata":{"m":1e400}}"#.to_string(), "metadata"),
            (r#"{"trajectory_id":"x","task":{"question":"q","n":-1e999}}"#.to_string(), "task"),
            (r#"{"trajectory_id":"x","custom":[1e400]}"#.to_string(), "custom"),
            (format!(r#"{{"trajectory_id":"x","metadata":{{"d":{deep}}}}}"#), "metadata"),
        ] {
            let e = parse(&json).unwrap_err();
            assert_eq!(e.field.as_deref(), Some(field), "{json}: {e}");
        }
        assert!(parse(r#"{"trajectory_id":"x","metadata":{"m":1e300,"d":[[[1]]]},"custom":{"k":-0}}"#).is_ok());
    }

    #[test]
    fn errors_name_the_field() {
        let e = parse(r#"{"data_id":"x"}"#).unwrap_err();
        assert_eq!(e.field.as_deref(), Some("trajectory_id"));
        let e = parse(r#"{"trajectory_id":"x","reward":"high"}"#).unwrap_err();
        assert_eq!(e.field.as_deref(), Some("reward"));
        assert!(e.message.contains("expected a number"), "{e}");
        let e = parse(r#"{"trajectory_id":"x","steps":[{"role":"user"},{"content":"no role"}]}"#).unwrap_err();
        assert_eq!(e.field.as_deref(), Some("steps[1]"));
        assert!(e.message.contains("role"), "{e}");
        let e = parse(r#"{"trajectory_id":"x","steps":[{"role":"user","content":5}]}"#).unwrap_err();
        assert_eq!(e.field.as_deref(), Some("steps[0]"));
        let e = parse(r#"{"trajectory_id":"x","steps":{}}"#).unwrap_err();
        assert_eq!(e.field.as_deref(), Some("steps"));
        assert_eq!(e.message, "expected a list of messages, found an object");
        for (step, kind) in
            [(r#""hi""#, "a string"), ("[1]", "an array"), ("null", "null"), ("true", "a boolean"), ("7", "a number")]
        {
            let e =
                parse(&format!(r#"{{"trajectory_id":"x","messages":[{{"role":"user"}},{step},{{"role":"user"}}]}}"#))
                    .unwrap_err();
            assert_eq!(e.field.as_deref(), Some("messages[1]"), "{step}");
            assert_eq!(e.message, format!("expected a message object, found {kind}"));
        }
        let e = parse(r#"{"trajectory_id":"x","steps":[{"role":"user"},1e400]}"#).unwrap_err();
        assert_eq!(e.field.as_deref(), Some("steps[1]"));
        let e = parse(r#"{"trajectory_id":"x","epoch_id":1.5}"#).unwrap_err();
        assert_eq!(e.field.as_deref(), Some("epoch_id"));
        let e = parse(r#"{"trajectory_id":"x","tags":["a",1]}"#).unwrap_err();
        assert_eq!(e.field.as_deref(), Some("tags"));
        let e = parse(r#"{"trajectory_id":"x","steps":[],"messages":[]}"#).unwrap_err();
        assert_eq!(e.field.as_deref(), Some("messages"));
        let e = parse(r#"{"trajectory_id":"x","reward":1,"reward":2}"#).unwrap_err();
        assert_eq!(e.field.as_deref(), Some("reward"));
        let e = parse(r#"[1,2]"#).unwrap_err();
        assert_eq!(e.field, None);
        let e = parse(r#"{"trajectory_id":"x""#).unwrap_err();
        assert!(e.message.starts_with("invalid JSON"), "{e}");
        let e = parse(r#"{"trajectory_id":"  "}"#).unwrap_err();
        assert_eq!(e.field.as_deref(), Some("trajectory_id"));
    }

    #[test]
    fn values_inside_steps_that_are_not_read_are_only_checked_to_be_json() {
        // Numbers out of f64's range where only a list element, a block or a tool call is
        // expected: accepted, as they were before texts were read in the same pass.
        let t = parse(r#"{"trajectory_id":"x","steps":[{"role":"user","content":[1e400,{"text":1e400},"ok"],"tool_calls":[1e400,{"name":1e400,"function":{"name":1e400}}],"other":1e400}]}"#).unwrap();
        assert_eq!(t.step_count, 1);
        assert_eq!(crate::text::derive_texts(&t).search, "ok\n");
        let e = parse(r#"{"trajectory_id":"x","steps":[{"role":"user","reward":1e400}]}"#).unwrap_err();
        assert_eq!(e.field.as_deref(), Some("steps[0]"));
    }

    #[test]
    fn the_question_leads_the_search_text_whether_it_comes_before_or_after_the_steps() {
        let steps = r#""steps":[{"role":"user","content":"find 775b19bf9 here"},"#.to_string()
            + r#"{"role":"assistant","content":"done"}]"#;
        let task = r#""task":{"question":"what failed?"}"#;
        let before = parse(&format!(r#"{{"trajectory_id":"x",{task},{steps}}}"#)).unwrap();
        let after = parse(&format!(r#"{{"trajectory_id":"x",{steps},{task}}}"#)).unwrap();
        let (before, after) = (crate::text::derive_texts(&before), crate::text::derive_texts(&after));
        assert_eq!(before.search, "what failed?\nfind  here\ndone\n");
        assert_eq!(before, after);
    }

    #[test]
    fn explicit_step_count_wins_and_integral_floats_are_integers() {
        let t = parse(r#"{"trajectory_id":"x","steps":[{"role":"user","content":"a"}],"step_count":5,"epoch_id":2.0}"#)
            .unwrap();
        assert_eq!(t.step_count, 5);
        assert_eq!(t.epoch_id, Some(2));
    }

    #[test]
    fn escaped_keys_and_invalid_utf8() {
        let t = parse(r#"{"trajectory_id":"x","we\"ird":1}"#).unwrap();
        assert_eq!(t.extra_json.as_deref(), Some(r#"{"we\"ird":1}"#));
        let mut bytes = br#"{"trajectory_id":"x","notes":""#.to_vec();
        bytes.extend_from_slice(&[0xff, 0xfe]);
        bytes.extend_from_slice(br#""}"#);
        assert!(Trajectory::from_json(&bytes).is_err());
    }
}
