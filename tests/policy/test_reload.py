from __future__ import annotations

from pathlib import Path

import pytest

from interlock.policy import EntityConfig, PolicyEngine, PolicyHolder, PolicyLoadError, ShadowEvaluator

from .conftest import user


def test_reload_swaps_in_the_new_set(policy_dir: Path, example_entities: EntityConfig) -> None:
    holder = PolicyHolder.load(policy_dir, example_entities)
    before = holder.engine
    assert not before.model_access(user(), None, "llama-onprem", frozenset(), None).allowed
    (policy_dir / "extra.cedar").write_text(
        '@id("extra.everyone-on-prem")\n'
        'permit (principal, action == Action::"invoke_model", resource == Model::"llama-onprem");\n')
    holder.reload()
    assert holder.engine is not before
    assert holder.version != before.version
    decision = holder.engine.model_access(user(), None, "llama-onprem", frozenset(), None)
    assert decision.allowed
    assert decision.policy_ids == ("extra.everyone-on-prem",)
    # A call that took the old snapshot keeps its answer.
    assert not before.model_access(user(), None, "llama-onprem", frozenset(), None).allowed


def test_broken_file_keeps_the_running_set(policy_dir: Path, example_entities: EntityConfig) -> None:
    holder = PolicyHolder.load(policy_dir, example_entities)
    running = holder.engine
    (policy_dir / "broken.cedar").write_text("permit (principal, action resource);\n")
    with pytest.raises(PolicyLoadError, match=r"broken\.cedar:1"):
        holder.reload()
    assert holder.engine is running
    assert holder.engine.model_access(user(), None, "mock", frozenset(), None).allowed


def test_shadow_reports_differences_without_enforcing(policy_dir: Path, tmp_path: Path,
                                                      example_entities: EntityConfig) -> None:
    active = PolicyEngine.load(policy_dir, example_entities)
    (policy_dir / "tools.cedar").write_text(
        (policy_dir / "tools.cedar").read_text().replace("amount < 100", "amount < 10"))
    candidate = PolicyEngine.load(policy_dir, example_entities)
    shadow = ShadowEvaluator(active, candidate)

    small = shadow.tool_call(user("support_agent"), None, "refund_payment", {"amount": 50})
    assert small.differs
    assert small.active.outcome == "allow"
    assert small.candidate is not None
    assert small.candidate.outcome == "approve"

    tiny = shadow.tool_call(user("support_agent"), None, "refund_payment", {"amount": 5})
    assert not tiny.differs

    data = shadow.data_actions(user("support_agent"), None, "gpt-4o", ["pii.email", "secret.token"])
    assert not data.differs
    assert data.active["pii.email"].action == "redact"
    assert not shadow.may_restore(user("analyst"), "pii.email").differs
    assert not shadow.model_access(user("analyst"), None, "gpt-4o", frozenset(), None).differs
