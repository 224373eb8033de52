"""OpenTelemetry ingest: the real OpenTelemetry Python SDK and its OTLP/HTTP (protobuf)
exporter send spans shaped like those of the GenAI and OpenInference instrumentations to
`POST /v1/traces`; each trace (or conversation) becomes one trajectory."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import pytest
from conftest import Server, start_server, stop_server
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.trace import Status, StatusCode

from trajstore import Client, TrajstoreError


@pytest.fixture(scope="module")
def otel_server() -> Iterator[Server]:
    server = start_server(extra=["--otlp-quiet", "0.5"])
    yield server
    stop_server(server)


def provider(server: Server, **resource: Any) -> TracerProvider:
    tp = TracerProvider(resource=Resource.create({"service.name": "agent", **resource}))
    tp.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=f"{server.url}/v1/traces")))
    return tp


def stored(client: Client, trajectory_id: str, timeout: float = 30) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        try:
            return client.get(trajectory_id)
        except TrajstoreError as e:
            if e.status != 404 or time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def parts(role: str, text: str) -> dict[str, Any]:
    return {"role": role, "parts": [{"type": "text", "content": text}]}


def test_genai_spans_from_the_sdk_become_one_trajectory(otel_server: Server) -> None:
    tp = provider(otel_server, **{"trajstore.training_id": "otel-rl", "trajstore.iteration_id": 12})
    tracer = tp.get_tracer("test-agent")
    call = {
        "role": "assistant",
        "parts": [{"type": "tool_call", "id": "c1", "name": "grep", "arguments": {"q": "bug"}}],
    }
    result = {"role": "tool", "parts": [{"type": "tool_call_response", "id": "c1", "response": "found 1"}]}
    with tracer.start_as_current_span("invoke_agent fixer") as root:
        root.set_attribute("gen_ai.operation.name", "invoke_agent")
        root.set_attribute("gen_ai.agent.name", "fixer")
        root.set_attribute("trajstore.data_id", "issue-42")
        trace_id = format(root.get_span_context().trace_id, "032x")
        with tracer.start_as_current_span("chat m1") as chat:
            chat.set_attribute("gen_ai.operation.name", "chat")
            chat.set_attribute("gen_ai.request.model", "m1")
            chat.set_attribute("gen_ai.input.messages", json.dumps([parts("user", "fix the bug")]))
            chat.set_attribute("gen_ai.output.messages", json.dumps([call]))
            chat.set_attribute("gen_ai.usage.input_tokens", 30)
            chat.set_attribute("gen_ai.usage.output_tokens", 4)
        with tracer.start_as_current_span("execute_tool grep") as tool:
            tool.set_attribute("gen_ai.operation.name", "execute_tool")
            tool.set_attribute("gen_ai.tool.name", "grep")
            tool.set_attribute("gen_ai.tool.call.id", "c1")
            tool.set_attribute("gen_ai.tool.call.arguments", json.dumps({"q": "bug"}))
            tool.set_attribute("gen_ai.tool.call.result", "found 1")
        with tracer.start_as_current_span("chat m1") as chat:
            chat.set_attribute("gen_ai.operation.name", "chat")
            chat.set_attribute("gen_ai.request.model", "m1")
            history = [parts("user", "fix the bug"), call, result]
            chat.set_attribute("gen_ai.input.messages", json.dumps(history))
            chat.set_attribute("gen_ai.output.messages", json.dumps([parts("assistant", "fixed")]))
            chat.set_attribute("gen_ai.usage.input_tokens", 50)
            chat.set_attribute("gen_ai.usage.output_tokens", 2)
        root.add_event(
            "gen_ai.evaluation.result",
            {"gen_ai.evaluation.name": "reward", "gen_ai.evaluation.score.value": 1.0},
        )
    tp.force_flush()
    record = stored(Client(otel_server.url), trace_id)
    assert [s["role"] for s in record["steps"]] == ["user", "assistant", "tool", "assistant"]
    assert record["steps"][1]["tool_calls"] == [{"id": "c1", "name": "grep", "arguments": {"q": "bug"}}]
    assert record["steps"][2]["content"] == "found 1"
    assert record["steps"][3]["content"] == "fixed"
    assert (record["training_id"], record["iteration_id"], record["data_id"]) == ("otel-rl", 12, "issue-42")
    assert (record["reward"], record["agent_name"], record["model"]) == (1.0, "fixer", "m1")
    assert (record["input_tokens"], record["output_tokens"]) == (80, 6)
    assert record["metadata"]["otel"]["resource"]["service.name"] == "agent"
    tp.shutdown()


def test_openinference_spans_of_one_session_across_traces(otel_server: Server) -> None:
    tp = provider(otel_server)
    tracer = tp.get_tracer("openinference-like")
    for turn, question in enumerate(["weather in Oslo?", "and tomorrow?"]):
        with tracer.start_as_current_span("agent") as agent:
            agent.set_attribute("openinference.span.kind", "AGENT")
            agent.set_attribute("session.id", "session-77")
            with tracer.start_as_current_span("llm") as llm:
                llm.set_attribute("openinference.span.kind", "LLM")
                llm.set_attribute("llm.model_name", "oi-model")
                llm.set_attribute("llm.input_messages.0.message.role", "user")
                llm.set_attribute("llm.input_messages.0.message.content", question)
                llm.set_attribute("llm.output_messages.0.message.role", "assistant")
                llm.set_attribute("llm.output_messages.0.message.content", f"answer {turn}")
            with tracer.start_as_current_span("forecast") as tool:
                tool.set_attribute("openinference.span.kind", "TOOL")
                tool.set_attribute("tool.name", "forecast")
                tool.set_attribute("tool.parameters", json.dumps({"day": turn}))
                tool.set_attribute("output.value", "rain")
                tool.set_status(Status(StatusCode.OK))
    tp.force_flush()
    record = stored(Client(otel_server.url), "session-77")
    roles = [s["role"] for s in record["steps"]]
    assert roles == ["user", "assistant", "assistant", "tool", "user", "assistant", "assistant", "tool"]
    assert record["steps"][2]["tool_calls"][0]["name"] == "forecast"
    assert len(record["metadata"]["otel"]["trace_ids"]) == 2
    assert record["model"] == "oi-model"
    tp.shutdown()
