"""Counters in SQLite, the embedded default: one file every worker of one machine shares, each decision
one ``BEGIN IMMEDIATE`` transaction (the file lock makes concurrent workers take turns), with the same
arithmetic as the Redis script.

A decision is a handful of indexed statements on a small table: tens of microseconds, so it runs on the
event loop rather than paying a thread hand-off for each call; the decisions and settlements of one turn of
the loop share one transaction.
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import time
from collections.abc import Callable
from typing import Any

from interlock.usage.counters import Admission, BudgetCounter, RateCounter, RateState, gcra

_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS usage_counter (key TEXT PRIMARY KEY, usd INTEGER NOT NULL, tokens INTEGER NOT NULL, "
    "expires REAL NOT NULL)",
    "CREATE TABLE IF NOT EXISTS usage_charge (key TEXT PRIMARY KEY, usd INTEGER NOT NULL, tokens INTEGER NOT NULL, "
    "expires REAL NOT NULL)",
    "CREATE TABLE IF NOT EXISTS usage_rate (key TEXT PRIMARY KEY, tat REAL NOT NULL, expires REAL NOT NULL)",
)
# Expired rows are swept every this many decisions (by whichever worker makes it).
_SWEEP_EVERY = 1000


class SqliteCounters:
    def __init__(self, path: str, timeout_seconds: float) -> None:
        self._path = path
        self._timeout = timeout_seconds
        self._conn: sqlite3.Connection | None = None
        self._decisions = 0
        self._pending: list[tuple[Callable[[sqlite3.Connection, float], Any], asyncio.Future[Any]]] = []

    async def open(self) -> None:
        conn = sqlite3.connect(self._path, isolation_level=None, check_same_thread=False,
                               timeout=self._timeout)
        conn.execute("PRAGMA journal_mode=WAL")
        # Counters are rebuilt from the audit records after a crash (``interlock budgets reconcile``), so
        # they need not be durable per decision: NORMAL syncs at checkpoints, not at every commit.
        conn.execute("PRAGMA synchronous=NORMAL")
        for statement in _SCHEMA:
            conn.execute(statement)
        self._conn = conn

    async def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    @property
    def _c(self) -> sqlite3.Connection:
        if self._conn is None:
            raise RuntimeError("the usage counters are not open")
        return self._conn

    def _sweep(self, now: float) -> None:
        self._decisions += 1
        if self._decisions % _SWEEP_EVERY == 0:
            for table in ("usage_counter", "usage_charge", "usage_rate"):
                self._c.execute(f"DELETE FROM {table} WHERE expires < ?", (now,))

    def _queue(self, op: Callable[[sqlite3.Connection, float], Any]) -> asyncio.Future[Any]:
        """Run ``op`` in the next group transaction: the decisions and settlements asked for in one turn of the
        event loop share one ``BEGIN IMMEDIATE ... COMMIT`` (under concurrency, one lock and one WAL append
        for many calls). Each decision reads what the ones before it wrote, so they are still taken one at a
        time; a refused one writes nothing."""
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[Any] = loop.create_future()
        if not self._pending:
            loop.call_soon(self._run_pending)
        self._pending.append((op, fut))
        return fut

    def _run_pending(self) -> None:
        batch, self._pending = self._pending, []
        try:
            c = self._c
            now = time.time()
            c.execute("BEGIN IMMEDIATE")
        except Exception as exc:
            for _, fut in batch:
                if not fut.done():
                    fut.set_exception(exc)
            return
        results: list[tuple[asyncio.Future[Any], Any]] = []
        try:
            for op, fut in batch:
                results.append((fut, op(c, now)))
            c.execute("COMMIT")
        except Exception as exc:
            with contextlib.suppress(sqlite3.Error):
                c.execute("ROLLBACK")
            for _, fut in batch:
                if not fut.done():
                    fut.set_exception(exc)
            return
        for fut, result in results:
            if not fut.done():
                fut.set_result(result)

    async def admit(self, charge: str, budgets: tuple[BudgetCounter, ...], rates: tuple[RateCounter, ...],
                    usd: int, tokens: int, rate_tokens: int, charge_ttl: int) -> Admission:
        result: Admission = await self._queue(lambda c, now: self._admit(
            c, now, now * 1000.0, charge, budgets, rates, usd, tokens, rate_tokens, charge_ttl))
        return result

    def _admit(self, c: sqlite3.Connection, now: float, now_ms: float, charge: str,
               budgets: tuple[BudgetCounter, ...], rates: tuple[RateCounter, ...], usd: int, tokens: int,
               rate_tokens: int, charge_ttl: int) -> Admission:
        states: list[RateState] = []
        new_tats: list[float] = []
        for i, r in enumerate(rates):
            row = c.execute("SELECT tat FROM usage_rate WHERE key = ? AND expires >= ?", (r.key, now)).fetchone()
            amount = rate_tokens if r.kind == "tokens" else 1
            allowed, tat, remaining, ms = gcra(float(row[0]) if row else 0.0, now_ms, amount, r.per_minute)
            if not allowed:
                return Admission("rate", i, rates=(RateState(r.kind, r.per_minute, remaining, ms),), retry_ms=ms)
            new_tats.append(tat)
            states.append(RateState(r.kind, r.per_minute, remaining, ms))
        row = c.execute("SELECT usd, tokens FROM usage_charge WHERE key = ? AND expires >= ?", (charge, now)).fetchone()
        cu, ct = (int(row[0]), int(row[1])) if row else (0, 0)
        du, dt = max(0, usd - cu), max(0, tokens - ct)
        used: list[tuple[int, int]] = []
        for i, b in enumerate(budgets):
            row = c.execute("SELECT usd, tokens FROM usage_counter WHERE key = ? AND expires >= ?",
                            (b.key, now)).fetchone()
            u, k = (int(row[0]), int(row[1])) if row else (0, 0)
            if (b.usd_limit >= 0 and du > 0 and u + du > b.usd_limit) or \
                    (b.token_limit >= 0 and dt > 0 and k + dt > b.token_limit):
                return Admission("budget", i, used=((u, k),))
            used.append((u + du, k + dt))
        for r, tat in zip(rates, new_tats, strict=True):
            c.execute("INSERT INTO usage_rate (key, tat, expires) VALUES (?, ?, ?) ON CONFLICT (key) DO UPDATE "
                      "SET tat = excluded.tat, expires = excluded.expires", (r.key, tat, tat / 1000.0 + 1.0))
        if budgets:
            for b, (u, k) in zip(budgets, used, strict=True):
                c.execute("INSERT INTO usage_counter (key, usd, tokens, expires) VALUES (?, ?, ?, ?) "
                          "ON CONFLICT (key) DO UPDATE SET usd = excluded.usd, tokens = excluded.tokens, "
                          "expires = excluded.expires", (b.key, u, k, b.expire_at))
            c.execute("INSERT INTO usage_charge (key, usd, tokens, expires) VALUES (?, ?, ?, ?) ON CONFLICT (key) "
                      "DO UPDATE SET usd = excluded.usd, tokens = excluded.tokens, expires = excluded.expires",
                      (charge, cu + du, ct + dt, now + charge_ttl))
        self._sweep(now)
        return Admission("ok", used=tuple(used), rates=tuple(states), prior=(cu, ct))

    async def settle(self, charge: str, budgets: tuple[BudgetCounter, ...], usd: int, tokens: int,
                     charge_ttl: int) -> None:
        def op(c: sqlite3.Connection, now: float) -> None:
            row = c.execute("SELECT usd, tokens FROM usage_charge WHERE key = ? AND expires >= ?",
                            (charge, now)).fetchone()
            cu, ct = (int(row[0]), int(row[1])) if row else (0, 0)
            du, dt = usd - cu, tokens - ct
            for b in budgets:
                c.execute("INSERT INTO usage_counter (key, usd, tokens, expires) VALUES (?, ?, ?, ?) ON CONFLICT "
                          "(key) DO UPDATE SET usd = usd + excluded.usd, tokens = tokens + excluded.tokens",
                          (b.key, du, dt, b.expire_at))
            if charge_ttl == 0:
                c.execute("DELETE FROM usage_charge WHERE key = ?", (charge,))
                return
            c.execute("INSERT INTO usage_charge (key, usd, tokens, expires) VALUES (?, ?, ?, ?) ON CONFLICT (key) "
                      "DO UPDATE SET usd = excluded.usd, tokens = excluded.tokens, expires = excluded.expires",
                      (charge, usd, tokens, now + charge_ttl))

        await self._queue(op)

    async def read(self, keys: tuple[str, ...]) -> list[tuple[int, int]]:
        now = time.time()
        out = []
        for key in keys:
            row = self._c.execute("SELECT usd, tokens FROM usage_counter WHERE key = ? AND expires >= ?",
                                  (key, now)).fetchone()
            out.append((int(row[0]), int(row[1])) if row else (0, 0))
        return out

    async def overwrite(self, values: dict[str, tuple[int, int, int]]) -> None:
        c = self._c
        c.execute("BEGIN IMMEDIATE")
        try:
            for key, (u, t, expire_at) in values.items():
                c.execute("INSERT INTO usage_counter (key, usd, tokens, expires) VALUES (?, ?, ?, ?) ON CONFLICT "
                          "(key) DO UPDATE SET usd = excluded.usd, tokens = excluded.tokens, "
                          "expires = excluded.expires", (key, u, t, expire_at))
            c.execute("COMMIT")
        except BaseException:
            c.execute("ROLLBACK")
            raise
