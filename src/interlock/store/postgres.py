"""PostgreSQL: durable shared state for many gateway instances.

The audit log is written in two stages, as transparency logs do it. *Sequencing* is what a call waits
for: an instance's batch of records first reserves a range of indexes from the ``audit_sequence`` counter
in a statement of its own, committed without waiting for the disk, so the counter row is locked for
microseconds; then the batch is inserted in one durable transaction that holds no shared row at all, and
the instances' flushes overlap instead of queueing. Skipping the flush on the reservation loses nothing:
a reservation is only useful to an insert committed after it, and that commit flushes the log up to and
past the reservation. A range reserved but never filled (the writer died, or its transaction failed) is
a hole the integrator waits for, then fills with signed gap records (``Integration.gap_entry``); a writer that comes
back after that finds its indexes taken and writes its batch again under a new range, so no acknowledged
record is reordered or lost.

*Integration* is done by one process at a time, the holder of a lease (``audit_integrator``): a row with a
holder, a fencing token and a deadline on the database's clock, renewed by every round. The round's
transaction renews it by token first and keeps the row locked until it commits, so a holder that lost the
lease (paused, hung, cut off) writes nothing when it comes back, and nobody takes it over meanwhile. It
folds sequenced rows into the Merkle frontier (``audit_frontier``) in index order.
"""

from __future__ import annotations

import asyncio
import logging
import os
import secrets
import socket
import time
from collections.abc import Sequence
from datetime import timedelta
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
    Integration,
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
    log_rows_for,
    migrations,
    payload_rows,
    pin_from_row,
    pin_values,
    where_clause,
)

# Arbitrary but fixed: the advisory lock id that serialises migrations.
_MIGRATION_LOCK = 0x1E7_10C4

# Reserves $1 indexes and returns the first. Its own implicit transaction, committed without waiting for
# the disk (see the module docstring): the counter row is locked from the update to that commit only.
_RESERVE = """
WITH unflushed AS (SELECT set_config('synchronous_commit', 'off', true)),
reserved AS (UPDATE audit_sequence SET next = next + $1 WHERE id = 1 RETURNING next - $1 AS first)
SELECT first FROM reserved, unflushed
"""

# Sequencing: $1 the first reserved index, then the log columns and the payload rows, column by column.
_SEQUENCE = """
WITH log AS (
    INSERT INTO audit_log (seq, request_id, ts, tenant, principal, model, status, refusal_code, leaf_hash, record,
                           payload_hash)
    SELECT $1 + r.n - 1, r.request_id, r.ts, r.tenant, r.principal, r.model, r.status, r.refusal_code,
           r.leaf_hash, r.record, r.payload_hash
    FROM unnest($2::text[], $3::float8[], $4::text[], $5::text[], $6::text[], $7::int[], $8::text[],
                          $9::bytea[], $10::bytea[], $11::bytea[])
         WITH ORDINALITY AS r(request_id, ts, tenant, principal, model, status, refusal_code, leaf_hash, record,
                              payload_hash, n)
), payload AS (
    INSERT INTO audit_payload (hash, body, expires)
    SELECT * FROM unnest($12::bytea[], $13::bytea[], $14::float8[])
    ON CONFLICT (hash) DO NOTHING
)
SELECT 1
"""

log = logging.getLogger("interlock.audit")

# The integrator's connection notices a vanished server within seconds, so a cut-off holder stops its rounds.
_KEEPALIVE = {"tcp_keepalives_idle": "5", "tcp_keepalives_interval": "2", "tcp_keepalives_count": "3"}


def _sequence_args(first: int, entries: Sequence[LogEntry]) -> list[Any]:
    payloads = payload_rows(entries)
    return [first,
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
        # The lease's fencing token while this store holds it, and who it is in the lease row.
        self._token: int | None = None
        self._holder = f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(4)}"
        # The first reserved index found unwritten: (index, end of the hole then, when it was found).
        self._hole: tuple[int, int, float] | None = None
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
        try:
            return await self._append(entries)
        except asyncpg.UniqueViolationError as exc:
            if exc.constraint_name != "audit_log_pkey":
                raise
            # This batch took so long that the integrator gave its indexes up for lost and filled them with
            # gap records. Nothing of it was written and no caller was answered: it goes again, under a new
            # range (once: a second overtaking means the store is far too slow, and the calls fail).
            return await self._append(entries)

    async def _append(self, entries: Sequence[LogEntry]) -> int:
        if not any(e.approval is not None for e in entries):
            async with self.pool.acquire() as conn:
                first: int = await conn.fetchval(_RESERVE, len(entries))
                await conn.execute(_SEQUENCE, *_sequence_args(first, entries))
            return first
        async with self.pool.acquire() as conn, conn.transaction():
            # Approval rows first, so a conflict leaves no reserved range behind; the range is then taken on
            # another connection, outside this transaction, so the counter row is not held to its end.
            for index, e in enumerate(entries):
                if e.approval is not None and not await _write_approval(conn, e.approval):
                    raise ApprovalConflict(index, e.approval.row.id)
            first = await self.pool.fetchval(_RESERVE, len(entries))
            await conn.execute(_SEQUENCE, *_sequence_args(first, entries))
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

    async def integrate(self, limit: int, policy: Integration | None = None) -> tuple[int, bytes] | None:
        async with self._integrating:
            policy = policy or Integration()
            try:
                if not await self._hold_lease(policy):
                    return None
                return await self._integrate(limit, policy)
            except BaseException:
                await self.release_integration()
                raise

    async def _hold_lease(self, policy: Integration) -> bool:
        conn = self._integrator
        if conn is None or conn.is_closed():
            # Kept open while this process runs, for the lease's rounds. A transaction left open on it (the
            # process paused mid-round) is ended by the server after a lease's time, with the session, so the
            # lease row it locked is free for the next holder.
            lease_ms = str(max(1, int(policy.lease_seconds * 1000)))
            conn = self._integrator = await asyncpg.connect(self.url, timeout=10, server_settings={
                **_KEEPALIVE, "idle_in_transaction_session_timeout": lease_ms, "statement_timeout": lease_ms,
                "lock_timeout": str(max(1, int(policy.lease_seconds * 500)))})
            self._token = None
        if self._token is not None:
            return True  # renewed (or found lost) by the round's transaction itself
        token = await conn.fetchval(
            "UPDATE audit_integrator SET holder = $1, token = token + 1, expires = clock_timestamp() + $2 "
            "WHERE id = 1 AND expires <= clock_timestamp() RETURNING token", self._holder,
            timedelta(seconds=policy.lease_seconds))
        self._token = token
        self._hole = None
        return token is not None

    async def _integrate(self, limit: int, policy: Integration) -> tuple[int, bytes] | None:
        conn = self._integrator
        assert conn is not None
        async with conn.transaction():
            # The fence: renewed by this holder's token, and locked until the frontier is stored.
            if await conn.fetchval("UPDATE audit_integrator SET expires = clock_timestamp() + $1 WHERE id = 1 "
                                   "AND token = $2 AND expires > clock_timestamp() RETURNING token",
                                   timedelta(seconds=policy.lease_seconds), self._token) is None:
                self._token = None
                return None
            row = await conn.fetchrow("SELECT size, frontier FROM audit_frontier WHERE id = 1 FOR UPDATE")
            size = int(row["size"]) if row else 0
            acc = MerkleAccumulator.from_bytes(bytes(row["frontier"])) if row else MerkleAccumulator()
            while acc.size < size + limit:
                # Read before the rows: every index below it was reserved before they were read.
                reserved: int = await conn.fetchval("SELECT next FROM audit_sequence WHERE id = 1")
                end = min(size + limit, reserved)
                leaves = await conn.fetch("SELECT seq, leaf_hash FROM audit_log WHERE seq >= $1 AND seq < $2 "
                                          "ORDER BY seq", acc.size, end)
                for seq, leaf in leaves:
                    if seq != acc.size:
                        break
                    acc.append(bytes(leaf))
                if acc.size >= end or not await self._fill_hole(conn, acc.size, leaves, end, policy):
                    break
            frontier = acc.to_bytes()
            if acc.size != size:
                await conn.execute("INSERT INTO audit_frontier (id, size, frontier, token) VALUES (1, $1, $2, $3) "
                                   "ON CONFLICT (id) DO UPDATE SET size = excluded.size, "
                                   "frontier = excluded.frontier, token = excluded.token",
                                   acc.size, frontier, self._token)
        return acc.size, frontier

    async def _fill_hole(self, conn: asyncpg.Connection, start: int, leaves: Sequence[Any], end: int,
                         policy: Integration) -> bool:
        """Index ``start`` is reserved but not (yet) written. Within the gap timeout it is a batch still
        on its way; past it, its writer is taken for dead and the hole, as seen when first found, is filled
        with signed gap records. True if it was filled (integration goes on)."""
        now = time.monotonic()
        if self._hole is None or self._hole[0] != start:
            following = next((int(seq) for seq, _ in leaves if seq > start), end)
            self._hole = (start, following, now)
            return False
        _, stop, since = self._hole
        if policy.gap_entry is None or now - since < policy.gap_timeout_seconds:
            return False
        gaps = [policy.gap_entry(seq, now - since) for seq in range(start, stop)]
        # A batch that commits its row meanwhile keeps it (DO NOTHING); one that commits later finds the
        # index taken and goes again under a new range (``append_entries``).
        await conn.execute(
            "INSERT INTO audit_log (seq, request_id, ts, tenant, principal, model, status, refusal_code, "
            "leaf_hash, record, payload_hash) SELECT * FROM unnest($1::bigint[], $2::text[], $3::float8[], "
            "$4::text[], $5::text[], $6::text[], $7::int[], $8::text[], $9::bytea[], $10::bytea[], $11::bytea[]) "
            "ON CONFLICT (seq) DO NOTHING", *[list(c) for c in zip(*log_rows_for(start, gaps), strict=True)])
        self._hole = None
        log.warning("audit indexes %d..%d were reserved %.1f s ago and never written (a writer died or its "
                    "transaction failed); recorded as signed gaps", start, stop - 1, now - since)
        return True

    async def release_integration(self) -> None:
        conn, self._integrator = self._integrator, None
        token, self._token = self._token, None
        if conn is not None and not conn.is_closed():
            try:
                if token is not None:
                    await asyncio.wait_for(conn.execute(
                        "UPDATE audit_integrator SET expires = '-infinity' WHERE id = 1 AND token = $1", token), 5)
                await asyncio.wait_for(conn.close(), 5)
            except Exception:
                conn.terminate()

    @property
    def integrator_token(self) -> int | None:
        """The fencing token of the lease this store holds (None: not the integrator)."""
        return self._token

    async def add_checkpoint(self, checkpoint: Checkpoint) -> None:
        c = checkpoint
        # Signed by the integrator: stored only while its lease holds (a holder paused between integrating and
        # storing the checkpoint writes nothing after it lost the lease). Others sign the stored frontier.
        await self.pool.execute(
            "INSERT INTO audit_checkpoint (tree_size, root_hash, ts, key_id, signature) SELECT $1, $2, $3, $4, $5 "
            "WHERE $6::bigint IS NULL OR EXISTS (SELECT 1 FROM audit_integrator WHERE id = 1 AND token = $6 "
            "AND expires > clock_timestamp()) ON CONFLICT (tree_size) DO NOTHING",
            c.tree_size, c.root_hash, c.timestamp, c.key_id, c.signature, self._token)

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
