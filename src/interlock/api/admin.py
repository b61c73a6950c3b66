"""Administration over HTTP: keys, the audit search, policy and its reload, scan, MCP tools.

Every endpoint needs the admin role and sees the administrator's own tenant only. Refusals and failures
(a store that is down, say) are answered by the error home with the request id.
"""

from __future__ import annotations

import time
from typing import Any

import msgspec
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from interlock.api.asgi import convert, json_response, read_json
from interlock.api.auth import admin
from interlock.api.errors import request_id_of
from interlock.engine import Engine
from interlock.errors import Forbidden, InvalidRequest, NotFound
from interlock.identity.keys import ApiKeyRecord, KeyRequestError, check_key_request, new_key
from interlock.identity.principal import Principal
from interlock.redact import ActionPolicy
from interlock.redact.report import scan_report
from interlock.store.base import RecordQuery


class KeyRequest(msgspec.Struct, forbid_unknown_fields=True):
    name: str
    principal_id: str | None = None
    kind: str = "user"
    # Default: the administrator's own tenant, the only one an administrator may create keys in.
    tenant: str | None = None
    roles: list[str] = []
    groups: list[str] = []
    may_act_for: bool = False
    # Bounds on whom an application may act for (naming any implies may_act_for).
    act_for: list[str] = []
    act_for_groups: list[str] = []
    ttl_seconds: float | None = None
    # A key for a principal that already holds keys acts as them: only on purpose (rotation), recorded.
    force: bool = False


class ExplainPrincipal(msgspec.Struct, forbid_unknown_fields=True):
    id: str
    kind: str = "user"
    roles: list[str] = []
    groups: list[str] = []

    def principal(self, tenant: str, kind: str | None = None) -> Principal:
        chosen = kind or self.kind
        if chosen not in ("user", "app", "service"):
            raise InvalidRequest("kind must be one of user, app, service.", param="kind")
        return Principal(id=self.id, kind=chosen, tenant=tenant, roles=frozenset(self.roles),  # type: ignore[arg-type]
                         groups=frozenset(self.groups))


class ExplainRequest(msgspec.Struct, forbid_unknown_fields=True):
    principal: ExplainPrincipal
    request: dict[str, Any]
    app: ExplainPrincipal | None = None
    # As a call of this use case (as if named in the use-case header), naming this prompt (NAME[@VERSION]).
    use_case: str | None = None
    prompt: str | None = None


def key_view(record: ApiKeyRecord) -> dict[str, Any]:
    p = record.principal
    return {"id": record.id, "prefix": record.prefix, "name": record.name, "principal_id": p.id,
            "kind": p.kind, "tenant": p.tenant, "roles": sorted(p.roles), "groups": sorted(p.groups),
            "may_act_for": p.may_act_for, "act_for": sorted(p.act_for_ids), "act_for_groups": sorted(p.act_for_groups),
            "created": record.created, "expires": record.expires, "revoked": record.revoked,
            "state": record.state(time.time()), "created_by": record.created_by, "forced": record.forced}


def policy_view(engine: Engine) -> dict[str, Any]:
    watchers = engine.policy_watchers
    out: dict[str, Any] = {"version": engine.policy.version, "dir": str(watchers[0].directory),
                           "last_reload": watchers[0].last_reload, "last_error": watchers[0].last_error or None}
    if len(watchers) > 1 and engine.shadow_policy is not None:
        out["shadow"] = {"version": engine.shadow_policy.version, "dir": str(watchers[1].directory),
                         "last_error": watchers[1].last_error or None}
    return out


class AdminApi:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._authenticator = engine.authenticator
        self._limits = engine.settings.limits

    def routes(self) -> list[Route]:
        return [
            Route("/admin/keys", self.list_keys, methods=["GET"]),
            Route("/admin/keys", self.create_key, methods=["POST"]),
            Route("/admin/keys/{key_id}/revoke", self.revoke_key, methods=["POST"]),
            Route("/admin/audit", self.audit, methods=["GET"]),
            Route("/admin/audit/{request_id}/proof", self.audit_proof, methods=["GET"]),
            Route("/admin/policy", self.policy, methods=["GET"]),
            Route("/admin/policy/reload", self.policy_reload, methods=["POST"]),
            Route("/admin/policy/explain", self.policy_explain, methods=["POST"]),
            Route("/admin/scan", self.scan, methods=["POST"]),
            Route("/admin/tools", self.tools, methods=["GET"]),
            Route("/admin/tools/{name}/approve", self.approve_tool, methods=["POST"]),
        ]

    async def _json(self, request: Request, *, optional: bool = False) -> dict[str, Any]:
        return await read_json(request, self._limits.max_body_bytes, self._limits.max_json_depth, optional=optional)

    # -- keys ---------------------------------------------------------------------------------

    async def list_keys(self, request: Request) -> Response:
        me = await admin(self._authenticator, request)
        keys = [k for k in await self._engine.store.list_keys() if k.principal.tenant == me.tenant]
        return json_response(200, {"object": "list", "data": [key_view(k) for k in keys]}, request_id_of(request))

    async def create_key(self, request: Request) -> Response:
        me = await admin(self._authenticator, request)
        req = convert(await self._json(request), KeyRequest, "key request")
        if req.kind not in ("user", "app", "service"):
            raise InvalidRequest("kind must be one of user, app, service.", param="kind")
        if req.tenant is not None and req.tenant != me.tenant:
            raise Forbidden(f"Administrators create keys in their own tenant ({me.tenant!r}) only.", param="tenant")
        principal = Principal(id=req.principal_id or req.name, kind=req.kind,  # type: ignore[arg-type]
                              tenant=me.tenant, roles=frozenset(req.roles), groups=frozenset(req.groups),
                              may_act_for=req.may_act_for or bool(req.act_for or req.act_for_groups), name=req.name,
                              act_for_ids=frozenset(req.act_for), act_for_groups=frozenset(req.act_for_groups))
        store = self._engine.store
        try:
            check_key_request(principal, known_roles=frozenset(self._engine.policy.engine.config.roles),
                              ttl_seconds=req.ttl_seconds, force=req.force,
                              holds_keys=await store.holds_key(principal.tenant, principal.id))
        except KeyRequestError as exc:
            raise InvalidRequest(f"The key was not created: {exc}.") from None
        key, record = new_key(req.name, principal, ttl_seconds=req.ttl_seconds, created_by=me.id, forced=req.force)
        await store.create_key(record)
        return json_response(201, {**key_view(record), "key": key}, request_id_of(request))

    async def revoke_key(self, request: Request) -> Response:
        me = await admin(self._authenticator, request)
        key_id: str = request.path_params["key_id"]
        store = self._engine.store
        # Another tenant's key is answered exactly like a key that does not exist.
        owned = any(k.id == key_id and k.principal.tenant == me.tenant for k in await store.list_keys())
        if not owned or not await store.revoke_key(key_id, time.time()):
            raise NotFound(f"No active key has the id {key_id!r}.")
        return json_response(200, {"id": key_id, "revoked": True}, request_id_of(request))

    # -- audit --------------------------------------------------------------------------------

    async def audit(self, request: Request) -> Response:
        me = await admin(self._authenticator, request)
        params = request.query_params

        def given(name: str) -> str | None:
            # A parameter left blank (``?model=``) filters on nothing, as if it were not given.
            return params.get(name) or None

        try:
            since, until, limit = given("since"), given("until"), given("limit")
            query = RecordQuery(
                since=float(since) if since is not None else None,
                until=float(until) if until is not None else None,
                principal=given("principal"), model=given("model"),
                refusal_code=given("refusal_code"), request_id=given("request_id"),
                data_class=given("data_class"), outcome=given("outcome"),
                # Administrators see their own tenant's records only.
                tenant=me.tenant,
                limit=max(1, min(1000, int(limit or "100"))),
            )
        except ValueError:
            raise InvalidRequest("since, until and limit must be numbers.") from None
        rows = await self._engine.store.query_records(query)
        return json_response(200, {"object": "list", "data": [{"seq": s, **r} for s, r in rows]},
                             request_id_of(request))

    async def audit_proof(self, request: Request) -> Response:
        """The proof bundle of one call's record under the newest signed checkpoint (docs/audit.md)."""
        me = await admin(self._authenticator, request)
        request_id: str = request.path_params["request_id"]
        # Another tenant's record is answered exactly like a record that does not exist.
        rows = await self._engine.store.query_records(RecordQuery(request_id=request_id, tenant=me.tenant, limit=1))
        if not rows:
            raise NotFound(f"No audit record has the request id {request_id!r}.")
        try:
            bundle = await self._engine.audit.prove(request_id)
        except LookupError as exc:
            raise NotFound(f"No proof yet: {exc}.") from None
        return json_response(200, bundle, request_id_of(request))

    # -- policy -------------------------------------------------------------------------------

    async def policy(self, request: Request) -> Response:
        """The versions in force; with ``?source=1``, the text of each policy file of the active set too."""
        await admin(self._authenticator, request)
        view = policy_view(self._engine)
        if request.query_params.get("source") == "1":
            directory = self._engine.policy_watchers[0].directory
            view["source"] = {str(p.relative_to(directory)): p.read_text("utf-8")
                              for p in sorted(directory.rglob("*.cedar"))}
        return json_response(200, view, request_id_of(request))

    async def policy_reload(self, request: Request) -> Response:
        """Reload in this worker now; the others notice the changed files within their poll interval."""
        await admin(self._authenticator, request)
        self._engine.reload_policies()
        view = policy_view(self._engine)
        return json_response(409 if view["last_error"] else 200, view, request_id_of(request))

    async def policy_explain(self, request: Request) -> Response:
        """What would happen to a chat request for a principal of the administrator's tenant, and why.

        {"principal": {"id", "kind", "roles", "groups"}, "app": {...} (optional), "request": {chat body},
        "use_case": NAME (optional), "prompt": NAME[@VERSION] (optional)}: the pipeline runs up to where
        the call would leave for the model; nothing is sent or recorded."""
        me = await admin(self._authenticator, request)
        req = convert(await self._json(request), ExplainRequest, "explain request")
        principal = req.principal.principal(me.tenant)
        app = req.app.principal(me.tenant, kind="app") if req.app is not None else None
        body = msgspec.json.encode(req.request)
        explained = await self._engine.explain(body, principal, app, use_case=req.use_case, prompt=req.prompt)
        return json_response(200, explained, request_id_of(request))

    async def scan(self, request: Request) -> Response:
        """Findings and redacted text for {"text": ...}; spans and classes only, never echoing values."""
        await admin(self._authenticator, request)
        doc = await self._json(request)
        text = doc.get("text")
        if not isinstance(text, str):
            raise InvalidRequest("Send {\"text\": \"...\"}.", param="text")
        result = scan_report(text, self._engine.detector, ActionPolicy({}, default="redact"))
        return json_response(200, result, request_id_of(request))

    # -- MCP tools ----------------------------------------------------------------------------

    async def tools(self, request: Request) -> Response:
        """The tool registry with each MCP tool's pin: pinned, changed (needs re-approval), unavailable."""
        await admin(self._authenticator, request)
        mcp = self._engine.mcp
        if mcp is None:
            data = [{"name": t.name, "server": None, "state": "not_proxied"} for t in self._engine.tools]
        else:
            data = await mcp.tool_states(definitions=request.query_params.get("definitions") == "1")
        return json_response(200, {"object": "list", "data": data}, request_id_of(request))

    async def approve_tool(self, request: Request) -> Response:
        """Accept an MCP tool's current definition: {"digest": ...} (optional) approves only that one."""
        me = await admin(self._authenticator, request)
        name: str = request.path_params["name"]
        mcp = self._engine.mcp
        if mcp is None:
            raise NotFound(f"There is no MCP tool {name!r}: the MCP gateway is off.")
        doc = await self._json(request, optional=True)
        digest = doc.get("digest")
        if digest is not None and not isinstance(digest, str):
            raise InvalidRequest("digest must be a string (sha256:...).", param="digest")
        view = await mcp.approve(name, me.id, me.tenant, digest)
        return json_response(200, view, request_id_of(request))
