"""The approvals HTTP surface: proposals, status, long-poll, the approver's queue and decisions.

Each endpoint authenticates, reads a bounded body or the query string, and calls the approval actions
(``approvals/actions.py``); refusals are answered by the error home.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Awaitable
from typing import Annotated, Any, Literal, TypeVar

import msgspec
from starlette.datastructures import QueryParams
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from interlock.api.asgi import ClientGone, Receive, convert, json_response, read_json
from interlock.api.auth import identify
from interlock.api.errors import request_id_of
from interlock.approvals.actions import STATES, ApprovalActions
from interlock.errors import InvalidRequest
from interlock.identity.authenticator import Authenticator

# Proposals and decisions are small documents; the chat endpoint's limit is far larger than they need.
MAX_BODY_BYTES = 64 * 1024
MAX_LIST = 500

T = TypeVar("T")


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


class ApprovalsApi:
    """The endpoints, given the approval actions, the authenticator and the body limits they use."""

    def __init__(self, actions: ApprovalActions, authenticator: Authenticator, *, max_body_bytes: int,
                 max_json_depth: int) -> None:
        self._actions = actions
        self._authenticator = authenticator
        self._limit = min(MAX_BODY_BYTES, max_body_bytes)
        self._max_json_depth = max_json_depth

    def routes(self) -> list[Route]:
        return [
            Route("/v1/approvals", self.create, methods=["POST"]),
            Route("/v1/approvals/{approval_id}", self.show, methods=["GET"]),
            Route("/v1/approvals/{approval_id}/wait", self.wait, methods=["GET"]),
            Route("/admin/approvals", self.listing, methods=["GET"]),
            Route("/admin/approvals/{approval_id}/decide", self.decide, methods=["POST"]),
        ]

    async def create(self, request: Request) -> Response:
        identity = await identify(self._authenticator, request)
        req = await self._convert(request, ProposalRequest, "proposal")
        request_id = request_id_of(request)
        view = await self._actions.create_proposal(identity.principal, identity.app, title=req.title,
                                                   details=req.details, route=req.route, reason=req.reason,
                                                   request_id=request_id)
        return json_response(201, view, request_id)

    async def show(self, request: Request) -> Response:
        identity = await identify(self._authenticator, request)
        view = await self._actions.show_approval(identity.principal, request.path_params["approval_id"], identity.app)
        return json_response(200, view, request_id_of(request))

    async def wait(self, request: Request) -> Response:
        identity = await identify(self._authenticator, request)
        seconds = parse_timeout(_query(request), self._actions.max_wait_seconds)
        waiting = self._actions.wait_approval(identity.principal, request.path_params["approval_id"], seconds,
                                              identity.app)
        return json_response(200, await _unless_gone(request.receive, waiting), request_id_of(request))

    async def listing(self, request: Request) -> Response:
        identity = await identify(self._authenticator, request)
        query = _query(request)
        _known_params(query, ("state", "all", "limit"))
        limit = _int_param(query, "limit", 100, 1, MAX_LIST)
        state = query.get("state")
        if state is not None and state not in STATES:
            raise InvalidRequest(f"state must be one of {', '.join(STATES)}.", param="state")
        found = await self._actions.list_approvals(identity.principal, state=state,
                                                   everything=_bool_param(query, "all"), limit=limit,
                                                   app=identity.app)
        return json_response(200, {"object": "list", "data": found}, request_id_of(request))

    async def decide(self, request: Request) -> Response:
        identity = await identify(self._authenticator, request)
        req = await self._convert(request, DecisionRequest, "decision")
        view = await self._actions.decide_approval(identity.principal, identity.app,
                                                   request.path_params["approval_id"], req.decision, req.reason,
                                                   req.arguments)
        return json_response(200, view, request_id_of(request))

    async def _convert(self, request: Request, kind: type[T], what: str) -> T:
        return convert(await read_json(request, self._limit, self._max_json_depth), kind, what)


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


def _query(request: Request) -> dict[str, str]:
    params: QueryParams = request.query_params
    if len(params.multi_items()) != len(params):
        raise InvalidRequest("Give each query parameter once.")
    return dict(params)


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


async def _unless_gone(receive: Receive, work: Awaitable[dict[str, Any]]) -> dict[str, Any]:
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
