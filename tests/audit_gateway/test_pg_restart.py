"""PostgreSQL restarted under two served instances, on a throwaway cluster of the test's own: while the
server is down every call is refused (503, never answered without its record or its key check), and once
it is back both instances serve again without being restarted; the log then verifies, and the integrator
integrates what was sequenced before the outage."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from audit_gateway_support import GatewayFactory, new_env

from interlock.providers.mock import MockLLM
from support.pgcluster import PgCluster


@pytest.fixture
def cluster() -> Iterator[PgCluster]:
    c = PgCluster()
    try:
        c.init()
        yield c
    finally:
        c.destroy()


def test_calls_are_refused_while_postgresql_is_down_and_served_again_after(
        cluster: PgCluster, tmp_path: Path, audit_mock: MockLLM, gateway_process: GatewayFactory) -> None:
    env = new_env("postgresql", tmp_path / "log", cluster.url, audit_mock.base_url)
    env.tree["audit"]["checkpoint_interval_seconds"] = 0.5
    env.write()
    key = env.create_key("loader")
    gws = [gateway_process(env), gateway_process(env)]
    body = {"model": "mock", "messages": [{"role": "user", "content": "are you there?"}]}
    ok: set[str] = set()

    def call(url: str) -> int:
        try:
            r = httpx.post(url + "/v1/chat/completions", json=body, headers={"authorization": f"Bearer {key}"},
                           timeout=15)
        except httpx.HTTPError:
            return 0
        if r.status_code == 200:
            ok.add(r.headers["x-request-id"])
        return r.status_code

    for _ in range(5):
        assert [call(gw.url) for gw in gws] == [200, 200]

    cluster.stop("fast")
    down = [call(gw.url) for gw in gws for _ in range(3)]
    assert set(down) == {503}, down
    assert all(httpx.get(gw.url + "/readyz", timeout=10).status_code == 503 for gw in gws)

    cluster.start()
    deadline = time.monotonic() + 40
    while time.monotonic() < deadline and [call(gw.url) for gw in gws] != [200, 200]:
        time.sleep(0.5)
    assert [call(gw.url) for gw in gws] == [200, 200], "the instances did not serve again after the restart"
    assert all(httpx.get(gw.url + "/readyz", timeout=10).status_code == 200 for gw in gws)
    assert all(gw.proc is not None and gw.proc.poll() is None for gw in gws)  # never restarted

    rows = env.rows()
    assert ok <= {rid for _, rid, _, _ in rows}
    assert [s for s, *_ in rows] == list(range(len(rows)))
    done = env.cli("audit", "checkpoint")
    assert done.returncode == 0, done.stderr
    done = env.cli("audit", "verify")
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"{len(rows)} records" in done.stdout
