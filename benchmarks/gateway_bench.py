"""Gateway overhead, side by side in one run: the same requests sent straight to a fast mock upstream
and through Interlock in front of it.

Everything runs on this machine: the mock upstream (``interlock mock-llm``), the gateway
(``interlock serve`` with a SQLite store, durable audit records), and the load generator (wrk, a C
program, so it takes as little CPU from the two processes under test as possible).

Reports added latency at concurrency 1 (p50, p99) and throughput at concurrency 16 for each number
of gateway worker processes asked for (default: 1 and 2), time to first token of a long stream, and
what the gateway's own metrics say of its audit writer during those runs (records per group commit,
time per commit, each call's wait for its record), and writes benchmarks/reports/gateway.md and
gateway.json.

    python benchmarks/gateway_bench.py [--duration 6] [--rounds 3] [--workers 1,2]

With LiteLLM's proxy installed beside it (``benchmarks/setup_litellm.sh`` builds ``.venv-litellm``), the
same requests also go through LiteLLM's proxy (2 workers, a master key, no database) in the same rounds,
and the report gives Interlock's figures against it.

Needs ``wrk`` on the PATH (Debian: ``apt-get install wrk``).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
REPORTS = HERE / "reports"

PROMPT = (
    "Summarise the following support ticket (case %s) in two sentences for the account team. The customer says "
    "their invoices for the last quarter were issued twice, that the duplicate charges appeared on the "
    "company card, and that they need a corrected statement before the end of the month for their auditors. "
    "They also ask whether the annual plan can be moved to monthly billing without losing the discount. "
    "Reply to the customer at dana.whitfield@example.com, order reference 4471-%d-A."
)

# Every request differs, across wrk's threads and across runs, so no cache can answer for the detector;
# only the system prompt repeats, as it would in real traffic. The case name is a number unique to the
# run, the thread and the request, written in letters so that it adds no digits for the recognizers;
# the order reference carries the thread's request counter, as digits.
WRK_SCRIPT = """
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
%(auth)s
local template = [[%(body)s]]
local threads = 0
setup = function(thread)
  threads = threads + 1
  thread:set("tid", threads)
end
local function letters(n)
  local out = ""
  while n > 0 do
    out = string.char(65 + n %% 26) .. out
    n = math.floor(n / 26)
  end
  return out
end
local counter = 0
request = function()
  counter = counter + 1
  local case = letters(%(run)d * 1000000 + tid * 100000 + counter)
  return wrk.format(nil, nil, nil, string.format(template, case, counter))
end
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format('RESULT {"requests":%%d,"duration_us":%%d,"errors":%%d,"non2xx":%%d,' ..
    '"p50_us":%%d,"p90_us":%%d,"p99_us":%%d,"mean_us":%%f}\\n',
    summary.requests, summary.duration, e.connect + e.read + e.write + e.timeout, e.status,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.mean))
end
"""
_runs = iter(range(101, 1000))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_http(url: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=1) as r:
                if r.status == 200:
                    return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"{url} did not become ready")


def wrk(url: str, body: str, key: str | None, connections: int, duration: int, workdir: Path) -> dict[str, Any]:
    script = workdir / f"wrk_{connections}_{'gw' if key else 'direct'}.lua"
    auth = f'wrk.headers["Authorization"] = "Bearer {key}"' if key else ""
    script.write_text(WRK_SCRIPT % {"body": body, "auth": auth, "run": next(_runs)})
    threads = 1 if connections == 1 else 2
    out = subprocess.run(
        ["wrk", "-t", str(threads), "-c", str(connections), "-d", f"{duration}s", "--latency", "-s", str(script), url],
        capture_output=True, text=True, check=True,
    ).stdout
    line = next(x for x in out.splitlines() if x.startswith("RESULT "))
    result: dict[str, Any] = json.loads(line[len("RESULT "):])
    result["rps"] = result["requests"] / (result["duration_us"] / 1e6)
    if result["errors"] or result["non2xx"]:
        raise RuntimeError(f"load run had failures: {result}")
    return result


def time_to_first_token(host: str, port: int, path: str, body: bytes, key: str | None, n: int) -> list[float]:
    """Seconds from sending a streaming request to reading its first content chunk, one request at a time."""
    import http.client

    conn = http.client.HTTPConnection(host, port)
    headers = {"content-type": "application/json"}
    if key:
        headers["authorization"] = f"Bearer {key}"
    out: list[float] = []
    for _ in range(n):
        started = time.perf_counter()
        conn.request("POST", path, body=body, headers=headers)
        resp = conn.getresponse()
        first = None
        while True:
            line = resp.readline()
            if not line:
                break
            if first is None and line.startswith(b"data: {") and b'"content":"' in line and b'"content":""' not in line:
                first = time.perf_counter() - started
        resp.read()
        if first is None:
            raise RuntimeError("the stream carried no content")
        out.append(first)
    return out


# What the gateway's /metrics says of its audit writer, summed over its workers.
_AUDIT_SERIES = {
    "interlock_audit_commit_seconds_count": "commits",
    "interlock_audit_commit_seconds_sum": "commit_seconds",
    "interlock_audit_commit_records_sum": "records",
}


def audit_counters(port: int) -> dict[str, float]:
    """Commits, their total time and records so far, and the calls' total wait for their records."""
    from prometheus_client.parser import text_string_to_metric_families

    time.sleep(0.3)  # other workers publish their values every 0.25 s
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics") as resp:
        text = resp.read().decode()
    out = dict.fromkeys([*_AUDIT_SERIES.values(), "record_wait_seconds", "calls"], 0.0)
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name in _AUDIT_SERIES:
                out[_AUDIT_SERIES[sample.name]] += sample.value
            elif sample.name.startswith("interlock_stage_seconds_") and sample.labels.get("stage") == "record":
                if sample.name.endswith("_sum"):
                    out["record_wait_seconds"] += sample.value
                elif sample.name.endswith("_count"):
                    out["calls"] += sample.value
    return out


def audit_delta(before: dict[str, float], after: dict[str, float]) -> dict[str, float]:
    return {k: after[k] - before[k] for k in before}


def audit_summary(deltas: list[dict[str, float]]) -> dict[str, float]:
    """Over the runs: mean records per commit, mean commit time, mean wait of a call for its record."""
    total = {k: sum(d[k] for d in deltas) for k in deltas[0]}
    commits, calls = max(total["commits"], 1.0), max(total["calls"], 1.0)
    return {"commits": total["commits"], "records_per_commit": round(total["records"] / commits, 2),
            "commit_ms_mean": round(total["commit_seconds"] / commits * 1000, 3),
            "record_wait_ms_mean": round(total["record_wait_seconds"] / calls * 1000, 3)}


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * p))]


def start_gateway(work: Path, workers: int, mock_port: int, env: dict[str, str], *,
                  extra: str = "") -> tuple[subprocess.Popen[bytes], int, str, Path]:
    """A gateway with its own fresh SQLite store, and a key for it; ``extra``: more lines of settings."""
    port = free_port()
    config = work / f"interlock-{workers}w.yaml"
    db = work / f"bench-{workers}w.db"
    config.write_text(
        f"server: {{host: 127.0.0.1, port: {port}, workers: {workers}}}\n"
        f"store: {{url: 'sqlite:///{db}'}}\n" + extra +
        # The streamed request scripts the mock with its ``mock`` field, which the gateway refuses unless passed.
        f"providers:\n  upstream: {{type: openai, base_url: 'http://127.0.0.1:{mock_port}/v1', "
        "pass_through_fields: [mock]}\n"
        "models:\n  - {alias: mock, provider: upstream, upstream_model: mock, hosting: on_prem}\n"
    )
    key = json.loads(subprocess.run(
        [sys.executable, "-m", "interlock", "keys", "create", "--config", str(config), "--name", "bench",
         "--json"], capture_output=True, text=True, check=True, env=env).stdout)["key"]
    proc = subprocess.Popen([sys.executable, "-m", "interlock", "serve", "--config", str(config)],
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    # Start-up compiles the detector: on a loaded machine that alone can take longer than the default wait.
    wait_http(f"http://127.0.0.1:{port}/readyz", timeout=120)
    return proc, port, key, db


LITELLM_KEY = "sk-bench-" + "0123456789abcdef" * 2
LITELLM_WORKERS = 2


def start_litellm(venv: Path, work: Path, mock_port: int, env: dict[str, str]) -> tuple[subprocess.Popen[bytes], int]:
    """LiteLLM's proxy in front of the same mock: its own documented minimum (a master key), no database,
    so no spend logs; started through uvicorn so that its slow start-up does not fail the worker health
    check under load."""
    port = free_port()
    config = work / "litellm.yaml"
    config.write_text(
        "model_list:\n  - model_name: mock\n    litellm_params:\n      model: openai/mock\n"
        f"      api_base: http://127.0.0.1:{mock_port}/v1\n      api_key: sk-upstream\n"
        f"general_settings:\n  master_key: {LITELLM_KEY}\n")
    peer_env = {**env, "CONFIG_FILE_PATH": str(config), "LITELLM_LOCAL_MODEL_COST_MAP": "True"}
    proc = subprocess.Popen([str(venv / "bin" / "uvicorn"), "litellm.proxy.proxy_server:app", "--host", "127.0.0.1",
                             "--port", str(port), "--workers", str(LITELLM_WORKERS), "--timeout-worker-healthcheck",
                             "120", "--log-level", "warning", "--no-access-log"],
                            env=peer_env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_http(f"http://127.0.0.1:{port}/health/liveliness", timeout=180)
    return proc, port


def stop(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    proc.wait(timeout=60)


def median_run(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Per measure, the median over the rounds (this machine's speed drifts from minute to minute)."""
    out: dict[str, Any] = {}
    for k in ("p50_us", "p90_us", "p99_us", "rps"):
        values = sorted(run[k] for run in runs)
        out[k] = values[len(values) // 2]
    out["requests"] = sum(run["requests"] for run in runs)
    out["rounds"] = [{k: run[k] for k in ("p50_us", "p99_us", "rps")} for run in runs]
    return out


def share(direct: list[dict[str, Any]], gateway: list[dict[str, Any]]) -> float:
    """The gateway's throughput over the direct one measured in the same round, median over rounds:
    steadier than either figure alone when the machine's speed drifts."""
    ratios = sorted(float(g["rps"]) / float(d["rps"]) for d, g in zip(direct, gateway, strict=True))
    return ratios[len(ratios) // 2]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--duration", type=int, default=6, help="seconds per measured run")
    ap.add_argument("--rounds", type=int, default=3,
                    help="rounds of (direct, each gateway) runs, interleaved; medians are reported")
    ap.add_argument("--workers", default="1,2",
                    help="gateway worker processes; a comma-separated list measures each (default 1,2)")
    ap.add_argument("--litellm", type=Path, default=HERE.parent / ".venv-litellm",
                    help="virtual environment with LiteLLM's proxy (benchmarks/setup_litellm.sh); skipped if absent")
    args = ap.parse_args()
    worker_counts = [int(w) for w in str(args.workers).split(",")]
    litellm: Path | None = args.litellm if (args.litellm / "bin" / "uvicorn").exists() else None
    if litellm is None:
        print(f"LiteLLM's proxy is not in {args.litellm}: measuring without it (benchmarks/setup_litellm.sh)")
    if shutil.which("wrk") is None:
        sys.exit("wrk is not installed (Debian: apt-get install wrk)")

    work = Path(tempfile.mkdtemp(prefix="interlock-bench-"))
    mock_port = free_port()
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    # "%s" and "%d" stay in the body for wrk to fill in per request.
    body = json.dumps({"model": "mock", "messages": [
        {"role": "system", "content": "You are a concise assistant for the billing team."},
        {"role": "user", "content": PROMPT}]})
    # A streamed answer, a word per chunk with 2 ms between chunks, as a model would send it.
    stream_body = json.dumps({"model": "mock", "stream": True, "messages": [
        {"role": "user", "content": PROMPT % ("STREAM", 0)}], "mock": {"reply": PROMPT % ("STREAM", 0),
                                                                    "chunk_delay_ms": 2}}).encode()
    path = "/v1/chat/completions"
    runs: dict[str, list[dict[str, Any]]] = {}
    samples: dict[str, list[float]] = {}
    records: dict[int, int] = {}
    audit: dict[str, list[dict[str, float]]] = {}
    metrics_text = ""
    procs: list[subprocess.Popen[bytes]] = []
    try:
        procs.append(subprocess.Popen([sys.executable, "-m", "interlock", "mock-llm", "--port", str(mock_port)],
                                      env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        wait_http(f"http://127.0.0.1:{mock_port}/healthz")
        # Every target is up for the whole run, and the rounds interleave them, so a slower or faster
        # minute of the machine falls on all of them alike.
        targets: list[tuple[str, str, str | None, int | None]] = [
            ("direct", f"http://127.0.0.1:{mock_port}{path}", None, None)]
        gateways: dict[int, tuple[int, str, Path]] = {}
        for n in worker_counts:
            proc, gw_port, gw_key, db = start_gateway(work, n, mock_port, env)
            procs.append(proc)
            gateways[n] = (gw_port, gw_key, db)
            targets.append((f"gateway_{n}w", f"http://127.0.0.1:{gw_port}{path}", gw_key, gw_port))
        if litellm is not None:
            peer, peer_port = start_litellm(litellm, work, mock_port, env)
            procs.append(peer)
            targets.append(("litellm", f"http://127.0.0.1:{peer_port}{path}", LITELLM_KEY, None))
        for _, url, auth, _ in targets:
            wrk(url, body, auth, 16, 2, work)  # warm-up: connections, caches, the SQLite file
        for _ in range(args.rounds):
            for name, url, auth, port in targets:
                for conc in (1, 16):
                    before = audit_counters(port) if port else {}
                    runs.setdefault(f"{name}_c{conc}", []).append(wrk(url, body, auth, conc, args.duration, work))
                    if port:
                        audit.setdefault(f"{name}_c{conc}", []).append(audit_delta(before, audit_counters(port)))
        first_port, first_key, _ = gateways[worker_counts[0]]
        ttft_targets: list[tuple[str, int, str | None]] = [("direct", mock_port, None),
                                                          ("gateway", first_port, first_key)]
        for name, port, auth in ttft_targets:
            time_to_first_token("127.0.0.1", port, path, stream_body, auth, 10)
            samples[name] = time_to_first_token("127.0.0.1", port, path, stream_body, auth, 200)
        with urllib.request.urlopen(f"http://127.0.0.1:{first_port}/metrics") as resp:
            metrics_text = resp.read().decode()
    finally:
        for proc in reversed(procs):
            stop(proc)
    for n, (_, _, db) in gateways.items():
        records[n] = _count_records(db)

    r = {name: median_run(v) for name, v in runs.items()}
    per_workers: dict[str, Any] = {}
    for n in worker_counts:
        c1, c16 = r[f"gateway_{n}w_c1"], r[f"gateway_{n}w_c16"]
        per_workers[str(n)] = {
            "added_latency_ms": {"p50": round((c1["p50_us"] - r["direct_c1"]["p50_us"]) / 1000, 3),
                                 "p99": round((c1["p99_us"] - r["direct_c1"]["p99_us"]) / 1000, 3)},
            "throughput_rps_c16": round(c16["rps"]),
            "throughput_share_of_direct": round(share(r["direct_c16"]["rounds"], c16["rounds"]), 4),
            "p50_latency_ms_c16": round(c16["p50_us"] / 1000, 3),
            "audit_records_written": records[n],
            "audit_c1": audit_summary(audit[f"gateway_{n}w_c1"]),
            "audit_c16": audit_summary(audit[f"gateway_{n}w_c16"]),
        }
    peer: dict[str, Any] | None = None
    if "litellm_c1" in r:
        c1, c16 = r["litellm_c1"], r["litellm_c16"]
        peer = {"workers": LITELLM_WORKERS,
                "added_latency_ms": {"p50": round((c1["p50_us"] - r["direct_c1"]["p50_us"]) / 1000, 3),
                                     "p99": round((c1["p99_us"] - r["direct_c1"]["p99_us"]) / 1000, 3)},
                "throughput_rps_c16": round(c16["rps"]),
                "throughput_share_of_direct": round(share(r["direct_c16"]["rounds"], c16["rounds"]), 4),
                "p50_latency_ms_c16": round(c16["p50_us"] / 1000, 3)}
    ttft = {name: {"p50_ms": round(pct(v, 0.5) * 1000, 3), "p99_ms": round(pct(v, 0.99) * 1000, 3)}
            for name, v in samples.items()}
    added_ttft = ttft["gateway"]["p50_ms"] - ttft["direct"]["p50_ms"]
    summary = {
        "when": time.strftime("%Y-%m-%d %H:%M:%S"),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}",
        "duration_s": args.duration,
        "rounds": args.rounds,
        "controls": ("API key check, request validation, Cedar model-access and data-class decisions, detection and "
                     "redaction of the prompt, output scan and restore, durable audit record with Merkle leaf and "
                     "redacted payload (SQLite, synchronous=FULL, group commit)"),
        "direct": {"p50_ms_c1": round(r["direct_c1"]["p50_us"] / 1000, 3),
                   "p99_ms_c1": round(r["direct_c1"]["p99_us"] / 1000, 3),
                   "throughput_rps_c16": round(r["direct_c16"]["rps"])},
        "gateway_by_workers": per_workers,
        "litellm": peer,
        "time_to_first_token_ms": ttft,
        "time_to_first_token_workers": worker_counts[0],
        "added_time_to_first_token_ms_p50": round(added_ttft, 3),
        "raw": r,
        "stage_metrics": [ln for ln in metrics_text.splitlines() if ln.startswith("interlock_stage_seconds_sum")],
    }
    REPORTS.mkdir(exist_ok=True)
    (REPORTS / "gateway.json").write_text(json.dumps(summary, indent=2) + "\n")
    md = [
        "# Gateway overhead benchmark",
        "",
        f"Run {summary['when']} on {summary['machine']}; load generator wrk, the mock upstream and the gateways "
        f"all on this machine. {args.rounds} interleaved rounds of {args.duration} s runs per target; each figure "
        "is the median over the rounds.",
        f"Controls on: {summary['controls']}.",
        "",
        "| measure | direct to mock | " + " | ".join(f"through Interlock, {n} worker{'s' if n > 1 else ''}"
                                                     for n in worker_counts) + " |",
        "|---|---|" + "---|" * len(worker_counts),
    ]

    def row(label: str, direct: str, each: Any) -> None:
        md.append(f"| {label} | {direct} | " + " | ".join(each(n) for n in worker_counts) + " |")

    row("p50 latency, concurrency 1", f"{r['direct_c1']['p50_us'] / 1000:.3f} ms",
        lambda n: f"{r[f'gateway_{n}w_c1']['p50_us'] / 1000:.3f} ms")
    row("added p50, concurrency 1", "", lambda n: f"**{per_workers[str(n)]['added_latency_ms']['p50']:.3f} ms**")
    row("p99 latency, concurrency 1", f"{r['direct_c1']['p99_us'] / 1000:.3f} ms",
        lambda n: f"{r[f'gateway_{n}w_c1']['p99_us'] / 1000:.3f} ms")
    row("added p99, concurrency 1", "", lambda n: f"**{per_workers[str(n)]['added_latency_ms']['p99']:.3f} ms**")
    row("throughput, concurrency 16", f"{r['direct_c16']['rps']:.0f} req/s",
        lambda n: f"**{r[f'gateway_{n}w_c16']['rps']:.0f} req/s**")
    row("p50 latency, concurrency 16", f"{r['direct_c16']['p50_us'] / 1000:.3f} ms",
        lambda n: f"{r[f'gateway_{n}w_c16']['p50_us'] / 1000:.3f} ms")
    row("throughput per round, concurrency 16", " / ".join(f"{x['rps']:.0f}" for x in r["direct_c16"]["rounds"]),
        lambda n: " / ".join(f"{x['rps']:.0f}" for x in r[f"gateway_{n}w_c16"]["rounds"]))
    row("throughput as a share of direct, same round (median)", "",
        lambda n: f"{share(r['direct_c16']['rounds'], r[f'gateway_{n}w_c16']['rounds']):.1%}")
    row("audit records durable after the run", "", lambda n: str(records[n]))
    for conc in (1, 16):
        row(f"audit commit, concurrency {conc}: mean time to disk", "",
            lambda n, c=conc: f"{per_workers[str(n)][f'audit_c{c}']['commit_ms_mean']:.3f} ms")
        row(f"audit commit, concurrency {conc}: records per commit (mean)", "",
            lambda n, c=conc: f"{per_workers[str(n)][f'audit_c{c}']['records_per_commit']:.1f}")
        row(f"a call's wait for its record, concurrency {conc} (mean)", "",
            lambda n, c=conc: f"{per_workers[str(n)][f'audit_c{c}']['record_wait_ms_mean']:.3f} ms")
    md += [
        "",
        f"Streaming, time to first token ({worker_counts[0]} worker{'s' if worker_counts[0] > 1 else ''}): "
        f"p50 {ttft['direct']['p50_ms']:.3f} ms direct, {ttft['gateway']['p50_ms']:.3f} ms through Interlock "
        f"(**{added_ttft:.3f} ms added**); p99 {ttft['direct']['p99_ms']:.3f} ms and {ttft['gateway']['p99_ms']:.3f} ms. "
        "The streamed answer arrives a word per chunk with 2 ms between chunks; the gateway scans and restores it.",
        "",
        "Every prompt differs (a case name unique to the run, the thread and the request), so the detector's "
        "cache of recently scanned texts answers only for the system prompt.",
        "",
        "Targets: added p50 <= 1 ms, p99 <= 3 ms at concurrency 1; >= 1,500 req/s at concurrency 16; "
        "time to first token added <= 5 ms with output redaction on.",
        "",
    ]
    if peer is not None:
        md += [
            "## Against LiteLLM's proxy, same run", "",
            f"LiteLLM {_litellm_version(litellm)} ({LITELLM_WORKERS} workers, master key, no database: it neither "
            "scans, redacts nor keeps durable records) in front of the same mock, in the same interleaved rounds; "
            "every run of every target completed without a failed request.",
            "",
            "| measure | LiteLLM proxy | " + " | ".join(f"Interlock, {n} worker{'s' if n > 1 else ''}"
                                                         for n in worker_counts) + " |",
            "|---|---|" + "---|" * len(worker_counts),
            f"| added p50, concurrency 1 | {peer['added_latency_ms']['p50']:.3f} ms | " + " | ".join(
                f"{per_workers[str(n)]['added_latency_ms']['p50']:.3f} ms "
                f"(**{peer['added_latency_ms']['p50'] / max(per_workers[str(n)]['added_latency_ms']['p50'], 0.001):.1f}x"
                " less**)" for n in worker_counts) + " |",
            f"| throughput, concurrency 16 | {peer['throughput_rps_c16']} req/s | " + " | ".join(
                f"{per_workers[str(n)]['throughput_rps_c16']} req/s "
                f"(**{per_workers[str(n)]['throughput_rps_c16'] / max(peer['throughput_rps_c16'], 1):.1f}x**)"
                for n in worker_counts) + " |",
            "",
        ]
    (REPORTS / "gateway.md").write_text("\n".join(md))
    print("\n".join(md))


def _litellm_version(venv: Path | None) -> str:
    if venv is None:
        return ""
    out = subprocess.run([str(venv / "bin" / "python"), "-c", "import importlib.metadata as m; print(m.version('litellm'))"],
                         capture_output=True, text=True, check=False).stdout.strip()
    return out or "(version unknown)"


def _count_records(db: Path) -> int:
    import sqlite3

    with sqlite3.connect(db) as conn:
        (n,) = conn.execute("SELECT COUNT(*) FROM audit_log").fetchone()
    return int(n)


if __name__ == "__main__":
    main()
