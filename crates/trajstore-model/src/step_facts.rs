//! The facts of each step and each tool call of a trajectory, for the SQL tables `steps`
//! and `tool_calls`: derived once at import (and for older stores by `optimize`), so
//! that a query like "error rate per tool per run" reads a few narrow columns instead of
//! parsing every trajectory's JSON.
//!
//! A tool call's result is the tool message that names the call's id in `tool_call_id`;
//! a tool message without one answers the earliest call before it that has no answer yet.
//! Texts are kept to their first [`FACT_TEXT_CHARS`] characters (the whole text is in
//! the trajectory; `content_length` gives its full length).

use std::borrow::Cow;

use serde::Deserialize;
use serde_json::value::RawValue;

use crate::text::{push_content, string_text, Content};

/// Characters of a step's content, and of a call's arguments, kept in the tables.
pub const FACT_TEXT_CHARS: usize = 2_000;

/// One step's facts; the step's index is its place in [`StepFacts::steps`].
#[derive(Debug, Clone, Default, PartialEq)]
pub struct StepFact {
    pub role: String,
    /// A tool message's tool: its `name`, or the name of the call it answers.
    pub tool_name: Option<String>,
    pub content: String,
    /// Characters of the whole content (text blocks joined by newlines).
    pub content_length: i64,
    /// The step's `is_error`, where its format says.
    pub is_error: Option<bool>,
    pub reward: Option<f64>,
    /// Microseconds since the epoch.
    pub timestamp: Option<i64>,
}

/// One tool call's facts.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CallFact {
    /// The index of the assistant step that made the call.
    pub step: i64,
    pub tool_name: Option<String>,
    pub call_id: Option<String>,
    /// The arguments as sent: a JSON text (OpenAI sends a string holding JSON).
    pub arguments: Option<String>,
    /// Characters of the result's content, when a result was found.
    pub result_length: Option<i64>,
    /// The result's `is_error`, where its format says.
    pub result_is_error: Option<bool>,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct StepFacts {
    pub steps: Vec<StepFact>,
    pub calls: Vec<CallFact>,
}

/// A step read leniently: any field of an unexpected type is as good as absent, so that
/// stored steps that older versions accepted still give facts.
#[derive(Deserialize)]
struct LenientStep<'a> {
    #[serde(borrow, default)]
    role: Option<&'a RawValue>,
    #[serde(borrow, default)]
    content: Option<&'a RawValue>,
    #[serde(borrow, default)]
    tool_calls: Option<&'a RawValue>,
    #[serde(borrow, default)]
    tool_call_id: Option<&'a RawValue>,
    #[serde(borrow, default)]
    name: Option<&'a RawValue>,
    #[serde(borrow, default)]
    is_error: Option<&'a RawValue>,
    #[serde(borrow, default)]
    reward: Option<&'a RawValue>,
    #[serde(borrow, default)]
    timestamp: Option<&'a RawValue>,
}

#[derive(Deserialize)]
struct LenientCall<'a> {
    #[serde(borrow, default)]
    id: Option<&'a RawValue>,
    #[serde(borrow, default)]
    call_id: Option<&'a RawValue>,
    #[serde(borrow, default)]
    function: Option<&'a RawValue>,
    #[serde(borrow, default)]
    name: Option<&'a RawValue>,
    #[serde(borrow, default)]
    arguments: Option<&'a RawValue>,
}

#[derive(Deserialize)]
struct LenientFunction<'a> {
    #[serde(borrow, default)]
    name: Option<&'a RawValue>,
    #[serde(borrow, default)]
    arguments: Option<&'a RawValue>,
}

fn text(raw: Option<&RawValue>) -> Option<String> {
    raw.and_then(string_text).map(Cow::into_owned)
}

fn head(text: &str) -> String {
    match text.char_indices().nth(FACT_TEXT_CHARS) {
        Some((end, _)) => text[..end].to_string(),
        None => text.to_string(),
    }
}

fn content_text(raw: Option<&RawValue>) -> String {
    let Some(raw) = raw else { return String::new() };
    let content: Option<Content<'_>> = serde_json::from_str(raw.get()).ok();
    let mut out = String::new();
    push_content(&mut out, &content);
    if out.ends_with('\n') {
        out.pop();
    }
    out
}

/// A call's arguments as a JSON text: a string as it is, any other value as its JSON.
fn arguments(raw: Option<&RawValue>) -> Option<String> {
    let raw = raw?;
    string_text(raw).map(Cow::into_owned).or_else(|| (raw.get() != "null").then(|| raw.get().to_string()))
}

fn call_fact(step: i64, raw: &RawValue) -> CallFact {
    let Ok(call) = serde_json::from_str::<LenientCall<'_>>(raw.get()) else {
        return CallFact { step, ..Default::default() };
    };
    let function = call.function.and_then(|f| serde_json::from_str::<LenientFunction<'_>>(f.get()).ok());
    let name = function.as_ref().and_then(|f| f.name).or(call.name);
    let args = function.as_ref().and_then(|f| f.arguments).or(call.arguments);
    CallFact {
        step,
        tool_name: text(name),
        call_id: text(call.id.or(call.call_id)),
        arguments: arguments(args).map(|a| head(&a)),
        result_length: None,
        result_is_error: None,
    }
}

/// The facts of the steps in `steps_json` (a JSON list of messages); an unreadable list
/// gives none.
pub fn step_facts(steps_json: &str) -> StepFacts {
    // One pass when every step is an object, as nearly always; otherwise each step is
    // read on its own, and one that is not an object gives empty facts.
    let steps: Vec<Option<LenientStep<'_>>> = match serde_json::from_str::<Vec<LenientStep<'_>>>(steps_json) {
        Ok(steps) => steps.into_iter().map(Some).collect(),
        Err(_) => {
            let Ok(raw_steps) = serde_json::from_str::<Vec<&RawValue>>(steps_json) else {
                return StepFacts::default();
            };
            raw_steps.iter().map(|raw| serde_json::from_str::<LenientStep<'_>>(raw.get()).ok()).collect()
        }
    };
    let mut facts = StepFacts { steps: Vec::with_capacity(steps.len()), calls: Vec::new() };
    for step in steps {
        let Some(step) = step else {
            facts.steps.push(StepFact::default());
            continue;
        };
        let calls = step.tool_calls.and_then(|c| serde_json::from_str::<Vec<&RawValue>>(c.get()).ok());
        facts.push(StepParts {
            role: text(step.role).unwrap_or_default(),
            content: &content_text(step.content),
            tool_calls: calls.as_deref().unwrap_or_default(),
            name: step.name,
            tool_call_id: step.tool_call_id,
            is_error: step.is_error,
            reward: step.reward.and_then(|r| serde_json::from_str::<f64>(r.get()).ok()),
            timestamp: step.timestamp,
        });
    }
    facts
}

/// What one step's facts come from, however the step was read: leniently from stored
/// JSON ([`step_facts`]), or by the import's check of each step, which has its content's
/// text at hand already.
pub(crate) struct StepParts<'r> {
    pub role: String,
    /// The content's text (blocks joined by newlines), without a trailing newline.
    pub content: &'r str,
    pub tool_calls: &'r [&'r RawValue],
    pub name: Option<&'r RawValue>,
    pub tool_call_id: Option<&'r RawValue>,
    pub is_error: Option<&'r RawValue>,
    pub reward: Option<f64>,
    pub timestamp: Option<&'r RawValue>,
}

impl StepFacts {
    /// The memory the facts take, roughly.
    pub fn bytes(&self) -> usize {
        let step = |s: &StepFact| std::mem::size_of::<StepFact>() + s.role.capacity() + s.content.capacity();
        let call = |c: &CallFact| std::mem::size_of::<CallFact>() + c.arguments.as_ref().map_or(0, String::capacity);
        self.steps.iter().map(step).sum::<usize>() + self.calls.iter().map(call).sum::<usize>()
    }

    /// Adds the next step's facts, and those of its calls; a tool message answers a call.
    pub(crate) fn push(&mut self, step: StepParts<'_>) {
        let index = self.steps.len() as i64;
        let mut fact = StepFact {
            role: step.role,
            tool_name: text(step.name),
            content_length: step.content.chars().count() as i64,
            content: head(step.content),
            is_error: step.is_error.and_then(|r| serde_json::from_str::<bool>(r.get()).ok()),
            reward: step.reward,
            timestamp: step.timestamp.and_then(|r| {
                string_text(r).map_or_else(|| crate::parse_timestamp(r.get()), |t| crate::parse_timestamp(&t))
            }),
        };
        self.calls.extend(step.tool_calls.iter().map(|c| call_fact(index, c)));
        if fact.role == "tool" {
            // A tool message that names no tool takes the name of the call it answers.
            if let Some(name) = answer_call(&mut self.calls, text(step.tool_call_id), &fact) {
                fact.tool_name.get_or_insert(name);
            }
        }
        self.steps.push(fact);
    }
}

/// Records the tool message `result` as the answer to its call; the call's tool name.
fn answer_call(calls: &mut [CallFact], call_id: Option<String>, result: &StepFact) -> Option<String> {
    let call = match &call_id {
        Some(id) => calls.iter_mut().find(|c| c.result_length.is_none() && c.call_id.as_deref() == Some(id.as_str())),
        None => calls.iter_mut().find(|c| c.result_length.is_none()),
    }?;
    call.result_length = Some(result.content_length);
    call.result_is_error = result.is_error;
    call.tool_name.clone()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn calls_are_answered_by_id_or_in_order() {
        let steps = r#"[
            {"role": "user", "content": "fix it", "timestamp": "2026-01-01T00:00:01Z"},
            {"role": "assistant", "content": [{"type": "text", "text": "two calls"}], "tool_calls": [
                {"id": "a", "type": "function", "function": {"name": "bash", "arguments": "{\"command\": \"ls\"}"}},
                {"id": "b", "name": "read", "arguments": {"path": "x.py"}}]},
            {"role": "tool", "tool_call_id": "b", "content": "print(1)", "is_error": false},
            {"role": "tool", "tool_call_id": "a", "name": "bash", "content": "boom", "is_error": true, "reward": 0.5},
            {"role": "assistant", "tool_calls": [{"function": {"name": "submit"}}]},
            {"role": "tool", "content": "ok", "timestamp": 1767225602},
            {"role": 7, "content": {"odd": true}}
        ]"#;
        let f = step_facts(steps);
        assert_eq!(f.steps.len(), 7);
        assert_eq!((f.steps[0].role.as_str(), f.steps[0].timestamp), ("user", Some(1_767_225_601_000_000)));
        assert_eq!((f.steps[1].content.as_str(), f.steps[1].content_length), ("two calls", 9));
        assert_eq!(f.steps[2].tool_name.as_deref(), Some("read"), "named by the call it answers");
        assert_eq!((f.steps[3].is_error, f.steps[3].reward), (Some(true), Some(0.5)));
        assert_eq!(
            (f.steps[5].tool_name.as_deref(), f.steps[5].timestamp),
            (Some("submit"), Some(1_767_225_602_000_000))
        );
        assert_eq!((f.steps[6].role.as_str(), f.steps[6].content_length), ("", 0), "a step of odd types");
        let calls: Vec<_> = f
            .calls
            .iter()
            .map(|c| (c.step, c.tool_name.as_deref(), c.arguments.as_deref(), c.result_length, c.result_is_error))
            .collect();
        assert_eq!(
            calls,
            [
                (1, Some("bash"), Some(r#"{"command": "ls"}"#), Some(4), Some(true)),
                (1, Some("read"), Some(r#"{"path": "x.py"}"#), Some(8), Some(false)),
                (4, Some("submit"), None, Some(2), None),
            ]
        );
    }

    /// The import derives the facts while it checks each step; they must be those that
    /// `step_facts` reads from the stored steps (which `optimize` and analyses use).
    #[test]
    fn the_import_check_derives_the_same_facts_as_the_stored_steps_give() {
        let steps = r#"[
            {"role": "user", "content": "fix \"it\"\n", "timestamp": "2026-01-01T00:00:01Z"},
            {"role": "assistant", "content": [{"type": "text", "text": "two calls"}, "and é"], "tool_calls": [
                {"id": "a", "type": "function", "function": {"name": "bash", "arguments": "{\"command\": \"ls\"}"}},
                {"id": "b", "name": "read", "arguments": {"path": "x.py"}}]},
            {"role": "tool", "tool_call_id": "b", "content": "print(1)", "is_error": false},
            {"role": "tool", "tool_call_id": "a", "name": "bash", "content": "boom", "is_error": "yes", "reward": 0.5},
            {"role": "assistant", "content": null, "tool_calls": [{"function": {"name": "submit"}}]},
            {"role": "tool", "name": 3, "content": [], "timestamp": 1767225602},
            {"role": "assistant", "content": ""}
        ]"#;
        let long = "ü".repeat(FACT_TEXT_CHARS + 5);
        let mut records = vec![
            format!(r#"{{"trajectory_id": "t", "steps": {steps}}}"#),
            serde_json::json!({"trajectory_id": "u", "messages": [{"role": "tool", "content": long}]}).to_string(),
        ];
        records.extend(crate::demo::DemoConfig::with_total(200, 11).lines());
        // A key the check never read, repeated: accepted, with the facts the stored steps give.
        records.push(
            r#"{"trajectory_id": "r", "steps": [{"role": "user", "content": "a"},
                {"role": "tool", "name": "x", "name": "y", "content": "b", "extra": 1, "extra": 2}]}"#
                .to_string(),
        );
        for line in &records {
            let mut t = crate::Trajectory::from_json(line.as_bytes()).expect("a valid record");
            let derived = t.take_texts().facts.expect("facts derived in the check");
            assert!(!derived.steps.is_empty());
            assert_eq!(derived, step_facts(&t.steps_json), "{line}");
        }
    }

    #[test]
    fn texts_are_cut_at_their_head_on_a_character_boundary() {
        let long = "é".repeat(FACT_TEXT_CHARS + 10);
        let f = step_facts(&serde_json::json!([{"role": "tool", "content": long}]).to_string());
        assert_eq!(f.steps[0].content.chars().count(), FACT_TEXT_CHARS);
        assert_eq!(f.steps[0].content_length, (FACT_TEXT_CHARS + 10) as i64);
        assert_eq!(step_facts("not json"), StepFacts::default());
    }

    #[test]
    fn a_step_that_is_not_an_object_gets_empty_facts_and_the_others_theirs() {
        let steps = r#"[
            {"role": "assistant", "tool_calls": [{"id": "a", "function": {"name": "bash", "arguments": "{}"}}]},
            "not a step",
            {"role": "tool", "tool_call_id": "a", "content": "done", "is_error": false},
            {"role": "user", "role": "twice"}
        ]"#;
        let f = step_facts(steps);
        let roles: Vec<&str> = f.steps.iter().map(|s| s.role.as_str()).collect();
        assert_eq!(roles, ["assistant", "", "tool", ""]);
        assert_eq!(f.steps[1], StepFact::default());
        assert_eq!(f.steps[2].tool_name.as_deref(), Some("bash"));
        assert_eq!((f.calls[0].result_length, f.calls[0].result_is_error), (Some(4), Some(false)));
        // Every step an object: the same facts as when read one by one.
        let objects =
            r#"[{"role": "user", "content": "hi"}, {"role": "tool", "content": [{"type": "text", "text": "x"}]}]"#;
        let f = step_facts(objects);
        assert_eq!((f.steps[0].content.as_str(), f.steps[1].content.as_str()), ("hi", "x"));
    }
}
