//! OpenTelemetry traces (OTLP) of LLM agents, as trajectories: one per trace, or per
//! `gen_ai.conversation.id` / `session.id` when the spans carry one.
//!
//! Two readings of the same messages: OTLP/JSON (a file of
//! `{"resourceSpans": [...]}` documents, one per line as the collector's file exporter
//! writes them, or the body of `POST /v1/traces`) and OTLP/protobuf (the body of
//! `POST /v1/traces` from an SDK's exporter). Both become [`Span`]s, and
//! [`assemble`](assemble::assemble) turns the spans of one trajectory into a native
//! record (the mapping is in docs/formats.md).

mod assemble;
mod messages;
mod proto;

use prost::Message;
use serde_json::{Map, Value};

use crate::normalize::{at_index, Context};
use crate::{Converted, FormatError, RecordError};

pub use assemble::{assemble, trajectory_keys, OtlpOptions};

/// One span, with its attributes as JSON values.
#[derive(Debug, Clone, PartialEq)]
pub struct Span {
    /// Lowercase hex.
    pub trace_id: String,
    pub span_id: String,
    pub parent_span_id: Option<String>,
    pub name: String,
    pub start_ns: u64,
    pub end_ns: u64,
    pub attributes: Map<String, Value>,
    pub events: Vec<SpanEvent>,
    /// The status message (or "error") when the span's status is an error.
    pub error: Option<String>,
    /// The attributes of the resource that sent the span (service name, RL keys, ...).
    pub resource: Map<String, Value>,
    pub scope: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct SpanEvent {
    pub name: String,
    pub time_ns: u64,
    pub attributes: Map<String, Value>,
}

/// The spans of an OTLP/protobuf `ExportTraceServiceRequest`.
pub fn decode_protobuf(bytes: &[u8]) -> Result<Vec<Span>, String> {
    let request = proto::ExportTraceServiceRequest::decode(bytes).map_err(|e| format!("invalid OTLP protobuf: {e}"))?;
    let mut spans = Vec::new();
    for rs in request.resource_spans {
        let resource = rs.resource.map(|r| pb_attributes(r.attributes)).unwrap_or_default();
        for ss in rs.scope_spans {
            let scope = ss.scope.map(|s| s.name).filter(|n| !n.is_empty());
            for s in ss.spans {
                let error = s.status.filter(|st| st.code == 2).map(|st| non_empty_or(st.message, "error"));
                spans.push(Span {
                    trace_id: hex(&s.trace_id),
                    span_id: hex(&s.span_id),
                    parent_span_id: Some(hex(&s.parent_span_id)).filter(|p| !p.is_empty()),
                    name: s.name,
                    start_ns: s.start_time_unix_nano,
                    end_ns: s.end_time_unix_nano,
                    attributes: pb_attributes(s.attributes),
                    events: s
                        .events
                        .into_iter()
                        .map(|e| SpanEvent {
                            name: e.name,
                            time_ns: e.time_unix_nano,
                            attributes: pb_attributes(e.attributes),
                        })
                        .collect(),
                    error,
                    resource: resource.clone(),
                    scope: scope.clone(),
                });
            }
        }
    }
    Ok(spans)
}

fn non_empty_or(s: String, default: &str) -> String {
    if s.is_empty() {
        default.to_string()
    } else {
        s
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn pb_attributes(kvs: Vec<proto::KeyValue>) -> Map<String, Value> {
    kvs.into_iter().map(|kv| (kv.key, kv.value.map_or(Value::Null, pb_value))).collect()
}

fn pb_value(v: proto::AnyValue) -> Value {
    use proto::any_value::Value as V;
    match v.value {
        None => Value::Null,
        Some(V::Str(s)) => Value::String(s),
        Some(V::Bool(b)) => Value::Bool(b),
        Some(V::Int(i)) => Value::from(i),
        Some(V::Double(d)) => serde_json::Number::from_f64(d).map_or(Value::Null, Value::Number),
        Some(V::Array(a)) => Value::Array(a.values.into_iter().map(pb_value).collect()),
        Some(V::Kvlist(l)) => Value::Object(pb_attributes(l.values)),
        Some(V::Bytes(b)) => Value::String(hex(&b)),
    }
}

/// The spans of one OTLP/JSON document (`{"resourceSpans": [...]}`). Field names are
/// read in lowerCamelCase or as in the .proto (`resource_spans`), as protobuf's JSON
/// mapping allows; ids are hex; 64-bit integers may be strings.
pub fn decode_json(doc: &Value) -> Result<Vec<Span>, String> {
    let root = doc.as_object().ok_or("an OTLP/JSON document must be an object")?;
    if let Some(v) = field(root, "resourceSpans", "resource_spans").filter(|v| !v.is_null() && !v.is_array()) {
        return Err(format!("resourceSpans must be a list, found {}", crate::normalize::kind(v)));
    }
    let mut spans = Vec::new();
    for (i, rs) in list(root, "resourceSpans", "resource_spans").iter().enumerate() {
        let rs = rs.as_object().ok_or_else(|| format!("resourceSpans[{i}] must be an object"))?;
        let resource = rs.get("resource").and_then(Value::as_object).map(json_attributes).unwrap_or_default();
        for ss in list(rs, "scopeSpans", "scope_spans") {
            let Some(ss) = ss.as_object() else { continue };
            let scope = ss.get("scope").and_then(|s| s.get("name")).and_then(Value::as_str).map(str::to_string);
            for s in list(ss, "spans", "spans") {
                let Some(s) = s.as_object() else { continue };
                spans.push(json_span(s, &resource, scope.clone()));
            }
        }
    }
    Ok(spans)
}

fn field<'v>(obj: &'v Map<String, Value>, camel: &str, snake: &str) -> Option<&'v Value> {
    obj.get(camel).or_else(|| obj.get(snake))
}

fn list<'v>(obj: &'v Map<String, Value>, camel: &str, snake: &str) -> &'v [Value] {
    field(obj, camel, snake).and_then(Value::as_array).map_or(&[], Vec::as_slice)
}

fn text(obj: &Map<String, Value>, camel: &str, snake: &str) -> String {
    field(obj, camel, snake).and_then(Value::as_str).unwrap_or("").to_ascii_lowercase()
}

fn nanos(obj: &Map<String, Value>, camel: &str, snake: &str) -> u64 {
    match field(obj, camel, snake) {
        Some(Value::String(s)) => s.parse().unwrap_or(0),
        Some(Value::Number(n)) => n.as_u64().unwrap_or(0),
        _ => 0,
    }
}

fn json_span(s: &Map<String, Value>, resource: &Map<String, Value>, scope: Option<String>) -> Span {
    let status = s.get("status").and_then(Value::as_object);
    let error = status
        .filter(|st| matches!(st.get("code"), Some(c) if c == 2 || c == "STATUS_CODE_ERROR"))
        .map(|st| non_empty_or(st.get("message").and_then(Value::as_str).unwrap_or("").to_string(), "error"));
    let events = list(s, "events", "events")
        .iter()
        .filter_map(Value::as_object)
        .map(|e| SpanEvent {
            name: e.get("name").and_then(Value::as_str).unwrap_or("").to_string(),
            time_ns: nanos(e, "timeUnixNano", "time_unix_nano"),
            attributes: json_attributes(e),
        })
        .collect();
    Span {
        trace_id: text(s, "traceId", "trace_id"),
        span_id: text(s, "spanId", "span_id"),
        parent_span_id: Some(text(s, "parentSpanId", "parent_span_id")).filter(|p| !p.is_empty()),
        name: s.get("name").and_then(Value::as_str).unwrap_or("").to_string(),
        start_ns: nanos(s, "startTimeUnixNano", "start_time_unix_nano"),
        end_ns: nanos(s, "endTimeUnixNano", "end_time_unix_nano"),
        attributes: json_attributes(s),
        events,
        error,
        resource: resource.clone(),
        scope,
    }
}

/// `attributes: [{key, value: AnyValue}]` as a map.
fn json_attributes(obj: &Map<String, Value>) -> Map<String, Value> {
    list(obj, "attributes", "attributes")
        .iter()
        .filter_map(|kv| {
            let key = kv.get("key")?.as_str()?;
            Some((key.to_string(), kv.get("value").map_or(Value::Null, json_any)))
        })
        .collect()
}

fn json_any(v: &Value) -> Value {
    let Some(obj) = v.as_object() else { return Value::Null };
    if let Some(s) = field(obj, "stringValue", "string_value") {
        return s.clone();
    }
    if let Some(b) = field(obj, "boolValue", "bool_value") {
        return b.clone();
    }
    if let Some(i) = field(obj, "intValue", "int_value") {
        return match i {
            Value::String(s) => s.parse::<i64>().map_or_else(|_| i.clone(), Value::from),
            other => other.clone(),
        };
    }
    if let Some(d) = field(obj, "doubleValue", "double_value") {
        return d.clone();
    }
    if let Some(a) = field(obj, "arrayValue", "array_value") {
        return Value::Array(
            a.get("values").and_then(Value::as_array).map_or(&[][..], Vec::as_slice).iter().map(json_any).collect(),
        );
    }
    if let Some(l) = field(obj, "kvlistValue", "kvlist_value") {
        return Value::Object(l.as_object().map(json_attributes).unwrap_or_default());
    }
    field(obj, "bytesValue", "bytes_value").cloned().unwrap_or(Value::Null)
}

/// An OTLP/JSON file: one document, or one per line. Its spans are grouped into
/// trajectories over the whole file.
pub fn convert(ctx: &mut Context<'_>, file: &crate::SourceFile<'_>) -> Result<Vec<Converted>, FormatError> {
    let mut spans = Vec::new();
    let docs: Vec<Value> = match serde_json::from_slice::<Value>(file.bytes) {
        Ok(doc) => vec![doc],
        Err(_) => crate::normalize::json_lines(file.bytes)
            .into_iter()
            .map(|(line, doc)| doc.map_err(|e| ctx.invalid(format!("line {line}: {}", e.message))))
            .collect::<Result<_, _>>()?,
    };
    for (i, doc) in docs.iter().enumerate() {
        spans.extend(decode_json(doc).map_err(|e| ctx.invalid(format!("document {}: {e}", i + 1)))?);
    }
    let options = OtlpOptions::default();
    let refs: Vec<&Span> = spans.iter().collect();
    Ok(trajectory_keys(&refs)
        .into_iter()
        .enumerate()
        .map(|(i, (key, members))| {
            let spans: Vec<&Span> = members.iter().map(|&m| refs[m]).collect();
            let record = assemble(&key, &spans, &options).map(|mut r| {
                r["source"] = Value::String(file.label.to_string());
                r
            });
            at_index(i, record)
        })
        .collect())
}

/// The trajectories of a list of spans: each one's id and its record (or why not).
pub fn records(spans: &[Span], options: &OtlpOptions) -> Vec<(String, Result<Value, RecordError>)> {
    let refs: Vec<&Span> = spans.iter().collect();
    trajectory_keys(&refs)
        .into_iter()
        .map(|(key, members)| {
            let group: Vec<&Span> = members.iter().map(|&m| refs[m]).collect();
            let record = assemble(&key, &group, options);
            (key, record)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kv(key: &str, value: proto::any_value::Value) -> proto::KeyValue {
        proto::KeyValue { key: key.into(), value: Some(proto::AnyValue { value: Some(value) }) }
    }

    #[test]
    fn protobuf_and_json_give_the_same_span() {
        use proto::any_value::Value as V;
        let request = proto::ExportTraceServiceRequest {
            resource_spans: vec![proto::ResourceSpans {
                resource: Some(proto::Resource { attributes: vec![kv("service.name", V::Str("svc".into()))] }),
                scope_spans: vec![proto::ScopeSpans {
                    scope: Some(proto::InstrumentationScope { name: "s".into(), version: String::new() }),
                    spans: vec![proto::Span {
                        trace_id: vec![0xAB; 16],
                        span_id: vec![1; 8],
                        parent_span_id: Vec::new(),
                        name: "chat".into(),
                        kind: 3,
                        start_time_unix_nano: 5,
                        end_time_unix_nano: 9,
                        attributes: vec![
                            kv("n", V::Int(3)),
                            kv("f", V::Double(0.5)),
                            kv(
                                "list",
                                V::Array(proto::ArrayValue {
                                    values: vec![proto::AnyValue { value: Some(V::Bool(true)) }],
                                }),
                            ),
                        ],
                        events: vec![proto::Event { time_unix_nano: 7, name: "e".into(), attributes: vec![] }],
                        status: Some(proto::Status { message: String::new(), code: 2 }),
                    }],
                }],
            }],
        };
        let spans = decode_protobuf(&request.encode_to_vec()).unwrap();
        let json = serde_json::json!({"resourceSpans": [{
            "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "svc"}}]},
            "scopeSpans": [{"scope": {"name": "s"}, "spans": [{
                "traceId": "ABABABABABABABABABABABABABABABAB", "spanId": "0101010101010101", "name": "chat",
                "kind": 3, "startTimeUnixNano": "5", "endTimeUnixNano": 9,
                "attributes": [{"key": "n", "value": {"intValue": "3"}}, {"key": "f", "value": {"doubleValue": 0.5}},
                               {"key": "list", "value": {"arrayValue": {"values": [{"boolValue": true}]}}}],
                "events": [{"timeUnixNano": "7", "name": "e"}],
                "status": {"code": 2},
            }]}],
        }]});
        assert_eq!(spans, decode_json(&json).unwrap());
        assert_eq!(spans[0].trace_id, "abababababababababababababababab");
        assert_eq!(spans[0].error.as_deref(), Some("error"));
        assert!(decode_protobuf(b"\xff\xff").is_err());
    }
}
