"""``GET /v1/models`` and ``GET /v1/models/{id}``: the models this caller may use, as the OpenAI SDKs list
and retrieve them, or in Anthropic's shapes when the caller sends Anthropic's version header."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from interlock.api.asgi import json_response
from interlock.api.auth import identify
from interlock.api.errors import request_id_of, speaks_anthropic
from interlock.engine import Engine
from interlock.errors import ModelNotFound
from interlock.settings import ModelSettings

# The models carry no creation time; Anthropic's shape requires one.
EPOCH = "1970-01-01T00:00:00Z"


class ModelsApi:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def routes(self) -> list[Route]:
        return [Route("/v1/models", self.models, methods=["GET"]),
                Route("/v1/models/{model_id:path}", self.model, methods=["GET"])]

    async def _visible(self, request: Request) -> list[ModelSettings]:
        identity = await identify(self._engine.authenticator, request)
        return self._engine.visible_models(identity.principal, identity.app)

    async def models(self, request: Request) -> Response:
        models = await self._visible(request)
        if speaks_anthropic(request.scope):
            # Anthropic's list shape, one page holding every model.
            listed = [_anthropic(m) for m in models]
            return _answer(request, {"data": listed, "has_more": False,
                                     "first_id": listed[0]["id"] if listed else None,
                                     "last_id": listed[-1]["id"] if listed else None})
        return _answer(request, {"object": "list", "data": [_openai(m) for m in models]})

    async def model(self, request: Request) -> Response:
        alias = request.path_params["model_id"]
        found = [m for m in await self._visible(request) if m.alias == alias]
        if not found:
            # The same answer for a model that does not exist and one this caller may not use.
            raise ModelNotFound(f"There is no model {alias!r} for you; GET /v1/models lists yours.")
        return _answer(request, _anthropic(found[0]) if speaks_anthropic(request.scope) else _openai(found[0]))


def _openai(m: ModelSettings) -> dict[str, Any]:
    return {"id": m.alias, "object": "model", "created": 0, "owned_by": m.provider}


def _anthropic(m: ModelSettings) -> dict[str, Any]:
    return {"type": "model", "id": m.alias, "display_name": m.alias, "created_at": EPOCH}


def _answer(request: Request, doc: dict[str, Any]) -> Response:
    request_id = request_id_of(request)
    response = json_response(200, doc, request_id)
    if speaks_anthropic(request.scope):
        response.headers["request-id"] = request_id
    return response
