"""Servers in child processes: start, wait until ready, stop gracefully or kill.

A process is for what an in-process app cannot show: several workers, signals, crashes, outages and the
``interlock`` command as a user runs it. Each child runs in its own session (process group), so a kill
takes its workers with it, and writes its output to a log file that errors quote.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import httpx

from support.env import clean_env

# uvicorn re-raises SIGTERM after its graceful shutdown, so a clean stop may report -15.
GRACEFUL_EXIT = (0, -signal.SIGTERM)


def serve_args(config: Path | None, port: int, workers: int = 1) -> list[str]:
    """``python -m interlock serve`` on a settings file (or the embedded defaults) and a port."""
    args = [sys.executable, "-m", "interlock", "serve"]
    if config is not None:
        args += ["--config", str(config)]
    args += ["--port", str(port)]
    if workers != 1:
        args += ["--workers", str(workers)]
    return args


def wait_until(predicate: Callable[[], bool], timeout: float = 10.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} did not happen within {timeout} s")
        time.sleep(0.01)


def wait_until_ready(proc: subprocess.Popen[bytes], url: str, timeout: float, log: Callable[[], str],
                     path: str = "/readyz", ready: Callable[[httpx.Response], bool] | None = None) -> None:
    """Poll ``url + path`` until it answers (200, or what ``ready`` accepts); raise with the server's log
    if the process exits or never gets ready."""
    accept = ready or (lambda r: r.status_code == 200)
    deadline = time.monotonic() + timeout
    last = ""
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{proc.args!r} exited with {proc.returncode}:\n{log()}")
        try:
            r = httpx.get(url + path, timeout=2)
            if accept(r):
                return
            last = r.text
        except httpx.TransportError as exc:
            last = repr(exc)
        time.sleep(0.05)
    raise RuntimeError(f"{proc.args!r} was not ready within {timeout} s ({last}):\n{log()}")


@dataclass
class ServerProcess:
    """One server in a child process of its own session, logging to ``log_path``."""

    args: Sequence[str]
    log_path: Path
    cwd: Path
    env: dict[str, str] | None = None
    proc: subprocess.Popen[bytes] | None = None

    def log(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace") if self.log_path.exists() else ""

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def start(self) -> None:
        with self.log_path.open("ab") as log:
            self.proc = subprocess.Popen(list(self.args), stdout=log, stderr=subprocess.STDOUT, cwd=self.cwd,
                                         env=clean_env(self.env), start_new_session=True)

    def wait_ready(self, url: str, timeout: float = 30.0, path: str = "/readyz",
                   ready: Callable[[httpx.Response], bool] | None = None) -> None:
        """Wait for the server; one that never gets ready is killed before the error is raised."""
        assert self.proc is not None
        try:
            wait_until_ready(self.proc, url, timeout, self.log, path, ready)
        except RuntimeError:
            self.kill()
            raise

    def terminate(self, timeout: float = 20.0) -> int:
        """SIGTERM, then wait for a graceful exit; returns the exit code."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            raise RuntimeError(f"{self.args!r} did not stop on SIGTERM:\n{self.log()}") from None

    def kill(self) -> None:
        """SIGKILL the whole process group: no shutdown hook runs."""
        if self.running:
            assert self.proc is not None
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=30)

    def stop(self, timeout: float = 20.0) -> int | None:
        """Terminate if still running; the exit code, or None if it never started."""
        if self.proc is None:
            return None
        if self.proc.poll() is not None:
            return self.proc.returncode
        return self.terminate(timeout)
