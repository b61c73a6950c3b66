"""Stage: send the embeddings request along its route, falling back on connection errors and 5xx.

The routes are the chat pipeline's (``pipeline.forward.build_routes``): an alias reaches the same
provider, on the same pooled connections, whichever endpoint it is called on.
"""

from __future__ import annotations

import time

from interlock.errors import Refusal, UpstreamUnavailable
from interlock.pipeline.call import Call
from interlock.pipeline.forward import Route
from interlock.providers.openai_compat import Retryable


class ForwardEmbeddings:
    name = "forward"

    def __init__(self, routes: dict[str, tuple[Route, ...]]) -> None:
        self._routes = routes

    async def __call__(self, call: Call) -> None:
        last: Refusal = UpstreamUnavailable("No route is configured for this model.")
        for route in self._routes[call.model_alias]:
            body = dict(call.body)
            body["model"] = route.upstream_model
            started = time.perf_counter()
            try:
                doc = await route.upstream.embed(body)
            except Retryable as exc:
                call.attempts.append({"route": route.alias, "provider": route.upstream.name,
                                      "error": exc.refusal.code,
                                      "ms": round((time.perf_counter() - started) * 1000, 3)})
                last = exc.refusal
                continue
            finally:
                call.upstream_ms += (time.perf_counter() - started) * 1000
            usage = doc.get("usage")
            if isinstance(usage, dict) and type(usage.get("prompt_tokens")) is int:
                call.usage.prompt_tokens = usage["prompt_tokens"]
            doc["model"] = call.model_alias
            call.response = doc
            call.provider = route.upstream.name
            call.upstream_model = route.upstream_model
            if call.attempts:
                call.attempts.append({"route": route.alias, "provider": route.upstream.name, "error": None})
            return
        raise last
