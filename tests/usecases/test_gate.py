"""The launch gate: a deployment that has everything passes; take any one item away and the gate fails on
that item alone, saying why."""

from __future__ import annotations

import shutil
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from interlock.usecases.gate import Deployment, GateResult
from support.stores import sqlite_path
from usecases.conftest import SettingsMaker
from usecases.gate_support import BUDGETS, SOURCES, SUITE, Ready, deploy, gate_of
from usecases.usecases_support import manifest


def _failing(result: GateResult) -> dict[str, str]:
    return {i.name: i.evidence for i in result.failing}


async def test_a_complete_deployment_passes_every_item(use_case_settings: SettingsMaker) -> None:
    result = await gate_of(await deploy(use_case_settings))
    assert _failing(result) == {}
    assert result.passed
    assert [i.name for i in result.items] == [
        "owner set", "policies tested", "evaluations pass", "budgets set", "alerts defined", "review route staffed",
        "knowledge sources governed", "audit log verified", "SLOs met in the pilot", "cost and latency expectations"]
    evidence = {i.name: i.evidence for i in result.items}
    assert "1 approvers (ann)" in evidence["review route staffed"]
    assert "3 calls" in evidence["SLOs met in the pilot"]


async def test_ratings_of_the_pilot_calls_are_not_counted_as_calls(use_case_settings: SettingsMaker) -> None:
    result = await gate_of(await deploy(use_case_settings, calls=2, feedback=2))
    evidence = {i.name: i.evidence for i in result.items}
    assert evidence["SLOs met in the pilot"].startswith("2 calls")


def _without_tests(ready: Ready) -> None:
    shutil.rmtree(Path(ready.settings.source).parent / "policies" / "tests")


def _without_lifecycle_rules(ready: Ready) -> None:
    (Path(ready.settings.source).parent / "policies" / "usecases.cedar").unlink()


def _without_tool_lifecycle_rules(ready: Ready) -> None:
    """The model rules kept, the tool rules (an older copy of usecases.cedar) gone."""
    path = Path(ready.settings.source).parent / "policies" / "usecases.cedar"
    rules = path.read_text().split("\n\n")
    path.write_text("\n\n".join(r for r in rules if ".tools\")" not in r) + "\n")


def _tampered_log(ready: Ready) -> None:
    with sqlite3.connect(sqlite_path(ready.settings.store.url)) as db:
        (record,) = db.execute("SELECT record FROM audit_log WHERE seq = 0").fetchone()
        db.execute("UPDATE audit_log SET record = ? WHERE seq = 0",
                   (bytes(record).replace(b'"status":200', b'"status":201'),))


def _suite_edited(ready: Ready) -> None:
    suite = ready.settings.use_cases.dir / "evals" / "support-evals.yaml"  # type: ignore[operator]
    suite.write_text(SUITE + "  - name: a case added after the run\n", encoding="utf-8")


CASES: list[tuple[str, dict[str, Any], Callable[[Ready], None] | None, Deployment | None, str, str]] = [
    ("no escalation contact", {"doc": manifest(escalation=None)}, None, None, "owner set", "no escalation contact"),
    ("no policy tests", {}, _without_tests, None, "policies tested", "no policy tests"),
    ("lifecycle rules removed", {}, _without_lifecycle_rules, None, "policies tested", "a draft serves an outsider"),
    ("tool lifecycle rules removed", {}, _without_tool_lifecycle_rules, None, "policies tested",
     "a draft's tool serves an outsider (get_weather); a retired use case's tool still runs (get_weather)"),
    ("no evaluation run", {"eval_run": False}, None, None, "evaluations pass", "not run on this version"),
    ("evaluation failed", {"eval_passed": False}, None, None, "evaluations pass", "1 permission or leak failures"),
    ("retrieval below the suite's thresholds", {"eval_retrieval": {"recall": 0.5, "citation_precision": 1.0,
                                                                   "passed": False}},
     None, None, "evaluations pass", "retrieval below the suite's thresholds: recall 0.5, citation precision 1.0"),
    ("suite changed since its run", {}, _suite_edited, None, "evaluations pass", "not run on this version"),
    ("no budgets named", {"doc": manifest(budgets=None)}, None, None, "budgets set", "names no budgets"),
    ("no alerts", {"doc": manifest(alerts=None)}, None, None, "alerts defined", "defines no alerts"),
    ("review route unstaffed", {"approver": False}, None, None, "review route staffed", "needs 1 approvers; 0 hold"),
    ("no review route", {"doc": manifest(review=None)}, None, None, "review route staffed", "names no human review"),
    ("audit log tampered", {}, _tampered_log, None, "audit log verified", "seq 0"),
    ("too few pilot calls", {"calls": 1}, None, None, "SLOs met in the pilot", "1 calls in the last"),
    ("latency SLO missed", {"doc": manifest(slos={"p95_latency_ms": 0.0001, "min_calls": 3})}, None, None,
     "SLOs met in the pilot", "p95 latency"),
    ("no SLOs", {"doc": manifest(slos=None)}, None, None, "SLOs met in the pilot", "declares no SLOs"),
    ("no expectations", {"doc": manifest(expectations=None)}, None, None, "cost and latency expectations",
     "state cost_per_task_usd"),
]


@pytest.mark.parametrize(("options", "spoil", "item", "says"),
                         [pytest.param(o, s, i, w, id=n) for n, o, s, _, i, w in CASES])
async def test_each_missing_item_alone_fails_the_gate(use_case_settings: SettingsMaker, options: dict[str, Any],
                                                      spoil: Callable[[Ready], None] | None, item: str,
                                                      says: str) -> None:
    ready = await deploy(use_case_settings, **options)
    if spoil is not None:
        spoil(ready)
    result = await gate_of(ready)
    failing = _failing(result)
    assert list(failing) == [item]
    assert says in failing[item]
    assert not result.passed


@pytest.mark.parametrize(("deployment", "item", "says"), [
    ({"budgets": None}, "budgets set", "not configured: the deployment has no budgets section"),
    ({"budgets": {"other": {}}}, "budgets set", "budgets not configured: support-monthly"),
    ({"knowledge_sources": None}, "knowledge sources governed", "not configured: the deployment has no knowledge"),
    ({"knowledge_sources": {"help-center": {"path": "/docs"}}}, "knowledge sources governed",
     "help-center: no access rule names a reader"),
    ({"knowledge_sources": {"help-center": {"default_access": {"groups": [], "tenant_wide": False}}}},
     "knowledge sources governed", "help-center: no access rule names a reader"),
])
async def test_budgets_and_knowledge_are_read_from_the_deployment(use_case_settings: SettingsMaker,
                                                                  deployment: dict[str, Any], item: str,
                                                                  says: str) -> None:
    ready = await deploy(use_case_settings)
    changed = Deployment(ready.settings, **{"budgets": BUDGETS, "knowledge_sources": SOURCES, **deployment})
    failing = _failing(await gate_of(ready, changed))
    assert list(failing) == [item]
    assert says in failing[item]


def test_the_seam_reads_sections_by_name() -> None:
    from pydantic import BaseModel

    from interlock.settings import Settings
    from interlock.usecases.gate import _by_name, deployment_of

    class Source(BaseModel):
        name: str
        default_access: dict[str, list[str]]

    class Knowledge(BaseModel):
        sources: tuple[Source, ...]

    # Settings without the sections: both are "not configured".
    plain = deployment_of(Settings())
    assert (plain.budgets, plain.knowledge_sources) == (None, None)
    read = _by_name(Knowledge(sources=(Source(name="help-center", default_access={"groups": ["support"]}),)))
    assert read == {"help-center": {"name": "help-center", "default_access": {"groups": ["support"]}}}
    assert _by_name([{"name": "support-monthly", "limit_usd": 5}]) == {"support-monthly": {"name": "support-monthly",
                                                                                            "limit_usd": 5}}
    assert _by_name({"support-monthly": {"limit_usd": 5}}) == {"support-monthly": {"limit_usd": 5}}
