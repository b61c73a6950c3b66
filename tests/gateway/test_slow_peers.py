"""No peer can hold a worker by never finishing a request: read deadlines and the connection cap.

Raw sockets against a real ``interlock serve``, configured with short deadlines. Waits are generous
(the deadline plus a wide margin): the tests assert what happens, never how fast.
"""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from support.gateways import Gateway, GatewayFactory, KeySpec
from support.processes import wait_until

HEADER_TIMEOUT = 2.0
BODY_TIMEOUT = 3.0
MAX_HEADER_BYTES = 16 * 1024
# How long a test waits for something the gateway must do by a deadline: far more than the deadline,
# so a slow, shared machine does not fail the test, while a gateway that never acts still does.
SLACK = 30.0
CHAT = {"model": "mock", "messages": [{"role": "user", "content": "hello"}], "mock": {"reply": "hi"}}


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes

    def error(self) -> dict[str, Any]:
        doc = json.loads(self.body)
        assert set(doc) == {"error"}, doc
        error: dict[str, Any] = doc["error"]
        return error


def connect(gw: Gateway) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", gw.port), timeout=SLACK)
    sock.settimeout(SLACK)
    return sock


def read_answer(sock: socket.socket) -> Answer:
    """One HTTP/1.1 response with a Content-Length, read off the socket."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        assert chunk, f"the connection closed before an answer came: {data!r}"
        data += chunk
    head, _, rest = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ")[1])
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    length = int(headers["content-length"])
    while len(rest) < length:
        chunk = sock.recv(65536)
        assert chunk, "the connection closed mid-answer"
        rest += chunk
    return Answer(status, headers, rest[:length])


def closed_by_server(sock: socket.socket) -> bool:
    """Whether the server closes the connection (reads to its end, discarding anything it still sends)."""
    try:
        while sock.recv(65536):
            pass
    except ConnectionResetError:
        return True
    except TimeoutError:
        return False
    return True


def chat_head(gw: Gateway, extra: str) -> bytes:
    return (f"POST /v1/chat/completions HTTP/1.1\r\nHost: gateway\r\n"
            f"Authorization: Bearer {gw.keys['caller'].key}\r\nContent-Type: application/json\r\n"
            f"{extra}\r\n").encode()


def assert_timed_out(answer: Answer, gw: Gateway) -> dict[str, Any]:
    assert answer.status == 408, answer
    assert answer.headers["content-type"] == "application/json"
    assert answer.headers["connection"] == "close"
    error = answer.error()
    assert error["code"] == "request_timeout"
    assert error["request_id"] == answer.headers["x-request-id"]
    assert error["request_id"].startswith("req_")
    return error


@pytest.fixture(scope="module")
def gw(gateway_factory: GatewayFactory) -> Iterator[Gateway]:
    def adjust(tree: dict[str, Any]) -> None:
        tree["server"].update(header_timeout_seconds=HEADER_TIMEOUT, body_timeout_seconds=BODY_TIMEOUT)
        tree["limits"]["max_header_bytes"] = MAX_HEADER_BYTES

    gateway = gateway_factory("sqlite", adjust=adjust, keys=[KeySpec("caller"), KeySpec("admin", ("admin",))])
    yield gateway
    gateway.stop()


def test_unfinished_headers_get_408_and_the_connection_is_closed(gw: Gateway) -> None:
    with connect(gw) as sock:
        sock.sendall(b"POST /v1/chat/completions HTTP/1.1\r\nHost: gateway\r\nContent-Type: appl")
        error = assert_timed_out(read_answer(sock), gw)
        assert "header" in error["message"]
        assert closed_by_server(sock)


def test_headers_sent_a_byte_at_a_time_still_meet_one_deadline(gw: Gateway) -> None:
    # Every byte arrives in time, but the headers never end: the deadline is for the whole, not per byte.
    with connect(gw) as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\n")
        started = time.monotonic()
        sock.settimeout(0.2)
        answer = b""
        while time.monotonic() - started < SLACK:
            try:
                sock.sendall(b"X-Pad: 1\r\n")
                answer += sock.recv(65536)
            except TimeoutError:
                continue
            except (BrokenPipeError, ConnectionResetError):
                break
            if b"\r\n\r\n" in answer:
                break
        assert answer.startswith(b"HTTP/1.1 408"), answer


def test_a_connection_that_sends_nothing_is_closed(gw: Gateway) -> None:
    with connect(gw) as sock:
        assert closed_by_server(sock)


def test_the_next_request_on_a_kept_alive_connection_has_its_own_header_deadline(gw: Gateway) -> None:
    with connect(gw) as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: gateway\r\n\r\n")
        assert read_answer(sock).status == 200
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: gat")
        assert_timed_out(read_answer(sock), gw)
        assert closed_by_server(sock)


@pytest.mark.parametrize("framing", ["short-content-length", "unfinished-chunked"])
def test_unfinished_body_gets_408_with_a_request_id_and_the_connection_is_closed(gw: Gateway, framing: str) -> None:
    body = json.dumps(CHAT).encode()
    with connect(gw) as sock:
        # A whole request sent in pieces, in time, is answered; the connection stays open for the next.
        sock.sendall(chat_head(gw, f"Content-Length: {len(body)}\r\n"))
        sock.sendall(body[:20])
        sock.sendall(body[20:])
        done = read_answer(sock)
        assert done.status == 200, done
        assert json.loads(done.body)["choices"][0]["message"]["content"] == "hi"
        if framing == "short-content-length":
            sock.sendall(chat_head(gw, f"Content-Length: {len(body)}\r\n") + body[:10])
        else:
            sock.sendall(chat_head(gw, "Transfer-Encoding: chunked\r\n") + b"a\r\n" + body[:10] + b"\r\n")
        answer = read_answer(sock)
        error = assert_timed_out(answer, gw)
        assert "body" in error["message"]
        assert closed_by_server(sock)
    # Refused like any other bad body: the call has its record, found by the request id it was given.
    record = gw.record(answer.headers["x-request-id"])
    assert record["status"] == 408


def test_a_body_nobody_reads_cannot_keep_the_connection_open(gw: Gateway) -> None:
    # /healthz answers at once without reading the body; the peer then trickles the rest, a byte at a
    # time, each one in less than the keep-alive time. The body deadline still ends the connection.
    with connect(gw) as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: gateway\r\nContent-Length: 100000\r\n\r\nx")
        assert read_answer(sock).status == 200
        sock.settimeout(0.5)
        started = time.monotonic()
        closed = False
        while time.monotonic() - started < SLACK:
            try:
                sock.sendall(b"x")
                if sock.recv(65536) == b"":
                    closed = True
                    break
            except TimeoutError:
                continue
            except (BrokenPipeError, ConnectionResetError):
                closed = True
                break
        assert closed


def test_headers_over_the_limit_get_431_and_the_connection_is_closed(gw: Gateway) -> None:
    pad = b"GET /healthz HTTP/1.1\r\nHost: gateway\r\nX-Pad: " + b"a" * (MAX_HEADER_BYTES // 2)
    with connect(gw) as sock:
        # Under the limit: answered, kept alive, and the count starts again for the next request.
        for _ in range(2):
            sock.sendall(pad + b"\r\n\r\n")
            assert read_answer(sock).status == 200
        # Never ending: without a bound, the server would keep every byte until the header deadline.
        sock.sendall(pad + b"a" * MAX_HEADER_BYTES)
        answer = read_answer(sock)
        assert answer.status == 431, answer
        assert answer.headers["connection"] == "close"
        error = answer.error()
        assert error["code"] == "headers_too_large"
        assert str(MAX_HEADER_BYTES) in error["message"]
        assert error["request_id"] == answer.headers["x-request-id"]
        assert closed_by_server(sock)


def test_many_slow_peers_do_not_stop_normal_calls_and_are_all_closed(gw: Gateway) -> None:
    body = json.dumps(CHAT).encode()
    slow: list[socket.socket] = []
    try:
        for i in range(240):
            sock = connect(gw)
            slow.append(sock)
            kind = i % 3
            if kind == 0:
                sock.sendall(b"POST /v1/chat/completions HTTP/1.1\r\nHost: gat")
            elif kind == 1:
                sock.sendall(chat_head(gw, f"Content-Length: {len(body)}\r\n") + body[:10])
            else:
                sock.sendall(chat_head(gw, "Transfer-Encoding: chunked\r\n") + b"a\r\n" + body[:10] + b"\r\n")
        with httpx.Client(base_url=gw.url, timeout=SLACK) as client:
            r = client.post("/v1/chat/completions", json=CHAT,
                            headers={"authorization": f"Bearer {gw.keys['caller'].key}"})
            assert r.status_code == 200, r.text
            assert client.get("/healthz").status_code == 200
        for sock in slow:
            answer = read_answer(sock)
            assert_timed_out(answer, gw)
            assert closed_by_server(sock)
    finally:
        for sock in slow:
            sock.close()


def test_connections_over_the_cap_get_503(gateway_factory: GatewayFactory) -> None:
    cap = 8

    def adjust(tree: dict[str, Any]) -> None:
        # Long deadlines: the connections holding the cap stay until this test lets them go.
        tree["server"].update(max_connections=cap, header_timeout_seconds=120, body_timeout_seconds=120)

    gw = gateway_factory("sqlite", adjust=adjust)
    held: list[socket.socket] = []
    try:
        for _ in range(cap):
            sock = connect(gw)
            sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: gat")
            held.append(sock)
        with connect(gw) as sock:
            sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: gateway\r\n\r\n")
            answer = read_answer(sock)
            assert answer.status == 503, answer
            assert answer.headers["content-type"] == "application/json"
            assert answer.headers["connection"] == "close"
            error = answer.error()
            assert error["code"] == "server_busy"
            assert error["request_id"] == answer.headers["x-request-id"]
            assert closed_by_server(sock)
        for sock in held:
            sock.close()
        held.clear()

        def served() -> bool:
            return httpx.get(gw.url + "/healthz", timeout=SLACK).status_code == 200

        # The slots come back once the peers holding them leave.
        wait_until(served, timeout=SLACK, what="a call answered after the held connections closed")
    finally:
        for sock in held:
            sock.close()
        gw.stop()
