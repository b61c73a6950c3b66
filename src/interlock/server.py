"""The HTTP/1.1 connection: uvicorn's httptools protocol, with read deadlines and a connection cap.

uvicorn closes a kept-alive connection that stays idle, but a peer that opens a connection and never
finishes its request (headers that never end, a body shorter than its Content-Length, a chunked body
with no last chunk) would hold its slot for ever. Here every request has two deadlines:

- its headers must be complete within ``header_timeout`` of its first byte (or of the connection's
  opening, for the first request), else the peer gets 408 and the connection is closed;
- its body must be complete within ``body_timeout`` of its headers. The app reads bodies under that
  same deadline (``interlock.api.asgi.read_request_body`` finds it in the scope) and answers 408 in its
  own error shape, with the call's record; this protocol closes the connection once that answer is
  out, closes it at once when the app has answered without reading the body, and answers 408 itself
  if, a grace period later, nothing has answered at all.

The request line and headers may take ``max_header_bytes`` (httptools keeps them without a bound):
more gets 431 and the connection is closed. And each worker serves at most ``max_connections``
connections: a request on a connection opened over the cap gets 503 in the error shape (uvicorn's own
``limit_concurrency`` answers in plain text, without a request id) and the connection is closed.
"""

from __future__ import annotations

import asyncio
import functools
import resource
from dataclasses import dataclass
from typing import Any, cast

from starlette.types import Receive, Scope, Send
from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol

from interlock.api.asgi import BODY_DEADLINE, body_timeout, encode, send_json
from interlock.api.errors import error_document
from interlock.errors import HeadersTooLarge, Refusal, RequestTimeout, ServiceUnavailable
from interlock.ids import new_request_id

# How long after the body deadline the protocol waits for the app's own 408 before answering itself
# (a surface that reads its body without the deadline, such as a mounted ASGI app).
BACKSTOP_GRACE_SECONDS = 5.0


@dataclass(frozen=True)
class ConnectionLimits:
    header_timeout: float
    body_timeout: float
    max_connections: int
    max_header_bytes: int


def protocol_factory(limits: ConnectionLimits) -> Any:
    """What uvicorn's ``http`` option takes: a callable building the protocol, picklable for workers."""
    return functools.partial(GuardedHttpProtocol, limits=limits)


def ensure_open_files(needed: int) -> str | None:
    """Raise this process's open-file limit (inherited by its workers) to ``needed`` if the hard limit
    allows; a connection accepted past the limit fails before the cap can answer it. Returns a warning
    when the limit stays lower."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY or soft >= needed:
        return None
    target = needed if hard == resource.RLIM_INFINITY else min(needed, hard)
    if target > soft:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    if target < needed:
        return (f"the open-file limit is {target}, below the {needed} that server.max_connections and the "
                "upstream connection pools may need; raise it (ulimit -n) or lower server.max_connections")
    return None


def _raw_refusal(refusal: Refusal, default_headers: list[tuple[bytes, bytes]]) -> bytes:
    """A whole error response for a request the app never saw, ending the connection."""
    request_id = new_request_id()
    body = encode(error_document(refusal, request_id))
    head = [STATUS_LINE[refusal.status]]
    for name, value in default_headers:
        head += [name, b": ", value, b"\r\n"]
    head += [b"content-type: application/json\r\ncontent-length: ", str(len(body)).encode(),
             b"\r\nx-request-id: ", request_id.encode(), b"\r\nconnection: close\r\n\r\n", body]
    return b"".join(head)


def _header_timeout(seconds: float) -> RequestTimeout:
    return RequestTimeout(f"The request headers did not arrive within {seconds:g} s; send the request whole "
                          "and promptly.")


async def _server_busy(scope: Scope, receive: Receive, send: Send) -> None:
    request_id = new_request_id()
    refusal = ServiceUnavailable("The gateway is serving as many connections as it may; retry shortly.",
                                 code="server_busy")
    await send_json(send, refusal.status, error_document(refusal, request_id), request_id,
                    [(b"connection", b"close"), (b"retry-after", b"1")])


class WholeAnswer:
    """The connection as one request's cycle writes to it. uvicorn writes an answer's status line and
    headers as soon as the app starts the answer, and its body apart: two writes, so two packets and two
    wake-ups of the peer, for an answer that is ready whole (the chat route starts and ends it in one go).
    Here the head of an answer whose length is known (not chunked) waits for the body's first write and
    leaves with it; a chunked answer (a stream) goes out as written, its head at once."""

    __slots__ = ("_cycle", "_head", "_head_seen", "_transport")

    def __init__(self, transport: asyncio.Transport, cycle: Any) -> None:
        self._transport = transport
        self._cycle = cycle
        self._head: bytes | None = None
        self._head_seen = False

    def write(self, data: bytes) -> None:
        head = self._head
        if head is not None:
            self._head = None
            self._transport.write(head + data)
            return
        if not self._head_seen and self._cycle.response_started:
            # The first write once the answer has started is its head (a "100 Continue" comes before).
            self._head_seen = True
            # An answer to HEAD has no body write to wait for.
            if self._cycle.chunked_encoding is not True and self._cycle.scope["method"] != "HEAD":
                self._head = data
                return
        self._transport.write(data)

    def close(self) -> None:
        # An answer cut short (the app failed after starting it) still sends the head it started.
        head, self._head = self._head, None
        if head is not None:
            self._transport.write(head)
        self._transport.close()

    def is_closing(self) -> bool:
        return self._transport.is_closing()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)


class GuardedHttpProtocol(HttpToolsProtocol):
    def __init__(self, *args: Any, limits: ConnectionLimits, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.limits = limits
        self._header_timer: asyncio.TimerHandle | None = None
        self._body_timer: asyncio.TimerHandle | None = None
        # Between a request's first byte and the end of its headers; between that and the end of its body.
        self._in_headers = False
        self._in_body = False
        self._body_deadline = 0.0
        # Handed to another protocol (a WebSocket): nothing here applies any more.
        self._upgraded = False
        # Bytes received since the last request's headers ended (httptools keeps headers without a bound).
        self._header_bytes = 0
        self._admitted = True

    # -- the connection ---------------------------------------------------------------------------

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        # Judged when the connection opens, so the connections already served keep being served.
        self._admitted = len(self.connections) <= self.limits.max_connections
        self._arm_header_timer()

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_header_timer()
        self._cancel_body_timer()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if not self._in_body:
            self._header_bytes += len(data)
        # uvicorn's keep-alive timer is cancelled by any byte; the header deadline is not, so a peer
        # cannot keep a connection by sending a request one byte at a time.
        super().data_received(data)
        if self._upgraded or self.transport.is_closing():
            return
        if self._in_body:
            # Armed only for a body still to come: a request that arrives in one read costs no timer.
            if self._body_timer is None:
                self._body_timer = self.loop.call_at(self._body_deadline, self._body_deadline_passed, self.cycle)
            return
        if self._header_bytes > self.limits.max_header_bytes:
            # Counted per read, so the read that crosses the limit may still complete the headers: the
            # bound is the limit plus one read.
            if self._answering():
                # An earlier answer is still being written on this connection: no room for another.
                self.transport.close()
            else:
                self._refuse(HeadersTooLarge(f"The request line and headers are over the limit of "
                                             f"{self.limits.max_header_bytes} bytes."))
            return
        if self._header_timer is None and (
                self._in_headers or (not self._answering() and self.timeout_keep_alive_task is None)):
            self._arm_header_timer()

    def _answering(self) -> bool:
        """Whether an earlier request on this connection is still being answered (or waits its turn)."""
        return (self.cycle is not None and not self.cycle.response_complete) or bool(self.pipeline)

    # -- parser callbacks -------------------------------------------------------------------------

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._in_headers = True

    def on_headers_complete(self) -> None:
        self._in_headers = False
        self._in_body = True
        self._header_bytes = 0
        self._cancel_header_timer()
        self._body_deadline = self.loop.time() + self.limits.body_timeout
        self.scope.setdefault("extensions", {})[BODY_DEADLINE] = {
            "at": self._body_deadline, "seconds": self.limits.body_timeout}
        if not self._admitted:
            # Re-judged now: a connection opened while the server was full is served if room came since.
            self._admitted = len(self.connections) <= self.limits.max_connections
        if self._admitted:
            super().on_headers_complete()
        else:
            app, self.app = self.app, _server_busy
            try:
                super().on_headers_complete()
            finally:
                self.app = app
        # Before the app's task first runs (it was only scheduled): every write of this answer goes through it.
        self.cycle.transport = cast(asyncio.Transport, WholeAnswer(self.transport, self.cycle))
        if self.parser.should_upgrade() and self._should_upgrade():
            self._upgraded = True
            self._in_body = False

    def on_message_complete(self) -> None:
        self._in_body = False
        self._cancel_body_timer()
        # The body is all here: the app need not read it under a deadline (nor pay for one).
        self.scope["extensions"].pop(BODY_DEADLINE, None)
        super().on_message_complete()

    # -- deadlines --------------------------------------------------------------------------------

    def _arm_header_timer(self) -> None:
        self._header_timer = self.loop.call_later(self.limits.header_timeout, self._header_deadline_passed)

    def _cancel_header_timer(self) -> None:
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None

    def _cancel_body_timer(self) -> None:
        if self._body_timer is not None:
            self._body_timer.cancel()
            self._body_timer = None

    def _header_deadline_passed(self) -> None:
        self._header_timer = None
        if self.transport.is_closing():
            return
        if not self._in_headers:
            # Nothing asked: an idle connection is closed without an answer, as a kept-alive one is.
            self.transport.close()
            return
        if self._answering():
            # An earlier request on this connection is still being answered: let it finish, then close.
            self.cycle.keep_alive = False
            return
        self._refuse(_header_timeout(self.limits.header_timeout))

    def _body_deadline_passed(self, cycle: Any) -> None:
        self._body_timer = None
        if self.transport.is_closing() or cycle is not self.cycle:
            return
        # Whatever answers this request, the connection ends with it: the rest of the body may never come.
        cycle.keep_alive = False
        if cycle.response_complete:
            self.transport.close()
        elif not cycle.response_started:
            self._body_timer = self.loop.call_later(BACKSTOP_GRACE_SECONDS, self._body_backstop, cycle)

    def _body_backstop(self, cycle: Any) -> None:
        self._body_timer = None
        if self.transport.is_closing() or cycle is not self.cycle or cycle.response_started:
            return
        # The app did not answer: this answer is the only one, and whatever the app sends later is dropped.
        cycle.disconnected = True
        cycle.message_event.set()
        self._refuse(body_timeout(self.limits.body_timeout))

    def _refuse(self, refusal: Refusal) -> None:
        self._cancel_header_timer()
        self._cancel_body_timer()
        self.transport.write(_raw_refusal(refusal, self.server_state.default_headers))
        self.transport.close()
