"""Several served instances on one PostgreSQL log behind HAProxy (started by the test, round-robin,
checking each instance's /readyz), under concurrent load from clients that retry a failed call.

* kill -9 of the instance that integrates: every acknowledged call has its record, another instance
  takes the integrator's lease within seconds and checkpoints resume, the log verifies;
* SIGSTOP of the instance that integrates (alive, connected, silent): another takes the lease once it
  lapses and checkpoints resume; after SIGCONT the paused one writes nothing more;
* a key revoked through one instance is refused on the very next call through every other.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import time

import httpx
from audit_gateway_support import AuditEnv, EnvFactory, GatewayFactory, GatewayProcess, tree_frontier

from support.haproxy import HaProxy
from support.processes import GRACEFUL_EXIT

INSTANCES = 3
CLIENTS = 12


def _ready(gw: GatewayProcess) -> dict[str, object]:
    r = httpx.get(gw.url + "/readyz", timeout=5)
    doc: dict[str, object] = r.json()
    return doc


def _integrators(gws: list[GatewayProcess]) -> list[GatewayProcess]:
    out = []
    for gw in gws:
        try:
            if _ready(gw).get("audit_integrator") is True:
                out.append(gw)
        except httpx.HTTPError:
            pass
    return out


def _wait(what: str, check: object, timeout: float) -> float:
    """Poll ``check()`` until true; seconds it took."""
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        if check():  # type: ignore[operator]
            return time.monotonic() - t0
        time.sleep(0.1)
    raise AssertionError(f"{what}: not within {timeout} s")


def _checkpoint_sizes(env: AuditEnv) -> list[int]:
    return [int(r[0]) for r in env.query("SELECT tree_size FROM audit_checkpoint ORDER BY tree_size")]


def _instances(env: AuditEnv, gateway_process: GatewayFactory, count: int = INSTANCES) -> list[GatewayProcess]:
    env.tree["audit"]["checkpoint_interval_seconds"] = 0.5
    env.write()
    first = gateway_process(env)  # creates the signing key; the others share it (same settings file)
    return [first] + [gateway_process(env) for _ in range(count - 1)]


def _lease(env: AuditEnv) -> tuple[str, int]:
    holder, token = env.query("SELECT holder, token FROM audit_integrator WHERE id = 1")[0]
    return str(holder), int(token)


def _frontier_token(env: AuditEnv) -> int:
    return int(env.query("SELECT token FROM audit_frontier WHERE id = 1")[0][0])


async def _load(url: str, key: str, stop: asyncio.Event) -> tuple[set[str], int, int]:
    """Calls through the load balancer until ``stop``; a failed call is retried (a few times, a moment
    apart). Returns the acknowledged request ids, the failures seen, and the calls that never succeeded."""
    ok: set[str] = set()
    failures = 0
    lost = 0
    headers = {"authorization": f"Bearer {key}"}
    client = httpx.AsyncClient(base_url=url, timeout=10, limits=httpx.Limits(max_connections=CLIENTS))

    async def caller(n: int) -> None:
        nonlocal failures, lost
        i = 0
        while not stop.is_set():
            i += 1
            body = {"model": "mock", "messages": [{"role": "user", "content": f"client {n} call {i}"}]}
            for _attempt in range(6):
                try:
                    r = await client.post("/v1/chat/completions", json=body, headers=headers)
                except httpx.HTTPError:
                    failures += 1
                    await asyncio.sleep(0.2)
                    continue
                if r.status_code == 200:
                    ok.add(r.headers["x-request-id"])
                    break
                failures += 1
                await asyncio.sleep(0.2)
            else:
                lost += 1

    try:
        await asyncio.gather(*(caller(n) for n in range(CLIENTS)))
    finally:
        await client.aclose()
    return ok, failures, lost


def test_kill_9_of_the_integrator_under_load(env_factory: EnvFactory, gateway_process: GatewayFactory) -> None:
    env = env_factory("postgresql")
    key = env.create_key("loader")
    gws = _instances(env, gateway_process)
    _wait("one instance integrates", lambda: len(_integrators(gws)) == 1, 15)
    victim = _integrators(gws)[0]
    survivors = [gw for gw in gws if gw is not victim]
    lb = HaProxy([gw.port for gw in gws])
    try:
        lb.wait_ready()
        ok, _failures, lost, took, killed_at_size = asyncio.run(_scenario(env, lb, key, victim, survivors))
    finally:
        lb.stop()
    _after_the_kill(env, victim, survivors, ok, lost, took, killed_at_size)


async def _scenario(env: AuditEnv, lb: HaProxy, key: str, victim: GatewayProcess,
                    survivors: list[GatewayProcess]) -> tuple[set[str], int, int, float, int]:
    stop = asyncio.Event()
    load = asyncio.create_task(_load(lb.url, key, stop))
    await asyncio.sleep(3)
    killed_at_size = max(_checkpoint_sizes(env), default=0)
    assert killed_at_size > 0, "the integrator signed no checkpoint under load"
    await asyncio.to_thread(victim.kill)
    took = await asyncio.to_thread(_wait, "another instance takes over", lambda: len(_integrators(survivors)) == 1,
                                   15)
    await asyncio.sleep(2)
    stop.set()
    ok, failures, lost = await load
    return ok, failures, lost, took, killed_at_size


def _after_the_kill(env: AuditEnv, victim: GatewayProcess, survivors: list[GatewayProcess], ok: set[str],
                    lost: int, took: float, killed_at_size: int) -> None:
    assert victim.proc is not None
    assert victim.proc.returncode == -9
    assert lost == 0, "a client that retried through the load balancer still failed"
    assert len(ok) > 100
    assert took < 10
    # Checkpoints resumed under the new integrator.
    _wait("a checkpoint past the kill", lambda: max(_checkpoint_sizes(env)) > killed_at_size, 10)

    # The new integrator folds in everything, the dead instance's last records too, and fills with signed
    # gap records any index the dead instance reserved but never wrote.
    _wait("everything integrated", lambda: env.frontier()[0] == len(env.rows()), 15)
    rows = env.rows()
    stored = [rid for _, rid, _, _ in rows]
    missing = ok - set(stored)
    assert not missing, f"{len(missing)} acknowledged calls have no record, e.g. {sorted(missing)[:3]}"
    assert len(set(stored)) == len(stored)
    assert [s for s, *_ in rows] == list(range(len(rows)))
    assert env.frontier() == (len(rows), tree_frontier([h for _, _, h, _ in rows]))
    done = env.cli("audit", "verify")
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"{len(rows)} records" in done.stdout
    # A graceful stop of the new integrator signs a last checkpoint over everything and hands the lease on.
    integrator = _integrators(survivors)[0]
    assert integrator.stop() in GRACEFUL_EXIT
    assert max(_checkpoint_sizes(env)) == len(env.rows())
    other = next(gw for gw in survivors if gw is not integrator)
    _wait("the last instance takes over", lambda: _integrators([other]) == [other], 10)


def test_a_paused_integrator_is_replaced_and_fenced_off(env_factory: EnvFactory,
                                                        gateway_process: GatewayFactory) -> None:
    env = env_factory("postgresql")
    key = env.create_key("loader")
    gws = _instances(env, gateway_process, 2)
    _wait("one instance integrates", lambda: len(_integrators(gws)) == 1, 15)
    victim = _integrators(gws)[0]
    survivor = next(gw for gw in gws if gw is not victim)
    assert victim.proc is not None
    pid = victim.proc.pid
    lease = env.tree["audit"]["integrator_lease_seconds"]

    async def scenario() -> tuple[set[str], int, list[int]]:
        stop = asyncio.Event()
        load = asyncio.create_task(_load(survivor.url, key, stop))
        try:
            await asyncio.to_thread(_wait, "a checkpoint under load", lambda: bool(_checkpoint_sizes(env)), 10)
            holder, old_token = _lease(env)
            assert holder.split(":")[1] == str(pid)
            paused_at = max(_checkpoint_sizes(env))
            os.killpg(pid, signal.SIGSTOP)
            try:
                took = await asyncio.to_thread(_wait, "the other instance takes over",
                                               lambda: _integrators([survivor]) == [survivor], 15)
                assert took < 2 * lease + 3
                new_token = _lease(env)[1]
                assert new_token > old_token
                await asyncio.to_thread(_wait, "a checkpoint after the takeover",
                                        lambda: max(_checkpoint_sizes(env)) > paused_at, 10)
            finally:
                os.killpg(pid, signal.SIGCONT)
            # Back, the paused instance finds its lease gone: the frontier stays the new holder's, and it
            # stores no checkpoint of its own.
            seen = []
            for _ in range(30):
                seen.append(_frontier_token(env))
                await asyncio.sleep(0.1)
            await asyncio.to_thread(_wait, "the paused instance knows it lost the lease",
                                    lambda: _ready(victim).get("audit_integrator") is False, 10)
            assert _lease(env)[1] == new_token
            return await _finish(stop, load), old_token, seen
        finally:
            stop.set()

    (ok, lost), old_token, seen = asyncio.run(scenario())
    assert lost == 0
    assert len(ok) > 50
    assert old_token not in seen
    for gw in (survivor, victim):
        assert gw.stop() in GRACEFUL_EXIT
    rows = env.rows()
    assert not set(ok) - {rid for _, rid, _, _ in rows}
    done = env.cli("audit", "verify")
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"{len(rows)} records" in done.stdout


async def _finish(stop: asyncio.Event, load: asyncio.Task[tuple[set[str], int, int]]) -> tuple[set[str], int]:
    stop.set()
    ok, _failures, lost = await load
    return ok, lost


def test_a_key_revoked_through_one_instance_is_refused_by_every_other(
        env_factory: EnvFactory, gateway_process: GatewayFactory) -> None:
    env = env_factory("postgresql")
    done = env.cli("keys", "create", "--name", "ops", "--role", "admin", "--json", check=True)
    admin = json.loads(done.stdout)["key"]
    done = env.cli("keys", "create", "--name", "doomed", "--json", check=True)
    doomed = json.loads(done.stdout)
    gws = _instances(env, gateway_process)
    body = {"model": "mock", "messages": [{"role": "user", "content": "still mine?"}]}

    def status(gw: GatewayProcess, key: str) -> int:
        return httpx.post(gw.url + "/v1/chat/completions", json=body, headers={"authorization": f"Bearer {key}"},
                          timeout=10).status_code

    # Every instance has the key cached, after a few calls each.
    for _ in range(3):
        assert [status(gw, doomed["key"]) for gw in gws] == [200] * INSTANCES
    r = httpx.post(f"{gws[0].url}/admin/keys/{doomed['id']}/revoke", headers={"authorization": f"Bearer {admin}"},
                   timeout=10)
    assert r.status_code == 200, r.text
    # The very next call through each other instance is refused.
    assert [status(gw, doomed["key"]) for gw in gws[1:]] == [401] * (INSTANCES - 1)
    assert status(gws[0], doomed["key"]) == 401
