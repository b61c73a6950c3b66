"""CPU time per call that budgets and rate limits add, measured in one process: the chat path of the ASGI
app called directly (no HTTP server, no client in front of it), in front of a mock upstream in a child
process, with no usage limits (off), with them counted in Redis, and with them counted in SQLite.

Each configuration serves ``--calls`` calls, one at a time, in interleaved rounds; the figure is the
process's own CPU time (``time.process_time``) over those calls, which another process's load on the machine
stretches far less than wall-clock time. ``--profile NAME`` instead runs that configuration under cProfile
and prints the functions by cumulative time (``PROFILE_FILTER``, a regular expression on their file and
name, keeps some: ``PROFILE_FILTER='usage|meter|resp'``). cProfile times are wall-clock and inflated by the
profiler; its call counts are exact.

    python benchmarks/usage_cpu.py [--calls 2000] [--rounds 3] [--profile redis]
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import json
import os
import pstats
import secrets
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from gateway_ab import median
from gateway_bench import PROMPT, free_port, stop, wait_http
from usage_ab import LIMITS, configure

from interlock.api.app import build_app
from interlock.settings import load_settings


class Asgi:
    """The app, started (its lifespan run) and called directly with one request at a time."""

    def __init__(self, app: Any, key: str, body: bytes) -> None:
        self.app = app
        self.headers = [(b"host", b"bench"), (b"content-type", b"application/json"),
                        (b"authorization", f"Bearer {key}".encode()), (b"content-length", str(len(body)).encode())]
        self.body = body
        self._lifespan: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self._lifespan_out: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._task = asyncio.ensure_future(self.app({"type": "lifespan", "asgi": {"version": "3.0"}},
                                                    self._lifespan.get, self._lifespan_out.put))
        await self._lifespan.put({"type": "lifespan.startup"})
        msg = await self._lifespan_out.get()
        if msg["type"] != "lifespan.startup.complete":
            raise RuntimeError(f"startup failed: {msg}")

    async def stop(self) -> None:
        await self._lifespan.put({"type": "lifespan.shutdown"})
        await self._lifespan_out.get()
        assert self._task is not None
        await self._task

    async def call(self) -> None:
        scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST",
                 "scheme": "http", "path": "/v1/chat/completions", "raw_path": b"/v1/chat/completions",
                 "query_string": b"", "root_path": "", "headers": self.headers, "client": ("127.0.0.1", 1),
                 "server": ("127.0.0.1", 80)}
        sent = False
        status = 0

        async def receive() -> dict[str, Any]:
            nonlocal sent
            if sent:
                await asyncio.sleep(3600)
            sent = True
            return {"type": "http.request", "body": self.body, "more_body": False}

        async def send(msg: dict[str, Any]) -> None:
            nonlocal status
            if msg["type"] == "http.response.start":
                status = msg["status"]

        await self.app(scope, receive, send)
        if status != 200:
            raise RuntimeError(f"answered {status}")


async def run(configs: dict[str, tuple[Path, str]], body: bytes, calls: int, rounds: int,
              profile: str | None) -> dict[str, list[float]]:
    apps = {}
    for name, (config, key) in configs.items():
        apps[name] = Asgi(build_app(load_settings(config)), key, body)
        await apps[name].start()
    try:
        for app in apps.values():
            for _ in range(200):  # warm-up
                await app.call()
        if profile is not None:
            profiler = cProfile.Profile()
            profiler.enable()
            for _ in range(calls):
                await apps[profile].call()
            profiler.disable()
            pstats.Stats(profiler).sort_stats("cumulative").print_stats(os.environ.get("PROFILE_FILTER", ""), 60)
            return {}
        out: dict[str, list[float]] = {name: [] for name in apps}
        for _ in range(rounds):
            for name, app in apps.items():
                started = time.process_time()
                for _ in range(calls):
                    await app.call()
                out[name].append((time.process_time() - started) / calls * 1e6)
        return out
    finally:
        for app in apps.values():
            await app.stop()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--calls", type=int, default=2000)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--redis", default="redis://127.0.0.1:6379/0")
    ap.add_argument("--profile", choices=("off", "redis", "sqlite"))
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="interlock-usage-cpu-"))
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    prefix = "benchcpu" + secrets.token_hex(4)
    body = json.dumps({"model": "mock", "max_tokens": 256, "messages": [
        {"role": "system", "content": "You are a concise assistant for the billing team."},
        {"role": "user", "content": PROMPT}]}).encode()
    mock_port = free_port()
    mock = subprocess.Popen([sys.executable, "-m", "interlock", "mock-llm", "--port", str(mock_port)],
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_http(f"http://127.0.0.1:{mock_port}/healthz")
        limits = {"off": "", "redis": LIMITS.format(url=args.redis, prefix=prefix),
                  "sqlite": LIMITS.format(url=f"sqlite:///{work / 'usage.db'}", prefix=prefix)}
        if args.profile is not None:
            limits = {args.profile: limits[args.profile]}
        configs = {name: configure(work, name, mock_port, text, env) for name, text in limits.items()}
        result = asyncio.run(run(configs, body, args.calls, args.rounds, args.profile))
    finally:
        stop(mock)
    if result:
        off = median(result["off"])
        print(f"CPU per call, {args.calls} calls x {args.rounds} rounds (load {os.getloadavg()[0]:.1f}):")
        for name, values in result.items():
            m = median(values)
            print(f"  {name:7s} {m:7.0f} us  ({' / '.join(f'{v:.0f}' for v in values)})"
                  + ("" if name == "off" else f"  +{m - off:.0f} us over off ({m / off:.3f}x)"))


if __name__ == "__main__":
    main()
