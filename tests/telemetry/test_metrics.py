"""The lock-free metrics in-process: bucket placement, sums and counts, label sets, the exposition (checked
against prometheus-client's own metrics and parser), and the snapshots workers publish to each other."""

from __future__ import annotations

import asyncio
import collections
import os
import re
import time
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from interlock.pipeline.call import Call, Usage
from interlock.telemetry.metrics import (
    _BATCH_BUCKETS,
    _LATENCY_BUCKETS,
    _STAGE_BUCKETS,
    _TTFT_BUCKETS,
    PUBLISH_INTERVAL_SECONDS,
    Metrics,
    Snapshot,
    merge,
    read_snapshots,
)

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]
# The stage buckets' ``le`` labels, as prometheus-client writes them.
STAGE_LE = ("5e-05", "0.0001", "0.00025", "0.0005", "0.001", "0.0025", "0.005", "0.01", "0.05", "0.1", "0.5", "1.0",
            "5.0", "30.0")


def samples(metrics: Metrics) -> Samples:
    out: Samples = {}
    for family in text_string_to_metric_families(metrics.render().decode()):
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def forwarded(model: str = "mock", provider: str = "openai", prompt: int = 3, completion: int = 4) -> Call:
    call = Call(request_id="req_1", endpoint="/v1/chat/completions", raw_body=b"", headers={})
    call.model_alias, call.provider, call.upstream_ms = model, provider, 2.5
    call.usage = Usage(prompt, completion)
    return call


def refused(status: int, code: str, model: str = "") -> Call:
    call = Call(request_id="req_2", endpoint="/v1/chat/completions", raw_body=b"", headers={})
    call.model_alias, call.status, call.refusal_code = model, status, code
    return call


# -- histograms --------------------------------------------------------------------------------------


@pytest.mark.parametrize("bound", _STAGE_BUCKETS)
def test_a_value_equal_to_a_bound_is_in_that_bucket(bound: float) -> None:
    m = Metrics()
    m.stage_seconds("parse", bound)
    got = samples(m)
    for b, label in zip(_STAGE_BUCKETS, STAGE_LE, strict=True):
        # ``le`` is "less than or equal": the bucket of the bound itself and every wider one count it.
        expected = 1.0 if b >= bound else 0.0
        assert got[("interlock_stage_seconds_bucket", (("le", label), ("stage", "parse")))] == expected, label
    assert got[("interlock_stage_seconds_bucket", (("le", "+Inf"), ("stage", "parse")))] == 1.0


def test_bucket_edges_zero_just_above_a_bound_and_beyond_the_last() -> None:
    m = Metrics()
    for value in (0.0, 0.0005, 0.0005000001, 30.0, 30.5, 1e9):
        m.stage_seconds("forward", value)
    child = m.stage.children[("forward",)]
    bounds = [float(b) for b in _STAGE_BUCKETS]
    expected = [0] * (len(bounds) + 1)
    expected[0] += 1  # 0.0
    expected[bounds.index(0.0005)] += 1
    expected[bounds.index(0.001)] += 1  # just above 0.0005
    expected[bounds.index(30.0)] += 1
    expected[-1] += 2  # +Inf only
    assert child.buckets == expected


def test_sums_and_counts() -> None:
    m = Metrics()
    values = [0.00001, 0.0002, 0.003, 0.04, 0.5, 6.0, 100.0]
    for v in values:
        m.stage_seconds("parse", v)
    m.stage_seconds("forward", 0.25)
    assert m.stage.children[("parse",)].count == len(values)
    assert m.stage.children[("parse",)].sum == pytest.approx(sum(values))
    got = samples(m)
    assert got[("interlock_stage_seconds_count", (("stage", "parse"),))] == len(values)
    assert got[("interlock_stage_seconds_sum", (("stage", "parse"),))] == pytest.approx(sum(values))
    assert got[("interlock_stage_seconds_count", (("stage", "forward"),))] == 1
    assert got[("interlock_stage_seconds_sum", (("stage", "forward"),))] == 0.25


# -- label sets --------------------------------------------------------------------------------------


def test_label_sets_of_a_forwarded_call_and_of_refusals() -> None:
    m = Metrics()
    call = forwarded()
    call.data_findings = collections.Counter([("email", "redact", "input"), ("email", "redact", "output"), ("iban", "block", "input")])
    call.shadow_differences = [{"policy": "p"}]
    m.observe_call(call)
    m.observe_call(forwarded(prompt=10, completion=20))
    # Refused before a model was chosen: the model label is "-" whatever alias was asked for.
    m.observe_call(refused(404, "model_not_found", model="nope"))
    m.observe_call(refused(401, "invalid_api_key"))
    m.count_refusal("approval_pending")  # what the MCP gateway counts
    got = samples(m)
    assert got[("interlock_requests_total", (("model", "mock"), ("status", "200")))] == 2
    assert got[("interlock_requests_total", (("model", "-"), ("status", "404")))] == 1
    assert got[("interlock_requests_total", (("model", "-"), ("status", "401")))] == 1
    assert got[("interlock_refusals_total", (("code", "model_not_found"),))] == 1
    assert got[("interlock_refusals_total", (("code", "invalid_api_key"),))] == 1
    assert got[("interlock_refusals_total", (("code", "approval_pending"),))] == 1
    assert got[("interlock_tokens_total", (("kind", "prompt"), ("model", "mock")))] == 13
    assert got[("interlock_tokens_total", (("kind", "completion"), ("model", "mock")))] == 24
    assert got[("interlock_data_findings_total", (("action", "redact"), ("data_class", "email")))] == 2
    assert got[("interlock_data_findings_total", (("action", "block"), ("data_class", "iban")))] == 1
    assert got[("interlock_policy_shadow_differences_total", ())] == 1
    assert got[("interlock_upstream_seconds_count", (("provider", "openai"),))] == 2
    assert got[("interlock_upstream_seconds_sum", (("provider", "openai"),))] == pytest.approx(0.005)
    assert got[("interlock_request_seconds_count", (("model", "mock"),))] == 2
    assert got[("interlock_request_seconds_count", (("model", "-"),))] == 2
    # Refused calls reached no upstream and reported no tokens: no series for them.
    assert not [k for k in got if k[0].startswith("interlock_tokens") and ("model", "-") in k[1]]
    assert set(m.upstream.children) == {("openai",)}


def test_disabled_metrics_count_nothing() -> None:
    m = Metrics(enabled=False)
    m.stage_seconds("parse", 0.1)
    m.observe_call(forwarded())
    m.count_refusal("policy_denied")
    m.audit_commit(0.001, 3)
    got = samples(m)
    # Only the unlabelled families, at 0 (and their creation times), as prometheus-client shows them.
    assert {name for name, _ in got if not name.startswith("interlock_audit_commit_")} == {
        "interlock_policy_shadow_differences_total", "interlock_policy_shadow_differences_created"}
    assert got[("interlock_policy_shadow_differences_total", ())] == 0
    assert got[("interlock_audit_commit_seconds_count", ())] == 0
    assert got[("interlock_audit_commit_records_sum", ())] == 0
    assert not [v for (name, _), v in got.items() if name.startswith("interlock_audit_commit_")
                and not name.endswith("_created") and v != 0]


def test_audit_commits_are_timed_and_sized_and_add_up_across_workers(tmp_path: Path) -> None:
    a = Metrics(directory=tmp_path, worker="201")
    b = Metrics(directory=tmp_path, worker="202")
    a.audit_commit(0.0004, 1)
    a.audit_commit(0.003, 6)
    b.audit_commit(0.02, 40)
    assert b.publish()
    got = samples(a)
    assert got[("interlock_audit_commit_seconds_count", ())] == 3
    assert got[("interlock_audit_commit_seconds_sum", ())] == pytest.approx(0.0234)
    assert got[("interlock_audit_commit_seconds_bucket", (("le", "0.0005"),))] == 1
    assert got[("interlock_audit_commit_seconds_bucket", (("le", "0.005"),))] == 2
    assert got[("interlock_audit_commit_records_count", ())] == 3
    assert got[("interlock_audit_commit_records_sum", ())] == 47
    assert got[("interlock_audit_commit_records_bucket", (("le", "1.0"),))] == 1
    assert got[("interlock_audit_commit_records_bucket", (("le", "8.0"),))] == 2
    assert got[("interlock_audit_commit_records_bucket", (("le", "32.0"),))] == 2
    assert got[("interlock_audit_commit_records_bucket", (("le", "64.0"),))] == 3


# -- the exposition ----------------------------------------------------------------------------------


def test_the_exposition_parses_back_with_the_expected_families() -> None:
    m = Metrics()
    m.stage_seconds("authenticate", 0.0001)
    m.observe_call(forwarded())
    m.observe_call(refused(403, "policy_denied", model="restricted"))
    families = {f.name: f for f in text_string_to_metric_families(m.render().decode())}
    assert {name: f.type for name, f in families.items() if not name.endswith("_created")} == {
        "interlock_requests": "counter",
        "interlock_refusals": "counter",
        "interlock_request_seconds": "histogram",
        "interlock_stage_seconds": "histogram",
        "interlock_upstream_seconds": "histogram",
        "interlock_policy_shadow_differences": "counter",
        "interlock_data_findings": "counter",
        "interlock_tokens": "counter",
        "interlock_cost_usd": "counter",
        "interlock_use_case_tokens": "counter",
        "interlock_time_to_first_token_seconds": "histogram",
        "interlock_audit_commit_seconds": "histogram",
        "interlock_audit_commit_records": "histogram",
    }
    stage = families["interlock_stage_seconds"]
    assert [s.labels["le"] for s in stage.samples if s.name.endswith("_bucket")] == [*STAGE_LE, "+Inf"]
    latency = families["interlock_request_seconds"]
    assert len([s for s in latency.samples if s.name.endswith("_bucket")]) == 2 * (len(_LATENCY_BUCKETS) + 1)


def test_the_exposition_is_what_prometheus_client_writes_for_the_same_values() -> None:
    """The text is byte for byte what the library's own Counter and Histogram give (creation times aside)."""
    m = Metrics()
    ref = CollectorRegistry(auto_describe=False)
    requests = Counter("interlock_requests", "Calls handled", ("model", "status"), registry=ref)
    refusals = Counter("interlock_refusals", "Calls refused, by code", ("code",), registry=ref)
    latency = Histogram("interlock_request_seconds", "Whole-call latency", ("model",), buckets=_LATENCY_BUCKETS,
                        registry=ref)
    stage = Histogram("interlock_stage_seconds", "Time spent in each pipeline stage", ("stage",),
                      buckets=_STAGE_BUCKETS, registry=ref)
    upstream = Histogram("interlock_upstream_seconds", "Upstream latency", ("provider",), buckets=_LATENCY_BUCKETS,
                         registry=ref)
    Counter("interlock_policy_shadow_differences", "Calls where the shadow policy set would have decided "
            "differently", registry=ref)
    data = Counter("interlock_data_findings", "Sensitive data found, by class and action", ("data_class", "action"),
                   registry=ref)
    tokens = Counter("interlock_tokens", "Tokens reported by upstreams", ("model", "kind"), registry=ref)
    cost = Counter("interlock_cost_usd", "What calls cost, in USD at the price table's prices", ("model", "use_case"),
                   registry=ref)
    case_tokens = Counter("interlock_use_case_tokens", "Tokens by use case (input and output)", ("use_case", "kind"),
                          registry=ref)
    ttft = Histogram("interlock_time_to_first_token_seconds", "Streams: from the request to its first chunk sent to "
                     "the client", ("model", "use_case"), buckets=_TTFT_BUCKETS, registry=ref)
    audit_seconds = Histogram("interlock_audit_commit_seconds", "Time to write one batch of audit records and make "
                              "it durable", buckets=_STAGE_BUCKETS, registry=ref)
    audit_records = Histogram("interlock_audit_commit_records", "Audit records per durable commit (group commit)",
                              buckets=_BATCH_BUCKETS, registry=ref)

    for i, v in enumerate([0.00005, 0.0001, 0.00007, 0.5, 31.0, 1.0, 5e-6, 0.0025]):
        name = ("parse", "forward", "authenticate")[i % 3]
        m.stage_seconds(name, v)
        stage.labels(name).observe(v)
    call = forwarded()
    call.data_findings = collections.Counter([("email", "redact", "input")])
    call.cost_nano, call.first_token_ms = 2_500_000, 12.0
    m.observe_call(call)
    m.observe_call(refused(401, "invalid_api_key"))
    requests.labels("mock", "200").inc()
    requests.labels("-", "401").inc()
    refusals.labels("invalid_api_key").inc()
    for model in ("mock", "-"):  # whatever elapsed time was measured, observed the same
        latency.labels(model).observe(m.latency.children[(model,)].sum)
    upstream.labels("openai").observe(0.0025)
    data.labels("email", "redact").inc()
    tokens.labels("mock", "prompt").inc(3)
    tokens.labels("mock", "completion").inc(4)
    cost.labels("mock", "-").inc(0.0025)
    case_tokens.labels("-", "prompt").inc(3)
    case_tokens.labels("-", "completion").inc(4)
    ttft.labels("mock", "-").observe(0.012)
    for seconds, records in ((0.0004, 1), (0.002, 7), (0.03, 1024), (0.0004, 2000)):
        m.audit_commit(seconds, records)
        audit_seconds.observe(seconds)
        audit_records.observe(records)

    def without_times(text: bytes) -> str:
        return re.sub(r"(_created(\{[^}]*\})?) \S+\n", r"\1 T\n", text.decode())

    assert without_times(m.render()) == without_times(generate_latest(ref))


# -- several workers: snapshots ----------------------------------------------------------------------


def test_two_workers_snapshots_add_up_with_live_values(tmp_path: Path) -> None:
    a = Metrics(directory=tmp_path, worker="101")
    b = Metrics(directory=tmp_path, worker="102")
    for m, stage_value in ((a, 0.0001), (b, 0.003)):
        m.stage_seconds("parse", stage_value)
        m.observe_call(forwarded())
        m.observe_call(refused(404, "model_not_found"))
    b.observe_call(forwarded(model="other", provider="azure"))
    assert a.publish()
    assert b.publish()
    assert not b.publish()  # nothing changed since
    assert sorted(p.name for p in tmp_path.iterdir()) == ["101.json", "102.json"]
    a.count_refusal("model_not_found")  # live, not yet published: counted in a's own answer
    got = samples(a)
    assert got[("interlock_refusals_total", (("code", "model_not_found"),))] == 3
    assert got[("interlock_requests_total", (("model", "mock"), ("status", "200")))] == 2
    assert got[("interlock_requests_total", (("model", "other"), ("status", "200")))] == 1
    assert got[("interlock_upstream_seconds_count", (("provider", "azure"),))] == 1
    assert got[("interlock_stage_seconds_count", (("stage", "parse"),))] == 2
    assert got[("interlock_stage_seconds_sum", (("stage", "parse"),))] == pytest.approx(0.0031)
    assert got[("interlock_stage_seconds_bucket", (("le", "0.0001"), ("stage", "parse")))] == 1
    assert got[("interlock_stage_seconds_bucket", (("le", "0.005"), ("stage", "parse")))] == 2
    assert got[("interlock_tokens_total", (("kind", "prompt"), ("model", "mock")))] == 6
    # b sees a's published values (not its later live refusal) plus its own.
    assert samples(b)[("interlock_refusals_total", (("code", "model_not_found"),))] == 2
    # A worker that stopped still counts: its last snapshot stays.
    del b
    assert samples(a)[("interlock_requests_total", (("model", "other"), ("status", "200")))] == 1


def test_merge_adds_counters_and_histograms_and_keeps_the_earliest_creation() -> None:
    m = Metrics()
    families = m.families
    first = Snapshot(counters={"interlock_refusals": [(("policy_denied",), 2.0, 200.0)]},
                     histograms={"interlock_stage_seconds": [(("parse",), [1] + [0] * 14, 0.00001, 300.0)]})
    second = Snapshot(counters={"interlock_refusals": [(("policy_denied",), 3.0, 100.0), (("other",), 1.0, 5.0)]},
                      histograms={"interlock_stage_seconds": [(("parse",), [0] * 14 + [2], 70.0, 250.0)]})
    merged = merge([first, second], families)
    assert sorted(merged.counters["interlock_refusals"]) == [(("other",), 1.0, 5.0), (("policy_denied",), 5.0, 100.0)]
    ((labels, buckets, total, created),) = merged.histograms["interlock_stage_seconds"]
    assert labels == ("parse",)
    assert buckets == [1] + [0] * 13 + [2]
    assert total == pytest.approx(70.00001)
    assert created == 250.0
    # The inputs are left as they were.
    assert first.histograms["interlock_stage_seconds"][0][1] == [1] + [0] * 14


def test_entries_that_do_not_fit_are_dropped_from_a_merge() -> None:
    families = Metrics().families
    odd = Snapshot(counters={"interlock_refusals": [(("a", "b"), 1.0, 0.0)], "unknown_family": [((), 1.0, 0.0)]},
                   histograms={"interlock_stage_seconds": [(("parse",), [1, 2, 3], 1.0, 0.0)]})
    merged = merge([odd], families)
    assert merged.counters["interlock_refusals"] == []
    assert "unknown_family" not in merged.counters
    assert merged.histograms["interlock_stage_seconds"] == []


def test_corrupt_or_half_written_snapshots_are_ignored(tmp_path: Path) -> None:
    good = Metrics(directory=tmp_path, worker="200")
    good.count_refusal("policy_denied")
    assert good.publish()
    whole = (tmp_path / "200.json").read_bytes()
    (tmp_path / "201.json").write_bytes(whole[: len(whole) // 2])  # cut short
    (tmp_path / "202.json").write_bytes(b"\x00\xffnot json at all")
    (tmp_path / "203.json").write_bytes(b'{"counters": {"interlock_refusals": "many"}}')  # valid JSON, wrong shape
    (tmp_path / "204.json").write_bytes(b"")
    (tmp_path / ".205.json.tmp").write_bytes(whole)  # a write in progress (or abandoned)
    (tmp_path / "notes.txt").write_text("not a snapshot")
    (tmp_path / "206.json").mkdir()  # not even a file
    assert len(read_snapshots(tmp_path)) == 1
    reader = Metrics(directory=tmp_path, worker="300")
    assert samples(reader)[("interlock_refusals_total", (("code", "policy_denied"),))] == 1


def test_a_missing_directory_gives_this_worker_s_values_only(tmp_path: Path) -> None:
    m = Metrics(directory=tmp_path / "gone", worker="1")
    m.count_refusal("policy_denied")
    assert samples(m)[("interlock_refusals_total", (("code", "policy_denied"),))] == 1


def test_own_snapshot_is_not_counted_twice(tmp_path: Path) -> None:
    m = Metrics(directory=tmp_path)  # named by this process's pid
    m.count_refusal("policy_denied")
    assert m.publish()
    assert samples(m)[("interlock_refusals_total", (("code", "policy_denied"),))] == 1


def test_nothing_is_published_until_something_is_counted(tmp_path: Path) -> None:
    m = Metrics(directory=tmp_path, worker="1")
    assert not m.publish()
    assert list(tmp_path.iterdir()) == []
    m.stage_seconds("parse", 0.001)
    assert m.publish()
    assert [p.name for p in tmp_path.iterdir()] == ["1.json"]


async def test_the_publisher_publishes_changes_periodically_and_on_stop(tmp_path: Path) -> None:
    m = Metrics(directory=tmp_path, worker="400")
    reader = Metrics(directory=tmp_path, worker="401")
    await m.start()
    try:
        m.count_refusal("policy_denied")
        deadline = time.monotonic() + 5
        while samples(reader).get(("interlock_refusals_total", (("code", "policy_denied"),))) != 1:
            assert time.monotonic() < deadline, "the change was never published"
            await asyncio.sleep(PUBLISH_INTERVAL_SECONDS / 5)
        m.count_refusal("policy_denied")
    finally:
        await m.stop()
    # The last change, made just before stopping, is in the final snapshot.
    assert samples(reader)[("interlock_refusals_total", (("code", "policy_denied"),))] == 2
    await m.stop()  # stopping twice is harmless


async def test_no_publisher_without_a_directory_or_when_disabled(tmp_path: Path) -> None:
    for m in (Metrics(), Metrics(enabled=False, directory=tmp_path)):
        await m.start()
        m.count_refusal("policy_denied")
        await m.stop()
    assert await asyncio.to_thread(os.listdir, tmp_path) == []


async def test_the_publisher_warns_once_while_it_cannot_write_and_recovers(tmp_path: Path,
                                                                         caplog: pytest.LogCaptureFixture) -> None:
    directory = tmp_path / "later"
    m = Metrics(directory=directory, worker="500")
    await m.start()
    try:
        m.count_refusal("policy_denied")
        await asyncio.sleep(PUBLISH_INTERVAL_SECONDS * 4.5)
        assert [r.levelname for r in caplog.records if r.name == "interlock.telemetry"] == ["WARNING"]
        await asyncio.to_thread(directory.mkdir)
        deadline = time.monotonic() + 5
        while not await asyncio.to_thread((directory / "500.json").exists):
            assert time.monotonic() < deadline, "never published once the directory was there"
            await asyncio.sleep(PUBLISH_INTERVAL_SECONDS / 5)
    finally:
        await m.stop()
    assert samples(Metrics(directory=directory, worker="501"))[
        ("interlock_refusals_total", (("code", "policy_denied"),))] == 1


def test_cost_tokens_and_time_to_first_token_by_use_case_never_by_user() -> None:
    m = Metrics()
    support = forwarded(prompt=10, completion=20)
    support.use_case_label, support.cost_nano, support.first_token_ms = "support-bot", 1_500_000, 80.0
    support.principal = None
    m.observe_call(support)
    plain = forwarded(prompt=1, completion=2)
    plain.cost_nano = 500
    m.observe_call(plain)
    got = samples(m)
    assert got[("interlock_cost_usd_total", (("model", "mock"), ("use_case", "support-bot")))] == pytest.approx(0.0015)
    assert got[("interlock_cost_usd_total", (("model", "mock"), ("use_case", "-")))] == pytest.approx(5e-7)
    assert got[("interlock_use_case_tokens_total", (("kind", "completion"), ("use_case", "support-bot")))] == 20
    assert got[("interlock_time_to_first_token_seconds_count", (("model", "mock"), ("use_case", "support-bot")))] == 1
    assert got[("interlock_time_to_first_token_seconds_bucket",
                (("le", "0.1"), ("model", "mock"), ("use_case", "support-bot")))] == 1
    # A non-streamed call has no first token: nothing observed for it.
    assert ("interlock_time_to_first_token_seconds_count", (("model", "mock"), ("use_case", "-"))) not in got
    labels = {k for name, pairs in got for k, _ in pairs}
    assert not labels & {"principal", "user", "key", "tenant"}
