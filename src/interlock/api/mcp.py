"""The MCP mount at ``/mcp``: the engine's MCP gateway (streamable HTTP), when MCP servers are declared.

A POST body is read here, bounded and checked to be JSON, before the MCP layer sees it, so a body that
is too large or not JSON is answered by the error home like on every other route; the MCP SDK then
answers the JSON-RPC it understands in its own protocol.
"""

from __future__ import annotations

import msgspec

from interlock.api.asgi import ASGIApp, Message, Receive, Scope, Send, read_request_body
from interlock.errors import InvalidRequest, NotFound


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
                msgspec.json.decode(raw)
            except msgspec.DecodeError as exc:
                raise InvalidRequest(f"The request body is not valid JSON: {exc}.") from None
            receive = _replay(raw, receive)
        await self._gateway(scope, receive, send)


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
