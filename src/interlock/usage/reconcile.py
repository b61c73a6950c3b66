"""Rebuild budget counters from the audit records: after a counter store lost its data (a Redis restarted
without persistence), after a crash left reservations unsettled, or to check the live counters.

Each record of a budgeted call names the counters it was charged to (``budget.counters``, as
``scope/id/window``) and its charge; its cost and tokens are what it spent. A charge retried under one
idempotency key counts once, at its last attempt that reached the model. Only the windows in force now
are rebuilt (today's day budgets, this month's month budgets).
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Iterable
from typing import Any

from interlock.store.base import RecordQuery, Store
from interlock.usage.limits import UsageLimits, window_of

_GRACE_SECONDS = 86400
_PAGE = 1000


def reconcile_start(now: float) -> float:
    """The earliest record a rebuild reads: the start of this month (a day window lies within it)."""
    return float(window_of("month", now)[1])


async def records_since(store: Store, since: float, use_case: str | None = None) -> AsyncIterator[dict[str, Any]]:
    """Every record from ``since`` on, oldest first, read a page at a time (of one use case when named)."""
    after: int | None = None
    while True:
        page = await store.query_records(RecordQuery(since=since, after_seq=after, limit=_PAGE, newest_first=False,
                                                     use_case=use_case))
        for _, record in page:
            yield record
        if len(page) < _PAGE:
            return
        after = page[-1][0]


def rebuild(limits: UsageLimits, records: Iterable[dict[str, Any]], now: float | None = None
            ) -> dict[str, tuple[int, int, int]]:
    """Every current-window counter's (usd in nano-dollars, tokens, expiry) from these records."""
    now = time.time() if now is None else now
    current = {w: window_of(w, now) for w in ("day", "month")}
    # The last attempt of each charge that reached the model; attempts that did not count nothing.
    charges: dict[tuple[str, str], dict[str, Any]] = {}
    for record in records:
        budget = record.get("budget")
        if not isinstance(budget, dict):
            continue
        key = (str(record.get("tenant") or ""), str(budget.get("charge")))
        reached = bool(record.get("provider")) or int((record.get("usage") or {}).get("total_tokens") or 0) > 0
        if reached or key not in charges:
            charges[key] = record
    out: dict[str, tuple[int, int, int]] = {}
    for (tenant, _), record in charges.items():
        reached = bool(record.get("provider")) or int((record.get("usage") or {}).get("total_tokens") or 0) > 0
        usd = int((record.get("cost") or {}).get("nano_usd") or 0) if reached else 0
        tokens = int((record.get("usage") or {}).get("total_tokens") or 0) if reached else 0
        at = float(record.get("time") or 0.0)
        for name in record["budget"].get("counters") or ():
            scope, ident, window = str(name).split("/", 2)
            window_id, start, end = window_of(window, at)
            if window_id != current[window][0] or at < start:
                continue
            counter = limits.budget_key(tenant, scope, ident, window_id)
            u, t, _ = out.get(counter, (0, 0, 0))
            out[counter] = (u + usd, t + tokens, end + _GRACE_SECONDS)
    return out


async def reconcile(limits: UsageLimits, store: Store, *, write: bool = True,
                    now: float | None = None) -> dict[str, dict[str, tuple[int, int]]]:
    """Rebuild the counters from the records; returns, per counter, what the records say and what the store held."""
    now = time.time() if now is None else now
    rebuilt = rebuild(limits, [r async for r in records_since(store, reconcile_start(now))], now)
    held = dict(zip(rebuilt, await limits.store.read(tuple(rebuilt)), strict=True))
    if write and rebuilt:
        await limits.store.overwrite(rebuilt)
    return {k: {"records": (u, t), "counters": held[k]} for k, (u, t, _) in rebuilt.items()}
