"""Requests to the gateway's own HTTP API, in-process, as the signed-in person.

The console is handed the HTTP edge's routed ASGI app; each call here builds one request with the
person's key and reads the answer whole. A refusal comes back as the API wrote it (status, error code,
message and request id), for the page to show.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

Message = MutableMapping[str, Any]
ASGIApp = Callable[[MutableMapping[str, Any], Callable[[], Awaitable[Message]], Callable[[Message], Awaitable[None]]],
                   Awaitable[None]]


@dataclass
class Answer:
    status: int
    body: Any
    request_id: str = ""
    headers: dict[str, str] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300

    @property
    def error(self) -> str:
        """The API's message for a refusal, in words a person can act on."""
        if isinstance(self.body, dict) and isinstance(self.body.get("error"), dict):
            err = self.body["error"]
            return f"{err.get('message', 'Refused.')} ({err.get('code', self.status)})"
        return f"The gateway answered {self.status}."


class Gateway:
    """Sends API requests through ``app`` (set once the HTTP edge is built) with a caller's key."""

    def __init__(self) -> None:
        self.app: ASGIApp | None = None

    async def call(self, key: str, method: str, path: str, *, query: dict[str, str] | None = None,
                   body: Any = None) -> Answer:
        if self.app is None:
            raise RuntimeError("the console is not mounted on a gateway")
        data = b"" if body is None else json.dumps(body).encode()
        headers = [(b"authorization", f"Bearer {key}".encode("latin-1")), (b"host", b"console")]
        if body is not None:
            headers.append((b"content-type", b"application/json"))
            headers.append((b"content-length", str(len(data)).encode()))
        scope: dict[str, Any] = {
            "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": method, "scheme": "http",
            "path": path, "raw_path": path.encode(), "root_path": "",
            "query_string": urlencode(query or {}).encode(), "headers": headers,
            "client": ("127.0.0.1", 0), "server": ("console", 0),
        }
        sent = False
        never = asyncio.Event()

        async def receive() -> Message:
            nonlocal sent
            if not sent:
                sent = True
                return {"type": "http.request", "body": data, "more_body": False}
            # The request has no more to say; a route that listens for a hang-up waits, as it would on a live client.
            await never.wait()
            return {"type": "http.disconnect"}

        status = 500
        answer_headers: dict[str, str] = {}
        chunks: list[bytes] = []

        async def send(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                answer_headers.update({k.decode("latin-1"): v.decode("latin-1") for k, v in message.get("headers", [])})
            elif message["type"] == "http.response.body":
                chunks.append(message.get("body", b""))

        await self.app(scope, receive, send)
        raw = b"".join(chunks)
        try:
            parsed: Any = json.loads(raw) if raw else None
        except ValueError:
            parsed = raw.decode("utf-8", "replace")
        return Answer(status, parsed, answer_headers.get("x-request-id", ""), answer_headers)
