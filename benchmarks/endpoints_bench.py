"""The overhead of each endpoint beside the chat endpoint's, in one run: the same texts sent straight to
the mock upstream and through one Interlock worker in front of it.

Endpoints: chat completions, embeddings, and Responses (which the gateway translates into a chat call, so
its direct reference is the mock's chat endpoint). Reports, per endpoint, added latency at concurrency 1
(p50, p99) and throughput at concurrency 16, and each figure as a share of chat's, paired by round; writes
benchmarks/reports/endpoints.md and .json. Every request differs (see ``gateway_bench.WRK_SCRIPT``), so
the detector's cache answers only for the repeated first text. Reuses the gateway benchmark's helpers.

    python benchmarks/endpoints_bench.py [--duration 5] [--rounds 5]

Needs ``wrk`` on the PATH (Debian: ``apt-get install wrk``).
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

from gateway_bench import PROMPT, REPORTS, free_port, median_run, share, start_gateway, stop, wait_http, wrk

SYSTEM = "You are a concise assistant for the billing team."
# "%s" and "%d" stay in the bodies for wrk to fill in per request. The same two texts everywhere: a system
# prompt and a support ticket (with an e-mail address), or two inputs to embed.
ENDPOINTS: dict[str, tuple[str, str, str]] = {
    # name: (gateway path, the mock's path it reaches, body)
    "chat": ("/v1/chat/completions", "/v1/chat/completions", json.dumps(
        {"model": "mock", "messages": [{"role": "system", "content": SYSTEM},
                                       {"role": "user", "content": PROMPT}]})),
    "embeddings": ("/v1/embeddings", "/v1/embeddings", json.dumps(
        {"model": "mock", "input": [SYSTEM, PROMPT], "encoding_format": "base64"})),
    "responses": ("/v1/responses", "/v1/chat/completions", json.dumps(
        {"model": "mock", "instructions": SYSTEM, "input": PROMPT})),
}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--duration", type=int, default=5, help="seconds per measured run")
    ap.add_argument("--rounds", type=int, default=5, help="interleaved rounds; medians are reported")
    ap.add_argument("--tmpfs", action="store_true",
                    help="keep the gateway's store in /dev/shm: an fsync costs nothing there, so the figures show "
                         "the gateway's own work without the shared disk's variance (report: endpoints_tmpfs.md)")
    args = ap.parse_args()
    if shutil.which("wrk") is None:
        sys.exit("wrk is not installed (Debian: apt-get install wrk)")
    work = Path(tempfile.mkdtemp(prefix="interlock-endpoints-bench-", dir="/dev/shm" if args.tmpfs else None))
    report = "endpoints_tmpfs" if args.tmpfs else "endpoints"
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    mock_port = free_port()
    runs: dict[str, list[dict[str, Any]]] = {}
    procs: list[subprocess.Popen[bytes]] = []
    try:
        procs.append(subprocess.Popen([sys.executable, "-m", "interlock", "mock-llm", "--port", str(mock_port)],
                                      env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        wait_http(f"http://127.0.0.1:{mock_port}/healthz")
        proc, gw_port, key, _ = start_gateway(work, 1, mock_port, env)
        procs.append(proc)
        # Direct runs send each body to the mock endpoint its gateway call reaches.
        direct_bodies = {"/v1/chat/completions": ENDPOINTS["chat"][2], "/v1/embeddings": ENDPOINTS["embeddings"][2]}
        targets = [(f"direct_{path.rsplit('/', 1)[-1]}", f"http://127.0.0.1:{mock_port}{path}", body, None)
                   for path, body in direct_bodies.items()]
        targets += [(f"gateway_{name}", f"http://127.0.0.1:{gw_port}{path}", body, key)
                    for name, (path, _, body) in ENDPOINTS.items()]
        for _, url, body, auth in targets:
            wrk(url, body, auth, 16, 2, work)  # warm-up
        for _ in range(args.rounds):
            for name, url, body, auth in targets:
                for conc in (1, 16):
                    runs.setdefault(f"{name}_c{conc}", []).append(wrk(url, body, auth, conc, args.duration, work))
    finally:
        for p in reversed(procs):
            stop(p)

    r = {name: median_run(v) for name, v in runs.items()}
    rounds = len(runs["gateway_chat_c1"])

    def direct_of(endpoint: str) -> str:
        return "direct_" + ENDPOINTS[endpoint][1].rsplit("/", 1)[-1]

    def added(endpoint: str, i: int) -> float:
        return float(runs[f"gateway_{endpoint}_c1"][i]["p50_us"] - runs[f"{direct_of(endpoint)}_c1"][i]["p50_us"])

    def paired(values: list[float]) -> float:
        return sorted(values)[len(values) // 2]

    figures: dict[str, dict[str, Any]] = {}
    for endpoint in ENDPOINTS:
        direct = direct_of(endpoint)
        gw1, gw16, d1, d16 = (r[f"gateway_{endpoint}_c1"], r[f"gateway_{endpoint}_c16"], r[f"{direct}_c1"],
                              r[f"{direct}_c16"])
        figures[endpoint] = {
            "direct": direct,
            "direct_p50_ms_c1": round(d1["p50_us"] / 1000, 3),
            "gateway_p50_ms_c1": round(gw1["p50_us"] / 1000, 3),
            "added_p50_ms_c1": round((gw1["p50_us"] - d1["p50_us"]) / 1000, 3),
            "added_p99_ms_c1": round((gw1["p99_us"] - d1["p99_us"]) / 1000, 3),
            "direct_rps_c16": round(d16["rps"]),
            "gateway_rps_c16": round(gw16["rps"]),
            "share_of_direct_c16": round(share(d16["rounds"], gw16["rounds"]), 4),
            # Paired by round: a slow minute of the shared disk falls on every endpoint of that round alike.
            "added_p50_over_chat_same_round": round(paired([added(endpoint, i) / added("chat", i)
                                                            for i in range(rounds)]), 3),
            "throughput_over_chat_same_round": round(paired([
                runs[f"gateway_{endpoint}_c16"][i]["rps"] / runs["gateway_chat_c16"][i]["rps"]
                for i in range(rounds)]), 3),
            "added_p50_ms_per_round": [round(added(endpoint, i) / 1000, 3) for i in range(rounds)],
        }
    summary = {"when": time.strftime("%Y-%m-%d %H:%M:%S"), "store": "tmpfs" if args.tmpfs else "disk",
               "machine": f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}",
               "duration_s": args.duration, "rounds": args.rounds, "workers": 1, "endpoints": figures, "raw": r}
    REPORTS.mkdir(exist_ok=True)
    (REPORTS / f"{report}.json").write_text(json.dumps(summary, indent=2) + "\n")
    names = list(ENDPOINTS)
    md = [
        "# Each endpoint's overhead, beside chat",
        "",
        f"Run {summary['when']} on {summary['machine']}; wrk, the mock upstream and one gateway worker (SQLite "
        f"{'in /dev/shm, where an fsync costs nothing' if args.tmpfs else 'on disk'}, records committed before "
        f"each answer) on this machine. {args.rounds} interleaved rounds of {args.duration} s per target; "
        "medians over the rounds. Every endpoint carries the same two texts (a system prompt and a support "
        "ticket with an e-mail address), every request different; the model is on premises, so the address is "
        "scanned and allowed. A Responses call reaches the mock as a chat call, so its direct reference is the "
        "mock's chat endpoint.",
        "",
        "| measure | " + " | ".join(names) + " |",
        "|---|" + "---|" * len(names),
        "| p50 direct to the mock, concurrency 1 | " + " | ".join(
            f"{figures[n]['direct_p50_ms_c1']:.3f} ms" for n in names) + " |",
        "| p50 through Interlock, concurrency 1 | " + " | ".join(
            f"{figures[n]['gateway_p50_ms_c1']:.3f} ms" for n in names) + " |",
        "| added p50, concurrency 1 | " + " | ".join(f"**{figures[n]['added_p50_ms_c1']:.3f} ms**" for n in names)
        + " |",
        "| added p99, concurrency 1 | " + " | ".join(f"{figures[n]['added_p99_ms_c1']:.3f} ms" for n in names) + " |",
        "| throughput through Interlock, concurrency 16 | " + " | ".join(
            f"**{figures[n]['gateway_rps_c16']} req/s**" for n in names) + " |",
        "| throughput direct to the mock, concurrency 16 | " + " | ".join(
            f"{figures[n]['direct_rps_c16']} req/s" for n in names) + " |",
        "| added p50 over chat's, same round (median) | " + " | ".join(
            f"x{figures[n]['added_p50_over_chat_same_round']:.2f}" for n in names) + " |",
        "| throughput over chat's, same round (median) | " + " | ".join(
            f"x{figures[n]['throughput_over_chat_same_round']:.2f}" for n in names) + " |",
        "| added p50 per round | " + " | ".join(
            " / ".join(f"{v:.2f}" for v in figures[n]["added_p50_ms_per_round"]) + " ms" for n in names) + " |",
        "",
        "Target: each new endpoint within 20% of chat's figures. " + (
            "With the store in /dev/shm the figures are the gateway's own work (the same code path commits "
            "each record; only the disk's wait is gone)." if args.tmpfs else
            "At concurrency 1 much of the added time is the wait for the record's fsync, which on a disk shared "
            "with other work varies from round to round; the same-round ratios are the steadier comparison, and "
            "--tmpfs takes the disk out."),
        "",
    ]
    (REPORTS / f"{report}.md").write_text("\n".join(md))
    print("\n".join(md))


if __name__ == "__main__":
    main()
