"""Scale-out on PostgreSQL: durable audit appends with 1, 2 and 4 writer processes, in one run.

Each writer process stands for one gateway instance: its own ``AuditWriter`` (group commit) and its
own connection pool, with ``--appenders`` coroutines appending records one after another, each awaited
until durable, exactly as calls do. All writers append into one log in one database at once, for
``--seconds``; the total is durable records per second across them. Each writer also times its
sequencing transactions (statement and commit, an upper bound on how long the counter row is held)
and counts records per batch, the figures the scaling estimate in the report is built from. After each
run the log is integrated, checkpointed and verified, so the figures are for a log provably complete.

Then the gateway: one and two served instances (one worker each) on one PostgreSQL database, in front of
the mock model, loaded by wrk with a PII-bearing prompt at the same total concurrency, in interleaved
rounds (1, 2, 1, 2, ...) so a slower minute of the machine falls on both alike. Two instances on this
2-core machine share its cores with PostgreSQL and wrk, so the figure is whether adding an instance
costs throughput (it did before: every append queued on the frontier row), not how far it scales.

Run from the repository root:
    PYTHONPATH=src python benchmarks/scale_bench.py [--writers 1,2,4] [--seconds 5] [--appenders 32]
        [--gateway-rounds 3] [--connections 16]
Writes benchmarks/reports/scale.md and .json.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import multiprocessing as mp
import os
import platform
import secrets
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import asyncpg

from interlock.audit.log import AuditLog
from interlock.audit.writer import AuditWriter
from interlock.settings import AuditSettings, StoreSettings
from interlock.store import Store, open_store
from interlock.store.base import LogEntry

PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/test"
PG_SERVER = "postgresql://postgres@127.0.0.1:5432"


def record_for(i: int) -> dict[str, Any]:
    """A call record shaped like the pipeline's (about 500 bytes of canonical JSON)."""
    return {
        "v": 1, "request_id": "req_" + secrets.token_hex(12), "time": round(time.time(), 6),
        "endpoint": "chat.completions", "principal": f"svc-{i % 37}", "principal_kind": "service",
        "tenant": f"tenant-{i % 11}", "auth": "api_key", "model": "gpt-4o-mini", "provider": "openai",
        "stream": False, "status": 200, "outcome": "ok", "refusal_code": None,
        "decisions": [{"stage": "authorize", "outcome": "allow", "policy_ids": ["base-allow"]},
                      {"stage": "classify", "outcome": "redact", "reason": "pii.email"}],
        "timings_ms": {"authenticate": 0.021, "authorize": 0.012, "forward": 180.4 + i % 13},
        "usage": {"prompt_tokens": 200 + i % 300, "completion_tokens": 50 + i % 120},
    }


class TimedStore:
    """Times each sequencing transaction and counts its records."""

    def __init__(self, inner: Store) -> None:
        self.inner = inner
        self.tx_seconds: list[float] = []
        self.sizes: list[int] = []

    async def append_entries(self, entries: Sequence[LogEntry]) -> int:
        t0 = time.perf_counter()
        first = await self.inner.append_entries(entries)
        self.tx_seconds.append(time.perf_counter() - t0)
        self.sizes.append(len(entries))
        return first

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))] if ordered else 0.0


async def _writer(url: str, appenders: int, seconds: float, window_ms: float, start_at: float) -> dict[str, Any]:
    store = open_store(StoreSettings(url=url, pool_size=4))
    await store.open()
    timed = TimedStore(store)
    writer = AuditWriter(timed, window_ms=window_ms, batch_max=1024, timeout_seconds=60)  # type: ignore[arg-type]
    await writer.start()
    count = 0
    latencies: list[float] = []
    try:
        await asyncio.gather(*(writer.append(record_for(i)) for i in range(50)))  # connections warm
        timed.tx_seconds.clear()
        timed.sizes.clear()
        await asyncio.sleep(max(0.0, start_at - time.time()))
        deadline = time.perf_counter() + seconds

        async def appender(a: int) -> None:
            nonlocal count
            i = 0
            while time.perf_counter() < deadline:
                t0 = time.perf_counter()
                await writer.append(record_for(a * 1_000_000 + i))
                latencies.append(time.perf_counter() - t0)
                count += 1
                i += 1

        t_start = time.perf_counter()
        await asyncio.gather(*(appender(a) for a in range(appenders)))
        elapsed = time.perf_counter() - t_start
    finally:
        await writer.stop()
        await store.close()
    ms = [x * 1000 for x in timed.tx_seconds]
    return {"records": count, "seconds": elapsed, "batches": len(timed.sizes),
            "records_per_batch": count / max(1, len(timed.sizes)),
            "tx_ms_p50": pct(ms, 50), "tx_ms_p99": pct(ms, 99),
            "append_ms_p50": pct([x * 1000 for x in latencies], 50),
            "append_ms_p99": pct([x * 1000 for x in latencies], 99)}


def _writer_process(url: str, appenders: int, seconds: float, window_ms: float, start_at: float,
                    out: Any) -> None:
    out.put(asyncio.run(_writer(url, appenders, seconds, window_ms, start_at)))


async def _admin(sql: str) -> None:
    conn = await asyncpg.connect(PG_ADMIN, timeout=10)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


async def _migrate(url: str) -> None:
    store = open_store(StoreSettings(url=url))
    await store.open()
    await store.close()


@contextlib.contextmanager
def scratch_database(prefix: str, *, migrate: bool = False) -> Iterator[str]:
    """A new database for one run (its URL), dropped afterwards; ``migrate``: its schema made once first, so
    writer processes do not race to create it."""
    db = prefix + secrets.token_hex(5)
    asyncio.run(_admin(f'CREATE DATABASE "{db}"'))
    try:
        url = f"{PG_SERVER}/{db}"
        if migrate:
            asyncio.run(_migrate(url))
        yield url
    finally:
        asyncio.run(_admin(f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)'))


async def _verify(url: str, work: Path) -> tuple[int, bool, str]:
    store = open_store(StoreSettings(url=url))
    await store.open()
    try:
        audit = AuditLog(store, AuditSettings(signing_key_file=work / "audit.key"))
        integrate = getattr(audit, "integrate_all", None)
        if integrate is not None:
            await integrate()
        await audit.checkpoint()
        report = await audit.verify(audit.public_key)
        return report.records_checked, report.ok, report.summary()
    finally:
        await store.close()


def appends_run(writers: int, args: argparse.Namespace, work: Path) -> dict[str, Any]:
    with scratch_database("interlock_scale_", migrate=True) as url:
        ctx = mp.get_context("spawn")
        out = ctx.Queue()
        start_at = time.time() + 2.0 + 0.5 * writers
        procs = [ctx.Process(target=_writer_process, args=(url, args.appenders, args.seconds, args.window_ms,
                                                           start_at, out)) for _ in range(writers)]
        for p in procs:
            p.start()
        results = [out.get(timeout=120 + args.seconds) for _ in procs]
        for p in procs:
            p.join(30)
        checked, ok, summary = asyncio.run(_verify(url, work))
    total = sum(r["records"] for r in results)
    if not ok or checked < total:
        raise SystemExit(f"{writers} writers: the log is not complete and valid: {summary}")
    seconds = max(r["seconds"] for r in results)
    return {
        "writers": writers, "records": total, "records_per_s": round(total / seconds),
        "records_per_batch": round(sum(r["records"] for r in results) / max(1, sum(r["batches"] for r in results)), 1),
        "tx_ms_p50": round(statistics_median([r["tx_ms_p50"] for r in results]), 3),
        "tx_ms_p99": round(max(r["tx_ms_p99"] for r in results), 3),
        "append_ms_p50": round(statistics_median([r["append_ms_p50"] for r in results]), 2),
        "append_ms_p99": round(max(r["append_ms_p99"] for r in results), 2),
        "verified_records": checked,
    }


def statistics_median(values: list[float]) -> float:
    return pct(values, 50)


async def _micro(url: str) -> dict[str, Any]:
    """Uncontended, one at a time: what the counter row is held for per batch, and what a key check costs."""
    from interlock.identity.keys import new_key
    from interlock.identity.principal import Principal
    from interlock.store.postgres import PostgresStore

    store = open_store(StoreSettings(url=url, pool_size=2))
    assert isinstance(store, PostgresStore)
    await store.open()
    pool = store.pool

    async def median_ms(fn: Any, n: int) -> float:
        times = []
        for _ in range(n):
            t0 = time.perf_counter()
            await fn()
            times.append((time.perf_counter() - t0) * 1000)
        return round(pct(times, 50), 3)

    from interlock.audit.writer import entry_for

    def entries(k: int) -> list[LogEntry]:
        return [entry_for(record_for(i)) for i in range(k)]

    try:
        _, record = new_key("bench", Principal(id="bench", kind="service", tenant="default"), ttl_seconds=None)
        await store.create_key(record)
        out: dict[str, Any] = {"round_trip_ms": await median_ms(lambda: pool.fetchval("SELECT 1"), 300)}
        for k in (1, 32, 256):
            batch = entries(k)
            out[f"sequence_{k}_ms"] = await median_ms(lambda b=batch: store.append_entries(b), 150)
        # The reservation on its own (where the counter row is locked), when the store takes it apart.
        reserve = getattr(sys.modules[type(store).__module__], "_RESERVE", None)
        if reserve is not None:
            out["reserve_32_ms"] = await median_ms(lambda: pool.fetchval(reserve, 32), 300)
            plan = await pool.fetchval(f"EXPLAIN (ANALYZE, FORMAT JSON) {reserve}", 32)
            out["reserve_32_server_ms"] = json.loads(plan)[0]["Execution Time"] if isinstance(plan, str) else \
                plan[0]["Execution Time"]
        # Before: every call looked its key up in PostgreSQL. Now: the epoch is read per call (shared by the
        # calls that arrive together) and the record comes from the instance's cache.
        out["key_lookup_ms"] = await median_ms(lambda: store._key_row_by_prefix(record.prefix), 300)
        out["epoch_read_ms"] = await median_ms(store.key_epoch, 300)
        out["cached_key_check_ms"] = await median_ms(lambda: store.key_by_prefix(record.prefix), 300)
        reads = store._keys.epoch_reads
        calls = 0
        t0 = time.perf_counter()
        for _ in range(100):
            await asyncio.gather(*(store.key_by_prefix(record.prefix) for _ in range(16)))
            calls += 16
        out["concurrent_16_key_check_ms_per_call"] = round((time.perf_counter() - t0) * 1000 / calls, 4)
        out["concurrent_16_epoch_reads_per_call"] = round((store._keys.epoch_reads - reads) / calls, 4)
        return out
    finally:
        await store.close()


def micro_run() -> dict[str, Any]:
    with scratch_database("interlock_scale_micro_") as url:
        return asyncio.run(_micro(url))


def _gateway_config(work: Path, url: str, mock_port: int) -> Path:
    config = work / "gateway.yaml"
    config.write_text(
        "server: {host: 127.0.0.1, port: 8080, workers: 1}\n"
        f"store: {{url: '{url}'}}\n"
        f"audit: {{signing_key_file: '{work / 'gateway-audit.key'}'}}\n"
        f"providers:\n  upstream: {{type: openai, base_url: 'http://127.0.0.1:{mock_port}/v1'}}\n"
        "models:\n  - {alias: mock, provider: upstream, upstream_model: mock, hosting: on_prem}\n")
    return config


def gateway_runs(args: argparse.Namespace, work: Path) -> list[dict[str, Any]]:
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    with scratch_database("interlock_scale_gw_") as url:
        return _gateway_rounds(args, work, url)


def _gateway_rounds(args: argparse.Namespace, work: Path, url: str) -> list[dict[str, Any]]:
    from gateway_bench import PROMPT, free_port, wait_http, wrk

    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    mock_port = free_port()
    procs: list[subprocess.Popen[bytes]] = []
    body = json.dumps({"model": "mock", "messages": [
        {"role": "system", "content": "You are a concise assistant for the billing team."},
        {"role": "user", "content": PROMPT}]})
    out: list[dict[str, Any]] = []
    try:
        procs.append(subprocess.Popen([sys.executable, "-m", "interlock", "mock-llm", "--port", str(mock_port)],
                                      env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        wait_http(f"http://127.0.0.1:{mock_port}/healthz")
        config = _gateway_config(work, url, mock_port)
        key = json.loads(subprocess.run(
            [sys.executable, "-m", "interlock", "keys", "create", "--config", str(config), "--name", "bench",
             "--json"], capture_output=True, text=True, check=True, env=env).stdout)["key"]
        ports = [free_port(), free_port()]
        for port in ports:
            procs.append(subprocess.Popen([sys.executable, "-m", "interlock", "serve", "--config", str(config),
                                           "--port", str(port)], env=env, stdout=subprocess.DEVNULL,
                                          stderr=subprocess.DEVNULL))
            wait_http(f"http://127.0.0.1:{port}/readyz")
        path = "/v1/chat/completions"
        # Warm both (connections, caches) before anything is measured.
        for port in ports:
            wrk(f"http://127.0.0.1:{port}{path}", body, key, 4, 2, work)
        for _ in range(args.gateway_rounds):
            for n in (1, 2):
                per = args.connections // n
                results: list[dict[str, Any]] = []

                def load(port: int, per: int = per, results: list[dict[str, Any]] = results) -> None:
                    results.append(wrk(f"http://127.0.0.1:{port}{path}", body, key, per, args.gateway_seconds, work))

                threads = [threading.Thread(target=load, args=(port,)) for port in ports[:n]]
                for t in threads:
                    t.start()
                for t in threads:
                    t.join()
                if len(results) != n:
                    raise SystemExit("a load run failed")
                run = {"instances": n, "connections": args.connections,
                       "rps": round(sum(r["rps"] for r in results)),
                       "p50_ms": round(max(r["p50_us"] for r in results) / 1000, 2)
                       if all("p50_us" in r for r in results) else None}
                out.append(run)
                print(json.dumps(run), flush=True)
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            try:
                p.wait(30)
            except subprocess.TimeoutExpired:
                p.kill()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--writers", default="1,2,4")
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--appenders", type=int, default=32)
    parser.add_argument("--window-ms", type=float, default=2.0)
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--label", default="")
    parser.add_argument("--parts", default="micro,appends,gateway",
                        help="micro (counter-row hold, key check), appends, gateway; the last two also run "
                             "on an older checkout (PYTHONPATH) for a before/after")
    parser.add_argument("--gateway-rounds", type=int, default=3)
    parser.add_argument("--gateway-seconds", type=int, default=8)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--out", type=Path, default=Path("benchmarks/reports"))
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="interlock-scale-bench-"))
    load_before = [round(x, 2) for x in os.getloadavg()]
    try:
        parts = set(args.parts.split(","))
        micro = micro_run() if "micro" in parts else {}
        print(json.dumps(micro), flush=True)
        runs: list[dict[str, Any]] = []
        for _ in range(args.rounds if "appends" in parts else 0):  # interleaved, so a change in the machine's load hits every count alike
            for n in (int(x) for x in args.writers.split(",")):
                runs.append(appends_run(n, args, work))
                print(json.dumps(runs[-1]), flush=True)
        gateway = gateway_runs(args, work) if "gateway" in parts else []
    finally:
        shutil.rmtree(work, ignore_errors=True)
    doc = {"benchmark": "scale", "label": args.label, "machine": f"{platform.machine()}, {os.cpu_count()} CPUs",
           "load_average_before": load_before, "load_average_after": [round(x, 2) for x in os.getloadavg()],
           "seconds": args.seconds, "appenders_per_writer": args.appenders, "window_ms": args.window_ms,
           "micro": micro, "appends": runs, "gateway": gateway}
    args.out.mkdir(parents=True, exist_ok=True)
    name = "scale" + (f"_{args.label}" if args.label else "")
    (args.out / f"{name}.json").write_text(json.dumps(doc, indent=2) + "\n")
    print(f"wrote {args.out / name}.json")


if __name__ == "__main__":
    main()
