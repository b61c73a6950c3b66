"""The little ASGI plumbing the edge needs: bounded body reads, JSON and SSE responses.

The chat route speaks raw ASGI through these helpers (it is the measured hot path); the other routes
answer Starlette responses made by ``json_response``. Errors are ``errors.py``'s.
"""

from __future__ import annotations

import asyncio
from typing import Any, TypeVar

import msgspec
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from interlock.api.encoding import decode, encodings
from interlock.errors import InvalidRequest, PayloadTooLarge, RequestTimeout
from interlock.pipeline.parse import decode_json_object

__all__ = ["ASGIApp", "ClientGone", "Message", "Receive", "Scope", "Send", "convert", "encode", "headers_of",
           "json_response", "read_body", "read_json", "read_request_body", "send_event", "send_json", "start_sse"]

T = TypeVar("T")

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


async def read_request_body(scope: Scope, receive: Receive, limit: int,
                            headers: dict[str, str] | None = None) -> bytes:
    """The request body, refused early when its declared length is over ``limit``; a compressed body
    (Content-Encoding) is decoded, and its decoded size is what the limit holds to. ``headers`` is
    ``headers_of(scope)`` when the caller has it already (two look-ups then, no pass over the headers)."""
    if headers is None:
        headers = headers_of(scope)
    length = headers.get("content-length")
    declared = None
    if length is not None:
        try:
            declared = int(length)
        except ValueError:
            raise InvalidRequest("The Content-Length header is not a number.") from None
    coding = headers.get("content-encoding")
    codings = encodings(coding) if coding is not None else None
    deadline = scope.get("extensions", {}).get(BODY_DEADLINE)
    if deadline is None:
        raw = await read_body(receive, limit, declared)
    else:
        try:
            async with asyncio.timeout_at(deadline["at"]):
                raw = await read_body(receive, limit, declared)
        except TimeoutError:
            raise body_timeout(deadline["seconds"]) from None
    return decode(raw, codings, limit) if codings else raw


def body_timeout(seconds: float) -> RequestTimeout:
    return RequestTimeout(f"The request body did not arrive within {seconds:g} s of its headers; send the "
                          "request whole and promptly.")


async def read_json(request: Request, limit: int, max_depth: int, *, optional: bool = False) -> dict[str, Any]:
    """A routed endpoint's JSON object body, bounded in size and depth (``{}`` for none if ``optional``)."""
    raw = await read_request_body(request.scope, request.receive, limit)
    if optional and not raw.strip():
        return {}
    return decode_json_object(raw, max_depth)


def convert(doc: dict[str, Any], kind: type[T], what: str) -> T:
    """``doc`` as ``kind``, or a refusal naming the field at fault (``param``)."""
    try:
        return msgspec.convert(doc, kind)
    except msgspec.ValidationError as exc:
        text = str(exc)
        param = text.rsplit("at `$.", 1)[1].rstrip("`") if "at `$." in text else None
        raise InvalidRequest(f"Invalid {what}: {text}.", param=param) from None


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


def json_response(status: int, doc: Any, request_id: str | None = None,
                  extra_headers: list[tuple[bytes, bytes]] | None = None) -> Response:
    """A JSON answer for a routed endpoint, with the request id that finds its log lines."""
    headers = {"x-request-id": request_id} if request_id else {}
    for k, v in extra_headers or ():
        headers[k.decode("latin-1")] = v.decode("latin-1")
    return Response(encode(doc), status, headers or None, media_type="application/json")


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


async def start_sse(send: Send, request_id: str, extra_headers: list[tuple[bytes, bytes]] | None = None) -> None:
    await send({"type": "http.response.start", "status": 200, "headers": [
        (b"content-type", b"text/event-stream"), (b"cache-control", b"no-cache"),
        (b"x-request-id", request_id.encode()), (b"x-accel-buffering", b"no"), *(extra_headers or ())]})


async def send_event(send: Send, data: bytes, more: bool = True, *, event: bytes = b"") -> None:
    """One server-sent event; ``event`` names its type (Anthropic's streams name every event)."""
    head = b"event: " + event + b"\n" if event else b""
    await send({"type": "http.response.body", "body": head + b"data: " + data + b"\n\n", "more_body": more})
