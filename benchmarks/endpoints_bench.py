"""Per endpoint, side by side in one run: the chat endpoint and the Anthropic Messages endpoint through
Interlock (one worker, every control on), each against the mock upstream called directly.

The Messages endpoint is measured in front of the same OpenAI-compatible mock as the chat one (its
requests are translated both ways), so the two gateway figures differ only by the endpoint's own work.
Reports added p50 latency at concurrency 1 and throughput at concurrency 16, and each endpoint's figures
as a share of the chat endpoint's; writes benchmarks/reports/endpoints.md and endpoints.json.

    python benchmarks/endpoints_bench.py [--duration 5] [--rounds 3]

Needs ``wrk`` on the PATH (Debian: ``apt-get install wrk``). Reuses gateway_bench.py's helpers.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from gateway_bench import PROMPT, REPORTS, WRK_SCRIPT, free_port, median_run, start_gateway, stop, wait_http

_runs = iter(range(5001, 9000))


def wrk(url: str, body: str, headers: dict[str, str], connections: int, duration: int, workdir: Path) -> dict[str, Any]:
    script = workdir / f"wrk_{next(_runs)}.lua"
    lines = "\n".join(f'wrk.headers["{k}"] = "{v}"' for k, v in headers.items())
    script.write_text(WRK_SCRIPT % {"body": body, "auth": lines, "run": next(_runs)})
    out = subprocess.run(["wrk", "-t", "1" if connections == 1 else "2", "-c", str(connections), "-d",
                          f"{duration}s", "--latency", "-s", str(script), url],
                         capture_output=True, text=True, check=True).stdout
    line = next(x for x in out.splitlines() if x.startswith("RESULT "))
    result: dict[str, Any] = json.loads(line[len("RESULT "):])
    result["rps"] = result["requests"] / (result["duration_us"] / 1e6)
    if result["errors"] or result["non2xx"]:
        raise RuntimeError(f"load run had failures on {url}: {result}")
    return result


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--duration", type=int, default=5, help="seconds per measured run")
    ap.add_argument("--rounds", type=int, default=3, help="interleaved rounds; medians are reported")
    args = ap.parse_args()
    if shutil.which("wrk") is None:
        sys.exit("wrk is not installed (Debian: apt-get install wrk)")
    work = Path(tempfile.mkdtemp(prefix="interlock-endpoints-"))
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    mock_port = free_port()
    system = "You are a concise assistant for the billing team."
    chat = json.dumps({"model": "mock", "messages": [{"role": "system", "content": system},
                                                     {"role": "user", "content": PROMPT}]})
    messages = json.dumps({"model": "mock", "max_tokens": 512, "system": system,
                           "messages": [{"role": "user", "content": PROMPT}]})
    procs: list[subprocess.Popen[bytes]] = []
    runs: dict[str, list[dict[str, Any]]] = {}
    try:
        procs.append(subprocess.Popen([sys.executable, "-m", "interlock", "mock-llm", "--port", str(mock_port)],
                                      env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        wait_http(f"http://127.0.0.1:{mock_port}/healthz")
        proc, port, key, _ = start_gateway(work, 1, mock_port, env)
        procs.append(proc)
        json_only = {"Content-Type": "application/json"}
        bearer = {"Authorization": f"Bearer {key}"}
        targets = [
            ("direct_chat", f"http://127.0.0.1:{mock_port}/v1/chat/completions", chat, {}),
            ("gateway_chat", f"http://127.0.0.1:{port}/v1/chat/completions", chat, bearer),
            ("gateway_messages", f"http://127.0.0.1:{port}/v1/messages", messages,
             {"x-api-key": key, "anthropic-version": "2023-06-01"}),
        ]
        for _, url, body, headers in targets:
            wrk(url, body, {**json_only, **headers}, 16, 2, work)  # warm-up
        for _ in range(args.rounds):
            for name, url, body, headers in targets:
                for conc in (1, 16):
                    runs.setdefault(f"{name}_c{conc}", []).append(
                        wrk(url, body, {**json_only, **headers}, conc, args.duration, work))
    finally:
        for p in reversed(procs):
            stop(p)
    r = {name: median_run(v) for name, v in runs.items()}
    direct_p50 = r["direct_chat_c1"]["p50_us"] / 1000
    endpoints: dict[str, Any] = {}
    for name in ("chat", "messages"):
        c1, c16 = r[f"gateway_{name}_c1"], r[f"gateway_{name}_c16"]
        endpoints[name] = {"p50_ms_c1": round(c1["p50_us"] / 1000, 3),
                           "added_p50_ms_c1": round(c1["p50_us"] / 1000 - direct_p50, 3),
                           "throughput_rps_c16": round(c16["rps"])}
    for name, e in endpoints.items():
        e["added_p50_vs_chat"] = round(e["added_p50_ms_c1"] / endpoints["chat"]["added_p50_ms_c1"], 3)
        e["throughput_vs_chat"] = round(e["throughput_rps_c16"] / endpoints["chat"]["throughput_rps_c16"], 3)
        endpoints[name] = e
    summary = {"when": time.strftime("%Y-%m-%d %H:%M:%S"),
               "machine": f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}",
               "duration_s": args.duration, "rounds": args.rounds,
               "direct": {"p50_ms_c1": round(direct_p50, 3), "throughput_rps_c16": round(r["direct_chat_c16"]["rps"])},
               "endpoints": endpoints, "raw": r}
    REPORTS.mkdir(exist_ok=True)
    (REPORTS / "endpoints.json").write_text(json.dumps(summary, indent=2) + "\n")
    md = ["# Endpoints benchmark", "",
          f"Run {summary['when']} on {summary['machine']}; wrk, the mock upstream and one gateway worker on this "
          f"machine. {args.rounds} interleaved rounds of {args.duration} s runs per target; medians over the rounds. "
          "Both endpoints in front of the same OpenAI-compatible mock; the Messages endpoint translates the request "
          "and the answer.", "",
          "| endpoint | p50, concurrency 1 | added p50 | added p50 vs chat | throughput, concurrency 16 | vs chat |",
          "|---|---|---|---|---|---|",
          f"| mock, direct | {direct_p50:.3f} ms | | | {summary['direct']['throughput_rps_c16']} req/s | |"]
    for name, e in endpoints.items():
        md.append(f"| {name} through Interlock | {e['p50_ms_c1']:.3f} ms | {e['added_p50_ms_c1']:.3f} ms | "
                  f"{e['added_p50_vs_chat']:.2f}x | {e['throughput_rps_c16']} req/s | {e['throughput_vs_chat']:.2f}x |")
    (REPORTS / "endpoints.md").write_text("\n".join(md) + "\n")
    print("\n".join(md))


if __name__ == "__main__":
    main()
