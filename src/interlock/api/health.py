"""Operations: liveness, readiness (the store, the audit writer, models, policy) and Prometheus metrics."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from interlock.api.asgi import json_response
from interlock.engine import Engine

PROMETHEUS_TEXT = "text/plain; version=0.0.4; charset=utf-8"


class HealthApi:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def routes(self) -> list[Route]:
        return [
            Route("/healthz", self.healthz, methods=["GET"]),
            Route("/readyz", self.readyz, methods=["GET"]),
            Route("/metrics", self.metrics, methods=["GET"]),
        ]

    async def healthz(self, request: Request) -> Response:
        return json_response(200, {"status": "ok"})

    async def readyz(self, request: Request) -> Response:
        checks = await self._engine.readiness()
        return json_response(200 if checks["ready"] else 503, checks)

    async def metrics(self, request: Request) -> Response:
        # Starlette would append its own charset to a text media type; this one is Prometheus's, whole.
        return Response(self._engine.metrics.render(), 200, {"content-type": PROMETHEUS_TEXT})
