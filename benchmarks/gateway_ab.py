"""The chat path of two versions of Interlock side by side in one run: a baseline git ref and this tree.

Both gateways (one worker each, their own SQLite store, durable audit records) sit in front of one
mock upstream and are measured in interleaved rounds with wrk, direct calls to the mock included, so
a slower minute of a shared machine falls on every target alike. Per round, each gateway's added p50
at concurrency 1 (over the direct one of the same round) and its throughput at concurrency 16 are
paired with the other's; the report gives the medians of those pairs. Writes
benchmarks/reports/gateway_ab.md and gateway_ab.json.

    python benchmarks/gateway_ab.py --baseline main [--rounds 6] [--duration 5]

The baseline runs from ``git archive <ref> src`` on PYTHONPATH, with this environment's packages.
Needs ``wrk`` on the PATH (Debian: ``apt-get install wrk``).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from gateway_bench import PROMPT, REPORTS, free_port, median_run, start_gateway, stop, wait_http, wrk

ROOT = Path(__file__).resolve().parent.parent
PATH = "/v1/chat/completions"


def baseline_tree(ref: str, into: Path) -> Path:
    archive = subprocess.run(["git", "-C", str(ROOT), "archive", ref, "src"], capture_output=True, check=True).stdout
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive, check=True)
    return into / "src"


def cpu_seconds(pid: int) -> float:
    """The process's user and system CPU time so far: what it spent, whatever else the machine was doing."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def median(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[len(ordered) // 2]


# A target: (name, url, key, directory for wrk's script). The first is the direct upstream.
Target = tuple[str, str, str | None, Path]


def measure(targets: list[Target], pids: dict[str, int], body: str, rounds: int,
            duration: int, each_round: Callable[[int], None] | None = None) -> dict[str, list[dict[str, Any]]]:
    """wrk at concurrency 1 and 16 against every target, round after round: the direct upstream first, the
    gateways after it in an order rotated each round so that none always follows the direct runs. Runs of
    a gateway whose pid is known also get its CPU time per call. ``each_round`` runs at the start of each
    round (a measure of its own, interleaved with these)."""
    runs: dict[str, list[dict[str, Any]]] = {}
    for _, url, key, directory in targets:
        wrk(url, body, key, 16, 2, directory)  # warm-up
    gateways = targets[1:]
    for i in range(rounds):
        if each_round is not None:
            each_round(i)
        shift = i % max(1, len(gateways))
        for name, url, key, directory in [targets[0], *gateways[shift:], *gateways[:shift]]:
            for conc in (1, 16):
                before = cpu_seconds(pids[name]) if name in pids else 0.0
                run = wrk(url, body, key, conc, duration, directory)
                if name in pids:
                    run["cpu_us_per_call"] = (cpu_seconds(pids[name]) - before) / run["requests"] * 1e6
                runs.setdefault(f"{name}_c{conc}", []).append(run)
    return runs


def added_p50(runs: dict[str, list[dict[str, Any]]], name: str) -> list[float]:
    """Per round, the target's p50 at concurrency 1 over the direct upstream's, in ms."""
    return [(g["p50_us"] - d["p50_us"]) / 1000 for g, d in zip(runs[f"{name}_c1"], runs["direct_c1"], strict=True)]


def paired(runs: dict[str, list[dict[str, Any]]], name: str, base: str) -> dict[str, float]:
    """``name`` against ``base`` round by round, the median of each: added p50 (over the direct upstream)
    minus the base's, throughput over the base's, CPU time per call over the base's."""
    return {
        "added_p50_ms_difference": median([t - b for t, b in zip(added_p50(runs, name), added_p50(runs, base),
                                                                 strict=True)]),
        "throughput_ratio_c16": median([t["rps"] / b["rps"] for t, b in
                                        zip(runs[f"{name}_c16"], runs[f"{base}_c16"], strict=True)]),
        **{f"cpu_per_call_ratio_c{c}": median([t["cpu_us_per_call"] / b["cpu_us_per_call"] for t, b in
                                               zip(runs[f"{name}_c{c}"], runs[f"{base}_c{c}"], strict=True)])
           for c in (1, 16)},
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--baseline", required=True, help="git ref of the version to compare with (e.g. main, HEAD~1)")
    ap.add_argument("--rounds", type=int, default=6)
    ap.add_argument("--duration", type=int, default=5, help="seconds per measured run")
    args = ap.parse_args()
    if shutil.which("wrk") is None:
        sys.exit("wrk is not installed (Debian: apt-get install wrk)")
    work = Path(tempfile.mkdtemp(prefix="interlock-ab-"))
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    versions = {"baseline": {**env, "PYTHONPATH": str(baseline_tree(args.baseline, work))}, "this": env}
    body = json.dumps({"model": "mock", "messages": [
        {"role": "system", "content": "You are a concise assistant for the billing team."},
        {"role": "user", "content": PROMPT}]})
    mock_port = free_port()
    procs: list[subprocess.Popen[bytes]] = []
    runs: dict[str, list[dict[str, Any]]] = {}
    try:
        procs.append(subprocess.Popen([sys.executable, "-m", "interlock", "mock-llm", "--port", str(mock_port)],
                                      env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        wait_http(f"http://127.0.0.1:{mock_port}/healthz")
        targets: list[tuple[str, str, str | None, Path]] = [
            ("direct", f"http://127.0.0.1:{mock_port}{PATH}", None, work)]
        pids: dict[str, int] = {}
        for name, version_env in versions.items():
            directory = work / name
            directory.mkdir()
            proc, port, key, _ = start_gateway(directory, 1, mock_port, version_env)
            procs.append(proc)
            pids[name] = proc.pid  # one worker: uvicorn serves in this process
            targets.append((name, f"http://127.0.0.1:{port}{PATH}", key, directory))
        runs = measure(targets, pids, body, args.rounds, args.duration)
    finally:
        for proc in reversed(procs):
            stop(proc)

    pairs = paired(runs, "this", "baseline")

    def added(name: str) -> list[float]:
        return added_p50(runs, name)

    medians = {name: median_run(v) for name, v in runs.items()}
    summary = {"when": time.strftime("%Y-%m-%d %H:%M:%S"), "baseline": args.baseline, "rounds": args.rounds,
               "duration_s": args.duration, "paired": pairs, "added_p50_ms": {n: added(n) for n in versions},
               "cpu_us_per_call": {name: [round(x["cpu_us_per_call"], 1) for x in v]
                                   for name, v in runs.items() if not name.startswith("direct")},
               "raw": medians}

    def per_round(name: str) -> str:
        return " / ".join(f"{x['rps']:.0f}" for x in runs[f"{name}_c16"])

    def cpu(name: str, conc: int) -> str:
        return f"{median([x['cpu_us_per_call'] for x in runs[f'{name}_c{conc}']]):.0f} us"

    REPORTS.mkdir(exist_ok=True)
    (REPORTS / "gateway_ab.json").write_text(json.dumps(summary, indent=2) + "\n")
    md = [
        f"# Chat path: this tree against {args.baseline}, same run",
        "",
        f"Run {summary['when']}; {args.rounds} interleaved rounds of {args.duration} s per target, one worker each.",
        "",
        "| measure | baseline | this |",
        "|---|---|---|",
        f"| added p50, concurrency 1 (median of rounds) | {median(added('baseline')):.3f} ms | "
        f"{median(added('this')):.3f} ms |",
        f"| added p50 per round | {' / '.join(f'{x:.2f}' for x in added('baseline'))} | "
        f"{' / '.join(f'{x:.2f}' for x in added('this'))} |",
        f"| throughput, concurrency 16 (median) | {medians['baseline_c16']['rps']:.0f} req/s | "
        f"{medians['this_c16']['rps']:.0f} req/s |",
        f"| throughput per round | {per_round('baseline')} | {per_round('this')} |",
        f"| gateway CPU time per call, concurrency 1 (median) | {cpu('baseline', 1)} | {cpu('this', 1)} |",
        f"| gateway CPU time per call, concurrency 16 (median) | {cpu('baseline', 16)} | {cpu('this', 16)} |",
        "",
        f"Paired by round: this tree's added p50 minus the baseline's, median **{pairs['added_p50_ms_difference']:+.3f} "
        f"ms**; its throughput over the baseline's, median **{pairs['throughput_ratio_c16']:.3f}**; its CPU time "
        f"per call over the baseline's, median **{pairs['cpu_per_call_ratio_c1']:.3f}** at concurrency 1 and "
        f"**{pairs['cpu_per_call_ratio_c16']:.3f}** at 16.",
        "",
        "CPU time per call is the gateway process's own user and system time over the calls it served: other "
        "load on a shared machine stretches latency and cuts throughput, but adds little to it.",
        "",
    ]
    (REPORTS / "gateway_ab.md").write_text("\n".join(md))
    print("\n".join(md))


if __name__ == "__main__":
    main()
