from __future__ import annotations

from pathlib import Path

import pytest

from interlock.policy import EntityConfig, PolicyEngine, explain, run_policy_tests, run_tests

from .conftest import EXAMPLES, user

TEST_FILES = sorted((EXAMPLES / "tests").glob("*.yaml"))


@pytest.mark.parametrize("path", TEST_FILES, ids=lambda p: p.name)
def test_shipped_policy_tests_pass(example_engine: PolicyEngine, path: Path) -> None:
    report = run_policy_tests(example_engine, path)
    assert report.ok, report.summary()
    assert len(report.results) >= 5


def test_failing_case_is_reported(example_engine: PolicyEngine, tmp_path: Path) -> None:
    path = tmp_path / "t.yaml"
    path.write_text(
        "cases:\n"
        "  - {name: wrong, principal: {id: a, tenant: acme, roles: [analyst]}, action: invoke_model,\n"
        "     resource: gpt-4o, expect: allow}\n"
        "  - {name: wrong ids, principal: {id: a, tenant: acme}, action: invoke_model, resource: mock,\n"
        "     expect: allow, policies: [nope]}\n"
        "  - {name: malformed, principal: ghost, action: invoke_model, resource: mock, expect: allow}\n"
        "  - {name: bad expect, principal: {id: a, tenant: acme}, action: call_tool, resource: x,\n"
        "     expect: mask}\n")
    report = run_policy_tests(example_engine, path)
    assert not report.ok
    assert [r.name for r in report.failed] == ["wrong", "wrong ids", "malformed", "bad expect"]
    assert "expected allow, got deny" in report.failed[0].message
    assert "expected policies ['nope']" in report.failed[1].message
    assert "not defined" in report.failed[2].message


def test_run_tests_over_a_directory(example_entities: EntityConfig) -> None:
    report = run_tests(EXAMPLES, example_entities, EXAMPLES / "tests")
    assert report.ok
    assert {r.file for r in report.results} == {p.name for p in TEST_FILES}


def test_explain_shows_the_deciding_policy(example_engine: PolicyEngine) -> None:
    out = explain(example_engine, user("support_agent"), "call_tool", "refund_payment",
                  {"arguments": {"amount": 5000}})
    assert out["outcome"] == "deny"
    assert out["policy_version"] == example_engine.version
    [policy] = out["policies"]
    assert policy["id"] == "tools.refund-limit"
    assert policy["effect"] == "forbid"
    assert policy["file"] == "tools.cedar"
    assert "amount > 1000" in policy["text"]
