"""OpenTelemetry spans of a call, captured by an in-memory exporter and checked against the GenAI
semantic conventions; none at all without an OTLP endpoint."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

from interlock.providers.mock import MockLLM
from interlock.telemetry.tracing import stage_names
from support.app import Engine
from support.engines import add_key, engine_settings


def priced(tree: dict[str, Any]) -> None:
    for model in tree["models"]:
        model["price"] = {"input": 1.0, "output": 2.0}


async def run(engine: Engine, key: str, body: dict[str, Any]) -> Any:
    call = engine.new_call("chat.completions", json.dumps(body).encode(),
                           {"authorization": f"Bearer {key}", "content-type": "application/json"})
    await engine.chat(call)
    return call


async def test_a_call_is_one_genai_span_with_a_child_per_stage(tmp_path: Path, mock: MockLLM, dead_port: int) -> None:
    exporter = InMemorySpanExporter()
    settings = engine_settings(tmp_path, mock_base_url=mock.base_url, dead_port=dead_port, adjust=priced)
    engine = Engine(settings, span_processor=SimpleSpanProcessor(exporter))
    await engine.start()
    try:
        key = await add_key(engine.store, "tracer")
        call = await run(engine, key, {"model": "mock", "max_tokens": 64, "messages": [
            {"role": "user", "content": "hello"}], "mock": {"usage": {"prompt_tokens": 12, "completion_tokens": 3}}})
        spans = exporter.get_finished_spans()
        (root,) = [s for s in spans if s.parent is None]
        assert root.name == "chat mock"
        assert root.kind == SpanKind.CLIENT
        attrs = dict(root.attributes or {})
        assert attrs["gen_ai.operation.name"] == "chat"
        assert attrs["gen_ai.provider.name"] == "openai"
        assert attrs["gen_ai.request.model"] == "mock"
        assert attrs["gen_ai.response.model"] == "mock"
        assert attrs["gen_ai.usage.input_tokens"] == 12
        assert attrs["gen_ai.usage.output_tokens"] == 3
        assert attrs["gen_ai.request.max_tokens"] == 64
        assert tuple(attrs["gen_ai.response.finish_reasons"]) == ("stop",)
        assert attrs["interlock.request_id"] == call.request_id
        assert attrs["interlock.cost.usd"] == (12 * 1.0 + 3 * 2.0) / 1e6
        assert "hello" not in json.dumps({k: str(v) for k, v in attrs.items()})
        children = [s for s in spans if s.parent is not None]
        assert all(s.parent.span_id == root.context.span_id for s in children)
        assert all(s.context.trace_id == root.context.trace_id for s in children)
        assert stage_names(children) == list(engine.pipeline.stage_names)
        assert all(root.start_time <= s.start_time <= s.end_time <= root.end_time for s in children)

        exporter.clear()
        refused = await run(engine, "il_nope_not_a_key", {"model": "mock", "messages": [
            {"role": "user", "content": "hi"}]})
        (root,) = [s for s in exporter.get_finished_spans() if s.parent is None]
        assert root.status.status_code == StatusCode.ERROR
        assert dict(root.attributes or {})["error.type"] == refused.refusal_code == "invalid_api_key"
    finally:
        await engine.stop()


async def test_no_endpoint_no_tracing(tmp_path: Path, mock: MockLLM, dead_port: int) -> None:
    settings = engine_settings(tmp_path, mock_base_url=mock.base_url, dead_port=dead_port)
    engine = Engine(settings)
    assert engine.tracing is None
    with_endpoint = settings.model_copy(update={"telemetry": settings.telemetry.model_copy(
        update={"otlp_endpoint": "http://127.0.0.1:4318/v1/traces"})})
    traced = Engine(with_endpoint)
    assert traced.tracing is not None
    traced.tracing.shutdown()
