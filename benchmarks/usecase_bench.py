"""The chat path with and without use cases, side by side in one run.

Two gateways of this tree (one worker each, their own SQLite store, durable audit records, the built-in
policies) sit in front of one mock upstream: one without ``use_cases``, one whose caller is bound to a
pilot use case by its manifest (so every call runs the ``use_case`` stage and Cedar sees
``context.use_case``). They are measured in interleaved rounds with wrk, direct calls to the mock
included; per round, each gateway's added p50 at concurrency 1 (over the direct one of the same round)
and its throughput at concurrency 16 are paired with the other's. Writes
benchmarks/reports/usecases.md and usecases.json.

    python benchmarks/usecase_bench.py [--rounds 4] [--duration 4]

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
from pathlib import Path
from typing import Any

from gateway_ab import added_p50, measure, median, paired
from gateway_bench import PROMPT, REPORTS, free_port, start_gateway, stop, wait_http

PATH = "/v1/chat/completions"
MANIFEST = """\
name: bench
purpose: The benchmark's caller, bound to this use case by its principal id.
owner: {name: Bench, email: bench@example.com}
applications: [bench]
models: [mock]
state: pilot
"""


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rounds", type=int, default=4)
    ap.add_argument("--duration", type=int, default=4, help="seconds per measured run")
    args = ap.parse_args()
    if shutil.which("wrk") is None:
        sys.exit("wrk is not installed (Debian: apt-get install wrk)")
    work = Path(tempfile.mkdtemp(prefix="interlock-usecases-"))
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    body = json.dumps({"model": "mock", "messages": [
        {"role": "system", "content": "You are a concise assistant for the billing team."},
        {"role": "user", "content": PROMPT}]})
    mock_port = free_port()
    procs: list[subprocess.Popen[bytes]] = []
    runs: dict[str, list[dict[str, Any]]] = {}
    pids: dict[str, int] = {}
    try:
        procs.append(subprocess.Popen([sys.executable, "-m", "interlock", "mock-llm", "--port", str(mock_port)],
                                      env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        wait_http(f"http://127.0.0.1:{mock_port}/healthz")
        targets: list[tuple[str, str, str | None, Path]] = [
            ("direct", f"http://127.0.0.1:{mock_port}{PATH}", None, work)]
        for name in ("without", "with"):
            directory = work / name
            (directory / "usecases").mkdir(parents=True)
            extra = ""
            if name == "with":
                (directory / "usecases" / "bench.yaml").write_text(MANIFEST)
                extra = f"use_cases: {{dir: '{directory / 'usecases'}'}}\n"
            proc, port, key, _ = start_gateway(directory, 1, mock_port, env, extra=extra)
            procs.append(proc)
            pids[name] = proc.pid
            targets.append((name, f"http://127.0.0.1:{port}{PATH}", key, directory))
        runs = measure(targets, pids, body, args.rounds, args.duration)
    finally:
        for proc in reversed(procs):
            stop(proc)

    paired_ = paired(runs, "with", "without")

    def added(name: str) -> list[float]:
        return added_p50(runs, name)

    summary = {"when": time.strftime("%Y-%m-%d %H:%M:%S"), "rounds": args.rounds, "duration_s": args.duration,
               "paired": paired_, "added_p50_ms": {n: added(n) for n in ("without", "with")},
               "rps_c16": {n: [round(r["rps"]) for r in runs[f"{n}_c16"]] for n in ("without", "with")}}
    REPORTS.mkdir(exist_ok=True)
    (REPORTS / "usecases.json").write_text(json.dumps(summary, indent=2) + "\n")
    md = [
        "# Chat path with and without use cases, same run",
        "",
        f"Run {summary['when']}; {args.rounds} interleaved rounds of {args.duration} s per target, one worker each.",
        "",
        "| measure | without use cases | a pilot use case bound to the caller |",
        "|---|---|---|",
        f"| added p50, concurrency 1 (median of rounds) | {median(added('without')):.3f} ms | "
        f"{median(added('with')):.3f} ms |",
        f"| added p50 per round | {' / '.join(f'{x:.2f}' for x in added('without'))} | "
        f"{' / '.join(f'{x:.2f}' for x in added('with'))} |",
        f"| throughput per round, concurrency 16 | {' / '.join(map(str, summary['rps_c16']['without']))} | "
        f"{' / '.join(map(str, summary['rps_c16']['with']))} |",
        "",
        f"Paired by round: the use case's added p50 minus the plain gateway's, median "
        f"**{paired_['added_p50_ms_difference']:+.3f} ms**; throughput with over without, median "
        f"**{paired_['throughput_ratio_c16']:.3f}**; CPU time per call with over without at concurrency 16, median "
        f"**{paired_['cpu_per_call_ratio_c16']:.3f}**.",
        "",
        "Without `use_cases` the `use_case` stage is not in the pipeline and Cedar's context has no `use_case`: "
        "such calls run exactly the stages they ran before (see gateway_ab.md for this tree against its "
        "baseline).",
        "",
    ]
    (REPORTS / "usecases.md").write_text("\n".join(md))
    print("\n".join(md))


if __name__ == "__main__":
    main()
