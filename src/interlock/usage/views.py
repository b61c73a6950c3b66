"""The views of ``interlock usage --view``: each answers one operator question from the records.

- ``adoption``: calls and distinct users per use case per day (UTC).
- ``quality``: feedback (count, mean score, share negative) and evaluation runs per use case per day.
- ``cost``: each use case's cost against its manifest's estimate, prorated to the period; flagged when over.
- ``failures``: refusals and errors by code, policy, tool and use case, this period against the one before.
- ``sources``: which knowledge sources, documents and tools were in the calls that went wrong (negative
  feedback or a failed call), joined on the call's request id.

For the console's use-case and cost pages: ``cost_per_day`` (by use case, model or tenant, every day of
the period present) and ``service`` (p95 latency, error and refusal rates).

Every function takes plain records (the audit log's dicts) and returns rows (dicts of plain values).
"""

from __future__ import annotations

import datetime as dt
import math
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from interlock.usage.report import FEEDBACK_ENDPOINT

VIEWS = ("adoption", "quality", "cost", "failures", "sources")
EVAL_ENDPOINT = "evals"
# The manifests' expected monthly volume is prorated over a month of this many days.
MONTH_DAYS = 30
# Feedback labels that count as a bad answer whatever the score (compared in lower case).
NEGATIVE_LABELS = frozenset({"bad", "wrong", "incorrect", "unhelpful", "harmful", "hallucination", "outdated"})
_NOT_CALLS = (FEEDBACK_ENDPOINT, EVAL_ENDPOINT)
# The decisions (and tool verdicts) that stop or hold a call; a retrieval's near miss (a document the
# caller may not read, left out) does not.
_SAID_NO = ("deny", "approve")


def day_of(record: Mapping[str, Any]) -> str:
    return dt.datetime.fromtimestamp(float(record.get("time") or 0), dt.UTC).date().isoformat()


def _use_case(record: Mapping[str, Any]) -> str:
    return str(record.get("use_case") or "-")


def is_call(record: Mapping[str, Any]) -> bool:
    return record.get("endpoint") not in _NOT_CALLS and record.get("event") is None


def failed(record: Mapping[str, Any]) -> bool:
    """A call refused by the gateway or answered with an error."""
    status = record.get("status")
    return bool(record.get("refusal_code")) or (isinstance(status, int) and status >= 400)


# ---- adoption


def adoption(records: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    calls: Counter[tuple[str, str]] = Counter()
    users: dict[tuple[str, str], set[str]] = defaultdict(set)
    for r in records:
        if not is_call(r):
            continue
        key = (day_of(r), _use_case(r))
        calls[key] += 1
        if r.get("principal"):
            users[key].add(str(r["principal"]))
    return [{"day": d, "use_case": u, "calls": n, "users": len(users[(d, u)])}
            for (d, u), n in sorted(calls.items())]


# ---- quality


def negative(facts: Mapping[str, Any], below: float) -> bool:
    """Feedback that says the answer was bad: a score below ``below``, or a negative label."""
    score = facts.get("score")
    if isinstance(score, int | float) and not isinstance(score, bool) and score < below:
        return True
    return str(facts.get("label") or "").strip().lower() in NEGATIVE_LABELS


@dataclass
class _Quality:
    scores: list[float] = field(default_factory=list)
    feedback: int = 0
    negative: int = 0
    evals: int = 0
    evals_passed: int = 0
    pass_rates: list[float] = field(default_factory=list)


def quality(records: Iterable[dict[str, Any]], *, below: float = 0.0) -> list[dict[str, Any]]:
    groups: dict[tuple[str, str], _Quality] = defaultdict(_Quality)
    for r in records:
        if r.get("endpoint") == FEEDBACK_ENDPOINT:
            facts = r.get("feedback") or {}
            g = groups[(day_of(r), _use_case(r))]
            g.feedback += 1
            if isinstance(facts.get("score"), int | float):
                g.scores.append(float(facts["score"]))
            g.negative += negative(facts, below)
        elif r.get("endpoint") == EVAL_ENDPOINT:
            g = groups[(day_of(r), _use_case(r))]
            g.evals += 1
            g.evals_passed += bool(r.get("passed"))
            if isinstance(r.get("pass_rate"), int | float):
                g.pass_rates.append(float(r["pass_rate"]))
    return [{"day": d, "use_case": u, "feedback": g.feedback,
             "mean_score": round(sum(g.scores) / len(g.scores), 4) if g.scores else None,
             "negative_share": round(g.negative / g.feedback, 4) if g.feedback else None,
             "eval_runs": g.evals, "evals_passed": g.evals_passed,
             "mean_pass_rate": round(sum(g.pass_rates) / len(g.pass_rates), 4) if g.pass_rates else None}
            for (d, u), g in sorted(groups.items())]


# ---- cost


@dataclass(frozen=True, slots=True)
class Expectation:
    """What a manifest expects: the cost of one task and the calls in a month (either may be unset)."""

    cost_per_task_usd: float | None = None
    monthly_volume: int | None = None


def expectations_of(use_cases: Mapping[str, Any]) -> dict[str, Expectation]:
    """The ``expectations`` of each loaded manifest (``UseCase`` objects, by name)."""
    out: dict[str, Expectation] = {}
    for name, uc in use_cases.items():
        doc = (getattr(uc, "doc", None) or {}).get("expectations") or {}
        cost = doc.get("cost_per_task_usd")
        volume = doc.get("monthly_volume")
        out[str(getattr(uc, "name", name))] = Expectation(
            float(cost) if isinstance(cost, int | float) else None,
            int(volume) if isinstance(volume, int) else None)
    return out


def cost(records: Iterable[dict[str, Any]], expectations: Mapping[str, Expectation], seconds: float
         ) -> list[dict[str, Any]]:
    """Per use case: calls, cost and cost per call against the manifest's cost per task, and the cost
    against the estimate for the period (cost per task x monthly volume x the period's share of a month).
    ``over`` names what is exceeded: ``per_task``, ``period`` or both."""
    calls: Counter[str] = Counter()
    nano: Counter[str] = Counter()
    for r in records:
        if not is_call(r):
            continue
        u = _use_case(r)
        calls[u] += 1
        c = r.get("cost")
        if isinstance(c, dict):
            nano[u] += int(c.get("nano_usd") or 0)
    share = seconds / (MONTH_DAYS * 86400)
    rows: list[dict[str, Any]] = []
    for u in sorted(set(calls) | set(expectations)):
        spent = nano[u] / 1e9
        per_call = spent / calls[u] if calls[u] else None
        e = expectations.get(u, Expectation())
        expected_calls = e.monthly_volume * share if e.monthly_volume is not None else None
        estimate = (e.cost_per_task_usd * expected_calls
                    if e.cost_per_task_usd is not None and expected_calls is not None else None)
        over = []
        if per_call is not None and e.cost_per_task_usd is not None and per_call > e.cost_per_task_usd:
            over.append("per_task")
        if estimate is not None and spent > estimate:
            over.append("period")
        rows.append({"use_case": u, "calls": calls[u], "cost_usd": round(spent, 9),
                     "cost_per_call_usd": None if per_call is None else round(per_call, 9),
                     "expected_cost_per_task_usd": e.cost_per_task_usd,
                     "expected_calls": None if expected_calls is None else round(expected_calls, 2),
                     "estimate_usd": None if estimate is None else round(estimate, 9),
                     "over": "+".join(over)})
    rows.sort(key=lambda r: (not r["over"], -r["cost_usd"], r["use_case"]))
    return rows


def days_between(since: float, until: float) -> list[str]:
    """Every UTC day from ``since`` to ``until``, both included, as ISO dates."""
    first = dt.datetime.fromtimestamp(since, dt.UTC).date()
    last = dt.datetime.fromtimestamp(until, dt.UTC).date()
    return [(first + dt.timedelta(days=i)).isoformat() for i in range((last - first).days + 1)]


GROUPINGS = ("use_case", "model", "tenant")


def cost_per_day(records: Iterable[dict[str, Any]], by: str, days: list[str]) -> list[dict[str, Any]]:
    """Per group (``by``: use case, model or tenant), the calls and cost of each day in ``days`` (a day
    without calls is there with zeros), and the group's totals; the costliest group first."""
    if by not in GROUPINGS:
        raise ValueError(f"by must be one of {', '.join(GROUPINGS)}")
    calls: Counter[tuple[str, str]] = Counter()
    nano: Counter[tuple[str, str]] = Counter()
    for r in records:
        if not is_call(r):
            continue
        key = (str(r.get(by) or "-"), day_of(r))
        calls[key] += 1
        c = r.get("cost")
        if isinstance(c, dict):
            nano[key] += int(c.get("nano_usd") or 0)
    totals = {g: (sum(nano[(g, d)] for d in days), sum(calls[(g, d)] for d in days)) for g, _ in calls}
    return [{"group": g, "calls": n, "cost_usd": round(spent / 1e9, 9),
             "days": [{"day": d, "calls": calls[(g, d)], "cost_usd": round(nano[(g, d)] / 1e9, 9)} for d in days]}
            for g, (spent, n) in sorted(totals.items(), key=lambda kv: (-kv[1][0], -kv[1][1], kv[0]))]


def p95(values: list[float]) -> float:
    """The nearest-rank 95th percentile of a non-empty list."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(0.95 * len(ordered)) - 1)]


def service(records: Iterable[dict[str, Any]]) -> dict[str, Any]:
    """Calls, the p95 latency of those served, the share answered with a server error (5xx) and the share
    refused (a refusal code or a 4xx)."""
    calls = [r for r in records if is_call(r)]
    served = [float(r["latency_ms"]) for r in calls
              if r.get("outcome") == "ok" and isinstance(r.get("latency_ms"), int | float)]
    errors = sum(1 for r in calls if isinstance(r.get("status"), int) and r["status"] >= 500)
    refused = sum(1 for r in calls if failed(r)) - errors
    n = len(calls)
    return {"calls": n, "served": len(served), "p95_latency_ms": round(p95(served), 3) if served else None,
            "error_rate": round(errors / n, 6) if n else None, "refusal_rate": round(refused / n, 6) if n else None}


# ---- failures


def failure_keys(record: Mapping[str, Any]) -> tuple[str, str, str, str]:
    """(use case, code, policy ids, tool) of a failed call: the policies of the decisions that said no,
    the tools refused or held."""
    code = str(record.get("refusal_code") or f"status_{record.get('status')}")
    policies = sorted({str(p) for d in record.get("decisions") or () if isinstance(d, dict)
                       and d.get("outcome") in _SAID_NO for p in d.get("policy_ids") or ()})
    tools = sorted({str(t.get("tool")) for t in record.get("tools") or () if isinstance(t, dict)
                    and t.get("outcome") in _SAID_NO})
    return _use_case(record), code, ",".join(policies) or "-", ",".join(tools) or "-"


def failures(current: Iterable[dict[str, Any]], previous: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """Failed calls by (use case, code, policy, tool): this period, the one before, and the change."""
    now = Counter(failure_keys(r) for r in current if is_call(r) and failed(r))
    before = Counter(failure_keys(r) for r in previous if is_call(r) and failed(r))
    rows: list[dict[str, Any]] = []
    for key in set(now) | set(before):
        u, code, policy, tool = key
        rows.append({"use_case": u, "code": code, "policy": policy, "tool": tool, "count": now[key],
                     "previous": before[key], "change": now[key] - before[key],
                     "trend": "new" if not before[key] else "gone" if not now[key]
                     else "up" if now[key] > before[key] else "down" if now[key] < before[key] else "flat"})
    rows.sort(key=lambda r: (-r["count"], -r["change"], r["use_case"], r["code"], r["policy"], r["tool"]))
    return rows


# ---- sources


def bad_calls(records: Iterable[dict[str, Any]], *, below: float = 0.0) -> tuple[set[str], set[str]]:
    """The request ids of the calls with negative feedback (the feedback's ``request_id``, the call it is
    about, not the feedback record's own) and of the calls that failed."""
    disliked: set[str] = set()
    broken: set[str] = set()
    for r in records:
        if r.get("endpoint") == FEEDBACK_ENDPOINT:
            facts = r.get("feedback") or {}
            if facts.get("request_id") and negative(facts, below):
                disliked.add(str(facts["request_id"]))
        elif is_call(r) and failed(r) and r.get("request_id"):
            broken.add(str(r["request_id"]))
    return disliked, broken


def _ingredients(record: Mapping[str, Any]) -> set[tuple[str, str]]:
    """(kind, name) of what a call used: each knowledge source and document retrieved, each tool called."""
    out: set[tuple[str, str]] = set()
    retrieval = record.get("retrieval")
    if isinstance(retrieval, dict):
        for p in retrieval.get("passages") or ():
            if isinstance(p, dict) and p.get("source"):
                out.add(("source", str(p["source"])))
                out.add(("document", f"{p['source']}/{p.get('document_id')}"))
    for t in record.get("tools") or ():
        if isinstance(t, dict) and t.get("tool"):
            out.add(("tool", str(t["tool"])))
    return out


def sources(records: Iterable[dict[str, Any]], *, below: float = 0.0) -> list[dict[str, Any]]:
    """Each source, document and tool: the calls that used it, how many of them were bad (negative
    feedback or failed), ranked by bad calls then by their share."""
    records = list(records)
    disliked, broken = bad_calls(records, below=below)
    used: Counter[tuple[str, str]] = Counter()
    neg: Counter[tuple[str, str]] = Counter()
    fail: Counter[tuple[str, str]] = Counter()
    bad: Counter[tuple[str, str]] = Counter()
    for r in records:
        if not is_call(r):
            continue
        rid = str(r.get("request_id") or "")
        for key in _ingredients(r):
            used[key] += 1
            neg[key] += rid in disliked
            fail[key] += rid in broken
            bad[key] += rid in disliked or rid in broken
    rows: list[dict[str, Any]] = [{"kind": k, "name": n, "bad_calls": bad[(k, n)], "negative_feedback": neg[(k, n)],
             "failed": fail[(k, n)], "calls": c, "bad_share": round(bad[(k, n)] / c, 4)}
            for (k, n), c in used.items()]
    order = {"source": 0, "document": 1, "tool": 2}
    rows.sort(key=lambda r: (order[r["kind"]], -r["bad_calls"], -r["bad_share"], r["name"]))
    return rows
