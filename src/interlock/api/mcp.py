"""The MCP mount at ``/mcp``: the engine's MCP gateway (streamable HTTP), when MCP servers are declared.

A POST body is read here, bounded, decoded and checked to be JSON, before the MCP layer sees it, so a
body that is too large or not JSON is answered by the error home like on every other route; the MCP SDK
then answers the JSON-RPC it understands in its own protocol. Every answer leaves with the request id
the error home gave it (``x-request-id``), and every JSON-RPC error in it names that id in
``error.data.request_id``, so a caller can quote it and an operator find the audit record.
"""

from __future__ import annotations

from typing import Any

import msgspec

from interlock.api.asgi import ASGIApp, Message, Receive, Scope, Send, encode, read_request_body
from interlock.errors import InvalidRequest, NotFound
from interlock.ids import REQUEST_ID_SCOPE_KEY

_decode = msgspec.json.decode


class McpMount:
    def __init__(self, gateway: ASGIApp | None, max_body_bytes: int) -> None:
        self._gateway = gateway
        self._limit = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self._gateway is None:
            raise NotFound("The MCP gateway is off: declare upstream servers under mcp.servers in the settings.")
        if scope["method"] == "POST":
            raw = await read_request_body(scope, receive, self._limit)
            try:
                _decode(raw)
            except msgspec.DecodeError as exc:
                raise InvalidRequest(f"The request body is not valid JSON: {exc}.") from None
            receive = _replay(raw, receive)
            # The body handed on is the decoded one.
            scope = {**scope, "headers": [(k, v) for k, v in scope["headers"] if k != b"content-encoding"]}
        await self._gateway(scope, receive, _Stamped(send, scope[REQUEST_ID_SCOPE_KEY]))


def _replay(body: bytes, receive: Receive) -> Receive:
    """``receive`` with the body already read handed out first; after it, the client's own messages."""
    pending = True

    async def replayed() -> Message:
        nonlocal pending
        if pending:
            pending = False
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replayed


class _Stamped:
    """``send`` for the MCP layer's answer: ``x-request-id`` on its head, the id in each JSON-RPC error.

    A JSON answer is held until whole (it is one small document) so its length can be set again; an
    event stream is passed on event by event."""

    def __init__(self, send: Send, request_id: str) -> None:
        self._send = send
        self._id = request_id
        self._start: Message | None = None
        self._kind = ""
        self._held: list[bytes] = []

    async def __call__(self, message: Message) -> None:
        if message["type"] == "http.response.start":
            headers = [(k, v) for k, v in message.get("headers", []) if k != b"x-request-id"]
            headers.append((b"x-request-id", self._id.encode()))
            content_type = next((v for k, v in headers if k.lower() == b"content-type"), b"")
            self._kind = "json" if content_type.startswith(b"application/json") else (
                "sse" if content_type.startswith(b"text/event-stream") else "")
            message = {**message, "headers": headers}
            if self._kind == "json":
                self._start = message
                return
            await self._send(message)
            return
        if message["type"] != "http.response.body" or not self._kind:
            await self._send(message)
            return
        self._held.append(message.get("body", b""))
        more = message.get("more_body", False)
        if self._kind == "json":
            if more:
                return
            body = self._stamp_json(b"".join(self._held))
            assert self._start is not None
            headers = [(k, v) for k, v in self._start["headers"] if k.lower() != b"content-length"]
            headers.append((b"content-length", str(len(body)).encode()))
            await self._send({**self._start, "headers": headers})
            await self._send({"type": "http.response.body", "body": body})
            return
        # Server-sent events: pass on every complete event, stamped; keep a partial one for the next chunk.
        pending = b"".join(self._held).replace(b"\r\n", b"\n")
        complete, sep, rest = pending.rpartition(b"\n\n")
        self._held = [rest] if rest else []
        out = b"".join(self._stamp_event(e) + b"\n\n" for e in complete.split(b"\n\n")) if sep else b""
        if not more and rest:
            out += self._stamp_event(rest)
        if out or not more:
            await self._send({"type": "http.response.body", "body": out, "more_body": more})

    def _stamp_json(self, body: bytes) -> bytes:
        try:
            doc = _decode(body)
        except msgspec.DecodeError:
            return body
        return encode(self._stamp(doc)) if _has_error(doc) else body

    def _stamp_event(self, event: bytes) -> bytes:
        lines = event.split(b"\n")
        data = [line[5:].lstrip(b" ") for line in lines if line.startswith(b"data:")]
        if len(data) != 1:
            return event
        try:
            doc = _decode(data[0])
        except msgspec.DecodeError:
            return event
        if not _has_error(doc):
            return event
        return b"\n".join(b"data: " + encode(self._stamp(doc)) if line.startswith(b"data:") else line
                          for line in lines)

    def _stamp(self, doc: Any) -> Any:
        for item in doc if isinstance(doc, list) else [doc]:
            error = item.get("error") if isinstance(item, dict) else None
            if not isinstance(error, dict):
                continue
            data = error.get("data")
            if data is None:
                error["data"] = {"request_id": self._id}
            elif isinstance(data, dict):
                data.setdefault("request_id", self._id)
            elif isinstance(error.get("message"), str) and self._id not in error["message"]:
                error["message"] += f" (request id {self._id})"
        return doc


def _has_error(doc: Any) -> bool:
    return any(isinstance(item, dict) and "error" in item for item in (doc if isinstance(doc, list) else [doc]))
