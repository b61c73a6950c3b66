"""``interlock usage``: the summary of the records, and the command over a real gateway's store."""

from __future__ import annotations

import csv
import io
import json
from typing import Any

import pytest

from interlock.providers.mock import MockLLM
from interlock.usage.report import percentile, summarise
from support.gateways import GatewayFactory, KeySpec


def rec(model: str, principal: str, latency: float, *, cost: int | None = 1000, code: str | None = None,
        **extra: Any) -> dict[str, Any]:
    r: dict[str, Any] = {"endpoint": "chat.completions", "model": model, "tenant": "acme", "principal": principal,
                         "latency_ms": latency, "usage": {"prompt_tokens": 10, "completion_tokens": 5},
                         "provider": "up", **extra}
    if cost is not None:
        r["cost"] = {"nano_usd": cost}
    if code:
        r["refusal_code"] = code
    return r


def test_percentiles_are_nearest_rank() -> None:
    values = [float(v) for v in range(1, 101)]
    assert percentile(values, 50) == 50
    assert percentile(values, 95) == 95
    assert percentile(values, 99) == 99
    assert percentile([7.0], 99) == 7
    assert percentile([], 50) is None


def test_groups_add_up_calls_users_cost_errors_and_feedback() -> None:
    records = [
        rec("fast", "ann", 10), rec("fast", "bob", 20), rec("fast", "ann", 30, first_token_ms=4.0),
        rec("fast", "ann", 5, cost=None, code="budget_exceeded", provider=None),
        rec("big", "cat", 100, cost=2_500_000_000),
        {"endpoint": "feedback", "model": "fast", "tenant": "acme", "feedback": {"score": -1, "label": "wrong"}},
        {"endpoint": "feedback", "model": "fast", "tenant": "acme", "feedback": {"score": 0.5}},
    ]
    rows = {r["model"]: r for r in summarise(records, ["model"])}
    fast = rows["fast"]
    assert fast["calls"] == 4
    assert fast["users"] == 2
    assert fast["refused"] == 1
    assert fast["error_rate"] == 0.25
    assert fast["top_errors"] == "budget_exceeded:1"
    assert fast["cost_usd"] == pytest.approx(3e-6)
    assert fast["prompt_tokens"] == 40
    assert fast["latency_p50_ms"] == 10
    assert fast["latency_p99_ms"] == 30
    assert fast["ttft_p50_ms"] == 4
    assert fast["feedback"] == 2
    assert fast["mean_score"] == -0.25
    assert fast["negative"] == 1
    assert fast["top_labels"] == "wrong:1"
    assert rows["big"]["cost_usd"] == 2.5
    assert next(iter(rows)) == "fast"  # the busiest first


def test_the_command_reports_what_the_gateway_recorded(gateway_factory: GatewayFactory, mock: MockLLM) -> None:
    def adjust(tree: dict[str, Any]) -> None:
        for model in tree["models"]:
            model["price"] = {"input": 1.0, "output": 2.0}

    gw = gateway_factory("sqlite", served=False, keys=[KeySpec("ann"), KeySpec("bob")], adjust=adjust)
    try:
        for key, model in (("ann", "mock"), ("bob", "mock"), ("ann", "twice")):
            r = gw.request("POST", "/v1/chat/completions", headers={"authorization": f"Bearer {gw.keys[key].key}"},
                           json={"model": model, "messages": [{"role": "user", "content": "hi"}],
                                 "mock": {"usage": {"prompt_tokens": 100, "completion_tokens": 50}}})
            assert r.status_code == 200
        fb = gw.request("POST", "/v1/feedback", headers={"authorization": f"Bearer {gw.keys['bob'].key}"},
                        json={"request_id": r.headers["x-request-id"], "score": 1})
        assert fb.status_code == 200
        doc = json.loads(gw.cli(["usage"], "--since", "1h", "--format", "json").stdout)
        rows = {row["model"]: row for row in doc["rows"]}
        assert rows["mock"]["calls"] == 2
        assert rows["mock"]["users"] == 2
        assert rows["mock"]["cost_usd"] == pytest.approx(2 * (100e-6 + 50 * 2e-6))
        assert rows["mock"]["completion_tokens"] == 100
        assert rows["twice"]["feedback"] == 1
        assert rows["twice"]["mean_score"] == 1
        by_tenant = list(csv.DictReader(io.StringIO(gw.cli(["usage"], "--by", "tenant", "--format", "csv").stdout)))
        assert [(row["tenant"], row["calls"]) for row in by_tenant] == [("default", "3")]
        table = gw.cli(["usage"]).stdout.splitlines()
        assert table[0].split()[:3] == ["model", "calls", "users"]
        before = gw.cli(["usage"], "--since", "2h", "--until", "90m").stdout
        assert "no calls" in before
        bad = gw.cli(["usage"], "--since", "yesterday", check=False)
        assert bad.exit_code == 2
        assert "neither a span" in bad.stdout + bad.stderr
    finally:
        gw.stop()
