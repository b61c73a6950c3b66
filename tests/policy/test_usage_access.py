"""Who reads use cases, their usage and held tool-call arguments: the built-in rules, and refusals."""

from __future__ import annotations

from interlock.identity.principal import Principal
from interlock.policy import EntityConfig, PolicyEngine, ToolEntity
from interlock.policy.entities import NO_USE_CASE, UseCaseAccess
from interlock.policy.setup import default_policy_dir

from .conftest import user

SUPPORT = UseCaseAccess("support", "pilot", frozenset({"olly"}))
OTHER = UseCaseAccess("kb", "draft", frozenset({"kim"}))


def built_in() -> PolicyEngine:
    return PolicyEngine.load(default_policy_dir(), EntityConfig(
        tenants=("acme", "globex"), roles=("admin",), tools=(ToolEntity(name="send_email"),)))


def allowed(decisions: list[object]) -> list[bool]:
    return [bool(d.allowed) for d in decisions]


def test_administrators_read_every_use_case_and_only_their_own_tenants_usage() -> None:
    engine = built_in()
    admin = user("admin", tenant="acme")
    assert allowed(engine.use_cases(admin, [SUPPORT, OTHER])) == [True, True]
    assert allowed(engine.usage(admin, [("acme", SUPPORT), ("globex", SUPPORT), ("acme", NO_USE_CASE)])) == [
        True, False, True]


def test_owners_read_their_use_case_and_its_usage_in_their_tenant_only() -> None:
    engine = built_in()
    olly = user(id="olly", tenant="acme")
    assert allowed(engine.use_cases(olly, [SUPPORT, OTHER])) == [True, False]
    assert allowed(engine.usage(olly, [("acme", SUPPORT), ("globex", SUPPORT), ("acme", OTHER),
                                       ("acme", NO_USE_CASE)])) == [True, False, False, False]
    # An application that happens to carry the owner's id is not the owner (owners are people).
    app = Principal(id="olly", kind="app", tenant="acme")
    assert allowed(engine.use_cases(app, [SUPPORT])) == [False]
    assert allowed(engine.usage(app, [("acme", SUPPORT)])) == [False]
    # Nor is anyone else, nor anyone of a tenant the policies do not know.
    assert allowed(engine.use_cases(user(id="someone"), [SUPPORT])) == [False]
    assert allowed(engine.use_cases(user("admin", tenant="nowhere"), [SUPPORT])) == [False]


def test_no_reviewer_sees_held_argument_values_without_a_permit(example_engine: PolicyEngine) -> None:
    engine = built_in()
    assert not engine.may_reveal(user("admin"), "pii.email", "send_email").allowed
    # The example policies let administrators see a held e-mail's recipients, never analysts.
    assert example_engine.may_reveal(user("admin"), "pii.email", "send_email").allowed
    assert not example_engine.may_reveal(user("admin"), "pii.phone", "send_email").allowed
    assert not example_engine.may_reveal(user("admin", "analyst"), "pii.email", "send_email").allowed
    assert not example_engine.may_reveal(user("admin"), "pii.email", "no_such_tool").allowed
