"""Calls policy holds for a person: the caller waits (a while), an admin decides through the approvals
API, and the call runs once with the approved, possibly edited, arguments, or is refused."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from mcp import Client
from mcp.shared.exceptions import MCPError
from mcp_support import KEYS, POLICIES, Upstreams, adjust_for_mcp, mcp_client, mcp_records, refusal_of, text_of

from interlock.tools.mcp.gateway import APPROVAL_META_KEY, APPROVAL_PENDING, REFUSED
from support.gateways import Gateway, GatewayFactory

WAIT = 2.0
BIG_REFUND = {"payment_id": "pay_9", "amount": 500, "currency": "EUR"}


@pytest.fixture(scope="module")
def gw(gateway_factory: GatewayFactory, upstreams: Upstreams) -> Iterator[Gateway]:
    gateway = gateway_factory("sqlite", keys=KEYS, policies=POLICIES,
                              adjust=adjust_for_mcp(upstreams, approval_wait=WAIT))
    yield gateway
    gateway.stop()


async def pending_request(gw: Gateway) -> dict[str, Any]:
    """The one approval request waiting for the admin, as the approvals API shows it (within the wait)."""
    deadline = asyncio.get_running_loop().time() + WAIT
    async with httpx.AsyncClient(base_url=gw.url, timeout=10,
                                 headers={"Authorization": f"Bearer {gw.keys['root'].key}"}) as http:
        while True:
            waiting = (await http.get("/admin/approvals")).json()["data"]
            if waiting:
                assert len(waiting) == 1
                return dict(waiting[0])
            assert asyncio.get_running_loop().time() < deadline, "no approval request appeared"
            await asyncio.sleep(0.05)


async def decide(gw: Gateway, approval_id: str, decision: str, **extra: Any) -> dict[str, Any]:
    async with httpx.AsyncClient(base_url=gw.url, timeout=10,
                                 headers={"Authorization": f"Bearer {gw.keys['root'].key}"}) as http:
        r = await http.post(f"/admin/approvals/{approval_id}/decide", json={"decision": decision, **extra})
    assert r.status_code == 200, r.text
    return dict(r.json())


def refunds(ups: Upstreams) -> list[dict[str, Any]]:
    return [c["arguments"] for c in ups.calls() if c["tool"] == "refund"]


async def test_a_held_call_runs_once_an_admin_approves_it(gw: Gateway, ups: Upstreams) -> None:
    async with mcp_client(gw, gw.keys["sam"]) as client:
        call = asyncio.create_task(client.call_tool("refund", BIG_REFUND))
        request = await pending_request(gw)
        assert refunds(ups) == []  # held: nothing ran yet
        assert request["tool"] == "refund"
        assert request["requester"] == "sam"
        assert request["arguments"] == BIG_REFUND
        assert request["policy_ids"] == ["t.refund-approval"]
        await decide(gw, request["id"], "approve")
        result = await call
    assert text_of(result) == "Refunded 500 EUR on pay_9."
    assert refunds(ups) == [BIG_REFUND]
    rec = next(r for r in mcp_records(gw) if r.get("approval_id") == request["id"])
    assert (rec["outcome"], rec["status"], rec["principal"]) == ("ok", 200, "sam")
    assert {"stage": "approval", "outcome": "approved"} in rec["decisions"]


async def test_an_approver_may_lower_the_amount_and_the_edited_call_runs(gw: Gateway, ups: Upstreams) -> None:
    async with mcp_client(gw, gw.keys["sam"]) as client:
        call = asyncio.create_task(client.call_tool("refund", {**BIG_REFUND, "payment_id": "pay_10"}))
        request = await pending_request(gw)
        await decide(gw, request["id"], "approve", arguments={"amount": 80})
        result = await call
    assert text_of(result) == "Refunded 80 EUR on pay_10."
    assert refunds(ups) == [{"payment_id": "pay_10", "amount": 80, "currency": "EUR"}]


async def test_a_rejected_call_is_refused_and_never_runs(gw: Gateway, ups: Upstreams) -> None:
    async with mcp_client(gw, gw.keys["sam"]) as client:
        call = asyncio.create_task(refusal_of(client, "refund", {**BIG_REFUND, "payment_id": "pay_11"}))
        request = await pending_request(gw)
        await decide(gw, request["id"], "reject", reason="not this customer")
        error = await call
    assert error.code == REFUSED
    assert error.data["code"] == "approval_rejected"
    assert error.data["approval_id"] == request["id"]
    assert "rejected" in error.message
    assert "not this customer" in error.message
    assert refunds(ups) == []
    rec = next(r for r in mcp_records(gw) if r.get("approval_id") == request["id"])
    assert (rec["outcome"], rec["refusal_code"]) == ("refused", "approval_rejected")


async def test_a_call_still_pending_says_so_and_its_retry_runs_once_after_approval(gw: Gateway,
                                                                                  ups: Upstreams) -> None:
    arguments = {**BIG_REFUND, "payment_id": "pay_12"}
    async with mcp_client(gw, gw.keys["sam"]) as client:
        pending = await refusal_of(client, "refund", arguments)
        assert pending.code == APPROVAL_PENDING
        assert pending.data["code"] == "approval_pending"
        approval_id = pending.data["approval_id"]
        assert approval_id in pending.message
        held = next(r for r in mcp_records(gw) if r["request_id"] == pending.data["request_id"])
        assert (held["outcome"], held["refusal_code"], held["approval_id"]) == ("held", "approval_pending",
                                                                                approval_id)
        assert refunds(ups) == []

        await decide(gw, approval_id, "approve")
        retried = await client.call_tool("refund", arguments)
        assert text_of(retried) == "Refunded 500 EUR on pay_12."
        # An approval runs its call once: the same call again is a new request for a person.
        again = await refusal_of(client, "refund", arguments)
        assert again.data["code"] == "approval_pending"
        assert again.data["approval_id"] != approval_id
        await decide(gw, again.data["approval_id"], "reject")
    assert refunds(ups) == [arguments]


async def test_a_retry_naming_its_approval_runs_what_was_approved(gw: Gateway, ups: Upstreams) -> None:
    arguments = {**BIG_REFUND, "payment_id": "pay_13"}
    async with mcp_client(gw, gw.keys["sam"]) as client:
        pending = await refusal_of(client, "refund", arguments)
        approval_id = pending.data["approval_id"]
        await decide(gw, approval_id, "approve", arguments={"amount": 300})
        # The edited call no longer matches what the caller sent; naming the approval runs it.
        result = await client.call_tool("refund", arguments, meta={APPROVAL_META_KEY: approval_id})
        assert text_of(result) == "Refunded 300 EUR on pay_13."
        # Spent: naming it again is refused.
        used = await refusal_of_meta(client, arguments, approval_id)
    assert used.data["code"] == "approval_used"
    assert refunds(ups) == [{**arguments, "amount": 300}]
    # Another support agent cannot spend someone else's approval, nor learn that it exists.
    async with mcp_client(gw, gw.create_key("sue", "support_agent")) as other:
        foreign = await refusal_of_meta(other, arguments, approval_id)
    assert foreign.data["code"] == "approval_not_found"
    assert refunds(ups) == [{**arguments, "amount": 300}]


async def refusal_of_meta(client: Client, arguments: dict[str, Any], approval_id: str) -> MCPError:
    try:
        result = await client.call_tool("refund", arguments, meta={APPROVAL_META_KEY: approval_id})
    except MCPError as exc:
        return exc
    raise AssertionError(f"not refused: {result}")


async def test_a_caller_that_leaves_while_held_is_still_recorded(gw: Gateway, ups: Upstreams) -> None:
    async with mcp_client(gw, gw.keys["sam"]) as client:
        call = asyncio.create_task(client.call_tool("refund", {**BIG_REFUND, "payment_id": "pay_14"}))
        request = await pending_request(gw)
        call.cancel()
        with pytest.raises(asyncio.CancelledError):
            await call
    deadline = asyncio.get_running_loop().time() + 10
    while not [r for r in mcp_records(gw) if r.get("approval_id") == request["id"]]:
        assert asyncio.get_running_loop().time() < deadline, "the abandoned call was not recorded"
        await asyncio.sleep(0.05)
    rec = next(r for r in mcp_records(gw) if r.get("approval_id") == request["id"])
    assert (rec["outcome"], rec["refusal_code"]) == ("cancelled", "client_closed")
    await decide(gw, request["id"], "reject")
    assert refunds(ups) == []
