"""Budgets and rate limits on and off, side by side in one run: the chat path of three gateways of this tree
in front of one mock upstream, with no usage limits (off), with budgets and rate limits counted in Redis, and
with the same counted in the embedded SQLite file.

Every gateway runs one worker with its own SQLite audit store and durable records. The limits are set far
above what the run can spend, so every call is admitted and settled: the cost measured is the decision
before the call (one Lua script or one SQLite transaction: rate limits taken, the worst case reserved in a
tenant, a principal and a key budget) and the settlement after it. Measured in interleaved rounds with wrk,
direct calls to the mock included; per round, each gateway's added p50 at concurrency 1 is paired with the
"off" gateway's, and its throughput at concurrency 16 over the "off" one's.

On a shared machine, wrk's runs of a few seconds each catch different minutes of other work: their p50s at
concurrency 1 drift by milliseconds from round to round, more than the effect measured. So each round also
sends requests one at a time to the targets in turn (direct, off, redis, sqlite, direct, ...), over one kept
connection each: neighbouring requests share the machine's state of the moment, and each gateway's p50 over
those requests, less the "off" gateway's, is the added latency of budgets with the load falling on every
target alike. Writes benchmarks/reports/usage_ab.md and usage_ab.json.

    python benchmarks/usage_ab.py [--rounds 6] [--duration 5] [--redis redis://127.0.0.1:6379/0]

Targets (docs/cost-and-limits.md): at most 0.3 ms added p50 at concurrency 1, throughput within 15%.
Needs ``wrk`` on the PATH and a Redis server.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import redis
from gateway_ab import added_p50, cpu_seconds, measure, median, paired
from gateway_bench import PROMPT, REPORTS, free_port, median_run, stop, wait_http

PATH = "/v1/chat/completions"

# A generous deadline: on a shared machine a reply can stall past the default 0.5 s, and the call would be
# refused (budgets fail closed), which is not what this run measures.
LIMITS = """usage:
  counters_url: '{url}'
  key_prefix: '{prefix}'
  timeout_seconds: 5
  budgets:
    - {{scope: tenant, window: month, usd: 1000000}}
    - {{scope: principal, window: day, usd: 100000, tokens: 1000000000000}}
    - {{scope: key, window: day, tokens: 1000000000000}}
  rate_limits:
    - {{scope: key, requests_per_minute: 1000000000, tokens_per_minute: 1000000000000}}
"""


def configure(work: Path, name: str, mock_port: int, limits: str, env: dict[str, str],
              port: int | None = None) -> tuple[Path, str]:
    """A gateway's configuration in ``work/name`` (SQLite, the mock upstream priced, ``limits``; served on
    ``port`` when given) and a key made for it."""
    directory = work / name
    directory.mkdir()
    config = directory / "interlock.yaml"
    server = f"server: {{host: 127.0.0.1, port: {port}, workers: 1}}\n" if port is not None else ""
    config.write_text(
        server + f"store: {{url: 'sqlite:///{directory / 'bench.db'}'}}\n"
        f"providers:\n  upstream: {{type: openai, base_url: 'http://127.0.0.1:{mock_port}/v1'}}\n"
        "models:\n  - {alias: mock, provider: upstream, upstream_model: mock, hosting: on_prem, "
        "price: {input: 1.0, output: 2.0}}\n" + limits)
    key = json.loads(subprocess.run(
        [sys.executable, "-m", "interlock", "keys", "create", "--config", str(config), "--name", "bench", "--json"],
        capture_output=True, text=True, check=True, env=env).stdout)["key"]
    return config, key


def start(work: Path, name: str, mock_port: int, env: dict[str, str], limits: str) -> tuple[subprocess.Popen[bytes], int, str]:
    port = free_port()
    config, key = configure(work, name, mock_port, limits, env, port)
    proc = subprocess.Popen([sys.executable, "-m", "interlock", "serve", "--config", str(config)],
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_http(f"http://127.0.0.1:{port}/readyz")
    return proc, port, key


def alternate(targets: list[tuple[str, str, str | None]], pids: dict[str, int], body: bytes,
              requests: int) -> dict[str, dict[str, float]]:
    """``requests`` calls to each target, one at a time and in turn; per target its p50 (ms) and, for a
    gateway, its CPU time per call (us)."""
    conns = []
    for name, url, key in targets:
        parts = url.split("/", 3)
        host, port = parts[2].rsplit(":", 1)
        headers = {"content-type": "application/json"}
        if key:
            headers["authorization"] = f"Bearer {key}"
        conns.append((name, http.client.HTTPConnection(host, int(port)), "/" + parts[3], headers))
    latencies: dict[str, list[float]] = {name: [] for name, *_ in conns}
    before = {name: cpu_seconds(pid) for name, pid in pids.items()}
    try:
        for _ in range(requests):
            for name, conn, path, headers in conns:
                started = time.perf_counter()
                conn.request("POST", path, body=body, headers=headers)
                response = conn.getresponse()
                response.read()
                latencies[name].append(time.perf_counter() - started)
                if response.status != 200:
                    raise RuntimeError(f"{name} answered {response.status}")
    finally:
        for _, conn, _, _ in conns:
            conn.close()
    out = {name: {"p50_ms": median(v) * 1000} for name, v in latencies.items()}
    for name, pid in pids.items():
        out[name]["cpu_us_per_call"] = (cpu_seconds(pid) - before[name]) / requests * 1e6
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rounds", type=int, default=6)
    ap.add_argument("--duration", type=int, default=5, help="seconds per measured run")
    ap.add_argument("--redis", default="redis://127.0.0.1:6379/0")
    ap.add_argument("--alternating", type=int, default=1000, help="requests per target per round, one at a time")
    args = ap.parse_args()
    if shutil.which("wrk") is None:
        sys.exit("wrk is not installed (Debian: apt-get install wrk)")
    client = redis.Redis.from_url(args.redis)
    client.ping()
    prefix = "bench" + secrets.token_hex(4)
    work = Path(tempfile.mkdtemp(prefix="interlock-usage-ab-"))
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    body = json.dumps({"model": "mock", "max_tokens": 256, "messages": [
        {"role": "system", "content": "You are a concise assistant for the billing team."},
        {"role": "user", "content": PROMPT}]})
    gateways = {
        "off": "",
        "redis": LIMITS.format(url=args.redis, prefix=prefix),
        "sqlite": LIMITS.format(url=f"sqlite:///{work / 'usage.db'}", prefix=prefix),
    }
    mock_port = free_port()
    procs: list[subprocess.Popen[bytes]] = []
    runs: dict[str, list[dict[str, Any]]] = {}
    turns: list[dict[str, dict[str, float]]] = []
    try:
        procs.append(subprocess.Popen([sys.executable, "-m", "interlock", "mock-llm", "--port", str(mock_port)],
                                      env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        wait_http(f"http://127.0.0.1:{mock_port}/healthz")
        targets: list[tuple[str, str, str | None]] = [("direct", f"http://127.0.0.1:{mock_port}{PATH}", None)]
        pids: dict[str, int] = {}
        for name, limits in gateways.items():
            proc, port, key = start(work, name, mock_port, env, limits)
            procs.append(proc)
            pids[name] = proc.pid
            targets.append((name, f"http://127.0.0.1:{port}{PATH}", key))
        alternate(targets, pids, body.encode(), 100)  # warm-up
        runs = measure([(n, u, k, work) for n, u, k in targets], pids, body, args.rounds, args.duration,
                       lambda _: turns.append(alternate(targets, pids, body.encode(), args.alternating)))
    finally:
        for proc in reversed(procs):
            stop(proc)
        for key in client.scan_iter(match="{" + prefix + ":*", count=1000):
            client.delete(key)
        client.close()

    pairs = {name: paired(runs, name, "off") for name in ("redis", "sqlite")}
    for name in ("redis", "sqlite"):
        pairs[name]["alternating_added_p50_ms_difference"] = median(
            [t[name]["p50_ms"] - t["off"]["p50_ms"] for t in turns])
        pairs[name]["alternating_cpu_per_call_ratio"] = median(
            [t[name]["cpu_us_per_call"] / t["off"]["cpu_us_per_call"] for t in turns])
        pairs[name]["alternating_cpu_us_per_call_difference"] = median(
            [t[name]["cpu_us_per_call"] - t["off"]["cpu_us_per_call"] for t in turns])

    def added(name: str) -> list[float]:
        return added_p50(runs, name)

    medians = {name: median_run(v) for name, v in runs.items()}
    cpu = {f"{name}_c{c}": median([x["cpu_us_per_call"] for x in runs[f"{name}_c{c}"]])
           for name in gateways for c in (1, 16)}
    load = os.getloadavg()
    summary = {"when": time.strftime("%Y-%m-%d %H:%M:%S"), "rounds": args.rounds, "duration_s": args.duration,
               "load_average_at_end": load, "paired": pairs, "added_p50_ms": {n: added(n) for n in gateways},
               "cpu_us_per_call": cpu, "alternating": turns, "raw": medians}
    REPORTS.mkdir(exist_ok=True)
    (REPORTS / "usage_ab.json").write_text(json.dumps(summary, indent=2) + "\n")

    def row(name: str) -> str:
        p = pairs.get(name)
        extra = (f" | {p['added_p50_ms_difference']:+.3f} ms | {p['throughput_ratio_c16']:.3f} | "
                 f"{p['cpu_per_call_ratio_c1']:.3f} / {p['cpu_per_call_ratio_c16']:.3f}") if p else " | | |"
        return (f"| {name} | {median(added(name)):.3f} ms | {' / '.join(f'{x:.2f}' for x in added(name))} | "
                f"{medians[f'{name}_c16']['rps']:.0f} req/s | {cpu[f'{name}_c1']:.0f} / {cpu[f'{name}_c16']:.0f} us"
                f"{extra} |")

    def turn_row(name: str) -> str:
        p = pairs[name]
        rounds = " / ".join(f"{t[name]['p50_ms'] - t['off']['p50_ms']:+.3f}" for t in turns)
        cpu_rounds = " / ".join(f"{t[name]['cpu_us_per_call'] - t['off']['cpu_us_per_call']:+.0f}" for t in turns)
        return (f"| {name} | {p['alternating_added_p50_ms_difference']:+.3f} ms | {rounds} | "
                f"{p['alternating_cpu_us_per_call_difference']:+.0f} us ({p['alternating_cpu_per_call_ratio']:.3f}x)"
                f" | {cpu_rounds} |")

    off_p50 = median([t["off"]["p50_ms"] - t["direct"]["p50_ms"] for t in turns])
    off_cpu = median([t["off"]["cpu_us_per_call"] for t in turns])
    md = [
        "# Budgets and rate limits on and off, same run",
        "",
        f"Run {summary['when']}; {args.rounds} interleaved rounds, one worker per gateway; three budgets (tenant, "
        "principal, key) and a requests and tokens rate limit per call, none ever reached.",
        "",
        f"## Concurrency 1, requests one at a time to each target in turn ({args.alternating} per target per round)",
        "",
        f"The gateway without limits adds {off_p50:.3f} ms p50 over the mock and spends {off_cpu:.0f} us of CPU per "
        "call (medians over the rounds). Budgets and limits on, over it:",
        "",
        "| gateway | added p50 over off (median) | per round (ms) | CPU per call over off (median) | per round (us) |",
        "|---|---|---|---|---|",
        turn_row("redis"), turn_row("sqlite"),
        "",
        f"## wrk, {args.duration} s per target and concurrency",
        "",
        "| gateway | added p50, c1 (median) | added p50 per round (ms) | throughput, c16 (median) | gateway CPU "
        "per call, c1 / c16 | added p50 over off, paired | throughput over off, paired | CPU per call over off, "
        "c1 / c16 |",
        "|---|---|---|---|---|---|---|---|",
        row("off"), row("redis"), row("sqlite"),
        "",
        "Target: at most 0.3 ms added p50 at concurrency 1 and throughput within 15% (a ratio of at least 0.85).",
        "",
        f"Load average at the end of the run: {load[0]:.1f} / {load[1]:.1f} / {load[2]:.1f} (1 / 5 / 15 min) on this "
        "machine's cores, which other work shares: latency and throughput stretch with it; CPU time per call is the "
        "gateway process's own user and system time over the calls it served, and moves least.",
        "",
    ]
    (REPORTS / "usage_ab.md").write_text("\n".join(md))
    print("\n".join(md))


if __name__ == "__main__":
    main()
