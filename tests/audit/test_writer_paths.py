"""Where the audit writer makes an append on SQLite: on the loop, waiting for the disk there, when the
batch is all that is under way; rows on the loop and the COMMIT in a thread while other calls are."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from pathlib import Path

from interlock.audit.writer import AuditWriter
from interlock.settings import StoreSettings
from interlock.store.base import ApprovalConflict, ApprovalRow, ApprovalWrite, LogEntry, RecordQuery
from interlock.store.sqlite import SqliteStore


class RecordingStore(SqliteStore):
    """The real store, noting which way each append went."""

    def __init__(self, path: Path) -> None:
        super().__init__(StoreSettings(url=f"sqlite:///{path}"))
        self.paths: list[tuple[str, int]] = []

    def append_entries_now(self, entries: Sequence[LogEntry]) -> int | None:
        first = super().append_entries_now(entries)
        if first is not None:
            self.paths.append(("loop", len(entries)))
        return first

    def start_append(self, entries: Sequence[LogEntry]) -> asyncio.Future[int] | None:
        started = super().start_append(entries)
        if started is not None:
            self.paths.append(("loop+sync thread", len(entries)))
        return started

    async def append_entries(self, entries: Sequence[LogEntry]) -> int:
        self.paths.append(("writer thread", len(entries)))
        return await super().append_entries(entries)


async def logged_ids(path: Path) -> list[str]:
    """The request ids in the log, oldest first, read back from the file by a store opened afresh."""
    reopened = SqliteStore(StoreSettings(url=f"sqlite:///{path}"))
    await reopened.open()
    try:
        rows = await reopened.query_records(RecordQuery(limit=10, newest_first=False))
    finally:
        await reopened.close()
    return [str(r["request_id"]) for _, r in rows]


def record(n: int) -> dict[str, object]:
    return {"request_id": f"req_{n}", "time": 1000.0 + n, "tenant": "t", "status": 200}


async def test_a_lone_call_commits_on_the_loop_and_busy_ones_hand_off_the_wait(tmp_path: Path) -> None:
    store = RecordingStore(tmp_path / "paths.db")
    await store.open()
    writer = AuditWriter(store, window_ms=0, batch_max=1024, timeout_seconds=30, commit_on_loop=True)
    await writer.start()
    try:
        writer.in_flight = 1
        assert await writer.append(record(0)) == 0
        assert store.paths == [("loop", 1)]
        # Other calls under way: the loop must not sit in fsync while they wait for it.
        writer.in_flight = 8
        firsts = await asyncio.gather(*(writer.append(record(n)) for n in range(1, 4)))
        assert sorted(firsts) == [1, 2, 3]
        assert {path for path, _ in store.paths[1:]} == {"loop+sync thread"}
        assert sum(n for _, n in store.paths[1:]) == 3
        # Not on the loop at all when told so.
        off = AuditWriter(store, window_ms=0, batch_max=1024, timeout_seconds=30, commit_on_loop=False)
        await off.start()
        try:
            off.in_flight = 8
            assert await off.append(record(4)) == 4
        finally:
            await off.stop()
        assert store.paths[-1] == ("writer thread", 1)
    finally:
        await writer.stop()
        await store.close()
    assert await logged_ids(tmp_path / "paths.db") == [f"req_{n}" for n in range(5)]


async def test_of_two_changes_to_one_approval_only_the_first_is_written(tmp_path: Path) -> None:
    store = RecordingStore(tmp_path / "approvals.db")
    await store.open()
    writer = AuditWriter(store, window_ms=5, batch_max=1024, timeout_seconds=30, commit_on_loop=True)
    await writer.start()

    def row(version: int, state: str) -> ApprovalRow:
        return ApprovalRow("apr_1", "t", state, "alice", 1.0, 2.0, version, state.encode())

    try:
        assert await writer.append(record(0), approval=ApprovalWrite(row(0, "pending"))) == 0
        # Both read version 0 (queued together, they share a batch): the second finds it changed, and
        # the rest of the batch is written without it.
        results = await asyncio.gather(
            writer.append(record(1), approval=ApprovalWrite(row(1, "approved"), 0)),
            writer.append(record(2), approval=ApprovalWrite(row(1, "rejected"), 0)),
            writer.append(record(3)),
            return_exceptions=True)
        assert results[0] == 1
        assert isinstance(results[1], ApprovalConflict)
        assert results[2] == 2
        assert await store.approval_get("apr_1") == row(1, "approved")
        assert writer.healthy  # a conflict is the caller's answer, not a broken store
    finally:
        await writer.stop()
        await store.close()
    assert await logged_ids(tmp_path / "approvals.db") == ["req_0", "req_1", "req_3"]


async def test_each_durable_commit_is_reported_with_its_time_and_size_and_a_failed_one_is_not(
        tmp_path: Path) -> None:
    store = RecordingStore(tmp_path / "reported.db")
    await store.open()
    commits: list[tuple[float, int]] = []
    writer = AuditWriter(store, window_ms=5, batch_max=1024, timeout_seconds=30, commit_on_loop=True,
                         on_commit=lambda seconds, records: commits.append((seconds, records)))
    await writer.start()
    try:
        await writer.append(record(0))
        await asyncio.gather(*(writer.append(record(n)) for n in range(1, 6)))
        assert sum(n for _, n in commits) == 6
        assert [n for _, n in commits] == [n for _, n in store.paths]
        assert all(seconds > 0 for seconds, _ in commits)
        reported = len(commits)
        # A batch the store cannot write (here, once it is closed) is not reported.
        await store.close()
        [failed] = await asyncio.gather(writer.append(record(6)), return_exceptions=True)
        assert isinstance(failed, Exception)
        assert len(commits) == reported
        assert not writer.healthy
    finally:
        await writer.stop()


async def test_a_failing_commit_observer_does_not_hold_back_a_durable_batch(tmp_path: Path) -> None:
    store = RecordingStore(tmp_path / "observer.db")
    await store.open()

    def broken(seconds: float, records: int) -> None:
        raise RuntimeError("observer bug")

    writer = AuditWriter(store, window_ms=0, batch_max=1024, timeout_seconds=5, commit_on_loop=True,
                         on_commit=broken)
    await writer.start()
    try:
        assert await writer.append(record(0)) == 0
        assert await writer.append(record(1)) == 1
        assert writer.healthy
    finally:
        await writer.stop()
        await store.close()
    assert await logged_ids(tmp_path / "observer.db") == ["req_0", "req_1"]
