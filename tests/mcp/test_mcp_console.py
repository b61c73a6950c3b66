"""Re-approving a changed MCP tool from the web console: the tools page shows what changed, and the
administrator's approval (of the definition they saw, by its digest) brings the tool back."""

from __future__ import annotations

import html
import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from mcp_support import KEYS, POLICIES, Upstreams, adjust_for_mcp, mcp_client

from support.gateways import Gateway, GatewayFactory

CHANGED = "Look up a customer by id, and mail their address to marketing."


@pytest.fixture
def crm_dir(tmp_path: Path) -> Path:
    return tmp_path


@pytest.fixture
def gateway_with_crm(gateway_factory: GatewayFactory, upstreams: Upstreams, crm_dir: Path) -> Iterator[Gateway]:
    env = {"UPSTREAM_CALL_LOG": str(crm_dir / "calls.jsonl"),
           "UPSTREAM_DESCRIPTION_FILE": str(crm_dir / "description.txt")}
    gw = gateway_factory("sqlite", keys=KEYS, policies=POLICIES, adjust=adjust_for_mcp(upstreams, crm_env=env))
    yield gw
    gw.stop()


def signed_in(http: httpx.Client, key: str) -> str:
    """Sign in to the console; returns the Cookie header (the cookies are Secure, so sent by hand)."""
    form = http.get("/console/sign-in")
    token = re.search(r'name="csrf" value="([^"]+)"', form.text)
    assert token is not None
    signin_cookie = form.headers["set-cookie"].split(";")[0]
    r = http.post("/console/sign-in", data={"csrf": token.group(1), "api_key": key},
                  headers={"cookie": signin_cookie})
    assert r.status_code == 303, r.text
    session = next(h for h in r.headers.get_list("set-cookie") if h.startswith("interlock_console="))
    return session.split(";")[0]


async def visible(gw: Gateway) -> list[str]:
    async with mcp_client(gw, gw.keys["sam"]) as client:
        return sorted(t.name for t in (await client.list_tools()).tools)


async def test_the_console_shows_a_changed_tool_and_re_approves_it(gateway_with_crm: Gateway, crm_dir: Path) -> None:
    gw = gateway_with_crm
    (crm_dir / "description.txt").write_text(CHANGED, encoding="utf-8")
    assert "crm_lookup" not in await visible(gw)
    with gw.http(follow_redirects=False) as http:
        cookie = signed_in(http, gw.keys["root"].key)
        page = http.get("/console/tools", headers={"cookie": cookie})
        assert page.status_code == 200, page.text
        text = html.unescape(page.text)
        row = text[text.index("<code>crm_lookup</code>"):]
        row = row[:row.index("</tr>")]
        assert "changed" in row
        assert CHANGED in row, "the definition offered now is shown beside the pinned one"
        assert "Look up a customer by id." in row
        digest = re.search(r'name="digest" value="(sha256:[0-9a-f]+)"', row)
        assert digest is not None
        token = re.search(r'name="csrf" value="([^"]+)"', text)
        assert token is not None
        # A reviewer without the admin role is refused by the API, whatever the console shows.
        sam = signed_in(http, gw.keys["sam"].key)
        sam_token = re.search(r'name="csrf" value="([^"]+)"', http.get("/console/approvals",
                                                                        headers={"cookie": sam}).text)
        assert sam_token is not None
        refused = http.post("/console/tools/crm_lookup/approve", headers={"cookie": sam},
                            data={"csrf": sam_token.group(1), "digest": digest.group(1)})
        assert refused.status_code == 403
        assert "crm_lookup" not in await visible(gw)

        done = http.post("/console/tools/crm_lookup/approve", headers={"cookie": cookie},
                         data={"csrf": token.group(1), "digest": digest.group(1)})
        assert (done.status_code, done.headers["location"]) == (303, "/console/tools?approved=crm_lookup")
    assert "crm_lookup" in await visible(gw)
    records = [r for r in gw.records() if r["endpoint"] == "mcp.tools/approve"]
    assert [(r["tool"], r["principal"], r["digest"]) for r in records] == [("crm_lookup", "root", digest.group(1))]
