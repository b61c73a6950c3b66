"""The pooled upstream client against real sockets: keep-alive reuse, chunked bodies, stale
connections, timeouts and refusals."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest

from interlock.providers.http_client import HttpError, HttpPool, HttpTimeout
from interlock.providers.mock import MockLLM
from support.ports import free_port

BODY = b'{"model":"mock","messages":[{"role":"user","content":"hello pool"}]}'
JSON = [("content-type", "application/json")]

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


@contextlib.asynccontextmanager
async def pool_on(handler: Handler, *, max_connections: int = 2, read_timeout: float = 5,
                  settle: float = 0) -> AsyncIterator[HttpPool]:
    """A pool in front of a server on a free port that answers with ``handler``; both closed at the end
    (after ``settle`` seconds, for a handler that finishes only once the client has gone)."""
    server = await asyncio.start_server(handler, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    pool = HttpPool(f"http://127.0.0.1:{port}", max_connections=max_connections, connect_timeout=2,
                    read_timeout=read_timeout)
    try:
        yield pool
    finally:
        await pool.close()
        await asyncio.sleep(settle)
        server.close()
        await server.wait_closed()


async def read_request(reader: asyncio.StreamReader) -> bytes:
    head = await reader.readuntil(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            length = int(line.split(b":", 1)[1])
    return await reader.readexactly(length)


async def test_keep_alive_reuses_one_connection(mock_llm: MockLLM) -> None:
    pool = HttpPool(mock_llm.base_url, max_connections=4, connect_timeout=2, read_timeout=5)
    seen = []
    for _ in range(5):
        resp = await pool.request("POST", "/chat/completions", JSON, BODY)
        seen.append(resp._conn)
        assert resp.status == 200
        assert b"hello pool" in await resp.read()
    await pool.close()
    assert len({id(c) for c in seen}) == 1


async def test_chunked_streaming_body_is_reassembled() -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\ncontent-type: text/plain\r\n\r\n")
        for part in (b"alpha ", b"beta ", b"gamma"):
            writer.write(f"{len(part):x}\r\n".encode() + part + b"\r\n")
            await writer.drain()
            await asyncio.sleep(0.01)
        writer.write(b"0\r\n\r\n")
        await writer.drain()
        writer.close()
        await writer.wait_closed()

    async with pool_on(handler) as pool:
        resp = await pool.request("POST", "/x", JSON, b"{}")
        parts = [chunk async for chunk in resp.iter_chunks()]
        assert b"".join(parts) == b"alpha beta gamma"
        assert len(parts) >= 2


async def test_a_stale_idle_connection_is_replaced_transparently() -> None:
    connections = 0

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal connections
        connections += 1
        await read_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok")
        await writer.drain()
        # The server drops keep-alive connections right after answering, as some proxies do.
        writer.close()
        await writer.wait_closed()

    async with pool_on(handler) as pool:
        for _ in range(3):
            resp = await pool.request("POST", "/x", JSON, b"{}")
            assert await resp.read() == b"ok"
            await asyncio.sleep(0.05)
        assert connections == 3


async def test_silence_past_the_read_timeout_is_a_timeout() -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        await reader.read()  # say nothing until the client gives up and closes
        writer.close()
        await writer.wait_closed()

    async with pool_on(handler, read_timeout=0.2, settle=0.1) as pool:
        with pytest.raises(HttpTimeout):
            await pool.request("POST", "/x", JSON, b"{}")


async def test_connection_refused_is_an_http_error() -> None:
    pool = HttpPool(f"http://127.0.0.1:{free_port()}", max_connections=2, connect_timeout=2, read_timeout=2)
    with pytest.raises(HttpError) as err:
        await pool.request("POST", "/x", JSON, b"{}")
    assert not isinstance(err.value, HttpTimeout)
    await pool.close()


async def test_garbage_from_the_upstream_is_an_http_error() -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.write(b"THIS IS NOT HTTP\r\n\r\n")
        await writer.drain()
        writer.close()
        await writer.wait_closed()

    async with pool_on(handler, read_timeout=2) as pool:
        with pytest.raises(HttpError):
            await pool.request("POST", "/x", JSON, b"{}")


async def test_connection_slots_are_released_after_failures() -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.close()
        await writer.wait_closed()

    async with pool_on(handler, max_connections=1, read_timeout=2) as pool:
        for _ in range(3):
            # With one slot, a leaked slot would make the second attempt wait forever.
            with pytest.raises(HttpError):
                await asyncio.wait_for(pool.request("POST", "/x", JSON, b"{}"), 5)


@pytest.fixture(scope="module")
def mock_llm() -> AsyncIterator[MockLLM]:  # type: ignore[misc]
    with MockLLM() as mock:
        yield mock
