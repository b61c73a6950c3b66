"""``POST /v1/retrieve``: governed retrieval on its own, passages with citations and scores.

The caller is identified like any call; the passages are those its access rights admit in every index
leg and Cedar's ``read_document`` confirms, each scanned like a prompt (values replaced by their class
label, or as decided for ``model`` when the request names one). Every retrieval is recorded, refusals
included: sources, documents, chunks, access-rule versions and decisions, never text.
"""

from __future__ import annotations

from typing import Annotated

import msgspec
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from interlock.api.asgi import convert, headers_of, json_response, read_json
from interlock.api.auth import identify
from interlock.api.errors import request_id_of
from interlock.engine import Engine
from interlock.errors import InvalidRequest, ModelNotFound, NotFound, Refusal
from interlock.pipeline.call import Call
from interlock.pipeline.knowledge import retrieve

RETRIEVE_PATH = "/v1/retrieve"
RETRIEVE_ENDPOINT = "knowledge.retrieve"


class RetrieveRequest(msgspec.Struct, forbid_unknown_fields=True):
    query: Annotated[str, msgspec.Meta(min_length=1, max_length=8192)]
    sources: Annotated[list[Annotated[str, msgspec.Meta(min_length=1, max_length=64)]],
                       msgspec.Meta(min_length=1, max_length=16)] | None = None
    top_k: Annotated[int, msgspec.Meta(ge=1, le=100)] | None = None
    # Redact the passages as they would be redacted on their way to this model.
    model: Annotated[str, msgspec.Meta(min_length=1, max_length=256)] | None = None


class RetrieveApi:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._limits = engine.settings.limits

    def routes(self) -> list[Route]:
        return [Route(RETRIEVE_PATH, self.retrieve, methods=["POST"])]

    async def retrieve(self, request: Request) -> Response:
        engine = self._engine
        request_id = request_id_of(request)
        call = Call(request_id=request_id, endpoint=RETRIEVE_ENDPOINT, raw_body=b"", headers=headers_of(request.scope))
        try:
            data = await self._retrieve(request, call)
        except Refusal as refusal:
            call.status, call.refusal_code, call.refusal_message = refusal.status, refusal.code, refusal.message
            failed = await engine.writer.record(call.record(), None)
            raise failed or refusal from None
        failed = await engine.writer.record(call.record(), None)
        if failed is not None:
            raise failed
        return json_response(200, {"object": "list", "data": data, "request_id": request_id}, request_id)

    async def _retrieve(self, request: Request, call: Call) -> list[dict[str, object]]:
        engine = self._engine
        identity = await identify(engine.authenticator, request)
        call.principal, call.app, call.auth_method = identity.principal, identity.app, identity.method
        knowledge = engine.knowledge
        if knowledge is None:
            raise NotFound("Governed retrieval is off on this gateway: no knowledge sources are declared "
                           "(knowledge.sources in the settings).")
        req = convert(await read_json(request, self._limits.max_body_bytes, self._limits.max_json_depth),
                      RetrieveRequest, "retrieve request")
        if not req.query.strip():
            raise InvalidRequest("query is blank; send the text to look for.", param="query")
        if req.model is not None:
            if req.model not in engine.models:
                raise ModelNotFound(f"Unknown model {req.model!r}; GET /v1/models lists the models you may use.",
                                    param="model")
            call.model_alias = req.model
        passages = await retrieve(call, knowledge, engine.guard, req.query, req.sources, req.top_k, req.model)
        return [{"object": "passage", "text": text, "score": round(p.score, 6), "ranks": p.ranks,
                 "citation": p.citation(n)} for n, (p, text) in enumerate(passages, 1)]
