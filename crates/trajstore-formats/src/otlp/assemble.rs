//! The spans of one trajectory as one native record.
//!
//! Chat spans each repeat the conversation so far in their input, so steps are taken in
//! time order (a span's input at its start, its output at its end, a tool's result at
//! its end). What a model call wrote is always a new step; a message of an input is added
//! only when the conversation does not hold it yet: messages are compared by role and
//! text (tool results by the call they answer, an assistant's tool calls by their ids),
//! counting repeats, so a user who says "continue" twice keeps both turns.

use std::collections::HashMap;

use serde_json::{json, Map, Value};

use super::messages::{genai_parts, json_attr, messages_from, steps_of, unflatten};
use super::Span;
use crate::normalize::{any_tool_call, as_id, as_int, observation, plain_text, score_value};
use crate::RecordError;

/// How spans map to a record.
#[derive(Debug, Clone)]
pub struct OtlpOptions {
    /// The prefix of the RL keys and labels read from span or resource attributes:
    /// `{prefix}training_id`, `{prefix}iteration_id`, `{prefix}reward`, ...
    pub prefix: String,
}

impl Default for OtlpOptions {
    fn default() -> Self {
        OtlpOptions { prefix: "trajstore.".into() }
    }
}

/// Span attributes that name the conversation a trace belongs to.
const CONVERSATION_KEYS: &[&str] = &["gen_ai.conversation.id", "session.id", "conversation.id"];

/// The native fields read from `{prefix}NAME` attributes, and how.
const ID_KEYS: &[&str] = &["training_id", "data_id", "agent_name", "model", "termination_reason"];
const INT_KEYS: &[&str] = &["epoch_id", "iteration_id", "sample_id"];

fn attr<'s>(span: &'s Span, key: &str) -> Option<&'s Value> {
    span.attributes.get(key).or_else(|| span.resource.get(key)).filter(|v| !v.is_null())
}

fn conversation_id(span: &Span) -> Option<String> {
    CONVERSATION_KEYS.iter().find_map(|k| attr(span, k).and_then(as_id))
}

/// The spans grouped into trajectories, in order of first appearance: by the
/// conversation or session id that any span of their trace carries, else by trace id.
pub fn trajectory_keys(spans: &[&Span]) -> Vec<(String, Vec<usize>)> {
    let mut by_trace: HashMap<&str, String> = HashMap::new();
    for s in spans {
        if let Some(c) = conversation_id(s) {
            by_trace.entry(s.trace_id.as_str()).or_insert(c);
        }
    }
    let mut keys: Vec<(String, Vec<usize>)> = Vec::new();
    let mut index: HashMap<String, usize> = HashMap::new();
    for (i, s) in spans.iter().enumerate() {
        let key = by_trace.get(s.trace_id.as_str()).cloned().unwrap_or_else(|| s.trace_id.clone());
        let slot = *index.entry(key.clone()).or_insert_with(|| {
            keys.push((key, Vec::new()));
            keys.len() - 1
        });
        keys[slot].1.push(i);
    }
    keys
}

/// The messages a model call saw and wrote, in whichever convention the span uses.
#[derive(Default)]
struct Turn {
    input: Vec<Value>,
    output: Vec<Value>,
}

fn llm_turn(span: &Span) -> Result<Option<Turn>, RecordError> {
    let a = &span.attributes;
    let mut turn = Turn::default();
    // The current GenAI conventions.
    if let Some(system) = a.get("gen_ai.system_instructions") {
        let parts = match json_attr(system) {
            Value::Array(p) => p,
            Value::String(s) => vec![json!({"type": "text", "content": s})],
            other => vec![other],
        };
        turn.input.extend(genai_parts(&Map::from_iter([("role".to_string(), json!("system"))]), &parts));
    }
    if let Some(v) = a.get("gen_ai.input.messages") {
        turn.input.extend(messages_from(v)?);
    }
    if let Some(v) = a.get("gen_ai.output.messages") {
        turn.output.extend(messages_from(v)?);
    }
    // OpenInference, and the older flattened GenAI attributes.
    for (prefix, into_output) in [
        ("llm.input_messages", false),
        ("llm.output_messages", true),
        ("gen_ai.prompt", false),
        ("gen_ai.completion", true),
    ] {
        if let Value::Array(items) = unflatten(a, prefix) {
            let target = if into_output { &mut turn.output } else { &mut turn.input };
            for item in &items {
                target.extend(steps_of(item)?);
            }
        }
    }
    // Message events (the per-message event conventions).
    for e in &span.events {
        let role = match e.name.as_str() {
            "gen_ai.system.message" => "system",
            "gen_ai.user.message" => "user",
            "gen_ai.assistant.message" => "assistant",
            "gen_ai.tool.message" => "tool",
            "gen_ai.choice" => {
                let message = e.attributes.get("message").map(json_attr).unwrap_or_else(|| {
                    json!({"role": "assistant", "content": e.attributes.get("content").cloned().unwrap_or(Value::Null)})
                });
                let mut m = message.as_object().cloned().unwrap_or_default();
                m.entry("role").or_insert(json!("assistant"));
                turn.output.extend(steps_of(&Value::Object(m))?);
                continue;
            }
            _ => continue,
        };
        let mut m: Map<String, Value> = e.attributes.iter().map(|(k, v)| (k.clone(), json_attr(v))).collect();
        m.insert("role".into(), json!(role));
        if role == "tool" && !m.contains_key("tool_call_id") {
            if let Some(id) = m.remove("id") {
                m.insert("tool_call_id".into(), id);
            }
        }
        turn.input.extend(steps_of(&Value::Object(m))?);
    }
    Ok((!turn.input.is_empty() || !turn.output.is_empty()).then_some(turn))
}

fn is_tool_span(span: &Span) -> bool {
    attr(span, "gen_ai.operation.name").and_then(Value::as_str) == Some("execute_tool")
        || span.attributes.get("openinference.span.kind").and_then(Value::as_str) == Some("TOOL")
}

fn is_llm_span(span: &Span) -> bool {
    matches!(
        span.attributes.get("gen_ai.operation.name").and_then(Value::as_str),
        Some("chat" | "text_completion" | "generate_content")
    ) || span.attributes.get("openinference.span.kind").and_then(Value::as_str) == Some("LLM")
}

fn text_of(v: Option<&Value>) -> Value {
    match v {
        None | Some(Value::Null) => Value::Null,
        Some(Value::String(s)) => Value::String(s.clone()),
        Some(other) => Value::String(other.to_string()),
    }
}

/// The steps so far, and how many times each message is in them.
#[derive(Default)]
struct Conversation {
    steps: Vec<Value>,
    seen: HashMap<String, usize>,
}

impl Conversation {
    fn fingerprint(step: &Value) -> String {
        let role = step.get("role").and_then(Value::as_str).unwrap_or("");
        if let Some(id) = step.get("tool_call_id").and_then(Value::as_str) {
            return format!("result\u{1}{id}");
        }
        if let Some(Value::Array(calls)) = step.get("tool_calls") {
            let ids: Vec<&str> = calls.iter().filter_map(|c| c.get("id").and_then(Value::as_str)).collect();
            if !ids.is_empty() {
                return format!("calls\u{1}{}", ids.join("\u{1}"));
            }
        }
        format!("{role}\u{1}{}", plain_text(step.get("content").unwrap_or(&Value::Null)))
    }

    /// Adds messages that are new by definition (what a model call wrote).
    fn add_all(&mut self, list: Vec<Value>) {
        for step in list {
            *self.seen.entry(Self::fingerprint(&step)).or_default() += 1;
            self.steps.push(step);
        }
    }

    /// Adds the messages of `list` the conversation does not hold yet.
    fn add_new(&mut self, list: Vec<Value>) {
        let mut in_list: HashMap<String, usize> = HashMap::new();
        for step in list {
            let fp = Self::fingerprint(&step);
            let nth = in_list.entry(fp.clone()).or_default();
            *nth += 1;
            let held = self.seen.entry(fp).or_default();
            if *nth > *held {
                *held += 1;
                self.steps.push(step);
            }
        }
    }

    fn has_call(&self, id: &str) -> bool {
        self.steps.iter().any(|s| {
            s.get("tool_calls")
                .and_then(Value::as_array)
                .is_some_and(|calls| calls.iter().any(|c| c.get("id").and_then(Value::as_str) == Some(id)))
        })
    }

    /// A tool span: its call (when no assistant message made it) and its result.
    fn add_tool(&mut self, span: &Span) {
        let name = attr(span, "gen_ai.tool.name").or_else(|| attr(span, "tool.name")).and_then(Value::as_str);
        let name = name.unwrap_or(&span.name).to_string();
        let id = attr(span, "gen_ai.tool.call.id").or_else(|| attr(span, "tool_call.id")).and_then(as_id);
        let id = id.unwrap_or_else(|| format!("span-{}", span.span_id));
        let args = attr(span, "gen_ai.tool.call.arguments")
            .or_else(|| attr(span, "tool.parameters"))
            .or_else(|| attr(span, "input.value"));
        let result = attr(span, "gen_ai.tool.call.result").or_else(|| attr(span, "output.value"));
        let mut steps = Vec::new();
        if !self.has_call(&id) {
            let call = json!({"id": id, "name": name, "arguments": args.map(json_attr).unwrap_or(Value::Null)});
            steps.push(json!({"role": "assistant", "content": null, "tool_calls": [any_tool_call(&call)]}));
        }
        let content = match (result, &span.error) {
            (Some(r), _) => text_of(Some(r)),
            (None, Some(e)) => Value::String(format!("error: {e}")),
            (None, None) => Value::Null,
        };
        let mut obs = observation(Some(id), Some(&name), content);
        if span.error.is_some() {
            obs.insert("is_error".into(), Value::Bool(true));
        }
        steps.push(Value::Object(obs));
        self.add_new(steps);
    }
}

/// Attributes that become steps, not metadata.
fn is_message_attribute(key: &str) -> bool {
    [
        "gen_ai.input.messages",
        "gen_ai.output.messages",
        "gen_ai.system_instructions",
        "gen_ai.tool.call.arguments",
        "gen_ai.tool.call.result",
        "input.value",
        "output.value",
        "tool.parameters",
    ]
    .contains(&key)
        || ["llm.input_messages.", "llm.output_messages.", "gen_ai.prompt.", "gen_ai.completion."]
            .iter()
            .any(|p| key.starts_with(p))
}

/// What metadata keeps of a span: everything but the messages.
fn span_metadata(span: &Span) -> Value {
    let attributes: Map<String, Value> =
        span.attributes.iter().filter(|(k, _)| !is_message_attribute(k)).map(|(k, v)| (k.clone(), v.clone())).collect();
    let mut m = json!({
        "name": span.name,
        "span_id": span.span_id,
        "trace_id": span.trace_id,
        "start_unix_nano": span.start_ns,
        "end_unix_nano": span.end_ns,
    });
    if let Some(p) = &span.parent_span_id {
        m["parent_span_id"] = json!(p);
    }
    if !attributes.is_empty() {
        m["attributes"] = Value::Object(attributes);
    }
    if let Some(e) = &span.error {
        m["error"] = json!(e);
    }
    let events: Vec<&str> = span.events.iter().map(|e| e.name.as_str()).collect();
    if !events.is_empty() {
        m["events"] = json!(events);
    }
    m
}

/// Where each span's messages enter the conversation: a model call's input at its start,
/// its output and a tool's result at its end. What a model call wrote is new; what an
/// agent span reports as its output repeats its last model call's.
enum Moment<'s> {
    Input(Vec<Value>),
    Output { messages: Vec<Value>, new: bool },
    Tool(&'s Span),
}

fn is_agent_span(span: &Span) -> bool {
    matches!(
        span.attributes.get("gen_ai.operation.name").and_then(Value::as_str),
        Some("invoke_agent" | "create_agent")
    ) || matches!(span.attributes.get("openinference.span.kind").and_then(Value::as_str), Some("AGENT" | "CHAIN"))
}

/// The steps of spans sorted by time, and the spans that were model calls.
fn conversation<'s>(spans: &[&'s Span]) -> Result<(Vec<Value>, Vec<&'s Span>), RecordError> {
    let mut moments: Vec<(u64, u8, Moment<'s>)> = Vec::new();
    let mut llm_spans = Vec::new();
    for s in spans {
        if is_tool_span(s) {
            moments.push((s.end_ns, 1, Moment::Tool(s)));
        } else if let Some(turn) = llm_turn(s)? {
            moments.push((s.start_ns, 0, Moment::Input(turn.input)));
            moments.push((s.end_ns, 1, Moment::Output { messages: turn.output, new: !is_agent_span(s) }));
            llm_spans.push(*s);
        } else if is_llm_span(s) {
            llm_spans.push(*s);
        }
    }
    moments.sort_by_key(|(t, order, _)| (*t, *order));
    let mut conversation = Conversation::default();
    for (_, _, moment) in moments {
        match moment {
            Moment::Input(list) | Moment::Output { messages: list, new: false } => conversation.add_new(list),
            Moment::Output { messages, new: true } => conversation.add_all(messages),
            Moment::Tool(span) => conversation.add_tool(span),
        }
    }
    if conversation.steps.is_empty() {
        // Only agent or chain spans: the first one's input and output (OpenInference).
        if let Some(root) = spans.iter().find(|s| s.attributes.contains_key("input.value")) {
            conversation.add_new(vec![json!({"role": "user", "content": text_of(root.attributes.get("input.value"))})]);
            if let Some(out) = root.attributes.get("output.value") {
                conversation.add_new(vec![json!({"role": "assistant", "content": text_of(Some(out))})]);
            }
        }
    }
    Ok((conversation.steps, llm_spans))
}

/// `metadata.otel`: the traces, each span without its messages, the resource.
fn otel_metadata(spans: &[&Span]) -> Value {
    let mut trace_ids: Vec<&str> = Vec::new();
    for s in spans {
        if !trace_ids.contains(&s.trace_id.as_str()) {
            trace_ids.push(&s.trace_id);
        }
    }
    let mut otel = json!({
        "trace_ids": trace_ids,
        "spans": spans.iter().map(|s| span_metadata(s)).collect::<Vec<_>>(),
    });
    if let Some(first) = spans.first().filter(|s| !s.resource.is_empty()) {
        otel["resource"] = Value::Object(first.resource.clone());
    }
    otel
}

/// The record of the spans of one trajectory (`key` is its id).
pub fn assemble(key: &str, spans: &[&Span], options: &OtlpOptions) -> Result<Value, RecordError> {
    let mut spans: Vec<&Span> = spans.to_vec();
    spans.sort_by_key(|s| (s.start_ns, s.end_ns));
    let (steps, llm_spans) = conversation(&spans)?;
    let mut rec = Map::new();
    rec.insert("trajectory_id".into(), json!(key));
    rec.insert("source".into(), json!("otlp"));
    let question = steps
        .iter()
        .find(|s| s.get("role").and_then(Value::as_str) == Some("user"))
        .map(|s| plain_text(s.get("content").unwrap_or(&Value::Null)));
    if let Some(q) = question.filter(|q| !q.is_empty()) {
        rec.insert("task".into(), json!({"question": q}));
    }
    let finish = steps.iter().rev().find_map(|s| s.get("finish_reason").and_then(Value::as_str)).map(str::to_string);
    rec.insert("steps".into(), Value::Array(steps));
    labels(&mut rec, &spans, &llm_spans, options);
    if !rec.contains_key("termination_reason") {
        let error = spans.iter().any(|s| s.error.is_some());
        if let Some(reason) = if error { Some("error".to_string()) } else { finish } {
            rec.insert("termination_reason".into(), json!(reason));
        }
    }
    let start = spans.iter().map(|s| s.start_ns).filter(|t| *t > 0).min();
    let end = spans.iter().map(|s| s.end_ns).max();
    if let Some(start) = start {
        rec.insert("created_at".into(), json!(start as f64 / 1e9));
        if let Some(end) = end.filter(|e| *e >= start) {
            rec.insert("exec_time".into(), json!((end - start) as f64 / 1e9));
        }
    }
    let mut metadata = Map::new();
    let evaluations = evaluations(&spans);
    if !evaluations.is_empty() {
        metadata.insert("evaluations".into(), Value::Array(evaluations));
    }
    if let Some(model) = rec.get("model") {
        metadata.insert("model".into(), model.clone());
    }
    metadata.insert("otel".into(), otel_metadata(&spans));
    rec.insert("metadata".into(), Value::Object(metadata));
    Ok(Value::Object(rec))
}

/// Every `gen_ai.evaluation.result` event: `{name, score, label, explanation}`.
fn evaluations(spans: &[&Span]) -> Vec<Value> {
    let mut out = Vec::new();
    for s in spans {
        for e in s.events.iter().filter(|e| e.name == "gen_ai.evaluation.result") {
            let mut m = Map::new();
            for (key, name) in [
                ("gen_ai.evaluation.name", "name"),
                ("gen_ai.evaluation.score.value", "score"),
                ("gen_ai.evaluation.score.label", "label"),
                ("gen_ai.evaluation.explanation", "explanation"),
            ] {
                if let Some(v) = e.attributes.get(key).filter(|v| !v.is_null()) {
                    m.insert(name.into(), v.clone());
                }
            }
            out.push(Value::Object(m));
        }
    }
    out
}

/// The RL keys, labels, model and usage.
fn labels(rec: &mut Map<String, Value>, spans: &[&Span], llm_spans: &[&Span], options: &OtlpOptions) {
    let first = |key: &str| spans.iter().find_map(|s| attr(s, key));
    let p = &options.prefix;
    for k in ID_KEYS {
        if let Some(v) = first(&format!("{p}{k}")).and_then(as_id) {
            rec.insert((*k).into(), json!(v));
        }
    }
    for k in INT_KEYS {
        if let Some(v) = first(&format!("{p}{k}")).and_then(as_int) {
            rec.insert((*k).into(), json!(v));
        }
    }
    if !rec.contains_key("agent_name") {
        if let Some(v) = first("gen_ai.agent.name").and_then(as_id) {
            rec.insert("agent_name".into(), json!(v));
        }
    }
    let reward = first(&format!("{p}reward")).and_then(score_value).or_else(|| {
        evaluations(spans)
            .iter()
            .find(|e| e.get("name").and_then(Value::as_str) == Some("reward"))
            .and_then(|e| e.get("score").and_then(score_value).or_else(|| e.get("label").and_then(score_value)))
    });
    if let Some(r) = reward.filter(|r| r.is_finite()) {
        rec.insert("reward".into(), json!(r));
    }
    if let Some(b) = first(&format!("{p}is_success")).and_then(|v| match v {
        Value::Bool(b) => Some(*b),
        Value::String(s) => s.parse().ok(),
        _ => None,
    }) {
        rec.insert("is_success".into(), json!(b));
    }
    if !rec.contains_key("model") {
        let model = llm_spans.iter().find_map(|s| {
            ["gen_ai.response.model", "gen_ai.request.model", "llm.model_name"]
                .iter()
                .find_map(|k| s.attributes.get(*k).and_then(Value::as_str))
        });
        if let Some(m) = model {
            rec.insert("model".into(), json!(m));
        }
    }
    let sum = |keys: &[&str]| -> Option<i64> {
        let counts: Vec<i64> = llm_spans
            .iter()
            .filter_map(|s| keys.iter().find_map(|k| s.attributes.get(*k).and_then(crate::usage::count)))
            .collect();
        (!counts.is_empty()).then(|| counts.iter().sum())
    };
    if let Some(n) = sum(&["gen_ai.usage.input_tokens", "llm.token_count.prompt"]) {
        rec.insert("input_tokens".into(), json!(n));
    }
    if let Some(n) = sum(&["gen_ai.usage.output_tokens", "llm.token_count.completion"]) {
        rec.insert("output_tokens".into(), json!(n));
    }
}
