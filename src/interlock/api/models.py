"""``GET /v1/models``: the models this caller may use, as the OpenAI SDKs list them, or in Anthropic's list
shape when the caller sends Anthropic's version header."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from interlock.api.asgi import json_response
from interlock.api.auth import identify
from interlock.api.errors import request_id_of, speaks_anthropic
from interlock.engine import Engine

# The models carry no creation time; Anthropic's shape requires one.
EPOCH = "1970-01-01T00:00:00Z"


class ModelsApi:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def routes(self) -> list[Route]:
        return [Route("/v1/models", self.models, methods=["GET"])]

    async def models(self, request: Request) -> Response:
        identity = await identify(self._engine.authenticator, request)
        models = self._engine.visible_models(identity.principal, identity.app)
        request_id = request_id_of(request)
        if speaks_anthropic(request.scope):
            # Anthropic's list shape, one page holding every model.
            listed = [{"type": "model", "id": m.alias, "display_name": m.alias, "created_at": EPOCH} for m in models]
            response = json_response(200, {"data": listed, "has_more": False,
                                           "first_id": listed[0]["id"] if listed else None,
                                           "last_id": listed[-1]["id"] if listed else None}, request_id)
            response.headers["request-id"] = request_id
            return response
        data = [{"id": m.alias, "object": "model", "created": 0, "owned_by": m.provider} for m in models]
        return json_response(200, {"object": "list", "data": data}, request_id)
