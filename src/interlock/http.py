"""The little ASGI plumbing the app needs: bounded body reads, JSON and SSE responses, errors."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

import msgspec

from interlock.errors import InvalidRequest, PayloadTooLarge, Refusal, RequestTimeout

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

encode = msgspec.json.Encoder().encode

# The scope extension in which the server (interlock.server) gives the loop time by which the request
# body must have arrived, and the setting it came from: {"at": float, "seconds": float}.
BODY_DEADLINE = "interlock.body_deadline"


class ClientGone(Exception):
    """The client disconnected before the body arrived."""


async def read_body(receive: Receive, limit: int, declared: int | None) -> bytes:
    if declared is not None and declared > limit:
        raise PayloadTooLarge(f"The request body is {declared} bytes; the limit is {limit} bytes.")
    parts: list[bytes] = []
    size = 0
    while True:
        msg = await receive()
        if msg["type"] == "http.disconnect":
            raise ClientGone()
        chunk = msg.get("body", b"")
        if chunk:
            size += len(chunk)
            if size > limit:
                raise PayloadTooLarge(f"The request body is over the limit of {limit} bytes.")
            parts.append(chunk)
        if not msg.get("more_body", False):
            break
    return parts[0] if len(parts) == 1 else b"".join(parts)


async def read_request_body(scope: Scope, receive: Receive, limit: int) -> bytes:
    """The request body, refused early when its declared length is over ``limit``."""
    declared = None
    for k, v in scope["headers"]:
        if k == b"content-length":
            try:
                declared = int(v)
            except ValueError:
                raise InvalidRequest("The Content-Length header is not a number.") from None
    deadline = scope.get("extensions", {}).get(BODY_DEADLINE)
    if deadline is None:
        return await read_body(receive, limit, declared)
    try:
        async with asyncio.timeout_at(deadline["at"]):
            return await read_body(receive, limit, declared)
    except TimeoutError:
        raise body_timeout(deadline["seconds"]) from None


def body_timeout(seconds: float) -> RequestTimeout:
    return RequestTimeout(f"The request body did not arrive within {seconds:g} s of its headers; send the "
                          "request whole and promptly.")


def headers_of(scope: Scope) -> dict[str, str]:
    """The request headers by lower-case name. A header sent more than once keeps every value,
    newline-separated (a newline cannot occur inside one value), so identity checks can refuse it
    instead of silently taking the last."""
    raw = scope["headers"]
    headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in raw}
    if len(headers) != len(raw):
        headers = {}
        for k, v in raw:
            name, value = k.decode("latin-1"), v.decode("latin-1")
            headers[name] = headers[name] + "\n" + value if name in headers else value
    return headers


def error_document(refusal: Refusal, request_id: str) -> dict[str, Any]:
    return {"error": {"message": refusal.message, "type": refusal.type, "param": refusal.param,
                      "code": refusal.code, "request_id": request_id}}


async def send_json(send: Send, status: int, doc: Any, request_id: str | None = None,
                    extra_headers: list[tuple[bytes, bytes]] | None = None) -> None:
    body = encode(doc)
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    if request_id:
        headers.append((b"x-request-id", request_id.encode()))
    if extra_headers:
        headers.extend(extra_headers)
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


async def send_error(send: Send, refusal: Refusal, request_id: str) -> None:
    extra = [(b"www-authenticate", b"Bearer")] if refusal.status == 401 else None
    await send_json(send, refusal.status, error_document(refusal, request_id), request_id, extra)


async def send_text(send: Send, status: int, body: bytes, content_type: bytes) -> None:
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", content_type), (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})


async def start_sse(send: Send, request_id: str) -> None:
    await send({"type": "http.response.start", "status": 200, "headers": [
        (b"content-type", b"text/event-stream"), (b"cache-control", b"no-cache"),
        (b"x-request-id", request_id.encode()), (b"x-accel-buffering", b"no")]})


async def send_event(send: Send, data: bytes, more: bool = True) -> None:
    await send({"type": "http.response.body", "body": b"data: " + data + b"\n\n", "more_body": more})
