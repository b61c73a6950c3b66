"""The one error home: every refusal and every unexpected exception, on every route, becomes the
OpenAI error shape (Anthropic's for Anthropic clients) with the request id that finds its log lines and
audit record.

``ErrorHome`` wraps the routed surfaces (everything but the chat hot path, which answers its own
refusals through ``send_error`` with the call's request id). It gives each request its id before the
endpoint runs, so an endpoint's answer, its log lines and its error all carry the same one.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from starlette.exceptions import HTTPException
from starlette.requests import Request

from interlock.api.asgi import ASGIApp, ClientGone, Message, Receive, Scope, Send, send_json
from interlock.api.encoding import encodings
from interlock.errors import InternalFailure, InvalidRequest, NotFound, Refusal
from interlock.ids import REQUEST_ID_SCOPE_KEY, new_request_id

log = logging.getLogger("interlock.api")

REQUEST_ID_KEY = REQUEST_ID_SCOPE_KEY

AllowedMethods = Callable[[Scope], list[str]]


def error_document(refusal: Refusal, request_id: str) -> dict[str, Any]:
    return {"error": {"message": refusal.message, "type": refusal.type, "param": refusal.param,
                      "code": refusal.code, "request_id": request_id}}


# Anthropic's error types by status (its SDK picks the exception class by status, and shows the type).
_ANTHROPIC_TYPES = {400: "invalid_request_error", 401: "authentication_error", 403: "permission_error",
                    404: "not_found_error", 405: "invalid_request_error", 409: "invalid_request_error",
                    413: "request_too_large", 429: "rate_limit_error", 503: "overloaded_error"}
ANTHROPIC_PATH = "/v1/messages"
ANTHROPIC_VERSION_HEADER = b"anthropic-version"


def anthropic_error_document(refusal: Refusal, request_id: str) -> dict[str, Any]:
    """The Anthropic error shape, with the gateway's stable ``code`` and ``param`` beside its fields."""
    kind = _ANTHROPIC_TYPES.get(refusal.status, "api_error" if refusal.status >= 500 else "invalid_request_error")
    return {"type": "error", "error": {"type": kind, "message": refusal.message, "code": refusal.code,
                                       "param": refusal.param}, "request_id": request_id}


def speaks_anthropic(scope: Scope) -> bool:
    """An Anthropic client: on the Messages API's paths, or sending Anthropic's version header."""
    return scope["path"].startswith(ANTHROPIC_PATH) or any(
        k == ANTHROPIC_VERSION_HEADER for k, _ in scope.get("headers") or ())


async def send_error(send: Send, refusal: Refusal, request_id: str,
                     headers: list[tuple[bytes, bytes]] | None = None, *, anthropic: bool = False) -> None:
    extra = [(b"www-authenticate", b"Bearer")] if refusal.status == 401 else []
    if refusal.headers:
        extra.extend(refusal.headers)
    if anthropic:
        # Anthropic's SDK reads the request id from ``request-id``.
        extra.append((b"request-id", request_id.encode()))
        doc = anthropic_error_document(refusal, request_id)
    else:
        doc = error_document(refusal, request_id)
    await send_json(send, refusal.status, doc, request_id, extra + (headers or []))


def request_id_of(request: Request) -> str:
    """The id ``ErrorHome`` gave this request."""
    request_id: str = request.scope[REQUEST_ID_KEY]
    return request_id


def not_found(scope: Scope) -> Refusal:
    return NotFound(f"There is no endpoint at {scope['path']}.")


def not_allowed(scope: Scope) -> Refusal:
    return InvalidRequest(f"{scope['method']} is not allowed on {scope['path']}.", status=405)


class ErrorHome:
    """ASGI middleware: the request id, then the endpoint; whatever it raises is answered in the error shape.

    ``allowed`` names the methods a path accepts, for the Allow header of a 405."""

    def __init__(self, app: ASGIApp, allowed: AllowedMethods) -> None:
        self._app = app
        self._allowed = allowed

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        request_id = scope[REQUEST_ID_KEY] = new_request_id()
        started = False

        async def tracked(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            for k, v in scope["headers"]:
                if k == b"content-encoding":
                    # Refused on every route, whether or not it reads a body (read_request_body decodes).
                    encodings(v.decode("latin-1"))
            await self._app(scope, receive, tracked)
        except ClientGone:
            return
        except Exception as exc:
            if started:
                # The status line has gone out: nothing left to shape. The server logs it and closes.
                raise
            refusal, headers = self._refusal(exc, scope, request_id)
            await send_error(send, refusal, request_id, headers, anthropic=speaks_anthropic(scope))

    def _refusal(self, exc: Exception, scope: Scope, request_id: str) -> tuple[Refusal, list[tuple[bytes, bytes]]]:
        if isinstance(exc, Refusal):
            if exc.status >= 500:
                # The gateway's own trouble (a store down, say): operators find it by the caller's request id.
                log.warning("request %s (%s %s) refused with %d %s: %s", request_id, scope.get("method"),
                            scope.get("path"), exc.status, exc.code, exc.message)
            return exc, []
        if isinstance(exc, HTTPException) and exc.status_code == 405:
            return not_allowed(scope), [(b"allow", ", ".join(self._allowed(scope)).encode())]
        if isinstance(exc, HTTPException) and exc.status_code == 404:
            return not_found(scope), []
        # Fail closed with the request id that finds the detail in the log.
        log.exception("request %s (%s %s) failed", request_id, scope.get("method"), scope.get("path"))
        return InternalFailure(f"The request could not be handled. Quote request id {request_id} to your "
                               f"administrator."), []
