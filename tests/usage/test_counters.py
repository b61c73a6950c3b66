"""The counter stores: the same decisions from SQLite and from Redis (one Lua script per decision)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from interlock.settings import BudgetSettings, RateLimitSettings, UsageSettings
from interlock.usage.limits import CountersDown, Subject, UsageLimits, charge_id, open_counters
from interlock.usage.prices import NANO
from support.ports import refusing_port
from support.redis import SHARED_URL, PrivateRedis, delete_prefix, shared_redis, unique_prefix

BACKENDS = ["sqlite", pytest.param("redis", marks=pytest.mark.redis)]
ALICE = Subject(tenant="acme", key="il_abcd", principal="alice", groups=frozenset({"team-a", "team-b"}), app="")


@pytest.fixture(params=BACKENDS)
def url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'usage.db'}" if request.param == "sqlite" else SHARED_URL


async def limits_for(url: str, prefix: str, **settings: object) -> UsageLimits:
    s = UsageSettings(counters_url=url, key_prefix=prefix, **settings)  # type: ignore[arg-type]
    store = open_counters(s)
    await store.open()
    return UsageLimits(s, store)


@pytest.fixture
async def prefix(url: str) -> AsyncIterator[str]:
    p = unique_prefix()
    yield p
    if url.startswith("redis"):
        client = shared_redis()
        delete_prefix(client, p)
        client.close()


async def test_a_reservation_counts_until_settled_and_a_budget_refuses_past_its_limit(url: str, prefix: str) -> None:
    limits = await limits_for(url, prefix, budgets=(BudgetSettings(scope="tenant", window="day", usd=0.001),))
    try:
        first = limits.plan(ALICE, "r1")
        ok = await limits.admit(first, 600_000, 100, 100)
        assert ok.outcome == "ok"
        assert ok.used == ((600_000, 100),)
        # 0.6 m$ reserved of 1 m$: another 0.6 does not fit while the first is under way.
        refused = await limits.admit(limits.plan(ALICE, "r2"), 600_000, 100, 100)
        assert refused.outcome == "budget"
        assert refused.used == ((600_000, 100),)
        # Settled at its real cost, the first call gives back what it did not use.
        await limits.settle(first, 200_000, 40)
        assert await limits.store.read((first.budgets[0].key,)) == [(200_000, 40)]
        again = await limits.admit(limits.plan(ALICE, "r2"), 600_000, 100, 100)
        assert again.outcome == "ok"
        assert again.used == ((800_000, 140),)
    finally:
        await limits.store.close()


async def test_one_charge_per_idempotency_key(url: str, prefix: str) -> None:
    limits = await limits_for(url, prefix, budgets=(BudgetSettings(scope="principal", window="month", tokens=1000),))
    try:
        plan = limits.plan(ALICE, charge_id("req_1", "order-7", "alice"))
        assert plan == limits.plan(ALICE, charge_id("req_2", "order-7", "alice"))
        assert (await limits.admit(plan, 0, 300, 300)).outcome == "ok"
        # The retry of the same charge adds nothing; a larger worst case raises it to that.
        assert (await limits.admit(plan, 0, 300, 300)).used == ((0, 300),)
        assert (await limits.admit(plan, 0, 400, 400)).used == ((0, 400),)
        await limits.settle(plan, 0, 250)
        await limits.settle(plan, 0, 250)
        assert await limits.store.read((plan.budgets[0].key,)) == [(0, 250)]
        # Without an idempotency key, each request is a charge of its own.
        other = limits.plan(ALICE, charge_id("req_3", None, "alice"))
        assert other.charge != plan.charge
        assert (await limits.admit(other, 0, 100, 100)).used == ((0, 350),)
    finally:
        await limits.store.close()


async def test_every_scope_and_group_is_counted_and_match_narrows(url: str, prefix: str) -> None:
    limits = await limits_for(url, prefix, budgets=(
        BudgetSettings(scope="group", window="day", tokens=500),
        BudgetSettings(scope="key", match="il_other", window="day", tokens=1),
        BudgetSettings(scope="tenant", window="month", usd=1.0),
    ))
    try:
        plan = limits.plan(ALICE, "r1")
        assert plan.budget_names[:2] == ("group/team-a/day", "group/team-b/day")
        assert plan.budget_names[2].startswith("tenant/acme/")
        assert len(plan.budgets) == 3  # the key rule names another key
        assert {k.key.split("}")[0] for k in plan.budgets} == {"{" + prefix + ":acme"}  # one hash slot
        assert (await limits.admit(plan, NANO // 10, 450, 450)).outcome == "ok"
        bob = Subject(tenant="acme", principal="bob", groups=frozenset({"team-b"}))
        refused = await limits.admit(limits.plan(bob, "r2"), 0, 100, 100)
        assert refused.outcome == "budget"
        assert limits.plan(bob, "r2").budget_names[refused.index] == "group/team-b/day"
    finally:
        await limits.store.close()


async def test_concurrent_reservations_never_overshoot(url: str, prefix: str) -> None:
    limits = await limits_for(url, prefix, budgets=(BudgetSettings(scope="tenant", window="day", tokens=1000),))
    try:
        results = await asyncio.gather(*(limits.admit(limits.plan(ALICE, f"r{i}"), 0, 70, 70) for i in range(40)))
        assert sum(r.outcome == "ok" for r in results) == 1000 // 70
        assert await limits.store.read((limits.plan(ALICE, "x").budgets[0].key,)) == [(0, 70 * (1000 // 70))]
    finally:
        await limits.store.close()


async def test_rate_limits_follow_gcra_and_say_when_to_retry(url: str, prefix: str) -> None:
    limits = await limits_for(url, prefix, rate_limits=(
        RateLimitSettings(scope="principal", requests_per_minute=3, tokens_per_minute=1000),))
    try:
        plan = limits.plan(ALICE, "r")
        states = []
        for _ in range(3):
            admission = await limits.admit(plan, 0, 0, 100)
            assert admission.outcome == "ok"
            states.append({s.kind: s for s in admission.rates})
        assert [s["requests"].remaining for s in states] == [2, 1, 0]
        assert [s["tokens"].remaining for s in states] == [900, 800, 700]
        assert states[0]["requests"].limit == 3
        refused = await limits.admit(plan, 0, 0, 100)
        assert refused.outcome == "rate"
        assert refused.rates[0].kind == "requests"
        # One request comes back every 20 s: the wait is at most that and more than nothing.
        assert 0 < refused.retry_ms <= 20_000
        big = await limits.admit(limits.plan(Subject(tenant="acme", principal="carol"), "r"), 0, 0, 1500)
        assert big.outcome == "rate"
        assert big.rates[0].kind == "tokens"
    finally:
        await limits.store.close()


async def test_a_store_that_cannot_be_reached_is_reported_down(tmp_path: Path) -> None:
    with refusing_port() as port:
        limits = await limits_for(f"redis://127.0.0.1:{port}/0", unique_prefix(), timeout_seconds=0.5,
                                  budgets=(BudgetSettings(scope="tenant", window="day", usd=1.0),))
        try:
            with pytest.raises(CountersDown):
                await limits.admit(limits.plan(ALICE, "r"), 1, 1, 1)
            with pytest.raises(CountersDown):
                await limits.settle(limits.plan(ALICE, "r"), 1, 1)
        finally:
            await limits.store.close()
    limits = await limits_for(f"sqlite:///{tmp_path / 'usage.db'}", "x",
                              budgets=(BudgetSettings(scope="tenant", window="day", usd=1.0),))
    await limits.store.close()  # a closed store answers nothing
    with pytest.raises(CountersDown):
        await limits.admit(limits.plan(ALICE, "r"), 1, 1, 1)


async def test_a_queued_settlement_goes_out_ahead_of_the_next_decision(url: str, prefix: str) -> None:
    limits = await limits_for(url, prefix, budgets=(BudgetSettings(scope="tenant", window="day", tokens=1000),))
    try:
        first = limits.plan(ALICE, "r1")
        assert (await limits.admit(first, 0, 800, 800)).outcome == "ok"
        limits.settle_later(first, 0, 100)
        # Straight away: the next decision sees the 700 tokens the first call gave back, not its 800 reserved.
        second = await limits.admit(limits.plan(ALICE, "r2"), 0, 800, 800)
        assert second.outcome == "ok", second
        assert second.used == ((0, 900),)
    finally:
        await limits.store.close()


async def test_a_queued_settlement_goes_out_on_its_own_when_no_decision_follows(url: str, prefix: str) -> None:
    limits = await limits_for(url, prefix, budgets=(BudgetSettings(scope="tenant", window="day", tokens=1000),))
    try:
        plan = limits.plan(ALICE, "r1")
        assert (await limits.admit(plan, 7, 800, 800)).outcome == "ok"
        limits.settle_later(plan, 5, 100)
        for _ in range(200):
            if await limits.store.read((plan.budgets[0].key,)) == [(5, 100)]:
                break
            await asyncio.sleep(0.01)
        assert await limits.store.read((plan.budgets[0].key,)) == [(5, 100)]
    finally:
        await limits.store.close()


async def test_closing_the_store_sends_what_is_queued(url: str, prefix: str) -> None:
    limits = await limits_for(url, prefix, budgets=(BudgetSettings(scope="tenant", window="day", tokens=1000),))
    plan = limits.plan(ALICE, "r1")
    assert (await limits.admit(plan, 0, 800, 800)).outcome == "ok"
    limits.settle_later(plan, 0, 100)
    await limits.store.close()
    reopened = await limits_for(url, prefix, budgets=(BudgetSettings(scope="tenant", window="day", tokens=1000),))
    try:
        assert await reopened.store.read((plan.budgets[0].key,)) == [(0, 100)]
    finally:
        await reopened.store.close()


@pytest.mark.redis
async def test_a_settlement_sent_twice_counts_once() -> None:
    # Redis: a settlement whose reply was lost is sent again, so a replay must add nothing.
    prefix = unique_prefix()
    limits = await limits_for(SHARED_URL, prefix, budgets=(BudgetSettings(scope="tenant", window="day", tokens=1000),))
    try:
        plan = limits.plan(ALICE, charge_id("req_1", None, "alice"))
        assert (await limits.admit(plan, 0, 800, 800)).outcome == "ok"
        await limits.settle(plan, 0, 100)
        await limits.settle(plan, 0, 100)
        assert await limits.store.read((plan.budgets[0].key,)) == [(0, 100)]
    finally:
        await limits.store.close()
        client = shared_redis()
        delete_prefix(client, prefix)
        client.close()


@pytest.mark.redis
async def test_settlements_that_fail_while_redis_is_down_land_when_it_returns(tmp_path: Path) -> None:
    server = PrivateRedis(tmp_path)
    await asyncio.to_thread(server.start)
    try:
        limits = await limits_for(server.url, unique_prefix(), timeout_seconds=0.3,
                                  budgets=(BudgetSettings(scope="tenant", window="day", tokens=1000),))
        plan = limits.plan(ALICE, "r1")
        assert (await limits.admit(plan, 0, 800, 800)).outcome == "ok"
        await asyncio.to_thread(server.stop)
        limits.settle_later(plan, 3, 100)
        await asyncio.sleep(0.3)  # sent on its own, refused (nothing listens), queued again
        await asyncio.to_thread(server.start)  # a Redis without the counters, nor the scripts
        key = plan.budgets[0].key
        for _ in range(300):
            if server.client().hgetall(key):
                break
            await asyncio.sleep(0.01)
        # The reservation went with the old server; the settlement adds what the call spent.
        assert server.client().hgetall(key) == {b"u": b"3", b"t": b"100"}
        await limits.store.close()
    finally:
        server.stop()
