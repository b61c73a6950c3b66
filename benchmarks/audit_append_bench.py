"""Durable audit appends: records/s and append latency through ``AuditWriter`` (group commit).

Many coroutines each append records one after another, awaiting each until it is durable, exactly as
calls do; the writer gathers whatever is queued into one transaction (SQLite: WAL, synchronous=FULL,
one fsync per commit; PostgreSQL: synchronous_commit as the server has it). Every append also advances
the Merkle frontier in the same transaction. After each run the log is checkpointed and verified, so
the figures are for a log that is provably complete.

Run from the repository root:
    PYTHONPATH=src python benchmarks/audit_append_bench.py [--appenders 64] [--records 200] [--stores sqlite,postgresql]
Writes benchmarks/reports/audit_append.md and .json.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import secrets
import shutil
import sqlite3
import statistics
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import asyncpg
import uvloop

from interlock.audit.canonical import canonical_json
from interlock.audit.log import AuditLog
from interlock.audit.writer import AuditWriter
from interlock.settings import AuditSettings, StoreSettings
from interlock.store import Store, open_store
from interlock.store.base import LogEntry

TARGET_SQLITE = 5_000
PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/test"
MODELS = ("gpt-4o-mini", "claude-3-5-haiku", "llama-3.1-8b")
CLASSES = ("pii.email", "pii.phone", "pci.card_number", "secret.api_key")


def record_for(i: int) -> dict[str, Any]:
    """A call record shaped like the pipeline's, about 600 bytes of canonical JSON."""
    return {
        "v": 1,
        "request_id": "req_" + secrets.token_hex(12),
        "time": round(time.time(), 6),
        "endpoint": "chat.completions",
        "principal": f"svc-{i % 37}",
        "principal_kind": "service",
        "tenant": f"tenant-{i % 11}",
        "auth": "api_key",
        "model": MODELS[i % 3],
        "provider": "openai",
        "stream": i % 4 == 0,
        "status": 200,
        "outcome": "ok",
        "refusal_code": None,
        "decisions": [{"stage": "authorize", "outcome": "allow", "policy_ids": ["base-allow", f"team-{i % 7}"]},
                      {"stage": "classify", "outcome": "redact", "reason": CLASSES[i % 4]}],
        "timings_ms": {"authenticate": 0.021, "authorize": 0.012, "forward": 180.4 + i % 13},
        "upstream_ms": 180.1 + i % 13,
        "latency_ms": 181.2 + i % 13,
        "usage": {"prompt_tokens": 200 + i % 300, "completion_tokens": 50 + i % 120,
                  "total_tokens": 250 + i % 300 + i % 120},
    }


class CountingStore:
    """Wraps a store to count commits (how well group commit batches)."""

    def __init__(self, inner: Store) -> None:
        self.inner = inner
        self.commits = 0

    async def append_entries(self, entries: Sequence[LogEntry]) -> int:
        self.commits += 1
        return await self.inner.append_entries(entries)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


async def concurrent_run(writer: AuditWriter, counting: CountingStore, appenders: int,
                         per: int) -> dict[str, Any]:
    """One run: ``appenders`` coroutines each append ``per`` records, each awaited until durable."""
    latencies: list[float] = []

    async def appender(a: int) -> None:
        for i in range(per):
            record = record_for(a * per + i)
            t0 = time.perf_counter()
            await writer.append(record)
            latencies.append(time.perf_counter() - t0)

    counting.commits = 0
    started = time.perf_counter()
    await asyncio.gather(*(appender(a) for a in range(appenders)))
    elapsed = time.perf_counter() - started
    ms = [x * 1000 for x in latencies]
    total = appenders * per
    return {"seconds": round(elapsed, 3), "records_per_s": round(total / elapsed),
            "append_ms_p50": round(pct(ms, 50), 2), "append_ms_p99": round(pct(ms, 99), 2),
            "append_ms_max": round(max(ms), 2), "commits": counting.commits,
            "records_per_commit": round(total / counting.commits, 1)}


async def run_store(name: str, url: str, work: Path, appenders: int, per: int, window_ms: float,
                    batch_max: int, repeat: int) -> dict[str, Any]:
    settings = StoreSettings(url=url, commit_window_ms=window_ms, commit_batch_max=batch_max)
    store = open_store(settings)
    await store.open()
    counting = CountingStore(store)
    writer = AuditWriter(counting, window_ms=window_ms, batch_max=batch_max, timeout_seconds=60)
    await writer.start()
    try:
        # Warm up: connections, page cache, the interpreter's own caches.
        await asyncio.gather(*(writer.append(record_for(i)) for i in range(500)))
        sizes = [len(canonical_json(record_for(i))) for i in range(200)]
        runs = [await concurrent_run(writer, counting, appenders, per) for _ in range(repeat)]

        # Serial baseline: one appender, so every record pays a commit of its own.
        serial_lat: list[float] = []
        s0 = time.perf_counter()
        for i in range(300):
            t0 = time.perf_counter()
            await writer.append(record_for(i))
            serial_lat.append(time.perf_counter() - t0)
        serial_elapsed = time.perf_counter() - s0
    finally:
        await writer.stop()

    # The log is complete and verifies (a checkpoint over everything, then a full verification).
    audit = AuditLog(store, AuditSettings(signing_key_file=work / f"{name}-audit.key"))
    checkpoint = await audit.checkpoint()
    report = await audit.verify(audit.public_key)
    await store.close()
    total = appenders * per
    expected_size = 500 + repeat * total + 300
    if checkpoint is None or checkpoint.tree_size != expected_size or not report.ok \
            or report.records_checked != expected_size:
        raise SystemExit(f"{name}: the benchmark log is not complete and valid: {report.summary()}")
    serial_ms = [x * 1000 for x in serial_lat]
    # The median run stands for the store; every run is kept in the JSON.
    median = sorted(runs, key=lambda r: r["records_per_s"])[len(runs) // 2]
    return {
        "store": name,
        "appenders": appenders,
        "records": total,
        **median,
        "records_per_s_all_runs": [r["records_per_s"] for r in runs],
        "runs": runs,
        "record_bytes_mean": round(statistics.mean(sizes)),
        "serial_records_per_s": round(300 / serial_elapsed),
        "serial_append_ms_p50": round(pct(serial_ms, 50), 2),
        "serial_append_ms_p99": round(pct(serial_ms, 99), 2),
        "verified_records": report.records_checked,
    }


async def pg_admin(sql: str) -> None:
    conn = await asyncpg.connect(PG_ADMIN, timeout=10)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


async def pg_settings() -> dict[str, str]:
    conn = await asyncpg.connect(PG_ADMIN, timeout=10)
    try:
        return {k: str(await conn.fetchval(f"SHOW {k}")) for k in ("server_version", "synchronous_commit", "fsync")}
    finally:
        await conn.close()


async def main_async(args: argparse.Namespace) -> dict[str, Any]:
    stores = [s.strip() for s in args.stores.split(",") if s.strip()]
    load_before = [round(x, 2) for x in os.getloadavg()]
    work = Path(tempfile.mkdtemp(prefix="interlock-append-bench-", dir=args.dir))
    try:
        results: list[dict[str, Any]] = []
        pg: dict[str, str] = {}
        for name in stores:
            if name == "sqlite":
                url = "sqlite:///" + str(work / "audit.db")
                results.append(await run_store(name, url, work, args.appenders, args.records, args.window_ms,
                                               args.batch_max, args.repeat))
            elif name == "postgresql":
                db = "interlock_bench_" + secrets.token_hex(5)
                await pg_admin(f'CREATE DATABASE "{db}"')
                try:
                    pg = await pg_settings()
                    results.append(await run_store(name, f"postgresql://postgres@127.0.0.1:5432/{db}", work,
                                                   args.appenders, args.records, args.window_ms, args.batch_max,
                                                   args.repeat))
                finally:
                    await pg_admin(f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)')
            else:
                raise SystemExit(f"unknown store {name!r}")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return {
        "benchmark": "audit_append",
        "target_sqlite_records_per_s": TARGET_SQLITE,
        "window_ms": args.window_ms,
        "batch_max": args.batch_max,
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs",
        "load_average_before": load_before,
        "load_average_after": [round(x, 2) for x in os.getloadavg()],
        "python": platform.python_version(),
        "sqlite": sqlite3.sqlite_version,
        "postgresql": pg,
        "results": results,
    }


def write_report(doc: dict[str, Any], out: Path, note: str) -> None:
    out.mkdir(parents=True, exist_ok=True)
    (out / "audit_append.json").write_text(json.dumps(doc, indent=2) + "\n")
    rows = doc["results"]
    lines = [
        "# Durable audit appends",
        "",
        f"{doc['machine']}, Python {doc['python']}, SQLite {doc['sqlite']}"
        + (f", PostgreSQL {doc['postgresql'].get('server_version')} (fsync={doc['postgresql'].get('fsync')}, "
           f"synchronous_commit={doc['postgresql'].get('synchronous_commit')})" if doc["postgresql"] else "")
        + f"; load average (1, 5, 15 min) {doc['load_average_before']} before the run, "
          f"{doc['load_average_after']} after.",
        "",
        "Each of N coroutines appends records one after another through `AuditWriter`, awaiting each until it",
        "is durable (as a call does before its response). Group commit: the writer waits "
        f"{doc['window_ms']} ms for more records, then writes everything queued (up to {doc['batch_max']}) in",
        "one transaction that also advances the Merkle frontier. SQLite runs in WAL mode with",
        "`synchronous=FULL` (an fsync per commit) on ext4. After each run a checkpoint is signed and the whole",
        "log is verified.",
        f"Target: >= {doc['target_sqlite_records_per_s']:,} durable records/s on SQLite.",
        "",
        f"Each store is run {len(rows[0]['runs']) if rows else 0} times; the table shows the median run "
        "(records/s of every run in the last column but one).",
        "",
        "| store | appenders | records per run | records/s (median) | append p50 ms | append p99 ms | "
        "records/commit | records/s, every run | one appender: records/s (p50 ms) |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        every = ", ".join(f"{x:,}" for x in r["records_per_s_all_runs"])
        lines.append(f"| {r['store']} | {r['appenders']} | {r['records']:,} | {r['records_per_s']:,} | "
                     f"{r['append_ms_p50']} | {r['append_ms_p99']} | {r['records_per_commit']} | {every} | "
                     f"{r['serial_records_per_s']:,} ({r['serial_append_ms_p50']}) |")
    lines += ["", f"Records average {rows[0]['record_bytes_mean']} bytes of canonical JSON." if rows else "", ""]
    if note:
        lines += [note, ""]
    lines += ["Run: `PYTHONPATH=src python benchmarks/audit_append_bench.py`", ""]
    (out / "audit_append.md").write_text("\n".join(lines))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--appenders", type=int, default=64)
    parser.add_argument("--records", type=int, default=200, help="records per appender")
    parser.add_argument("--stores", default="sqlite,postgresql")
    parser.add_argument("--repeat", type=int, default=5, help="concurrent runs per store; the median is reported")
    parser.add_argument("--window-ms", type=float, default=StoreSettings().commit_window_ms)
    parser.add_argument("--batch-max", type=int, default=StoreSettings().commit_batch_max)
    parser.add_argument("--dir", default=None, help="where the SQLite file goes (default: the temp dir)")
    parser.add_argument("--note", default="", help="a line added to the report (e.g. about machine load)")
    parser.add_argument("--report-dir", default="benchmarks/reports")
    args = parser.parse_args()
    # The event loop the gateway itself runs on.
    doc = uvloop.run(main_async(args))
    write_report(doc, Path(args.report_dir), args.note)
    print(json.dumps(doc, indent=2))


if __name__ == "__main__":
    main()
