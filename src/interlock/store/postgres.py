"""PostgreSQL: durable shared state for many gateway instances.

Appends take a transaction-scoped advisory lock before reading the last sequence number, so
every instance and worker writes into one total order without gaps.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import asyncpg

from interlock.identity.keys import ApiKeyRecord
from interlock.settings import StoreSettings
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

# Arbitrary but fixed: the advisory lock ids that serialise migrations and audit appends.
_MIGRATION_LOCK = 0x1E7_10C4
_APPEND_LOCK = 0x1E7_10C5


class PostgresStore:
    dialect = "postgresql"

    def __init__(self, settings: StoreSettings) -> None:
        self.url = settings.url.replace("postgres://", "postgresql://", 1)
        self.pool_size = settings.pool_size
        self._pool: asyncpg.Pool | None = None

    @property
    def pool(self) -> asyncpg.Pool:
        if self._pool is None:
            raise RuntimeError("store is not open")
        return self._pool

    async def open(self) -> None:
        self._pool = await asyncpg.create_pool(self.url, min_size=1, max_size=self.pool_size,
                                               command_timeout=30)
        async with self.pool.acquire() as conn, conn.transaction():
            await conn.execute("SELECT pg_advisory_xact_lock($1)", _MIGRATION_LOCK)
            await conn.execute("CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY)")
            done = {r["version"] for r in await conn.fetch("SELECT version FROM schema_migrations")}
            for version, sql in migrations("postgresql"):
                if version not in done:
                    await conn.execute(sql)
                    await conn.execute("INSERT INTO schema_migrations (version) VALUES ($1)", version)

    async def close(self) -> None:
        if self._pool is not None:
            await self._pool.close()
            self._pool = None

    async def ping(self) -> None:
        await self.pool.fetchval("SELECT 1")

    async def create_key(self, record: ApiKeyRecord) -> None:
        row = key_row(record)
        params = ", ".join(f"${i + 1}" for i in range(len(row)))
        await self.pool.execute(f"INSERT INTO api_keys ({KEY_COLUMNS}) VALUES ({params})", *row)

    async def key_by_prefix(self, prefix: str) -> ApiKeyRecord | None:
        row = await self.pool.fetchrow(f"SELECT {KEY_COLUMNS} FROM api_keys WHERE prefix = $1", prefix)
        return key_from_row(tuple(row)) if row else None

    async def list_keys(self) -> list[ApiKeyRecord]:
        rows = await self.pool.fetch(f"SELECT {KEY_COLUMNS} FROM api_keys ORDER BY created")
        return [key_from_row(tuple(r)) for r in rows]

    async def revoke_key(self, key_id: str, at: float) -> bool:
        status: str = await self.pool.execute(
            "UPDATE api_keys SET revoked = $1 WHERE id = $2 AND revoked IS NULL", at, key_id
        )
        return status.endswith(" 1")

    async def append_entries(self, entries: Sequence[LogEntry]) -> int:
        async with self.pool.acquire() as conn, conn.transaction():
            await conn.execute("SELECT pg_advisory_xact_lock($1)", _APPEND_LOCK)
            first = int(await conn.fetchval("SELECT COALESCE(MAX(seq), -1) + 1 FROM audit_log"))
            await conn.copy_records_to_table(
                "audit_log",
                columns=["seq", "request_id", "ts", "tenant", "principal", "model", "status", "refusal_code",
                         "leaf_hash", "record", "payload_hash"],
                records=[(first + i, e.request_id, e.ts, e.tenant, e.principal, e.model, e.status,
                          e.refusal_code, e.leaf_hash, e.record, e.payload_hash)
                         for i, e in enumerate(entries)],
            )
        return first

    async def query_records(self, query: RecordQuery) -> list[tuple[int, dict[str, Any]]]:
        where, args = where_clause(query, lambda i: f"${i}")
        order = "DESC" if query.newest_first else "ASC"
        args.append(query.limit)
        rows = await self.pool.fetch(
            f"SELECT seq, record FROM audit_log{where} ORDER BY seq {order} LIMIT ${len(args)}", *args
        )
        return [(int(r["seq"]), decode_record(bytes(r["record"]))) for r in rows]
