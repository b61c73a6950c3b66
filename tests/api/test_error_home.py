"""The error home: on every route family, a refusal or a failure answers the OpenAI error shape with the
request id, the same one in the body and in ``x-request-id``."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from support.gateways import STANDARD_KEYS, Gateway, GatewayFactory
from support.postgres import set_connections as set_pg_connections


def shaped(r: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert r.status_code == status, r.text
    assert r.headers["content-type"] == "application/json"
    error: dict[str, Any] = r.json()["error"]
    assert error["code"] == code
    assert set(error) == {"message", "type", "param", "code", "request_id"}
    assert error["request_id"].startswith("req_")
    assert error["request_id"] == r.headers["x-request-id"]
    return error


def bearer(gateway: Gateway, name: str) -> dict[str, str]:
    return {"authorization": f"Bearer {gateway.keys[name].key}"}


@pytest.mark.parametrize(("method", "path"), [
    ("GET", "/v1/nothing"),
    ("POST", "/v1/completions"),
    ("GET", "/admin/nothing"),
    ("POST", "/admin/keys/key_1/delete"),
    ("GET", "/v1/approvals/apr_1/votes"),
    # No redirect to the path without the slash: a path is an endpoint or it is not.
    ("GET", "/admin/keys/"),
])
def test_an_unknown_path_is_404_in_the_error_shape(http: httpx.Client, gateway: Gateway, method: str,
                                                   path: str) -> None:
    error = shaped(http.request(method, path, headers=bearer(gateway, "admin")), 404, "not_found")
    assert path in error["message"]


@pytest.mark.parametrize(("method", "path", "allow"), [
    ("GET", "/v1/chat/completions", "POST"),
    ("POST", "/v1/models", "GET, HEAD"),
    ("DELETE", "/healthz", "GET, HEAD"),
    ("PUT", "/admin/keys", "GET, HEAD, POST"),
    ("GET", "/admin/keys/key_1/revoke", "POST"),
    ("GET", "/admin/tools/kb_search/approve", "POST"),
    ("GET", "/v1/approvals", "POST"),
    ("DELETE", "/v1/approvals/apr_1", "GET, HEAD"),
    ("POST", "/admin/approvals", "GET, HEAD"),
])
def test_a_wrong_method_is_405_naming_the_allowed_ones(http: httpx.Client, gateway: Gateway, method: str, path: str,
                                                       allow: str) -> None:
    r = http.request(method, path, headers=bearer(gateway, "admin"))
    error = shaped(r, 405, "invalid_request")
    assert f"{method} is not allowed on {path}" in error["message"]
    assert r.headers["allow"] == allow


@pytest.mark.parametrize(("method", "path"), [
    ("GET", "/v1/models"), ("GET", "/admin/keys"), ("POST", "/admin/scan"), ("GET", "/admin/audit"),
    ("GET", "/admin/approvals"), ("POST", "/v1/approvals"),
])
def test_refusals_on_routed_endpoints_carry_the_request_id(http: httpx.Client, method: str, path: str) -> None:
    r = http.request(method, path, json={})
    shaped(r, 401, "invalid_api_key")
    assert r.headers["www-authenticate"] == "Bearer"


def test_admin_refusals_are_shaped(http: httpx.Client, gateway: Gateway) -> None:
    shaped(http.get("/admin/keys", headers=bearer(gateway, "plain-user")), 403, "permission_denied")
    error = shaped(http.post("/admin/keys", content=b"{not json", headers=bearer(gateway, "admin")), 400,
                   "invalid_request")
    assert "not valid JSON" in error["message"]
    shaped(http.get("/admin/audit?limit=many", headers=bearer(gateway, "admin")), 400, "invalid_request")
    shaped(http.post("/admin/keys/key_nobody_has/revoke", headers=bearer(gateway, "admin")), 404, "not_found")


def test_a_successful_routed_answer_carries_its_request_id(http: httpx.Client, gateway: Gateway) -> None:
    r = http.get("/admin/keys", headers=bearer(gateway, "admin"))
    assert r.status_code == 200
    assert r.headers["x-request-id"].startswith("req_")


def test_the_mcp_mount_without_mcp_servers_is_404_in_the_error_shape(http: httpx.Client, gateway: Gateway) -> None:
    for path in ("/mcp", "/mcp/"):
        error = shaped(http.post(path, json={}, headers=bearer(gateway, "admin")), 404, "not_found")
        assert "mcp.servers" in error["message"]


# -- a store that fails under an admin endpoint -------------------------------------------------------


@pytest.mark.postgres
def test_a_store_failure_on_an_admin_endpoint_is_answered_in_the_error_shape(pg_gateway: Gateway) -> None:
    admin = bearer(pg_gateway, "admin")
    with httpx.Client(base_url=pg_gateway.url, timeout=30) as http:
        assert http.get("/admin/keys", headers=admin).status_code == 200
        set_pg_connections(pg_gateway.store_url, False)
        r = http.get("/admin/keys", headers=admin)
        error = shaped(r, r.status_code, r.json()["error"]["code"])
        assert r.status_code in (500, 503)
        assert error["code"] in ("internal_error", "service_unavailable")
        # The caller learns what to quote, not what broke.
        assert "postgres" not in error["message"].lower()
        set_pg_connections(pg_gateway.store_url, True)
        assert http.get("/admin/keys", headers=admin).status_code == 200
    # The failure is in the log under the same request id.
    assert error["request_id"] in pg_gateway.log()


# -- the MCP mount: what is not a JSON-RPC message at all is the edge's to refuse -----------------------

MCP_HEADERS = {"accept": "application/json, text/event-stream", "content-type": "application/json"}


@pytest.fixture(scope="module")
def mcp_gateway(gateway_factory: GatewayFactory, dead_port: int) -> Iterator[Gateway]:
    def with_mcp(tree: dict[str, Any]) -> None:
        # An upstream that is down takes its tools away, not the gateway: the mount is served all the same.
        tree["mcp"] = {"servers": [{"name": "kb", "url": f"http://127.0.0.1:{dead_port}/mcp", "timeout_seconds": 5}]}

    gw = gateway_factory("sqlite", keys=STANDARD_KEYS[2:3], adjust=with_mcp)
    yield gw
    gw.stop()


@pytest.mark.parametrize("path", ["/mcp", "/mcp/"])
def test_an_mcp_body_that_is_not_json_is_400_in_the_error_shape(mcp_gateway: Gateway, path: str) -> None:
    with httpx.Client(base_url=mcp_gateway.url, timeout=30) as http:
        r = http.post(path, content=b'{"jsonrpc": "2.0", "id": 1, "method": ', headers={
            **MCP_HEADERS, **bearer(mcp_gateway, "admin")})
    error = shaped(r, 400, "invalid_request")
    assert "not valid JSON" in error["message"]


def test_an_oversized_mcp_body_is_413_in_the_error_shape(mcp_gateway: Gateway) -> None:
    body = b'{"jsonrpc": "2.0", "id": 1, "method": "ping", "params": {"pad": "' + b"x" * 300_000 + b'"}}'
    with httpx.Client(base_url=mcp_gateway.url, timeout=30) as http:
        r = http.post("/mcp", content=body, headers={**MCP_HEADERS, **bearer(mcp_gateway, "admin")})
        shaped(r, 413, "request_too_large")

        # Without a declared length too: the limit holds on the bytes that arrive.
        def chunks() -> Iterator[bytes]:
            yield body

        r = http.post("/mcp", content=chunks(), headers={**MCP_HEADERS, **bearer(mcp_gateway, "admin")})
        shaped(r, 413, "request_too_large")


def test_an_mcp_request_without_a_key_is_401_in_the_error_shape(mcp_gateway: Gateway) -> None:
    with httpx.Client(base_url=mcp_gateway.url, timeout=30) as http:
        r = http.post("/mcp", json={"jsonrpc": "2.0", "id": 1, "method": "ping"}, headers=MCP_HEADERS)
    shaped(r, 401, "invalid_api_key")
