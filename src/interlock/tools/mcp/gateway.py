"""The MCP gateway at ``/mcp``: one MCP server (streamable HTTP) in front of the upstream MCP servers.

Every HTTP request is authenticated with the gateway's keys or JWTs before the MCP layer sees it.
``tools/list`` offers a caller the registry tools whose pinned definition still matches and that
policy would let this caller call with some arguments. ``tools/call`` belongs to a use case where the
deployment has them (named in the use-case header or bound to the caller's application, as a chat call
does; policy sees it as ``context.use_case``), passes the tool gate (registry, argument schemas, data
classes, Cedar), waits for a person when policy holds it, runs on the upstream server, and its result
is scanned and masked before the caller sees it. Every call, allowed, refused
or held, is an audit record, durable before the answer leaves.

The MCP server runs stateless: every request carries its own credentials and is served by whichever
worker receives it, so several workers (and several instances) need no shared session state.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from importlib.metadata import PackageNotFoundError, version
from typing import Any

import anyio
import mcp_types as types
from jsonschema import Draft202012Validator
from mcp.server.context import ServerRequestContext
from mcp.server.lowlevel import Server
from mcp.server.streamable_http_manager import StreamableHTTPSessionManager
from mcp.shared.exceptions import MCPError
from mcp_types import INTERNAL_ERROR, INVALID_PARAMS
from starlette.types import Receive, Scope, Send

from interlock.approvals.service import ApprovalService, approval_state_refusal
from interlock.audit.writer import AuditWriter
from interlock.detect.finding import Finding
from interlock.detect.injection import PromptInjectionRecognizer
from interlock.errors import InternalFailure, Refusal, ServiceUnavailable
from interlock.identity.authenticator import Authenticator, Identity
from interlock.identity.principal import Principal
from interlock.ids import REQUEST_ID_SCOPE_KEY, new_request_id
from interlock.policy.decision import UseCaseFacts
from interlock.policy.holder import PolicyHolder
from interlock.redact import mask_json
from interlock.settings import McpSettings
from interlock.store.base import Store
from interlock.tasks import cancel_and_wait
from interlock.tools.gate import TOOL_ARGUMENTS_INVALID, TOOL_UNKNOWN, ToolGate, ToolVerdict
from interlock.tools.mcp.catalog import McpCatalog
from interlock.tools.mcp.pins import PinBook, PinCheck
from interlock.tools.mcp.record import CLIENT_CLOSED, McpCall, Timer
from interlock.tools.mcp.result import ResultBlocked, ResultInspector
from interlock.tools.mcp.upstream import Upstream, UpstreamTool
from interlock.tools.registry import ToolRegistry, compile_schema

log = logging.getLogger("interlock.mcp")

IDENTITY_KEY = "interlock.identity"
# A client may name the approval it is retrying in the request's _meta (the id comes with approval_pending).
APPROVAL_META_KEY = "interlock/approval_id"

# JSON-RPC error codes (implementation-defined range). ``data.code`` carries the stable refusal code.
REFUSED = -32010
APPROVAL_PENDING = -32011
UPSTREAM_FAILED = -32012
_INVALID_PARAMS_CODES = frozenset({TOOL_UNKNOWN, TOOL_ARGUMENTS_INVALID})
_UPSTREAM_CODES = frozenset({"upstream_unavailable", "upstream_timeout", "upstream_error", "tool_not_served"})
_VERDICT_STATUS = {TOOL_UNKNOWN: 404, TOOL_ARGUMENTS_INVALID: 400}

# Which use case a call belongs to, from its caller and headers (None: none); raises a refusal when the
# header names one the caller may not use, or a call must belong to one and does not.
BindUseCase = Callable[[Principal, Principal | None, dict[str, str]], UseCaseFacts | None]


def _package_version() -> str:
    try:
        return version("interlock")
    except PackageNotFoundError:
        return "0"


class McpGateway:
    """The ASGI app for ``/mcp`` and everything behind it. Built by the engine; started and stopped with it.

    Its HTTP entry raises a refusal (unknown caller, not running) for the edge to answer in the error shape."""

    def __init__(self, settings: McpSettings, *, registry: ToolRegistry, store: Store, writer: AuditWriter,
                 scan: Callable[[str], list[Finding]], policy: PolicyHolder, authenticator: Authenticator,
                 tool_gate: ToolGate, approvals: ApprovalService, count_refusal: Callable[[str], None],
                 max_body_bytes: int, bind_use_case: BindUseCase | None = None) -> None:
        self.settings = settings
        self._bind_use_case = bind_use_case
        self._writer = writer
        self._scan = scan
        self._policy = policy
        self._authenticator = authenticator
        self._tool_gate = tool_gate
        self._approvals = approvals
        self._count_refusal = count_refusal
        self._max_body_bytes = max_body_bytes
        upstreams = {s.name: Upstream(s) for s in self.settings.servers}
        self.catalog = McpCatalog(registry, upstreams, PinBook(store), writer)
        self.inspector = ResultInspector(scan, policy, PromptInjectionRecognizer())
        self._schemas: dict[str, Draft202012Validator] = {}
        self.server: Server[Any] = Server("interlock", version=_package_version(),
                                          on_list_tools=self._list_tools, on_call_tool=self._call_tool,
                                          get_tool_input_schema=self._input_schema)
        self._manager: StreamableHTTPSessionManager | None = None
        self._runner: asyncio.Task[None] | None = None
        self._stopping = asyncio.Event()

    # -- lifetime -------------------------------------------------------------------------------

    async def start(self) -> None:
        await self.catalog.start()
        # A session manager runs once; each start gets a new one.
        self._manager = StreamableHTTPSessionManager(
            app=self.server, stateless=True, max_request_body_size=self._max_body_bytes)
        self._stopping = asyncio.Event()
        running = asyncio.Event()
        self._runner = asyncio.create_task(self._serve(self._manager, running), name="interlock-mcp-server")
        done, _ = await asyncio.wait({self._runner, asyncio.create_task(running.wait())},
                                     return_when=asyncio.FIRST_COMPLETED)
        if self._runner in done:
            self._runner.result()  # raises why it could not start

    async def _serve(self, manager: StreamableHTTPSessionManager, running: asyncio.Event) -> None:
        # The manager's task group must be entered and left by one task: this one, for its whole life.
        async with manager.run():
            running.set()
            await self._stopping.wait()

    async def stop(self) -> None:
        self._stopping.set()
        if self._runner is not None:
            try:
                await asyncio.wait_for(asyncio.shield(self._runner), 10)
            except Exception:
                log.exception("the MCP server did not stop cleanly")
                await cancel_and_wait(self._runner)
            self._runner = None
        self._manager = None
        await self.catalog.stop()

    def readiness(self) -> dict[str, Any]:
        return {name: u.status() for name, u in self.catalog.upstreams.items()}

    # -- HTTP -----------------------------------------------------------------------------------

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}
        try:
            identity = await self._authenticator.identify(headers)
        except Refusal:
            raise
        except Exception:
            log.exception("authenticating an MCP request failed")
            raise ServiceUnavailable("The caller could not be identified now; try again.") from None
        manager = self._manager
        if manager is None:
            raise ServiceUnavailable("The MCP gateway is not running.")
        # The MCP handlers find the caller on the request scope (their context carries the request).
        await manager.handle_request({**scope, IDENTITY_KEY: identity}, receive, send)

    @staticmethod
    def _identity(ctx: ServerRequestContext[Any, Any]) -> Identity:
        request = ctx.request
        identity = request.scope.get(IDENTITY_KEY) if request is not None else None
        if not isinstance(identity, Identity):
            # Only reachable if the handler is driven without our HTTP entry: refuse, never guess.
            raise MCPError(INTERNAL_ERROR, "The caller of this MCP request is unknown.")
        return identity

    # -- tools/list -----------------------------------------------------------------------------

    async def _list_tools(self, ctx: ServerRequestContext[Any, Any],
                          params: types.PaginatedRequestParams | None) -> types.ListToolsResult:
        identity = self._identity(ctx)
        engine = self._policy.engine
        checks = await self.catalog.checks(refresh=True, tools=self.catalog.proxied())
        offered = [self._offer(c) for c in checks
                   if c.usable and engine.may_list_tool(identity.principal, identity.app, c.tool.name)]
        return types.ListToolsResult(tools=offered)

    @staticmethod
    def _offer(check: PinCheck) -> types.Tool:
        """The tool as callers see it: the registry's name, and its words where it has any."""
        assert check.current is not None
        s, up = check.tool.settings, check.current.tool
        return types.Tool(name=s.name, title=up.title, description=s.description or up.description,
                          input_schema=_offered_schema(s.parameters, check.current), output_schema=up.output_schema,
                          annotations=up.annotations)

    def _input_schema(self, name: str) -> dict[str, Any] | None:
        """For the transport's header checks: the schema as offered, from what is known now (no I/O)."""
        tool = self.catalog.registry.get(name)
        if tool is None or tool.settings.server is None:
            return None
        current = self.catalog.current(tool)
        return _offered_schema(tool.settings.parameters, current) if current is not None else None

    # -- tools/call -----------------------------------------------------------------------------

    async def _call_tool(self, ctx: ServerRequestContext[Any, Any],
                         params: types.CallToolRequestParams) -> types.CallToolResult:
        # The id the edge gave the HTTP request (in its x-request-id) is the one the audit record carries.
        edge_id = ctx.request.scope.get(REQUEST_ID_SCOPE_KEY) if ctx.request is not None else None
        call = McpCall(edge_id if isinstance(edge_id, str) else new_request_id(), self._identity(ctx), params.name,
                       policy_version=self._policy.version)
        approval_id = (params.meta or {}).get(APPROVAL_META_KEY)
        try:
            if self._bind_use_case is not None:
                headers = dict(ctx.request.headers) if ctx.request is not None else {}
                identity = call.identity
                call.use_case = self._bind_use_case(identity.principal, identity.app, headers)
            result = await self._run(call, dict(params.arguments or {}),
                                     approval_id if isinstance(approval_id, str) else None)
        except Refusal as refusal:
            call.refuse(refusal)
        except Exception:
            log.exception("MCP call %s failed", call.request_id)
            call.refuse(InternalFailure(f"The tool call failed inside the gateway. Quote request id "
                                        f"{call.request_id} to your administrator."))
        except asyncio.CancelledError:
            # The caller went away (its connection closed): the call is recorded all the same.
            call.refuse(Refusal("The caller went away before the call finished.", code=CLIENT_CLOSED,
                                status=499))
            with anyio.CancelScope(shield=True):
                await self._finish(call)
            raise
        else:
            failed = await self._finish(call)
            if failed is not None:
                raise self._error(call, failed)
            return result
        failed = await self._finish(call)
        raise self._error(call, failed or Refusal(call.refusal_message, code=call.refusal_code, status=call.status))

    async def _run(self, call: McpCall, arguments: dict[str, Any], approval_id: str | None) -> types.CallToolResult:
        identity = call.identity
        principal, app = identity.principal, identity.app
        call.payload["arguments"] = mask_json(arguments, self._scan)
        tool = self.catalog.proxied_tool(call.tool)
        call.server = tool.settings.server or ""
        with Timer(call, "pin"):
            check = await self.catalog.check_call(tool)
        if check.current is None:
            raise Refusal(f"The MCP server {call.server!r} does not offer the tool {call.tool!r} now.",
                          code="tool_not_served", status=502)
        current = check.current
        call.upstream_tool, call.digest = current.name, current.digest
        if not check.usable:
            call.decisions.append({"stage": "pin", "outcome": "deny", "reason": "definition changed"})
            raise check.refusal()
        schema = self._schema(current)
        with Timer(call, "gate"):
            verdict = self._tool_gate.check(principal, app, call.tool, arguments, schema=schema,
                                            use_case=call.use_case)
        self._note(call, verdict, "input")
        if verdict.outcome == "deny":
            raise Refusal(verdict.message, code=verdict.code, status=_VERDICT_STATUS.get(verdict.code, 403))
        if verdict.outcome == "approve":
            with Timer(call, "approval"):
                arguments = await self._approved(call, verdict, arguments, approval_id)
            # The approved call (an approver may have edited it) is checked again as it will run now.
            verdict = self._tool_gate.check(principal, app, call.tool, arguments, schema=schema,
                                            use_case=call.use_case)
            if verdict.outcome == "deny":
                raise Refusal(verdict.message, code=verdict.code, status=_VERDICT_STATUS.get(verdict.code, 403))
            call.payload["arguments"] = mask_json(arguments, self._scan)
        upstream = self.catalog.upstreams[call.server]
        started = time.perf_counter()
        try:
            result = await upstream.call_tool(current.name, arguments)
        finally:
            call.upstream_ms = (time.perf_counter() - started) * 1000.0
        call.tool_error = bool(result.is_error)
        with Timer(call, "inspect"):
            try:
                inspected = self.inspector.inspect(principal, app, call.tool, result)
            except ResultBlocked as blocked:
                call.data += [(c, "block", "result") for c in blocked.classes]
                call.decisions.append({"stage": "result", "outcome": "block", "policy_ids": list(blocked.policy_ids)})
                raise
        call.data += [(c, a, "result") for c, a in inspected.findings]
        call.flags = inspected.flags
        if inspected.findings:
            call.decisions.append({"stage": "result", "outcome": "masked" if any(
                a == "mask" for _, a in inspected.findings) else "allow", "policy_ids": list(inspected.policy_ids)})
        call.payload["result"] = inspected.kept
        return inspected.result

    def _note(self, call: McpCall, verdict: ToolVerdict, where: str) -> None:
        decision: dict[str, Any] = {"stage": "tool", "outcome": verdict.outcome}
        if verdict.policy_ids:
            decision["policy_ids"] = list(verdict.policy_ids)
        if verdict.code:
            decision["code"] = verdict.code
        call.decisions.append(decision)
        if verdict.classes:
            identity = call.identity
            decided = self._policy.engine.data_to_tool(identity.principal, identity.app, call.tool,
                                                              verdict.classes)
            call.data += [(c, "allow" if decided[c].allowed else "block", where) for c in verdict.classes]

    def _schema(self, current: UpstreamTool) -> Draft202012Validator:
        """The server's own argument schema, compiled once per pinned definition."""
        compiled = self._schemas.get(current.digest)
        if compiled is None:
            compiled = self._schemas[current.digest] = compile_schema(current.tool.input_schema)
        return compiled

    async def _approved(self, call: McpCall, verdict: ToolVerdict, arguments: dict[str, Any],
                        approval_id: str | None) -> dict[str, Any]:
        """Hold the call for a person: create (or find) the request, wait for it, spend it once."""
        service = self._approvals
        principal, app = call.identity.principal, call.identity.app
        if approval_id is not None:
            approval = await service.get_for(approval_id, principal)
            if approval.tool != call.tool:
                raise Refusal(f"Approval request {approval_id} is for another tool, not {call.tool!r}.",
                              code="approval_mismatch", status=409)
        else:
            found = await service.find_approved(principal, call.tool, arguments)
            approval = found if found is not None else await service.request_tool_call(
                principal, app, tool=call.tool, route=verdict.route, arguments=arguments,
                arguments_view=call.payload["arguments"], policy_ids=verdict.policy_ids, reason=verdict.message,
                request_id=call.request_id)
        call.approval_id = approval.id
        if approval.state == "pending":
            approval = await service.wait(approval.id, self.settings.approval_wait_seconds) or approval
        call.decisions.append({"stage": "approval", "outcome": approval.state})
        if approval.state == "pending":
            raise Refusal(f"The call to {call.tool!r} is waiting for a person to approve it (approval request "
                          f"{approval.id}). Call again with the same arguments once it is approved, or pass the id "
                          f"in _meta[{APPROVAL_META_KEY!r}].", code="approval_pending", status=202)
        if approval.state != "approved":
            raise approval_state_refusal(approval)
        _, approved = await service.use(approval.id, principal)
        return approved

    async def _finish(self, call: McpCall) -> Refusal | None:
        """Make the record durable; a call whose record cannot be written is refused."""
        if call.refusal_code:
            self._count_refusal(call.refusal_code)
        return await self._writer.record(call.record(), call.payload or None)

    @staticmethod
    def _error(call: McpCall, refusal: Refusal) -> MCPError:
        data: dict[str, Any] = {"code": refusal.code, "request_id": call.request_id, "tool": call.tool}
        if call.approval_id:
            data["approval_id"] = call.approval_id
        if refusal.code in _INVALID_PARAMS_CODES:
            code = INVALID_PARAMS
        elif refusal.code == "approval_pending":
            code = APPROVAL_PENDING
        elif refusal.code in _UPSTREAM_CODES:
            code = UPSTREAM_FAILED
        elif refusal.status >= 500 and refusal.code not in ("tool_result_unscannable",):
            code = INTERNAL_ERROR
        else:
            code = REFUSED
        return MCPError(code, refusal.message, data)

    # -- administration -------------------------------------------------------------------------

    async def tool_states(self, *, definitions: bool = False) -> list[dict[str, Any]]:
        return [c.view(definitions=definitions) for c in await self.catalog.checks(refresh=True)]

    async def approve(self, name: str, by: str, tenant: str, expected_digest: str | None) -> dict[str, Any]:
        return await self.catalog.approve(name, by, tenant=tenant, expected_digest=expected_digest)


def _offered_schema(parameters: dict[str, Any], current: UpstreamTool) -> dict[str, Any]:
    """The registry's argument schema when it says more than "an object", else the server's."""
    return parameters if set(parameters) - {"type"} else current.tool.input_schema
