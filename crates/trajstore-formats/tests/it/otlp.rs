//! OpenTelemetry traces as trajectories: the GenAI conventions (current and older), and
//! OpenInference; history repeated by every chat span taken once; tools as calls and
//! results; RL keys and the reward; traces of one conversation as one trajectory.

use serde_json::{json, Value};
use trajstore_formats::otlp::{decode_json, records, OtlpOptions};
use trajstore_formats::{convert, detect, Format, SourceFile};
use trajstore_model::Trajectory;

fn kv(key: &str, value: Value) -> Value {
    let any = match &value {
        Value::String(s) => json!({"stringValue": s}),
        Value::Bool(b) => json!({"boolValue": b}),
        Value::Number(n) if n.is_i64() => json!({"intValue": n.to_string()}),
        Value::Number(n) => json!({"doubleValue": n}),
        other => json!({"stringValue": other.to_string()}),
    };
    json!({"key": key, "value": any})
}

fn span(trace: &str, id: &str, parent: Option<&str>, name: &str, start: u64, end: u64, attrs: Vec<Value>) -> Value {
    json!({
        "traceId": trace, "spanId": id, "parentSpanId": parent.unwrap_or(""), "name": name,
        "startTimeUnixNano": (start * 1_000_000_000).to_string(),
        "endTimeUnixNano": (end * 1_000_000_000).to_string(),
        "attributes": attrs,
    })
}

fn request(resource: Vec<Value>, spans: Vec<Value>) -> Value {
    json!({"resourceSpans": [{"resource": {"attributes": resource}, "scopeSpans": [{"scope": {"name": "agent"}, "spans": spans}]}]})
}

fn text(role: &str, content: &str) -> Value {
    json!({"role": role, "parts": [{"type": "text", "content": content}]})
}

/// The records of one request, each read back through the model as an import would.
fn trajectories(doc: &Value, options: &OtlpOptions) -> Vec<(Trajectory, Value)> {
    let spans = decode_json(doc).unwrap();
    records(&spans, options)
        .into_iter()
        .map(|(_, r)| {
            let v = r.unwrap();
            (Trajectory::from_json(v.to_string().as_bytes()).unwrap(), v)
        })
        .collect()
}

fn roles(v: &Value) -> Vec<String> {
    v["steps"].as_array().unwrap().iter().map(|s| s["role"].as_str().unwrap().to_string()).collect()
}

const TRACE: &str = "0af7651916cd43dd8448eb211c80319c";

/// An agent run in the current GenAI conventions: two chat calls (the second repeating the
/// first's history), a tool call between them, a reward as an evaluation event.
fn genai_run() -> Value {
    let call = json!({"role": "assistant", "parts": [{"type": "tool_call", "id": "call_1", "name": "bash", "arguments": {"cmd": "ls"}}]});
    let result =
        json!({"role": "tool", "parts": [{"type": "tool_call_response", "id": "call_1", "response": "a.txt"}]});
    let mut root = span(
        TRACE,
        "r1",
        None,
        "invoke_agent fixer",
        10,
        20,
        vec![kv("gen_ai.operation.name", json!("invoke_agent")), kv("gen_ai.agent.name", json!("fixer"))],
    );
    root["events"] = json!([{"name": "gen_ai.evaluation.result", "timeUnixNano": "20000000000", "attributes": [
        kv("gen_ai.evaluation.name", json!("reward")), kv("gen_ai.evaluation.score.value", json!(0.75)),
    ]}]);
    let chat1 = span(
        TRACE,
        "c1",
        Some("r1"),
        "chat gpt-x",
        11,
        12,
        vec![
            kv("gen_ai.operation.name", json!("chat")),
            kv("gen_ai.request.model", json!("gpt-x")),
            kv("gen_ai.system_instructions", json!([{"type": "text", "content": "Be brief."}]).to_string().into()),
            kv("gen_ai.input.messages", json!([text("user", "list the files")]).to_string().into()),
            kv("gen_ai.output.messages", json!([call.clone()]).to_string().into()),
            kv("gen_ai.usage.input_tokens", json!(100)),
            kv("gen_ai.usage.output_tokens", json!(10)),
        ],
    );
    let tool = span(
        TRACE,
        "t1",
        Some("r1"),
        "execute_tool bash",
        13,
        14,
        vec![
            kv("gen_ai.operation.name", json!("execute_tool")),
            kv("gen_ai.tool.name", json!("bash")),
            kv("gen_ai.tool.call.id", json!("call_1")),
            kv("gen_ai.tool.call.arguments", json!("{\"cmd\": \"ls\"}")),
            kv("gen_ai.tool.call.result", json!("a.txt")),
        ],
    );
    let chat2 = span(TRACE, "c2", Some("r1"), "chat gpt-x", 15, 16, vec![
        kv("gen_ai.operation.name", json!("chat")),
        kv("gen_ai.request.model", json!("gpt-x")),
        kv("gen_ai.system_instructions", json!([{"type": "text", "content": "Be brief."}]).to_string().into()),
        kv("gen_ai.input.messages", json!([text("user", "list the files"), call, result]).to_string().into()),
        kv("gen_ai.output.messages", json!([{"role": "assistant", "parts": [{"type": "text", "content": "a.txt"}], "finish_reason": "stop"}]).to_string().into()),
        kv("gen_ai.usage.input_tokens", json!(150)),
        kv("gen_ai.usage.output_tokens", json!(5)),
    ]);
    let resource = vec![
        kv("service.name", json!("agent")),
        kv("trajstore.training_id", json!("run-9")),
        kv("trajstore.iteration_id", json!(4)),
        kv("trajstore.data_id", json!("task-7")),
    ];
    // Spans arrive in the order they end, not start.
    request(resource, vec![chat1, tool, chat2, root])
}

#[test]
fn a_genai_trace_is_one_trajectory_with_each_message_once() {
    let got = trajectories(&genai_run(), &OtlpOptions::default());
    assert_eq!(got.len(), 1);
    let (t, v) = &got[0];
    assert_eq!(t.trajectory_id, TRACE);
    assert_eq!(roles(v), ["system", "user", "assistant", "tool", "assistant"]);
    let steps = v["steps"].as_array().unwrap();
    assert_eq!(steps[0]["content"], "Be brief.");
    assert_eq!(steps[2]["tool_calls"][0], json!({"id": "call_1", "name": "bash", "arguments": {"cmd": "ls"}}));
    assert_eq!((steps[3]["tool_call_id"].as_str(), steps[3]["content"].as_str()), (Some("call_1"), Some("a.txt")));
    assert_eq!(steps[4]["content"], "a.txt");
    assert_eq!(t.training_id.as_deref(), Some("run-9"));
    assert_eq!((t.iteration_id, t.data_id.as_deref()), (Some(4), Some("task-7")));
    assert_eq!(t.reward, Some(0.75));
    assert_eq!(t.agent_name.as_deref(), Some("fixer"));
    assert_eq!(t.model.as_deref(), Some("gpt-x"));
    assert_eq!((t.input_tokens, t.output_tokens), (Some(250), Some(15)));
    assert_eq!(t.termination_reason.as_deref(), Some("stop"));
    assert_eq!(t.exec_time, Some(10.0));
    assert_eq!(v["task"]["question"], "list the files");
    // Every other attribute is kept: the resource, each span without its messages.
    let otel = &v["metadata"]["otel"];
    assert_eq!(otel["resource"]["service.name"], "agent");
    assert_eq!(otel["spans"].as_array().unwrap().len(), 4);
    assert!(otel["spans"][1]["attributes"].get("gen_ai.input.messages").is_none());
    assert_eq!(v["metadata"]["evaluations"][0]["name"], "reward");
}

#[test]
fn traces_of_one_conversation_are_one_trajectory_and_the_prefix_is_configurable() {
    let turn = |trace: &str, id: &str, start: u64, question: &str| {
        span(
            trace,
            id,
            None,
            "chat",
            start,
            start + 1,
            vec![
                kv("gen_ai.operation.name", json!("chat")),
                kv("gen_ai.conversation.id", json!("conv-1")),
                kv("gen_ai.input.messages", json!([text("user", question)]).to_string().into()),
                kv("gen_ai.output.messages", json!([text("assistant", "ok")]).to_string().into()),
                kv("rl.sample_id", json!(3)),
            ],
        )
    };
    let doc = request(vec![], vec![turn("aa", "1", 1, "first"), turn("bb", "2", 5, "second")]);
    let got = trajectories(&doc, &OtlpOptions { prefix: "rl.".into() });
    assert_eq!(got.len(), 1);
    let (t, v) = &got[0];
    assert_eq!(t.trajectory_id, "conv-1");
    assert_eq!(t.sample_id, Some(3));
    assert_eq!(roles(v), ["user", "assistant", "user", "assistant"], "the second 'ok' is a turn of its own");
    assert_eq!(v["metadata"]["otel"]["trace_ids"], json!(["aa", "bb"]));
}

#[test]
fn openinference_and_older_genai_attributes_read_the_same() {
    let oi = span(
        "cc",
        "1",
        None,
        "llm",
        1,
        2,
        vec![
            kv("openinference.span.kind", json!("LLM")),
            kv("llm.model_name", json!("m-oi")),
            kv("session.id", json!("sess-9")),
            kv("llm.input_messages.0.message.role", json!("user")),
            kv("llm.input_messages.0.message.content", json!("weather?")),
            kv("llm.output_messages.0.message.role", json!("assistant")),
            kv("llm.output_messages.0.message.tool_calls.0.tool_call.id", json!("t9")),
            kv("llm.output_messages.0.message.tool_calls.0.tool_call.function.name", json!("get_weather")),
            kv(
                "llm.output_messages.0.message.tool_calls.0.tool_call.function.arguments",
                json!("{\"city\": \"Oslo\"}"),
            ),
            kv("llm.token_count.prompt", json!(7)),
            kv("trajstore.reward", json!(1)),
        ],
    );
    let oi_tool = span(
        "cc",
        "2",
        None,
        "get_weather",
        3,
        4,
        vec![
            kv("openinference.span.kind", json!("TOOL")),
            kv("tool.name", json!("get_weather")),
            kv("tool_call.id", json!("t9")),
            kv("output.value", json!("rain")),
        ],
    );
    let older = span(
        "dd",
        "1",
        None,
        "openai.chat",
        1,
        2,
        vec![
            kv("gen_ai.system", json!("openai")),
            kv("gen_ai.request.model", json!("m-old")),
            kv("gen_ai.prompt.0.role", json!("system")),
            kv("gen_ai.prompt.0.content", json!("sys")),
            kv("gen_ai.prompt.1.role", json!("user")),
            kv("gen_ai.prompt.1.content", json!("hi")),
            kv("gen_ai.completion.0.role", json!("assistant")),
            kv("gen_ai.completion.0.content", json!("hello")),
            kv("gen_ai.completion.0.finish_reason", json!("stop")),
        ],
    );
    let got = trajectories(&request(vec![], vec![oi, oi_tool, older]), &OtlpOptions::default());
    assert_eq!(got.len(), 2);
    let (t, v) = &got[0];
    assert_eq!(t.trajectory_id, "sess-9");
    assert_eq!(roles(v), ["user", "assistant", "tool"]);
    assert_eq!(v["steps"][1]["tool_calls"][0]["name"], "get_weather");
    assert_eq!(v["steps"][1]["tool_calls"][0]["arguments"], json!({"city": "Oslo"}));
    assert_eq!((v["steps"][2]["tool_call_id"].as_str(), v["steps"][2]["content"].as_str()), (Some("t9"), Some("rain")));
    assert_eq!((t.model.as_deref(), t.input_tokens, t.reward), (Some("m-oi"), Some(7), Some(1.0)));
    let (t, v) = &got[1];
    assert_eq!(t.trajectory_id, "dd");
    assert_eq!(roles(v), ["system", "user", "assistant"]);
    assert_eq!(t.model.as_deref(), Some("m-old"));
    assert_eq!(t.termination_reason.as_deref(), Some("stop"));
}

#[test]
fn a_tool_span_alone_gives_its_call_and_result_and_an_error_is_kept() {
    let mut tool = span(
        "ee",
        "1",
        None,
        "execute_tool search",
        1,
        2,
        vec![
            kv("gen_ai.operation.name", json!("execute_tool")),
            kv("gen_ai.tool.name", json!("search")),
            kv("gen_ai.tool.call.arguments", json!("{\"q\": \"x\"}")),
        ],
    );
    tool["status"] = json!({"code": 2, "message": "timeout"});
    let got = trajectories(&request(vec![], vec![tool]), &OtlpOptions::default());
    let (t, v) = &got[0];
    assert_eq!(roles(v), ["assistant", "tool"]);
    assert_eq!(v["steps"][0]["tool_calls"][0]["name"], "search");
    assert_eq!(v["steps"][1]["content"], "error: timeout");
    assert_eq!(v["steps"][1]["is_error"], true);
    assert_eq!(t.termination_reason.as_deref(), Some("error"));
}

#[test]
fn an_otlp_json_file_is_detected_and_imported() {
    let lines = format!(
        "{}\n{}\n",
        genai_run(),
        request(
            vec![],
            vec![span(
                "ff",
                "1",
                None,
                "chat",
                1,
                2,
                vec![kv("gen_ai.input.messages", json!([text("user", "q")]).to_string().into()),]
            )]
        )
    );
    assert_eq!(detect(lines.as_bytes()), Some(Format::Otlp));
    assert_eq!(Format::parse("otel").unwrap(), Format::Otlp);
    let file = SourceFile { label: "traces.jsonl", path: None, bytes: lines.as_bytes(), labels_dir: None };
    let got = convert(Format::Otlp, &file).unwrap();
    let ids: Vec<String> =
        got.iter().map(|c| c.record.as_ref().unwrap()["trajectory_id"].as_str().unwrap().to_string()).collect();
    assert_eq!(ids, [TRACE, "ff"]);
    assert_eq!(got[0].record.as_ref().unwrap()["source"], "traces.jsonl");
    let bad = SourceFile { label: "bad.json", path: None, bytes: b"{\"resourceSpans\": 5", labels_dir: None };
    assert!(convert(Format::Otlp, &bad).is_err());
}
