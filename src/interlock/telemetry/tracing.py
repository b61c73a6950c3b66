"""OpenTelemetry traces of each call, after the GenAI semantic conventions, exported over OTLP/HTTP when
``telemetry.otlp_endpoint`` is set (nothing is built, imported or exported otherwise).

A call's spans are made when it ends, from what it recorded: the call's span ``{operation} {model}``
(``chat``, or ``embeddings``) from its start to its end, with ``gen_ai.*`` attributes (provider, request
and response model, token usage, finish reasons, ``error.type`` for a refusal) and one child span per
pipeline stage, laid end to end from the call's start with the durations the runner measured (stages run
back to back). Spans are handed to a batch processor: export happens on its thread, off the event loop.
Feedback on a call is exported as a ``gen_ai.evaluation.result`` event. Prompts and answers are never put in
a span.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from typing import Any, Protocol

from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter
from opentelemetry.trace import SpanKind, Status, StatusCode

_PROVIDER_NAMES = {"openai": "openai", "azure": "azure.ai.openai", "anthropic": "anthropic"}


class _Usage(Protocol):
    @property
    def prompt_tokens(self) -> int: ...
    @property
    def completion_tokens(self) -> int: ...
    @property
    def cached_tokens(self) -> int: ...


class TracedCall(Protocol):
    """What a trace reads of a finished call (the pipeline's ``Call`` is one)."""

    @property
    def request_id(self) -> str: ...
    @property
    def endpoint(self) -> str: ...
    @property
    def started(self) -> float: ...
    @property
    def model_alias(self) -> str: ...
    @property
    def provider(self) -> str: ...
    @property
    def upstream_model(self) -> str: ...
    @property
    def stream(self) -> bool: ...
    @property
    def status(self) -> int: ...
    @property
    def refusal_code(self) -> str: ...
    @property
    def finish_reason(self) -> str: ...
    @property
    def usage(self) -> _Usage: ...
    @property
    def cost_nano(self) -> int | None: ...
    @property
    def use_case_name(self) -> str: ...
    @property
    def timings_ms(self) -> Mapping[str, float]: ...
    @property
    def body(self) -> Mapping[str, Any]: ...
    def elapsed_ms(self) -> float: ...


class Tracing:
    """Turns finished calls into spans. ``provider_types`` maps a provider name to its type (openai, azure,
    anthropic, mock), for ``gen_ai.provider.name``."""

    def __init__(self, processor: SpanProcessor, provider_types: Mapping[str, str],
                 service_name: str = "interlock") -> None:
        self._provider = TracerProvider(resource=Resource.create({"service.name": service_name}))
        self._provider.add_span_processor(processor)
        self._tracer = self._provider.get_tracer("interlock")
        self._types = dict(provider_types)

    @classmethod
    def over_otlp(cls, endpoint: str, headers: Mapping[str, str], provider_types: Mapping[str, str],
                  service_name: str) -> Tracing:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        exporter: SpanExporter = OTLPSpanExporter(endpoint=endpoint, headers=dict(headers))
        return cls(BatchSpanProcessor(exporter), provider_types, service_name)

    def observe_call(self, call: TracedCall) -> None:
        end_ns = time.time_ns()
        start_ns = int(call.started * 1e9)
        operation = "embeddings" if call.endpoint == "embeddings" else "chat"
        model = call.model_alias or "unknown"
        attributes: dict[str, Any] = {
            "gen_ai.operation.name": operation,
            "gen_ai.request.model": model,
            "interlock.request_id": call.request_id,
            "interlock.endpoint": call.endpoint,
            "http.response.status_code": call.status,
        }
        if call.provider:
            attributes["gen_ai.provider.name"] = _PROVIDER_NAMES.get(self._types.get(call.provider, ""),
                                                                     self._types.get(call.provider, call.provider))
            attributes["gen_ai.response.model"] = call.upstream_model
            attributes["gen_ai.usage.input_tokens"] = call.usage.prompt_tokens
            attributes["gen_ai.usage.output_tokens"] = call.usage.completion_tokens
            if call.usage.cached_tokens:
                attributes["gen_ai.usage.cache_read.input_tokens"] = call.usage.cached_tokens
        max_tokens = call.body.get("max_completion_tokens") or call.body.get("max_tokens")
        if isinstance(max_tokens, int) and not isinstance(max_tokens, bool):
            attributes["gen_ai.request.max_tokens"] = max_tokens
        if call.stream:
            attributes["gen_ai.request.stream"] = True
        if call.finish_reason:
            attributes["gen_ai.response.finish_reasons"] = [call.finish_reason]
        if call.cost_nano is not None:
            attributes["interlock.cost.usd"] = call.cost_nano / 1e9
        if call.use_case_name:
            attributes["interlock.use_case"] = call.use_case_name
        if call.refusal_code:
            attributes["error.type"] = call.refusal_code
        span = self._tracer.start_span(f"{operation} {model}", kind=SpanKind.CLIENT, start_time=start_ns,
                                       attributes=attributes)
        if call.refusal_code:
            span.set_status(Status(StatusCode.ERROR, call.refusal_code))
        context = _context_of(span)
        at = start_ns
        for stage, ms in call.timings_ms.items():
            stage_end = at + int(ms * 1e6)
            child = self._tracer.start_span(f"interlock.stage {stage}", context=context, start_time=at,
                                            attributes={"interlock.stage": stage})
            child.end(end_time=min(stage_end, end_ns))
            at = stage_end
        span.end(end_time=end_ns)

    def observe_feedback(self, request_id: str, model: str, score: float | None, label: str | None) -> None:
        """Feedback on a call: a ``gen_ai.evaluation.result`` event on a span of its own."""
        attributes: dict[str, Any] = {"gen_ai.evaluation.name": "user_feedback", "gen_ai.request.model": model,
                                      "interlock.request_id": request_id}
        if score is not None:
            attributes["gen_ai.evaluation.score.value"] = score
        if label is not None:
            attributes["gen_ai.evaluation.score.label"] = label
        span = self._tracer.start_span(f"evaluation {model}", attributes={"interlock.request_id": request_id})
        span.add_event("gen_ai.evaluation.result", attributes=attributes)
        span.end()

    def shutdown(self) -> None:
        self._provider.shutdown()


def _context_of(span: Any) -> Any:
    from opentelemetry import trace

    return trace.set_span_in_context(span)


def stage_names(spans: Sequence[Any]) -> list[str]:
    """The stage spans' stage names, in order of start (for tests and tools reading exported spans)."""
    stages = [s for s in spans if s.name.startswith("interlock.stage ")]
    return [s.attributes["interlock.stage"] for s in sorted(stages, key=lambda s: s.start_time)]
