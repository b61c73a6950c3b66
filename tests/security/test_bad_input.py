"""The corpus of bad inputs: each gets a clear 4xx in the OpenAI error shape with its request id, on both
stores (the ``gateway`` fixture runs every test once per store), and nothing reaches the model."""

from __future__ import annotations

import gzip
import json
import socket
import zlib
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
    assert error["type"] in {"invalid_request_error", "authentication_error", "permission_error", "not_found_error"}
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


# -- request encodings -------------------------------------------------------------------------------

ECHO = json.dumps({"model": "mock", "messages": [{"role": "user", "content": "squeezed"}]}).encode()


@pytest.mark.parametrize(("coding", "compress"), [
    ("gzip", gzip.compress),
    ("deflate", zlib.compress),
    ("deflate", lambda b: zlib.compress(b, wbits=-15)),  # the bare stream some clients send as "deflate"
    ("gzip, deflate", lambda b: zlib.compress(gzip.compress(b))),
], ids=["gzip", "deflate-zlib", "deflate-bare", "gzip-then-deflate"])
def test_a_compressed_body_is_decoded(gateway: Gateway, mock: MockLLM, http: httpx.Client, coding: str,
                                      compress: Any) -> None:
    r = post(http, gateway, compress(ECHO), headers={"content-encoding": coding})
    assert r.status_code == 200, r.text
    assert r.json()["choices"][0]["message"]["content"] == "squeezed"
    assert mock.last.body["messages"] == [{"role": "user", "content": "squeezed"}]
    assert "content-encoding" not in mock.last.headers


def test_a_body_that_decodes_past_the_limit_is_413(gateway: Gateway, mock: MockLLM, http: httpx.Client) -> None:
    bomb = gzip.compress(b'{"model": "mock", "messages": [{"role": "user", "content": "'
                         + b"0" * (LIMIT_BYTES * 40) + b'"}]}')
    assert len(bomb) < LIMIT_BYTES // 10
    r = post(http, gateway, bomb, headers={"content-encoding": "gzip"})
    assert_refused(r, 413, "request_too_large", mentions="decodes")
    assert mock.received == []
    assert gateway.record(r.headers["x-request-id"])["status"] == 413


@pytest.mark.parametrize(("coding", "body"), [
    ("gzip", ECHO),  # says gzip, is not
    ("gzip", gzip.compress(ECHO)[:-9]),  # cut short
    ("gzip", gzip.compress(ECHO) + b"trailing"),
    ("deflate", b"\x78\x9c" + b"not deflate"),
], ids=["not-gzip", "cut-short", "trailing-bytes", "not-deflate"])
def test_a_body_that_is_not_what_its_encoding_says_is_400(gateway: Gateway, mock: MockLLM, http: httpx.Client,
                                                         coding: str, body: bytes) -> None:
    r = post(http, gateway, body, headers={"content-encoding": coding})
    assert_refused(r, 400, "invalid_request", mentions=coding)
    assert mock.received == []


@pytest.mark.parametrize(("method", "path"), [
    ("POST", "/v1/chat/completions"),
    ("GET", "/v1/models"),
    ("POST", "/v1/approvals"),
    ("GET", "/admin/keys"),
])
def test_an_unknown_encoding_is_415_on_every_route(gateway: Gateway, mock: MockLLM, http: httpx.Client,
                                                   method: str, path: str) -> None:
    headers = {"authorization": f"Bearer {gateway.keys['admin'].key}", "content-type": "application/json",
               "content-encoding": "br"}
    r = http.request(method, path, content=ECHO if method == "POST" else None, headers=headers)
    assert_refused(r, 415, "unsupported_encoding", mentions="br")
    assert mock.received == []


# -- callers and headers -----------------------------------------------------------------------------

@pytest.mark.parametrize("authorization", [
    None, "Bearer", "Bearer il_unknown-key-0000000000000000000000000000000", "Basic dXNlcjpwYXNz",
    "Bearer " + "A" * 5000,
], ids=["none", "empty-bearer", "unknown-key", "basic", "huge-token"])
def test_a_bad_key_is_401(gateway: Gateway, mock: MockLLM, http: httpx.Client, authorization: str | None) -> None:
    headers = {"content-type": "application/json"}
    if authorization is not None:
        headers["authorization"] = authorization
    r = http.post("/v1/chat/completions", content=ECHO, headers=headers)
    assert_refused(r, 401, "invalid_api_key")
    assert mock.received == []
    assert gateway.record(r.headers["x-request-id"])["status"] == 401


@pytest.mark.parametrize(("who", "extra"), [
    ("plain-user", [("authorization", "{key}")]),
    ("plain-user", [("x-api-key", "{other}")]),
    ("acting-app", [("x-interlock-end-user", "alice"), ("x-interlock-end-user", "bob")]),
], ids=["two-authorization", "authorization-and-another-x-api-key", "two-end-users"])
def test_a_repeated_or_conflicting_identity_header_is_400(gateway: Gateway, mock: MockLLM, http: httpx.Client,
                                                          who: str, extra: list[tuple[str, str]]) -> None:
    key = gateway.keys[who].key
    headers = [("authorization", f"Bearer {key}"), ("content-type", "application/json")]
    other = gateway.keys["admin"].key
    headers += [(name, value.format(key=f"Bearer {key}", other=other)) for name, value in extra]
    r = http.post("/v1/chat/completions", content=ECHO, headers=headers)
    assert_refused(r, 400, "invalid_request")
    assert mock.received == []
    assert gateway.record(r.headers["x-request-id"])["status"] == 400


def test_an_unknown_model_on_the_other_store_too(gateway: Gateway, mock: MockLLM, http: httpx.Client) -> None:
    r = post(http, gateway, json.dumps({"model": "../../etc/passwd", "messages": GOOD_MESSAGES}))
    assert_refused(r, 404, "model_not_found")
    assert mock.received == []


# -- text made to slow a backtracking matcher ------------------------------------------------------

@pytest.mark.parametrize("filler", [
    "a@" * 40_000,  # e-mail: endless local parts with no domain
    "4" * 80_000,  # card and phone numbers: one endless digit run
    "1 2 " * 20_000,  # spaced digits: every split a candidate
    "-----BEGIN " * 7_000,  # private key headers with no end
    "x" * 79_990 + "!",
], ids=["at-signs", "digit-run", "spaced-digits", "key-headers", "one-long-word"])
def test_adversarial_text_is_scanned_whole_and_a_secret_after_it_still_blocks(
        gateway: Gateway, mock: MockLLM, http: httpx.Client, filler: str) -> None:
    text = filler + " AKIAIOSFODNN7EXAMPLE"
    r = post(http, gateway, json.dumps({"model": "mock", "messages": [{"role": "user", "content": text}]}))
    assert_refused(r, 403, "data_blocked")
    assert mock.received == []
    assert gateway.record(r.headers["x-request-id"])["refusal_code"] == "data_blocked"


# -- the other routes that read a body ---------------------------------------------------------------

ROUTED_BODIES = [
    pytest.param(b'{"title": ', 400, id="malformed-json"),
    pytest.param(b"[1, 2]", 400, id="array-not-object"),
    pytest.param(b'{"title": "\xff\xfe"}', 400, id="invalid-utf8"),
    pytest.param(('{"a": ' + nested(MAX_DEPTH + 5) + "}").encode(), 400, id="too-deep"),
    pytest.param(b'{"title": "' + b"x" * (LIMIT_BYTES * 2) + b'"}', 413, id="too-large"),
    pytest.param(gzip.compress(b'{"title": "' + b"x" * (LIMIT_BYTES * 2) + b'"}'), 413, id="gzip-bomb"),
]


@pytest.mark.parametrize("path", ["/v1/approvals", "/admin/keys", "/admin/scan",
                                  "/admin/approvals/apr_000000000000000000000000/decide"])
@pytest.mark.parametrize(("body", "status"), ROUTED_BODIES)
def test_a_bad_body_on_any_route_is_a_clear_error(gateway: Gateway, mock: MockLLM, http: httpx.Client, path: str,
                                                  body: bytes, status: int) -> None:
    headers = {"authorization": f"Bearer {gateway.keys['admin'].key}", "content-type": "application/json"}
    if body[:2] == b"\x1f\x8b":
        headers["content-encoding"] = "gzip"
    r = http.post(path, content=body, headers=headers)
    assert_refused(r, status, "invalid_request" if status == 400 else "request_too_large")
    assert mock.received == []
