"""The ASGI app: a thin HTTP shell over the engine.

Routing is a dictionary look-up on (method, path): the chat endpoint is the hot path and pays for
nothing it does not use. ``create_app`` is the factory the server calls in every worker process.
"""

from __future__ import annotations

import gc
import logging
import os
import sys
import time
from pathlib import Path
from typing import Any

import msgspec

from interlock.approvals.http import ApprovalsApi
from interlock.engine import Engine, new_request_id
from interlock.errors import (
    Forbidden,
    InternalFailure,
    InvalidRequest,
    NotFound,
    PayloadTooLarge,
    Refusal,
    RequestTimeout,
)
from interlock.http import (
    ASGIApp,
    ClientGone,
    Receive,
    Scope,
    Send,
    encode,
    error_document,
    headers_of,
    read_request_body,
    send_error,
    send_event,
    send_json,
    send_text,
    start_sse,
)
from interlock.identity.keys import new_key
from interlock.identity.principal import Principal
from interlock.pipeline.call import Call
from interlock.pipeline.parse import decode_json_object
from interlock.redact import ActionPolicy
from interlock.redact.report import scan_report
from interlock.settings import ConfigError, Settings, load_settings
from interlock.store.base import RecordQuery

log = logging.getLogger("interlock.app")

CONFIG_ENV = "INTERLOCK_CONFIG"
ADMIN_ROLE = "admin"


class KeyRequest(msgspec.Struct, forbid_unknown_fields=True):
    name: str
    principal_id: str | None = None
    kind: str = "user"
    # Default: the administrator's own tenant, the only one an administrator may create keys in.
    tenant: str | None = None
    roles: list[str] = []
    groups: list[str] = []
    may_act_for: bool = False
    ttl_seconds: float | None = None


def key_view(record: Any) -> dict[str, Any]:
    p = record.principal
    return {"id": record.id, "prefix": record.prefix, "name": record.name, "principal_id": p.id,
            "kind": p.kind, "tenant": p.tenant, "roles": sorted(p.roles), "groups": sorted(p.groups),
            "may_act_for": p.may_act_for, "created": record.created, "expires": record.expires,
            "revoked": record.revoked, "state": record.state(time.time())}


class InterlockApp:
    def __init__(self, engine: Engine, mock: ASGIApp | None = None) -> None:
        self.engine = engine
        self.settings: Settings = engine.settings
        self._mock = mock
        self._limit = self.settings.limits.max_body_bytes
        self._routes = {
            ("POST", "/v1/chat/completions"): self.chat,
            ("GET", "/v1/models"): self.models,
            ("GET", "/healthz"): self.healthz,
            ("GET", "/readyz"): self.readyz,
            ("GET", "/metrics"): self.metrics,
            ("GET", "/admin/keys"): self.admin_list_keys,
            ("POST", "/admin/keys"): self.admin_create_key,
            ("GET", "/admin/audit"): self.admin_audit,
            ("GET", "/admin/policy"): self.admin_policy,
            ("POST", "/admin/policy/reload"): self.admin_policy_reload,
            ("POST", "/admin/scan"): self.admin_scan,
            ("GET", "/admin/tools"): self.admin_tools,
        }
        self.approvals_api = ApprovalsApi(engine, self._authenticated)
        self._routes.update(self.approvals_api.routes)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind == "lifespan":
            await self._lifespan(receive, send)
            return
        if kind != "http":
            return
        path: str = scope["path"]
        if self._mock is not None and path.startswith("/_mock/"):
            await self._mock({**scope, "path": path[len("/_mock"):]}, receive, send)
            return
        if path in ("/mcp", "/mcp/"):
            await self.mcp(scope, receive, send)
            return
        handler = self._routes.get((scope["method"], path))
        if handler is None and scope["method"] == "POST" and path.startswith("/admin/keys/") \
                and path.endswith("/revoke"):
            handler = self.admin_revoke_key
        if handler is None and scope["method"] == "POST" and path.startswith("/admin/tools/") \
                and path.endswith("/approve"):
            handler = self.admin_approve_tool
        if handler is None:
            handler = self.approvals_api.match(scope["method"], path)
        if handler is None:
            known = any(p == path for _, p in self._routes)
            err: Refusal = InvalidRequest(f"{scope['method']} is not allowed on {path}.", status=405) if known \
                else NotFound(f"There is no endpoint at {path}.")
            await send_error(send, err, new_request_id())
            return
        try:
            await handler(scope, receive, send)
        except ClientGone:
            return

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            msg = await receive()
            if msg["type"] == "lifespan.startup":
                try:
                    await self.engine.start()
                except Exception as exc:
                    log.exception("start-up failed")
                    await send({"type": "lifespan.startup.failed", "message": str(exc)})
                    return
                # Everything built at start-up lives as long as the worker: moved out of the collector's
                # sight, it is not walked again by every full collection.
                gc.collect()
                gc.freeze()
                await send({"type": "lifespan.startup.complete"})
            elif msg["type"] == "lifespan.shutdown":
                await self.engine.stop()
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def _body(self, scope: Scope, receive: Receive) -> bytes:
        return await read_request_body(scope, receive, self._limit)

    # -- the model endpoint -------------------------------------------------------------------

    async def chat(self, scope: Scope, receive: Receive, send: Send) -> None:
        # Counted while under way: the audit writer lets the loop serve them while a commit waits for the disk.
        writer = self.engine.writer
        writer.in_flight += 1
        try:
            await self._chat(scope, receive, send)
        finally:
            writer.in_flight -= 1

    async def _chat(self, scope: Scope, receive: Receive, send: Send) -> None:
        headers = headers_of(scope)
        try:
            raw = await self._body(scope, receive)
        except (PayloadTooLarge, InvalidRequest, RequestTimeout) as bad_body:
            call = self.engine.new_call("chat.completions", b"", headers)
            self.engine.pipeline.refuse(call, bad_body)
            failed = await self.engine.pipeline.finish(call)
            await send_error(send, failed or bad_body, call.request_id)
            return
        call = self.engine.new_call("chat.completions", raw, headers)
        refused = await self.engine.chat(call)
        if refused is not None:
            await send_error(send, refused, call.request_id)
            return
        if call.stream_iter is None:
            await send_json(send, 200, call.response, call.request_id)
            return
        await self._stream(call, send)

    async def _stream(self, call: Call, send: Send) -> None:
        await start_sse(send, call.request_id)
        assert call.stream_iter is not None
        raised: Refusal | None = None
        try:
            async for chunk in call.stream_iter:
                await send_event(send, encode(chunk))
        except Refusal as refusal:
            raised = refusal
            self.engine.pipeline.refuse(call, refusal)
        except Exception:
            log.exception("stream of %s failed", call.request_id)
            self.engine.pipeline.refuse(call, InternalFailure(
                f"The stream failed mid-way. Quote request id {call.request_id} to your administrator."))
        failed = await self.engine.pipeline.finish(call)
        if failed is not None and not call.refusal_code:
            self.engine.pipeline.refuse(call, failed)
        if call.refusal_code:
            # The refusal as raised keeps its error type (a blocked answer is a permission error).
            err = raised if raised is not None and raised.code == call.refusal_code else Refusal(
                call.refusal_message, code=call.refusal_code, status=call.status)
            await send_event(send, encode(error_document(err, call.request_id)), more=False)
            return
        await send_event(send, b"[DONE]", more=False)

    async def _authenticated(self, scope: Scope) -> tuple[Principal, Principal | None]:
        ident = await self.engine.authenticator.identify(headers_of(scope))
        return ident.principal, ident.app

    async def models(self, scope: Scope, receive: Receive, send: Send) -> None:
        request_id = new_request_id()
        try:
            principal, app = await self._authenticated(scope)
        except Refusal as refusal:
            await send_error(send, refusal, request_id)
            return
        data = [{"id": m.alias, "object": "model", "created": 0, "owned_by": m.provider}
                for m in self.engine.visible_models(principal, app)]
        await send_json(send, 200, {"object": "list", "data": data}, request_id)

    # -- operations ---------------------------------------------------------------------------

    async def healthz(self, scope: Scope, receive: Receive, send: Send) -> None:
        await send_json(send, 200, {"status": "ok"})

    async def readyz(self, scope: Scope, receive: Receive, send: Send) -> None:
        checks = await self.engine.readiness()
        await send_json(send, 200 if checks["ready"] else 503, checks)

    async def metrics(self, scope: Scope, receive: Receive, send: Send) -> None:
        await send_text(send, 200, self.engine.metrics.render(), b"text/plain; version=0.0.4; charset=utf-8")

    # -- administration -----------------------------------------------------------------------

    async def _admin(self, scope: Scope, send: Send, request_id: str) -> Principal | None:
        try:
            principal, _ = await self._authenticated(scope)
            if ADMIN_ROLE not in principal.roles:
                raise Forbidden("This endpoint needs the admin role.")
        except Refusal as refusal:
            await send_error(send, refusal, request_id)
            return None
        return principal

    async def admin_list_keys(self, scope: Scope, receive: Receive, send: Send) -> None:
        request_id = new_request_id()
        admin = await self._admin(scope, send, request_id)
        if admin is None:
            return
        keys = [k for k in await self.engine.store.list_keys() if k.principal.tenant == admin.tenant]
        await send_json(send, 200, {"object": "list", "data": [key_view(k) for k in keys]}, request_id)

    async def admin_create_key(self, scope: Scope, receive: Receive, send: Send) -> None:
        request_id = new_request_id()
        admin = await self._admin(scope, send, request_id)
        if admin is None:
            return
        try:
            doc = decode_json_object(await self._body(scope, receive), self.settings.limits.max_json_depth)
            req = msgspec.convert(doc, KeyRequest)
            if req.kind not in ("user", "app", "service"):
                raise InvalidRequest("kind must be one of user, app, service.", param="kind")
            if req.tenant is not None and req.tenant != admin.tenant:
                raise Forbidden(f"Administrators create keys in their own tenant ({admin.tenant!r}) only.",
                                param="tenant")
        except msgspec.ValidationError as exc:
            await send_error(send, InvalidRequest(f"Invalid key request: {exc}."), request_id)
            return
        except Refusal as refusal:
            await send_error(send, refusal, request_id)
            return
        principal = Principal(id=req.principal_id or req.name, kind=req.kind,  # type: ignore[arg-type]
                              tenant=admin.tenant, roles=frozenset(req.roles), groups=frozenset(req.groups),
                              may_act_for=req.may_act_for, name=req.name)
        key, record = new_key(req.name, principal, ttl_seconds=req.ttl_seconds)
        await self.engine.store.create_key(record)
        await send_json(send, 201, {**key_view(record), "key": key}, request_id)

    async def admin_revoke_key(self, scope: Scope, receive: Receive, send: Send) -> None:
        request_id = new_request_id()
        admin = await self._admin(scope, send, request_id)
        if admin is None:
            return
        key_id = scope["path"][len("/admin/keys/"):-len("/revoke")]
        # Another tenant's key is answered exactly like a key that does not exist.
        owned = any(k.id == key_id and k.principal.tenant == admin.tenant for k in await self.engine.store.list_keys())
        if not owned or not await self.engine.store.revoke_key(key_id, time.time()):
            await send_error(send, NotFound(f"No active key has the id {key_id!r}."), request_id)
            return
        await send_json(send, 200, {"id": key_id, "revoked": True}, request_id)

    async def admin_policy(self, scope: Scope, receive: Receive, send: Send) -> None:
        request_id = new_request_id()
        if await self._admin(scope, send, request_id) is None:
            return
        await send_json(send, 200, _policy_view(self.engine), request_id)

    async def admin_policy_reload(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Reload in this worker now; the others notice the changed files within their poll interval."""
        request_id = new_request_id()
        if await self._admin(scope, send, request_id) is None:
            return
        for watcher in self.engine.policy_watchers:
            watcher.reload()
        view = _policy_view(self.engine)
        await send_json(send, 409 if view["last_error"] else 200, view, request_id)

    async def admin_scan(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Findings and redacted text for {"text": ...}; spans and classes only, never echoing values."""
        request_id = new_request_id()
        if await self._admin(scope, send, request_id) is None:
            return
        try:
            doc = decode_json_object(await self._body(scope, receive), self.settings.limits.max_json_depth)
            text = doc.get("text")
            if not isinstance(text, str):
                raise InvalidRequest("Send {\"text\": \"...\"}.", param="text")
            result = scan_report(text, self.engine.detector, ActionPolicy({}, default="redact"))
        except Refusal as refusal:
            await send_error(send, refusal, request_id)
            return
        await send_json(send, 200, result, request_id)

    # -- MCP ------------------------------------------------------------------------------------

    async def mcp(self, scope: Scope, receive: Receive, send: Send) -> None:
        """The MCP gateway (streamable HTTP); it authenticates every request itself."""
        if self.engine.mcp is None:
            await send_error(send, NotFound("The MCP gateway is off: declare upstream servers under mcp.servers "
                                            "in the settings."), new_request_id())
            return
        try:
            await self.engine.mcp(scope, receive, send)
        except ClientGone:
            return

    async def admin_tools(self, scope: Scope, receive: Receive, send: Send) -> None:
        """The tool registry with each MCP tool's pin: pinned, changed (needs re-approval), unavailable."""
        request_id = new_request_id()
        if await self._admin(scope, send, request_id) is None:
            return
        if self.engine.mcp is None:
            data = [{"name": t.name, "server": None, "state": "not_proxied"} for t in self.engine.tools]
        else:
            data = await self.engine.mcp.tool_states(definitions=_query_params(scope).get("definitions") == "1")
        await send_json(send, 200, {"object": "list", "data": data}, request_id)

    async def admin_approve_tool(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Accept an MCP tool's current definition: {"digest": ...} (optional) approves only that one."""
        request_id = new_request_id()
        admin = await self._admin(scope, send, request_id)
        if admin is None:
            return
        name = scope["path"][len("/admin/tools/"):-len("/approve")]
        try:
            if self.engine.mcp is None:
                raise NotFound(f"There is no MCP tool {name!r}: the MCP gateway is off.")
            raw = await self._body(scope, receive)
            doc = decode_json_object(raw, self.settings.limits.max_json_depth) if raw.strip() else {}
            digest = doc.get("digest")
            if digest is not None and not isinstance(digest, str):
                raise InvalidRequest("digest must be a string (sha256:...).", param="digest")
            view = await self.engine.mcp.approve(name, admin.id, admin.tenant, digest)
        except Refusal as refusal:
            await send_error(send, refusal, request_id)
            return
        await send_json(send, 200, view, request_id)

    async def admin_audit(self, scope: Scope, receive: Receive, send: Send) -> None:
        request_id = new_request_id()
        admin = await self._admin(scope, send, request_id)
        if admin is None:
            return
        params = _query_params(scope)
        try:
            query = RecordQuery(
                since=float(params["since"]) if "since" in params else None,
                until=float(params["until"]) if "until" in params else None,
                principal=params.get("principal"), model=params.get("model"),
                refusal_code=params.get("refusal_code"), request_id=params.get("request_id"),
                data_class=params.get("data_class"), outcome=params.get("outcome"),
                # Administrators see their own tenant's records only.
                tenant=admin.tenant,
                limit=max(1, min(1000, int(params.get("limit", "100")))),
            )
        except ValueError:
            await send_error(send, InvalidRequest("since, until and limit must be numbers."), request_id)
            return
        rows = await self.engine.store.query_records(query)
        await send_json(send, 200, {"object": "list", "data": [{"seq": s, **r} for s, r in rows]}, request_id)


def _policy_view(engine: Engine) -> dict[str, Any]:
    watchers = engine.policy_watchers
    out: dict[str, Any] = {"version": engine.policy.version, "dir": str(watchers[0].directory),
                           "last_reload": watchers[0].last_reload, "last_error": watchers[0].last_error or None}
    if len(watchers) > 1 and engine.shadow_policy is not None:
        out["shadow"] = {"version": engine.shadow_policy.version, "dir": str(watchers[1].directory),
                         "last_error": watchers[1].last_error or None}
    return out


def _query_params(scope: Scope) -> dict[str, str]:
    from urllib.parse import parse_qsl

    return dict(parse_qsl(scope.get("query_string", b"").decode("latin-1")))


def build_app(settings: Settings) -> InterlockApp:
    mock: ASGIApp | None = None
    if settings.server.mount_mock:
        from interlock.providers.mock import build_mock_app

        mock = build_mock_app()
    return InterlockApp(Engine(settings), mock)


# How long a thread that wants the GIL waits before the running one is made to let go (Python's
# default is 5 ms). The store's writer thread needs the GIL back after every statement it runs; on a
# busy event loop, the default would add milliseconds to each commit, which every call waits for.
SWITCH_INTERVAL_SECONDS = 0.0005
GC_YOUNG_THRESHOLD = 5000


def create_app() -> InterlockApp:
    """Factory for the server: settings come from the file named in ``INTERLOCK_CONFIG``."""
    sys.setswitchinterval(SWITCH_INTERVAL_SECONDS)
    # A call allocates a few hundred container objects and frees nearly all of them by reference
    # counting; with the default threshold (700) the collector still ran every twenty calls or so.
    gc.set_threshold(GC_YOUNG_THRESHOLD, 10, 10)
    path = os.environ.get(CONFIG_ENV)
    try:
        return build_app(load_settings(Path(path) if path else None))
    except ConfigError as exc:
        # Settings that cannot serve (a policy set that does not load, a bad detector pattern) stop
        # the worker with the problem as written, not a traceback.
        sys.stderr.write(f"interlock: cannot start: {exc}\n")
        sys.stderr.flush()
        raise SystemExit(1) from None
