"""A large request dense with sensitive values is scanned off the event loop: while it is, the same
worker keeps answering other requests."""

from __future__ import annotations

import concurrent.futures
import random
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from interlock.providers.mock import MockLLM
from support.gateways import Gateway, GatewayFactory, KeySpec

SIZE = 3_000_000


def dense(size: int) -> str:
    rng = random.Random(11)
    lines: list[str] = []
    total = 0
    while total < size:
        name = "".join(rng.choice("abcdefghij") for _ in range(7))
        line = (f"{name}@example.org paid with 4111 1111 1111 1111, call +44 20 7946 {rng.randrange(1000, 9999)}; "
                f"IBAN DE89 3704 0044 0532 0130 00\n")
        lines.append(line)
        total += len(line)
    return "".join(lines)


@pytest.fixture(scope="module")
def big_gateway(gateway_factory: GatewayFactory) -> Iterator[Gateway]:
    def adjust(tree: dict[str, Any]) -> None:
        tree["limits"]["max_body_bytes"] = 8 * 1024 * 1024

    gw = gateway_factory("sqlite", adjust=adjust, keys=(KeySpec("user"),))
    yield gw
    gw.stop()


def test_a_large_dense_request_does_not_stop_the_worker_answering(big_gateway: Gateway, mock: MockLLM) -> None:
    gw = big_gateway
    text = dense(SIZE)
    body = {"model": "mock", "messages": [{"role": "user", "content": text}], "mock": {"reply": "done"}}
    headers = {"authorization": f"Bearer {gw.keys['user'].key}"}

    def large() -> tuple[httpx.Response, float]:
        started = time.monotonic()
        r = httpx.post(gw.url + "/v1/chat/completions", json=body, headers=headers, timeout=120)
        return r, time.monotonic() - started

    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        pending = pool.submit(large)
        time.sleep(0.5)  # the request is in, and being scanned
        waits = []
        for _ in range(3):
            started = time.monotonic()
            assert httpx.get(gw.url + "/healthz", timeout=120).status_code == 200
            waits.append(time.monotonic() - started)
        assert not pending.done(), "the large request finished before the health checks: make it larger"
        r, took = pending.result(timeout=120)
    assert r.status_code == 200, r.text[:300]
    # Answered while the large scan ran, not after it: each wait a small share of the large call.
    assert max(waits) < took / 4, (waits, took)
    (received,) = mock.received
    sent = received.body["messages"][0]["content"]
    assert "4111 1111 1111 1111" not in sent
    assert "@example.org" not in sent
    assert "****1111" in sent
