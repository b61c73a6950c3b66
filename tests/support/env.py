"""The environment a child process gets: the test's own, minus any Interlock setting from outside."""

from __future__ import annotations

import os


def clean_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """``os.environ`` without INTERLOCK_* (and a multi-process metrics directory), plus ``extra``."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("INTERLOCK_") and k != "PROMETHEUS_MULTIPROC_DIR"}
    env["PYTHONUNBUFFERED"] = "1"
    if extra:
        env.update(extra)
    return env
