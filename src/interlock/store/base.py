"""What every store offers. SQLite and PostgreSQL implement the same contract and pass the same tests."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from typing import Any, Protocol

import msgspec

from interlock.identity.keys import ApiKeyRecord
from interlock.identity.principal import Principal
from interlock.merkle.checkpoint import Checkpoint
from interlock.merkle.tree import MerkleAccumulator


@dataclass(frozen=True, slots=True)
class LogEntry:
    """One audit record ready to append: its canonical bytes, leaf hash and indexed columns."""

    request_id: str
    ts: float
    tenant: str | None
    principal: str | None
    model: str | None
    status: int
    refusal_code: str | None
    leaf_hash: bytes
    record: bytes
    payload_hash: bytes | None = None
    # Sensitive material (already redacted) kept apart from the leaf, so it can be erased.
    payload: bytes | None = None
    payload_expires: float | None = None
    # An approval change this record is the record of: stored in the same transaction, or neither is.
    approval: ApprovalWrite | None = None


@dataclass(frozen=True, slots=True)
class Integration:
    """How the integrator holds its lease and treats a reserved index nobody wrote."""

    # The lease lapses this long after its holder's last round: a dead, paused or hung integrator is
    # replaced within it (and, if paused inside a round, within twice it).
    lease_seconds: float = 3.0
    # How long a reserved index may stay unwritten before its writer is taken for dead.
    gap_timeout_seconds: float = 5.0
    # The signed record that fills such an index (its seq, seconds waited); None: integration waits for it.
    gap_entry: Callable[[int, float], LogEntry] | None = None


@dataclass(frozen=True, slots=True)
class ApprovalWrite:
    """An approval row to store with the entry that records it: inserted when ``expected_version`` is
    None, else put in place of the stored row only if that still has ``expected_version``."""

    row: ApprovalRow
    expected_version: int | None = None


class ApprovalConflict(Exception):
    """The approval row entry ``index`` of an append would store exists already, or changed since it was
    read. Nothing of the append was written; the other entries can be appended without it."""

    def __init__(self, index: int, approval_id: str) -> None:
        super().__init__(f"approval {approval_id} changed meanwhile")
        self.index = index
        self.approval_id = approval_id


@dataclass(frozen=True, slots=True)
class RecordQuery:
    since: float | None = None
    until: float | None = None
    principal: str | None = None
    tenant: str | None = None
    model: str | None = None
    refusal_code: str | None = None
    status: int | None = None
    request_id: str | None = None
    after_seq: int | None = None
    # A data class found in the call (input or output), and the call's outcome ("ok" or "refused").
    data_class: str | None = None
    outcome: str | None = None
    # The use case a call belonged to, and the event of a lifecycle or evaluation record.
    use_case: str | None = None
    event: str | None = None
    limit: int = 100
    newest_first: bool = True


@dataclass(frozen=True, slots=True)
class ApprovalRow:
    """An approval request as stored: the columns it is found by, and the request itself (JSON)."""

    id: str
    tenant: str
    state: str
    requester: str
    created: float
    # When something next happens to a pending request (escalation or expiry).
    due: float
    version: int
    doc: bytes


APPROVAL_COLUMNS = "id, tenant, state, requester, created, due, version, doc"


def approval_from_row(r: Sequence[Any]) -> ApprovalRow:
    return ApprovalRow(str(r[0]), str(r[1]), str(r[2]), str(r[3]), float(r[4]), float(r[5]), int(r[6]), bytes(r[7]))


def approval_values(row: ApprovalRow) -> tuple[Any, ...]:
    return (row.id, row.tenant, row.state, row.requester, row.created, row.due, row.version, row.doc)


@dataclass(frozen=True, slots=True)
class ToolPin:
    """The definition (description and input schema) of an MCP tool as an administrator accepted it."""

    name: str
    server: str
    digest: str
    definition: bytes
    approved_by: str
    approved_at: float


PIN_COLUMNS = "name, server, digest, definition, approved_by, approved_at"


def pin_from_row(r: Sequence[Any]) -> ToolPin:
    return ToolPin(str(r[0]), str(r[1]), str(r[2]), bytes(r[3]), str(r[4]), float(r[5]))


def pin_values(pin: ToolPin) -> tuple[Any, ...]:
    return (pin.name, pin.server, pin.digest, pin.definition, pin.approved_by, pin.approved_at)


class Store(Protocol):
    dialect: str

    async def open(self) -> None: ...
    async def close(self) -> None: ...
    async def ping(self) -> None: ...

    async def create_key(self, record: ApiKeyRecord) -> None: ...
    async def key_by_prefix(self, prefix: str) -> ApiKeyRecord | None: ...
    async def list_keys(self) -> list[ApiKeyRecord]: ...
    async def revoke_key(self, key_id: str, at: float) -> bool: ...
    async def holds_key(self, tenant: str, principal_id: str) -> bool:
        """Whether this principal of ``tenant`` has a key that is neither revoked nor expired."""
        ...

    async def append_entries(self, entries: Sequence[LogEntry]) -> int:
        """Append in one durable transaction; returns the sequence number of the first entry."""
        ...

    def append_entries_now(self, entries: Sequence[LogEntry]) -> int | None:
        """Like ``append_entries`` but on the calling thread, if the store can do that at once for a
        local file; ``None`` (nothing written) otherwise."""
        ...

    def start_append(self, entries: Sequence[LogEntry]) -> asyncio.Future[int] | None:
        """Like ``append_entries``, but started at once on the event loop if the store can (a local file
        whose writer is free), with only the wait for the disk done elsewhere: the future of the first
        sequence number, durable when it is done. ``None`` (nothing written) otherwise."""
        ...

    async def probe_append(self) -> None:
        """Raise unless an append could be written now; writes nothing (the transaction is rolled back)."""
        ...

    async def query_records(self, query: RecordQuery) -> list[tuple[int, dict[str, Any]]]: ...

    async def frontier(self) -> tuple[int, bytes]:
        """The size and Merkle frontier of the integrated log: the records folded into the tree so far."""
        ...

    async def sequenced_size(self) -> int:
        """How many records are sequenced (durable, each with its index); integration follows behind."""
        ...

    async def integrate(self, limit: int, policy: Integration | None = None) -> tuple[int, bytes] | None:
        """Fold up to ``limit`` sequenced records into the Merkle frontier, in index order, if this store is
        the integrator (it takes the lease when nobody holds it); the integrated size and frontier after,
        or None while another process holds the lease (or this one lost it). A store that integrates
        inline with every append (SQLite) only returns its frontier."""
        ...

    async def release_integration(self) -> None:
        """Give up the integrator's lease, if held, so another process takes over at once."""
        ...

    async def add_checkpoint(self, checkpoint: Checkpoint) -> None: ...
    async def checkpoints(self) -> list[Checkpoint]: ...

    async def log_rows(self, after: int, limit: int) -> list[LogRow]:
        """Rows with seq > after in seq order: (seq, request_id, leaf_hash, record, payload_hash, payload)."""
        ...

    async def leaf_hashes(self, start: int, end: int) -> list[bytes]: ...
    async def entry_for_request(self, request_id: str) -> tuple[int, bytes] | None: ...
    async def erase_payload(self, request_id: str) -> bool: ...
    async def purge_expired_payloads(self, now: float) -> int: ...

    async def vault_get(self, conversation_id: str) -> bytes | None: ...
    async def vault_put(self, conversation_id: str, blob: bytes, ttl_seconds: float,
                        expected: bytes | None) -> bool: ...
    async def vault_erase(self, conversation_id: str) -> bool: ...
    async def vault_purge_expired(self) -> int: ...

    # Approval rows are written only with their audit records (``LogEntry.approval``).
    async def approval_get(self, approval_id: str) -> ApprovalRow | None: ...

    async def approvals_query(self, *, tenant: str | None, state: str | None, limit: int) -> list[ApprovalRow]:
        """Newest first."""
        ...

    async def approvals_due(self, now: float, limit: int) -> list[ApprovalRow]:
        """Pending requests whose escalation or expiry time has come."""
        ...

    async def tool_pin_get(self, name: str) -> ToolPin | None: ...
    async def tool_pin_put(self, pin: ToolPin) -> None: ...
    async def tool_pins(self) -> list[ToolPin]: ...


class StoreVault:
    """The placeholder vault's storage on a Store (the ``VaultStore`` protocol)."""

    def __init__(self, store: Store) -> None:
        self._store = store

    async def get(self, conversation_id: str) -> bytes | None:
        return await self._store.vault_get(conversation_id)

    async def put(self, conversation_id: str, blob: bytes, ttl_seconds: float, expected: bytes | None) -> bool:
        return await self._store.vault_put(conversation_id, blob, ttl_seconds, expected)

    async def erase(self, conversation_id: str) -> bool:
        return await self._store.vault_erase(conversation_id)

    async def purge_expired(self) -> int:
        return await self._store.vault_purge_expired()


LogRow = tuple[int, str, bytes, bytes, bytes | None, bytes | None]

LOG_ROWS_SQL = ("SELECT l.seq, l.request_id, l.leaf_hash, l.record, l.payload_hash, p.body FROM audit_log l "
                "LEFT JOIN audit_payload p ON p.hash = l.payload_hash WHERE l.seq > {0} ORDER BY l.seq LIMIT {1}")

LOG_COLUMNS = ("seq", "request_id", "ts", "tenant", "principal", "model", "status", "refusal_code", "leaf_hash",
               "record", "payload_hash")


# The row ``probe_append`` inserts and rolls back: a seq no append ever uses.
PROBE_ROW = (-1, "", 0.0, None, None, None, 0, None, b"", b"", None)


def log_rows_for(first: int, entries: Sequence[LogEntry]) -> list[tuple[Any, ...]]:
    return [(first + i, e.request_id, e.ts, e.tenant, e.principal, e.model, e.status, e.refusal_code,
             e.leaf_hash, e.record, e.payload_hash) for i, e in enumerate(entries)]


def payload_rows(entries: Sequence[LogEntry]) -> list[tuple[bytes, bytes, float | None]]:
    return [(e.payload_hash, e.payload, e.payload_expires) for e in entries
            if e.payload is not None and e.payload_hash is not None]


def advance_frontier(frontier: bytes | None, entries: Sequence[LogEntry]) -> bytes:
    acc = MerkleAccumulator.from_bytes(frontier) if frontier else MerkleAccumulator()
    acc.extend(e.leaf_hash for e in entries)
    return acc.to_bytes()


def as_bytes(value: Any) -> bytes:
    """Column values as bytes; a tampered row may hold text where bytes belong, and must still verify (as bad)."""
    if isinstance(value, str):
        return value.encode("utf-8")
    return bytes(value)


def log_row(r: Sequence[Any]) -> LogRow:
    return (int(r[0]), str(r[1]), as_bytes(r[2]), as_bytes(r[3]), None if r[4] is None else as_bytes(r[4]),
            None if r[5] is None else as_bytes(r[5]))


def checkpoint_from_row(row: Sequence[Any]) -> Checkpoint:
    size, root, ts, key_id, sig = row
    return Checkpoint(int(size), bytes(root), float(ts), str(key_id), bytes(sig))


def migrations(dialect: str) -> list[tuple[int, str]]:
    """(version, sql) pairs shipped in the package, in order."""
    folder = resources.files("interlock.store").joinpath("migrations", dialect)
    out: list[tuple[int, str]] = []
    for item in folder.iterdir():
        if item.name.endswith(".sql"):
            out.append((int(item.name.split("_", 1)[0]), item.read_text(encoding="utf-8")))
    return sorted(out)


_json_decode = msgspec.json.Decoder().decode
_json_encode = msgspec.json.Encoder().encode


def encode_names(names: frozenset[str]) -> str:
    return _json_encode(sorted(names)).decode()


def key_from_row(row: Sequence[Any]) -> ApiKeyRecord:
    return _key_from_row(tuple(row))


# The same row decodes to the same record; a changed row (revoked, expired) is a new cache key,
# so revocation is seen on the very next look-up.
@lru_cache(maxsize=4096)
def _key_from_row(row: tuple[Any, ...]) -> ApiKeyRecord:
    (kid, prefix, hsh, name, pid, kind, tenant, roles, groups, may_act_for, created, expires, revoked,
     act_for_ids, act_for_groups, created_by, forced) = row
    principal = Principal(
        id=pid, kind=kind, tenant=tenant,
        roles=frozenset(_json_decode(roles)), groups=frozenset(_json_decode(groups)),
        may_act_for=bool(may_act_for), name=name,
        act_for_ids=frozenset(_json_decode(act_for_ids)), act_for_groups=frozenset(_json_decode(act_for_groups)),
    )
    return ApiKeyRecord(id=kid, prefix=prefix, hash=bytes(hsh), name=name, principal=principal,
                        created=created, expires=expires, revoked=revoked, created_by=created_by,
                        forced=bool(forced))


KEY_COLUMNS = ("id, prefix, hash, name, principal_id, kind, tenant, roles, groups_, may_act_for, "
               "created, expires, revoked, act_for_ids, act_for_groups, created_by, forced")


def key_row(record: ApiKeyRecord) -> tuple[Any, ...]:
    p = record.principal
    return (record.id, record.prefix, record.hash, record.name, p.id, p.kind, p.tenant,
            encode_names(p.roles), encode_names(p.groups), p.may_act_for, record.created,
            record.expires, record.revoked, encode_names(p.act_for_ids), encode_names(p.act_for_groups),
            record.created_by, record.forced)


def decode_record(blob: bytes) -> dict[str, Any]:
    value = _json_decode(blob)
    if not isinstance(value, dict):
        raise ValueError("audit record is not a JSON object")
    return value


def where_clause(q: RecordQuery, placeholder: Any, contains: Any) -> tuple[str, list[Any]]:
    """SQL WHERE for a query; ``placeholder(i)`` renders the i-th parameter for the dialect and
    ``contains(p)`` a test that the canonical record bytes contain parameter ``p``."""
    conds: list[str] = []
    args: list[Any] = []
    # Canonical JSON has one spelling for a value, so a byte search is exact for these fields.
    for needle in ((b'"class":' + _json_encode(q.data_class)) if q.data_class is not None else None,
                   (b'"outcome":' + _json_encode(q.outcome)) if q.outcome is not None else None,
                   (b'"use_case":' + _json_encode(q.use_case)) if q.use_case is not None else None,
                   (b'"event":' + _json_encode(q.event)) if q.event is not None else None):
        if needle is not None:
            args.append(needle)
            conds.append(contains(placeholder(len(args))))
    for column, op, value in (
        ("ts", ">=", q.since), ("ts", "<", q.until), ("principal", "=", q.principal),
        ("tenant", "=", q.tenant), ("model", "=", q.model), ("refusal_code", "=", q.refusal_code),
        ("status", "=", q.status), ("request_id", "=", q.request_id), ("seq", ">", q.after_seq),
    ):
        if value is not None:
            args.append(value)
            conds.append(f"{column} {op} {placeholder(len(args))}")
    return (" WHERE " + " AND ".join(conds)) if conds else "", args
