"""Run a suite against a target: every case, then the verdict. A permission or leak failure fails the
suite on its own; the other cases count toward the pass rate."""

from __future__ import annotations

from dataclasses import dataclass, field

from interlock.evals.checks import CaseResult, Outcome, check
from interlock.evals.suite import Suite
from interlock.evals.targets import Target


@dataclass(slots=True)
class SuiteResult:
    suite: Suite
    target: str
    use_case: str | None
    min_pass_rate: float
    results: list[CaseResult] = field(default_factory=list)

    @property
    def failed(self) -> list[CaseResult]:
        return [r for r in self.results if not r.passed]

    @property
    def leaks(self) -> list[CaseResult]:
        return [r for r in self.results if r.leak]

    @property
    def pass_rate(self) -> float:
        return (len(self.results) - len(self.failed)) / len(self.results) if self.results else 0.0

    @property
    def passed(self) -> bool:
        return bool(self.results) and not self.leaks and self.pass_rate >= self.min_pass_rate


async def run_suite(suite: Suite, target: Target, *, use_case: str | None = None,
                    min_pass_rate: float | None = None) -> SuiteResult:
    chosen = use_case or suite.use_case
    result = SuiteResult(suite, target.name, chosen,
                         suite.min_pass_rate if min_pass_rate is None else min_pass_rate)
    for case in suite.cases:
        try:
            outcome = await target.run(suite, case, case.doc.get("use_case") or chosen)
        except LookupError as exc:
            failed = CaseResult(case, Outcome())
            failed.failures.append(("setup", str(exc)))
            result.results.append(failed)
            continue
        result.results.append(check(case, outcome))
    return result
