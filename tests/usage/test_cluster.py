"""Counters in a Redis Cluster: the hot path's client finds each tenant's slot (CRC16 of the hash tag),
follows MOVED from the node named in the URL, and keeps each script on one node; the reconciler's reads and
writes reach every node. Against a real three-master cluster started by the test."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest
import redis

from interlock.settings import BudgetSettings, RateLimitSettings, UsageSettings
from interlock.usage.limits import CountersDown, Subject, UsageLimits, open_counters
from interlock.usage.resp import key_slot
from support.redis import private_cluster

pytestmark = pytest.mark.redis

TENANTS = [f"tenant-{i}" for i in range(24)]


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[list[int]]:
    with private_cluster(tmp_path_factory.mktemp("cluster")) as ports:
        yield ports


def owner(ports: list[int], key: str) -> int:
    """The port of the master that holds ``key``, as the cluster itself says."""
    slot = int(redis.Redis(port=ports[0]).execute_command("CLUSTER KEYSLOT", key))
    for start, end, master, *_ in redis.Redis(port=ports[0]).execute_command("CLUSTER SLOTS"):
        if start <= slot <= end:
            return int(master[1])
    raise AssertionError(f"no node holds slot {slot}")


def test_key_slots_are_the_clusters(cluster: list[int]) -> None:
    node = redis.Redis(port=cluster[0])
    for key in ("plain", "{acme}:b:tenant:acme:d20261206", "{interlock:acme}:c:r1", "a{}b", "{}{x}", "x{y",
                "{user1000}.following", "ünïcode{t}"):
        assert key_slot(key) == int(node.execute_command("CLUSTER KEYSLOT", key)), key


async def test_every_tenant_is_counted_on_its_own_node(cluster: list[int]) -> None:
    # The URL names one node; most tenants live on the other two.
    settings = UsageSettings(counters_url=f"redis://127.0.0.1:{cluster[0]}/0", key_prefix="cl",
                             budgets=(BudgetSettings(scope="tenant", window="day", tokens=1000),),
                             rate_limits=(RateLimitSettings(scope="tenant", requests_per_minute=1000),))
    store = open_counters(settings)
    limits = UsageLimits(settings, store)
    plans = {t: limits.plan(Subject(tenant=t), "r1") for t in TENANTS}
    assert {owner(cluster, p.budgets[0].key) for p in plans.values()} == set(cluster)
    try:
        for plan in plans.values():
            assert (await limits.admit(plan, 0, 800, 800)).outcome == "ok"
        # Queued settlements of every node; each tenant's next decision must see its own.
        for plan in plans.values():
            limits.settle_later(plan, 0, 100)
        for t in TENANTS:
            again = await limits.admit(limits.plan(Subject(tenant=t), "r2"), 0, 800, 800)
            assert again.outcome == "ok", (t, again)
            assert again.used == ((0, 900),)
        over = await limits.admit(limits.plan(Subject(tenant=TENANTS[0]), "r3"), 0, 200, 200)
        assert over.outcome == "budget"
    finally:
        await store.close()
    client = redis.RedisCluster(host="127.0.0.1", port=cluster[1])
    try:
        for plan in plans.values():
            # 100 settled and 800 still reserved by the second call, on the node that holds the tenant.
            assert client.hget(plan.budgets[0].key, "t") == b"900"
            assert redis.Redis(port=owner(cluster, plan.budgets[0].key)).exists(plan.budgets[0].key)
    finally:
        client.close()


async def test_the_reconciler_reads_and_writes_every_node(cluster: list[int]) -> None:
    settings = UsageSettings(counters_url=f"redis://127.0.0.1:{cluster[2]}/0", key_prefix="rc",
                             budgets=(BudgetSettings(scope="tenant", window="day", tokens=1000),))
    store = open_counters(settings)
    limits = UsageLimits(settings, store)
    keys = [limits.plan(Subject(tenant=t), "r").budgets[0].key for t in TENANTS]
    try:
        await store.overwrite({k: (i, 10 * i, 4_000_000_000) for i, k in enumerate(keys)})
        assert await store.read(tuple(keys)) == [(i, 10 * i) for i in range(len(keys))]
    finally:
        await store.close()
    # Written where the cluster keeps them.
    for i, k in enumerate(keys):
        assert redis.Redis(port=owner(cluster, k)).hmget(k, ["u", "t"]) == [str(i).encode(), str(10 * i).encode()]


async def test_a_settlement_sent_to_the_wrong_node_is_redirected(cluster: list[int]) -> None:
    settings = UsageSettings(counters_url=f"redis://127.0.0.1:{cluster[1]}/0", key_prefix="mv",
                             budgets=(BudgetSettings(scope="tenant", window="day", tokens=1000),))
    store = open_counters(settings)
    limits = UsageLimits(settings, store)
    plans = [limits.plan(Subject(tenant=t), "r1") for t in TENANTS]
    try:
        # Settled before any decision taught the client the slot map: sent to the URL's node, redirected.
        for plan in plans:
            limits.settle_later(plan, 0, 50)
        await asyncio.sleep(0.05)
        await store.flush()
        assert await store.read(tuple(p.budgets[0].key for p in plans)) == [(0, 50)] * len(plans)
    finally:
        await store.close()


async def test_a_slot_in_migration_is_followed_and_its_move_learnt(cluster: list[int]) -> None:
    settings = UsageSettings(counters_url=f"redis://127.0.0.1:{cluster[0]}/0", key_prefix="ask",
                             budgets=(BudgetSettings(scope="tenant", window="day", tokens=1000),))
    store = open_counters(settings)
    limits = UsageLimits(settings, store)
    ids = {p: redis.Redis(port=p).execute_command("CLUSTER MYID").decode() for p in cluster}
    warm = limits.plan(Subject(tenant="warm-up"), "r")
    plan = limits.plan(Subject(tenant="migrating"), "r1")
    key = plan.budgets[0].key
    slot = key_slot(key)
    source = owner(cluster, key)
    target = next(p for p in cluster if p != source)
    try:
        assert (await limits.admit(warm, 0, 1, 1)).outcome == "ok"  # the client knows the slot map now
        redis.Redis(port=target).execute_command("CLUSTER SETSLOT", slot, "IMPORTING", ids[source])
        redis.Redis(port=source).execute_command("CLUSTER SETSLOT", slot, "MIGRATING", ids[target])
        # The tenant's keys are not on the source: it answers ASK, and the client asks the target, which
        # answers TRYAGAIN to a script over several keys of a slot it is still importing. Budgets fail closed
        # until the move is over.
        with pytest.raises(CountersDown, match="TRYAGAIN"):
            await limits.admit(plan, 0, 100, 100)
        for p in cluster:
            redis.Redis(port=p).execute_command("CLUSTER SETSLOT", slot, "NODE", ids[target])
        # The client still maps the slot to the source, which now answers MOVED: the new map is learnt.
        assert (await limits.admit(plan, 0, 100, 100)).outcome == "ok"
        assert redis.Redis(port=target).hget(key, "t") == b"100"
        second = await limits.admit(limits.plan(Subject(tenant="migrating"), "r2"), 0, 100, 100)
        assert second.used == ((0, 200),)
    finally:
        await store.close()
