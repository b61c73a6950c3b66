"""A lean pooled HTTP/1.1 client for upstream calls.

General-purpose async clients spend hundreds of microseconds of CPU per request on header
multidicts, cookie jars, tracing hooks and redirects, which is more than the whole rest of the
gateway's pipeline. Upstream calls need none of that: a keep-alive POST of a JSON body and a
response read whole or as a stream. Parsing is done by ``httptools`` (llhttp, the parser Node.js
uses), so this module only moves bytes and keeps the connection pool.
"""

from __future__ import annotations

import asyncio
import ssl
import zlib
from collections import deque
from collections.abc import AsyncIterator
from typing import cast
from urllib.parse import urlsplit

import httptools

# Buffered, unread body bytes above which a streaming connection stops reading from the socket.
_HIGH_WATER = 256 * 1024


class HttpError(Exception):
    """The connection failed: refused, reset, closed early, or an unparseable response."""


class HttpTimeout(HttpError):
    """No byte arrived within the read timeout (or the connection did not open in time)."""


class HttpTooLarge(HttpError):
    """The response body (as sent, or once decoded) is larger than the pool accepts."""


# Statuses whose responses never carry a body, whatever their headers say (RFC 9112 section 6.3).
_NO_BODY = frozenset({204, 304})


class _Conn(asyncio.Protocol):
    """One connection; carries one request at a time."""

    def __init__(self, read_timeout: float, max_body: int) -> None:
        self._read_timeout = read_timeout
        self._max_body = max_body
        self._received = 0
        # No Content-Length and not chunked: the body ends when the upstream closes the connection.
        self._until_close = False
        self.transport: asyncio.Transport | None = None
        self._parser = httptools.HttpResponseParser(self)
        self._loop = asyncio.get_running_loop()
        self.status = 0
        self.headers: list[tuple[bytes, bytes]] = []
        self._chunks: deque[bytes] = deque()
        self._buffered = 0
        self._paused = False
        self.headers_done = False
        self.complete = False
        self.keep_alive = False
        self.error: BaseException | None = None
        self.closed = False
        self._waiter: asyncio.Future[None] | None = None
        self._timer: asyncio.TimerHandle | None = None

    # -- asyncio.Protocol ---------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports implement the interface without subclassing asyncio.Transport.
        self.transport = cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserError as exc:
            self._fail(HttpError(f"unparseable response: {exc}"))
            return
        self._wake()

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if self.complete:
            return
        if exc is None and self.headers_done and self._until_close and self.error is None:
            # A close-delimited body (legal in HTTP/1.x): a clean close is its end. The parser has no
            # way to be told of the end of input, so the message is completed here.
            self.complete = True
            self.keep_alive = False
            self._wake()
            return
        self._fail(HttpError("connection closed before the response was complete"))

    # -- httptools callbacks ------------------------------------------------------------------

    def on_header(self, name: bytes, value: bytes) -> None:
        self.headers.append((name.lower(), value))

    def on_headers_complete(self) -> None:
        self.status = self._parser.get_status_code()
        self.headers_done = True
        delimited = any(k == b"content-length" or (k == b"transfer-encoding" and b"chunked" in v.lower())
                        for k, v in self.headers)
        self._until_close = not delimited and self.status >= 200 and self.status not in _NO_BODY

    def on_body(self, body: bytes) -> None:
        self._received += len(body)
        if self._received > self._max_body:
            self._fail(HttpTooLarge(f"the response is larger than {self._max_body} bytes"))
            return
        self._chunks.append(body)
        self._buffered += len(body)
        if self._buffered > _HIGH_WATER and not self._paused and self.transport is not None:
            self._paused = True
            self.transport.pause_reading()

    def on_message_complete(self) -> None:
        # Asked here: once the parser has reset for the next message it no longer knows.
        self.keep_alive = self._parser.should_keep_alive()
        self.complete = True

    # -- request/response -----------------------------------------------------------------------

    def reusable(self) -> bool:
        return self.complete and self.keep_alive and not self.closed and self.error is None and not self._chunks

    def reset(self) -> None:
        self._received = 0
        self._until_close = False
        self.status = 0
        self.headers = []
        self.headers_done = False
        self.complete = False
        self.keep_alive = False
        self._buffered = 0
        if self._paused and self.transport is not None:
            self.transport.resume_reading()
        self._paused = False

    def send(self, data: bytes) -> None:
        assert self.transport is not None
        self.transport.write(data)

    def _fail(self, exc: BaseException) -> None:
        if self.error is None:
            self.error = exc
        if self.transport is not None:
            self.transport.close()
        self._wake()

    def _wake(self) -> None:
        w = self._waiter
        if w is not None and not w.done():
            w.set_result(None)

    def _on_timeout(self) -> None:
        self._fail(HttpTimeout("no data from the upstream within the read timeout"))

    async def _wait(self) -> None:
        if self.error is not None:
            raise self.error
        self._waiter = self._loop.create_future()
        self._timer = self._loop.call_later(self._read_timeout, self._on_timeout)
        try:
            await self._waiter
        finally:
            self._timer.cancel()
            self._waiter = None
        if self.error is not None:
            raise self.error

    async def wait_headers(self) -> None:
        while not self.headers_done:
            await self._wait()

    async def read_all(self) -> bytes:
        while not self.complete:
            # A whole-body read wants everything: undo a pause taken while the body outgrew the high water.
            if self._paused and self.transport is not None:
                self._paused = False
                self.transport.resume_reading()
            await self._wait()
        body = b"".join(self._chunks)
        self._chunks.clear()
        return body

    async def next_chunk(self) -> bytes | None:
        while not self._chunks:
            if self.complete:
                return None
            await self._wait()
        chunk = self._chunks.popleft()
        self._buffered -= len(chunk)
        if self._paused and self._buffered < _HIGH_WATER // 2 and self.transport is not None:
            self._paused = False
            self.transport.resume_reading()
        return chunk


class Response:
    """A response whose headers have arrived. Read it whole or iterate it, then it is released."""

    def __init__(self, pool: HttpPool, conn: _Conn, max_body: int) -> None:
        self._pool = pool
        self._conn: _Conn | None = conn
        self.status = conn.status
        self.headers = conn.headers
        self._decoder = _decoder(self.header(b"content-encoding"), max_body)

    def header(self, name: bytes) -> bytes | None:
        for k, v in self.headers:
            if k == name:
                return v
        return None

    async def read(self) -> bytes:
        conn = self._take()
        try:
            body = await conn.read_all()
            if self._decoder is not None:
                body = self._decoder.feed(body) + self._decoder.end()
        except BaseException:
            self._pool.discard(conn)
            raise
        self._pool.release(conn)
        return body

    async def iter_chunks(self) -> AsyncIterator[bytes]:
        conn = self._take()
        decoder = self._decoder
        try:
            while (chunk := await conn.next_chunk()) is not None:
                if decoder is not None:
                    chunk = decoder.feed(chunk)
                    if not chunk:
                        continue
                yield chunk
            if decoder is not None and (rest := decoder.end()):
                yield rest
        except BaseException:
            self._pool.discard(conn)
            raise
        self._pool.release(conn)

    def close(self) -> None:
        """Give up on the rest of the body; the connection is closed, not reused."""
        if self._conn is not None:
            self._pool.discard(self._conn)
            self._conn = None

    def _take(self) -> _Conn:
        if self._conn is None:
            raise HttpError("the response body was already consumed")
        conn, self._conn = self._conn, None
        return conn


class _Decoder:
    """gzip or deflate content decoding, incremental, with the decoded size bounded (a small compressed
    answer may expand to gigabytes)."""

    def __init__(self, encoding: bytes, max_body: int) -> None:
        self._encoding = encoding
        # 32 + 15: a zlib or gzip header, detected; "deflate" without a zlib header is retried raw.
        self._z = zlib.decompressobj(47)
        self._started = False
        self._max = max_body
        self._size = 0

    def feed(self, data: bytes) -> bytes:
        try:
            out = self._z.decompress(data, self._max - self._size + 1)
        except zlib.error:
            if self._started or self._encoding != b"deflate":
                raise HttpError(f"the {self._encoding.decode('latin-1')} body does not decode") from None
            self._z = zlib.decompressobj(-15)
            try:
                out = self._z.decompress(data, self._max - self._size + 1)
            except zlib.error:
                raise HttpError("the deflate body does not decode") from None
        self._started = True
        self._size += len(out)
        if self._size > self._max or self._z.unconsumed_tail:
            raise HttpTooLarge(f"the decoded response is larger than {self._max} bytes")
        return out

    def end(self) -> bytes:
        try:
            out = self._z.flush()
        except zlib.error:
            raise HttpError("the compressed body ends early") from None
        self._size += len(out)
        if self._size > self._max:
            raise HttpTooLarge(f"the decoded response is larger than {self._max} bytes")
        return out


def _decoder(encoding: bytes | None, max_body: int) -> _Decoder | None:
    value = (encoding or b"").strip().lower()
    if value in (b"", b"identity"):
        return None
    if value in (b"gzip", b"x-gzip", b"deflate"):
        return _Decoder(b"gzip" if value == b"x-gzip" else value, max_body)
    raise HttpError(f"the response has a content encoding this client does not decode: {value.decode('latin-1')}")


class HttpPool:
    """Keep-alive connections to one origin (scheme, host, port)."""

    def __init__(self, base_url: str, *, max_connections: int, connect_timeout: float,
                 read_timeout: float, ssl_context: ssl.SSLContext | None = None,
                 max_response_bytes: int = 16 * 1024 * 1024) -> None:
        parts = urlsplit(base_url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"not an http(s) URL: {base_url!r}")
        self.host = parts.hostname
        self.port = parts.port or (443 if parts.scheme == "https" else 80)
        self.base_path = parts.path.rstrip("/")
        self._host_header = parts.netloc.encode("idna") if parts.port else self.host.encode("idna")
        self._ssl: ssl.SSLContext | None = None
        if parts.scheme == "https":
            self._ssl = ssl_context or ssl.create_default_context()
        self._connect_timeout = connect_timeout
        self._read_timeout = read_timeout
        self._max_body = max_response_bytes
        self._idle: list[_Conn] = []
        self._slots = asyncio.Semaphore(max_connections)
        self._closed = False

    async def _open(self) -> _Conn:
        loop = asyncio.get_running_loop()
        try:
            _, proto = await asyncio.wait_for(
                loop.create_connection(lambda: _Conn(self._read_timeout, self._max_body), self.host, self.port, ssl=self._ssl,
                                       server_hostname=self.host if self._ssl else None),
                self._connect_timeout,
            )
        except TimeoutError:
            raise HttpTimeout(f"connecting to {self.host}:{self.port} timed out") from None
        except OSError as exc:
            raise HttpError(f"cannot connect to {self.host}:{self.port}: {exc.strerror or exc}") from None
        return proto

    def _request_bytes(self, method: str, path: str, headers: list[tuple[str, str]], body: bytes) -> bytes:
        lines = [f"{method} {self.base_path}{path} HTTP/1.1\r\n".encode("ascii"),
                 b"host: " + self._host_header + b"\r\n",
                 b"content-length: " + str(len(body)).encode() + b"\r\n"]
        lines.extend(f"{k}: {v}\r\n".encode("latin-1") for k, v in headers)
        lines.append(b"\r\n")
        lines.append(body)
        return b"".join(lines)

    async def request(self, method: str, path: str, headers: list[tuple[str, str]], body: bytes) -> Response:
        """Send a request and wait for its status line and headers."""
        if self._closed:
            raise HttpError("the client is closed")
        data = self._request_bytes(method, path, headers, body)
        await self._slots.acquire()
        try:
            while self._idle:
                conn = self._idle.pop()
                if conn.closed:
                    continue
                conn.reset()
                conn.send(data)
                try:
                    await conn.wait_headers()
                except HttpTimeout:
                    self._drop(conn)
                    raise
                except HttpError:
                    # The upstream closed this idle connection before reading our request: the
                    # request was never processed, so a fresh connection may carry it.
                    self._drop(conn)
                    if conn.headers_done or conn.status:
                        raise
                    continue
                return self._response(conn)
            conn = await self._open()
            conn.send(data)
            try:
                await conn.wait_headers()
            except BaseException:
                self._drop(conn)
                raise
            return self._response(conn)
        except BaseException:
            self._slots.release()
            raise

    def _response(self, conn: _Conn) -> Response:
        try:
            return Response(self, conn, self._max_body)
        except HttpError:
            self._drop(conn)  # the caller's handler gives the slot back
            raise

    def _drop(self, conn: _Conn) -> None:
        if conn.transport is not None:
            conn.transport.close()

    def release(self, conn: _Conn) -> None:
        if conn.reusable() and not self._closed:
            self._idle.append(conn)
        else:
            self._drop(conn)
        self._slots.release()

    def discard(self, conn: _Conn) -> None:
        self._drop(conn)
        self._slots.release()

    async def close(self) -> None:
        self._closed = True
        for conn in self._idle:
            self._drop(conn)
        self._idle.clear()

