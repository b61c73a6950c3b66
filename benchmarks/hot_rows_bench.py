"""Hot rows in PostgreSQL's shared state: each write path with 1 and 4 writer processes, in one run.

A hot row is one that every instance's writes lock in turn, so adding instances cannot add throughput
there. For each path below, writer processes (each one an instance: its own pool, ``--coroutines``
concurrent callers) write for ``--seconds`` into one fresh database; the figure is operations per
second across all writers, and the ratio 4 writers / 1 writer says whether the path scales (about 1 or
more: it does, up to the machine; well under 1: writers queue on something shared).

Paths: audit appends with a payload of their own, and with one payload every call shares (a content-
addressed row all writers insert); placeholder-vault maps (new conversation, then a turn); approval
requests stored with their record; one tool pin re-approved over and over; key revocations (each bumps
the one key-epoch row); key-epoch reads (one per call on every instance); and, as the control that
shows what the machine itself allows, a bare ``SELECT 1``.

Run from the repository root:
    PYTHONPATH=src python benchmarks/hot_rows_bench.py [--seconds 3] [--coroutines 8] [--rounds 2]
Writes benchmarks/reports/hot_rows.json (the findings are in docs/deployment.md and hot_rows.md).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing as mp
import os
import platform
import secrets
import time
from pathlib import Path
from typing import Any

from scale_bench import record_for, scratch_database

from interlock.audit.writer import AuditWriter
from interlock.identity.keys import new_key
from interlock.identity.principal import Principal
from interlock.settings import StoreSettings
from interlock.store import open_store
from interlock.store.base import ApprovalRow, ApprovalWrite, ToolPin
from interlock.store.postgres import PostgresStore

PATHS = ("select_1", "audit_own_payload", "audit_shared_payload", "vault", "approval", "tool_pin_same",
         "key_revoke", "key_epoch_read")


async def _operation(path: str, store: PostgresStore, writer: AuditWriter, tag: str) -> Any:
    """One operation of ``path``; returns a coroutine factory called once per operation."""
    counter = iter(range(10**9))
    shared = {"messages": [{"role": "user", "content": "the same prompt from every caller"}], "output": "ok"}

    async def audit_own() -> None:
        n = next(counter)
        await writer.append(record_for(n), {"messages": [{"role": "user", "content": f"{tag} {n}"}], "output": "ok"})

    async def audit_shared() -> None:
        await writer.append(record_for(next(counter)), shared)

    async def vault() -> None:
        cid = f"conv-{tag}-{next(counter)}"
        assert await store.vault_put(cid, b"first-turn-map" * 8, 3600, None)
        assert await store.vault_put(cid, b"second-turn-map" * 8, 3600, b"first-turn-map" * 8)

    async def approval() -> None:
        n = next(counter)
        row = ApprovalRow(f"apr_{tag}_{n}", "acme", "pending", "alice", time.time(), time.time() + 600, 0,
                          b'{"state":"pending"}')
        await writer.append(record_for(n), None, approval=ApprovalWrite(row))

    async def tool_pin_same() -> None:
        await store.tool_pin_put(ToolPin("search", "docs", secrets.token_hex(8), b"{}", tag, time.time()))

    async def key_revoke() -> None:
        _, record = new_key("bench", Principal(id=f"p-{tag}", kind="service", tenant="default"), ttl_seconds=None)
        await store.create_key(record)
        assert await store.revoke_key(record.id, time.time())

    async def key_epoch_read() -> None:
        await store.key_epoch()

    async def select_1() -> None:  # the control: a round trip that touches no row at all
        await store.pool.fetchval("SELECT 1")

    return {"audit_own_payload": audit_own, "audit_shared_payload": audit_shared, "vault": vault,
            "approval": approval, "tool_pin_same": tool_pin_same, "key_revoke": key_revoke,
            "key_epoch_read": key_epoch_read, "select_1": select_1}[path]


async def _writer(url: str, path: str, coroutines: int, seconds: float, start_at: float) -> int:
    store = open_store(StoreSettings(url=url, pool_size=coroutines))
    assert isinstance(store, PostgresStore)
    await store.open()
    writer = AuditWriter(store, window_ms=2.0, batch_max=1024, timeout_seconds=60,
                         payload_retention_seconds=3600)
    await writer.start()
    op = await _operation(path, store, writer, secrets.token_hex(4))
    count = 0
    try:
        await asyncio.sleep(max(0.0, start_at - time.time()))
        deadline = time.perf_counter() + seconds

        async def caller() -> None:
            nonlocal count
            while time.perf_counter() < deadline:
                await op()
                count += 1

        await asyncio.gather(*(caller() for _ in range(coroutines)))
    finally:
        await writer.stop()
        await store.close()
    return count


def _process(url: str, path: str, coroutines: int, seconds: float, start_at: float, out: Any) -> None:
    out.put(asyncio.run(_writer(url, path, coroutines, seconds, start_at)))


def run(path: str, writers: int, args: argparse.Namespace) -> float:
    with scratch_database("interlock_hot_", migrate=True) as url:
        ctx = mp.get_context("spawn")
        out = ctx.Queue()
        start_at = time.time() + 2.0 + 0.5 * writers
        procs = [ctx.Process(target=_process, args=(url, path, args.coroutines, args.seconds, start_at, out))
                 for _ in range(writers)]
        for p in procs:
            p.start()
        total = sum(out.get(timeout=120 + args.seconds) for _ in procs)
        for p in procs:
            p.join(30)
    return total / args.seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--coroutines", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--paths", default=",".join(PATHS))
    parser.add_argument("--out", type=Path, default=Path("benchmarks/reports"))
    args = parser.parse_args()
    load_before = [round(x, 2) for x in os.getloadavg()]
    results: dict[str, list[dict[str, float]]] = {}
    for _ in range(args.rounds):  # 1 then 4 writers back to back per path, so both see the same minute
        for path in args.paths.split(","):
            one = run(path, 1, args)
            four = run(path, 4, args)
            results.setdefault(path, []).append({"1": round(one), "4": round(four), "ratio": round(four / one, 2)})
            print(path, json.dumps(results[path][-1]), flush=True)
    doc = {"benchmark": "hot_rows", "machine": f"{platform.machine()}, {os.cpu_count()} CPUs",
           "load_average_before": load_before, "load_average_after": [round(x, 2) for x in os.getloadavg()],
           "seconds": args.seconds, "coroutines_per_writer": args.coroutines, "results": results}
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "hot_rows.json").write_text(json.dumps(doc, indent=2) + "\n")
    print(f"wrote {args.out / 'hot_rows.json'}")


if __name__ == "__main__":
    main()
