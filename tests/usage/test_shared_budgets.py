"""Budgets that hold across instances: two served gateways sharing one Redis under concurrent load, and a
Redis that stops mid-load (budgeted calls refused, service back when it returns, counters reconciled)."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from interlock.providers.mock import MockLLM
from interlock.usage.prices import NANO
from interlock.usage.tokens import input_bound
from support.gateways import Gateway, GatewayFactory, KeySpec
from support.redis import SHARED_URL, PrivateRedis, delete_prefix, shared_redis, unique_prefix

pytestmark = pytest.mark.redis

PRICE = {"input": 1.0, "output": 2.0}
MAX_TOKENS = 1000
# What the mock reports: a short prompt and a full answer (within the worst case the gateway reserves).
SCENARIO = {"usage": {"prompt_tokens": 20, "completion_tokens": MAX_TOKENS}}
BUDGET_USD = 0.03


def body() -> dict[str, Any]:
    return {"model": "mock", "max_tokens": MAX_TOKENS, "mock": SCENARIO,
            "messages": [{"role": "user", "content": "spend a little"}]}


def worst_case_nano() -> int:
    raw = httpx.Request("POST", "http://x", json=body()).content
    return (input_bound(raw) * 1_000 + MAX_TOKENS * 2_000) + 10_000  # 10 µ$ of slack for header bytes


def usage_settings(url: str, prefix: str, usd: float = BUDGET_USD) -> Callable[[dict[str, Any]], None]:
    def adjust(tree: dict[str, Any]) -> None:
        for model in tree["models"]:
            model["price"] = PRICE
        tree["usage"] = {"counters_url": url, "key_prefix": prefix, "timeout_seconds": 0.3,
                         "budgets": [{"scope": "tenant", "window": "day", "usd": usd}]}
    return adjust


def hammer(gateways: list[Gateway], threads: int,
           until: Callable[[list[tuple[int, str]]], bool]) -> list[tuple[int, str]]:
    """Calls from ``threads`` threads, alternating between the gateways, until ``until(results so far)``;
    every (status, code)."""
    results: list[tuple[int, str]] = []
    lock = threading.Lock()

    def worker(n: int) -> None:
        clients = [httpx.Client(base_url=g.url, timeout=10,
                                headers={"authorization": f"Bearer {g.keys['spender'].key}"}) for g in gateways]
        i = n
        try:
            while not until(results):
                r = clients[i % len(clients)].post("/v1/chat/completions", json=body())
                i += 1
                code = "" if r.status_code == 200 else r.json()["error"]["code"]
                with lock:
                    results.append((r.status_code, code))
        finally:
            for c in clients:
                c.close()

    pool = [threading.Thread(target=worker, args=(n,)) for n in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join(60)
    return results


def spent(gateways: list[Gateway]) -> int:
    return sum(r.get("cost", {}).get("nano_usd", 0) for g in gateways for r in g.records() if r["status"] == 200)


@pytest.fixture
def prefix() -> Iterator[str]:
    p = unique_prefix()
    yield p
    client = shared_redis()
    delete_prefix(client, p)
    client.close()


def test_two_instances_sharing_redis_never_overspend(gateway_factory: GatewayFactory, mock: MockLLM,
                                                     prefix: str) -> None:
    shared_redis().close()  # fail, never skip, without the server
    gateways = [gateway_factory("sqlite", keys=[KeySpec("spender")], adjust=usage_settings(SHARED_URL, prefix))
                for _ in range(2)]
    deadline = time.monotonic() + 60

    def done(results: list[tuple[int, str]]) -> bool:
        return time.monotonic() > deadline or sum(1 for s, _ in results if s != 200) >= 16

    results = hammer(gateways, 8, done)
    statuses = {s for s, _ in results}
    assert statuses <= {200, 429}, results
    assert {c for s, c in results if s == 429} == {"budget_exceeded"}
    ok = sum(1 for s, _ in results if s == 200)
    total = spent(gateways)
    budget = round(BUDGET_USD * NANO)
    # Every call reserved its worst case first: the two instances together never go past the budget by
    # more than one call's worst case (in fact not at all, since each settles below its reservation).
    assert total <= budget + worst_case_nano()
    # ... and the budget was used, not refused early: less than two worst cases left unspent.
    assert total >= budget - 2 * worst_case_nano()
    assert ok == total // (20 * 1_000 + MAX_TOKENS * 2_000)
    # Both instances served calls: the budget was shared, not kept per process.
    assert all(any(r["status"] == 200 for r in g.records()) for g in gateways)


def test_redis_stopped_mid_load_refuses_budgeted_calls_and_service_resumes(
        gateway_factory: GatewayFactory, mock: MockLLM, tmp_path: Path) -> None:
    server = PrivateRedis(tmp_path)
    server.start()
    try:
        gw = gateway_factory("sqlite", keys=[KeySpec("spender")], adjust=usage_settings(server.url, "outage", usd=100.0))
        http = httpx.Client(base_url=gw.url, timeout=10, headers={"authorization": f"Bearer {gw.keys['spender'].key}"})
        assert http.post("/v1/chat/completions", json=body()).status_code == 200
        stop_at = time.monotonic() + 1.0
        # (sent, answered, status, code) of every call.
        phases: list[tuple[float, float, int, str]] = []

        def load() -> None:
            end = time.monotonic() + 4.0
            while time.monotonic() < end:
                sent = time.monotonic()
                r = http.post("/v1/chat/completions", json=body())
                phases.append((sent, time.monotonic(), r.status_code,
                               "" if r.status_code == 200 else r.json()["error"]["code"]))

        runner = threading.Thread(target=load)
        runner.start()
        time.sleep(max(0.0, stop_at - time.monotonic()))
        server.stop()
        stopped = time.monotonic()
        time.sleep(1.0)
        restarting = time.monotonic()
        server.start()
        restarted = time.monotonic()
        runner.join(30)
        # Calls made while Redis was down: sent after it stopped, answered before it was started again (a
        # call admitted just before the stop may still finish and succeed).
        during = [(s, c) for sent, done, s, c in phases if stopped < sent and done < restarting]
        assert during, "no call was made while Redis was down"
        # Fail closed: nothing went through uncounted while the counters were away.
        assert set(during) == {(503, "budget_unavailable")}, set(during)
        after = [(s, c) for sent, _, s, c in phases if sent > restarted + 0.5]
        assert after, "no call was made after Redis came back"
        assert all(s == 200 for s, _ in after), after
        # The restarted Redis lost its counters; the reconciler rebuilds them from the records.
        records = gw.records()
        spent_ok = sum(r.get("cost", {}).get("nano_usd", 0) for r in records if r["status"] == 200)
        result = gw.cli(["budgets", "reconcile"], "--json")
        doc = json.loads(result.stdout)
        (key,) = doc
        assert round(doc[key]["records"]["usd"] * NANO) == spent_ok
        held = server.client().hget(key, "u")
        assert held is not None
        assert int(held) == spent_ok
        refused = [r for r in records if r.get("refusal_code") == "budget_unavailable"]
        assert refused
        assert all("cost" not in r or r["cost"]["nano_usd"] == 0 for r in refused)
        http.close()
    finally:
        server.stop()
