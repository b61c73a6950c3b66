"""PostgreSQL sequencing and the integrator's lease: holes, gaps, overtaken writers and fencing.

A batch reserves its indexes in a statement of its own, then inserts; these tests make the space
between the two visible: a writer that never inserts (a hole the integrator fills with a signed gap),
a writer that inserts too late (it writes again under a new range), and an integrator that stops
renewing its lease (another takes over, and the old one writes nothing after).
"""

from __future__ import annotations

import asyncio
import hashlib
import signal
import subprocess
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import asyncpg
import pytest

from interlock.audit.gap import gap_entry
from interlock.audit.verify import VerifyReport, verify_log
from interlock.merkle.checkpoint import CheckpointSigner, generate_private_key
from interlock.merkle.tree import MerkleAccumulator
from interlock.settings import StoreSettings
from interlock.store.base import Integration
from interlock.store.postgres import _RESERVE, PostgresStore
from store.test_store_contract import entry
from support.env import clean_env
from support.postgres import create_database, drop_database

SIGNER = CheckpointSigner(generate_private_key(), "interlock-test")


@pytest.fixture
async def pg_url() -> AsyncIterator[str]:
    url = await asyncio.to_thread(create_database)
    try:
        yield url
    finally:
        await asyncio.to_thread(drop_database, url)


async def _opened(url: str) -> PostgresStore:
    store = PostgresStore(StoreSettings(url=url))
    await store.open()
    return store


def _policy(*, gap_timeout: float = 0.3, lease: float = 5.0) -> Integration:
    return Integration(lease_seconds=lease, gap_timeout_seconds=gap_timeout,
                       gap_entry=lambda seq, waited: gap_entry(SIGNER, seq, waited))


def _size(state: tuple[int, bytes] | None) -> int:
    assert state is not None, "this store should hold the integrator's lease"
    return state[0]


async def _integrate_until(store: PostgresStore, size: int, policy: Integration) -> int:
    """Integration rounds, as the integrator runs them, until ``size`` is integrated (or ten seconds)."""
    reached = 0
    for _ in range(200):
        reached = _size(await store.integrate(1000, policy))
        if reached >= size:
            break
        await asyncio.sleep(0.05)
    return reached


async def _until(check: Callable[[], Awaitable[bool]]) -> None:
    for _ in range(200):
        if await check():
            return
        await asyncio.sleep(0.05)
    raise AssertionError("not reached within ten seconds")


async def _report(store: PostgresStore) -> VerifyReport:
    """The log verified as ``audit verify`` does it, against a checkpoint of the integrated tree."""
    rows = await store.log_rows(-1, 100_000)
    size, frontier = await store.frontier()
    root = MerkleAccumulator.from_bytes(frontier).root()
    return verify_log(rows, [SIGNER.sign(size, root, 1.0)], SIGNER.public_key, integrated=(size, root))


async def _verify(store: PostgresStore) -> tuple[list[int], int]:
    report = await _report(store)
    assert report.ok, report.summary()
    assert report.tree_size == (await store.frontier())[0]
    assert report.hole is None
    return report.gaps, report.tree_size


async def test_a_reserved_range_never_written_becomes_a_signed_gap_after_the_timeout(pg_url: str) -> None:
    writer, integrator = await _opened(pg_url), await _opened(pg_url)
    try:
        assert await writer.append_entries([entry("before")]) == 0
        # A writer that reserved three indexes and died before its insert reached the server.
        hole: int = await writer.pool.fetchval(_RESERVE, 3)
        assert hole == 1
        assert await writer.append_entries([entry("after-0"), entry("after-1")]) == 4
        policy = _policy(gap_timeout=0.5)
        # Within the timeout the hole may be a batch still on its way: integration waits there.
        assert _size(await integrator.integrate(1000, policy)) == 1
        assert _size(await integrator.integrate(1000, policy)) == 1
        # Verification meanwhile: the hole past the integrated tree is reported, not taken for a deletion.
        report = await _report(writer)
        assert report.ok, report.summary()
        assert report.hole == (1, 4)
        assert "after seq 1..3, reserved but not written yet" in report.summary()
        await asyncio.sleep(0.6)
        assert await _integrate_until(integrator, 6, policy) == 6
        rows = await writer.log_rows(-1, 100)
        assert [r[1] for r in rows] == ["before", "gap_1", "gap_2", "gap_3", "after-0", "after-1"]
        gaps, size = await _verify(writer)
        assert gaps == [1, 2, 3]
        assert size == 6
        # A forged gap (any record named as one without the log's signature) is a problem, not a gap.
        await writer.pool.execute("UPDATE audit_log SET record = convert_to(replace(convert_from(record, 'UTF8'), "
                                  "'\"waited_seconds\":', '\"waited_seconds\":1'), 'UTF8') WHERE seq = 2")
        rows = await writer.log_rows(-1, 100)
        fixed = [r if r[0] != 2 else (r[0], r[1], hashlib.sha256(b"\x00" + r[3]).digest(), *r[3:]) for r in rows]
        report = verify_log(fixed, [], SIGNER.public_key)
        assert [p.kind for p in report.problems] == ["bad_gap"]
        assert report.problems[0].seq == 2
    finally:
        await writer.close()
        await integrator.close()


async def test_a_writer_slower_than_the_gap_timeout_writes_its_batch_again_under_a_new_range(pg_url: str) -> None:
    writer, integrator = await _opened(pg_url), await _opened(pg_url)
    blocker = await asyncpg.connect(pg_url)
    try:
        assert await writer.append_entries([entry("first")]) == 0
        # Hold the writer between its reservation and its insert: the insert waits for this lock.
        tx = blocker.transaction()
        await tx.start()
        await blocker.execute("LOCK TABLE audit_payload IN SHARE MODE")
        slow = asyncio.create_task(writer.append_entries([entry("slow-0"), entry("slow-1")]))
        await _until(lambda: _at_least(writer, 3))
        policy = _policy(gap_timeout=0.3)
        assert await _integrate_until(integrator, 3, policy) == 3  # the two reserved indexes: now gaps
        assert not slow.done()
        await tx.commit()
        first = await asyncio.wait_for(slow, 10)
        assert first == 3  # its first range was taken by the gaps: written again after them, in full
        assert await _integrate_until(integrator, 5, policy) == 5
        rows = await writer.log_rows(-1, 100)
        assert [r[1] for r in rows] == ["first", "gap_1", "gap_2", "slow-0", "slow-1"]
        assert (await _verify(writer))[0] == [1, 2]
    finally:
        await blocker.close()
        await writer.close()
        await integrator.close()


async def test_a_batch_that_commits_before_the_timeout_is_integrated_in_its_place(pg_url: str) -> None:
    writer, integrator = await _opened(pg_url), await _opened(pg_url)
    blocker = await asyncpg.connect(pg_url)
    try:
        tx = blocker.transaction()
        await tx.start()
        await blocker.execute("LOCK TABLE audit_payload IN SHARE MODE")
        slow = asyncio.create_task(writer.append_entries([entry("slow")]))
        await _until(lambda: _at_least(writer, 1))
        other = await _opened(pg_url)
        try:
            # Another instance's batch, reserved after the slow one and committed before it.
            other_task = asyncio.create_task(other.append_entries([entry("quick")]))
            await asyncio.sleep(0.2)
            policy = _policy(gap_timeout=30)
            assert _size(await integrator.integrate(1000, policy)) == 0  # waits at the hole, folds nothing past it
            await tx.commit()
            assert await asyncio.wait_for(slow, 10) == 0
            assert await asyncio.wait_for(other_task, 10) == 1
        finally:
            await other.close()
        assert await _integrate_until(integrator, 2, policy) == 2
        assert (await _verify(writer))[0] == []
    finally:
        await blocker.close()
        await writer.close()
        await integrator.close()


async def test_an_integrator_that_stops_renewing_is_replaced_and_then_fenced_off(pg_url: str) -> None:
    a, b = await _opened(pg_url), await _opened(pg_url)
    try:
        policy = _policy(lease=0.6)
        await a.append_entries([entry("r0"), entry("r1")])
        assert await a.integrate(1000, policy) is not None
        token_a = a.integrator_token
        assert token_a is not None
        assert await b.integrate(1000, policy) is None  # a holds the lease
        stale = SIGNER.sign(2, MerkleAccumulator.from_bytes((await a.frontier())[1]).root(), 2.0)
        await asyncio.sleep(0.8)  # a is paused: no round renews its lease
        await a.append_entries([entry("r2")])
        assert _size(await b.integrate(1000, policy)) == 3
        assert b.integrator_token == token_a + 1
        # a comes back: its round finds its token gone and writes nothing, nor its signed checkpoint.
        await a.append_entries([entry("r3")])
        await a.add_checkpoint(stale)
        assert await a.checkpoints() == []
        assert await a.integrate(1000, policy) is None
        assert await a.pool.fetchval("SELECT token FROM audit_frontier WHERE id = 1") == token_a + 1
        assert (await a.frontier())[0] == 3
        # The holder's rounds keep its lease, and a graceful release hands it over at once.
        await asyncio.sleep(0.3)
        assert _size(await b.integrate(1000, policy)) == 4
        await asyncio.sleep(0.4)
        assert await a.integrate(1000, policy) is None  # renewed by b's last round, 0.4 s ago
        await b.release_integration()
        assert await a.integrate(1000, policy) is not None
        assert a.integrator_token == token_a + 2
    finally:
        await a.close()
        await b.close()


async def test_a_paused_holder_inside_its_round_loses_the_lease_to_the_server_timeout(pg_url: str) -> None:
    """A holder paused mid-transaction keeps the lease row locked; the server ends that session after a
    lease's time, so the next one takes over rather than waiting behind it."""
    a, b = await _opened(pg_url), await _opened(pg_url)
    try:
        policy = _policy(lease=0.8)
        assert await a.integrate(1000, policy) is not None
        conn = a._integrator
        assert conn is not None
        # What a paused round looks like to the server: a transaction left open holding the lease row.
        await conn.execute("BEGIN")
        await conn.execute("UPDATE audit_integrator SET expires = clock_timestamp() + interval '1 hour' "
                           "WHERE id = 1")
        await asyncio.sleep(1.2)
        await _until(lambda: _takes_over(b, policy))
        assert b.integrator_token is not None
        assert conn.is_closed() or not await _still_usable(conn)
    finally:
        await a.close()
        await b.close()


async def _still_usable(conn: asyncpg.Connection) -> bool:
    try:
        await conn.fetchval("SELECT 1")
    except (asyncpg.PostgresError, asyncpg.InterfaceError, OSError):
        return False
    return True


async def _at_least(store: PostgresStore, size: int) -> bool:
    return await store.sequenced_size() >= size


async def _takes_over(store: PostgresStore, policy: Integration) -> bool:
    return await store.integrate(1000, policy) is not None


# A writer process on the store's own append path, stopped for good between its reservation and its
# insert (the first batch's insert never leaves the process); its later batches are never reached.
_DYING_WRITER = r"""
import asyncio, sys, time
import interlock.store.postgres as pg
from interlock.settings import StoreSettings
from store.test_store_contract import entry

real = pg._sequence_args

def reserved_then_stuck(first, entries):
    print("reserved", first, len(entries), flush=True)
    time.sleep(3600)  # killed here
    return real(first, entries)

async def main():
    store = pg.PostgresStore(StoreSettings(url=sys.argv[1]))
    await store.open()
    pg._sequence_args = reserved_then_stuck
    await store.append_entries([entry(f"doomed-{i}") for i in range(4)])

asyncio.run(main())
"""

# A writer process appending batches one after another, printing each acknowledged record's index.
_WRITER = r"""
import asyncio, sys
from interlock.settings import StoreSettings
from interlock.store.postgres import PostgresStore
from store.test_store_contract import entry

async def main():
    store = PostgresStore(StoreSettings(url=sys.argv[1]))
    await store.open()
    for b in range(int(sys.argv[3])):
        batch = [entry(f"{sys.argv[2]}-{b}-{i}") for i in range(3)]
        first = await store.append_entries(batch)
        for i, e in enumerate(batch):
            print(e.request_id, first + i, flush=True)
    await store.close()

asyncio.run(main())
"""


def _python(code: str, *argv: str) -> subprocess.Popen[str]:
    tests = str(Path(__file__).resolve().parents[1])
    return subprocess.Popen([sys.executable, "-c", code, *argv], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env=clean_env({"PYTHONPATH": tests}))


async def test_a_writer_process_killed_between_reservation_and_insert_among_concurrent_writers(pg_url: str) -> None:
    setup = await _opened(pg_url)  # migrated once, before the processes race to open it
    await setup.close()
    dying = _python(_DYING_WRITER, pg_url)
    try:
        assert dying.stdout is not None
        line = await asyncio.wait_for(asyncio.to_thread(dying.stdout.readline), 30)
        _, first, count = line.split()
        hole = range(int(first), int(first) + int(count))
        writers = [_python(_WRITER, pg_url, f"w{n}", "20") for n in range(3)]
        acknowledged: dict[str, int] = {}
        for w in writers:
            out, err = await asyncio.to_thread(w.communicate, timeout=60)
            assert w.returncode == 0, err
            acknowledged.update((rid, int(seq)) for rid, seq in (ln.split() for ln in out.splitlines()))
    finally:
        dying.kill()
        dying.communicate(timeout=10)
    assert dying.returncode == -signal.SIGKILL
    assert len(acknowledged) == 180

    integrator = await _opened(pg_url)
    try:
        policy = _policy(gap_timeout=0.5)
        total = 180 + len(hole)
        assert await _integrate_until(integrator, total, policy) == total
        rows = await integrator.log_rows(-1, 1000)
        # Every acknowledged record at the index its writer was told; the dead writer's range is signed gaps.
        assert {r[1]: r[0] for r in rows if not r[1].startswith("gap_")} == acknowledged
        assert [r[0] for r in rows if r[1].startswith("gap_")] == list(hole)
        assert (await _verify(integrator))[0] == list(hole)
    finally:
        await integrator.close()
