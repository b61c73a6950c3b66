"""Running the gateway: health, readiness (and unreadiness), Prometheus metrics, start-up failure, shutdown."""

from __future__ import annotations

import asyncio
import concurrent.futures
import shutil
import signal
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import msgspec
import openai
import pytest
from prometheus_client.parser import text_string_to_metric_families

from interlock.providers.mock import MockLLM
from interlock.settings import Settings, StoreSettings
from interlock.telemetry.metrics import PUBLISH_INTERVAL_SECONDS
from support.app import Engine
from support.gateways import STANDARD_KEYS, Gateway, GatewayFactory
from support.ports import free_port
from support.postgres import set_connections
from support.processes import GRACEFUL_EXIT, ServerProcess, serve_args, wait_until


def metric_values(gateway: Gateway) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    with gateway.http() as http:
        r = http.get("/metrics")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/plain")
    out: dict[tuple[str, tuple[tuple[str, str], ...]], float] = {}
    for family in text_string_to_metric_families(r.text):
        for sample in family.samples:
            out[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return out


def test_healthz(gateway: Gateway) -> None:
    with gateway.http() as http:
        r = http.get("/healthz")
    assert r.status_code == 200
    assert r.json() == {"status": "ok"}


def test_readyz_reports_its_checks(gateway: Gateway) -> None:
    with gateway.http() as http:
        r = http.get("/readyz")
    assert r.status_code == 200
    doc = r.json()
    assert doc["ready"] is True
    assert doc["store"] == "ok"
    assert doc["audit_writer"] == "ok"
    assert doc["models"] >= 5


def test_metrics_count_requests_stages_and_refusals(gateway: Gateway, mock: MockLLM) -> None:
    before = metric_values(gateway)
    with gateway.http() as http:
        ok = {"authorization": f"Bearer {gateway.keys['plain-user'].key}"}
        body = {"model": "mock", "messages": [{"role": "user", "content": "count me"}]}
        assert http.post("/v1/chat/completions", json=body, headers=ok).status_code == 200
        assert http.post("/v1/chat/completions", json=body, headers=ok).status_code == 200
        assert http.post("/v1/chat/completions", json=body,
                         headers={"authorization": "Bearer il_" + "q" * 43}).status_code == 401
        assert http.post("/v1/chat/completions", json={**body, "model": "restricted"},
                         headers=ok).status_code == 403
        assert http.post("/v1/chat/completions", json={**body, "model": "nope"}, headers=ok).status_code == 404
    after = metric_values(gateway)

    def delta(name: str, **labels: str) -> float:
        key = (name, tuple(sorted(labels.items())))
        return after.get(key, 0.0) - before.get(key, 0.0)

    assert delta("interlock_requests_total", model="mock", status="200") == 2
    assert delta("interlock_requests_total", model="-", status="401") == 1
    assert delta("interlock_requests_total", model="-", status="403") == 1
    assert delta("interlock_refusals_total", code="invalid_api_key") == 1
    assert delta("interlock_refusals_total", code="policy_denied") == 1
    assert delta("interlock_refusals_total", code="model_not_found") == 1
    # Every call is authenticated; only the two that got that far were forwarded.
    assert delta("interlock_stage_seconds_count", stage="authenticate") == 5
    assert delta("interlock_stage_seconds_count", stage="forward") == 2
    assert delta("interlock_stage_seconds_count", stage="parse") == 4
    assert ("interlock_stage_seconds_bucket", (("le", "+Inf"), ("stage", "forward"))) in after
    assert delta("interlock_tokens_total", model="mock", kind="completion") == 4
    # Every call, refused or not, waited for its record; the records went to disk in one commit or more.
    assert delta("interlock_stage_seconds_count", stage="record") == 5
    assert delta("interlock_audit_commit_records_sum") == 5
    assert 1 <= delta("interlock_audit_commit_seconds_count") <= 5
    assert delta("interlock_audit_commit_seconds_sum") > 0


def test_metrics_add_up_across_workers(two_workers: Gateway, mock: MockLLM) -> None:
    gw = two_workers
    key = ("interlock_refusals_total", (("code", "model_not_found"),))
    # Each worker publishes its counts every PUBLISH_INTERVAL_SECONDS: let earlier tests' calls settle first.
    time.sleep(3 * PUBLISH_INTERVAL_SECONDS)
    before = metric_values(gw).get(key, 0.0)
    for _ in range(6):
        r = httpx.post(gw.url + "/v1/chat/completions",
                       json={"model": "nope", "messages": [{"role": "user", "content": "x"}]},
                       headers={"authorization": f"Bearer {gw.keys['plain-user'].key}", "connection": "close"})
        assert r.status_code == 404
    # Counts from every worker add up once each has published them. A scrape adds the answering worker's live
    # counts to the others' last snapshots, so the first exact one only shows the others have published ...
    wait_until(lambda: metric_values(gw).get(key, 0.0) - before == 6, timeout=5,
               what="every worker's refusals counted in /metrics")
    # ... the answering worker publishes its own within an interval ...
    time.sleep(2 * PUBLISH_INTERVAL_SECONDS)
    # ... and from then on every scrape is exact, whichever worker answers it.
    for _ in range(8):
        assert metric_values(gw)[key] - before == 6
        time.sleep(0.05)


def test_a_restart_does_not_count_the_earlier_run_s_metrics_again(gateway_factory: GatewayFactory,
                                                                   tmp_path: Path) -> None:
    """A metrics directory set by the operator is reused across restarts: the snapshots an earlier run's
    workers left there are cleared at start, other files are left alone."""
    shared = tmp_path / "metrics"
    shared.mkdir()
    stale = {"counters": {"interlock_refusals": [[["model_not_found"], 1000.0, 1.0]]}, "histograms": {}}
    for name in ("4242-1700000000000000000.json", ".4242-1700000000000000001.json.tmp"):
        (shared / name).write_bytes(msgspec.json.encode(stale))
    (shared / "README.json").write_text("{}")
    gw = gateway_factory("sqlite", workers=2, start=False, keys=STANDARD_KEYS[1:2])
    gw.env = {"INTERLOCK_METRICS_DIR": str(shared)}
    gw.start()
    try:
        key = ("interlock_refusals_total", (("code", "model_not_found"),))
        r = httpx.post(gw.url + "/v1/chat/completions", json={"model": "nope", "messages": [{"role": "user",
                       "content": "x"}]}, headers={"authorization": f"Bearer {gw.keys['plain-user'].key}"})
        assert r.status_code == 404
        # Once both workers have published, the count is this run's one refusal, not the stale thousand.
        time.sleep(3 * PUBLISH_INTERVAL_SECONDS)
        for _ in range(4):
            assert metric_values(gw).get(key) == 1.0
        assert not (shared / "4242-1700000000000000000.json").exists()
        assert not (shared / ".4242-1700000000000000001.json.tmp").exists()
        assert (shared / "README.json").read_text() == "{}"
        assert "cleared the metrics an earlier run left" in gw.log()
    finally:
        gw.stop()


# -- readiness follows the store ---------------------------------------------------------------------


@pytest.mark.postgres
def test_readyz_is_503_while_the_store_is_unusable_and_calls_fail_closed(pg_gateway: Gateway,
                                                                         mock: MockLLM) -> None:
    gw = pg_gateway
    key = gw.keys["plain-user"]
    body = {"model": "mock", "messages": [{"role": "user", "content": "during the outage"}]}
    headers = {"authorization": f"Bearer {key.key}"}
    set_connections(gw.store_url, False)
    r = httpx.get(gw.url + "/readyz")
    assert r.status_code == 503
    assert r.json()["ready"] is False
    assert r.json()["store"].startswith("failed")
    # No store, no call: nothing reaches the model.
    r = httpx.post(gw.url + "/v1/chat/completions", json=body, headers=headers, timeout=30)
    # The gateway's state, not the caller's key: 503, which a client may retry.
    assert r.status_code == 503, r.text
    assert r.json()["error"]["code"] == "service_unavailable"
    assert mock.received == []
    set_connections(gw.store_url, True)
    r = httpx.post(gw.url + "/v1/chat/completions", json=body, headers=headers, timeout=30)
    assert r.status_code == 200, r.text
    assert httpx.get(gw.url + "/readyz").status_code == 200
    assert gw.record(r.headers["x-request-id"])["status"] == 200


def test_serve_refuses_to_start_without_its_store(gateway_factory: GatewayFactory, dead_port: int) -> None:
    def unreachable_store(tree: dict[str, Any]) -> None:
        tree["store"]["url"] = f"postgresql://postgres@127.0.0.1:{dead_port}/nothing"

    gw = gateway_factory("sqlite", start=False, adjust=unreachable_store)
    gw.start(wait=False)
    assert gw.proc is not None
    code = gw.proc.wait(timeout=60)
    assert code != 0
    log = gw.log()
    assert "start-up failed" in log
    assert "cannot open the postgresql store (store.url)" in log
    assert str(dead_port) in log
    with pytest.raises(httpx.ConnectError):
        httpx.get(gw.url + "/readyz")


def test_serve_refuses_a_bad_settings_file(gateway_factory: GatewayFactory) -> None:
    def unknown_provider(tree: dict[str, Any]) -> None:
        tree["models"][0]["provider"] = "nowhere"

    gw = gateway_factory("sqlite", start=False, adjust=unknown_provider)
    gw.start(wait=False)
    assert gw.proc is not None
    assert gw.proc.wait(timeout=60) != 0
    log = gw.log()
    assert str(gw.config) in log
    assert "nowhere" in log


# -- graceful shutdown -------------------------------------------------------------------------------


def test_sigterm_lets_the_call_in_flight_finish_and_record(gateway_factory: GatewayFactory,
                                                           mock: MockLLM) -> None:
    gw = gateway_factory("sqlite", keys=STANDARD_KEYS[1:2])
    client = gw.client(gw.keys["plain-user"])
    assert gw.proc is not None

    def slow_call() -> Any:
        return client.chat.completions.with_raw_response.create(
            model="mock", messages=[{"role": "user", "content": "still here"}],
            extra_body={"mock": {"latency_ms": 1000}})

    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        future = pool.submit(slow_call)
        # SIGTERM only once the call has reached the model, so it is really in flight.
        wait_until(lambda: len(mock.received) == 1, what="the call reaching the mock")
        gw.proc.send_signal(signal.SIGTERM)
        raw = future.result(timeout=30)
    assert raw.status_code == 200
    assert raw.parse().choices[0].message.content == "still here"
    # uvicorn re-raises the signal once it has shut down cleanly, so -SIGTERM is a clean exit too.
    assert gw.proc.wait(timeout=30) in (0, -signal.SIGTERM)
    assert "Traceback" not in gw.log()
    # The process is gone; the record is on disk.
    record = gw.record(raw.headers["x-request-id"])
    assert record["status"] == 200
    assert record["principal"] == "plain-user"
    # Nothing is served after shutdown.
    with pytest.raises(openai.APIConnectionError):
        client.chat.completions.create(model="mock", messages=[{"role": "user", "content": "too late"}])


def test_serve_with_embedded_defaults_prints_a_demo_key(tmp_path: Path) -> None:
    port = free_port()
    server = ServerProcess(serve_args(None, port), tmp_path.parent / f"{tmp_path.name}-serve.log", tmp_path)
    server.start()
    try:
        server.wait_ready(f"http://127.0.0.1:{port}")
        key = ""
        for line in server.log().splitlines():
            if "demo API key" in line:
                key = line.rsplit(" ", 1)[1].strip()
        assert key.startswith("il_")
        with openai.OpenAI(base_url=f"http://127.0.0.1:{port}/v1", api_key=key, max_retries=0) as client:
            answer = client.chat.completions.create(model="mock", messages=[{"role": "user", "content": "hi"}])
        assert answer.choices[0].message.content == "hi"
        assert (tmp_path / "interlock.db").exists()
    finally:
        assert server.stop(timeout=30) in GRACEFUL_EXIT


# -- readiness is a fresh, bounded probe -------------------------------------------------------------------


async def test_readiness_answers_in_bounded_time_when_the_store_hangs(tmp_path: Path) -> None:
    engine = Engine(Settings(store=StoreSettings(url=f"sqlite:///{tmp_path / 'ready.db'}",
                                                 readiness_timeout_seconds=0.3)))
    await engine.start()
    try:
        assert (await engine.readiness())["store"] == "ok"

        async def hang() -> None:
            await asyncio.sleep(3600)

        engine.store.ping = hang  # type: ignore[method-assign]
        started = time.monotonic()
        checks = await engine.readiness()
        assert time.monotonic() - started < 2
        assert checks["ready"] is False
        assert checks["store"] == "failed: no answer within 0.3 s"
    finally:
        await engine.stop()


async def test_readiness_asks_the_disk_off_the_event_loop_and_within_its_bound(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    engine = Engine(Settings(store=StoreSettings(url=f"sqlite:///{tmp_path / 'ready.db'}",
                                                 readiness_timeout_seconds=0.3)))
    await engine.start()
    release = threading.Event()
    asked_on: list[int] = []
    real = shutil.disk_usage

    def stuck_disk(path: Any) -> Any:  # a disk (a dead network mount) that does not answer
        asked_on.append(threading.get_ident())
        release.wait(10)
        return real(path)

    monkeypatch.setattr(shutil, "disk_usage", stuck_disk)
    try:
        checks = await engine.readiness()
        assert checks["ready"] is False
        assert checks["store"] == "failed: no answer within 0.3 s"
        assert asked_on
        assert threading.get_ident() not in asked_on
    finally:
        release.set()
        await engine.stop()


async def test_readiness_fails_while_the_store_disk_is_nearly_full(tmp_path: Path) -> None:
    free = shutil.disk_usage(tmp_path).free
    engine = Engine(Settings(store=StoreSettings(url=f"sqlite:///{tmp_path / 'ready.db'}",
                                                 min_free_bytes=free + 10**12)))
    await engine.start()
    try:
        checks = await engine.readiness()
        assert checks["ready"] is False
        assert checks["store"].startswith("failed: ")
        assert "store.min_free_bytes" in checks["store"]
    finally:
        await engine.stop()
