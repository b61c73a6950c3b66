"""Bad requests get a clear 4xx in the OpenAI error shape, and nothing reaches the model."""

from __future__ import annotations

import json
import socket
from typing import Any

import httpx
import pytest

from interlock.providers.mock import MockLLM
from support.gateways import Gateway

GOOD_MESSAGES = [{"role": "user", "content": "hello"}]
LIMIT_BYTES = 256 * 1024  # limits.max_body_bytes in the test settings
MAX_DEPTH = 32  # limits.max_json_depth in the test settings


def post(http: httpx.Client, gateway: Gateway, content: bytes | str, *,
         key: str = "plain-user", headers: dict[str, str] | None = None) -> httpx.Response:
    h = {"authorization": f"Bearer {gateway.keys[key].key}", "content-type": "application/json",
         **(headers or {})}
    return http.post("/v1/chat/completions", content=content, headers=h)


def assert_refused(r: httpx.Response, status: int, code: str, *, mentions: str = "") -> dict[str, Any]:
    assert r.status_code == status, r.text
    assert r.headers["content-type"] == "application/json"
    doc = r.json()
    assert set(doc) == {"error"}
    error: dict[str, Any] = doc["error"]
    assert error["code"] == code
    assert error["type"] in {"invalid_request_error", "authentication_error", "permission_error"}
    assert isinstance(error["message"], str)
    assert len(error["message"]) > 10
    assert mentions.lower() in error["message"].lower()
    assert error["request_id"] == r.headers["x-request-id"]
    return error


def nested(depth: int) -> str:
    return "[" * depth + "]" * depth


@pytest.mark.parametrize(
    ("body", "mentions", "param"),
    [
        pytest.param(b'{"model": "mock", "messages": [', "not valid JSON", None, id="malformed-json"),
        pytest.param(b"{'model': 'mock'}", "not valid JSON", None, id="single-quoted"),
        pytest.param(b"", "empty", None, id="empty-body"),
        pytest.param(b"[1, 2, 3]", "JSON object", None, id="array-not-object"),
        pytest.param(b'"just a string"', "JSON object", None, id="string-not-object"),
        pytest.param(b"null", "JSON object", None, id="null-not-object"),
        pytest.param(b'{"model": "mock", "messages": [{"role": "user", "content": "\xff\xfe bad"}]}',
                     "UTF-8", None, id="invalid-utf8"),
        pytest.param(json.dumps({"model": "mock", "messages": "hello"}), "messages", "messages",
                     id="messages-a-string"),
        pytest.param(json.dumps({"model": "mock", "messages": [{"role": 5, "content": "x"}]}), "role",
                     "messages[0].role", id="role-a-number"),
        pytest.param(json.dumps({"model": "mock", "messages": [{"role": "wizard", "content": "x"}]}), "role",
                     "messages[0].role", id="unknown-role"),
        pytest.param(json.dumps({"model": "mock", "messages": GOOD_MESSAGES, "temperature": "hot"}),
                     "temperature", "temperature", id="temperature-a-string"),
        pytest.param(json.dumps({"model": "mock", "messages": GOOD_MESSAGES, "stream": "yes"}), "stream",
                     "stream", id="stream-a-string"),
        pytest.param(json.dumps({"model": "mock", "messages": GOOD_MESSAGES, "max_tokens": 0}), "max_tokens",
                     "max_tokens", id="max-tokens-zero"),
        pytest.param(json.dumps({"model": 42, "messages": GOOD_MESSAGES}), "model", "model",
                     id="model-a-number"),
        pytest.param(json.dumps({"messages": GOOD_MESSAGES}), "model", None, id="missing-model"),
        pytest.param(json.dumps({"model": "mock"}), "messages", None, id="missing-messages"),
        pytest.param(json.dumps({"model": "mock", "messages": []}), "messages", "messages", id="empty-messages"),
        pytest.param('{"model": "mock", "messages": [{"role": "user", "content": "x"}], "extra": '
                     + nested(MAX_DEPTH + 5) + "}", f"deeper than {MAX_DEPTH}", None, id="too-deep"),
        pytest.param("[" * 100_000, f"deeper than {MAX_DEPTH}", None, id="pathological-100k-deep"),
        pytest.param('{"a": ' + nested(100_000) + "}", f"deeper than {MAX_DEPTH}", None,
                     id="pathological-100k-deep-balanced"),
    ],
)
def test_bad_body_is_a_clear_400(gateway: Gateway, mock: MockLLM, http: httpx.Client, body: bytes | str,
                                 mentions: str, param: str | None) -> None:
    r = post(http, gateway, body)
    error = assert_refused(r, 400, "invalid_request", mentions=mentions)
    if param is not None:
        assert error["param"] == param
    assert mock.received == []
    record = gateway.record(r.headers["x-request-id"])
    assert record["refusal_code"] == "invalid_request"
    assert record["status"] == 400


def test_depth_at_the_limit_is_accepted(gateway: Gateway, mock: MockLLM, http: httpx.Client) -> None:
    # The document, response_format, json_schema and schema are four levels (a schema is free-form JSON, the
    # one place deep nesting is legitimate), so MAX_DEPTH - 4 more levels are exactly at the limit.
    body = '{"model": "mock", "messages": [{"role": "user", "content": "deep"}], "mock": {"reply": "ok"},' \
           ' "response_format": {"type": "json_schema", "json_schema": {"name": "deep", "schema": {"enum": ' \
           + nested(MAX_DEPTH - 4) + "}}}}"
    r = post(http, gateway, body)
    assert r.status_code == 200, r.text
    assert len(mock.received) == 1


def test_body_over_the_limit_is_413(gateway: Gateway, mock: MockLLM, http: httpx.Client) -> None:
    big = json.dumps({"model": "mock", "messages": [{"role": "user", "content": "x" * (LIMIT_BYTES + 10)}]})
    r = post(http, gateway, big)
    assert_refused(r, 413, "request_too_large", mentions=str(LIMIT_BYTES))
    assert mock.received == []
    record = gateway.record(r.headers["x-request-id"])
    assert record["status"] == 413


def test_chunked_body_over_the_limit_is_413(gateway: Gateway, mock: MockLLM, http: httpx.Client) -> None:
    # No Content-Length: the limit must hold while the body streams in.
    def body() -> Any:
        yield b'{"model": "mock", "messages": [{"role": "user", "content": "'
        for _ in range(LIMIT_BYTES // 4096 + 2):
            yield b"y" * 4096
        yield b'"}]}'

    h = {"authorization": f"Bearer {gateway.keys['plain-user'].key}", "content-type": "application/json"}
    r = http.post("/v1/chat/completions", content=body(), headers=h)
    assert_refused(r, 413, "request_too_large")
    assert mock.received == []


def test_body_just_under_the_limit_is_accepted(gateway: Gateway, mock: MockLLM, http: httpx.Client) -> None:
    filler = "z" * (LIMIT_BYTES - 200)
    body = json.dumps({"model": "mock", "messages": [{"role": "user", "content": filler}],
                       "mock": {"reply": "fits"}})
    assert len(body) < LIMIT_BYTES
    r = post(http, gateway, body)
    assert r.status_code == 200, r.text
    assert r.json()["choices"][0]["message"]["content"] == "fits"


def test_unknown_model_is_404(gateway: Gateway, mock: MockLLM, http: httpx.Client) -> None:
    r = post(http, gateway, json.dumps({"model": "gpt-17", "messages": GOOD_MESSAGES}))
    error = assert_refused(r, 404, "model_not_found", mentions="gpt-17")
    assert error["param"] == "model"
    assert mock.received == []


def test_unknown_endpoint_is_404_in_the_error_shape(http: httpx.Client) -> None:
    r = http.post("/v1/completions", json={"model": "mock", "prompt": "hi"})
    assert r.status_code == 404
    assert r.json()["error"]["code"] == "not_found"
    r = http.get("/v1/chat/completions")
    assert r.status_code == 405
    assert r.json()["error"]["code"] == "invalid_request"


def test_declared_length_over_the_limit_is_refused_before_the_body(served_gateway: Gateway, mock: MockLLM) -> None:
    # Only 2 bytes of the declared body are ever sent: the answer must not wait for the rest.
    gateway = served_gateway
    host, port = "127.0.0.1", gateway.port
    with socket.create_connection((host, port), timeout=10) as s:
        s.sendall(b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                  b"Authorization: Bearer " + gateway.keys["plain-user"].key.encode()
                  + b"\r\nContent-Length: " + str(LIMIT_BYTES * 4).encode() + b"\r\nConnection: close\r\n\r\n{}")
        data = b""
        while chunk := s.recv(65536):
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 413")
    assert json.loads(body)["error"]["code"] == "request_too_large"
    assert mock.received == []
