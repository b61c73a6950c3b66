"""Run a suite against a target: every case, then the verdict. A permission or leak failure fails the
suite on its own; the other cases count toward the pass rate. Retrieval metrics (recall, citation
precision) are averaged over the cases that name expected documents and held to the suite's own
thresholds, apart from the generation checks; the model-graded judge, where the suite configures one,
is a call through the same target as the cases, so it is governed and recorded like them."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

from interlock.evals.checks import CaseResult, JudgeVerdict, Outcome, check
from interlock.evals.suite import Case, Suite
from interlock.evals.targets import Target, run_case

JUDGE_INSTRUCTION = ("You grade an assistant's answer against a rubric. Reply with one JSON object and nothing "
                     "else: {\"score\": a number from 0 (fails the rubric) to 1 (meets it fully), \"reason\": "
                     "\"one sentence\"}.\n\nRubric:\n")
_OBJECT = re.compile(r"\{.*\}", re.DOTALL)


@dataclass(slots=True)
class Aggregate:
    """A metric averaged over the cases that have it, against the suite's threshold (None: none set)."""

    cases: int
    value: float | None
    threshold: float | None

    @property
    def passed(self) -> bool:
        return self.threshold is None or (self.value is not None and self.value >= self.threshold)

    def as_json(self) -> dict[str, Any]:
        return {"value": None if self.value is None else round(self.value, 6), "threshold": self.threshold,
                "passed": self.passed}


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

    def _mean(self, values: list[float], threshold: float | None) -> Aggregate:
        return Aggregate(len(values), sum(values) / len(values) if values else None, threshold)

    @property
    def recall(self) -> Aggregate:
        scored = [r.retrieval.recall for r in self.results if r.retrieval is not None]
        return self._mean(scored, self.suite.retrieval.get("min_recall"))

    @property
    def citation_precision(self) -> Aggregate:
        scored = [r.retrieval.citation_precision for r in self.results if r.retrieval is not None]
        return self._mean(scored, self.suite.retrieval.get("min_citation_precision"))

    @property
    def generation_pass_rate(self) -> Aggregate:
        graded = [1.0 if r.generation_passed else 0.0 for r in self.results if r.graded]
        return self._mean(graded, None)

    @property
    def judge_score(self) -> Aggregate:
        scores = [r.judge.score for r in self.results if r.judge is not None and r.judge.score is not None]
        return self._mean(scores, None)

    @property
    def retrieval_passed(self) -> bool:
        return self.recall.passed and self.citation_precision.passed

    @property
    def passed(self) -> bool:
        return (bool(self.results) and not self.leaks and self.pass_rate >= self.min_pass_rate
                and self.retrieval_passed)


def _question(case: Case) -> str:
    if "prompt" in case.doc:
        return str(case.doc["prompt"])
    for message in reversed(case.doc["request"].get("messages") or []):
        if isinstance(message, dict) and message.get("role") == "user":
            return json.dumps(message.get("content"), ensure_ascii=False) \
                if not isinstance(message.get("content"), str) else str(message["content"])
    return ""


def parse_verdict(text: str) -> tuple[float, str]:
    """The judge's score and reason from its reply; ValueError when the reply is not a verdict."""
    found = _OBJECT.search(text)
    if found is None:
        raise ValueError("the judge's reply holds no JSON object")
    try:
        doc = json.loads(found.group(0))
    except json.JSONDecodeError as exc:
        raise ValueError(f"the judge's reply is not JSON: {exc.msg}") from None
    if not isinstance(doc, dict):
        raise ValueError("the judge's reply is not a JSON object")
    score = doc.get("score")
    if isinstance(doc.get("pass"), bool) and score is None:
        score = 1.0 if doc["pass"] else 0.0
    if isinstance(score, bool) or not isinstance(score, int | float) or not 0 <= score <= 1:
        raise ValueError("the judge's reply has no score between 0 and 1")
    return float(score), str(doc.get("reason") or "")


async def _judge(target: Target, suite: Suite, case: Case, result: CaseResult, use_case: str | None) -> None:
    config = suite.judge
    wanted = case.expect["judge"]
    asked = wanted if isinstance(wanted, dict) else {}
    min_score = float(asked.get("min_score", config.get("min_score", 0.5)))
    rubric = asked.get("rubric") or config["rubric"]
    body: dict[str, Any] = {"model": config["model"], "stream": False, "messages": [
        {"role": "system", "content": JUDGE_INSTRUCTION + rubric},
        {"role": "user", "content": f"Question:\n{_question(case)}\n\nAnswer:\n{result.outcome.answer}"}]}
    if "mock" in config:
        body["mock"] = config["mock"]
    try:
        said = await target.send(suite, body, config.get("as") or case.principal, None,
                                 config.get("use_case") or use_case)
    except LookupError as exc:
        said = Outcome(refusal_code="setup", refusal_message=str(exc))
    if said.refusal_code is not None:
        error = f"the judge's call was refused ({said.refusal_code}: {said.refusal_message})"
    else:
        try:
            score, reason = parse_verdict(said.answer)
        except ValueError as exc:
            error = str(exc)
        else:
            result.judge = JudgeVerdict(score, reason, min_score, said.request_id)
            if score < min_score:
                result.failures.append(("judge", f"score {score:.2f} is below {min_score}"
                                                 + (f": {reason}" if reason else "")))
            return
    # A judge that could not judge is a failure of its own kind, never a pass.
    result.judge = JudgeVerdict(None, "", min_score, said.request_id, error)
    result.failures.append(("judge_error", f"{error} (request {said.request_id or 'none'})"))


async def run_suite(suite: Suite, target: Target, *, use_case: str | None = None,
                    min_pass_rate: float | None = None) -> SuiteResult:
    chosen = use_case or suite.use_case
    result = SuiteResult(suite, target.name, chosen,
                         suite.min_pass_rate if min_pass_rate is None else min_pass_rate)
    default_model = target.default_model
    for case in suite.cases:
        case_use_case = case.doc.get("use_case") or chosen
        try:
            outcome = await run_case(target, suite, case, case_use_case, default_model)
        except LookupError as exc:
            failed = CaseResult(case, Outcome())
            failed.failures.append(("setup", str(exc)))
            result.results.append(failed)
            continue
        checked = check(case, outcome)
        if "judge" in case.expect and outcome.refusal_code is None:
            await _judge(target, suite, case, checked, case_use_case)
        elif "judge" in case.expect:
            checked.failures.append(("judge_error", f"nothing to judge: the call was refused ({outcome.refusal_code})"))
        result.results.append(checked)
    return result
