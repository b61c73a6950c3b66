"""The embedded store: one SQLite file in WAL mode.

Writes go through one dedicated thread and one connection, so a batch of audit records is one
transaction and one fsync. Reads (key look-ups) use their own connection on the event loop: a
point query on an indexed column takes microseconds, less than a hop to a thread would.
Several worker processes may share the file; ``BEGIN IMMEDIATE`` serialises their appends.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from interlock.identity.keys import ApiKeyRecord
from interlock.settings import StoreSettings, sqlite_path
from interlock.store.base import (
    KEY_COLUMNS,
    LogEntry,
    RecordQuery,
    decode_record,
    key_from_row,
    key_row,
    migrations,
    where_clause,
)

_BUSY_TIMEOUT_MS = 15_000


def _connect(path: str) -> sqlite3.Connection:
    conn = sqlite3.connect(path, timeout=_BUSY_TIMEOUT_MS / 1000, isolation_level=None,
                           check_same_thread=False)
    conn.execute(f"PRAGMA busy_timeout={_BUSY_TIMEOUT_MS}")
    conn.execute("PRAGMA journal_mode=WAL")
    # FULL: a commit is on disk before it returns; the response waits for exactly that.
    conn.execute("PRAGMA synchronous=FULL")
    conn.execute("PRAGMA foreign_keys=ON")
    return conn


class SqliteStore:
    dialect = "sqlite"

    def __init__(self, settings: StoreSettings) -> None:
        self.path = sqlite_path(settings.url)
        self._writer: ThreadPoolExecutor | None = None
        self._wconn: sqlite3.Connection | None = None
        self._rconn: sqlite3.Connection | None = None

    async def open(self) -> None:
        if self.path != ":memory:":
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        self._writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="interlock-sqlite-writer")
        self._wconn = await self._in_writer(_connect, self.path)
        await self._in_writer(self._migrate)
        self._rconn = _connect(self.path)

    async def close(self) -> None:
        if self._writer is not None:
            if self._wconn is not None:
                await self._in_writer(self._wconn.close)
            self._writer.shutdown(wait=True)
            self._writer = None
        if self._rconn is not None:
            self._rconn.close()
            self._rconn = None

    async def _in_writer(self, fn: Any, *args: Any) -> Any:
        if self._writer is None:
            raise RuntimeError("store is not open")
        return await asyncio.get_running_loop().run_in_executor(self._writer, fn, *args)

    @property
    def _r(self) -> sqlite3.Connection:
        if self._rconn is None:
            raise RuntimeError("store is not open")
        return self._rconn

    @property
    def _w(self) -> sqlite3.Connection:
        if self._wconn is None:
            raise RuntimeError("store is not open")
        return self._wconn

    def _migrate(self) -> None:
        conn = self._w
        conn.execute("BEGIN IMMEDIATE")
        try:
            conn.execute("CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY)")
            done = {r[0] for r in conn.execute("SELECT version FROM schema_migrations")}
            for version, sql in migrations("sqlite"):
                if version in done:
                    continue
                for statement in sql.split(";"):
                    if statement.strip():
                        conn.execute(statement)
                conn.execute("INSERT INTO schema_migrations (version) VALUES (?)", (version,))
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise

    async def ping(self) -> None:
        self._r.execute("SELECT 1").fetchone()
        await self._in_writer(lambda: self._w.execute("SELECT 1").fetchone())

    # -- keys ---------------------------------------------------------------------------------

    async def create_key(self, record: ApiKeyRecord) -> None:
        row = key_row(record)
        await self._in_writer(
            lambda: self._w.execute(f"INSERT INTO api_keys ({KEY_COLUMNS}) VALUES "
                                    f"({', '.join('?' * len(row))})", row)
        )

    async def key_by_prefix(self, prefix: str) -> ApiKeyRecord | None:
        row = self._r.execute(f"SELECT {KEY_COLUMNS} FROM api_keys WHERE prefix = ?", (prefix,)).fetchone()
        return key_from_row(row) if row else None

    async def list_keys(self) -> list[ApiKeyRecord]:
        rows = self._r.execute(f"SELECT {KEY_COLUMNS} FROM api_keys ORDER BY created").fetchall()
        return [key_from_row(r) for r in rows]

    async def revoke_key(self, key_id: str, at: float) -> bool:
        def run() -> bool:
            cur = self._w.execute("UPDATE api_keys SET revoked = ? WHERE id = ? AND revoked IS NULL",
                                  (at, key_id))
            return cur.rowcount > 0

        result: bool = await self._in_writer(run)
        return result

    # -- audit log ----------------------------------------------------------------------------

    def _append(self, entries: Sequence[LogEntry]) -> int:
        conn = self._w
        conn.execute("BEGIN IMMEDIATE")
        try:
            (last,) = conn.execute("SELECT COALESCE(MAX(seq), -1) FROM audit_log").fetchone()
            first = int(last) + 1
            conn.executemany(
                "INSERT INTO audit_log (seq, request_id, ts, tenant, principal, model, status, refusal_code,"
                " leaf_hash, record, payload_hash) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
                [(first + i, e.request_id, e.ts, e.tenant, e.principal, e.model, e.status, e.refusal_code,
                  e.leaf_hash, e.record, e.payload_hash) for i, e in enumerate(entries)],
            )
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        return first

    async def append_entries(self, entries: Sequence[LogEntry]) -> int:
        first: int = await self._in_writer(self._append, entries)
        return first

    async def query_records(self, query: RecordQuery) -> list[tuple[int, dict[str, Any]]]:
        where, args = where_clause(query, lambda i: "?")
        order = "DESC" if query.newest_first else "ASC"
        rows = self._r.execute(
            f"SELECT seq, record FROM audit_log{where} ORDER BY seq {order} LIMIT ?", (*args, query.limit)
        ).fetchall()
        return [(int(seq), decode_record(rec)) for seq, rec in rows]
