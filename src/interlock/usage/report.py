"""``interlock usage``: what the records say about use, cost, latency, failures and feedback, grouped by
model, tenant or use case over a period. Read from the audit records, so every instance's calls count."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

GROUPS = ("model", "tenant", "use_case", "endpoint")
FEEDBACK_ENDPOINT = "feedback"


def percentile(values: Sequence[float], q: float) -> float | None:
    """The nearest-rank percentile (``q`` in 0-100) of ``values``; None for none."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, -(-len(ordered) * q // 100))
    return ordered[int(rank) - 1]


@dataclass
class Group:
    calls: int = 0
    refused: int = 0
    principals: set[str] = field(default_factory=set)
    cost_nano: int = 0
    unpriced: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    latencies: list[float] = field(default_factory=list)
    ttfts: list[float] = field(default_factory=list)
    codes: Counter[str] = field(default_factory=Counter)
    scores: list[float] = field(default_factory=list)
    labels: Counter[str] = field(default_factory=Counter)
    feedback: int = 0

    def add(self, record: dict[str, Any]) -> None:
        if record.get("endpoint") == FEEDBACK_ENDPOINT:
            facts = record.get("feedback") or {}
            self.feedback += 1
            if isinstance(facts.get("score"), int | float):
                self.scores.append(float(facts["score"]))
            if facts.get("label"):
                self.labels[str(facts["label"])] += 1
            return
        self.calls += 1
        if record.get("principal"):
            self.principals.add(str(record["principal"]))
        if record.get("refusal_code"):
            self.refused += 1
            self.codes[str(record["refusal_code"])] += 1
        usage = record.get("usage") or {}
        self.prompt_tokens += int(usage.get("prompt_tokens") or 0)
        self.completion_tokens += int(usage.get("completion_tokens") or 0)
        cost = record.get("cost")
        if isinstance(cost, dict):
            self.cost_nano += int(cost.get("nano_usd") or 0)
        elif record.get("provider"):
            self.unpriced += 1
        if isinstance(record.get("latency_ms"), int | float):
            self.latencies.append(float(record["latency_ms"]))
        if isinstance(record.get("first_token_ms"), int | float):
            self.ttfts.append(float(record["first_token_ms"]))

    def row(self) -> dict[str, Any]:
        def ms(v: float | None) -> float | None:
            return None if v is None else round(v, 3)

        return {
            "calls": self.calls,
            "users": len(self.principals),
            "refused": self.refused,
            "error_rate": round(self.refused / self.calls, 4) if self.calls else 0.0,
            "top_errors": ", ".join(f"{c}:{n}" for c, n in self.codes.most_common(3)),
            "cost_usd": round(self.cost_nano / 1e9, 9),
            "unpriced_calls": self.unpriced,
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
            "latency_p50_ms": ms(percentile(self.latencies, 50)),
            "latency_p95_ms": ms(percentile(self.latencies, 95)),
            "latency_p99_ms": ms(percentile(self.latencies, 99)),
            "ttft_p50_ms": ms(percentile(self.ttfts, 50)),
            "feedback": self.feedback,
            "mean_score": round(sum(self.scores) / len(self.scores), 4) if self.scores else None,
            "negative": sum(1 for s in self.scores if s < 0),
            "top_labels": ", ".join(f"{c}:{n}" for c, n in self.labels.most_common(3)),
        }


def summarise(records: Iterable[dict[str, Any]], by: Sequence[str]) -> list[dict[str, Any]]:
    """One row per group (the ``by`` fields first), the busiest first."""
    groups: dict[tuple[str, ...], Group] = {}
    for record in records:
        key = tuple(str(record.get(f) or "-") for f in by)
        groups.setdefault(key, Group()).add(record)
    rows = [{**dict(zip(by, key, strict=True)), **g.row()} for key, g in groups.items()]
    rows.sort(key=lambda r: (-r["calls"], *(r[f] for f in by)))
    return rows
