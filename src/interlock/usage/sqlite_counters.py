"""Counters in SQLite, the embedded default: one file every worker of one machine shares, each decision
one ``BEGIN IMMEDIATE`` transaction (the file lock makes concurrent workers take turns), with the same
arithmetic as the Redis script.

A decision is a handful of indexed statements on a small table: tens of microseconds, so it runs on the
event loop rather than paying a thread hand-off for each call; the decisions and settlements of one turn of
the loop share one transaction. A call's settlement is queued (``settle_later``) and applied at the head of
the next decision's transaction, or in one of its own ``SETTLE_DELAY_SECONDS`` later: one transaction per
call, not two.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import sqlite3
import time
from collections.abc import Callable
from typing import Any

from interlock.usage.counters import (
    SETTLE_DELAY_SECONDS,
    SETTLE_RETRY_SECONDS,
    Admission,
    BudgetCounter,
    RateCounter,
    RateState,
    Settlement,
    gcra,
    requeue,
)

log = logging.getLogger("interlock.usage")

# WITHOUT ROWID: a row lives in its key's B-tree alone, so a decision dirties half the pages (no separate
# index per table), and the write-ahead log grows, and is checkpointed, half as often. (A file created
# before keeps its tables; the statements are the same.)
_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS usage_counter (key TEXT PRIMARY KEY, usd INTEGER NOT NULL, tokens INTEGER NOT NULL, "
    "expires REAL NOT NULL) WITHOUT ROWID",
    "CREATE TABLE IF NOT EXISTS usage_charge (key TEXT PRIMARY KEY, usd INTEGER NOT NULL, tokens INTEGER NOT NULL, "
    "expires REAL NOT NULL) WITHOUT ROWID",
    "CREATE TABLE IF NOT EXISTS usage_rate (key TEXT PRIMARY KEY, tat REAL NOT NULL, expires REAL NOT NULL) "
    "WITHOUT ROWID",
)
# Expired rows are swept every this many decisions (by whichever worker makes it).
_SWEEP_EVERY = 1000
# The write-ahead log is checkpointed, in a worker thread, after this many transactions of this process.
_CHECKPOINT_EVERY = 200


@functools.lru_cache(maxsize=256)
def _select(rates: int, budgets: int) -> str:
    """The decision's one read: (key, tat or usd, tokens) of its rate counters, budget counters and charge;
    its parameters are the rate keys and the time, the budget keys and the time (each part only when it has
    keys), then the charge and the time."""
    parts = []
    if rates:
        parts.append(f"SELECT key, tat, 0 FROM usage_rate WHERE key IN ({', '.join('?' * rates)}) AND expires >= ?")
    if budgets:
        parts.append(f"SELECT key, usd, tokens FROM usage_counter WHERE key IN ({', '.join('?' * budgets)}) "
                     "AND expires >= ?")
    parts.append("SELECT key, usd, tokens FROM usage_charge WHERE key = ? AND expires >= ?")
    return " UNION ALL ".join(parts)


class SqliteCounters:
    def __init__(self, path: str, timeout_seconds: float) -> None:
        self._path = path
        self._timeout = timeout_seconds
        self._conn: sqlite3.Connection | None = None
        self._decisions = 0
        self._pending: list[tuple[Callable[[sqlite3.Connection, float], Any], asyncio.Future[Any]]] = []
        # Settlements waiting for the next transaction (a decision's, or the timer's).
        self._queued: list[Settlement] = []
        self._timer: asyncio.TimerHandle | None = None
        self._commits = 0
        self._checkpointing: asyncio.Future[None] | None = None

    async def open(self) -> None:
        conn = sqlite3.connect(self._path, isolation_level=None, check_same_thread=False,
                               timeout=self._timeout)
        conn.execute("PRAGMA journal_mode=WAL")
        # Counters are rebuilt from the audit records after a crash (``interlock budgets reconcile``), so
        # they need not be durable per decision: NORMAL syncs at checkpoints, not at every commit. A commit
        # writes to the log in the page cache; it is visible to every other process at once (what budgets
        # across workers need), durable at the next checkpoint.
        conn.execute("PRAGMA synchronous=NORMAL")
        # No checkpoint on the event loop (its fsyncs would stall every call): ``_checkpoint`` runs them in a
        # worker thread over a connection of its own.
        conn.execute("PRAGMA wal_autocheckpoint=0")
        for statement in _SCHEMA:
            conn.execute(statement)
        self._conn = conn
        self._commits = 0

    async def close(self) -> None:
        await self.flush()
        if self._checkpointing is not None:
            await asyncio.wait([self._checkpointing])
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self._queued:
            log.error("closing the usage counters with %d budget settlements unapplied (the counters keep their "
                      "reservations until `interlock budgets reconcile`)", len(self._queued))
            self._queued = []
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
        settlements, self._queued = self._queued, []
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if not batch and not settlements:
            return
        try:
            c = self._c
            now = time.time()
            c.execute("BEGIN IMMEDIATE")
        except Exception as exc:
            self._failed(settlements, batch, exc)
            return
        results: list[tuple[asyncio.Future[Any], Any]] = []
        try:
            # The queued settlements first: the decisions after them see what they gave back.
            for s in settlements:
                self._settle(c, now, s.charge, s.budgets, s.usd, s.tokens, s.charge_ttl)
            for op, fut in batch:
                results.append((fut, op(c, now)))
            c.execute("COMMIT")
            self._commits += 1
            if self._commits % _CHECKPOINT_EVERY == 0 and self._checkpointing is None:
                self._checkpointing = asyncio.ensure_future(asyncio.to_thread(self._checkpoint))
                self._checkpointing.add_done_callback(self._checkpointed)
        except Exception as exc:
            with contextlib.suppress(sqlite3.Error):
                c.execute("ROLLBACK")
            self._failed(settlements, batch, exc)
            return
        for fut, result in results:
            if not fut.done():
                fut.set_result(result)

    def _failed(self, settlements: list[Settlement],
                batch: list[tuple[Callable[[sqlite3.Connection, float], Any], asyncio.Future[Any]]],
                exc: BaseException) -> None:
        # Rolled back: nothing of it was applied, so the settlements go out again whole.
        if settlements:
            requeue(self._queued, settlements, time.monotonic(), f"{type(exc).__name__}: {exc}")
            if self._queued and self._timer is None and self._conn is not None:
                self._timer = asyncio.get_running_loop().call_later(SETTLE_RETRY_SECONDS, self._on_timer)
        for _, fut in batch:
            if not fut.done():
                fut.set_exception(exc)

    def _checkpoint(self) -> None:
        """Copy the log into the database file (syncing both): PASSIVE, so it never waits for nor blocks a
        decision; what a transaction still reads is left for the next one."""
        conn = sqlite3.connect(self._path, isolation_level=None, timeout=self._timeout)
        try:
            conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
        finally:
            conn.close()

    def _checkpointed(self, done: asyncio.Future[None]) -> None:
        self._checkpointing = None
        if not done.cancelled() and done.exception() is not None:
            log.warning("checkpointing the usage counters failed (tried again later): %s", done.exception())

    def _on_timer(self) -> None:
        self._timer = None
        if self._queued and not self._pending:
            self._run_pending()

    async def admit(self, charge: str, budgets: tuple[BudgetCounter, ...], rates: tuple[RateCounter, ...],
                    usd: int, tokens: int, rate_tokens: int, charge_ttl: int) -> Admission:
        result: Admission = await self._queue(lambda c, now: self._admit(
            c, now, now * 1000.0, charge, budgets, rates, usd, tokens, rate_tokens, charge_ttl))
        return result

    def _admit(self, c: sqlite3.Connection, now: float, now_ms: float, charge: str,
               budgets: tuple[BudgetCounter, ...], rates: tuple[RateCounter, ...], usd: int, tokens: int,
               rate_tokens: int, charge_ttl: int) -> Admission:
        # Every row the decision reads, in one statement (the keys of the three tables never collide).
        params: list[Any] = [r.key for r in rates]
        if rates:
            params.append(now)
        params += [b.key for b in budgets]
        if budgets:
            params.append(now)
        params += (charge, now)
        rows = {key: (a, b) for key, a, b in c.execute(_select(len(rates), len(budgets)), params)}
        states: list[RateState] = []
        new_tats: list[float] = []
        for i, r in enumerate(rates):
            row = rows.get(r.key)
            amount = rate_tokens if r.kind == "tokens" else 1
            allowed, tat, remaining, ms = gcra(float(row[0]) if row else 0.0, now_ms, amount, r.per_minute)
            if not allowed:
                return Admission("rate", i, rates=(RateState(r.kind, r.per_minute, remaining, ms),), retry_ms=ms)
            new_tats.append(tat)
            states.append(RateState(r.kind, r.per_minute, remaining, ms))
        row = rows.get(charge)
        cu, ct = (int(row[0]), int(row[1])) if row else (0, 0)
        du, dt = max(0, usd - cu), max(0, tokens - ct)
        used: list[tuple[int, int]] = []
        for i, b in enumerate(budgets):
            row = rows.get(b.key)
            u, k = (int(row[0]), int(row[1])) if row else (0, 0)
            if (b.usd_limit >= 0 and du > 0 and u + du > b.usd_limit) or \
                    (b.token_limit >= 0 and dt > 0 and k + dt > b.token_limit):
                return Admission("budget", i, used=((u, k),))
            used.append((u + du, k + dt))
        if rates:
            c.executemany("INSERT INTO usage_rate (key, tat, expires) VALUES (?, ?, ?) ON CONFLICT (key) DO UPDATE "
                          "SET tat = excluded.tat, expires = excluded.expires",
                          [(r.key, tat, tat / 1000.0 + 1.0) for r, tat in zip(rates, new_tats, strict=True)])
        if budgets:
            c.executemany("INSERT INTO usage_counter (key, usd, tokens, expires) VALUES (?, ?, ?, ?) "
                          "ON CONFLICT (key) DO UPDATE SET usd = excluded.usd, tokens = excluded.tokens, "
                          "expires = excluded.expires",
                          [(b.key, u, k, b.expire_at) for b, (u, k) in zip(budgets, used, strict=True)])
            c.execute("INSERT INTO usage_charge (key, usd, tokens, expires) VALUES (?, ?, ?, ?) ON CONFLICT (key) "
                      "DO UPDATE SET usd = excluded.usd, tokens = excluded.tokens, expires = excluded.expires",
                      (charge, cu + du, ct + dt, now + charge_ttl))
        self._sweep(now)
        return Admission("ok", used=tuple(used), rates=tuple(states), prior=(cu, ct))

    @staticmethod
    def _settle(c: sqlite3.Connection, now: float, charge: str, budgets: tuple[BudgetCounter, ...], usd: int,
                tokens: int, charge_ttl: int) -> None:
        row = c.execute("SELECT usd, tokens FROM usage_charge WHERE key = ? AND expires >= ?",
                        (charge, now)).fetchone()
        cu, ct = (int(row[0]), int(row[1])) if row else (0, 0)
        du, dt = usd - cu, tokens - ct
        c.executemany("INSERT INTO usage_counter (key, usd, tokens, expires) VALUES (?, ?, ?, ?) ON CONFLICT "
                      "(key) DO UPDATE SET usd = usd + excluded.usd, tokens = tokens + excluded.tokens",
                      [(b.key, du, dt, b.expire_at) for b in budgets])
        if charge_ttl == 0:
            # A transaction applies whole or not at all, so no settlement is ever applied twice: the charge
            # of a request id can go.
            c.execute("DELETE FROM usage_charge WHERE key = ?", (charge,))
            return
        c.execute("INSERT INTO usage_charge (key, usd, tokens, expires) VALUES (?, ?, ?, ?) ON CONFLICT (key) "
                  "DO UPDATE SET usd = excluded.usd, tokens = excluded.tokens, expires = excluded.expires",
                  (charge, usd, tokens, now + charge_ttl))

    async def settle(self, charge: str, budgets: tuple[BudgetCounter, ...], usd: int, tokens: int,
                     charge_ttl: int) -> None:
        await self._queue(lambda c, now: self._settle(c, now, charge, budgets, usd, tokens, charge_ttl))

    def settle_later(self, charge: str, budgets: tuple[BudgetCounter, ...], usd: int, tokens: int,
                     charge_ttl: int) -> None:
        self._queued.append(Settlement(charge, budgets, usd, tokens, charge_ttl, time.monotonic()))
        if self._timer is None and not self._pending:
            self._timer = asyncio.get_running_loop().call_later(SETTLE_DELAY_SECONDS, self._on_timer)

    async def flush(self) -> None:
        if self._queued and self._conn is not None:
            self._run_pending()

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
