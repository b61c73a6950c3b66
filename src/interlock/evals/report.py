"""A suite's result as JSON (for people and scripts) and JUnit XML (for CI systems). Retrieval metrics
(recall, citation precision) and generation metrics (the quality checks' pass rate, the judge's mean
score) are reported apart, per case and for the suite."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from typing import Any

from interlock.evals.checks import CaseResult
from interlock.evals.runner import Aggregate, SuiteResult


def _case(r: CaseResult) -> dict[str, Any]:
    out: dict[str, Any] = {"name": r.case.name, "kind": r.case.kind, "passed": r.passed, "leak": r.leak,
                           "request_id": r.outcome.request_id, "duration_ms": round(r.outcome.duration_ms, 3),
                           "failures": [{"check": c, "message": m} for c, m in r.failures]}
    if r.retrieval is not None:
        out["retrieval"] = r.retrieval.as_json()
    if r.graded:
        out["generation"] = {"passed": r.generation_passed, **({"judge": r.judge.as_json()} if r.judge else {})}
    return out


def as_json(result: SuiteResult) -> dict[str, Any]:
    recall, precision = result.recall, result.citation_precision
    generation, judge = result.generation_pass_rate, result.judge_score
    return {
        "suite": result.suite.name, "file": str(result.suite.path), "target": result.target,
        "use_case": result.use_case, "passed": result.passed, "pass_rate": round(result.pass_rate, 6),
        "min_pass_rate": result.min_pass_rate, "cases": len(result.results), "failed": len(result.failed),
        "leaks": len(result.leaks),
        "retrieval": {"cases": recall.cases, "recall": recall.as_json(), "citation_precision": precision.as_json(),
                      "passed": result.retrieval_passed},
        "generation": {"cases": generation.cases, "pass_rate": generation.as_json()["value"],
                       "judged": judge.cases, "judge_score": judge.as_json()["value"]},
        "results": [_case(r) for r in result.results],
    }


def _properties(parent: ET.Element, values: dict[str, Any]) -> None:
    props = ET.SubElement(parent, "properties")
    for name, value in values.items():
        if value is not None:
            ET.SubElement(props, "property", name=name, value=str(value))


def _threshold_case(suite: ET.Element, name: str, metric: str, aggregate: Aggregate) -> int:
    """A suite threshold as a test case of its own, so CI shows which metric fell short."""
    if aggregate.threshold is None:
        return 0
    case = ET.SubElement(suite, "testcase", classname=f"{name}.retrieval", name=f"{metric} at least "
                         f"{aggregate.threshold}", time="0")
    if aggregate.passed:
        return 0
    shown = "no case was scored" if aggregate.value is None else f"{aggregate.value:.3f}"
    ET.SubElement(case, "failure", type="threshold", message=f"{metric} {shown}, below {aggregate.threshold}")
    return 1


def as_junit(result: SuiteResult) -> bytes:
    name = result.suite.name
    suite = ET.Element("testsuite", name=name, errors="0",
                       time=f"{sum(r.outcome.duration_ms for r in result.results) / 1000:.3f}")
    recall, precision = result.recall, result.citation_precision
    _properties(suite, {"retrieval.recall": recall.as_json()["value"],
                        "retrieval.citation_precision": precision.as_json()["value"],
                        "generation.pass_rate": result.generation_pass_rate.as_json()["value"],
                        "generation.judge_score": result.judge_score.as_json()["value"]})
    for r in result.results:
        case = ET.SubElement(suite, "testcase", classname=f"{name}.{r.case.kind}", name=r.case.name,
                             time=f"{r.outcome.duration_ms / 1000:.3f}")
        if r.retrieval is not None or (r.judge is not None and r.judge.score is not None):
            scored = r.retrieval.as_json() if r.retrieval is not None else {}
            _properties(case, {"retrieval.recall": scored.get("recall"),
                               "retrieval.citation_precision": scored.get("citation_precision"),
                               "generation.judge_score": r.judge.score if r.judge is not None else None})
        if not r.passed:
            kind = "permission or leak failure" if r.leak else "failure"
            failure = ET.SubElement(case, "failure", message=r.message(), type=kind)
            failure.text = f"{kind}: {r.message()} (request {r.outcome.request_id or 'none'})"
    failed = len(result.failed) + _threshold_case(suite, name, "recall", recall) \
        + _threshold_case(suite, name, "citation precision", precision)
    suite.set("tests", str(len(suite.findall("testcase"))))
    suite.set("failures", str(failed))
    root = ET.Element("testsuites")
    root.append(suite)
    return bytes(ET.tostring(root, encoding="utf-8", xml_declaration=True))
