"""Hot reload: each worker notices a changed policy directory and swaps in the new set atomically.

Polling a fingerprint of the directory (names, sizes, modification times) every few seconds works
the same for every worker and every instance sharing the files, with no signal plumbing. A set that
fails to load is rejected and the running one stays; the error is kept for ``/admin/policy``.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
from pathlib import Path

from interlock.policy.holder import PolicyHolder
from interlock.policy.source import PolicyLoadError
from interlock.tasks import cancel_and_wait

log = logging.getLogger("interlock.policy")


def fingerprint(directory: Path) -> str:
    h = hashlib.sha256()
    try:
        entries = sorted(p for p in directory.rglob("*") if p.suffix in (".cedar", ".yaml", ".cedarschema"))
    except OSError:
        return ""
    for path in entries:
        try:
            st = path.stat()
        except OSError:
            continue
        h.update(f"{path}\0{st.st_size}\0{st.st_mtime_ns}\n".encode())
    return h.hexdigest()


class PolicyWatcher:
    def __init__(self, holder: PolicyHolder, directory: Path, interval_seconds: float, label: str = "policy") -> None:
        self.holder = holder
        self.directory = directory
        self.interval = interval_seconds
        self.label = label
        self.last_error = ""
        self.last_reload = time.time()
        self._seen = fingerprint(directory)
        self._task: asyncio.Task[None] | None = None

    def reload(self) -> str:
        """Reload now; returns the version in force (the old one if the new set does not load)."""
        try:
            engine = self.holder.reload()
        except PolicyLoadError as exc:
            self.last_error = "; ".join(exc.problems)
            log.error("%s set in %s rejected, keeping version %s: %s", self.label, self.directory,
                      self.holder.version, self.last_error)
            return self.holder.version
        except Exception as exc:
            # Anything else is a failed reload too: the running set stays, and watching goes on.
            self.last_error = f"{self.directory}: the set could not be loaded: {type(exc).__name__}: {exc}"
            log.exception("%s set in %s rejected, keeping version %s", self.label, self.directory,
                          self.holder.version)
            return self.holder.version
        self.last_error = ""
        self.last_reload = time.time()
        log.warning("%s set reloaded from %s: version %s", self.label, self.directory, engine.version)
        return engine.version

    async def start(self) -> None:
        if self.interval > 0:
            self._task = asyncio.create_task(self._poll(), name=f"interlock-{self.label}-watch")

    async def stop(self) -> None:
        await cancel_and_wait(self._task)
        self._task = None

    async def _poll(self) -> None:
        while True:
            await asyncio.sleep(self.interval)
            current = await asyncio.to_thread(fingerprint, self.directory)
            if current != self._seen:
                self._seen = current
                await asyncio.to_thread(self.reload)
