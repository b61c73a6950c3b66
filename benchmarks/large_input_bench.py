"""One large dense request through a one-worker gateway, and what it does to the other calls on that worker.

Target: a 5 MB dense request (text packed with e-mails, cards, phones, IBANs) takes at most 5 s through the
gateway, and meanwhile other calls on the same worker keep p99 <= 50 ms and the health endpoints answer.

Each round, against one gateway process (1 worker, SQLite store, the built-in mock upstream scripted to answer
briefly, so the figure is the request side's work and not a 5 MB echo scanned on the way back):

1. baseline: small chat calls sent open-loop at a fixed rate (a new call every ``--interval-ms`` whatever the
   earlier ones are doing, so a stall shows in the latency of every call that waits on it) and ``/healthz``
   and ``/readyz`` probes, with no large request;
2. the same load while one 5 MB dense request goes through the gateway; only the calls and probes sent while
   the large request is in flight count;
3. the detector's scan of the same text in this process, for reference;
4. the same large request through an engine in this process (the standard asyncio loop, the same settings
   and store), with a probe task that wakes every millisecond: between two wake-ups, how long the loop's
   thread ran (its CPU time, which a loaded machine does not inflate) and how long the wake-up took (wall
   time, which counts waiting for a core and for the GIL too). Every callback that ran more than 10 ms of
   CPU is named with where its task stood, so a step that holds the loop shows where it is.

The default rate is a chat call every 25 ms and each probe every 100 ms: at a call every 10 ms the one worker
(and this load generator) on a shared 2-core machine was saturated even without the large request, baseline
p99 in seconds, which would hide the large request's effect rather than show it.

Every figure is the median over the rounds. Writes benchmarks/reports/large_input.md and large_input.json.

    python benchmarks/large_input_bench.py [--rounds 3] [--size 5000000] [--baseline-seconds 5]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
from detect_scaling import MB, dense
from gateway_bench import free_port, pct, start_gateway, stop, wait_http

from interlock.detect import DetectionConfig, Detector
from interlock.engine import Engine
from interlock.settings import load_settings

HERE = Path(__file__).resolve().parent
REPORTS = HERE / "reports"
PATH = "/v1/chat/completions"
# The large request may take far longer than the target; it is measured, not cut off.
LARGE_TIMEOUT_S = 300.0
SMALL_PROMPT = ("Summarise case %s for the account team in one sentence: the customer was billed twice last "
                "quarter and asks for a corrected statement; reply to dana.whitfield@example.com.")
MOCK = {"reply": "Noted: a corrected statement is on its way."}


def letters(n: int) -> str:
    """A number written in letters, so each small prompt differs without adding digits for the recognizers."""
    out = ""
    while n > 0:
        out = chr(65 + n % 26) + out
        n //= 26
    return out or "A"


def cpu_seconds(pid: int) -> float:
    """CPU time used so far by a process and its descendants (Linux /proc), to tell work from waiting for cores."""
    tick = os.sysconf("SC_CLK_TCK")
    total, todo = 0.0, [pid]
    while todo:
        p = todo.pop()
        try:
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / tick
            for task in Path(f"/proc/{p}/task").iterdir():
                todo += [int(c) for c in (task / "children").read_text().split()]
        except (OSError, IndexError, ValueError):
            continue  # a process that ended in between
    return total


class Load:
    """Small chat calls and health probes sent at fixed rates; each sample is (sent at, seconds, ok)."""

    def __init__(self, client: httpx.AsyncClient, key: str, interval_s: float, probe_interval_s: float) -> None:
        self._client, self._key = client, key
        self._interval, self._probe_interval = interval_s, probe_interval_s
        self._counter = 0
        self.samples: dict[str, list[tuple[float, float, bool]]] = {"chat": [], "healthz": [], "readyz": []}
        self._tasks: set[asyncio.Task[None]] = set()

    async def _one(self, kind: str) -> None:
        sent = time.perf_counter()
        try:
            if kind == "chat":
                self._counter += 1
                body = {"model": "mock", "mock": MOCK, "messages": [
                    {"role": "user", "content": SMALL_PROMPT % letters(1000 + self._counter)}]}
                resp = await self._client.post(PATH, json=body, headers={"authorization": f"Bearer {self._key}"})
            else:
                resp = await self._client.get(f"/{kind}")
            ok = resp.status_code == 200
        except httpx.HTTPError:
            ok = False
        self.samples[kind].append((sent, time.perf_counter() - sent, ok))

    async def _pace(self, kinds: tuple[str, ...], interval: float, until: float) -> None:
        # Open loop: the schedule does not wait for answers, so calls queued behind a stall are counted.
        next_at = time.perf_counter()
        while next_at < until:
            for kind in kinds:
                task = asyncio.create_task(self._one(kind))
                self._tasks.add(task)
                task.add_done_callback(self._tasks.discard)
            next_at += interval
            await asyncio.sleep(max(0.0, next_at - time.perf_counter()))

    async def run_until(self, stop_event: asyncio.Event) -> None:
        far = time.perf_counter() + 3600
        pacers = [asyncio.create_task(self._pace(("chat",), self._interval, far)),
                  asyncio.create_task(self._pace(("healthz", "readyz"), self._probe_interval, far))]
        await stop_event.wait()
        for p in pacers:
            p.cancel()
        await asyncio.gather(*pacers, return_exceptions=True)
        await asyncio.gather(*list(self._tasks))

    def window(self, kind: str, start: float, end: float) -> dict[str, Any]:
        rows = [s for s in self.samples[kind] if start <= s[0] <= end]
        lat = [s[1] for s in rows]
        if not lat:
            return {"n": 0, "failed": 0, "p50_ms": None, "p99_ms": None, "max_ms": None}
        return {"n": len(rows), "failed": sum(1 for s in rows if not s[2]),
                "p50_ms": round(pct(lat, 0.50) * 1000, 2), "p99_ms": round(pct(lat, 0.99) * 1000, 2),
                "max_ms": round(max(lat) * 1000, 2)}


async def one_round(pid: int, port: int, key: str, large_body: bytes, args: argparse.Namespace) -> dict[str, Any]:
    limits = httpx.Limits(max_connections=64, max_keepalive_connections=64)
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", limits=limits,
                                 timeout=httpx.Timeout(LARGE_TIMEOUT_S)) as client, \
            httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=httpx.Timeout(LARGE_TIMEOUT_S)) as big:
        load = Load(client, key, args.interval_ms / 1000, args.probe_interval_ms / 1000)
        stop_event = asyncio.Event()
        runner = asyncio.create_task(load.run_until(stop_event))
        await asyncio.sleep(args.warmup_seconds)  # connections opened, caches and the worker warm
        base_start, base_cpu = time.perf_counter(), cpu_seconds(pid)
        await asyncio.sleep(args.baseline_seconds)
        base_end, large_cpu = time.perf_counter(), cpu_seconds(pid)
        large_start = time.perf_counter()
        resp = await big.post(PATH, content=large_body, headers={
            "authorization": f"Bearer {key}", "content-type": "application/json"})
        large_end, end_cpu = time.perf_counter(), cpu_seconds(pid)
        await asyncio.sleep(0.5)
        stop_event.set()
        await runner
    if resp.status_code != 200:
        raise RuntimeError(f"the large request failed: {resp.status_code} {resp.text[:500]}")
    # Each small call sends its own text; a failure in a window is reported, not hidden.
    return {
        "large_seconds": round(large_end - large_start, 3),
        # The gateway's CPU over the window, the small calls' share included; next to the wall time it tells
        # how much of the wait was work and how much was waiting for a core on a shared machine.
        "gateway_cpu_seconds_large": round(end_cpu - large_cpu, 3),
        "gateway_cpu_share_baseline": round((large_cpu - base_cpu) / (base_end - base_start), 3),
        "baseline": {k: load.window(k, base_start, base_end) for k in load.samples},
        "during": {k: load.window(k, large_start, large_end) for k in load.samples},
    }


# A callback that runs longer than this on the loop's thread (CPU time) is reported with where it ran.
STALL_CPU_S = 0.010


def resumes_at(handle: asyncio.events.Handle) -> str:
    """Where a callback's task resumes (the innermost await it waits at), else the callback's name. Not
    ``repr(handle)``: that writes out the result it carries, megabytes here, costing more than the step."""
    callback = handle._callback  # type: ignore[attr-defined]
    task = getattr(callback, "__self__", None)
    if not isinstance(task, asyncio.Task):
        return getattr(callback, "__qualname__", type(callback).__name__)
    coro: Any = task.get_coro()
    frame = None
    while coro is not None and getattr(coro, "cr_frame", None) is not None:
        frame = coro.cr_frame
        coro = coro.cr_await
    if frame is None:
        return f"task {task.get_name()}"
    return f"task {task.get_name()} at {Path(frame.f_code.co_filename).name}:{frame.f_lineno} {frame.f_code.co_name}"


async def loop_stretches(config: Path, key: str, large_body: bytes) -> dict[str, Any]:
    """The large request through an in-process engine, and how long it held the event loop (see step 4)."""
    slow: list[tuple[float, str]] = []
    original = asyncio.events.Handle._run

    def timed(handle: asyncio.events.Handle) -> None:
        where = resumes_at(handle)  # before it runs
        cpu = time.thread_time()
        original(handle)
        spent = time.thread_time() - cpu
        if spent > STALL_CPU_S:
            slow.append((spent, where))

    engine = Engine(load_settings(config))
    await engine.start()
    ticks: list[tuple[float, float]] = []
    done = asyncio.Event()

    async def probe() -> None:
        wall, cpu = time.perf_counter(), time.thread_time()
        while not done.is_set():
            await asyncio.sleep(0.001)
            now, now_cpu = time.perf_counter(), time.thread_time()
            ticks.append((now - wall, now_cpu - cpu))
            wall, cpu = now, now_cpu

    asyncio.events.Handle._run = timed  # type: ignore[method-assign]
    try:
        # A small call first: the pools and caches warm, as in the served worker.
        warm = engine.new_call("chat.completions", json.dumps({"model": "mock", "mock": MOCK, "messages": [
            {"role": "user", "content": SMALL_PROMPT % "A"}]}).encode(), {"authorization": f"Bearer {key}"})
        await engine.chat(warm)
        if engine.guard.scanner is not None:
            await engine.guard.scanner.start()
        slow.clear()
        prober = asyncio.create_task(probe())
        call = engine.new_call("chat.completions", large_body, {"authorization": f"Bearer {key}"})
        started, cpu0 = time.perf_counter(), time.process_time()
        refused = await engine.chat(call)
        seconds, cpu = time.perf_counter() - started, time.process_time() - cpu0
        done.set()
        await prober
    finally:
        asyncio.events.Handle._run = original  # type: ignore[method-assign]
        await engine.stop()
    if refused is not None:
        raise RuntimeError(f"the in-process large request was refused: {refused.code} {refused.message}")
    walls = [w - 0.001 for w, _ in ticks]
    cpus = [c for _, c in ticks]
    return {
        "seconds": round(seconds, 3),
        "engine_process_cpu_seconds": round(cpu, 3),
        "stages_ms": {k: round(v, 1) for k, v in call.timings_ms.items()},
        "probe_wakeups": len(ticks),
        "loop_cpu_max_ms": round(max(cpus) * 1000, 2),
        "loop_cpu_p99_ms": round(pct(cpus, 0.99) * 1000, 2),
        "loop_cpu_over_10ms": sum(1 for c in cpus if c > STALL_CPU_S),
        "wakeup_lag_max_ms": round(max(walls) * 1000, 2),
        "wakeup_lag_p99_ms": round(pct(walls, 0.99) * 1000, 2),
        "wakeup_lag_over_10ms": sum(1 for w in walls if w > 0.010),
        "callbacks_over_10ms_cpu": [{"ms": round(s * 1000, 1), "where": w[:300]}
                                    for s, w in sorted(slow, reverse=True)[:10]],
    }


def scan_seconds(text: str) -> dict[str, float]:
    detector = Detector(DetectionConfig())
    detector.scan("warm up: dana.whitfield@example.com, +44 20 7946 0958")
    wall, cpu = time.perf_counter(), time.process_time()
    detector.scan(text)
    return {"wall": round(time.perf_counter() - wall, 3), "cpu": round(time.process_time() - cpu, 3)}


def median_of(rounds: list[dict[str, Any]], *path: str) -> float | None:
    values: list[float] = []
    for r in rounds:
        v: Any = r
        for p in path:
            v = v[p]
        if v is not None:
            values.append(float(v))
    return round(statistics.median(values), 3) if values else None


def summarise(rounds: list[dict[str, Any]], scans: list[dict[str, float]], args: argparse.Namespace,
              size: int, loop: list[dict[str, Any]]) -> dict[str, Any]:
    windows: dict[str, Any] = {}
    for phase in ("baseline", "during"):
        windows[phase] = {kind: {m: median_of(rounds, phase, kind, m) for m in ("n", "failed", "p50_ms", "p99_ms",
                                                                                "max_ms")}
                          for kind in ("chat", "healthz", "readyz")}
    large = median_of(rounds, "large_seconds") or 0.0
    cpu_large = median_of(rounds, "gateway_cpu_seconds_large")
    cpu_share = median_of(rounds, "gateway_cpu_share_baseline")
    during_chat_p99 = windows["during"]["chat"]["p99_ms"]
    health_ok = all(r["during"][k]["n"] > 0 and r["during"][k]["failed"] == 0
                    for r in rounds for k in ("healthz", "readyz"))
    return {
        "when": time.strftime("%Y-%m-%d %H:%M:%S"),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}",
        "load_average": [round(x, 2) for x in os.getloadavg()],
        "rounds": len(rounds),
        "large_request_bytes": size,
        "small_call_interval_ms": args.interval_ms,
        "probe_interval_ms": args.probe_interval_ms,
        "large_request_seconds_median": large,
        "gateway_cpu_seconds_during_large_median": cpu_large,
        "gateway_cpu_share_baseline_median": cpu_share,
        "detector_scan_seconds_median": {k: median_of([{"s": s} for s in scans], "s", k) for k in ("wall", "cpu")},
        "windows_median": windows,
        "targets": {
            "large_request_within_5s": large <= 5.0,
            "other_calls_p99_within_50ms": during_chat_p99 is not None and during_chat_p99 <= 50.0,
            "health_endpoints_answered": health_ok,
        },
        "in_process_loop": {m: median_of([{"s": x} for x in loop], "s", m) for m in (
            "seconds", "engine_process_cpu_seconds", "loop_cpu_max_ms", "loop_cpu_p99_ms", "loop_cpu_over_10ms",
            "wakeup_lag_max_ms", "wakeup_lag_p99_ms", "wakeup_lag_over_10ms")},
        "per_round": rounds,
        "scans": scans,
        "in_process_loop_per_run": loop,
    }


def markdown(s: dict[str, Any]) -> str:
    w = s["windows_median"]

    def cell(x: Any) -> str:
        return "-" if x is None else f"{x:g}"

    md = [
        "# Large input benchmark",
        "",
        f"Run {s['when']} on {s['machine']} (load average {s['load_average'][0]} at the end; the machine is shared). "
        f"One gateway worker on SQLite in front of the mock upstream; {s['rounds']} rounds, medians shown.",
        "",
        f"A {s['large_request_bytes'] / MB:.2f} MB request body of dense text (e-mails, cards, phones, IBANs; the "
        "mock answers briefly): **{:.2f} s** through the gateway (target <= 5 s); the gateway process used {} s "
        "of CPU meanwhile, the small calls' work included (without the large request: {} CPU s per second). "
        "The detector's scan of the same text in one process: {:.2f} s wall, {:.2f} s CPU.".format(
            s["large_request_seconds_median"], cell(s["gateway_cpu_seconds_during_large_median"]),
            cell(s["gateway_cpu_share_baseline_median"]), s["detector_scan_seconds_median"]["wall"],
            s["detector_scan_seconds_median"]["cpu"]),
        "",
        f"Meanwhile, a small chat call every {s['small_call_interval_ms']:g} ms (open loop: sent on schedule "
        f"whatever earlier calls are doing) and /healthz and /readyz every {s['probe_interval_ms']:g} ms, to the "
        "same worker. Baseline: the same load just before, without the large request. Counted: calls sent in "
        "the window.",
        "",
        "| calls | window | sent | failed | p50 | p99 | max |",
        "|---|---|---|---|---|---|---|",
    ]
    for kind in ("chat", "healthz", "readyz"):
        for phase, label in (("baseline", "baseline"), ("during", "during the large request")):
            m = w[phase][kind]
            md.append(f"| {kind} | {label} | {cell(m['n'])} | {cell(m['failed'])} | {cell(m['p50_ms'])} ms | "
                      f"{cell(m['p99_ms'])} ms | {cell(m['max_ms'])} ms |")
    lp = s["in_process_loop"]
    md += [
        "",
        "The same request through an engine in the benchmark's own process (standard asyncio loop), with a "
        "probe task waking every millisecond, median of {} runs: {} s. Between two wake-ups the loop's thread "
        "ran at most **{} ms** of CPU (p99 {} ms; {} stretches over 10 ms): that is the longest the gateway's "
        "own work held the loop. The wake-ups themselves were late by up to {} ms (p99 {} ms; {} over 10 ms): "
        "wall time, which also counts waiting for a core on the shared machine and for the GIL while the "
        "call's work ran on a thread.".format(
            len(s["in_process_loop_per_run"]), cell(lp["seconds"]), cell(lp["loop_cpu_max_ms"]),
            cell(lp["loop_cpu_p99_ms"]), cell(lp["loop_cpu_over_10ms"]), cell(lp["wakeup_lag_max_ms"]),
            cell(lp["wakeup_lag_p99_ms"]), cell(lp["wakeup_lag_over_10ms"])),
    ]
    slow = [c for run in s["in_process_loop_per_run"] for c in run["callbacks_over_10ms_cpu"]]
    if slow:
        md += ["", "Callbacks that ran over 10 ms of CPU on the loop, every run:", ""]
        md += [f"- {c['ms']:g} ms: `{c['where'][:160]}`" for c in sorted(slow, key=lambda c: -c["ms"])[:8]]
    t = s["targets"]
    md += [
        "",
        "Targets: large request <= 5 s: **{}**; other calls' p99 <= 50 ms during it: **{}**; health endpoints "
        "answered during it, every round: **{}**.".format(
            *("met" if t[k] else "not met" for k in ("large_request_within_5s", "other_calls_p99_within_50ms",
                                                    "health_endpoints_answered"))),
        "",
        "Per round (large request seconds; chat p99 during it): " + "; ".join(
            f"{r['large_seconds']:.2f} s, {cell(r['during']['chat']['p99_ms'])} ms" for r in s["per_round"]) + ".",
        "",
    ]
    return "\n".join(md)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--size", type=int, default=5 * MB, help="bytes of dense text in the large request")
    ap.add_argument("--baseline-seconds", type=float, default=5.0)
    ap.add_argument("--warmup-seconds", type=float, default=2.0, help="load before the baseline window, each round")
    ap.add_argument("--interval-ms", type=float, default=25.0, help="time between small chat calls")
    ap.add_argument("--probe-interval-ms", type=float, default=100.0, help="time between health probes, each")
    args = ap.parse_args()

    text = dense(args.size)
    large_body = json.dumps({"model": "mock", "mock": MOCK, "messages": [
        {"role": "user", "content": "Find the duplicate customers in this export:\n" + text}]}).encode()
    work = Path(tempfile.mkdtemp(prefix="interlock-large-"))
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    mock_port = free_port()
    procs: list[subprocess.Popen[bytes]] = []
    rounds: list[dict[str, Any]] = []
    scans: list[dict[str, float]] = []
    loop: list[dict[str, Any]] = []
    try:
        procs.append(subprocess.Popen([sys.executable, "-m", "interlock", "mock-llm", "--port", str(mock_port)],
                                      env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        wait_http(f"http://127.0.0.1:{mock_port}/healthz")
        proc, port, key, _ = start_gateway(work, 1, mock_port, env, extra="limits: {max_body_bytes: 16777216}\n")
        procs.append(proc)
        for i in range(args.rounds):
            rounds.append(asyncio.run(one_round(proc.pid, port, key, large_body, args)))
            # In this process while the gateway is idle, so the two do not share the cores.
            scans.append(scan_seconds(text))
            print(f"round {i + 1}: large {rounds[-1]['large_seconds']:.2f} s, "
                  f"chat p99 during {rounds[-1]['during']['chat']['p99_ms']} ms, scan {scans[-1]}", flush=True)
            # Then in this process, while the served gateway is idle (it shares the store).
            loop.append(asyncio.run(loop_stretches(work / "interlock-1w.yaml", key, large_body)))
            print(f"round {i + 1}: in-process loop {json.dumps({k: v for k, v in loop[-1].items() if k != 'callbacks_over_10ms_cpu'})}",
                  flush=True)
    finally:
        for p in reversed(procs):
            stop(p)
    summary = summarise(rounds, scans, args, len(large_body), loop)
    REPORTS.mkdir(exist_ok=True)
    (REPORTS / "large_input.json").write_text(json.dumps(summary, indent=2) + "\n")
    md = markdown(summary)
    (REPORTS / "large_input.md").write_text(md)
    print(md)


if __name__ == "__main__":
    main()
