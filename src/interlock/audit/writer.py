"""Group commit: many calls' records, one durable transaction.

A call awaits ``append``; the drain task gathers every record queued while the previous commit
was on disk and writes them together (on the event loop itself with ``commit_on_loop``, when the
store can: measured on SQLite, the thread hand-offs and GIL contention of a writer thread cost more
CPU per call than the loop loses waiting for the disk). Under load that amortises the fsync across
many calls; idle, a lone record commits at once. A failed write fails every call in the batch (fail closed),
and ``healthy`` turns false until a write succeeds again, which ``/readyz`` reports. Meanwhile the
writer probes the store (an append rolled back) now and then, so readiness comes back once the store
is repaired even if no call arrives: a load balancer sends none to an instance that is not ready.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import Any

from interlock.audit.canonical import canonical_json, payload_hash
from interlock.errors import InternalFailure, Refusal, ServiceUnavailable
from interlock.merkle.tree import leaf_hash
from interlock.store.base import ApprovalConflict, ApprovalWrite, LogEntry, Store
from interlock.tasks import cancel_and_wait

log = logging.getLogger("interlock.audit")

_PROBE_FIRST_SECONDS = 0.5
_PROBE_MAX_SECONDS = 5.0
# A payload larger than this (characters of text, then bytes encoded) is encoded and hashed on a thread,
# and its batch written by the store's writer thread: with a 5 MB payload, making the record took 34 ms of
# the event loop's CPU (the findings counted twice, the payload encoded and hashed) and SQLite's copy 11 ms.
LARGE_PAYLOAD = 64 * 1024


def entry_for(record: dict[str, Any], payload: dict[str, Any] | None = None,
              payload_expires: float | None = None, approval: ApprovalWrite | None = None) -> LogEntry:
    """The log entry for a record; a payload is stored apart and the record commits to its hash. An
    approval change the record is the record of is stored in the same transaction."""
    body = digest = None
    if payload is not None:
        body = canonical_json(payload)
        digest = payload_hash(body)
        record["payload_hash"] = digest.hex()
    canonical = canonical_json(record)
    return LogEntry(
        request_id=str(record["request_id"]),
        ts=float(record["time"]),
        tenant=record.get("tenant"),
        principal=record.get("principal"),
        model=record.get("model"),
        status=int(record.get("status", 0)),
        refusal_code=record.get("refusal_code"),
        leaf_hash=leaf_hash(canonical),
        record=canonical,
        payload_hash=digest,
        payload=body,
        payload_expires=payload_expires,
        approval=approval,
    )


class AuditWriter:
    def __init__(self, store: Store, *, window_ms: float, batch_max: int, timeout_seconds: float,
                 payload_retention_seconds: float = 0.0, commit_on_loop: bool = False,
                 on_commit: Callable[[float, int], None] | None = None) -> None:
        self._store = store
        # Told of every durable commit, on the loop: how long it took (seconds) and how many records it held.
        self._on_commit = on_commit
        self._on_loop = commit_on_loop
        self._retention = payload_retention_seconds
        self._window = window_ms / 1000.0
        self._batch_max = batch_max
        self._timeout = timeout_seconds
        self._queue: asyncio.Queue[tuple[LogEntry, asyncio.Future[int]]] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None
        self._probe: asyncio.Task[None] | None = None
        self._closing = False
        # Calls under way whose records come here (the HTTP layer counts them): with none but the batch
        # being written, an append on the loop waits for the disk there instead of handing the wait off.
        self.in_flight = 0
        self.healthy = True
        self.last_error = ""

    async def start(self) -> None:
        self._task = asyncio.create_task(self._drain(), name="interlock-audit-writer")

    async def stop(self) -> None:
        """Write everything already queued, then stop."""
        self._closing = True
        await cancel_and_wait(self._probe)
        self._probe = None
        if self._task is not None:
            await self._queue.put((_SENTINEL, asyncio.get_running_loop().create_future()))
            await self._task
            self._task = None

    async def record(self, record: dict[str, Any], payload: dict[str, Any] | None) -> Refusal | None:
        """Append a call's record; the refusal to answer with if it could not be made durable, else None."""
        try:
            await self.append(record, payload)
        except Refusal as refusal:
            return refusal
        except Exception:
            request_id = record.get("request_id")
            log.exception("the record of %s could not be written", request_id)
            return InternalFailure(f"The call could not be recorded, so it was refused. "
                                   f"Quote request id {request_id} to your administrator.")
        return None

    async def append(self, record: dict[str, Any], payload: dict[str, Any] | None = None, *,
                     approval: ApprovalWrite | None = None) -> int:
        """Queue a record (and its redacted payload, kept only for the retention period) and return
        its sequence number once it is durable. With ``approval``, that row is stored in the same
        transaction; ``ApprovalConflict`` if it changed meanwhile (then neither is written)."""
        if self._task is None or self._closing:
            raise ServiceUnavailable("The audit log is not accepting records (the gateway is stopping); "
                                     "retry against another instance.")
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[int] = loop.create_future()
        if payload is not None and self._retention <= 0:
            payload = None
        expires = time.time() + self._retention if payload is not None else None
        if payload is not None and larger_than(payload, LARGE_PAYLOAD):
            entry = await asyncio.to_thread(entry_for, record, payload, expires, approval)
        else:
            entry = entry_for(record, payload, expires, approval)
        self._queue.put_nowait((entry, fut))
        # A timer rather than wait_for: no task per call, and the record stays queued either way.
        timer = loop.call_later(self._timeout, _expire, fut)
        try:
            return await fut
        finally:
            timer.cancel()

    async def _drain(self) -> None:
        stop = False
        while not stop:
            first = await self._queue.get()
            batch = [first]
            if self._window > 0:
                await asyncio.sleep(self._window)
            while len(batch) < self._batch_max and not self._queue.empty():
                batch.append(self._queue.get_nowait())
            live = [(e, f) for e, f in batch if e is not _SENTINEL]
            stop = len(live) != len(batch)
            if live:
                await self._commit(live)

    async def _commit(self, batch: list[tuple[LogEntry, asyncio.Future[int]]]) -> None:
        while batch:
            try:
                await self._commit_once(batch)
                return
            except ApprovalConflict as conflict:
                # That entry's approval changed since its caller read it: it alone fails, the rest go again.
                _, fut = batch.pop(conflict.index)
                if not fut.done():
                    fut.set_exception(conflict)

    async def _commit_once(self, batch: list[tuple[LogEntry, asyncio.Future[int]]]) -> None:
        entries = [e for e, _ in batch]
        started = time.perf_counter()
        try:
            # On the loop, if the store can (a local SQLite file not being written by another process
            # right now): no hand-off of the rows to the writer thread, nor GIL contention with it. While
            # other calls are under way, only the wait for the disk is handed off, so the loop serves
            # them meanwhile; otherwise the loop waits itself, sooner back than after a hand-off.
            first: int | None = None
            if self._on_loop and not any(e.payload is not None and len(e.payload) > LARGE_PAYLOAD for e in entries):
                if self.in_flight > len(batch):
                    pending = self._store.start_append(entries)
                    first = await pending if pending is not None else None
                else:
                    first = self._store.append_entries_now(entries)
            if first is None:
                first = await self._store.append_entries(entries)
        except ApprovalConflict:
            raise
        except Exception as exc:
            self.healthy = False
            self.last_error = f"{type(exc).__name__}: {exc}"
            log.error("audit append of %d records failed: %s", len(batch), self.last_error)
            for _, fut in batch:
                if not fut.done():
                    fut.set_exception(ServiceUnavailable(
                        "The audit log could not be written, so the call was refused; check the store."))
            if not self._closing and (self._probe is None or self._probe.done()):
                self._probe = asyncio.create_task(self._recover(), name="interlock-audit-probe")
            return
        self.healthy = True
        if self._on_commit is not None:
            try:
                self._on_commit(time.perf_counter() - started, len(batch))
            except Exception:  # a broken observer must not stop the calls of a durable batch
                log.exception("the audit commit observer failed")
        for i, (_, fut) in enumerate(batch):
            if not fut.done():
                fut.set_result(first + i)

    async def _recover(self) -> None:
        """Until a write succeeds again, check now and then whether the store would accept one."""
        delay = _PROBE_FIRST_SECONDS
        while not self.healthy:
            await asyncio.sleep(delay)
            if self.healthy:
                return
            try:
                await self._store.probe_append()
            except Exception as exc:
                self.last_error = f"{type(exc).__name__}: {exc}"
                delay = min(delay * 2, _PROBE_MAX_SECONDS)
            else:
                self.healthy = True
                log.warning("the audit store accepts writes again")


def larger_than(value: Any, limit: int) -> bool:
    """Whether the strings in a JSON-able value hold more than ``limit`` characters; stops as soon as
    they do, so a small value costs a walk over its few nodes."""
    total = 0
    stack = [value]
    while stack:
        node = stack.pop()
        if isinstance(node, str):
            total += len(node)
            if total > limit:
                return True
        elif isinstance(node, dict):
            stack.extend(node.keys())
            stack.extend(node.values())
        elif isinstance(node, list | tuple):
            stack.extend(node)
    return False


def _expire(fut: asyncio.Future[int]) -> None:
    if not fut.done():
        fut.set_exception(ServiceUnavailable(
            "The audit log could not record this call in time, so it was refused; check the store and retry."))


_SENTINEL = LogEntry("", 0.0, None, None, None, 0, None, b"", b"")
