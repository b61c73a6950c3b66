"""The example Grafana dashboard and Prometheus alert rules name only metrics the gateway exports."""

from __future__ import annotations

import json
import re
from pathlib import Path

import yaml

from interlock.telemetry.metrics import CounterFamily, Metrics

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "monitoring"
NAME = re.compile(r"\binterlock_[a-z_]+")


def exported() -> set[str]:
    names = set()
    for family in Metrics().families:
        if isinstance(family, CounterFamily):
            names.add(family.name + "_total")
        else:
            names |= {family.name + suffix for suffix in ("_bucket", "_sum", "_count")}
    return names


def test_the_dashboard_and_the_alerts_query_exported_metrics() -> None:
    dashboard = json.loads((EXAMPLES / "grafana-dashboard.json").read_text())
    alerts = yaml.safe_load((EXAMPLES / "alerts.yml").read_text())
    exprs = [t["expr"] for p in dashboard["panels"] for t in p["targets"]]
    exprs += [r["expr"] for g in alerts["groups"] for r in g["rules"]]
    used = {n for e in exprs for n in NAME.findall(e)}
    assert used
    assert used <= exported(), used - exported()
    assert {"interlock_cost_usd_total", "interlock_time_to_first_token_seconds_bucket"} <= used
    assert all(r.get("alert") and r.get("annotations", {}).get("summary") for g in alerts["groups"] for r in g["rules"])
