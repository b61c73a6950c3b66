"""Two worker processes behind one port: MCP needs no session state in a worker, and an approval given
through one worker holds in the other."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from mcp_support import KEYS, POLICIES, Upstreams, adjust_for_mcp, admin_http, mcp_client, text_of

from support.gateways import Gateway, GatewayFactory


@pytest.fixture(scope="module")
def description(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("workers-crm") / "description.txt"


@pytest.fixture(scope="module")
def gw(gateway_factory: GatewayFactory, upstreams: Upstreams, description: Path) -> Iterator[Gateway]:
    env = {**upstreams.env, "UPSTREAM_DESCRIPTION_FILE": str(description)}
    gateway = gateway_factory("sqlite", workers=2, keys=KEYS, policies=POLICIES,
                              adjust=adjust_for_mcp(upstreams, crm_env=env))
    yield gateway
    gateway.stop()


def rewrite(path: Path, text: str) -> None:
    path.write_text(text, encoding="utf-8")


@pytest.mark.parametrize("mode", ["auto", "legacy"])
async def test_one_client_is_served_by_either_worker(gw: Gateway, mode: str) -> None:
    async with mcp_client(gw, gw.keys["sam"], mode=mode) as client:
        for n in range(12):
            result = await client.call_tool("crm_lookup", {"customer_id": f"w-{n}"})
            assert text_of(result) == f"Customer w-{n}: Ada Example, gold tier."


async def test_an_approval_through_one_worker_holds_in_both(gw: Gateway, description: Path) -> None:
    rewrite(description, "Look up a customer by id (v2).")

    async def seen() -> list[bool]:
        out = []
        for _ in range(8):  # separate connections: both workers answer some of them
            async with mcp_client(gw, gw.keys["sam"]) as client:
                out.append("crm_lookup" in {t.name for t in (await client.list_tools()).tools})
        return out

    assert await seen() == [False] * 8
    with admin_http(gw, gw.keys["root"]) as http:
        r = http.post("/admin/tools/crm_lookup/approve", json={})
    assert r.status_code == 200, r.text
    assert await seen() == [True] * 8
