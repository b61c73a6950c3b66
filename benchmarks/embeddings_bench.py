"""The embeddings endpoint's overhead beside the chat endpoint's, in one run: the same texts sent straight
to the mock upstream and through one Interlock worker in front of it, on both endpoints.

Reports, per endpoint, added latency at concurrency 1 (p50, p99) and throughput at concurrency 16, and the
embeddings figures as a share of the chat figures; writes benchmarks/reports/embeddings.md and .json.
Every request differs (see ``gateway_bench.WRK_SCRIPT``), so the detector's cache answers only for the
repeated first text. Reuses the gateway benchmark's helpers.

    python benchmarks/embeddings_bench.py [--duration 5] [--rounds 3]

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
from collections.abc import Callable
from pathlib import Path
from typing import Any

from gateway_bench import PROMPT, REPORTS, free_port, median_run, share, start_gateway, stop, wait_http, wrk

SYSTEM = "You are a concise assistant for the billing team."


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--duration", type=int, default=5, help="seconds per measured run")
    ap.add_argument("--rounds", type=int, default=3, help="interleaved rounds; medians are reported")
    args = ap.parse_args()
    if shutil.which("wrk") is None:
        sys.exit("wrk is not installed (Debian: apt-get install wrk)")
    work = Path(tempfile.mkdtemp(prefix="interlock-embed-bench-"))
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    mock_port = free_port()
    # The same two texts on both endpoints: a system prompt and a user message, or two inputs to embed.
    # "%s" and "%d" stay in the body for wrk to fill in per request.
    bodies = {
        "chat": json.dumps({"model": "mock", "messages": [{"role": "system", "content": SYSTEM},
                                                           {"role": "user", "content": PROMPT}]}),
        "embeddings": json.dumps({"model": "mock", "input": [SYSTEM, PROMPT], "encoding_format": "base64"}),
    }
    paths = {"chat": "/v1/chat/completions", "embeddings": "/v1/embeddings"}
    runs: dict[str, list[dict[str, Any]]] = {}
    procs: list[subprocess.Popen[bytes]] = []
    try:
        procs.append(subprocess.Popen([sys.executable, "-m", "interlock", "mock-llm", "--port", str(mock_port)],
                                      env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        wait_http(f"http://127.0.0.1:{mock_port}/healthz")
        proc, gw_port, key, _ = start_gateway(work, 1, mock_port, env)
        procs.append(proc)
        targets = [(f"{where}_{endpoint}", f"http://127.0.0.1:{port}{paths[endpoint]}", bodies[endpoint], auth)
                   for endpoint in ("chat", "embeddings")
                   for where, port, auth in (("direct", mock_port, None), ("gateway", gw_port, key))]
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
    figures: dict[str, dict[str, Any]] = {}
    for endpoint in ("chat", "embeddings"):
        direct1, gw1 = r[f"direct_{endpoint}_c1"], r[f"gateway_{endpoint}_c1"]
        direct16, gw16 = r[f"direct_{endpoint}_c16"], r[f"gateway_{endpoint}_c16"]
        figures[endpoint] = {
            "direct_p50_ms_c1": round(direct1["p50_us"] / 1000, 3),
            "gateway_p50_ms_c1": round(gw1["p50_us"] / 1000, 3),
            "added_p50_ms_c1": round((gw1["p50_us"] - direct1["p50_us"]) / 1000, 3),
            "added_p99_ms_c1": round((gw1["p99_us"] - direct1["p99_us"]) / 1000, 3),
            "direct_rps_c16": round(direct16["rps"]),
            "gateway_rps_c16": round(gw16["rps"]),
            "share_of_direct_c16": round(share(direct16["rounds"], gw16["rounds"]), 4),
        }
    chat, emb = figures["chat"], figures["embeddings"]
    ratios = {"added_p50_embeddings_over_chat": round(emb["added_p50_ms_c1"] / chat["added_p50_ms_c1"], 3),
              "throughput_embeddings_over_chat": round(emb["gateway_rps_c16"] / chat["gateway_rps_c16"], 3),
              # Paired by round: a slow minute of the shared disk falls on both endpoints of that round alike.
              "added_p50_embeddings_over_chat_same_round": round(_paired(
                  runs, "p50_us", lambda rnd: rnd["gateway_embeddings_c1"] - rnd["direct_embeddings_c1"],
                  lambda rnd: rnd["gateway_chat_c1"] - rnd["direct_chat_c1"]), 3),
              "throughput_embeddings_over_chat_same_round": round(_paired(
                  runs, "rps", lambda rnd: rnd["gateway_embeddings_c16"], lambda rnd: rnd["gateway_chat_c16"]), 3)}
    summary = {"when": time.strftime("%Y-%m-%d %H:%M:%S"),
               "machine": f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}",
               "duration_s": args.duration, "rounds": args.rounds, "workers": 1,
               "endpoints": figures, "ratios": ratios, "raw": r}
    REPORTS.mkdir(exist_ok=True)
    (REPORTS / "embeddings.json").write_text(json.dumps(summary, indent=2) + "\n")
    md = [
        "# Embeddings endpoint overhead, beside chat",
        "",
        f"Run {summary['when']} on {summary['machine']}; wrk, the mock upstream and one gateway worker (SQLite, "
        f"durable records) on this machine. {args.rounds} interleaved rounds of {args.duration} s per target; "
        "medians over the rounds. Both endpoints carry the same two texts (a system prompt and a support ticket "
        "with an e-mail address), every request different; the model is on premises, so the address is scanned "
        "and allowed.",
        "",
        "| measure | chat direct | chat through Interlock | embeddings direct | embeddings through Interlock |",
        "|---|---|---|---|---|",
        f"| p50 latency, concurrency 1 | {chat['direct_p50_ms_c1']:.3f} ms | {chat['gateway_p50_ms_c1']:.3f} ms | "
        f"{emb['direct_p50_ms_c1']:.3f} ms | {emb['gateway_p50_ms_c1']:.3f} ms |",
        f"| added p50, concurrency 1 | | **{chat['added_p50_ms_c1']:.3f} ms** | | **{emb['added_p50_ms_c1']:.3f} ms** |",
        f"| added p99, concurrency 1 | | {chat['added_p99_ms_c1']:.3f} ms | | {emb['added_p99_ms_c1']:.3f} ms |",
        f"| throughput, concurrency 16 | {chat['direct_rps_c16']} req/s | **{chat['gateway_rps_c16']} req/s** | "
        f"{emb['direct_rps_c16']} req/s | **{emb['gateway_rps_c16']} req/s** |",
        f"| throughput as a share of direct, same round | | {chat['share_of_direct_c16']:.1%} | | "
        f"{emb['share_of_direct_c16']:.1%} |",
        "",
        f"Embeddings over chat: added p50 x{ratios['added_p50_embeddings_over_chat']:.2f}, throughput "
        f"x{ratios['throughput_embeddings_over_chat']:.2f}; paired by round (median of the rounds' ratios): added "
        f"p50 x{ratios['added_p50_embeddings_over_chat_same_round']:.2f}, throughput "
        f"x{ratios['throughput_embeddings_over_chat_same_round']:.2f} (target: within 20% of chat's figures).",
        "",
        "Added p50 per round, chat / embeddings: " + ", ".join(
            f"{(c - d) / 1000:.3f} / {(e - f) / 1000:.3f} ms" for c, d, e, f in zip(
                *(_each(runs, name, "p50_us") for name in ("gateway_chat_c1", "direct_chat_c1",
                                                           "gateway_embeddings_c1", "direct_embeddings_c1")),
                strict=True)) + ".",
        "",
    ]
    (REPORTS / "embeddings.md").write_text("\n".join(md))
    print("\n".join(md))


def _each(runs: dict[str, list[dict[str, Any]]], name: str, measure: str) -> list[float]:
    return [float(run[measure]) for run in runs[name]]


def _paired(runs: dict[str, list[dict[str, Any]]], measure: str, top: Callable[[dict[str, float]], float],
            bottom: Callable[[dict[str, float]], float]) -> float:
    """The median over rounds of ``top / bottom``, each computed from one round's figures."""
    count = len(next(iter(runs.values())))
    rounds = [{name: float(v[i][measure]) for name, v in runs.items()} for i in range(count)]
    ratios = sorted(top(rnd) / bottom(rnd) for rnd in rounds)
    return ratios[len(ratios) // 2]


if __name__ == "__main__":
    main()
