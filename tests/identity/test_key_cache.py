"""Key records cached per instance: a revocation through one instance is seen on the next call of every
other, the epoch read is shared by calls that arrive together, and an unreadable epoch refuses the call."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from interlock.identity.keycache import CachedKeys
from interlock.identity.keys import ApiKeyRecord, new_key
from interlock.identity.principal import Principal
from interlock.settings import StoreSettings
from interlock.store import open_store
from interlock.store.postgres import PostgresStore
from support.postgres import create_database, drop_database


def _record(name: str) -> ApiKeyRecord:
    _, record = new_key(name, Principal(id=name, kind="service", tenant="default"), ttl_seconds=None, now=1000.0)
    return record


class _Backing:
    def __init__(self) -> None:
        self.records: dict[str, ApiKeyRecord] = {}
        self.epoch = 0
        self.lookups = 0
        self.fail_epoch = False

    async def lookup(self, prefix: str) -> ApiKeyRecord | None:
        self.lookups += 1
        await asyncio.sleep(0)
        return self.records.get(prefix)

    async def read_epoch(self) -> int:
        await asyncio.sleep(0)
        if self.fail_epoch:
            raise ConnectionError("store down")
        return self.epoch


async def test_a_cached_record_is_dropped_when_the_epoch_moves() -> None:
    backing = _Backing()
    record = _record("svc")
    backing.records[record.prefix] = record
    keys = CachedKeys(backing.lookup, backing.read_epoch)
    assert await keys(record.prefix) == record
    assert await keys(record.prefix) == record
    assert backing.lookups == 1  # the second call was served from the cache
    revoked = ApiKeyRecord(**{**{f: getattr(record, f) for f in record.__dataclass_fields__}, "revoked": 2000.0})
    backing.records[record.prefix] = revoked
    backing.epoch += 1  # what a revocation does, in its own transaction
    found = await keys(record.prefix)
    assert found is not None
    assert found.revoked == 2000.0
    assert backing.lookups == 2
    # Absences are not cached: a key created after a miss is found at once.
    other = _record("later")
    assert await keys(other.prefix) is None
    backing.records[other.prefix] = other
    assert await keys(other.prefix) == other


async def test_calls_that_arrive_together_share_one_epoch_read_and_none_reuses_an_older_one() -> None:
    backing = _Backing()
    record = _record("svc")
    backing.records[record.prefix] = record
    keys = CachedKeys(backing.lookup, backing.read_epoch)
    await keys(record.prefix)
    before = keys.epoch_reads
    await asyncio.gather(*(keys(record.prefix) for _ in range(50)))
    assert keys.epoch_reads == before + 1
    # A call made after those finished reads the epoch again.
    await keys(record.prefix)
    assert keys.epoch_reads == before + 2


async def test_an_unreadable_epoch_fails_the_call_even_with_the_record_cached() -> None:
    backing = _Backing()
    record = _record("svc")
    backing.records[record.prefix] = record
    keys = CachedKeys(backing.lookup, backing.read_epoch)
    assert await keys(record.prefix) == record
    backing.fail_epoch = True
    with pytest.raises(ConnectionError):
        await keys(record.prefix)
    backing.fail_epoch = False
    assert await keys(record.prefix) == record


@pytest.fixture
async def two_instances() -> AsyncIterator[tuple[PostgresStore, PostgresStore]]:
    url = create_database()
    a, b = open_store(StoreSettings(url=url)), open_store(StoreSettings(url=url))
    assert isinstance(a, PostgresStore)
    assert isinstance(b, PostgresStore)
    try:
        await a.open()
        await b.open()
        yield a, b
    finally:
        await a.close()
        await b.close()
        drop_database(url)


async def test_a_key_revoked_through_one_instance_is_refused_on_the_next_call_of_another(
        two_instances: tuple[PostgresStore, PostgresStore]) -> None:
    a, b = two_instances
    record = _record("svc")
    await a.create_key(record)
    for store in (a, b):  # both instances have it cached
        found = await store.key_by_prefix(record.prefix)
        assert found is not None
        assert found.revoked is None
    assert await a.revoke_key(record.id, 5000.0)
    found = await b.key_by_prefix(record.prefix)
    assert found is not None
    assert found.revoked == 5000.0
    assert not await a.revoke_key(record.id, 6000.0)  # already revoked: the epoch does not move again
    assert await a.key_epoch() == 1
