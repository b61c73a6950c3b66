"""The ``interlock`` command: in this process through click (fast), or as a child process (as a user runs it)."""

from __future__ import annotations

import asyncio
import concurrent.futures
import os
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from support.app import cli_main
from support.env import clean_env


@dataclass(frozen=True)
class CliResult:
    exit_code: int
    stdout: str
    stderr: str


def run_cli(argv: Sequence[str], *, env: dict[str, str] | None = None, cwd: Path | None = None) -> CliResult:
    """The ``interlock`` command run in this process (in a helper thread if an event loop runs here)."""
    from click.testing import CliRunner

    def invoke() -> CliResult:
        previous = Path.cwd()
        if cwd is not None:
            os.chdir(cwd)
        try:
            r = CliRunner().invoke(cli_main(), list(argv), env=env, catch_exceptions=False)
        finally:
            os.chdir(previous)
        return CliResult(r.exit_code, r.stdout, r.stderr)

    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return invoke()
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(invoke).result()


def run_cli_process(argv: Sequence[str], *, env: dict[str, str] | None = None,
                    cwd: Path | None = None, timeout: float = 60) -> CliResult:
    """``python -m interlock <argv>`` as a child process."""
    done = subprocess.run([sys.executable, "-m", "interlock", *argv], capture_output=True, text=True,
                          env=clean_env(env), timeout=timeout, cwd=cwd)
    return CliResult(done.returncode, done.stdout, done.stderr)
