"""Prometheus metrics: requests, refusals, latency by stage and upstream, tokens, data findings.

Every request records about fifteen values (one per pipeline stage, then the call's own), on the
event-loop thread, which is the gateway's throughput bottleneck. prometheus-client takes a lock per
``observe``/``inc`` (about 4 us each); here values are plain Python numbers, lists and dicts with no
lock, which is safe because they are only ever touched from the event-loop thread (the pipeline, the
MCP gateway, the ``/metrics`` handler and the publisher task all run there): call nothing here from
another thread. prometheus-client still writes the exposition format, from a custom collector.

Several worker processes (``interlock serve --workers N``) share a directory, ``INTERLOCK_METRICS_DIR``.
Each worker publishes a snapshot of its own values to ``<pid>-<start time>.json`` there (written to a temporary file,
then renamed, so a reader never sees half a file) every 0.25 s when something changed, and once more
when the engine stops. ``/metrics`` adds every other worker's last snapshot to this worker's live values:
a scrape can lag other workers by about 0.25 s, and a worker that died still counts with its last
snapshot (counters are totals since start-up, so its calls remain counted). ``interlock serve`` clears
the snapshots an earlier run left in the directory before its workers start (``clear_snapshots``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import re
import time
from bisect import bisect_left
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from itertools import accumulate
from pathlib import Path
from typing import Any, Protocol

import msgspec
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.metrics_core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector
from prometheus_client.samples import Sample
from prometheus_client.utils import floatToGoString

log = logging.getLogger("interlock.telemetry")

METRICS_DIR_ENV = "INTERLOCK_METRICS_DIR"
PUBLISH_INTERVAL_SECONDS = 0.25

_LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)
_STAGE_BUCKETS = (0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 30)
_BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024)
_TTFT_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)
# The use-case label of a call that names none. Use cases are a short list a deployment declares; user,
# principal and key ids are never labels (each would be a series of its own).
NO_USE_CASE = "-"

Labels = tuple[str, ...]


class _Usage(Protocol):
    @property
    def prompt_tokens(self) -> int: ...
    @property
    def completion_tokens(self) -> int: ...


class FinishedCall(Protocol):
    """What the metrics read of a finished call. The pipeline's ``Call`` is one; telemetry sits below the
    pipeline and names only what it reads."""

    @property
    def provider(self) -> str: ...
    @property
    def model_alias(self) -> str: ...
    @property
    def status(self) -> int: ...
    @property
    def refusal_code(self) -> str: ...
    @property
    def shadow_differences(self) -> Sequence[Any]: ...
    @property
    def data_findings(self) -> Mapping[tuple[str, str, str], int]: ...  # how many of each (class, action, where)
    @property
    def upstream_ms(self) -> float: ...
    @property
    def usage(self) -> _Usage: ...
    @property
    def cost_nano(self) -> int | None: ...
    @property
    def use_case_name(self) -> str: ...
    @property
    def first_token_ms(self) -> float: ...
    def elapsed_ms(self) -> float: ...


# What a worker writes: "<pid>-<start ns>.json", and ".<that>.tmp" while writing it.
_SNAPSHOT_FILE = re.compile(r"\.?\d+-\d+\.json(\.tmp)?")


def clear_snapshots(directory: Path) -> int:
    """Remove the snapshots that workers of an earlier run left in ``directory`` (creating it if missing),
    so that a new run does not count their calls again; other files are left alone. Returns how many."""
    directory.mkdir(parents=True, exist_ok=True)
    removed = 0
    for entry in os.scandir(directory):
        if entry.is_file() and _SNAPSHOT_FILE.fullmatch(entry.name):
            with contextlib.suppress(FileNotFoundError):
                os.unlink(entry.path)
                removed += 1
    return removed


def metrics_dir() -> Path | None:
    """The directory shared by the workers (``INTERLOCK_METRICS_DIR``), or None for a single process."""
    value = os.environ.get(METRICS_DIR_ENV)
    return Path(value) if value else None


class HistogramChild:
    """One label set of a histogram: a count per bucket (not cumulative; the last one is ``+Inf``) and the sum.

    The count of observations is the sum of the bucket counts, so it is not kept apart.
    """

    __slots__ = ("bounds", "buckets", "created", "sum")

    def __init__(self, bounds: tuple[float, ...]) -> None:
        self.bounds = bounds
        self.buckets = [0] * (len(bounds) + 1)
        self.sum = 0.0
        self.created = time.time()

    def observe(self, value: float) -> None:
        # bisect_left puts a value equal to a bound in that bound's bucket: Prometheus ``le`` means <=.
        self.buckets[bisect_left(self.bounds, value)] += 1
        self.sum += value

    @property
    def count(self) -> int:
        return sum(self.buckets)


class CounterChild:
    """One label set of a counter."""

    __slots__ = ("created", "value")

    def __init__(self) -> None:
        self.value = 0.0
        self.created = time.time()


class CounterFamily:
    """A counter: its children by label values."""

    def __init__(self, name: str, documentation: str, labelnames: Labels = ()) -> None:
        self.name = name
        self.documentation = documentation
        self.labelnames = labelnames
        self.children: dict[Labels, CounterChild] = {}

    def child(self, labels: Labels) -> CounterChild:
        found = self.children.get(labels)
        if found is None:
            found = self.children[labels] = CounterChild()
        return found


class HistogramFamily:
    """A histogram: its children by label values, all with the same bucket bounds."""

    def __init__(self, name: str, documentation: str, labelnames: Labels, buckets: Iterable[float]) -> None:
        self.name = name
        self.documentation = documentation
        self.labelnames = labelnames
        self.bounds = tuple(float(b) for b in buckets)
        # The ``le`` label values, written exactly as prometheus-client writes them.
        self.le = (*(floatToGoString(b) for b in self.bounds), "+Inf")  # type: ignore[no-untyped-call]
        self.children: dict[Labels, HistogramChild] = {}

    def child(self, labels: Labels) -> HistogramChild:
        found = self.children.get(labels)
        if found is None:
            found = self.children[labels] = HistogramChild(self.bounds)
        return found


class Snapshot(msgspec.Struct, frozen=True):
    """One worker's values, as published to the shared directory.

    ``counters``: family name -> [label values, value, created]. ``histograms``: family name ->
    [label values, per-bucket counts (not cumulative, ``+Inf`` last), sum, created].
    """

    counters: dict[str, list[tuple[Labels, float, float]]] = {}
    histograms: dict[str, list[tuple[Labels, list[int], float, float]]] = {}


_encode = msgspec.json.Encoder().encode
_decode_snapshot = msgspec.json.Decoder(Snapshot).decode


class Metrics:
    """The gateway's metrics, recorded lock-free on the event-loop thread (see the module docstring)."""

    def __init__(self, enabled: bool = True, directory: Path | None = None, worker: str | None = None) -> None:
        self.enabled = enabled
        # Where the workers publish their snapshots (None: a single process, nothing published or read).
        self.directory = directory
        # This worker's snapshot file name: its pid and start time (a later process given the same pid
        # must not overwrite a dead worker's totals), unless a test names it.
        self._worker = worker or f"{os.getpid()}-{time.time_ns()}"
        self.requests = CounterFamily("interlock_requests", "Calls handled", ("model", "status"))
        self.refusals = CounterFamily("interlock_refusals", "Calls refused, by code", ("code",))
        self.latency = HistogramFamily("interlock_request_seconds", "Whole-call latency", ("model",),
                                       _LATENCY_BUCKETS)
        self.stage = HistogramFamily("interlock_stage_seconds", "Time spent in each pipeline stage", ("stage",),
                                     _STAGE_BUCKETS)
        self.upstream = HistogramFamily("interlock_upstream_seconds", "Upstream latency", ("provider",),
                                        _LATENCY_BUCKETS)
        self.shadow = CounterFamily("interlock_policy_shadow_differences", "Calls where the shadow policy set "
                                    "would have decided differently")
        self.data = CounterFamily("interlock_data_findings", "Sensitive data found, by class and action",
                                  ("data_class", "action"))
        self.tokens = CounterFamily("interlock_tokens", "Tokens reported by upstreams", ("model", "kind"))
        self.cost = CounterFamily("interlock_cost_usd", "What calls cost, in USD at the price table's prices",
                                  ("model", "use_case"))
        self.use_case_tokens = CounterFamily("interlock_use_case_tokens", "Tokens by use case (input and output)",
                                             ("use_case", "kind"))
        self.ttft = HistogramFamily("interlock_time_to_first_token_seconds", "Streams: from the request to its "
                                    "first chunk sent to the client", ("model", "use_case"), _TTFT_BUCKETS)
        self.audit_seconds = HistogramFamily("interlock_audit_commit_seconds", "Time to write one batch of audit "
                                             "records and make it durable", (), _STAGE_BUCKETS)
        self.audit_batch = HistogramFamily("interlock_audit_commit_records", "Audit records per durable commit "
                                           "(group commit)", (), _BATCH_BUCKETS)
        self.families: tuple[CounterFamily | HistogramFamily, ...] = (
            self.requests, self.refusals, self.latency, self.stage, self.upstream, self.shadow, self.data, self.tokens,
            self.cost, self.use_case_tokens, self.ttft, self.audit_seconds, self.audit_batch)
        # A family with no labels is shown (at 0) before its first value, as prometheus-client shows it.
        self._shadow = self.shadow.child(())
        self._audit_seconds = self.audit_seconds.child(())
        self._audit_batch = self.audit_batch.child(())
        # The hot path finds its children by the bare label value (no tuple to build and hash) ...
        self._stages: dict[str, HistogramChild] = {}
        self._latencies: dict[str, HistogramChild] = {}
        self._upstreams: dict[str, HistogramChild] = {}
        self._refusals: dict[str, CounterChild] = {}
        # ... or by (model, status as an int): no str(status) per call.
        self._requests: dict[tuple[str, int], CounterChild] = {}
        # model -> (prompt, completion) token counters.
        self._tokens: dict[str, tuple[CounterChild, CounterChild]] = {}
        # Gauges read when scraped (name -> documentation, label names, reader): values that live elsewhere,
        # such as the knowledge sources' freshness in their shared index, the same for every worker.
        self._gauges: dict[str, tuple[str, Labels, Callable[[], list[tuple[Labels, float]]]]] = {}
        # (model, use case) -> cost counter and time-to-first-token histogram; use case -> token counters.
        self._costs: dict[tuple[str, str], CounterChild] = {}
        self._ttfts: dict[tuple[str, str], HistogramChild] = {}
        self._use_case_tokens: dict[str, tuple[CounterChild, CounterChild]] = {}
        self.registry = CollectorRegistry(auto_describe=False)
        self.registry.register(_Collector(self))
        # Nothing is written until something is counted (a CLI command's engine leaves no file behind).
        self._published = _encode(self.snapshot())
        self._publisher: asyncio.Task[None] | None = None
        self._stopping = asyncio.Event()

    # -- recording (the hot path) -------------------------------------------------------------------

    def stage_seconds(self, stage: str, seconds: float) -> None:
        """One pipeline stage took ``seconds`` (eight or so per call: kept to a dict lookup and an observe)."""
        if not self.enabled:
            return
        child = self._stages.get(stage)
        if child is None:
            child = self._stages[stage] = self.stage.child((stage,))
        child.observe(seconds)

    def observe_call(self, call: FinishedCall) -> None:
        """A finished call: its status, refusal, latency, upstream latency, tokens and data findings."""
        if not self.enabled:
            return
        provider = call.provider
        model = call.model_alias if provider else "-"
        status = call.status
        counter = self._requests.get((model, status))
        if counter is None:
            counter = self._requests[model, status] = self.requests.child((model, str(status)))
        counter.value += 1
        if call.refusal_code:
            self.count_refusal(call.refusal_code)
        hist = self._latencies.get(model)
        if hist is None:
            hist = self._latencies[model] = self.latency.child((model,))
        hist.observe(call.elapsed_ms() / 1000.0)
        if call.shadow_differences:
            self._shadow.value += 1
        if call.data_findings:
            for (data_class, action, _), n in call.data_findings.items():
                self.data.child((data_class, action)).value += n
        if provider:
            hist = self._upstreams.get(provider)
            if hist is None:
                hist = self._upstreams[provider] = self.upstream.child((provider,))
            hist.observe(call.upstream_ms / 1000.0)
            tokens = self._tokens.get(model)
            if tokens is None:
                tokens = self._tokens[model] = (self.tokens.child((model, "prompt")),
                                                self.tokens.child((model, "completion")))
            usage = call.usage
            tokens[0].value += usage.prompt_tokens
            tokens[1].value += usage.completion_tokens
            use_case = call.use_case_name or NO_USE_CASE
            by_case = self._use_case_tokens.get(use_case)
            if by_case is None:
                by_case = self._use_case_tokens[use_case] = (self.use_case_tokens.child((use_case, "prompt")),
                                                             self.use_case_tokens.child((use_case, "completion")))
            by_case[0].value += usage.prompt_tokens
            by_case[1].value += usage.completion_tokens
            cost = call.cost_nano
            if cost:
                counter = self._costs.get((model, use_case))
                if counter is None:
                    counter = self._costs[model, use_case] = self.cost.child((model, use_case))
                counter.value += cost / 1e9
            if call.first_token_ms:
                hist = self._ttfts.get((model, use_case))
                if hist is None:
                    hist = self._ttfts[model, use_case] = self.ttft.child((model, use_case))
                hist.observe(call.first_token_ms / 1000.0)

    def audit_commit(self, seconds: float, records: int) -> None:
        """One batch of audit records made durable: how long writing and committing it took, and its size."""
        if not self.enabled:
            return
        self._audit_seconds.observe(seconds)
        self._audit_batch.observe(records)

    def count_refusal(self, code: str) -> None:
        """One call refused with this code (the pipeline's calls count theirs in ``observe_call``)."""
        if not self.enabled:
            return
        counter = self._refusals.get(code)
        if counter is None:
            counter = self._refusals[code] = self.refusals.child((code,))
        counter.value += 1

    # -- exposition ---------------------------------------------------------------------------------

    def add_gauge(self, name: str, documentation: str, labelnames: Labels,
                  read: Callable[[], list[tuple[Labels, float]]]) -> None:
        """A gauge whose values ``read`` returns at each scrape (off the hot path)."""
        self._gauges[name] = (documentation, labelnames, read)

    def render(self) -> bytes:
        """The Prometheus text format: this worker's live values plus every other worker's last snapshot."""
        return generate_latest(self.registry)

    def snapshot(self) -> Snapshot:
        """This worker's values, as they would be published."""
        counters: dict[str, list[tuple[Labels, float, float]]] = {}
        histograms: dict[str, list[tuple[Labels, list[int], float, float]]] = {}
        for family in self.families:
            if isinstance(family, CounterFamily):
                counters[family.name] = [(labels, c.value, c.created) for labels, c in family.children.items()]
            else:
                histograms[family.name] = [(labels, list(h.buckets), h.sum, h.created)
                                           for labels, h in family.children.items()]
        return Snapshot(counters, histograms)

    def merged(self) -> Snapshot:
        """This worker's live values plus the last snapshot of every other worker in the directory."""
        return merge([self.snapshot(), *read_snapshots(self.directory, skip=self._file_name())], self.families)

    def collect(self) -> Iterator[Metric]:
        """The metric families, built with prometheus-client's own classes (it writes the text format)."""
        merged = self.merged()
        for family in self.families:
            if isinstance(family, CounterFamily):
                counter = CounterMetricFamily(family.name, family.documentation, labels=family.labelnames)
                for labels, value, created in merged.counters.get(family.name, ()):
                    counter.add_metric(labels, value, created=created)
                yield counter
                continue
            histogram = HistogramMetricFamily(family.name, family.documentation, labels=family.labelnames)
            for labels, buckets, total, created in merged.histograms.get(family.name, ()):
                histogram.add_metric(labels, list(zip(family.le, map(float, accumulate(buckets)), strict=True)),
                                     total)
                # prometheus-client shows when each child was created, as it does for a counter.
                histogram.samples.append(Sample(family.name + "_created", dict(zip(family.labelnames, labels,
                                                                                    strict=True)), created))
            yield histogram
        for name, (documentation, labelnames, read) in self._gauges.items():
            gauge = GaugeMetricFamily(name, documentation, labels=labelnames)
            for labels, value in read():
                gauge.add_metric(labels, value)
            yield gauge

    # -- publication across workers -----------------------------------------------------------------

    def _file_name(self) -> str:
        return self._worker + ".json"

    def publish(self) -> bool:
        """Write this worker's snapshot to the shared directory now, if it changed since the last one written."""
        data = self._changed()
        if data is None:
            return False
        self._write(data)
        self._published = data
        return True

    def _changed(self) -> bytes | None:
        # Read on the event-loop thread, which owns the live values (about 70 us for a few dozen series).
        if self.directory is None:
            return None
        data = _encode(self.snapshot())
        return None if data == self._published else data

    def _write(self, data: bytes) -> None:
        # Written under a temporary name, then renamed: readers see the previous snapshot or this one, whole.
        assert self.directory is not None
        name = self._file_name()
        temporary = self.directory / f".{name}.tmp"
        temporary.write_bytes(data)
        os.replace(temporary, self.directory / name)

    async def start(self) -> None:
        """Start publishing this worker's snapshot, when workers share a directory."""
        if self.enabled and self.directory is not None and self._publisher is None:
            self._stopping = asyncio.Event()
            self._publisher = asyncio.create_task(self._publish_periodically(self._stopping),
                                                  name="metrics-publisher")

    async def stop(self) -> None:
        """Stop publishing, after a last snapshot so that nothing this worker counted is lost."""
        task, self._publisher = self._publisher, None
        if task is not None:
            self._stopping.set()
            await task

    async def _publish_periodically(self, stopping: asyncio.Event) -> None:
        # The file is written in a thread: a create, write and rename takes about 0.5-1 ms on a disk-backed
        # /tmp, too much for the event loop four times a second. Stopping is a signal, not a cancellation,
        # so that a write in progress is never overtaken by an older one; the last round is the final publish.
        failing = False
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stopping.wait(), PUBLISH_INTERVAL_SECONDS)
            try:
                data = self._changed()
                if data is not None:
                    await asyncio.to_thread(self._write, data)
                    self._published = data
                failing = False
            except OSError as exc:
                if not failing:  # once per outage, not four times a second
                    log.warning("cannot publish metrics to %s (the other workers' /metrics miss this one's): %s",
                                self.directory, exc)
                failing = True
            if stopping.is_set():
                return


class _Collector(Collector):
    def __init__(self, metrics: Metrics) -> None:
        self._metrics = metrics

    def collect(self) -> Iterable[Metric]:
        return self._metrics.collect()


def read_snapshots(directory: Path | None, skip: str = "") -> list[Snapshot]:
    """Every worker's published snapshot in ``directory`` but ``skip``; a file that cannot be read or parsed
    (a stray file, a disk error) is left out rather than failing the scrape."""
    if directory is None:
        return []
    snapshots: list[Snapshot] = []
    try:
        entries = list(os.scandir(directory))
    except OSError as exc:
        log.warning("cannot read the metrics of the other workers in %s: %s", directory, exc)
        return snapshots
    for entry in entries:
        if entry.name == skip or entry.name.startswith(".") or not entry.name.endswith(".json"):
            continue
        try:
            with open(entry.path, "rb") as f:
                snapshots.append(_decode_snapshot(f.read()))
        except (OSError, msgspec.DecodeError) as exc:
            log.debug("ignoring the metrics snapshot %s: %s", entry.path, exc)
    return snapshots


def merge(snapshots: Iterable[Snapshot], families: Iterable[CounterFamily | HistogramFamily]) -> Snapshot:
    """Add snapshots up: counters and histogram buckets and sums are summed per label set; ``created`` is the
    earliest. Entries that do not fit the family (unknown name, wrong number of labels or buckets) are dropped."""
    counters: dict[str, dict[Labels, list[float]]] = {}
    histograms: dict[str, dict[Labels, tuple[list[int], list[float]]]] = {}
    shapes: dict[str, tuple[int, int]] = {}
    for family in families:
        if isinstance(family, CounterFamily):
            counters[family.name] = {}
            shapes[family.name] = (len(family.labelnames), 0)
        else:
            histograms[family.name] = {}
            shapes[family.name] = (len(family.labelnames), len(family.bounds) + 1)
    for snap in snapshots:
        for name, entries in snap.counters.items():
            into = counters.get(name)
            if into is None:
                continue
            n_labels = shapes[name][0]
            for labels, value, created in entries:
                if len(labels) != n_labels:
                    continue
                seen = into.get(labels)
                if seen is None:
                    into[labels] = [value, created]
                else:
                    seen[0] += value
                    seen[1] = min(seen[1], created)
        for name, hist_entries in snap.histograms.items():
            hist_into = histograms.get(name)
            if hist_into is None:
                continue
            n_labels, n_buckets = shapes[name]
            for labels, buckets, total, created in hist_entries:
                if len(labels) != n_labels or len(buckets) != n_buckets:
                    continue
                found = hist_into.get(labels)
                if found is None:
                    hist_into[labels] = (list(buckets), [total, created])
                else:
                    counts, rest = found
                    for i, n in enumerate(buckets):
                        counts[i] += n
                    rest[0] += total
                    rest[1] = min(rest[1], created)
    return Snapshot(
        {name: [(labels, v[0], v[1]) for labels, v in by.items()] for name, by in counters.items()},
        {name: [(labels, counts, rest[0], rest[1]) for labels, (counts, rest) in by.items()]
         for name, by in histograms.items()},
    )
