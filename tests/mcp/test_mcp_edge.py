"""The HTTP edge of /mcp: every answer carries x-request-id, and a JSON-RPC error the gateway produces
names the request id that finds its log lines and audit record; bodies are bounded and decoded like on
every other route."""

from __future__ import annotations

import gzip
import json
from typing import Any

import httpx
from mcp_support import mcp_records

from support.gateways import Gateway

MCP_HEADERS = {"Accept": "application/json, text/event-stream", "Content-Type": "application/json"}
INITIALIZE = {"jsonrpc": "2.0", "id": 1, "method": "initialize",
              "params": {"protocolVersion": "2025-11-25", "capabilities": {},
                         "clientInfo": {"name": "raw", "version": "1"}}}
LIMIT_BYTES = 256 * 1024  # limits.max_body_bytes in the test settings


def post(gw: Gateway, body: bytes | dict[str, Any], headers: dict[str, str] | None = None) -> httpx.Response:
    content = body if isinstance(body, bytes) else json.dumps(body).encode()
    sent = {**MCP_HEADERS, "Authorization": f"Bearer {gw.keys['root'].key}", **(headers or {})}
    return httpx.post(gw.url + "/mcp", content=content, headers=sent, timeout=30)


def messages(r: httpx.Response) -> list[dict[str, Any]]:
    """The JSON-RPC messages of an answer, whether sent as JSON or as server-sent events."""
    if r.headers["content-type"].startswith("text/event-stream"):
        return [json.loads(line[5:]) for line in r.text.splitlines() if line.startswith("data:") and line[5:].strip()]
    doc = r.json()
    return doc if isinstance(doc, list) else [doc]


def test_a_successful_answer_carries_a_request_id(mcp_gateway: Gateway) -> None:
    r = post(mcp_gateway, INITIALIZE)
    assert r.status_code == 200
    assert r.headers["x-request-id"].startswith("req_")
    assert "serverInfo" in messages(r)[0]["result"]


def test_a_refused_tool_call_names_the_request_id_of_its_audit_record(mcp_gateway: Gateway) -> None:
    call = {"jsonrpc": "2.0", "id": 7, "method": "tools/call", "params": {"name": "drop_tables", "arguments": {}}}
    r = post(mcp_gateway, call)
    request_id = r.headers["x-request-id"]
    error = messages(r)[0]["error"]
    assert error["data"]["request_id"] == request_id
    assert [rec["refusal_code"] for rec in mcp_records(mcp_gateway) if rec["request_id"] == request_id] == [
        "tool_unknown"]


def test_a_json_rpc_error_of_the_protocol_layer_names_the_request_id(mcp_gateway: Gateway) -> None:
    for body in ({"jsonrpc": "2.0", "id": 3, "method": "no/such/method"},
                 {"jsonrpc": "1.0", "id": 4, "method": "initialize"},
                 {"jsonrpc": "2.0", "id": 5, "method": "tools/call", "params": {"arguments": 12}}):
        r = post(mcp_gateway, body)
        request_id = r.headers["x-request-id"]
        found = messages(r)
        assert found, r.text
        assert all("error" in m for m in found), r.text
        for m in found:
            data = m["error"].get("data")
            assert (isinstance(data, dict) and data.get("request_id") == request_id) \
                or request_id in m["error"]["message"], m


def test_a_body_that_is_not_json_is_the_error_shape_with_the_request_id(mcp_gateway: Gateway) -> None:
    r = post(mcp_gateway, b"{not json")
    assert r.status_code == 400
    assert r.json()["error"]["request_id"] == r.headers["x-request-id"]


def test_an_oversized_body_is_a_shaped_413(mcp_gateway: Gateway) -> None:
    big = {**INITIALIZE, "params": {**INITIALIZE["params"], "pad": "x" * (LIMIT_BYTES + 10)}}  # type: ignore[dict-item]
    r = post(mcp_gateway, big)
    assert r.status_code == 413
    assert r.headers["content-type"] == "application/json"
    error = r.json()["error"]
    assert error["code"] == "request_too_large"
    assert error["request_id"] == r.headers["x-request-id"]


def test_a_gzip_body_is_decoded_and_a_gzip_bomb_refused(mcp_gateway: Gateway) -> None:
    r = post(mcp_gateway, gzip.compress(json.dumps(INITIALIZE).encode()), {"Content-Encoding": "gzip"})
    assert r.status_code == 200, r.text
    assert "serverInfo" in messages(r)[0]["result"]
    bomb = gzip.compress(b'{"pad": "' + b"0" * (LIMIT_BYTES * 20) + b'"}')
    assert len(bomb) < LIMIT_BYTES
    r = post(mcp_gateway, bomb, {"Content-Encoding": "gzip"})
    assert r.status_code == 413
    assert r.json()["error"]["request_id"] == r.headers["x-request-id"]
