"""The store contract, the same tests against SQLite and PostgreSQL: keys, appends, queries, reopening."""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import itertools
import json
import secrets
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from interlock.identity.keys import hash_key, new_key
from interlock.identity.principal import Principal
from interlock.settings import StoreSettings
from interlock.store import RecordQuery, Store, open_store
from interlock.store.base import ApprovalConflict, ApprovalRow, ApprovalWrite, LogEntry, advance_frontier
from interlock.store.postgres import PostgresStore
from interlock.store.sqlite import SqliteStore


@pytest.fixture
async def store(store_url: str) -> AsyncIterator[Store]:
    s = open_store(StoreSettings(url=store_url))
    await s.open()
    try:
        yield s
    finally:
        await s.close()


def entry(request_id: str, *, ts: float = 1000.0, tenant: str | None = "default", principal: str | None = "alice",
          model: str | None = "mock", status: int = 200, refusal_code: str | None = None) -> LogEntry:
    record = {"request_id": request_id, "time": ts, "tenant": tenant, "principal": principal, "model": model,
              "status": status, "refusal_code": refusal_code}
    body = json.dumps(record, sort_keys=True, separators=(",", ":")).encode()
    return LogEntry(request_id=request_id, ts=ts, tenant=tenant, principal=principal, model=model, status=status,
                    refusal_code=refusal_code, leaf_hash=hashlib.sha256(b"\x00" + body).digest(), record=body)


# -- keys --------------------------------------------------------------------------------------------


async def test_key_round_trip(store: Store) -> None:
    principal = Principal(id="svc-1", kind="service", tenant="acme", roles=frozenset({"analyst", "ops"}),
                          groups=frozenset({"risk"}), may_act_for=True, name="billing")
    key, record = new_key("billing", principal, ttl_seconds=60, now=5000.0)
    await store.create_key(record)
    found = await store.key_by_prefix(record.prefix)
    assert found is not None
    assert found == record
    assert found.hash == hash_key(key)
    assert found.expires == 5060.0
    assert found.principal.roles == frozenset({"analyst", "ops"})
    assert found.principal.may_act_for is True
    assert await store.key_by_prefix("il_nothere") is None


async def test_list_keys_in_creation_order(store: Store) -> None:
    records = [new_key(f"k{i}", Principal(id=f"p{i}", kind="user"), now=100.0 + i)[1] for i in range(3)]
    for r in reversed(records):
        await store.create_key(r)
    assert [r.id for r in await store.list_keys()] == [r.id for r in records]


async def test_revoke_once(store: Store) -> None:
    _, record = new_key("r", Principal(id="r", kind="user"))
    await store.create_key(record)
    assert await store.revoke_key(record.id, 1234.5) is True
    assert await store.revoke_key(record.id, 9999.0) is False
    assert await store.revoke_key("key_unknown", 1.0) is False
    found = await store.key_by_prefix(record.prefix)
    assert found is not None
    assert found.revoked == 1234.5
    assert found.state(0) == "revoked"


async def test_duplicate_prefix_is_refused(store: Store) -> None:
    _, record = new_key("a", Principal(id="a", kind="user"))
    await store.create_key(record)
    clash = type(record)(id="key_other", prefix=record.prefix, hash=b"x" * 32, name="b",
                         principal=record.principal, created=1.0)
    with pytest.raises(Exception, match=r"(?i)unique|duplicate"):
        await store.create_key(clash)


# -- the audit log -----------------------------------------------------------------------------------


async def test_appends_get_consecutive_sequence_numbers(store: Store) -> None:
    assert await store.append_entries([entry("r0"), entry("r1")]) == 0
    assert await store.append_entries([entry("r2")]) == 2
    assert await store.append_entries([entry(f"b{i}") for i in range(50)]) == 3
    rows = await store.query_records(RecordQuery(limit=1000, newest_first=False))
    assert [seq for seq, _ in rows] == list(range(53))
    assert [r["request_id"] for _, r in rows[:3]] == ["r0", "r1", "r2"]


async def test_a_batch_larger_than_one_statement_holds(store: Store) -> None:
    # SQLite binds at most 32,766 parameters per statement: 3,000 rows of 11 columns take two.
    batch = [entry(f"big{i}") for i in range(3000)]
    assert await store.append_entries(batch) == 0
    assert await store.sequenced_size() == 3000
    state = await store.integrate(100_000)
    assert state is not None
    assert state[0] == 3000
    assert await store.frontier() == state
    hashes = await store.leaf_hashes(0, 3000)
    assert hashes == [e.leaf_hash for e in batch]


async def test_appending_on_the_calling_thread(store: Store) -> None:
    assert await store.append_entries([entry("queued")]) == 0
    first = store.append_entries_now([entry("now0"), entry("now1")])
    started = store.start_append([entry("started")])
    if store.dialect == "postgresql":
        assert first is None  # never blocks the event loop on the network
        assert started is None  # its pool appends without blocking the event loop anyway
        assert await store.append_entries([entry("after")]) == 1
        return
    assert first == 1
    assert started is not None
    # While the started append waits for the disk, the writer is taken: no other append can be made on
    # the loop, and one queued for the writer thread lands after it, with no gap in the sequence.
    assert store.append_entries_now([entry("busy")]) is None
    assert store.start_append([entry("busy")]) is None
    after = asyncio.ensure_future(store.append_entries([entry("after")]))
    assert await started == 3
    assert await after == 4
    names = ["queued", "now0", "now1", "started", "after"]
    rows = await store.query_records(RecordQuery(limit=10, newest_first=False))
    assert [r["request_id"] for _, r in rows] == names
    size, frontier = await store.frontier()
    assert size == len(names)
    assert frontier == advance_frontier(None, [entry(n) for n in names])


async def test_query_filters(store: Store) -> None:
    await store.append_entries([
        entry("a", ts=10.0, tenant="t1", principal="alice", model="m1"),
        entry("b", ts=20.0, tenant="t1", principal="bob", model="m2", status=403, refusal_code="policy_denied"),
        entry("c", ts=30.0, tenant="t2", principal="alice", model="m1"),
        entry("d", ts=40.0, tenant=None, principal=None, model=None, status=401, refusal_code="invalid_api_key"),
    ])

    async def ids(**kw: Any) -> list[str]:
        return [r["request_id"] for _, r in await store.query_records(RecordQuery(**kw))]

    assert await ids() == ["d", "c", "b", "a"]
    assert await ids(newest_first=False) == ["a", "b", "c", "d"]
    assert await ids(limit=2) == ["d", "c"]
    assert await ids(tenant="t1") == ["b", "a"]
    assert await ids(principal="alice") == ["c", "a"]
    assert await ids(model="m1", tenant="t2") == ["c"]
    assert await ids(refusal_code="policy_denied") == ["b"]
    assert await ids(status=401) == ["d"]
    assert await ids(request_id="c") == ["c"]
    assert await ids(since=20.0, until=40.0) == ["c", "b"]
    assert await ids(after_seq=1, newest_first=False) == ["c", "d"]
    assert await ids(tenant="nobody") == []


async def test_records_survive_reopening(store_url: str) -> None:
    first = open_store(StoreSettings(url=store_url))
    await first.open()
    _, key = new_key("durable", Principal(id="d", kind="user", name="durable"))
    await first.create_key(key)
    await first.append_entries([entry("kept")])
    await first.close()
    # Opening again runs the migrations again: they must be idempotent.
    second = open_store(StoreSettings(url=store_url))
    await second.open()
    try:
        await second.ping()
        assert await second.key_by_prefix(key.prefix) == key
        rows = await second.query_records(RecordQuery())
        assert [r["request_id"] for _, r in rows] == ["kept"]
        assert await second.append_entries([entry("next")]) == 1
    finally:
        await second.close()


async def test_two_store_instances_share_one_gapless_order(store_url: str) -> None:
    # As two worker processes would: separate connections appending at once.
    a, b = open_store(StoreSettings(url=store_url)), open_store(StoreSettings(url=store_url))
    await a.open()
    await b.open()
    try:
        async def writer(s: Store, name: str) -> list[int]:
            return [await s.append_entries([entry(f"{name}{i}"), entry(f"{name}{i}x")]) for i in range(20)]

        firsts = await asyncio.gather(writer(a, "a"), writer(b, "b"))
        all_firsts = sorted(firsts[0] + firsts[1])
        assert all_firsts == list(range(0, 80, 2))
        rows = await a.query_records(RecordQuery(limit=1000, newest_first=False))
        assert [seq for seq, _ in rows] == list(range(80))
        # Each batch stayed together.
        by_seq = {seq: r["request_id"] for seq, r in rows}
        for first in all_firsts:
            assert by_seq[first + 1] == by_seq[first] + "x"
    finally:
        await a.close()
        await b.close()


async def test_ping_fails_on_a_closed_store(store_url: str) -> None:
    s = open_store(StoreSettings(url=store_url))
    await s.open()
    await s.ping()
    await s.close()
    with pytest.raises(RuntimeError, match="not open"):
        await s.ping()


def test_dialect_follows_the_url(tmp_path: Path) -> None:
    assert open_store(StoreSettings(url="sqlite:///" + str(tmp_path / "x.db"))).dialect == "sqlite"
    assert open_store(StoreSettings(url="postgresql://u@h/db")).dialect == "postgresql"
    assert open_store(StoreSettings(url="postgres://u@h/db")).dialect == "postgresql"


async def test_query_by_data_class_and_outcome(store: Store) -> None:
    from interlock.audit.writer import entry_for

    def rec(rid: str, outcome: str, classes: list[str]) -> dict[str, object]:
        return {"request_id": rid, "time": 1000.0, "status": 200 if outcome == "ok" else 403, "outcome": outcome,
                "tenant": "default", "data": [{"class": c, "action": "redact", "where": "input", "count": 1}
                                              for c in classes]}

    await store.append_entries([entry_for(rec("r-mail", "ok", ["pii.email"])),
                                entry_for(rec("r-both", "refused", ["pii.email", "secret.api_key"])),
                                entry_for(rec("r-none", "ok", []))])
    by_class = await store.query_records(RecordQuery(data_class="pii.email", newest_first=False))
    assert [r["request_id"] for _, r in by_class] == ["r-mail", "r-both"]
    secret = await store.query_records(RecordQuery(data_class="secret.api_key"))
    assert [r["request_id"] for _, r in secret] == ["r-both"]
    # A class name that is only a prefix of a recorded one does not match.
    assert await store.query_records(RecordQuery(data_class="pii.e")) == []
    refused = await store.query_records(RecordQuery(outcome="refused"))
    assert [r["request_id"] for _, r in refused] == ["r-both"]
    ok_mail = await store.query_records(RecordQuery(outcome="ok", data_class="pii.email"))
    assert [r["request_id"] for _, r in ok_mail] == ["r-mail"]


def test_the_wal_is_copied_back_in_small_steps(tmp_path: Path) -> None:
    """Each commit that fills the WAL pays for copying it into the database: the WAL is kept short, so
    that pause is (SQLite's default lets it reach 1,000 pages, about 4 MB)."""
    def wal_bytes(db: Path) -> int:
        return Path(str(db) + "-wal").stat().st_size

    async def scenario() -> None:
        path = tmp_path / "wal.db"
        s = open_store(StoreSettings(url=f"sqlite:///{path}"))
        await s.open()
        try:
            for i in range(1500):
                assert s.append_entries_now([entry(f"w{i}-" + "x" * 600)]) == i
            size, _ = await s.frontier()
            assert size == 1500
            # 250 pages of 4 KiB, plus what the last commit before a copy wrote past that.
            assert wal_bytes(path) < 300 * (4096 + 24)
        finally:
            await s.close()

    asyncio.run(scenario())


def test_a_busy_writer_is_not_waited_for_on_the_calling_thread(tmp_path: Path) -> None:
    import fcntl
    import os

    async def scenario() -> None:
        path = tmp_path / "busy.db"
        s = open_store(StoreSettings(url=f"sqlite:///{path}"))
        await s.open()
        try:
            # Another process holds the writers' lock: the caller gets None at once, and nothing is written.
            fd = os.open(str(path) + "-writer.lock", os.O_RDWR)
            fcntl.flock(fd, fcntl.LOCK_EX)
            try:
                assert s.append_entries_now([entry("not-now")]) is None
                assert s.start_append([entry("not-now")]) is None
            finally:
                fcntl.flock(fd, fcntl.LOCK_UN)
                os.close(fd)
            assert s.append_entries_now([entry("now")]) == 0
            started = s.start_append([entry("later")])
            assert started is not None
            assert await started == 1
            rows = await s.query_records(RecordQuery(newest_first=False))
            assert [r["request_id"] for _, r in rows] == ["now", "later"]
        finally:
            await s.close()

    asyncio.run(scenario())


def test_cached_keys_follow_changes_made_by_other_processes(tmp_path: Path) -> None:
    import sqlite3

    async def scenario() -> None:
        url = f"sqlite:///{tmp_path / 'keys.db'}"
        # Two store instances on one file, as two worker processes (or a worker and the CLI) would be.
        worker, admin = open_store(StoreSettings(url=url)), open_store(StoreSettings(url=url))
        await worker.open()
        await admin.open()
        try:
            _, first = new_key("first", Principal(id="u1", kind="user"))
            await admin.create_key(first)
            assert await worker.key_by_prefix(first.prefix) == await admin.key_by_prefix(first.prefix)  # cached
            # A key created elsewhere works at once (unknown prefixes are never cached).
            _, second = new_key("second", Principal(id="u2", kind="user"))
            assert await worker.key_by_prefix(second.prefix) is None
            await admin.create_key(second)
            found = await worker.key_by_prefix(second.prefix)
            assert found is not None
            assert found.id == second.id
            # A revocation elsewhere is seen on the very next look-up.
            assert await admin.revoke_key(first.id, 4242.0) is True
            found = await worker.key_by_prefix(first.prefix)
            assert found is not None
            assert found.revoked == 4242.0

            # The cache is really used: a change that bypasses the store is not seen at once...
            assert (await worker.key_by_prefix(second.prefix)) is not None  # cached under the current counter
            with sqlite3.connect(tmp_path / "keys.db") as raw:
                raw.execute("UPDATE api_keys SET revoked = 7.0 WHERE id = ?", (second.id,))
            stale = await worker.key_by_prefix(second.prefix)
            assert stale is not None
            assert stale.revoked is None
            # ...but within the cache's one-second bound.
            await asyncio.sleep(1.05)
            fresh = await worker.key_by_prefix(second.prefix)
            assert fresh is not None
            assert fresh.revoked == 7.0
        finally:
            await worker.close()
            await admin.close()

    asyncio.run(scenario())


# -- approval changes ride with their records ---------------------------------------------------------


def _approval(version: int, state: str = "pending") -> ApprovalRow:
    return ApprovalRow("apr_1", "acme", state, "alice", 1000.0, 2000.0, version, f'{{"state":"{state}"}}'.encode())


def _with(e: LogEntry, write: ApprovalWrite) -> LogEntry:
    return dataclasses.replace(e, approval=write)


async def _break_the_log(store: Store) -> None:
    """Every insert into the log fails from now on (a trigger), as a full disk or a broken table would."""
    if isinstance(store, SqliteStore):
        await store._in_writer(lambda: store._w.execute(
            "CREATE TRIGGER log_down BEFORE INSERT ON audit_log BEGIN SELECT RAISE(ABORT, 'log down'); END"))
        return
    assert isinstance(store, PostgresStore)
    await store.pool.execute("CREATE FUNCTION log_down() RETURNS trigger AS $$ BEGIN RAISE EXCEPTION 'log down'; "
                             "END $$ LANGUAGE plpgsql")
    await store.pool.execute("CREATE TRIGGER log_down BEFORE INSERT ON audit_log FOR EACH ROW EXECUTE FUNCTION log_down()")


async def test_an_approval_change_and_its_record_are_written_together_or_not_at_all(store: Store) -> None:
    assert await store.append_entries([_with(entry("requested"), ApprovalWrite(_approval(0)))]) == 0
    assert await store.approval_get("apr_1") == _approval(0)
    # A compare-and-set against a version that is no longer there writes neither, nor anything else.
    with pytest.raises(ApprovalConflict) as stale:
        await store.append_entries([entry("beside"), _with(entry("stale"), ApprovalWrite(_approval(2, "approved"), 1))])
    assert stale.value.index == 1
    # So does inserting one that exists.
    with pytest.raises(ApprovalConflict):
        await store.append_entries([_with(entry("again"), ApprovalWrite(_approval(0)))])
    assert await store.sequenced_size() == 1
    assert await store.append_entries([_with(entry("approved"), ApprovalWrite(_approval(1, "approved"), 0))]) == 1
    assert await store.approval_get("apr_1") == _approval(1, "approved")
    # A record that cannot be written takes its change with it.
    await _break_the_log(store)
    with pytest.raises(Exception, match="log down"):
        await store.append_entries([_with(entry("used"), ApprovalWrite(_approval(2, "used"), 1))])
    assert await store.approval_get("apr_1") == _approval(1, "approved")
    rows = await store.query_records(RecordQuery(newest_first=False))
    assert [r["request_id"] for _, r in rows] == ["requested", "approved"]


# -- the placeholder vault ---------------------------------------------------------------------------


async def test_a_vault_map_is_stored_only_in_place_of_the_version_it_was_read_as(store: Store) -> None:
    cid = "conv-" + secrets.token_hex(6)
    assert await store.vault_get(cid) is None
    assert await store.vault_put(cid, b"first", 60, None)
    # Two turns read "first"; the one that stores second finds it changed and stores nothing.
    assert not await store.vault_put(cid, b"again", 60, None)
    assert await store.vault_put(cid, b"turn-a", 60, b"first")
    assert not await store.vault_put(cid, b"turn-b", 60, b"first")
    assert await store.vault_get(cid) == b"turn-a"
    assert await store.vault_put(cid, b"turn-b", 60, b"turn-a")
    assert await store.vault_get(cid) == b"turn-b"
    # An expired map counts as none: a new one takes its place, and its old version no longer matches.
    assert await store.vault_put(cid, b"short", -1, b"turn-b")
    assert await store.vault_get(cid) is None
    assert not await store.vault_put(cid, b"late", 60, b"short")
    assert await store.vault_put(cid, b"fresh", 60, None)
    assert await store.vault_get(cid) == b"fresh"
    assert await store.vault_erase(cid)
    assert await store.vault_get(cid) is None
    assert not await store.vault_erase(cid)


async def test_appends_from_two_instances_interleave_in_one_order(store_url: str) -> None:
    """Two instances sequence into one order without gaps; one of them integrates at a time, and the
    frontier it stores covers every leaf of either."""
    a, b = open_store(StoreSettings(url=store_url)), open_store(StoreSettings(url=store_url))
    await a.open()
    await b.open()
    run = secrets.token_hex(4)
    try:
        firsts = []
        for n, (who, size) in enumerate(((a, 2), (a, 3), (b, 1), (a, 2), (b, 2), (b, 1))):
            batch = [entry(f"il-{run}-{n}-{i}") for i in range(size)]
            batch[0] = dataclasses.replace(batch[0], payload=b'{"p":1}', payload_hash=hashlib.sha256(
                run.encode() + bytes([n])).digest())
            firsts.append((await who.append_entries(batch), size))
        for (first, size), (following, _) in itertools.pairwise(firsts):
            assert following == first + size
        total = firsts[-1][0] + firsts[-1][1]
        assert await a.sequenced_size() == await b.sequenced_size() == total
        state = await a.integrate(4)  # a takes the lease; PostgreSQL: it folds in the first four
        assert state is not None
        assert state[0] == (4 if isinstance(a, PostgresStore) else total)  # SQLite integrates inline
        assert await b.integrate(100) is None  # a holds the lease
        assert await b.frontier() == state
        await a.release_integration()  # a stops: b takes over at its next try
        state = await b.integrate(100)
        assert state is not None
        size, frontier = state
        assert size == total
        leaves = await a.leaf_hashes(0, size)
        assert len(leaves) == size
        assert advance_frontier(None, [dataclasses.replace(entry("leaf"), leaf_hash=h) for h in leaves]) == frontier
        assert await a.frontier() == state
        stored = {r["request_id"] for _, r in await a.query_records(RecordQuery(limit=100, newest_first=True))}
        assert {f"il-{run}-{n}-0" for n in range(6)} <= stored
    finally:
        await a.close()
        await b.close()
