"""PostgreSQL: durable shared state for many gateway instances.

The audit log is written in two stages, as transparency logs do it. *Sequencing* is what a call waits
for: an instance's batch of records takes a range of indexes from the ``audit_sequence`` counter and is
inserted in the same statement, one round trip and one short transaction; the counter row is locked
from that update to the commit, so instances queue only for that, never for Merkle work, and the
records of one commit are contiguous (a transaction that fails releases its range, no index is lost).
*Integration* is done by one process at a time, the holder of a session advisory lock on a connection
of its own: it folds sequenced rows into the Merkle frontier (``audit_frontier``) in index order. When
that process or its connection dies, PostgreSQL releases the lock and the next one to ask takes over.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from typing import Any

import asyncpg

from interlock.identity.keycache import CachedKeys
from interlock.identity.keys import ApiKeyRecord
from interlock.merkle.checkpoint import Checkpoint
from interlock.merkle.tree import MerkleAccumulator
from interlock.settings import StoreSettings
from interlock.store.base import (
    APPROVAL_COLUMNS,
    KEY_COLUMNS,
    LOG_COLUMNS,
    LOG_ROWS_SQL,
    PIN_COLUMNS,
    PROBE_ROW,
    ApprovalConflict,
    ApprovalRow,
    ApprovalWrite,
    LogEntry,
    LogRow,
    RecordQuery,
    ToolPin,
    approval_from_row,
    approval_values,
    checkpoint_from_row,
    decode_record,
    key_from_row,
    key_row,
    log_row,
    migrations,
    payload_rows,
    pin_from_row,
    pin_values,
    where_clause,
)

# Arbitrary but fixed: the advisory lock ids that serialise migrations and elect the integrator.
_MIGRATION_LOCK = 0x1E7_10C4
_INTEGRATOR_LOCK = 0x1E7_10C6

# Sequencing (see the module docstring): $1 the number of records, then the log columns and the payload
# rows, column by column. Returns the index of the first record.
_SEQUENCE = """
WITH reserved AS (
    UPDATE audit_sequence SET next = next + $1 WHERE id = 1 RETURNING next - $1 AS first
), log AS (
    INSERT INTO audit_log (seq, request_id, ts, tenant, principal, model, status, refusal_code, leaf_hash, record,
                           payload_hash)
    SELECT reserved.first + r.n - 1, r.request_id, r.ts, r.tenant, r.principal, r.model, r.status, r.refusal_code,
           r.leaf_hash, r.record, r.payload_hash
    FROM reserved, unnest($2::text[], $3::float8[], $4::text[], $5::text[], $6::text[], $7::int[], $8::text[],
                          $9::bytea[], $10::bytea[], $11::bytea[])
         WITH ORDINALITY AS r(request_id, ts, tenant, principal, model, status, refusal_code, leaf_hash, record,
                              payload_hash, n)
), payload AS (
    INSERT INTO audit_payload (hash, body, expires)
    SELECT * FROM unnest($12::bytea[], $13::bytea[], $14::float8[])
    ON CONFLICT (hash) DO NOTHING
)
SELECT first FROM reserved
"""

# The integrator's connection notices a vanished peer within seconds, so its lock is not held by a ghost.
_KEEPALIVE = {"tcp_keepalives_idle": "5", "tcp_keepalives_interval": "2", "tcp_keepalives_count": "3"}


def _sequence_args(entries: Sequence[LogEntry]) -> list[Any]:
    payloads = payload_rows(entries)
    return [len(entries),
            [e.request_id for e in entries], [e.ts for e in entries], [e.tenant for e in entries],
            [e.principal for e in entries], [e.model for e in entries], [e.status for e in entries],
            [e.refusal_code for e in entries], [e.leaf_hash for e in entries], [e.record for e in entries],
            [e.payload_hash for e in entries],
            *([list(column) for column in zip(*payloads, strict=True)] if payloads else [[], [], []])]


class PostgresStore:
    dialect = "postgresql"

    def __init__(self, settings: StoreSettings) -> None:
        self.url = settings.url.replace("postgres://", "postgresql://", 1)
        self.pool_size = settings.pool_size
        self._pool: asyncpg.Pool | None = None
        # The connection holding the integrator's lease while this store is the integrator.
        self._integrator: asyncpg.Connection | None = None
        self._leading = False
        # One integration at a time on that connection (the background task and an explicit checkpoint).
        self._integrating = asyncio.Lock()
        # Key records cached in this instance, checked per call against the key epoch (one shared read).
        self._keys = CachedKeys(self._key_row_by_prefix, self.key_epoch)

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
        await self.release_integration()
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
        return await self._keys(prefix)

    async def _key_row_by_prefix(self, prefix: str) -> ApiKeyRecord | None:
        row = await self.pool.fetchrow(f"SELECT {KEY_COLUMNS} FROM api_keys WHERE prefix = $1", prefix)
        return key_from_row(tuple(row)) if row else None

    async def key_epoch(self) -> int:
        """The counter every revocation bumps; read per call (shared by the calls that arrive together)."""
        epoch: int = await self.pool.fetchval("SELECT epoch FROM key_epoch WHERE id = 1")
        return epoch

    async def list_keys(self) -> list[ApiKeyRecord]:
        rows = await self.pool.fetch(f"SELECT {KEY_COLUMNS} FROM api_keys ORDER BY created")
        return [key_from_row(tuple(r)) for r in rows]

    async def holds_key(self, tenant: str, principal_id: str) -> bool:
        found = await self.pool.fetchval("SELECT 1 FROM api_keys WHERE tenant = $1 AND principal_id = $2 AND revoked "
                                         "IS NULL AND (expires IS NULL OR expires > $3) LIMIT 1",
                                         tenant, principal_id, time.time())
        return found is not None

    async def revoke_key(self, key_id: str, at: float) -> bool:
        async with self.pool.acquire() as conn, conn.transaction():
            status: str = await conn.execute(
                "UPDATE api_keys SET revoked = $1 WHERE id = $2 AND revoked IS NULL", at, key_id)
            if not status.endswith(" 1"):
                return False
            # Committed with the revocation: every instance drops its cached keys on its next call.
            await conn.execute("UPDATE key_epoch SET epoch = epoch + 1 WHERE id = 1")
        return True

    async def append_entries(self, entries: Sequence[LogEntry]) -> int:
        args = _sequence_args(entries)
        if not any(e.approval is not None for e in entries):
            first: int = await self.pool.fetchval(_SEQUENCE, *args)
            return first
        async with self.pool.acquire() as conn, conn.transaction():
            # Approval rows first: the counter row is locked only by the statement that ends the transaction.
            for index, e in enumerate(entries):
                if e.approval is not None and not await _write_approval(conn, e.approval):
                    raise ApprovalConflict(index, e.approval.row.id)
            first = await conn.fetchval(_SEQUENCE, *args)
        return first

    def append_entries_now(self, entries: Sequence[LogEntry]) -> int | None:
        return None  # a network round trip must not block the event loop

    def start_append(self, entries: Sequence[LogEntry]) -> asyncio.Future[int] | None:
        return None  # the pool's connections already append without blocking the event loop

    async def probe_append(self) -> None:
        async with self.pool.acquire() as conn:
            tx = conn.transaction()
            await tx.start()
            try:
                await conn.execute("SET LOCAL lock_timeout = '2s'")
                await conn.copy_records_to_table("audit_log", columns=list(LOG_COLUMNS), records=[PROBE_ROW])
                await conn.execute("UPDATE audit_sequence SET next = next WHERE id = 1")
            finally:
                await tx.rollback()

    async def frontier(self) -> tuple[int, bytes]:
        row = await self.pool.fetchrow("SELECT size, frontier FROM audit_frontier WHERE id = 1")
        return (int(row["size"]), bytes(row["frontier"])) if row else (0, MerkleAccumulator().to_bytes())

    async def sequenced_size(self) -> int:
        size: int = await self.pool.fetchval("SELECT next FROM audit_sequence WHERE id = 1")
        return size

    async def integrate(self, limit: int) -> tuple[int, bytes] | None:
        async with self._integrating:
            return await self._integrate(limit)

    async def _integrate(self, limit: int) -> tuple[int, bytes] | None:
        conn = self._integrator
        if conn is None or conn.is_closed():
            # Kept open while this process runs, holding the lease or asking for it every try.
            conn = self._integrator = await asyncpg.connect(self.url, timeout=10, server_settings=_KEEPALIVE)
            self._leading = False
        if not self._leading:
            try:
                # Per schema: logs kept in several schemas of one database each have their own integrator.
                self._leading = bool(await conn.fetchval(
                    "SELECT pg_try_advisory_lock($1, hashtext(current_schema()))", _INTEGRATOR_LOCK))
            except BaseException:
                await self.release_integration()
                raise
            if not self._leading:
                return None
        try:
            # Only on the lease's own connection: if it is gone, so is the lease, and nothing is written.
            async with conn.transaction():
                row = await conn.fetchrow("SELECT size, frontier FROM audit_frontier WHERE id = 1 FOR UPDATE")
                size = int(row["size"]) if row else 0
                acc = MerkleAccumulator.from_bytes(bytes(row["frontier"])) if row else MerkleAccumulator()
                leaves = await conn.fetch("SELECT seq, leaf_hash FROM audit_log WHERE seq >= $1 AND seq < $2 "
                                          "ORDER BY seq", size, size + limit)
                for seq, leaf in leaves:
                    if seq != acc.size:
                        break  # a missing index: integration stops there, and verification names it
                    acc.append(bytes(leaf))
                frontier = acc.to_bytes()
                if acc.size != size:
                    await conn.execute("INSERT INTO audit_frontier (id, size, frontier) VALUES (1, $1, $2) "
                                       "ON CONFLICT (id) DO UPDATE SET size = excluded.size, "
                                       "frontier = excluded.frontier", acc.size, frontier)
        except BaseException:
            await self.release_integration()
            raise
        return acc.size, frontier

    async def release_integration(self) -> None:
        conn, self._integrator, self._leading = self._integrator, None, False
        if conn is not None and not conn.is_closed():
            try:
                await asyncio.wait_for(conn.close(), 5)
            except Exception:
                conn.terminate()

    async def add_checkpoint(self, checkpoint: Checkpoint) -> None:
        c = checkpoint
        await self.pool.execute(
            "INSERT INTO audit_checkpoint (tree_size, root_hash, ts, key_id, signature) VALUES ($1, $2, $3, $4, $5) "
            "ON CONFLICT (tree_size) DO NOTHING", c.tree_size, c.root_hash, c.timestamp, c.key_id, c.signature)

    async def checkpoints(self) -> list[Checkpoint]:
        rows = await self.pool.fetch("SELECT tree_size, root_hash, ts, key_id, signature FROM audit_checkpoint "
                                     "ORDER BY tree_size")
        return [checkpoint_from_row(tuple(r)) for r in rows]

    async def log_rows(self, after: int, limit: int) -> list[LogRow]:
        rows = await self.pool.fetch(LOG_ROWS_SQL.format("$1", "$2"), after, limit)
        return [log_row(r) for r in rows]

    async def leaf_hashes(self, start: int, end: int) -> list[bytes]:
        rows = await self.pool.fetch("SELECT leaf_hash FROM audit_log WHERE seq >= $1 AND seq < $2 ORDER BY seq",
                                     start, end)
        return [bytes(r[0]) for r in rows]

    async def entry_for_request(self, request_id: str) -> tuple[int, bytes] | None:
        row = await self.pool.fetchrow("SELECT seq, record FROM audit_log WHERE request_id = $1 ORDER BY seq LIMIT 1",
                                       request_id)
        return (int(row[0]), bytes(row[1])) if row else None

    async def erase_payload(self, request_id: str) -> bool:
        status: str = await self.pool.execute(
            "DELETE FROM audit_payload WHERE hash IN (SELECT payload_hash FROM audit_log WHERE request_id = $1 "
            "AND payload_hash IS NOT NULL)", request_id)
        return not status.endswith(" 0")

    async def purge_expired_payloads(self, now: float) -> int:
        status: str = await self.pool.execute(
            "DELETE FROM audit_payload WHERE expires IS NOT NULL AND expires <= $1", now)
        return int(status.rsplit(" ", 1)[-1])

    async def vault_get(self, conversation_id: str) -> bytes | None:
        blob = await self.pool.fetchval("SELECT blob FROM vault WHERE conversation_id = $1 AND expires > $2",
                                        conversation_id, time.time())
        return bytes(blob) if blob is not None else None

    async def vault_put(self, conversation_id: str, blob: bytes, ttl_seconds: float,
                        expected: bytes | None) -> bool:
        now = time.time()
        if expected is None:  # a new map: takes the place of nothing, or of an expired one
            status: str = await self.pool.execute(
                "INSERT INTO vault (conversation_id, blob, expires) VALUES ($1, $2, $3) ON CONFLICT (conversation_id) "
                "DO UPDATE SET blob = excluded.blob, expires = excluded.expires WHERE vault.expires <= $4",
                conversation_id, blob, now + ttl_seconds, now)
        else:
            status = await self.pool.execute(
                "UPDATE vault SET blob = $1, expires = $2 WHERE conversation_id = $3 AND blob = $4 AND expires > $5",
                blob, now + ttl_seconds, conversation_id, expected, now)
        return status.endswith(" 1")

    async def vault_erase(self, conversation_id: str) -> bool:
        status: str = await self.pool.execute("DELETE FROM vault WHERE conversation_id = $1", conversation_id)
        return not status.endswith(" 0")

    async def vault_purge_expired(self) -> int:
        status: str = await self.pool.execute("DELETE FROM vault WHERE expires <= $1", time.time())
        return int(status.rsplit(" ", 1)[-1])

    async def query_records(self, query: RecordQuery) -> list[tuple[int, dict[str, Any]]]:
        where, args = where_clause(query, lambda i: f"${i}", lambda p: f"position({p}::bytea in record) > 0")
        order = "DESC" if query.newest_first else "ASC"
        args.append(query.limit)
        rows = await self.pool.fetch(
            f"SELECT seq, record FROM audit_log{where} ORDER BY seq {order} LIMIT ${len(args)}", *args
        )
        return [(int(r["seq"]), decode_record(bytes(r["record"]))) for r in rows]

    # -- approvals and tool pins ---------------------------------------------------------------

    async def approval_get(self, approval_id: str) -> ApprovalRow | None:
        row = await self.pool.fetchrow(f"SELECT {APPROVAL_COLUMNS} FROM approvals WHERE id = $1", approval_id)
        return approval_from_row(tuple(row)) if row else None

    async def approvals_query(self, *, tenant: str | None, state: str | None, limit: int) -> list[ApprovalRow]:
        conds: list[str] = []
        args: list[Any] = []
        for column, value in (("tenant", tenant), ("state", state)):
            if value is not None:
                args.append(value)
                conds.append(f"{column} = ${len(args)}")
        where = (" WHERE " + " AND ".join(conds)) if conds else ""
        args.append(limit)
        rows = await self.pool.fetch(
            f"SELECT {APPROVAL_COLUMNS} FROM approvals{where} ORDER BY created DESC LIMIT ${len(args)}", *args)
        return [approval_from_row(tuple(r)) for r in rows]

    async def approvals_due(self, now: float, limit: int) -> list[ApprovalRow]:
        rows = await self.pool.fetch(f"SELECT {APPROVAL_COLUMNS} FROM approvals WHERE state = 'pending' AND due <= $1 "
                                     f"ORDER BY due LIMIT $2", now, limit)
        return [approval_from_row(tuple(r)) for r in rows]

    async def tool_pin_get(self, name: str) -> ToolPin | None:
        row = await self.pool.fetchrow(f"SELECT {PIN_COLUMNS} FROM tool_pins WHERE name = $1", name)
        return pin_from_row(tuple(row)) if row else None

    async def tool_pin_put(self, pin: ToolPin) -> None:
        await self.pool.execute(
            f"INSERT INTO tool_pins ({PIN_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (name) DO UPDATE SET "
            "server = excluded.server, digest = excluded.digest, definition = excluded.definition, "
            "approved_by = excluded.approved_by, approved_at = excluded.approved_at", *pin_values(pin))

    async def tool_pins(self) -> list[ToolPin]:
        rows = await self.pool.fetch(f"SELECT {PIN_COLUMNS} FROM tool_pins ORDER BY name")
        return [pin_from_row(tuple(r)) for r in rows]


async def _write_approval(conn: Any, write: ApprovalWrite) -> bool:
    """Store an approval row within the current transaction; False if it exists or changed meanwhile."""
    row = write.row
    if write.expected_version is None:
        status: str = await conn.execute(
            f"INSERT INTO approvals ({APPROVAL_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) "
            "ON CONFLICT (id) DO NOTHING", *approval_values(row))
    else:
        status = await conn.execute(
            "UPDATE approvals SET state = $1, due = $2, version = $3, doc = $4 WHERE id = $5 AND version = $6",
            row.state, row.due, row.version, row.doc, row.id, write.expected_version)
    return status.endswith(" 1")
