"""Use cases apply to MCP ``tools/call`` as to chat: a call belongs to the use case named in the header (one
its caller may use) or bound to its application, policy sees ``context.use_case`` (a draft serves only its
testers, a retired use case no one), and the record names the use case and its state."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from mcp_support import KEYS, POLICIES, Upstreams, adjust_for_mcp, mcp_client, mcp_records, refusal_of, text_of

from interlock.policy.setup import default_policy_dir
from interlock.tools.mcp.gateway import REFUSED
from support.gateways import Gateway, GatewayFactory, KeySpec
from usecases.usecases_support import manifest, write_manifest

HEADER = "x-interlock-use-case"
TOOLS = ["kb_search", "crm_lookup"]


@pytest.fixture(scope="module")
def uc_gateway(gateway_factory: GatewayFactory, upstreams: Upstreams,
               tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    directory = tmp_path_factory.mktemp("mcp-usecases")
    common = {"tools": TOOLS, "knowledge_sources": [], "budgets": [], "evaluations": []}
    for doc in (manifest(name="support", users={"principals": ["ana", "nobody"]}, applications=["portal"], **common),
                manifest(name="drafty", state="draft", users={"principals": ["ana", "nobody"]},
                         testers={"principals": ["ana"]}, applications=[], **common),
                manifest(name="old", state="retired", users={"principals": ["ana"]}, applications=[], **common)):
        write_manifest(directory, doc)
    mcp = adjust_for_mcp(upstreams)

    def adjust(tree: dict[str, object]) -> None:
        mcp(tree)  # type: ignore[arg-type]
        tree["use_cases"] = {"dir": str(directory), "required": True}

    upstreams.clear()
    policies = {**POLICIES, "usecases.cedar": (default_policy_dir() / "usecases.cedar").read_text()}
    gw = gateway_factory("sqlite", keys=(*KEYS, KeySpec("portal", kind="app")), policies=policies, adjust=adjust)
    yield gw
    gw.stop()


def _record(gw: Gateway, request_id: str | None = None) -> dict[str, object]:
    records = mcp_records(gw)
    return next(r for r in reversed(records) if request_id is None or r["request_id"] == request_id)


async def test_a_call_of_a_use_case_named_in_the_header_is_served_and_recorded(uc_gateway: Gateway) -> None:
    async with mcp_client(uc_gateway, uc_gateway.keys["ana"], headers={HEADER: "support"}) as client:
        result = await client.call_tool("kb_search", {"query": "refunds"})
    assert text_of(result) == "3 articles match 'refunds'."
    rec = _record(uc_gateway)
    assert (rec["tool"], rec["outcome"], rec["use_case"], rec["use_case_state"]) == ("kb_search", "ok", "support", "pilot")


async def test_an_application_bound_to_a_use_case_needs_no_header(uc_gateway: Gateway) -> None:
    async with mcp_client(uc_gateway, uc_gateway.keys["portal"]) as client:
        result = await client.call_tool("crm_lookup", {"customer_id": "c-42"})
    assert text_of(result) == "Customer c-42: Ada Example, gold tier."
    assert _record(uc_gateway)["use_case"] == "support"


async def test_a_call_outside_any_use_case_or_of_one_not_the_callers_is_refused(uc_gateway: Gateway,
                                                                              ups: Upstreams) -> None:
    async with mcp_client(uc_gateway, uc_gateway.keys["sam"]) as client:
        nameless = await refusal_of(client, "crm_lookup", {"customer_id": "c-1"})
    async with mcp_client(uc_gateway, uc_gateway.keys["sam"], headers={HEADER: "support"}) as client:
        not_a_user = await refusal_of(client, "crm_lookup", {"customer_id": "c-1"})
    async with mcp_client(uc_gateway, uc_gateway.keys["ana"], headers={HEADER: "nope"}) as client:
        unknown = await refusal_of(client, "crm_lookup", {"customer_id": "c-1"})
    assert (nameless.code, nameless.data["code"]) == (REFUSED, "policy_denied")
    assert "belongs to no use case" in nameless.message
    assert not_a_user.data["code"] == "policy_denied"
    assert "not a user of the use case 'support'" in not_a_user.message
    assert unknown.data["code"] == "invalid_request"
    assert ups.calls() == []
    for error in (nameless, not_a_user, unknown):
        rec = _record(uc_gateway, error.data["request_id"])
        assert rec["outcome"] == "refused"
        assert "use_case" not in rec


async def test_a_draft_serves_only_its_testers(uc_gateway: Gateway, ups: Upstreams) -> None:
    async with mcp_client(uc_gateway, uc_gateway.keys["ana"], headers={HEADER: "drafty"}) as client:
        served = await client.call_tool("crm_lookup", {"customer_id": "c-42"})
    async with mcp_client(uc_gateway, uc_gateway.keys["nobody"], headers={HEADER: "drafty"}) as client:
        refused = await refusal_of(client, "crm_lookup", {"customer_id": "c-42"})
    assert text_of(served) == "Customer c-42: Ada Example, gold tier."
    assert (refused.code, refused.data["code"]) == (REFUSED, "tool_denied")
    assert "default.use_case.draft-testers-only.tools" in refused.message
    assert ups.calls() == [{"tool": "lookup_customer", "arguments": {"customer_id": "c-42"}}]
    rec = _record(uc_gateway, refused.data["request_id"])
    assert (rec["use_case"], rec["use_case_state"], rec["outcome"]) == ("drafty", "draft", "refused")
    assert rec["decisions"] == [{"stage": "tool", "outcome": "deny", "code": "tool_denied",
                                 "policy_ids": ["default.use_case.draft-testers-only.tools"]}]


async def test_a_retired_use_case_refuses_everyone(uc_gateway: Gateway, ups: Upstreams) -> None:
    async with mcp_client(uc_gateway, uc_gateway.keys["ana"], headers={HEADER: "old"}) as client:
        refused = await refusal_of(client, "crm_lookup", {"customer_id": "c-42"})
    assert refused.data["code"] == "tool_denied"
    assert "default.use_case.retired.tools" in refused.message
    assert ups.calls() == []
    assert _record(uc_gateway, refused.data["request_id"])["use_case_state"] == "retired"

