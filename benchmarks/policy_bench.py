"""Policy decision latency with the example policy set.

Run: PYTHONPATH=src python benchmarks/policy_bench.py [--iterations N]
Writes benchmarks/reports/policy.md and benchmarks/reports/policy.json.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from interlock.identity.principal import Principal
from interlock.policy import EntityConfig, PolicyEngine

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples" / "policies"
REPORTS = ROOT / "benchmarks" / "reports"
CLASSES = ["pii.email", "pii.phone", "pci.card_number", "secret.api_key"]


def _measure(fn: Callable[[], object], iterations: int) -> dict[str, float]:
    for _ in range(min(200, iterations)):
        fn()
    samples = []
    for _ in range(iterations):
        start = time.perf_counter_ns()
        fn()
        samples.append((time.perf_counter_ns() - start) / 1000)
    samples.sort()
    return {"p50_us": round(statistics.median(samples), 1),
            "p99_us": round(samples[int(len(samples) * 0.99) - 1], 1),
            "mean_us": round(statistics.fmean(samples), 1)}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--iterations", type=int, default=5000)
    iterations = parser.parse_args().iterations

    start = time.perf_counter()
    engine = PolicyEngine.load(EXAMPLES, EntityConfig.from_file(EXAMPLES / "entities.yaml"))
    load_ms = (time.perf_counter() - start) * 1000
    sam = Principal(id="sam", kind="user", tenant="acme", roles=frozenset({"support_agent"}))
    app = Principal(id="helpdesk", kind="app", tenant="acme", name="helpdesk")
    counter = iter(range(10**9))

    def fresh() -> Principal:
        # A new caller each time: no cached entity store, no cached class decisions.
        return Principal(id=f"u{next(counter)}", kind="user", tenant="acme", roles=frozenset({"support_agent"}))

    def per_call() -> None:
        engine.model_access(sam, app, "gpt-4o", frozenset({"streaming"}), 1024)
        engine.data_actions(sam, app, "gpt-4o", CLASSES)
        for c in CLASSES[:2]:
            engine.may_restore(sam, c, app)

    cases: dict[str, Callable[[], Any]] = {
        "model_access": lambda: engine.model_access(sam, app, "gpt-4o", frozenset({"streaming"}), 1024),
        "model_access (new caller)": lambda: engine.model_access(fresh(), app, "gpt-4o", frozenset(), 1024),
        "tool_call refund_payment": lambda: engine.tool_call(sam, app, "refund_payment", {"amount": 50}),
        "tool_call send_email": lambda: engine.tool_call(sam, app, "send_email",
                                                         {"to": ["a@acme.example", "b@x.example"]}),
        "data_actions 4 classes (cached)": lambda: engine.data_actions(sam, app, "gpt-4o", CLASSES),
        "data_actions 4 classes (new caller)": lambda: engine.data_actions(fresh(), app, "gpt-4o", CLASSES),
        "may_restore (cached)": lambda: engine.may_restore(sam, "pii.email", app),
        "may_restore (new caller)": lambda: engine.may_restore(fresh(), "pii.email", app),
        "whole per-call cost (model + 4 classes + 2 restores)": per_call,
    }
    results = {name: _measure(fn, iterations) for name, fn in cases.items()}

    REPORTS.mkdir(parents=True, exist_ok=True)
    meta = {"python": platform.python_version(), "machine": platform.machine(), "iterations": iterations,
            "policies": len(engine.sources), "load_ms": round(load_ms, 1), "version": engine.version}
    (REPORTS / "policy.json").write_text(json.dumps({"meta": meta, "results": results}, indent=2) + "\n")
    lines = ["# Policy decision latency", "",
             f"Example policy set ({meta['policies']} policies, version {engine.version}), "
             f"{iterations} iterations each, Python {meta['python']} on {meta['machine']}. "
             f"Load (parse + validate + entity store): {meta['load_ms']} ms.", "",
             "| decision | p50 (us) | p99 (us) | mean (us) |", "|---|---:|---:|---:|"]
    lines += [f"| {name} | {r['p50_us']} | {r['p99_us']} | {r['mean_us']} |" for name, r in results.items()]
    lines += ["", "Target: p50 <= 100 us per decision."]
    (REPORTS / "policy.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
