"""The contract of a counter store: one atomic decision per call (rate limits and budget reservation
together), one settlement after it. SQLite (``sqlite_counters.py``) and Redis (``redis_counters.py``)
implement it with the same arithmetic, so the same tests run against both.

A call's settlement is not waited for: ``settle_later`` queues it, and the store sends it ahead of its next
decision (in the same write to Redis, in the same SQLite transaction), or on its own after
``SETTLE_DELAY_SECONDS`` when no decision comes. Until then the counters hold the call's reservation, its
worst case, so a late settlement can only refuse a call too early, never let one overspend. A settlement
that fails is queued again (replaying it is harmless: it sets the charge to the real figures rather than
adding them), and ``close`` sends what is still queued.

Amounts are integers: money in nano-dollars, tokens as counted. A budget counter holds the spend settled
plus the reservations outstanding in its window; a charge (one per idempotency key) remembers what it has
added to its counters, so a retry raises it to the larger worst case instead of adding again, and a
settlement replaces it with the real figure.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from typing import Literal, Protocol

log = logging.getLogger("interlock.usage")

# No limit on this dimension of a counter.
UNLIMITED = -1
# A rate limit's window: GCRA with a burst of one minute's allowance.
RATE_WINDOW_MS = 60_000
# A queued settlement waits at most this long for a decision to travel with before it is sent on its own.
SETTLE_DELAY_SECONDS = 0.005
# After a failed attempt, the queued settlements are tried again this much later (or with the next decision).
SETTLE_RETRY_SECONDS = 1.0
# A settlement still failing this long after its call ended is dropped (logged): the reconciler rebuilds the
# counters from the records. Redis keeps a settled charge this long, so a replay within it adds nothing.
SETTLE_GIVE_UP_SECONDS = 120.0
# At most this many settlements wait (a store down for long): past it, the oldest are dropped (logged).
SETTLE_QUEUE_LIMIT = 100_000


@dataclass(frozen=True, slots=True)
class BudgetCounter:
    key: str
    usd_limit: int  # nano-dollars, or UNLIMITED
    token_limit: int  # or UNLIMITED
    expire_at: int  # Unix seconds: the end of the window, plus a day


@dataclass(frozen=True, slots=True)
class RateCounter:
    key: str
    kind: Literal["requests", "tokens"]
    per_minute: int


@dataclass(frozen=True, slots=True)
class RateState:
    """A rate counter after a decision: what is left, and when it is whole again (or, refused, when to
    retry)."""

    kind: Literal["requests", "tokens"]
    limit: int
    remaining: int
    reset_ms: int


@dataclass(frozen=True, slots=True)
class Admission:
    """The outcome of one decision. ``outcome`` is ``ok``, ``budget`` (a budget would be exceeded) or
    ``rate`` (a rate limit is reached); ``index`` is the counter that refused."""

    outcome: Literal["ok", "budget", "rate"]
    index: int = 0
    # Per budget counter after the decision (ok), or the refusing one's as it stands: (usd, tokens) used.
    used: tuple[tuple[int, int], ...] = ()
    rates: tuple[RateState, ...] = ()
    retry_ms: int = 0
    # What the charge held before this decision (a retry's earlier attempt), to restore if this attempt
    # never reaches the model.
    prior: tuple[int, int] = (0, 0)


@dataclass(slots=True)
class Settlement:
    """A call's settlement waiting to be sent: its charge set to the real figures in its budget counters."""

    charge: str
    budgets: tuple[BudgetCounter, ...]
    usd: int
    tokens: int
    charge_ttl: int
    queued_at: float  # time.monotonic()


def requeue(queue: list[Settlement], failed: list[Settlement], now: float, why: str) -> None:
    """Put settlements whose attempt failed back at the head of ``queue``, dropping (and logging) those past
    ``SETTLE_GIVE_UP_SECONDS`` and the oldest past ``SETTLE_QUEUE_LIMIT``."""
    keep = [s for s in failed if now - s.queued_at < SETTLE_GIVE_UP_SECONDS]
    dropped = len(failed) - len(keep)
    queue[:0] = keep
    if len(queue) > SETTLE_QUEUE_LIMIT:
        dropped += len(queue) - SETTLE_QUEUE_LIMIT
        del queue[:len(queue) - SETTLE_QUEUE_LIMIT]
    if dropped:
        log.error("dropped %d budget settlements that could not be sent (the counters keep their reservations "
                  "until `interlock budgets reconcile`): %s", dropped, why)
    elif keep:
        log.warning("%d budget settlements could not be sent, trying again: %s", len(keep), why)


class CounterStore(Protocol):
    """One shared place for counters. ``tag`` groups a call's keys (a Redis Cluster hash slot)."""

    async def open(self) -> None: ...

    async def close(self) -> None: ...

    async def admit(self, charge: str, budgets: tuple[BudgetCounter, ...], rates: tuple[RateCounter, ...],
                    usd: int, tokens: int, rate_tokens: int, charge_ttl: int) -> Admission:
        """Atomically: every rate counter takes one request (or ``rate_tokens``), and the charge is raised to
        ``usd``/``tokens`` in every budget counter, or nothing changes and the first refusal is returned."""
        ...

    async def settle(self, charge: str, budgets: tuple[BudgetCounter, ...], usd: int, tokens: int,
                     charge_ttl: int) -> None:
        """Replace the charge with the real figures (zero when nothing was used) in every budget counter;
        ``charge_ttl`` 0 forgets the charge (no retry can name it again)."""
        ...

    def settle_later(self, charge: str, budgets: tuple[BudgetCounter, ...], usd: int, tokens: int,
                     charge_ttl: int) -> None:
        """``settle`` without waiting: queued, sent with the next decision or after ``SETTLE_DELAY_SECONDS``,
        and tried again until it is applied (or given up after ``SETTLE_GIVE_UP_SECONDS``)."""
        ...

    async def flush(self) -> None:
        """Send the queued settlements now (``close`` does it too)."""
        ...

    async def read(self, keys: tuple[str, ...]) -> list[tuple[int, int]]:
        """The (usd, tokens) each budget counter holds."""
        ...

    async def overwrite(self, values: dict[str, tuple[int, int, int]]) -> None:
        """Set budget counters to (usd, tokens, expire_at): the reconciler's rebuild."""
        ...


def gcra(tat_ms: float, now_ms: float, amount: int, per_minute: int) -> tuple[bool, float, int, int]:
    """One GCRA step: (allowed, the new theoretical arrival time, remaining, reset or retry in ms).

    The same arithmetic as the Redis script: a unit every 60000/per_minute ms, a burst of one minute."""
    interval = RATE_WINDOW_MS / per_minute
    tat = max(tat_ms, now_ms)
    new_tat = tat + amount * interval
    if new_tat - now_ms > RATE_WINDOW_MS:
        # Retry once the new arrival time is a window away: exactly then, not a millisecond later.
        return (False, tat, max(0, int((RATE_WINDOW_MS - (tat - now_ms)) // interval)),
                math.ceil(new_tat - now_ms - RATE_WINDOW_MS))
    return True, new_tat, int((RATE_WINDOW_MS - (new_tat - now_ms)) // interval), int(new_tat - now_ms)
