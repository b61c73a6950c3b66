"""SIGKILL under load: every call the client saw succeed is in the log, and the log still verifies.

The gateway is a real ``interlock serve`` process (two workers) in front of the mock model; clients
drive plain and streaming calls concurrently, and the whole process group is killed mid-load: no
shutdown hook runs, no final checkpoint is signed. A non-streaming 200 means the record was durable
before the response; a stream's record is durable before its ``[DONE]``.
"""

from __future__ import annotations

import asyncio

import httpx
from audit_gateway_support import AuditEnv, GatewayFactory, GatewayProcess, tree_frontier

from support.processes import GRACEFUL_EXIT

CLIENTS = 24
STREAMING_CLIENTS = 4


async def load(gw: GatewayProcess, key: str, *, kill_after: int) -> tuple[set[str], set[str], int]:
    """Drive calls until the gateway dies; SIGKILL it once ``kill_after`` calls have succeeded.

    Returns (request ids answered 200, streams that reached [DONE], calls that failed)."""
    ok: set[str] = set()
    streamed: set[str] = set()
    failed = 0
    killed = asyncio.Event()
    headers = {"authorization": f"Bearer {key}"}
    limits = httpx.Limits(max_connections=CLIENTS + 8, max_keepalive_connections=CLIENTS + 8)

    async def plain(client: httpx.AsyncClient, n: int) -> None:
        nonlocal failed
        i = 0
        while not killed.is_set():
            i += 1
            body = {"model": "mock", "messages": [{"role": "user", "content": f"client {n} call {i}"}]}
            try:
                r = await client.post("/v1/chat/completions", json=body, headers=headers)
            except httpx.HTTPError:
                failed += 1
                if killed.is_set():
                    return
                continue
            if r.status_code == 200:
                assert r.json()["choices"][0]["message"]["content"]
                ok.add(r.headers["x-request-id"])
                if len(ok) >= kill_after and not killed.is_set():
                    killed.set()
                    await asyncio.to_thread(gw.kill)
            else:
                failed += 1

    async def streaming(client: httpx.AsyncClient, n: int) -> None:
        nonlocal failed
        i = 0
        while not killed.is_set():
            i += 1
            body = {"model": "mock", "stream": True,
                    "messages": [{"role": "user", "content": f"stream {n} call {i} with several words in it"}]}
            try:
                async with client.stream("POST", "/v1/chat/completions", json=body, headers=headers) as r:
                    rid = r.headers.get("x-request-id", "")
                    done = False
                    async for line in r.aiter_lines():
                        if line.strip() == "data: [DONE]":
                            done = True
                    if r.status_code == 200 and done:
                        streamed.add(rid)
            except httpx.HTTPError:
                failed += 1
                if killed.is_set():
                    return

    async with httpx.AsyncClient(base_url=gw.url, timeout=20, limits=limits) as client:
        tasks = [plain(client, n) for n in range(CLIENTS - STREAMING_CLIENTS)]
        tasks += [streaming(client, n) for n in range(STREAMING_CLIENTS)]
        await asyncio.wait_for(asyncio.gather(*tasks), timeout=90)
    return ok, streamed, failed


def test_sigkill_under_load_loses_no_acknowledged_record(audit_env: AuditEnv,
                                                         gateway_process: GatewayFactory) -> None:
    env = audit_env
    key = env.create_key("loader")
    gw = gateway_process(env, workers=2)
    ok, streamed, _failed = asyncio.run(load(gw, key, kill_after=250))
    assert gw.proc is not None
    assert gw.proc.returncode == -9
    assert len(ok) >= 250

    rows = env.rows()
    integrated, frontier = env.frontier()
    assert integrated <= len(rows)
    # Integration may lag sequencing, but the frontier is the tree of a prefix of the log.
    assert frontier == tree_frontier([h for _, _, h, _ in rows[:integrated]])

    # Signing a checkpoint integrates the rest first (waiting out the dead integrator's lease, and filling
    # with signed gaps any index it reserved but never wrote): nothing sequenced is lost to the crash.
    done = env.cli("audit", "checkpoint")
    assert done.returncode == 0, done.stderr
    rows = env.rows()
    assert done.stdout.split("\n")[1] == str(len(rows))
    stored = [rid for _, rid, _, _ in rows]
    # Every acknowledged call, plain or streamed, has its record; no record is there twice.
    missing = (ok | streamed) - set(stored)
    assert not missing, f"{len(missing)} acknowledged calls have no record, e.g. {sorted(missing)[:3]}"
    assert len(set(stored)) == len(stored)
    assert [s for s, *_ in rows] == list(range(len(rows)))
    assert env.frontier() == (len(rows), tree_frontier([h for _, _, h, _ in rows]))
    done = env.cli("audit", "verify")
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"{len(rows)} records" in done.stdout

    # After the crash the gateway resumes the same log where it stopped.
    gw2 = gateway_process(env)
    r = httpx.post(gw2.url + "/v1/chat/completions", headers={"authorization": f"Bearer {key}"},
                   json={"model": "mock", "messages": [{"role": "user", "content": "after the crash"}]}, timeout=20)
    assert r.status_code == 200, r.text
    assert gw2.stop() in GRACEFUL_EXIT
    after = env.rows()
    assert [s for s, *_ in after] == list(range(len(rows) + 1))
    assert after[-1][1] == r.headers["x-request-id"]
    done = env.cli("audit", "verify")
    assert done.returncode == 0, done.stdout + done.stderr
