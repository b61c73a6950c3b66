"""The connection protocol on its own: uvicorn serving plain ASGI apps through ``interlock.server``.

The gateway tests (tests/gateway/test_slow_peers.py) cover the app's own answers; these cover what
the protocol does for any app: answering for a surface that reads its body without the deadline,
and leaving alone a request that arrived whole, however long its answer takes.
"""

from __future__ import annotations

import asyncio
import json
import resource
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from typing import Any

import pytest
import uvicorn
from starlette.types import Receive, Scope, Send

from interlock import server as server_module
from interlock.server import ConnectionLimits, protocol_factory
from support.ports import free_port
from support.processes import wait_until

LIMITS = ConnectionLimits(header_timeout=1.0, body_timeout=1.0, max_connections=100, max_header_bytes=16384)
SLACK = 30.0


async def reads_without_deadline(scope: Scope, receive: Receive, send: Send) -> None:
    """A mounted ASGI app: reads the whole body its own way, then answers."""
    if scope["type"] != "http":
        return
    more = True
    while more:
        message = await receive()
        if message["type"] == "http.disconnect":
            return
        more = message.get("more_body", False)
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"2")]})
    await send({"type": "http.response.body", "body": b"ok"})


async def slow_stream(scope: Scope, receive: Receive, send: Send) -> None:
    """Reads the body, then streams an answer for longer than both deadlines together."""
    if scope["type"] != "http":
        return
    while (await receive()).get("more_body", False):
        pass
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/plain")]})
    for _ in range(6):
        await send({"type": "http.response.body", "body": b"tick\n", "more_body": True})
        await asyncio.sleep(0.5)
    await send({"type": "http.response.body", "body": b"done\n"})


async def pauses_after_the_start(scope: Scope, receive: Receive, send: Send) -> None:
    """Starts its answer, waits, then sends the body: with a known length (``/whole``) or chunked."""
    if scope["type"] != "http":
        return
    while (await receive()).get("more_body", False):
        pass
    known = scope["path"] == "/whole"
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-length", b"4")] if known else [(b"content-type", b"text/plain")]})
    await asyncio.sleep(0.3)
    await send({"type": "http.response.body", "body": b"body"})


def serve(app: Any) -> Iterator[int]:
    port = free_port()
    config = uvicorn.Config(app, host="127.0.0.1", port=port, http=protocol_factory(LIMITS), lifespan="off",
                            log_level="warning", access_log=False)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        wait_until(lambda: server.started, timeout=SLACK, what="the server started")
        yield port
    finally:
        server.should_exit = True
        thread.join(SLACK)


@pytest.fixture
def mounted(monkeypatch: pytest.MonkeyPatch) -> Iterator[int]:
    monkeypatch.setattr(server_module, "BACKSTOP_GRACE_SECONDS", 0.5)
    yield from serve(reads_without_deadline)


@pytest.fixture
def streaming() -> Iterator[int]:
    yield from serve(slow_stream)


@pytest.fixture
def pausing() -> Iterator[int]:
    yield from serve(pauses_after_the_start)


def first_read(port: int, request: bytes, timeout: float = SLACK) -> bytes:
    """What the first read of the answer gets."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(request)
        return sock.recv(65536)


def exchange(port: int, request: bytes) -> bytes:
    """Everything the server sends back until it closes the connection."""
    with socket.create_connection(("127.0.0.1", port), timeout=SLACK) as sock:
        sock.sendall(request)
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
        return data


def test_the_protocol_answers_408_when_the_app_reads_the_body_without_the_deadline(mounted: int) -> None:
    data = exchange(mounted, b"POST /x HTTP/1.1\r\nHost: t\r\nContent-Length: 100\r\n\r\nonly part")
    head, _, body = data.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 408 ")
    assert b"connection: close" in head.lower()
    error = json.loads(body)["error"]
    assert error["code"] == "request_timeout"
    assert "body" in error["message"]
    assert error["request_id"].encode() in head


def test_a_whole_request_is_answered_by_that_app(mounted: int) -> None:
    data = exchange(mounted, b"POST /x HTTP/1.1\r\nHost: t\r\nContent-Length: 4\r\nConnection: close\r\n\r\nbody")
    assert data.startswith(b"HTTP/1.1 200 ")
    assert data.endswith(b"\r\n\r\nok")


def test_an_answer_longer_than_the_deadlines_is_not_cut(streaming: int) -> None:
    data = exchange(streaming, b"POST /x HTTP/1.1\r\nHost: t\r\nContent-Length: 4\r\nConnection: close\r\n\r\nbody")
    assert data.startswith(b"HTTP/1.1 200 ")
    assert b"tick" in data
    assert b"done" in data


def test_the_open_file_limit_is_raised_for_the_connection_cap() -> None:
    # In a child process: the limit is the process's own, and lowering it here would outlast the test.
    code = (
        "import resource\n"
        "from interlock.server import ensure_open_files\n"
        "soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)\n"
        "resource.setrlimit(resource.RLIMIT_NOFILE, (256, hard))\n"
        "warning = ensure_open_files(2000)\n"
        "print(resource.getrlimit(resource.RLIMIT_NOFILE)[0], hard, warning is None)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    soft, hard, quiet = int(out[0]), int(out[1]), out[2] == "True"
    if hard == resource.RLIM_INFINITY or hard >= 2000:
        assert soft == 2000
        assert quiet
    else:
        # The hard limit is as far as it goes, and the operator is told.
        assert soft == hard
        assert not quiet


def test_pipelined_requests_are_all_answered_in_order(mounted: int) -> None:
    one = b"POST /x HTTP/1.1\r\nHost: t\r\nContent-Length: 4\r\n\r\nbody"
    last = b"GET /x HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n"
    data = exchange(mounted, one + one + last)
    assert data.count(b"HTTP/1.1 200 ") == 3
    assert data.endswith(b"\r\n\r\nok")


def test_an_answer_of_known_length_leaves_whole_with_its_body(pausing: int) -> None:
    data = first_read(pausing, b"GET /whole HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
    assert data.startswith(b"HTTP/1.1 200 ")
    assert data.endswith(b"\r\n\r\nbody")


def test_a_chunked_answer_sends_its_head_at_once(pausing: int) -> None:
    data = first_read(pausing, b"GET /stream HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
    assert data.startswith(b"HTTP/1.1 200 ")
    assert b"transfer-encoding: chunked" in data.lower()
    assert data.endswith(b"\r\n\r\n")


def test_an_answer_to_head_is_sent_on_a_kept_connection(pausing: int) -> None:
    # No body is written for HEAD: the head must not wait for one (the connection stays open meanwhile).
    data = first_read(pausing, b"HEAD /whole HTTP/1.1\r\nHost: t\r\n\r\n", timeout=5.0)
    assert data.startswith(b"HTTP/1.1 200 ")
    assert data.endswith(b"\r\n\r\n")
