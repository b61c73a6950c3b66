"""Prometheus metrics: requests, refusals, latency by stage and upstream.

With several worker processes, prometheus-client's multiprocess mode aggregates across them
(``PROMETHEUS_MULTIPROC_DIR`` is set by ``interlock serve --workers N``).
"""

from __future__ import annotations

import os
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client import multiprocess as mp

from interlock.pipeline.call import Call

_LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)
_STAGE_BUCKETS = (0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 30)


class Metrics:
    def __init__(self, enabled: bool = True) -> None:
        self.enabled = enabled
        self.registry = CollectorRegistry(auto_describe=False)
        self.requests = Counter("interlock_requests", "Calls handled", ("model", "status"), registry=self.registry)
        self.refusals = Counter("interlock_refusals", "Calls refused, by code", ("code",), registry=self.registry)
        self.latency = Histogram("interlock_request_seconds", "Whole-call latency", ("model",),
                                 buckets=_LATENCY_BUCKETS, registry=self.registry)
        self.stage = Histogram("interlock_stage_seconds", "Time spent in each pipeline stage", ("stage",),
                               buckets=_STAGE_BUCKETS, registry=self.registry)
        self.upstream = Histogram("interlock_upstream_seconds", "Upstream latency", ("provider",),
                                  buckets=_LATENCY_BUCKETS, registry=self.registry)
        self.shadow = Counter("interlock_policy_shadow_differences", "Calls where the shadow policy set "
                              "would have decided differently", registry=self.registry)
        self.data = Counter("interlock_data_findings", "Sensitive data found, by class and action",
                            ("data_class", "action"), registry=self.registry)
        self.tokens = Counter("interlock_tokens", "Tokens reported by upstreams", ("model", "kind"),
                              registry=self.registry)
        # Children are looked up once per label set: labels() costs more than observe() itself.
        self._children: dict[tuple[str, ...], Any] = {}

    def _child(self, metric: Any, *labels: str) -> Any:
        key = (metric._name, *labels)
        child = self._children.get(key)
        if child is None:
            child = self._children[key] = metric.labels(*labels)
        return child

    def stage_seconds(self, stage: str, seconds: float) -> None:
        if not self.enabled:
            return
        self._child(self.stage, stage).observe(seconds)

    def observe_call(self, call: Call) -> None:
        if not self.enabled:
            return
        model = call.model_alias if call.provider else "-"
        self._child(self.requests, model, str(call.status)).inc()
        if call.refusal_code:
            self._child(self.refusals, call.refusal_code).inc()
        self._child(self.latency, model).observe(call.elapsed_ms() / 1000.0)
        if call.shadow_differences:
            self.shadow.inc()
        for data_class, action, _ in call.data_findings:
            self._child(self.data, data_class, action).inc()
        if call.provider:
            self._child(self.upstream, call.provider).observe(call.upstream_ms / 1000.0)
            self._child(self.tokens, model, "prompt").inc(call.usage.prompt_tokens)
            self._child(self.tokens, model, "completion").inc(call.usage.completion_tokens)

    def render(self) -> bytes:
        if "PROMETHEUS_MULTIPROC_DIR" in os.environ:
            registry = CollectorRegistry()
            mp.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
            return generate_latest(registry)
        return generate_latest(self.registry)
