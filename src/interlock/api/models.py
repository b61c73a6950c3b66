"""``GET /v1/models``: the models this caller may use, as the OpenAI SDKs list them."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from interlock.api.asgi import json_response
from interlock.api.auth import identify
from interlock.api.errors import request_id_of
from interlock.engine import Engine


class ModelsApi:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def routes(self) -> list[Route]:
        return [Route("/v1/models", self.models, methods=["GET"])]

    async def models(self, request: Request) -> Response:
        identity = await identify(self._engine.authenticator, request)
        data = [{"id": m.alias, "object": "model", "created": 0, "owned_by": m.provider}
                for m in self._engine.visible_models(identity.principal, identity.app)]
        return json_response(200, {"object": "list", "data": data}, request_id_of(request))
