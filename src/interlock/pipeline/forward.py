"""Stage: send the call to its route, falling back along the chain on connection errors and 5xx."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from interlock.errors import Refusal, UpstreamUnavailable
from interlock.pipeline.call import Call
from interlock.providers.openai_compat import OpenAIUpstream, Retryable
from interlock.settings import ModelSettings


@dataclass(frozen=True, slots=True)
class Route:
    alias: str
    upstream: OpenAIUpstream
    upstream_model: str


def build_routes(models: dict[str, ModelSettings], upstreams: dict[str, OpenAIUpstream]) -> dict[str, tuple[Route, ...]]:
    """Each alias's ordered chain of routes: itself first, then its fallbacks."""
    def route(alias: str) -> Route:
        m = models[alias]
        return Route(alias, upstreams[m.provider], m.upstream_model)

    return {alias: (route(alias), *(route(fb) for fb in m.fallbacks)) for alias, m in models.items()}


def _usage_from(doc: dict[str, Any], call: Call) -> None:
    usage = doc.get("usage")
    if isinstance(usage, dict):
        p, c = usage.get("prompt_tokens"), usage.get("completion_tokens")
        if isinstance(p, int):
            call.usage.prompt_tokens = p
        if isinstance(c, int):
            call.usage.completion_tokens = c
        details = usage.get("prompt_tokens_details")
        if isinstance(details, dict) and isinstance(details.get("cached_tokens"), int):
            call.usage.cached_tokens = details["cached_tokens"]


def _text_chars(choices: list[Any]) -> int:
    """Characters of answer text (and tool-call arguments) in a chunk's deltas."""
    n = 0
    for choice in choices:
        delta = choice.get("delta") if isinstance(choice, dict) else None
        if not isinstance(delta, dict):
            continue
        content = delta.get("content")
        if isinstance(content, str):
            n += len(content)
        for tool_call in delta.get("tool_calls") or ():
            fn = tool_call.get("function") if isinstance(tool_call, dict) else None
            if isinstance(fn, dict) and isinstance(fn.get("arguments"), str):
                n += len(fn["arguments"])
    return n


class Forward:
    name = "forward"

    def __init__(self, routes: dict[str, tuple[Route, ...]]) -> None:
        self._routes = routes

    async def __call__(self, call: Call) -> None:
        if call.response is not None or call.stream_iter is not None:
            return  # answered without the model (an approved tool call resumed)
        chain = self._routes[call.model_alias]
        last: Refusal = UpstreamUnavailable("No route is configured for this model.")
        for route in chain:
            body = dict(call.body)
            body["model"] = route.upstream_model
            if call.stream:
                # Ask for usage always, so the record has token counts; the client sees it only if asked.
                opts = dict(body.get("stream_options") or {})
                opts["include_usage"] = True
                body["stream_options"] = opts
            started = time.perf_counter()
            try:
                if call.stream:
                    stream = await route.upstream.open_stream(body)
                    call.stream_iter = self._track_stream(call, stream)
                else:
                    call.response = await route.upstream.complete(body)
                    _usage_from(call.response, call)
                    call.response["model"] = call.model_alias
                    choices = call.response.get("choices") or [{}]
                    if isinstance(choices[0], dict):
                        call.finish_reason = str(choices[0].get("finish_reason") or "")
            except Retryable as exc:
                call.attempts.append({"route": route.alias, "provider": route.upstream.name,
                                      "error": exc.refusal.code,
                                      "ms": round((time.perf_counter() - started) * 1000, 3)})
                last = exc.refusal
                continue
            finally:
                call.upstream_ms += (time.perf_counter() - started) * 1000
            call.provider = route.upstream.name
            call.upstream_model = route.upstream_model
            if call.attempts:
                call.attempts.append({"route": route.alias, "provider": route.upstream.name, "error": None})
            return
        raise last

    async def _track_stream(self, call: Call, stream: AsyncIterator[dict[str, Any]]) -> AsyncIterator[dict[str, Any]]:
        try:
            async for chunk in stream:
                chunk["model"] = call.model_alias
                if chunk.get("usage"):
                    _usage_from(chunk, call)
                    if not chunk.get("choices") and not call.client_wants_usage:
                        continue
                    if not call.client_wants_usage:
                        chunk.pop("usage", None)
                choices = chunk.get("choices")
                if choices:
                    call.streamed_chars += _text_chars(choices)
                if choices and isinstance(choices[0], dict) and choices[0].get("finish_reason"):
                    call.finish_reason = str(choices[0]["finish_reason"])
                yield chunk
        except Retryable as exc:
            # Too late to fall back once chunks went out: the caller gets the provider's failure as such.
            raise exc.refusal from None
