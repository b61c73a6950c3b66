"""tools/list and authentication at /mcp: each caller sees the registry tools it could call, nothing else."""

from __future__ import annotations

import httpx
import pytest
from mcp_support import Upstreams, mcp_client, mcp_records, refusal_of
from mcp_types import INVALID_PARAMS

from support.gateways import Gateway

INITIALIZE = {"jsonrpc": "2.0", "id": 1, "method": "initialize",
              "params": {"protocolVersion": "2025-11-25", "capabilities": {},
                         "clientInfo": {"name": "raw", "version": "1"}}}
MCP_HEADERS = {"Accept": "application/json, text/event-stream", "Content-Type": "application/json"}


@pytest.mark.parametrize("mode", ["auto", "legacy"])
async def test_each_caller_sees_the_tools_it_may_call(mcp_gateway: Gateway, mode: str) -> None:
    keys = mcp_gateway.keys
    seen = {}
    for who in ("ana", "sam", "nobody", "root"):
        async with mcp_client(mcp_gateway, keys[who], mode=mode) as client:
            seen[who] = sorted(t.name for t in (await client.list_tools()).tools)
    # Analysts may search; support agents may refund (some amounts, so it is shown although a call with
    # no arguments would be denied); everybody looks customers up and fetches pages; admins may crash.
    assert seen["ana"] == ["crm_lookup", "fetch_page", "kb_search"]
    assert seen["sam"] == ["crm_lookup", "fetch_page", "refund"]
    assert seen["nobody"] == ["crm_lookup", "fetch_page"]
    assert seen["root"] == ["crash", "crm_lookup", "fetch_page"]
    # Never listed: the server's tool the registry does not know, the registry tool no server serves,
    # and the registry tool that is not proxied.
    for names in seen.values():
        assert not {"drop_tables", "lookup_customer", "search", "ghost", "calculator"} & set(names)


async def test_tools_are_offered_under_registry_names_with_the_registry_words(mcp_gateway: Gateway) -> None:
    async with mcp_client(mcp_gateway, mcp_gateway.keys["ana"]) as client:
        tools = {t.name: t for t in (await client.list_tools()).tools}
    # The registry's description wins where it has one; otherwise the server's (pinned) one is shown.
    assert tools["kb_search"].description == "Search the support knowledge base."
    assert tools["crm_lookup"].description == "Look up a customer by id."
    # The registry's argument schema where it says more than "an object", else the server's.
    assert tools["crm_lookup"].input_schema["properties"]["customer_id"]["maxLength"] == 40
    assert tools["fetch_page"].input_schema["required"] == ["url"]


async def test_a_tool_outside_the_registry_is_refused_and_never_reaches_its_server(
        mcp_gateway: Gateway, ups: Upstreams) -> None:
    async with mcp_client(mcp_gateway, mcp_gateway.keys["root"]) as client:
        for name in ("drop_tables", "lookup_customer", "calculator"):
            error = await refusal_of(client, name, {})
            assert error.code == INVALID_PARAMS
            assert error.data["code"] == "tool_unknown"
            assert name in error.message
            assert error.data["request_id"].startswith("req_")
    assert ups.calls() == []
    refused = [r for r in mcp_records(mcp_gateway) if r["tool"] in ("drop_tables", "lookup_customer", "calculator")]
    assert {r["tool"] for r in refused} == {"drop_tables", "lookup_customer", "calculator"}
    assert all(r["outcome"] == "refused" and r["refusal_code"] == "tool_unknown" for r in refused)


@pytest.mark.parametrize("path", ["/mcp", "/mcp/"])
def test_without_a_valid_key_the_answer_is_401_before_any_mcp(mcp_gateway: Gateway, path: str) -> None:
    with httpx.Client(base_url=mcp_gateway.url, timeout=10) as http:
        for headers in ({}, {"Authorization": "Bearer il_not-a-real-key-at-all-0000000000000000000"},
                        {"Authorization": "Basic dXNlcjpwYXNz"}):
            r = http.post(path, json=INITIALIZE, headers={**MCP_HEADERS, **headers})
            assert r.status_code == 401
            assert r.headers["www-authenticate"] == "Bearer"
            error = r.json()["error"]
            assert error["code"] == "invalid_api_key"
            assert "mcp-session-id" not in r.headers
        # The same request with a key is served by the MCP layer.
        ok = http.post(path, json=INITIALIZE,
                       headers={**MCP_HEADERS, "Authorization": f"Bearer {mcp_gateway.keys['nobody'].key}"})
        assert ok.status_code == 200
        assert "serverInfo" in ok.text


def test_readiness_reports_each_mcp_server(mcp_gateway: Gateway) -> None:
    ready = httpx.get(mcp_gateway.url + "/readyz", timeout=10).json()
    assert ready["mcp_servers"]["crm"]["state"] == "ready"
    assert ready["mcp_servers"]["crm"]["transport"] == "stdio"
    assert ready["mcp_servers"]["kb"]["state"] == "ready"
    assert ready["mcp_servers"]["kb"]["transport"] == "http"
