"""The listing rule (``PolicyEngine.may_list_tool``): shown unless this caller can never call the tool."""

from __future__ import annotations

from pathlib import Path

import pytest

from interlock.identity.principal import Principal
from interlock.policy import EntityConfig, PolicyEngine
from interlock.policy.entities import ToolEntity

POLICIES = """\
@id("always")
permit (principal, action == Action::"call_tool", resource == Tool::"open");

@id("small-amounts")
permit (principal in Role::"agent", action == Action::"call_tool", resource == Tool::"pay")
when { context.arguments has amount && context.arguments.amount < 100 };

@id("big-amounts-approved")
permit (principal in Role::"agent", action == Action::"call_tool_with_approval", resource == Tool::"wire")
when { context.arguments has amount && context.arguments.amount < 10000 };

@id("everybody-pays")
permit (principal, action == Action::"call_tool", resource == Tool::"pay");

@id("interns-never-pay")
forbid (principal in Role::"intern", action in Action::"use_tool", resource == Tool::"pay");

@id("no-huge-wires")
forbid (principal, action in Action::"use_tool", resource == Tool::"wire")
when { context.arguments has amount && context.arguments.amount > 50000 };

@id("approved-only")
permit (principal, action == Action::"call_tool_with_approval", resource == Tool::"delete")
when { principal in Role::"agent" };
"""

TOOLS = ("open", "pay", "wire", "delete", "unlisted")


@pytest.fixture(scope="module")
def engine(tmp_path_factory: pytest.TempPathFactory) -> PolicyEngine:
    directory: Path = tmp_path_factory.mktemp("listing-policies")
    (directory / "tools.cedar").write_text(POLICIES, encoding="utf-8")
    config = EntityConfig(roles=("agent", "intern"),
                          tools=tuple(ToolEntity(name=t) for t in ("open", "pay", "wire", "delete", "unlisted")))
    return PolicyEngine.load(directory, config)


def listed(engine: PolicyEngine, *roles: str) -> list[str]:
    caller = Principal(id="p", kind="user", roles=frozenset(roles))
    return [t for t in (*TOOLS, "not_in_catalogue") if engine.may_list_tool(caller, None, t)]


def test_a_tool_is_listed_when_some_arguments_could_be_allowed_or_approved(engine: PolicyEngine) -> None:
    # wire: approval for amounts under 10000 (a condition on the arguments), forbidden above 50000 only.
    # delete: approval only, for agents. A call with no arguments would be denied for pay and wire.
    assert listed(engine, "agent") == ["open", "pay", "wire", "delete"]


def test_a_tool_no_permit_can_reach_or_a_forbid_always_covers_is_hidden(engine: PolicyEngine) -> None:
    assert listed(engine) == ["open", "pay"]  # wire and delete are for agents; nothing permits unlisted
    # A forbid that does not look at the arguments hides the tool whatever the permits say.
    assert listed(engine, "intern") == ["open"]
    assert listed(engine, "agent", "intern") == ["open", "wire", "delete"]


def test_listing_is_not_permission(engine: PolicyEngine) -> None:
    agent = Principal(id="p", kind="user", roles=frozenset({"agent"}))
    assert engine.may_list_tool(agent, None, "wire")
    assert engine.tool_call(agent, None, "wire", {}).outcome == "deny"
    assert engine.tool_call(agent, None, "wire", {"amount": 500}).outcome == "approve"
    assert engine.tool_call(agent, None, "wire", {"amount": 60000}).outcome == "deny"


def test_a_caller_policy_cannot_place_is_shown_nothing(engine: PolicyEngine) -> None:
    stranger = Principal(id="p", kind="user", tenant="elsewhere")
    assert [t for t in TOOLS if engine.may_list_tool(stranger, None, t)] == []
