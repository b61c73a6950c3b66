"""Manifests for the use-case tests: a complete one, adjusted per test, written where a deployment keeps it."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import yaml

COMPLETE: dict[str, Any] = {
    "name": "support",
    "purpose": "Answer customers' questions about their orders.",
    "scope": {"answers": ["order status", "refund policy"], "refuses": ["legal advice"]},
    "owner": {"name": "Dana Owner", "email": "dana@example.com"},
    "escalation": [{"name": "Support lead", "email": "lead@example.com"}],
    "users": {"principals": ["alice"], "groups": ["support"]},
    "testers": {"principals": ["tess"]},
    "applications": ["support-app"],
    "models": ["mock"],
    "tools": ["get_weather"],
    "knowledge_sources": ["help-center"],
    "data_classes": ["pii.email"],
    "review": {"route": "default", "min_approvers": 1, "applies_to": {"tools": ["get_weather"]}},
    "budgets": ["support-monthly"],
    "slos": {"p95_latency_ms": 5000, "error_rate": 0.1, "min_calls": 3},
    "expectations": {"cost_per_task_usd": 0.01, "monthly_volume": 1000, "latency_target_ms": 2000},
    "evaluations": [{"suite": "evals/support-evals.yaml", "min_pass_rate": 1.0, "max_age_days": 7}],
    "alerts": [{"name": "errors", "when": "error_rate > 0.05 over 10m", "notify": ["lead@example.com"]}],
    "state": "pilot",
}


def manifest(**changes: Any) -> dict[str, Any]:
    """The complete manifest with ``changes`` applied (a value of None removes the field)."""
    doc = copy.deepcopy(COMPLETE)
    for key, value in changes.items():
        if value is None:
            doc.pop(key, None)
        else:
            doc[key] = value
    return doc


def write_manifest(directory: Path, doc: dict[str, Any], name: str | None = None) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{name or doc['name']}.yaml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False), encoding="utf-8")
    return path
