"""A suite's result as JSON (for people and scripts) and JUnit XML (for CI systems)."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from typing import Any

from interlock.evals.runner import SuiteResult


def as_json(result: SuiteResult) -> dict[str, Any]:
    return {
        "suite": result.suite.name, "file": str(result.suite.path), "target": result.target,
        "use_case": result.use_case, "passed": result.passed, "pass_rate": round(result.pass_rate, 6),
        "min_pass_rate": result.min_pass_rate, "cases": len(result.results), "failed": len(result.failed),
        "leaks": len(result.leaks),
        "results": [{"name": r.case.name, "kind": r.case.kind, "passed": r.passed, "leak": r.leak,
                     "request_id": r.outcome.request_id, "duration_ms": round(r.outcome.duration_ms, 3),
                     "failures": [{"check": c, "message": m} for c, m in r.failures]}
                    for r in result.results],
    }


def as_junit(result: SuiteResult) -> bytes:
    suite = ET.Element("testsuite", name=result.suite.name, tests=str(len(result.results)),
                       failures=str(len(result.failed)), errors="0",
                       time=f"{sum(r.outcome.duration_ms for r in result.results) / 1000:.3f}")
    for r in result.results:
        case = ET.SubElement(suite, "testcase", classname=f"{result.suite.name}.{r.case.kind}", name=r.case.name,
                             time=f"{r.outcome.duration_ms / 1000:.3f}")
        if not r.passed:
            kind = "permission or leak failure" if r.leak else "failure"
            failure = ET.SubElement(case, "failure", message=r.message(), type=kind)
            failure.text = f"{kind}: {r.message()} (request {r.outcome.request_id or 'none'})"
    root = ET.Element("testsuites")
    root.append(suite)
    return bytes(ET.tostring(root, encoding="utf-8", xml_declaration=True))
