"""``POST /v1/embeddings``: the OpenAI embeddings endpoint, through the engine's embeddings pipeline.

A routed endpoint: the error home gives the request its id, which is also the call's, so the error a
caller sees and the call record carry the same one. Every call is recorded, refusals included (a
body too large or not JSON as well).
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from interlock.api.asgi import headers_of, json_response, read_request_body
from interlock.api.calls import guarded
from interlock.api.errors import request_id_of
from interlock.engine import Engine
from interlock.errors import Refusal
from interlock.pipeline.authorize import EMBEDDINGS_ENDPOINT
from interlock.pipeline.call import Call

EMBEDDINGS_PATH = "/v1/embeddings"


class EmbeddingsApi:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._limit = engine.settings.limits.max_body_bytes

    def routes(self) -> list[Route]:
        return [Route(EMBEDDINGS_PATH, self.embeddings, methods=["POST"])]

    async def embeddings(self, request: Request) -> Response:
        # Counted while under way: the audit writer lets the loop serve them while a commit waits for the disk.
        writer = self._engine.writer
        writer.in_flight += 1
        try:
            return await self._embeddings(request)
        finally:
            writer.in_flight -= 1

    async def _embeddings(self, request: Request) -> Response:
        engine = self._engine
        request_id = request_id_of(request)
        headers = headers_of(request.scope)
        try:
            raw = await read_request_body(request.scope, request.receive, self._limit, headers)
        except Refusal as bad_body:
            call = Call(request_id=request_id, endpoint=EMBEDDINGS_ENDPOINT, raw_body=b"", headers=headers)
            engine.embeddings.refuse(call, bad_body)
            raise await engine.embeddings.finish(call) or bad_body from None
        call = Call(request_id=request_id, endpoint=EMBEDDINGS_ENDPOINT, raw_body=raw, headers=headers)
        refused = await guarded(engine.embed(call), request_id)
        if refused is not None:
            raise refused
        return json_response(200, call.response, request_id, call.response_headers)
