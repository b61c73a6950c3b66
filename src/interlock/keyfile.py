"""Secrets that live in a file the gateway may create on first start (mode 0600, created exactly once)."""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from pathlib import Path

log = logging.getLogger("interlock")


def load_or_create(path: Path, generate: Callable[[], bytes], what: str) -> bytes:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        pass
    data = generate()
    try:
        # O_EXCL: when several workers start at once, exactly one writes the file and the rest read it.
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_bytes()
    with os.fdopen(fd, "wb") as f:
        f.write(data)
    log.warning("created a new %s at %s; back it up and give every instance the same one", what, path)
    return data
