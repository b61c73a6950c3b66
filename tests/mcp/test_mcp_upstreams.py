"""Upstream servers that are down or die: the gateway keeps serving, says what is missing, reconnects."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator

import httpx
import pytest
from mcp_support import KEYS, POLICIES, Upstreams, adjust_for_mcp, mcp_client, mcp_records, refusal_of, text_of

from interlock.tools.mcp.gateway import UPSTREAM_FAILED
from support.gateways import Gateway, GatewayFactory


@pytest.fixture(scope="module")
def gw(gateway_factory: GatewayFactory, upstreams: Upstreams, dead_port: int) -> Iterator[Gateway]:
    """The HTTP server ``kb`` is declared on a port nobody listens on."""
    gateway = gateway_factory("sqlite", keys=KEYS, policies=POLICIES,
                              adjust=adjust_for_mcp(upstreams, kb_url=f"http://127.0.0.1:{dead_port}/mcp"))
    yield gateway
    gateway.stop()


def readiness(gw: Gateway) -> tuple[int, dict[str, object]]:
    r = httpx.get(gw.url + "/readyz", timeout=10)
    return r.status_code, r.json()


async def test_an_unreachable_server_takes_its_tools_away_not_the_gateway(gw: Gateway, ups: Upstreams) -> None:
    status, ready = readiness(gw)
    assert status == 200
    assert ready["ready"] is True
    servers = ready["mcp_servers"]
    assert servers["crm"]["state"] == "ready"  # type: ignore[index]
    assert servers["kb"]["state"] in ("down", "connecting")  # type: ignore[index]
    assert "ConnectError" in servers["kb"]["last_error"]  # type: ignore[index]

    async with mcp_client(gw, gw.keys["ana"]) as client:
        names = sorted(t.name for t in (await client.list_tools()).tools)
        assert names == ["crm_lookup"]  # kb_search and fetch_page live on the missing server
        error = await refusal_of(client, "kb_search", {"query": "refunds"})
        looked_up = await client.call_tool("crm_lookup", {"customer_id": "c-3"})
    assert error.code == UPSTREAM_FAILED
    assert error.data["code"] == "upstream_unavailable"
    assert "'kb'" in error.message
    assert text_of(looked_up) == "Customer c-3: Ada Example, gold tier."
    rec = next(r for r in mcp_records(gw) if r["request_id"] == error.data["request_id"])
    assert (rec["outcome"], rec["refusal_code"], rec["server"]) == ("refused", "upstream_unavailable", "kb")


async def test_a_server_that_dies_is_reconnected(gw: Gateway, ups: Upstreams) -> None:
    async with mcp_client(gw, gw.keys["root"]) as client:
        error = await refusal_of(client, "crash", {})
    assert error.code == UPSTREAM_FAILED
    assert error.data["code"] == "upstream_unavailable"
    deadline = time.monotonic() + 20
    while True:
        _, ready = readiness(gw)
        if ready["mcp_servers"]["crm"]["state"] == "ready":  # type: ignore[index]
            break
        assert time.monotonic() < deadline, f"crm was not reconnected: {ready}"
        await asyncio.sleep(0.1)
    async with mcp_client(gw, gw.keys["sam"]) as client:
        result = await client.call_tool("crm_lookup", {"customer_id": "c-4"})
    assert text_of(result) == "Customer c-4: Ada Example, gold tier."
    assert [c["tool"] for c in ups.calls()] == ["crash", "lookup_customer"]
