"""Retrieval metrics in evaluation reports, apart from generation: recall over the documents a case expects,
citation precision over the citations its answer makes, per case and averaged, held to the suite's
thresholds; and a document a caller must never be given, caught as a leak. Over the example handbook
(examples/knowledge), whose readers and rankings are known."""

from __future__ import annotations

import json
import shutil
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest

from interlock.providers.mock import MockLLM
from support.cli import run_cli

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
HANDBOOK = {"sources": ["handbook"], "top_k": 3}
PRINCIPALS = {"sam": {"id": "sam", "tenant": "acme"},
              "eng": {"id": "eng", "tenant": "acme", "groups": ["engineering"]}}
# sam may read welcome.md and people/parental-leave.md; eng also the engineering pages (the README's table).
LEAVE = {"name": "parental leave, cited", "kind": "quality", "as": "sam", "prompt": "How long is parental leave?",
         "knowledge": HANDBOOK, "mock": {"reply": "Twenty weeks, paid [1]."},
         "expect": {"documents": ["people/parental-leave.md"], "min_recall": 1,
                    "never_retrieved": ["engineering/failover.txt"]}}
# For eng the failover question ranks architecture.html [1], failover.txt [2], welcome.md [3].
WRONG_CITES = {"name": "failover, citing the wrong passages", "kind": "quality", "as": "eng",
               "prompt": "How do I fail over the database?", "knowledge": HANDBOOK,
               "mock": {"reply": "Promote the replica [1][3]."},
               "expect": {"documents": ["handbook/engineering/failover.txt"], "min_citation_precision": 0.5}}
NO_MARKERS = {"name": "failover, no markers", "kind": "quality", "as": "eng", "prompt": "How do I fail over the database?",
              "knowledge": HANDBOOK, "expect": {"documents": ["engineering/failover.txt"]}}


@pytest.fixture
def handbook(tmp_path: Path, mock_llm: MockLLM) -> tuple[str, dict[str, str]]:
    shutil.copytree(EXAMPLES / "knowledge", tmp_path / "knowledge")
    shutil.copytree(EXAMPLES / "policies", tmp_path / "policies")
    env = {"INTERLOCK_KNOWLEDGE__INDEX_URL": f"sqlite:///{tmp_path / 'knowledge.db'}",
           "INTERLOCK_STORE__URL": f"sqlite:///{tmp_path / 'interlock.db'}",
           "INTERLOCK_PROVIDERS__MOCK__BASE_URL": mock_llm.base_url}
    config = str(tmp_path / "knowledge" / "interlock.yaml")
    ingested = run_cli(["knowledge", "ingest", "handbook", "-c", config], env=env)
    assert ingested.exit_code == 0, ingested.stderr
    return config, env


def _run(handbook: tuple[str, dict[str, str]], tmp_path: Path, cases: list[dict[str, Any]],
         **suite: Any) -> tuple[int, dict[str, Any], ET.Element, str]:
    config, env = handbook
    path = tmp_path / "suite.yaml"
    path.write_text(json.dumps({"name": "handbook", "model": "mock", "principals": PRINCIPALS, **suite,
                                "cases": cases}))
    result = run_cli(["eval", "run", str(path), "-c", config, "--json", str(tmp_path / "r.json"),
                      "--junit", str(tmp_path / "r.xml")], env=env)
    root = ET.parse(tmp_path / "r.xml").getroot().find("testsuite")
    assert root is not None
    return result.exit_code, json.loads((tmp_path / "r.json").read_text()), root, result.stdout


def test_recall_and_citation_precision_per_case_and_for_the_suite(handbook: tuple[str, dict[str, str]],
                                                                  tmp_path: Path) -> None:
    code, report, junit, out = _run(handbook, tmp_path, [LEAVE, WRONG_CITES, NO_MARKERS], min_pass_rate=0.5,
                                    retrieval={"min_recall": 0.9, "min_citation_precision": 0.5})
    cases = {r["name"]: r for r in report["results"]}
    assert cases["parental leave, cited"]["retrieval"] == {
        "expected": ["people/parental-leave.md"], "retrieved": ["handbook/people/parental-leave.md", "handbook/welcome.md"],
        "cited": 1, "relevant_cited": 1, "recall": 1.0, "citation_precision": 1.0}
    wrong = cases["failover, citing the wrong passages"]
    assert (wrong["retrieval"]["recall"], wrong["retrieval"]["cited"], wrong["retrieval"]["citation_precision"]) == (1.0, 2, 0.0)
    assert wrong["failures"] == [{"check": "min_citation_precision", "message": "citation precision 0.00 is below 0.5"}]
    assert not wrong["leak"]
    # An answer without markers cites every passage it was given: one of three is the expected document.
    unmarked = cases["failover, no markers"]["retrieval"]
    assert (unmarked["recall"], unmarked["cited"], unmarked["relevant_cited"]) == (1.0, 3, 1)
    # The suite's figures: retrieval apart from generation (no case here grades the answer's content).
    assert report["retrieval"] == {
        "cases": 3, "passed": False, "recall": {"value": 1.0, "threshold": 0.9, "passed": True},
        "citation_precision": {"value": round((1 + 0 + 1 / 3) / 3, 6), "threshold": 0.5, "passed": False}}
    assert report["generation"] == {"cases": 0, "pass_rate": None, "judged": 0, "judge_score": None}
    # 2 of 3 cases pass, above the 0.5 asked; the precision threshold alone fails the run (not a leak).
    assert (code, report["passed"], report["leaks"]) == (1, False, 0)
    assert "retrieval (3 cases): recall 1.00 (meets 0.9), citation precision 0.44 (BELOW 0.5)" in out
    properties = {p.get("name"): p.get("value") for p in junit.iter("property")}
    assert properties["retrieval.recall"] == "1.0"
    [threshold] = [c for c in junit.iter("testcase") if c.get("classname") == "handbook.retrieval"
                   and c.get("name") == "citation precision at least 0.5"]
    failure = threshold.find("failure")
    assert failure is not None
    assert failure.get("message") == "citation precision 0.444, below 0.5"
    assert (junit.get("tests"), junit.get("failures")) == ("5", "2")

    code, report, _, _ = _run(handbook, tmp_path, [LEAVE, NO_MARKERS], retrieval={"min_citation_precision": 0.6})
    assert (code, report["passed"], report["retrieval"]["citation_precision"]["value"]) == (0, True, round(2 / 3, 6))


def test_a_document_given_to_a_caller_not_allowed_is_a_leak(handbook: tuple[str, dict[str, str]],
                                                          tmp_path: Path) -> None:
    config, env = handbook
    # A planted access-rule mistake: the failover runbook becomes readable by everyone in the tenant.
    (Path(config).parent / "handbook" / "engineering" / "failover.txt.access.yaml").write_text("tenant_wide: true\n")
    assert run_cli(["knowledge", "ingest", "handbook", "-c", config], env=env).exit_code == 0
    leak = {**LEAVE, "name": "sam is never given the runbook", "kind": "permission",
            "prompt": "How do I fail over the database?", "expect": {"never_retrieved": ["engineering/failover.txt"]}}
    leave = {**LEAVE, "expect": {"documents": ["people/parental-leave.md"]}}
    code, report, _, out = _run(handbook, tmp_path, [leak, leave], min_pass_rate=0.5)
    assert code == 3
    [failed] = [r for r in report["results"] if not r["passed"]]
    assert failed["leak"] is True
    assert failed["failures"] == [{"check": "never_retrieved",
                                   "message": "the call was given the document engineering/failover.txt"}]
    assert "LEAK  [permission] sam is never given the runbook" in out
