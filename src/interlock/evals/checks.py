"""What a case expects, checked against what happened. Deterministic checks first: refusals, what the
answer and the upstream contain, tool outcomes, flags, documents never given; then the retrieval
metrics (recall, citation precision) and the optional quality checks. The model-graded judge is the
runner's, since it makes a call of its own."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

from jsonschema import Draft202012Validator

from interlock.evals.suite import Case

# Checks whose failure is a leak whatever the case's kind: a value went where it must never go.
LEAK_CHECKS = frozenset({"never_contains", "upstream_never_sees", "not_restored", "never_retrieved"})
# Checks of the answer's content (generation), reported apart from retrieval.
QUALITY_CHECKS = frozenset({"exact", "contains", "regex", "json_schema", "judge", "judge_error"})
_MARKER = re.compile(r"\[(\d{1,4})\]")


@dataclass(slots=True)
class Outcome:
    """What one call did, as far as the target can observe it (None: this target cannot see it)."""

    request_id: str = ""
    refusal_code: str | None = None
    refusal_message: str = ""
    answer: str = ""
    tool_outcomes: dict[str, str] | None = None
    upstream: list[str] | None = None
    flagged: set[str] | None = None
    # The citations returned with the answer (``interlock.citations``): the passages the prompt carried.
    citations: list[dict[str, Any]] = field(default_factory=list)
    duration_ms: float = 0.0


@dataclass(frozen=True, slots=True)
class RetrievalScore:
    """One case's retrieval against the documents it expects: recall over the documents the call was
    given, citation precision over the citations its answer makes."""

    expected: tuple[str, ...]
    retrieved: tuple[str, ...]  # documents given (source/document id), in rank order
    cited: int  # citations the answer makes
    relevant_cited: int

    @property
    def recall(self) -> float:
        found = sum(1 for e in self.expected if any(_names(e, d) for d in self.retrieved))
        return found / len(self.expected)

    @property
    def citation_precision(self) -> float:
        """Share of the answer's citations that point to an expected document (0 when it cites none)."""
        return self.relevant_cited / self.cited if self.cited else 0.0

    def as_json(self) -> dict[str, Any]:
        return {"expected": list(self.expected), "retrieved": list(self.retrieved), "cited": self.cited,
                "relevant_cited": self.relevant_cited, "recall": round(self.recall, 6),
                "citation_precision": round(self.citation_precision, 6)}


@dataclass(frozen=True, slots=True)
class JudgeVerdict:
    """What the judge said of an answer; ``error`` when it could not say (never a pass)."""

    score: float | None = None
    reason: str = ""
    min_score: float = 0.5
    request_id: str = ""
    error: str = ""

    def as_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"score": self.score, "min_score": self.min_score, "request_id": self.request_id}
        if self.reason:
            out["reason"] = self.reason
        if self.error:
            out["error"] = self.error
        return out


@dataclass(slots=True)
class CaseResult:
    case: Case
    outcome: Outcome
    failures: list[tuple[str, str]] = field(default_factory=list)  # (check, message)
    retrieval: RetrievalScore | None = None
    judge: JudgeVerdict | None = None

    @property
    def passed(self) -> bool:
        return not self.failures

    @property
    def leak(self) -> bool:
        """A permission or leak failure: fails the suite whatever the pass rate."""
        return bool(self.failures) and (self.case.critical or any(c in LEAK_CHECKS for c, _ in self.failures))

    def message(self) -> str:
        return "; ".join(f"{check}: {why}" for check, why in self.failures)

    @property
    def graded(self) -> bool:
        """Does the case check the answer's content (a generation metric)?"""
        return any(k in QUALITY_CHECKS for k in self.case.expect)

    @property
    def generation_passed(self) -> bool:
        return not any(c in QUALITY_CHECKS for c, _ in self.failures)


def _names(expected: str, document: str) -> bool:
    """Does an expected entry (a document id, or source/document id) name this source/document id?"""
    return expected == document or document.split("/", 1)[1] == expected


def _document(citation: dict[str, Any]) -> str:
    return f"{citation.get('source')}/{citation.get('document_id')}"


def score_retrieval(expected: list[str], answer: str, citations: list[dict[str, Any]]) -> RetrievalScore:
    """The documents given are those cited with the answer (each passage the prompt carried); the
    citations the answer makes are the markers it uses, or every citation when it uses none."""
    retrieved = tuple(dict.fromkeys(_document(c) for c in citations))
    used = set(_MARKER.findall(answer))
    cited = [c for c in citations if str(c.get("marker", "")).strip("[]") in used] or citations
    relevant = sum(1 for c in cited if any(_names(e, _document(c)) for e in expected))
    return RetrievalScore(tuple(expected), retrieved, len(cited), relevant)


def _shown(value: str) -> str:
    """A value named in a failure: enough to find it in the suite, never the whole of it."""
    return value if len(value) <= 6 else f"{value[:3]}…({len(value)} chars)"


def check(case: Case, outcome: Outcome) -> CaseResult:
    result = CaseResult(case, outcome)
    fail = result.failures.append
    exp = case.expect
    refused = outcome.refusal_code is not None
    if "refused" in exp:
        wanted = exp["refused"]
        if wanted is False and refused:
            fail(("refused", f"refused with {outcome.refusal_code} ({outcome.refusal_message})"))
        elif wanted is not False and not refused:
            fail(("refused", f"expected a refusal{'' if wanted is True else f' ({wanted})'}, the call was served"))
        elif isinstance(wanted, str) and refused and outcome.refusal_code != wanted:
            fail(("refused", f"refused with {outcome.refusal_code}, expected {wanted}"))
    if exp.get("allowed") and refused:
        fail(("allowed", f"refused with {outcome.refusal_code}: {outcome.refusal_message}"))
    for value in exp.get("never_contains", ()):
        if value in outcome.answer:
            fail(("never_contains", f"the answer contains {_shown(value)}"))
    for value in exp.get("upstream_never_sees", ()):
        if outcome.upstream is None:
            fail(("upstream_never_sees", "this target cannot observe the upstream; run in-process"))
        elif any(value in body for body in outcome.upstream):
            fail(("upstream_never_sees", f"the upstream received {_shown(value)}"))
    for value in exp.get("restored", ()):
        if value not in outcome.answer:
            fail(("restored", f"{_shown(value)} was not restored in the answer"))
    for value in exp.get("not_restored", ()):
        if value in outcome.answer:
            fail(("not_restored", f"{_shown(value)} was restored for a caller not allowed to see it"))
    if "tool" in exp:
        if outcome.tool_outcomes is None:
            fail(("tool_outcome", "this target cannot observe tool verdicts; run in-process"))
        else:
            got = outcome.tool_outcomes.get(exp["tool"])
            if got != exp["tool_outcome"]:
                fail(("tool_outcome", f"{exp['tool']} was {got or 'not proposed'}, expected {exp['tool_outcome']}"))
    if "flagged" in exp:
        if outcome.flagged is None:
            fail(("flagged", "this target cannot observe data findings; run in-process"))
        elif exp["flagged"] not in outcome.flagged:
            fail(("flagged", f"{exp['flagged']} was not flagged (found: {', '.join(sorted(outcome.flagged)) or 'none'})"))
    for value in exp.get("never_retrieved", ()):
        if any(_names(value, _document(c)) for c in outcome.citations):
            fail(("never_retrieved", f"the call was given the document {value}"))
    if "documents" in exp:
        score = result.retrieval = score_retrieval(exp["documents"], outcome.answer, outcome.citations)
        if score.recall < exp.get("min_recall", 0.0):
            fail(("min_recall", f"recall {score.recall:.2f} is below {exp['min_recall']}"))
        if score.citation_precision < exp.get("min_citation_precision", 0.0):
            fail(("min_citation_precision",
                  f"citation precision {score.citation_precision:.2f} is below {exp['min_citation_precision']}"))
    _quality(exp, outcome, fail)
    return result


def _quality(exp: dict[str, Any], outcome: Outcome, fail: Any) -> None:
    answer = outcome.answer
    if "exact" in exp and answer != exp["exact"]:
        fail(("exact", f"the answer differs ({len(answer)} chars)"))
    for value in exp.get("contains", ()):
        if value not in answer:
            fail(("contains", f"the answer lacks {value!r}"))
    if "regex" in exp and re.search(exp["regex"], answer) is None:
        fail(("regex", f"no match for {exp['regex']!r}"))
    if "json_schema" in exp:
        try:
            doc = json.loads(answer)
        except json.JSONDecodeError:
            fail(("json_schema", "the answer is not JSON"))
            return
        errors = list(Draft202012Validator(exp["json_schema"]).iter_errors(doc))
        if errors:
            fail(("json_schema", errors[0].message))
