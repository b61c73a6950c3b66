"""The tool gate judges one call: registry, schema, data classes, then Cedar; anything broken refuses."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from interlock.detect import Detector
from interlock.identity.principal import Principal
from interlock.policy.holder import PolicyHolder
from interlock.policy.setup import entity_config
from interlock.settings import ConfigError, Settings, load_settings
from interlock.tools import ToolGate, ToolRegistry
from interlock.tools.gate import ToolArgumentsError, parse_arguments

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


@pytest.fixture(scope="module")
def settings() -> Settings:
    return load_settings(EXAMPLES / "interlock.yaml", environ={})


@pytest.fixture(scope="module")
def gate(settings: Settings) -> ToolGate:
    holder = PolicyHolder.load(EXAMPLES / "policies", entity_config(settings, EXAMPLES / "policies"))
    return ToolGate(ToolRegistry(settings.tools), holder, Detector().scan)


def agent(*roles: str, id: str = "sam") -> Principal:
    return Principal(id=id, kind="user", tenant="acme", roles=frozenset(roles))


SAM = agent("support_agent")
ANA = agent("analyst", id="ana")


def refund(amount: Any, **extra: Any) -> dict[str, Any]:
    return {"payment_id": "pay_123", "amount": amount, "currency": "EUR", **extra}


def test_unregistered_tool_is_refused(gate: ToolGate) -> None:
    verdict = gate.check(SAM, None, "drop_database", {})
    assert (verdict.outcome, verdict.code) == ("deny", "tool_unknown")
    assert "drop_database" in verdict.message


@pytest.mark.parametrize(("arguments", "fragment"), [
    ({}, "required"),
    (refund("ten"), "arguments.amount"),
    (refund(5, note="x"), "no other fields"),
    ({"payment_id": "order-1", "amount": 5, "currency": "EUR"}, "arguments.payment_id"),
    (refund(5, currency="JPY") | {"currency": "JPY"}, "arguments.currency"),
    (refund(-3), "exclusiveMinimum"),
    ([1, 2], "JSON object"),
])
def test_arguments_must_match_the_schema(gate: ToolGate, arguments: Any, fragment: str) -> None:
    verdict = gate.check(SAM, None, "refund_payment", arguments)
    assert (verdict.outcome, verdict.code) == ("deny", "tool_arguments_invalid")
    assert fragment in verdict.message


def test_schema_errors_never_quote_argument_values(gate: ToolGate) -> None:
    verdict = gate.check(SAM, None, "send_email", {"to": ["a@acme.example"], "subject": "s" * 300,
                                                   "body": "SECRET-BODY-TEXT"})
    assert verdict.code == "tool_arguments_invalid"
    assert "sss" not in verdict.message
    assert "SECRET-BODY-TEXT" not in verdict.message


@pytest.mark.parametrize(("amount", "outcome", "policy"), [
    (50, "allow", "tools.refund-small"),
    (500, "approve", "tools.refund-approval"),
    (5000, "deny", "tools.refund-limit"),
])
def test_policy_bounds_decide_run_hold_or_refuse(gate: ToolGate, amount: int, outcome: str, policy: str) -> None:
    verdict = gate.check(SAM, None, "refund_payment", refund(amount))
    assert verdict.outcome == outcome
    assert policy in verdict.policy_ids
    assert verdict.route == "payments"
    assert verdict.risk == "high"


def test_recipients_outside_the_company_need_approval(gate: ToolGate) -> None:
    inside = gate.check(SAM, None, "send_email", {"to": ["bob@acme.example"], "subject": "Hi", "body": "Hello"})
    outside = gate.check(SAM, None, "send_email", {"to": ["Carol <carol@gmail.com>"], "subject": "Hi", "body": "x"})
    assert inside.outcome == "allow"
    assert (outside.outcome, outside.code) == ("approve", "approval_required")
    assert "pii.email" in outside.classes


def test_role_forbids_apply(gate: ToolGate) -> None:
    verdict = gate.check(ANA, None, "send_email", {"to": ["bob@acme.example"], "subject": "Hi", "body": "x"})
    assert (verdict.outcome, verdict.code) == ("deny", "tool_denied")
    assert "tools.analysts-read-only" in verdict.policy_ids


def test_secret_in_arguments_blocks_the_call_without_echoing_it(gate: ToolGate) -> None:
    key = "AKIAIOSFODNN7EXAMPLE"
    verdict = gate.check(SAM, None, "search_kb", {"query": f"why does key {key} fail"})
    assert (verdict.outcome, verdict.code) == ("deny", "data_blocked")
    assert "secret" in verdict.message
    assert key not in verdict.message
    assert "tools.no-secrets" in verdict.policy_ids


def test_a_card_number_may_reach_only_the_payment_tool(gate: ToolGate) -> None:
    card = "4111 1111 1111 1111"
    mail = gate.check(SAM, None, "send_email", {"to": ["bob@acme.example"], "subject": "card", "body": card})
    assert mail.code == "data_blocked"
    assert "pci.card_number" in mail.message
    assert "tools.cards-only-to-payments" in mail.policy_ids


def test_values_hidden_in_keys_are_found(gate: ToolGate) -> None:
    verdict = gate.check(SAM, None, "search_kb", {"query": "x", "ghp_" + "a" * 36: 1})
    # The schema refuses the extra field first; either way nothing runs.
    assert verdict.outcome == "deny"


def test_deep_nesting_is_refused(gate: ToolGate) -> None:
    nested: Any = "x"
    for _ in range(100):
        nested = {"a": nested}
    verdict = gate.check(SAM, None, "search_kb", {"query": nested})
    assert (verdict.outcome, verdict.code) == ("deny", "tool_arguments_invalid")


def test_unknown_principal_tenant_is_refused(gate: ToolGate) -> None:
    stranger = Principal(id="x", kind="user", tenant="elsewhere", roles=frozenset({"admin"}))
    assert gate.check(stranger, None, "search_kb", {"query": "hello"}).outcome == "deny"


@pytest.mark.parametrize(("text", "expected"), [
    ("", {}), ("  ", {}), ('{"a": 1}', {"a": 1}),
])
def test_parse_arguments(text: str, expected: dict[str, Any]) -> None:
    assert parse_arguments(text) == expected


@pytest.mark.parametrize("text", ["{", "[1]", '"s"', "{\"a\": " * 50 + "1" + "}" * 50, "\udcff"])
def test_parse_arguments_refuses_what_is_not_an_object(text: str) -> None:
    with pytest.raises(ToolArgumentsError):
        parse_arguments(text)


def test_registry_settings_are_validated() -> None:
    with pytest.raises(ValueError, match="JSON Schema"):
        Settings.model_validate({"tools": [{"name": "t", "parameters": {"type": "object", "properties": 3}}]})
    with pytest.raises(ValueError, match="object"):
        Settings.model_validate({"tools": [{"name": "t", "parameters": {"type": "string"}}]})
    with pytest.raises(ValueError, match="share a name"):
        Settings.model_validate({"tools": [{"name": "t"}, {"name": "t"}]})
    with pytest.raises(ValueError, match="approval route"):
        Settings.model_validate({"tools": [{"name": "t", "approval": "nobody"}]})
    with pytest.raises(ValueError, match="MCP server"):
        Settings.model_validate({"tools": [{"name": "t", "server": "crm"}]})
    with pytest.raises(ValueError, match="exactly one of command"):
        Settings.model_validate({"mcp": {"servers": [{"name": "s"}]}})
    with pytest.raises(ValueError, match="go together"):
        Settings.model_validate({"approvals": {"routes": {"default": {"escalate_after_seconds": 5}}}})


def test_tools_in_the_entity_catalogue_are_refused(tmp_path: Path) -> None:
    (tmp_path / "p.cedar").write_text('permit (principal, action, resource);')
    (tmp_path / "entities.yaml").write_text("tools: [{name: t}]\n")
    settings = Settings.model_validate({"policy": {"dir": str(tmp_path)}})
    with pytest.raises(ConfigError, match="tool registry"):
        entity_config(settings, tmp_path)


def test_default_policies_run_low_risk_and_hold_the_rest() -> None:
    settings = Settings.model_validate({"tools": [
        {"name": "lookup", "risk": "low"}, {"name": "pay", "risk": "high", "side_effects": "write"}]})
    from interlock.policy.setup import load_policies

    holder = load_policies(settings)
    assert holder is not None
    gate = ToolGate(ToolRegistry(settings.tools), holder, Detector().scan)
    anyone = Principal(id="u", kind="user")
    assert gate.check(anyone, None, "lookup", {}).outcome == "allow"
    assert gate.check(anyone, None, "pay", {}).outcome == "approve"
    blocked = gate.check(anyone, None, "lookup", {"q": "password=hunter2hunter2"})
    assert blocked.code == "data_blocked"
