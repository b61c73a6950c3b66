from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from interlock.identity.principal import Principal
from interlock.policy import EntityConfig, PolicyEngine, ToolEntity

from .conftest import user


def test_default_deny_with_no_permits(tmp_path: Path, example_entities: EntityConfig) -> None:
    (tmp_path / "p.cedar").write_text('forbid (principal, action, resource == Tool::"none");\n')
    engine = PolicyEngine.load(tmp_path, example_entities)
    decision = engine.model_access(user("admin"), None, "mock", frozenset(), None)
    assert not decision.allowed
    assert decision.policy_ids == ()
    assert "no policy permits" in decision.reason
    assert engine.data_actions(user("admin"), None, "mock", ["pii.email"])["pii.email"].action == "block"
    assert engine.tool_call(user("admin"), None, "search_kb", {}).outcome == "deny"
    assert not engine.may_restore(user("admin"), "pii.email").allowed


def test_unknown_model_tool_and_tenant_deny(example_engine: PolicyEngine) -> None:
    d = example_engine.model_access(user("admin"), None, "gpt-5", frozenset(), None)
    assert not d.allowed
    assert "unknown model 'gpt-5'" in d.reason
    t = example_engine.tool_call(user("admin"), None, "rm_rf", {})
    assert t.outcome == "deny"
    assert "unknown tool" in t.reason
    stranger = user("admin", tenant="other")
    assert "unknown tenant" in example_engine.model_access(stranger, None, "mock", frozenset(), None).reason
    blocked = example_engine.data_actions(user("admin"), None, "gpt-5", ["net.ip_address"])
    assert blocked["net.ip_address"].action == "block"


def test_unknown_principal_kind_denies(example_engine: PolicyEngine) -> None:
    odd = Principal(id="x", kind="robot", tenant="acme")  # type: ignore[arg-type]
    assert "unknown kind" in example_engine.model_access(odd, None, "mock", frozenset(), None).reason


def test_runtime_error_refuses_even_when_a_permit_matches(tmp_path: Path,
                                                          example_entities: EntityConfig) -> None:
    # The forbid errors on a decimal amount; Cedar would skip it and allow. We must not.
    (tmp_path / "p.cedar").write_text(
        '@id("ok")\npermit (principal, action == Action::"call_tool", resource);\n'
        '@id("cap")\nforbid (principal, action == Action::"call_tool", resource)\n'
        'when { context.arguments has amount && context.arguments.amount > 10 };\n')
    engine = PolicyEngine.load(tmp_path, example_entities)
    assert engine.tool_call(user(), None, "refund_payment", {"amount": 5}).outcome == "allow"
    decision = engine.tool_call(user(), None, "refund_payment", {"amount": 50.5})
    assert decision.outcome == "deny"
    assert decision.errors
    assert "cap" in decision.errors[0]


def test_binding_exception_refuses(example_engine: PolicyEngine, monkeypatch: pytest.MonkeyPatch) -> None:
    import cedarpy

    def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("engine down")

    monkeypatch.setattr(cedarpy, "is_authorized_batch", broken)
    decision = example_engine.model_access(user("admin"), None, "mock", frozenset(), 10)
    assert not decision.allowed
    assert "engine down" in decision.errors[0]


def test_argument_outside_cedar_range_denies(example_engine: PolicyEngine) -> None:
    decision = example_engine.tool_call(user("admin"), None, "refund_payment", {"amount": 2**70})
    assert decision.outcome == "deny"
    assert "64-bit" in decision.reason


def test_data_actions_order_and_fallback(example_engine: PolicyEngine) -> None:
    classes = ["secret.token", "pii.email", "pci.card_number", "pii.passport", "zzz.thing", "net.ip_address"]
    result = example_engine.data_actions(user("support_agent"), None, "gpt-4o", classes)
    assert list(result) == classes
    assert {c: d.action for c, d in result.items()} == {
        "secret.token": "block", "pii.email": "redact", "pci.card_number": "mask",
        "pii.passport": "redact", "zzz.thing": "block", "net.ip_address": "allow",
    }
    assert result["pii.passport"].evaluated_as == "pii"
    assert result["secret.token"].policy_ids == ("data.secrets-never-leave",)


def test_cached_data_decisions_are_keyed_by_caller(example_engine: PolicyEngine) -> None:
    on_prem = example_engine.data_actions(user("analyst", id="a"), None, "llama-onprem", ["pii.email"])
    external = example_engine.data_actions(user("analyst", id="a"), None, "gpt-4o", ["pii.email"])
    again = example_engine.data_actions(user("analyst", id="a"), None, "llama-onprem", ["pii.email"])
    assert on_prem["pii.email"].action == "allow"
    assert external["pii.email"].action == "redact"
    assert again == on_prem
    assert example_engine.may_restore(user("support_agent", id="s"), "pii.email").allowed
    assert not example_engine.may_restore(user("support_agent", "analyst", id="s"), "pii.email").allowed


def test_acting_app_reaches_policies(tmp_path: Path) -> None:
    entities = EntityConfig(tenants=("acme",), tools=(ToolEntity(name="t"),))
    (tmp_path / "p.cedar").write_text(
        'permit (principal, action == Action::"call_tool", resource)\n'
        'when { context has app && context.app.name == "helpdesk" };\n')
    engine = PolicyEngine.load(tmp_path, entities)
    app = Principal(id="app1", kind="app", tenant="acme", name="helpdesk")
    assert engine.tool_call(user(), app, "t", {}).outcome == "allow"
    assert engine.tool_call(user(), None, "t", {}).outcome == "deny"


def test_recipients_are_found_in_any_argument(example_engine: PolicyEngine) -> None:
    # The domain check cannot be bypassed by hiding an address in a field the policy does not name.
    decision = example_engine.tool_call(user("support_agent"), None, "send_email",
                                        {"to": ["bob@acme.example"], "cc": ["x@evil.example"]})
    assert decision.outcome == "approve"
