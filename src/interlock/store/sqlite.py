"""The embedded store: one SQLite file in WAL mode.

Writes use one connection, so a batch of audit records is one transaction and one fsync. They run in
a dedicated thread, except audit appends made on the event loop (what the audit writer does with
``store.commit_on_loop``): ``append_entries_now`` writes and commits there, the loop waiting for the
disk (when it has nothing else to do: a hand-off to a thread and back costs more than it saves on an
idle machine); ``start_append`` writes the rows there and hands only the ``COMMIT``, which waits for
the disk, to a thread of its own, so the loop serves other calls meanwhile.
Reads (key look-ups) use their own connection on the event loop: a point query on an indexed column
takes microseconds, less than a hop to a thread would.

Several worker processes may share the file. Their writes are serialised by an advisory lock on a
file beside the database (``flock``), taken before ``BEGIN IMMEDIATE``: a waiting process is woken
the moment the lock is free, where SQLite's own busy handler would poll with sleeps of up to 100 ms.

The writer thread must take the GIL back after every statement; while the event loop is busy that
can take up to the interpreter's switch interval each time. An append is therefore a handful of
statements whatever the batch size (rows go in multi-row ``INSERT`` statements).

Key look-ups are cached in each process, and revocation still takes effect on the next call in every
process: every change to a key bumps a counter in a small file beside the database (under the writer
lock, before and after the change), which every process maps into memory. A cached key is used only
while the counter is what it was when the key was read, which costs a memory read, not a query (a
query on the loop releases the GIL, and a busy writer thread then makes the loop wait for it back).
Entries also expire after a second, in case a change was made some other way.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import mmap
import os
import sqlite3
import threading
import time
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from interlock.identity.keys import ApiKeyRecord
from interlock.merkle.checkpoint import Checkpoint
from interlock.merkle.tree import MerkleAccumulator
from interlock.settings import StoreSettings, sqlite_path
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
    advance_frontier,
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

_BUSY_TIMEOUT_MS = 15_000
_CHECKPOINT_PAGES = 250
# SQLite's limit on bound parameters per statement (SQLITE_MAX_VARIABLE_NUMBER since 3.32).
_MAX_PARAMS = 32_766
# Key cache: entries are trusted at most this long without a look-up, and at most this many are kept.
_KEY_CACHE_SECONDS = 1.0
_KEY_CACHE_MAX = 10_000
_EPOCH_BYTES = 8


def _connect(path: str) -> sqlite3.Connection:
    conn = sqlite3.connect(path, timeout=_BUSY_TIMEOUT_MS / 1000, isolation_level=None,
                           check_same_thread=False)
    conn.execute(f"PRAGMA busy_timeout={_BUSY_TIMEOUT_MS}")
    conn.execute("PRAGMA journal_mode=WAL")
    # FULL: a commit is on disk before it returns; the response waits for exactly that.
    conn.execute("PRAGMA synchronous=FULL")
    # The commit that fills the WAL to this many pages copies them into the database, on the caller's
    # time. A quarter of SQLite's default: four times as many copies, each a quarter as long, which
    # took the p99 of a lone call from 11-13 ms to 7 ms in a same-run comparison, throughput unchanged.
    conn.execute(f"PRAGMA wal_autocheckpoint={_CHECKPOINT_PAGES}")
    conn.execute("PRAGMA foreign_keys=ON")
    return conn


class SqliteStore:
    dialect = "sqlite"

    def __init__(self, settings: StoreSettings) -> None:
        self.path = sqlite_path(settings.url)
        self._writer: ThreadPoolExecutor | None = None
        # Waits for the disk on behalf of appends started on the loop (their COMMIT); never takes the lock.
        self._syncer: ThreadPoolExecutor | None = None
        self._wconn: sqlite3.Connection | None = None
        self._rconn: sqlite3.Connection | None = None
        self._lock_fd: int | None = None
        # The integrator's lease (an flock of <db>-integrator.lock) while this store holds it: records are
        # integrated inline, so the lease only decides which process signs the checkpoints.
        self._lease_fd: int | None = None
        # Held around every use of the writer connection, whichever thread makes it.
        self._wmutex = threading.Lock()
        # The key-change counter shared by every process using this file (see the module docstring).
        self._epoch_fd: int | None = None
        self._epoch: mmap.mmap | None = None
        self._keys: dict[str, tuple[ApiKeyRecord, bytes, float]] = {}

    async def open(self) -> None:
        if self.path != ":memory:":
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
            self._lock_fd = os.open(self.path + "-writer.lock", os.O_RDWR | os.O_CREAT, 0o660)
            self._epoch_fd = os.open(self.path + "-keys.epoch", os.O_RDWR | os.O_CREAT, 0o660)
            if os.fstat(self._epoch_fd).st_size < _EPOCH_BYTES:
                os.ftruncate(self._epoch_fd, _EPOCH_BYTES)  # zeros; never shrinks a counter already there
            self._epoch = mmap.mmap(self._epoch_fd, _EPOCH_BYTES, access=mmap.ACCESS_READ)
        self._writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="interlock-sqlite-writer")
        self._syncer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="interlock-sqlite-sync")
        self._wconn = await self._in_writer(_connect, self.path)
        await self._in_writer(self._migrate)
        self._rconn = _connect(self.path)

    async def close(self) -> None:
        if self._syncer is not None:
            # An append's COMMIT still under way finishes (and lets go of the writer) first.
            self._syncer.shutdown(wait=True)
            self._syncer = None
        if self._writer is not None:
            if self._wconn is not None:
                await self._in_writer(self._wconn.close)
            self._writer.shutdown(wait=True)
            self._writer = None
        if self._rconn is not None:
            self._rconn.close()
            self._rconn = None
        await self.release_integration()
        if self._lock_fd is not None:
            os.close(self._lock_fd)
            self._lock_fd = None
        if self._epoch is not None:
            self._epoch.close()
            self._epoch = None
        if self._epoch_fd is not None:
            os.close(self._epoch_fd)
            self._epoch_fd = None
        self._keys.clear()

    async def _in_writer(self, fn: Any, *args: Any) -> Any:
        if self._writer is None:
            raise RuntimeError("store is not open")
        return await asyncio.get_running_loop().run_in_executor(self._writer, self._locked, fn, *args)

    def _locked(self, fn: Any, *args: Any) -> Any:
        with self._writing(wait=True):
            return fn(*args)

    @contextlib.contextmanager
    def _writing(self, *, wait: bool) -> Iterator[bool]:
        """Hold the writer connection, in this process and across processes. Without ``wait``, yields
        False (holding nothing) if someone else holds it now."""
        held = self._take_writer(wait=wait)
        try:
            yield held
        finally:
            if held:
                self._release_writer()

    def _take_writer(self, *, wait: bool) -> bool:
        if not self._wmutex.acquire(blocking=wait):
            return False
        if self._lock_fd is None:
            return True
        try:
            fcntl.flock(self._lock_fd, fcntl.LOCK_EX if wait else fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            self._wmutex.release()
            return False
        except BaseException:
            self._wmutex.release()
            raise
        return True

    def _release_writer(self) -> None:
        """Let go of what ``_take_writer`` took; any thread may (an append's COMMIT ends in the sync thread)."""
        try:
            if self._lock_fd is not None:
                fcntl.flock(self._lock_fd, fcntl.LOCK_UN)
        finally:
            self._wmutex.release()

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
        await self._in_writer(self._changing_keys, lambda: self._w.execute(
            f"INSERT INTO api_keys ({KEY_COLUMNS}) VALUES ({', '.join('?' * len(row))})", row))

    async def key_by_prefix(self, prefix: str) -> ApiKeyRecord | None:
        epoch = self._epoch[:_EPOCH_BYTES] if self._epoch is not None else None
        now = time.monotonic()
        hit = self._keys.get(prefix)
        if hit is not None and hit[1] == epoch and now - hit[2] < _KEY_CACHE_SECONDS:
            return hit[0]
        row = self._r.execute(f"SELECT {KEY_COLUMNS} FROM api_keys WHERE prefix = ?", (prefix,)).fetchone()
        record = key_from_row(row) if row else None
        # Kept only if no key changed while it was read. Unknown prefixes are not kept: a key created
        # a moment later must work at once.
        if record is not None and epoch is not None and self._epoch is not None \
                and self._epoch[:_EPOCH_BYTES] == epoch:
            if len(self._keys) >= _KEY_CACHE_MAX:
                self._keys.clear()
            self._keys[prefix] = (record, epoch, now)
        return record

    async def list_keys(self) -> list[ApiKeyRecord]:
        rows = self._r.execute(f"SELECT {KEY_COLUMNS} FROM api_keys ORDER BY created").fetchall()
        return [key_from_row(r) for r in rows]

    async def holds_key(self, tenant: str, principal_id: str) -> bool:
        row = self._r.execute("SELECT 1 FROM api_keys WHERE tenant = ? AND principal_id = ? AND revoked IS NULL "
                              "AND (expires IS NULL OR expires > ?) LIMIT 1",
                              (tenant, principal_id, time.time())).fetchone()
        return row is not None

    async def revoke_key(self, key_id: str, at: float) -> bool:
        def run() -> bool:
            cur = self._w.execute("UPDATE api_keys SET revoked = ? WHERE id = ? AND revoked IS NULL",
                                  (at, key_id))
            return cur.rowcount > 0

        result: bool = await self._in_writer(self._changing_keys, run)
        return result

    def _changing_keys(self, change: Any) -> Any:
        """Run a change to the keys table, bumping the shared counter before and after it (in the
        writer thread, under the writer lock, so bumps from several processes never interleave).
        Before: a process that reads the old row meanwhile does not keep it under the counter it saw.
        After: one that kept the old row before the change stops using it."""
        self._bump_epoch()
        try:
            return change()
        finally:
            self._bump_epoch()

    def _bump_epoch(self) -> None:
        if self._epoch_fd is None or self._epoch is None:
            return
        current = int.from_bytes(self._epoch[:_EPOCH_BYTES], "little")
        os.pwrite(self._epoch_fd, ((current + 1) % (1 << 64)).to_bytes(_EPOCH_BYTES, "little"), 0)
        self._keys.clear()

    # -- audit log ----------------------------------------------------------------------------

    def _append(self, entries: Sequence[LogEntry]) -> int:
        first = self._write_rows(entries)
        self._commit()
        return first

    def _write_rows(self, entries: Sequence[LogEntry]) -> int:
        """Begin the append's transaction and write its rows (nothing waits for the disk yet); on failure
        nothing stays begun."""
        conn = self._w
        conn.execute("BEGIN IMMEDIATE")
        try:
            for index, e in enumerate(entries):
                if e.approval is not None and not _write_approval(conn, e.approval):
                    raise ApprovalConflict(index, e.approval.row.id)
            row = conn.execute("SELECT size, frontier FROM audit_frontier WHERE id = 1").fetchone()
            first, frontier = (int(row[0]), bytes(row[1])) if row else (0, None)
            _insert_rows(conn, f"INSERT INTO audit_log ({', '.join(LOG_COLUMNS)})", log_rows_for(first, entries))
            _insert_rows(conn, "INSERT OR IGNORE INTO audit_payload (hash, body, expires)", payload_rows(entries))
            conn.execute("INSERT INTO audit_frontier (id, size, frontier) VALUES (1, ?, ?) ON CONFLICT (id) "
                         "DO UPDATE SET size = excluded.size, frontier = excluded.frontier",
                         (first + len(entries), advance_frontier(frontier, entries)))
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        return first

    def _commit(self) -> None:
        conn = self._w
        try:
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise

    async def append_entries(self, entries: Sequence[LogEntry]) -> int:
        first: int = await self._in_writer(self._append, entries)
        return first

    def append_entries_now(self, entries: Sequence[LogEntry]) -> int | None:
        """Append on the calling thread, blocking it until the commit is on disk; ``None`` (nothing
        written) if the writer connection is busy, here or in another process."""
        if self._lock_fd is None:
            return None
        with self._writing(wait=False) as held:
            return self._append(entries) if held else None

    def start_append(self, entries: Sequence[LogEntry]) -> asyncio.Future[int] | None:
        """Start an append on the event loop: the rows are written here at once, then a thread waits for
        the ``COMMIT`` to reach the disk. ``None`` (nothing written) if the writer connection is busy,
        here or in another process. The writer stays held until the commit ends, whoever awaits it."""
        if self._lock_fd is None or self._syncer is None or not self._take_writer(wait=False):
            return None
        try:
            first = self._write_rows(entries)
        except BaseException:
            self._release_writer()
            raise

        def commit() -> int:
            try:
                self._commit()
            finally:
                self._release_writer()
            return first

        try:
            return asyncio.get_running_loop().run_in_executor(self._syncer, commit)
        except BaseException:
            with contextlib.suppress(Exception):
                self._w.execute("ROLLBACK")
            self._release_writer()
            raise

    def _probe(self) -> None:
        conn = self._w
        conn.execute("BEGIN IMMEDIATE")
        try:
            conn.execute(f"INSERT INTO audit_log ({', '.join(LOG_COLUMNS)}) VALUES "
                         f"({', '.join('?' * len(LOG_COLUMNS))})", PROBE_ROW)
            conn.execute("UPDATE audit_frontier SET size = size WHERE id = 1")
        finally:
            conn.execute("ROLLBACK")

    async def probe_append(self) -> None:
        await self._in_writer(self._probe)

    async def frontier(self) -> tuple[int, bytes]:
        row = self._r.execute("SELECT size, frontier FROM audit_frontier WHERE id = 1").fetchone()
        return (int(row[0]), bytes(row[1])) if row else (0, MerkleAccumulator().to_bytes())

    async def sequenced_size(self) -> int:
        return (await self.frontier())[0]  # one writer integrates inline: every sequenced record is integrated

    async def integrate(self, limit: int, policy: Integration | None = None) -> tuple[int, bytes] | None:
        if self._lease_fd is None and self.path != ":memory:":
            fd = os.open(self.path + "-integrator.lock", os.O_RDWR | os.O_CREAT, 0o660)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                return None
            self._lease_fd = fd
        return await self.frontier()

    async def release_integration(self) -> None:
        fd, self._lease_fd = self._lease_fd, None
        if fd is not None:
            os.close(fd)  # the flock goes with it (and with the process, if it dies)

    async def add_checkpoint(self, checkpoint: Checkpoint) -> None:
        c = checkpoint
        await self._in_writer(lambda: self._w.execute(
            "INSERT OR IGNORE INTO audit_checkpoint (tree_size, root_hash, ts, key_id, signature) "
            "VALUES (?, ?, ?, ?, ?)", (c.tree_size, c.root_hash, c.timestamp, c.key_id, c.signature)))

    async def checkpoints(self) -> list[Checkpoint]:
        rows = self._r.execute("SELECT tree_size, root_hash, ts, key_id, signature FROM audit_checkpoint "
                               "ORDER BY tree_size").fetchall()
        return [checkpoint_from_row(r) for r in rows]

    async def log_rows(self, after: int, limit: int) -> list[LogRow]:
        rows = self._r.execute(LOG_ROWS_SQL.format("?", "?"), (after, limit)).fetchall()
        return [log_row(r) for r in rows]

    async def leaf_hashes(self, start: int, end: int) -> list[bytes]:
        rows = self._r.execute("SELECT leaf_hash FROM audit_log WHERE seq >= ? AND seq < ? ORDER BY seq",
                               (start, end)).fetchall()
        return [bytes(r[0]) for r in rows]

    async def entry_for_request(self, request_id: str) -> tuple[int, bytes] | None:
        row = self._r.execute("SELECT seq, record FROM audit_log WHERE request_id = ? ORDER BY seq LIMIT 1",
                              (request_id,)).fetchone()
        return (int(row[0]), bytes(row[1])) if row else None

    async def erase_payload(self, request_id: str) -> bool:
        def run() -> bool:
            cur = self._w.execute("DELETE FROM audit_payload WHERE hash IN (SELECT payload_hash FROM audit_log "
                                  "WHERE request_id = ? AND payload_hash IS NOT NULL)", (request_id,))
            return cur.rowcount > 0

        erased: bool = await self._in_writer(run)
        return erased

    async def purge_expired_payloads(self, now: float) -> int:
        def run() -> int:
            return self._w.execute("DELETE FROM audit_payload WHERE expires IS NOT NULL AND expires <= ?",
                                   (now,)).rowcount

        count: int = await self._in_writer(run)
        return count

    # -- vault ---------------------------------------------------------------------------------

    async def vault_get(self, conversation_id: str) -> bytes | None:
        row = self._r.execute("SELECT blob FROM vault WHERE conversation_id = ? AND expires > ?",
                              (conversation_id, time.time())).fetchone()
        return bytes(row[0]) if row else None

    async def vault_put(self, conversation_id: str, blob: bytes, ttl_seconds: float,
                        expected: bytes | None) -> bool:
        def run() -> bool:
            now = time.time()
            if expected is None:  # a new map: takes the place of nothing, or of an expired one
                cur = self._w.execute(
                    "INSERT INTO vault (conversation_id, blob, expires) VALUES (?, ?, ?) ON CONFLICT (conversation_id) "
                    "DO UPDATE SET blob = excluded.blob, expires = excluded.expires WHERE vault.expires <= ?",
                    (conversation_id, blob, now + ttl_seconds, now))
            else:
                cur = self._w.execute(
                    "UPDATE vault SET blob = ?, expires = ? WHERE conversation_id = ? AND blob = ? AND expires > ?",
                    (blob, now + ttl_seconds, conversation_id, expected, now))
            return cur.rowcount == 1

        stored: bool = await self._in_writer(run)
        return stored

    async def vault_erase(self, conversation_id: str) -> bool:
        erased: bool = await self._in_writer(
            lambda: self._w.execute("DELETE FROM vault WHERE conversation_id = ?", (conversation_id,)).rowcount > 0)
        return erased

    async def vault_purge_expired(self) -> int:
        count: int = await self._in_writer(
            lambda: self._w.execute("DELETE FROM vault WHERE expires <= ?", (time.time(),)).rowcount)
        return count

    async def query_records(self, query: RecordQuery) -> list[tuple[int, dict[str, Any]]]:
        where, args = where_clause(query, lambda i: "?", lambda p: f"instr(record, {p}) > 0")
        order = "DESC" if query.newest_first else "ASC"
        rows = self._r.execute(
            f"SELECT seq, record FROM audit_log{where} ORDER BY seq {order} LIMIT ?", (*args, query.limit)
        ).fetchall()
        return [(int(seq), decode_record(rec)) for seq, rec in rows]

    # -- approvals and tool pins ---------------------------------------------------------------

    async def approval_get(self, approval_id: str) -> ApprovalRow | None:
        row = self._r.execute(f"SELECT {APPROVAL_COLUMNS} FROM approvals WHERE id = ?", (approval_id,)).fetchone()
        return approval_from_row(row) if row else None

    async def approvals_query(self, *, tenant: str | None, state: str | None, limit: int) -> list[ApprovalRow]:
        conds, args = [], []
        for column, value in (("tenant", tenant), ("state", state)):
            if value is not None:
                conds.append(f"{column} = ?")
                args.append(value)
        where = (" WHERE " + " AND ".join(conds)) if conds else ""
        rows = self._r.execute(f"SELECT {APPROVAL_COLUMNS} FROM approvals{where} ORDER BY created DESC LIMIT ?",
                               (*args, limit)).fetchall()
        return [approval_from_row(r) for r in rows]

    async def approvals_due(self, now: float, limit: int) -> list[ApprovalRow]:
        rows = self._r.execute(f"SELECT {APPROVAL_COLUMNS} FROM approvals WHERE state = 'pending' AND due <= ? "
                               f"ORDER BY due LIMIT ?", (now, limit)).fetchall()
        return [approval_from_row(r) for r in rows]

    async def tool_pin_get(self, name: str) -> ToolPin | None:
        row = self._r.execute(f"SELECT {PIN_COLUMNS} FROM tool_pins WHERE name = ?", (name,)).fetchone()
        return pin_from_row(row) if row else None

    async def tool_pin_put(self, pin: ToolPin) -> None:
        await self._in_writer(lambda: self._w.execute(
            f"INSERT INTO tool_pins ({PIN_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (name) DO UPDATE SET "
            "server = excluded.server, digest = excluded.digest, definition = excluded.definition, "
            "approved_by = excluded.approved_by, approved_at = excluded.approved_at", pin_values(pin)))

    async def tool_pins(self) -> list[ToolPin]:
        rows = self._r.execute(f"SELECT {PIN_COLUMNS} FROM tool_pins ORDER BY name").fetchall()
        return [pin_from_row(r) for r in rows]


def _write_approval(conn: sqlite3.Connection, write: ApprovalWrite) -> bool:
    """Store an approval row within the current transaction; False if it exists or changed meanwhile."""
    row = write.row
    if write.expected_version is None:
        # Only an existing id is a conflict; any other constraint failing is an error, raised as such.
        cur = conn.execute(f"INSERT INTO approvals ({APPROVAL_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?) "
                           "ON CONFLICT (id) DO NOTHING", approval_values(row))
        return cur.rowcount == 1
    cur = conn.execute("UPDATE approvals SET state = ?, due = ?, version = ?, doc = ? WHERE id = ? AND version = ?",
                       (row.state, row.due, row.version, row.doc, row.id, write.expected_version))
    return cur.rowcount == 1


def _insert_rows(conn: sqlite3.Connection, head: str, rows: Sequence[tuple[Any, ...]]) -> None:
    """``head VALUES (...), (...), ...`` in as few statements as SQLite's parameter limit allows."""
    if not rows:
        return
    width = len(rows[0])
    per = _MAX_PARAMS // width
    group = "(" + ", ".join("?" * width) + ")"
    for start in range(0, len(rows), per):
        chunk = rows[start:start + per]
        conn.execute(f"{head} VALUES {', '.join([group] * len(chunk))}", [v for row in chunk for v in row])
