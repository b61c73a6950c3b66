"""The approvals HTTP API: proposals, status, long-poll, the approver's queue and decisions.

Each endpoint is an ``async`` function over the engine that returns a status and a document; the
``ApprovalsApi`` class puts them on ASGI (authentication, bounded body, errors in the OpenAI shape).
A request the caller may not see is answered exactly like one that does not exist (404), so its
existence is never revealed; a refusal on a visible request comes from the service as it raised it.
"""

from __future__ import annotations

import asyncio
import logging
import math
from collections.abc import Awaitable, Callable, Coroutine
from typing import TYPE_CHECKING, Annotated, Any, Literal, Protocol
from urllib.parse import parse_qsl

import msgspec

from interlock.approvals.model import Approval
from interlock.approvals.service import not_found

# Loaded before the redaction and pipeline packages: those import the detector package while it imports them.
from interlock.detect.finding import Finding
from interlock.errors import Forbidden, InternalFailure, InvalidRequest, Refusal
from interlock.http import ClientGone, Receive, Scope, Send, read_request_body, send_error, send_json
from interlock.identity.principal import Principal
from interlock.pipeline.parse import decode_json_object
from interlock.redact import ActionPolicy, PlaceholderMap, redact

if TYPE_CHECKING:
    from interlock.engine import Engine

log = logging.getLogger("interlock.approvals.http")

ADMIN_ROLE = "admin"
# Proposals and decisions are small documents; the chat endpoint's limit is far larger than they need.
MAX_BODY_BYTES = 64 * 1024
MAX_LIST = 500
STATES = ("pending", "approved", "rejected", "expired", "used")
APPROVALS = "/v1/approvals"
ADMIN_APPROVALS = "/admin/approvals"

# Secrets never rest in the clear in a proposal, a reason or the audit log; other text is kept as written.
_SECRETS_MASKED = ActionPolicy({"secret.*": "mask"}, default="allow")

Authenticate = Callable[[Scope], Awaitable[tuple[Principal, Principal | None]]]
Answer = tuple[int, dict[str, Any]]


class Handler(Protocol):
    def __call__(self, scope: Scope, receive: Receive, send: Send) -> Coroutine[Any, Any, None]: ...


class ProposalRequest(msgspec.Struct, forbid_unknown_fields=True):
    title: Annotated[str, msgspec.Meta(min_length=1, max_length=200)]
    details: Annotated[str, msgspec.Meta(max_length=20_000)]
    route: Annotated[str, msgspec.Meta(min_length=1, max_length=64)] = "default"
    reason: Annotated[str, msgspec.Meta(max_length=2000)] = ""


class DecisionRequest(msgspec.Struct, forbid_unknown_fields=True):
    decision: Literal["approve", "reject"]
    reason: Annotated[str, msgspec.Meta(max_length=2000)] = ""
    # New values for editable arguments of a held tool call (approve only).
    arguments: Annotated[dict[str, Any], msgspec.Meta(max_length=64)] | None = None


def mask_secrets(engine: Engine, text: str) -> str:
    """``text`` with every secret (``secret.*``) masked for good; everything else as written."""
    if not text:
        return text
    findings: list[Finding] = engine.guard.scan(text)
    if not findings:
        return text
    return redact(text, findings, _SECRETS_MASKED, PlaceholderMap("approvals")).text


def is_admin(principal: Principal) -> bool:
    return ADMIN_ROLE in principal.roles


def _convert(raw: bytes, engine: Engine, kind: type[Any], what: str) -> Any:
    doc = decode_json_object(raw, engine.settings.limits.max_json_depth)
    try:
        return msgspec.convert(doc, kind)
    except msgspec.ValidationError as exc:
        text = str(exc)
        param = text.rsplit("at `$.", 1)[1].rstrip("`") if "at `$." in text else None
        raise InvalidRequest(f"Invalid {what}: {text}.", param=param) from None


# -- the endpoints, over the engine -------------------------------------------------------------

async def create_proposal(engine: Engine, principal: Principal, app: Principal | None, raw: bytes,
                          request_id: str) -> Answer:
    """``POST /v1/approvals``: a free-form proposal for a person to decide."""
    req: ProposalRequest = _convert(raw, engine, ProposalRequest, "proposal")
    if not req.title.strip():
        raise InvalidRequest("title must not be blank.", param="title")
    approval = await engine.approvals.propose(
        principal, app, title=mask_secrets(engine, req.title.strip()), details=mask_secrets(engine, req.details),
        route=req.route, reason=mask_secrets(engine, req.reason), request_id=request_id)
    return 201, approval.view()


async def show_approval(engine: Engine, principal: Principal, approval_id: str) -> Answer:
    """``GET /v1/approvals/{id}``."""
    return 200, (await _visible(engine, principal, approval_id)).view()


async def wait_approval(engine: Engine, principal: Principal, approval_id: str, seconds: float) -> Answer:
    """``GET /v1/approvals/{id}/wait``: the request once decided or expired, or as it stands after ``seconds``."""
    await _visible(engine, principal, approval_id)
    approval = await engine.approvals.wait(approval_id, min(seconds, engine.settings.approvals.max_wait_seconds))
    if approval is None:
        raise not_found(approval_id)
    return 200, approval.view()


async def list_approvals(engine: Engine, principal: Principal, query: dict[str, str]) -> Answer:
    """``GET /admin/approvals``: what the caller may decide now; other states and everything for admins."""
    _known_params(query, ("state", "all", "limit"))
    limit = _int_param(query, "limit", 100, 1, MAX_LIST)
    state = query.get("state")
    if state is not None and state not in STATES:
        raise InvalidRequest(f"state must be one of {', '.join(STATES)}.", param="state")
    everything = _bool_param(query, "all")
    if everything or state not in (None, "pending"):
        if not is_admin(principal):
            raise Forbidden("Only administrators may list approval requests beyond the pending ones they may "
                            "decide; leave out state and all.")
        found = await engine.approvals.search(principal.tenant, state, limit)
    else:
        found = await engine.approvals.pending_for(principal, limit)
    return 200, {"object": "list", "data": [a.view() for a in found]}


async def decide_approval(engine: Engine, principal: Principal, app: Principal | None, approval_id: str,
                          raw: bytes) -> Answer:
    """``POST /admin/approvals/{id}/decide``: one approver's vote (with edits when approving a tool call).

    Refusals are the service's: another tenant's request is not found, someone of this tenant outside the
    approvers is told who may decide (request ids are random, so this reveals nothing guessable)."""
    req: DecisionRequest = _convert(raw, engine, DecisionRequest, "decision")
    approval = await engine.approvals.decide(approval_id, principal, req.decision, mask_secrets(engine, req.reason),
                                             req.arguments or None, app=app)
    return 200, approval.view()


async def _visible(engine: Engine, principal: Principal, approval_id: str) -> Approval:
    return await engine.approvals.get_for(approval_id, principal, admin=is_admin(principal))


def parse_timeout(query: dict[str, str], default: float) -> float:
    _known_params(query, ("timeout",))
    raw = query.get("timeout")
    if raw is None:
        return default
    try:
        seconds = float(raw)
    except ValueError:
        seconds = math.nan
    if not math.isfinite(seconds) or seconds < 0:
        raise InvalidRequest(f"timeout must be a number of seconds, 0 or more (at most {default:g} is used).",
                             param="timeout")
    return seconds


def _known_params(query: dict[str, str], known: tuple[str, ...]) -> None:
    unknown = sorted(set(query) - set(known))
    if unknown:
        raise InvalidRequest(f"Unknown query parameter(s): {', '.join(unknown)}. "
                             f"Known: {', '.join(known)}.", param=unknown[0])


def _int_param(query: dict[str, str], name: str, default: int, low: int, high: int) -> int:
    raw = query.get(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        value = low - 1
    if not low <= value <= high:
        raise InvalidRequest(f"{name} must be a whole number from {low} to {high}.", param=name)
    return value


def _bool_param(query: dict[str, str], name: str) -> bool:
    raw = query.get(name)
    if raw is None:
        return False
    if raw.lower() in ("true", "1"):
        return True
    if raw.lower() in ("false", "0"):
        return False
    raise InvalidRequest(f"{name} must be true or false.", param=name)


# -- on ASGI ------------------------------------------------------------------------------------

class ApprovalsApi:
    """The endpoints as ASGI handlers: ``routes`` for fixed paths, ``match`` for paths that carry an id."""

    def __init__(self, engine: Engine, authenticate: Authenticate) -> None:
        self._engine = engine
        self._authenticate = authenticate
        self._limit = min(MAX_BODY_BYTES, engine.settings.limits.max_body_bytes)
        self.routes: dict[tuple[str, str], Handler] = {
            ("POST", APPROVALS): self.create,
            ("GET", ADMIN_APPROVALS): self.listing,
        }

    def match(self, method: str, path: str) -> Handler | None:
        """The handler for ``/v1/approvals/{id}[/wait]`` and ``/admin/approvals/{id}/decide``, or None."""
        if path.startswith(APPROVALS + "/"):
            parts = path[len(APPROVALS) + 1:].split("/")
            if len(parts) == 1 and parts[0]:
                return self.show if method == "GET" else self._not_allowed
            if len(parts) == 2 and parts[0] and parts[1] == "wait":
                return self.wait if method == "GET" else self._not_allowed
        elif path.startswith(ADMIN_APPROVALS + "/"):
            parts = path[len(ADMIN_APPROVALS) + 1:].split("/")
            if len(parts) == 2 and parts[0] and parts[1] == "decide":
                return self.decide if method == "POST" else self._not_allowed
        return None

    async def create(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def run(request_id: str) -> Answer:
            principal, app = await self._authenticate(scope)
            return await create_proposal(self._engine, principal, app, await self._body(scope, receive), request_id)

        await self._answer(send, run)

    async def show(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def run(request_id: str) -> Answer:
            principal, _ = await self._authenticate(scope)
            return await show_approval(self._engine, principal, _id_in(scope["path"], APPROVALS))

        await self._answer(send, run)

    async def wait(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def run(request_id: str) -> Answer:
            principal, _ = await self._authenticate(scope)
            seconds = parse_timeout(_query(scope), self._engine.settings.approvals.max_wait_seconds)
            waiting = wait_approval(self._engine, principal, _id_in(scope["path"], APPROVALS), seconds)
            return await _unless_gone(receive, waiting)

        await self._answer(send, run)

    async def listing(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def run(request_id: str) -> Answer:
            principal, _ = await self._authenticate(scope)
            return await list_approvals(self._engine, principal, _query(scope))

        await self._answer(send, run)

    async def decide(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def run(request_id: str) -> Answer:
            principal, app = await self._authenticate(scope)
            raw = await self._body(scope, receive)
            return await decide_approval(self._engine, principal, app, _id_in(scope["path"], ADMIN_APPROVALS), raw)

        await self._answer(send, run)

    async def _not_allowed(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def run(request_id: str) -> Answer:
            raise InvalidRequest(f"{scope['method']} is not allowed on {scope['path']}.", status=405)

        await self._answer(send, run)

    async def _body(self, scope: Scope, receive: Receive) -> bytes:
        return await read_request_body(scope, receive, self._limit)

    async def _answer(self, send: Send, run: Callable[[str], Awaitable[Answer]]) -> None:
        from interlock.engine import new_request_id

        request_id = new_request_id()
        try:
            status, doc = await run(request_id)
        except Refusal as refusal:
            await send_error(send, refusal, request_id)
            return
        except ClientGone:
            raise
        except Exception:
            # Fail closed with the request id that finds the detail in the log.
            log.exception("approvals request %s failed", request_id)
            await send_error(send, InternalFailure(
                f"The approval request could not be handled. Quote request id {request_id} to your "
                f"administrator."), request_id)
            return
        await send_json(send, status, doc, request_id)


def _id_in(path: str, prefix: str) -> str:
    return path[len(prefix) + 1:].split("/", 1)[0]


def _query(scope: Scope) -> dict[str, str]:
    raw = scope.get("query_string", b"").decode("latin-1")
    pairs = parse_qsl(raw, keep_blank_values=True)
    names = [k for k, _ in pairs]
    if len(set(names)) != len(names):
        raise InvalidRequest("Give each query parameter once.")
    return dict(pairs)


async def _unless_gone(receive: Receive, work: Awaitable[Answer]) -> Answer:
    """``work``'s answer, unless the client hangs up first: then stop waiting on its behalf."""
    task = asyncio.ensure_future(work)
    gone = asyncio.ensure_future(_disconnected(receive))
    try:
        done, _ = await asyncio.wait({task, gone}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for t in (task, gone):
            t.cancel()
        await asyncio.gather(task, gone, return_exceptions=True)
    if task in done:
        return task.result()
    raise ClientGone()


async def _disconnected(receive: Receive) -> None:
    while (await receive())["type"] != "http.disconnect":
        pass
