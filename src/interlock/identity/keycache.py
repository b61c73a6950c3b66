"""Key records cached per instance, with revocation seen on the next call on every instance.

A revocation bumps a counter (the key epoch) in the store, in the same transaction as the revoke. Every
call reads the epoch; when it moved, the cache is dropped. That read is one round trip however many
calls share it: calls that arrive while no read has been sent yet wait for the same read, and a read is
only ever shared by calls that arrived before it was sent, so a call never trusts an epoch read before
it began (a revoke that completed before a call started is always seen by that call). When the epoch
cannot be read, the call is refused (the caller turns the error into a 503): a cached record is never
used on an epoch it cannot check.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from interlock.identity.keys import ApiKeyRecord

KeyLookup = Callable[[str], Awaitable[ApiKeyRecord | None]]
EpochReader = Callable[[], Awaitable[int]]


class SharedRead:
    """One read of the epoch for every call that arrived before it was sent."""

    def __init__(self, read: EpochReader) -> None:
        self._read = read
        # The read calls may still join: scheduled, not sent yet.
        self._pending: asyncio.Future[int] | None = None
        self.reads = 0

    def get(self) -> asyncio.Future[int]:
        if self._pending is None:
            loop = asyncio.get_running_loop()
            self._pending = fut = loop.create_future()
            loop.call_soon(self._send, fut)
            return fut
        return self._pending

    def _send(self, fut: asyncio.Future[int]) -> None:
        self._pending = None  # calls from now on join the next read
        self.reads += 1
        task = asyncio.ensure_future(self._read())

        def done(t: asyncio.Future[int]) -> None:
            if fut.done():
                return
            if t.cancelled():
                fut.set_exception(RuntimeError("the key epoch read was cancelled"))
            elif t.exception() is not None:
                fut.set_exception(t.exception())  # type: ignore[arg-type]
            else:
                fut.set_result(t.result())

        task.add_done_callback(done)


class CachedKeys:
    """``key_by_prefix`` with a per-instance cache checked against the store's key epoch on every call."""

    def __init__(self, lookup: KeyLookup, read_epoch: EpochReader, *, max_entries: int = 10_000) -> None:
        self._lookup = lookup
        self._epoch = SharedRead(read_epoch)
        self._max = max_entries
        self._seen = -1
        self._cache: dict[str, ApiKeyRecord] = {}

    @property
    def epoch_reads(self) -> int:
        return self._epoch.reads

    async def __call__(self, prefix: str) -> ApiKeyRecord | None:
        fut = self._epoch.get()
        epoch = await asyncio.shield(fut)  # a cancelled call must not fail the others sharing the read
        if epoch != self._seen:
            if epoch < self._seen:
                return await self._lookup(prefix)  # an older read finishing late: trust none of the cache
            self._cache.clear()
            self._seen = epoch
        found = self._cache.get(prefix)
        if found is not None:
            return found
        record = await self._lookup(prefix)
        # Only records found: a key created later must be found at once, so absences are not cached. A
        # record read under this epoch is at least as new as the epoch; a revoke after it bumps the epoch.
        if record is not None and epoch == self._seen:
            if len(self._cache) >= self._max:
                self._cache.clear()
            self._cache[prefix] = record
        return record
