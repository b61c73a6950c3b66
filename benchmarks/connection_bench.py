"""What the read deadlines and the connection cap cost per request, side by side in one run.

One small ASGI app (reads the request body through ``interlock.api.asgi.read_request_body``, answers a
few bytes) served by uvicorn with uvloop twice: with uvicorn's own httptools protocol, and with
``interlock.server``'s (the header and body deadlines, the header byte count, the connection cap,
and the app's read under the deadline). The two servers run in turn, several rounds, under the same
load from wrk (a C program); the difference is the protocol's cost, without the gateway's pipeline
around it. Writes benchmarks/reports/connection.md and connection.json.

    python benchmarks/connection_bench.py [--duration 5] [--rounds 3]

Needs ``wrk`` on the PATH (Debian: ``apt-get install wrk``).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

from gateway_bench import free_port

HERE = Path(__file__).resolve().parent
REPORTS = HERE / "reports"
BODY = json.dumps({"model": "mock", "messages": [{"role": "user", "content": "hello " * 40}]})

WRK_SCRIPT = """
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = [[%(body)s]]
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format('RESULT {"requests":%%d,"duration_us":%%d,"errors":%%d,"non2xx":%%d,' ..
    '"p50_us":%%d,"p99_us":%%d}\\n', summary.requests, summary.duration,
    e.connect + e.read + e.write + e.timeout, e.status, latency:percentile(50), latency:percentile(99)))
end
"""

SERVERS = ("uvicorn httptools", "interlock.server")


def serve(kind: str, port: int) -> None:
    """The server process: one of the two protocols in front of the same app."""
    import uvicorn

    from interlock.api.asgi import read_request_body, send_json
    from interlock.server import ConnectionLimits, protocol_factory

    async def app(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        body = await read_request_body(scope, receive, 1 << 20)
        await send_json(send, 200, {"bytes": len(body)})

    http: Any = "httptools" if kind == SERVERS[0] else protocol_factory(ConnectionLimits(
        header_timeout=10.0, body_timeout=30.0, max_connections=1024, max_header_bytes=64 * 1024))
    uvicorn.run(app, host="127.0.0.1", port=port, loop="uvloop", http=http, lifespan="off",
                log_level="warning", access_log=False)


def wait_http(url: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            req = urllib.request.Request(url, data=b"{}", method="POST")
            with urllib.request.urlopen(req, timeout=1) as r:
                if r.status == 200:
                    return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"{url} did not become ready")


def wrk(url: str, connections: int, duration: int, script: Path) -> dict[str, Any]:
    threads = 1 if connections == 1 else 2
    out = subprocess.run(["wrk", "-t", str(threads), "-c", str(connections), "-d", f"{duration}s", "--latency",
                          "-s", str(script), url], capture_output=True, text=True, check=True).stdout
    line = next(x for x in out.splitlines() if x.startswith("RESULT "))
    result: dict[str, Any] = json.loads(line[len("RESULT "):])
    if result["errors"] or result["non2xx"]:
        raise RuntimeError(f"load run had failures: {result}")
    result["rps"] = result["requests"] / (result["duration_us"] / 1e6)
    return result


def measure(duration: int, rounds: int) -> dict[str, Any]:
    runs: dict[str, dict[str, list[dict[str, Any]]]] = {k: {"c1": [], "c16": []} for k in SERVERS}
    with tempfile.TemporaryDirectory() as tmp:
        script = Path(tmp) / "post.lua"
        script.write_text(WRK_SCRIPT % {"body": BODY})
        for _ in range(rounds):
            for kind in SERVERS:
                port = free_port()
                proc = subprocess.Popen([sys.executable, __file__, "--serve", kind, "--port", str(port)])
                try:
                    url = f"http://127.0.0.1:{port}/"
                    wait_http(url)
                    wrk(url, 16, 1, script)  # warm-up
                    runs[kind]["c1"].append(wrk(url, 1, duration, script))
                    runs[kind]["c16"].append(wrk(url, 16, duration, script))
                finally:
                    proc.terminate()
                    proc.wait(30)
    summary: dict[str, Any] = {}
    for kind in SERVERS:
        c1, c16 = runs[kind]["c1"], runs[kind]["c16"]
        summary[kind] = {
            "p50_us_c1": statistics.median(r["p50_us"] for r in c1),
            "p99_us_c1": statistics.median(r["p99_us"] for r in c1),
            "rps_c16": statistics.median(r["rps"] for r in c16),
            "rps_c16_rounds": [round(r["rps"]) for r in c16],
        }
    return {"runs": runs, "summary": summary}


def report(result: dict[str, Any], duration: int, rounds: int) -> str:
    s = result["summary"]
    stock, guarded = s[SERVERS[0]], s[SERVERS[1]]
    lines = [
        "# Connection protocol cost",
        "",
        "The same small ASGI app (reads a 300-byte JSON body, answers a few bytes) behind uvicorn's httptools "
        "protocol and behind `interlock.server` (read deadlines, header byte count, connection cap, the body "
        "read under its deadline), uvloop, one worker, wrk posting from the same machine. Medians of "
        f"{rounds} rounds of {duration} s each, the two servers in turn.",
        "",
        f"Machine: {platform.machine()}, {os.cpu_count()} cores (shared with other work while this ran), "
        f"Python {platform.python_version()}.",
        "",
        "| | uvicorn httptools | interlock.server | difference |",
        "|---|---|---|---|",
        f"| p50 latency, concurrency 1 | {stock['p50_us_c1']:.0f} us | {guarded['p50_us_c1']:.0f} us | "
        f"{guarded['p50_us_c1'] - stock['p50_us_c1']:+.0f} us |",
        f"| p99 latency, concurrency 1 | {stock['p99_us_c1']:.0f} us | {guarded['p99_us_c1']:.0f} us | "
        f"{guarded['p99_us_c1'] - stock['p99_us_c1']:+.0f} us |",
        f"| requests/s, concurrency 16 | {stock['rps_c16']:.0f} | {guarded['rps_c16']:.0f} | "
        f"{(guarded['rps_c16'] / stock['rps_c16'] - 1) * 100:+.1f}% |",
        "",
        f"Requests/s per round, concurrency 16: uvicorn httptools {stock['rps_c16_rounds']}, "
        f"interlock.server {guarded['rps_c16_rounds']}.",
        "",
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=int, default=5)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--serve", choices=SERVERS)
    parser.add_argument("--port", type=int)
    args = parser.parse_args()
    if args.serve:
        serve(args.serve, args.port)
        return
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is needed on the PATH (Debian: apt-get install wrk)")
    result = measure(args.duration, args.rounds)
    REPORTS.mkdir(exist_ok=True)
    (REPORTS / "connection.json").write_text(json.dumps(result, indent=2) + "\n")
    text = report(result, args.duration, args.rounds)
    (REPORTS / "connection.md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
