"""Knowledge administration over HTTP: connectors push documents with their access rules, and remove them.

``POST /admin/knowledge/{source}/documents`` stores one document (incrementally: unchanged text is not
embedded again; a changed access rule alone is applied without embedding). ``DELETE
/admin/knowledge/{source}/documents/{id}`` removes one. ``GET /admin/knowledge`` lists the sources with
their freshness. Every endpoint needs the admin role and reaches the administrator's own tenant's
sources only.
"""

from __future__ import annotations

import asyncio
from typing import Annotated, Any

import msgspec
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from interlock.api.asgi import convert, json_response, read_json
from interlock.api.auth import admin
from interlock.api.errors import request_id_of
from interlock.engine import Engine
from interlock.errors import InvalidRequest, NotFound
from interlock.identity.principal import Principal
from interlock.knowledge import AccessRule, Knowledge, SourceDocument
from interlock.knowledge.access import AccessRuleError
from interlock.settings import KnowledgeSourceSettings


class DocumentRequest(msgspec.Struct, forbid_unknown_fields=True):
    id: Annotated[str, msgspec.Meta(min_length=1, max_length=512)]
    text: str
    title: Annotated[str, msgspec.Meta(max_length=1024)] = ""
    uri: Annotated[str, msgspec.Meta(max_length=2048)] = ""
    # principals, groups, roles, tenant_wide, classification (tenant: the source's); absent: the source's default.
    access: dict[str, Any] | None = None


class KnowledgeAdminApi:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._limits = engine.settings.limits

    def routes(self) -> list[Route]:
        return [
            Route("/admin/knowledge", self.sources, methods=["GET"]),
            Route("/admin/knowledge/{source}/documents", self.put_document, methods=["POST"]),
            Route("/admin/knowledge/{source}/documents/{doc_id:path}", self.delete_document, methods=["DELETE"]),
        ]

    def _knowledge(self) -> Knowledge:
        if self._engine.knowledge is None:
            raise NotFound("No knowledge sources are declared on this gateway (knowledge.sources in the settings).")
        return self._engine.knowledge

    def _source(self, me: Principal, name: str) -> KnowledgeSourceSettings:
        source = self._knowledge().source(name)
        # Another tenant's source is answered exactly like a source that does not exist.
        if source.tenant != me.tenant:
            raise NotFound(f"There is no knowledge source {name!r}.")
        return source

    async def sources(self, request: Request) -> Response:
        me = await admin(self._engine.authenticator, request)
        knowledge = self._knowledge()
        data = [await asyncio.to_thread(knowledge.status, s.name)
                for s in knowledge.settings.sources if s.tenant == me.tenant]
        return json_response(200, {"object": "list", "data": data}, request_id_of(request))

    async def put_document(self, request: Request) -> Response:
        me = await admin(self._engine.authenticator, request)
        name: str = request.path_params["source"]
        source = self._source(me, name)
        knowledge = self._knowledge()
        req = convert(await read_json(request, self._limits.max_body_bytes, self._limits.max_json_depth),
                      DocumentRequest, "document")
        if not req.text.strip():
            raise InvalidRequest("text is blank; a document needs text to index.", param="text")
        default = knowledge.default_rule(source)
        try:
            access = default if req.access is None else AccessRule.parse(req.access, default)
        except AccessRuleError as exc:
            raise InvalidRequest(f"{exc}.", param="access") from None
        doc = SourceDocument(id=req.id, title=req.title or req.id, text=req.text, access=access, uri=req.uri,
                             media_type="text")
        outcome, embedded = await asyncio.to_thread(knowledge.put, name, doc)
        body = {"source": name, "id": doc.id, "outcome": outcome, "chunks_embedded": embedded,
                "access_version": access.version, "content_hash": doc.content_hash}
        return json_response(201 if outcome == "added" else 200, body, request_id_of(request))

    async def delete_document(self, request: Request) -> Response:
        me = await admin(self._engine.authenticator, request)
        name: str = request.path_params["source"]
        doc_id: str = request.path_params["doc_id"]
        self._source(me, name)
        if not await asyncio.to_thread(self._knowledge().delete, name, doc_id):
            raise NotFound(f"Source {name!r} has no document {doc_id!r}.")
        return json_response(200, {"source": name, "id": doc_id, "deleted": True}, request_id_of(request))
