"""A minimal Redis client for the two commands on the hot path (``EVALSHA`` of the decision and settlement
scripts), over one pipelined connection per worker; ``pipeline`` sends several in one write (the queued
settlements ahead of a decision).

Measured on the gateway's 2-core benchmark machine, redis-py's asyncio client spent about 290 us of CPU per
command (connection-pool checkout, command packing, its response parser, a task per ``wait_for``): two
commands per call made budgets cost more CPU than the rest of the call. Here a command is one ``write`` of
pre-packed bytes and one future resolved by a small RESP2 parser, with concurrent calls pipelined on the one
connection (Redis answers in order). Everything off the hot path (the reconciler's reads and writes) uses
redis-py.

A reply that does not arrive within the deadline fails its call; the connection is then closed (a late reply
would otherwise be matched to the next command), and the next call opens a new one.
"""

from __future__ import annotations

import asyncio
import binascii
import ssl
from collections import deque
from typing import Any
from urllib.parse import unquote, urlsplit


class RedisError(Exception):
    """An error reply from Redis (``-ERR ...``, ``-NOSCRIPT ...``)."""


class _Incomplete(Exception):
    pass


# Redis Cluster's hash slots.
SLOTS = 16384


def key_slot(key: str) -> int:
    """A key's Redis Cluster hash slot: CRC16 (XMODEM) of its hash tag (the text between the first ``{`` and
    the next ``}``, when not empty), else of the whole key, modulo 16384."""
    b = key.encode()
    start = b.find(b"{")
    if start >= 0:
        end = b.find(b"}", start + 1)
        if end > start + 1:
            b = b[start + 1:end]
    return binascii.crc_hqx(b, 0) % SLOTS


def redirection(reply: Any) -> tuple[str, str, int] | None:
    """(``MOVED`` or ``ASK``, host, port) of a cluster redirection reply, else None."""
    if not isinstance(reply, RedisError):
        return None
    text = str(reply)
    if not text.startswith(("MOVED ", "ASK ")):
        return None
    kind, _slot, where = text.split(" ", 2)
    host, _, port = where.rpartition(":")
    return kind, host, int(port)


def pack(*args: bytes | str | int) -> bytes:
    """A command in RESP: an array of bulk strings."""
    out = [b"*%d\r\n" % len(args)]
    for a in args:
        b = a if isinstance(a, bytes) else str(a).encode()
        out.append(b"$%d\r\n%s\r\n" % (len(b), b))
    return b"".join(out)


def _parse(buf: bytearray, pos: int) -> tuple[Any, int]:
    """One reply from ``buf`` at ``pos``: (value, next position); raises _Incomplete for a partial one."""
    end = buf.find(b"\r\n", pos)
    if end < 0:
        raise _Incomplete
    kind = buf[pos]
    line = bytes(buf[pos + 1:end])
    pos = end + 2
    if kind == 58:  # ':' integer
        return int(line), pos
    if kind == 43:  # '+' simple string
        return line.decode(), pos
    if kind == 45:  # '-' error
        return RedisError(line.decode(errors="replace")), pos
    if kind == 36:  # '$' bulk string
        n = int(line)
        if n < 0:
            return None, pos
        if len(buf) < pos + n + 2:
            raise _Incomplete
        return bytes(buf[pos:pos + n]), pos + n + 2
    if kind == 42:  # '*' array
        n = int(line)
        if n < 0:
            return None, pos
        items = []
        for _ in range(n):
            item, pos = _parse(buf, pos)
            items.append(item)
        return items, pos
    raise RedisError(f"unexpected reply type {chr(kind)!r}")


class _Protocol(asyncio.Protocol):
    def __init__(self) -> None:
        # uvloop's transports are not asyncio.Transport subclasses; both have write, close and abort.
        self.transport: Any = None
        self.waiting: deque[asyncio.Future[Any]] = deque()
        self.buffer = bytearray()
        self.closed = False
        # Commands issued in one turn of the event loop go out in one write (one system call, and Redis
        # reads and answers them together): under concurrency, most calls share their round trips.
        self.outgoing: list[bytes] = []

    def send(self, command: bytes) -> None:
        if not self.outgoing:
            asyncio.get_running_loop().call_soon(self.flush)
        self.outgoing.append(command)

    def flush(self) -> None:
        if self.outgoing and self.transport is not None and not self.closed:
            self.transport.write(b"".join(self.outgoing) if len(self.outgoing) > 1 else self.outgoing[0])
        self.outgoing.clear()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        pos = 0
        buf = self.buffer
        while pos < len(buf):
            try:
                value, pos_after = _parse(buf, pos)
            except _Incomplete:
                break
            pos = pos_after
            if self.waiting:
                fut = self.waiting.popleft()
                if not fut.done():
                    fut.set_result(value)
        if pos:
            del buf[:pos]

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        while self.waiting:
            fut = self.waiting.popleft()
            if not fut.done():
                fut.set_exception(ConnectionError(f"the Redis connection closed: {exc or 'by the server'}"))


class RespClient:
    """One connection, opened on first use and again after a failure; commands pipelined on it."""

    def __init__(self, url: str, timeout_seconds: float, on_connect: tuple[bytes, ...] = ()) -> None:
        self._url = url
        self._timeout = timeout_seconds
        # Sent first on every new connection (after AUTH and SELECT): the scripts to load, say.
        self._on_connect = on_connect
        self._conn: _Protocol | None = None
        self._connecting: asyncio.Future[_Protocol] | None = None

    async def _connect(self) -> _Protocol:
        loop = asyncio.get_running_loop()
        parts = urlsplit(self._url)
        if parts.scheme == "unix":
            _, proto = await loop.create_unix_connection(_Protocol, parts.path)
        else:
            context = ssl.create_default_context() if parts.scheme == "rediss" else None
            _, proto = await loop.create_connection(_Protocol, parts.hostname or "127.0.0.1", parts.port or 6379,
                                                    ssl=context)
        setup: list[bytes] = []
        if parts.password is not None:
            user = unquote(parts.username) if parts.username else "default"
            setup.append(pack("AUTH", user, unquote(parts.password)))
        db = parts.path.strip("/") if parts.scheme != "unix" else ""
        if db and db != "0":
            setup.append(pack("SELECT", db))
        setup += self._on_connect
        for command in setup:
            reply = await self._send(proto, command)
            if isinstance(reply, RedisError):
                if proto.transport is not None:
                    proto.transport.close()
                raise reply
        return proto

    async def _connection(self) -> _Protocol:
        conn = self._conn
        if conn is not None and not conn.closed:
            return conn
        # One connection attempt at a time; concurrent calls wait for it.
        if self._connecting is None:
            loop = asyncio.get_running_loop()
            self._connecting = loop.create_future()
            try:
                conn = await asyncio.wait_for(self._connect(), self._timeout)
            except BaseException as exc:
                self._connecting.set_exception(exc)
                self._connecting.exception()  # retrieved: no "never retrieved" warning when nobody waits
                self._connecting = None
                raise
            self._conn = conn
            self._connecting.set_result(conn)
            self._connecting = None
            return conn
        return await self._connecting

    async def _send(self, conn: _Protocol, command: bytes) -> Any:
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[Any] = loop.create_future()
        conn.waiting.append(fut)
        conn.send(command)
        timer = loop.call_later(self._timeout, self._expire, conn, fut)
        try:
            return await fut
        finally:
            timer.cancel()

    def _expire(self, conn: _Protocol, fut: asyncio.Future[Any]) -> None:
        if fut.done():
            return
        fut.set_exception(TimeoutError(f"Redis did not answer within {self._timeout:g} s"))
        # Later replies can no longer be matched to their commands with certainty: start afresh.
        if conn.transport is not None:
            conn.transport.abort()
        if self._conn is conn:
            self._conn = None

    async def pipeline(self, commands: list[bytes]) -> list[Any]:
        """Send packed commands in one write; their replies in order (error replies as ``RedisError`` values,
        not raised). A connection that fails or a deadline that passes raises, for all of them: whether
        Redis ran them is then unknown."""
        conn = await self._connection()
        loop = asyncio.get_running_loop()
        futures: list[asyncio.Future[Any]] = []
        for command in commands:
            fut: asyncio.Future[Any] = loop.create_future()
            conn.waiting.append(fut)
            conn.send(command)
            futures.append(fut)
        last = futures[-1]
        timer = loop.call_later(self._timeout, self._expire, conn, last)
        try:
            await last
        except BaseException:
            for fut in futures:
                if not fut.done():
                    fut.cancel()  # the connection is gone: nobody is left to answer it
                elif not fut.cancelled():
                    fut.exception()  # retrieved: the one raised here stands for all of them
            raise
        finally:
            timer.cancel()
        # Redis answers in order: with the last reply in, every earlier one is too.
        return [fut.result() for fut in futures]

    async def call(self, command: bytes) -> Any:
        """Send one packed command; its reply (an error reply is raised as ``RedisError``)."""
        conn = await self._connection()
        reply = await self._send(conn, command)
        if isinstance(reply, RedisError):
            raise reply
        return reply

    async def close(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None and conn.transport is not None:
            conn.transport.close()
