"""What every store offers. SQLite and PostgreSQL implement the same contract and pass the same tests."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from typing import Any, Protocol

import msgspec

from interlock.identity.keys import ApiKeyRecord
from interlock.identity.principal import Principal


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
    limit: int = 100
    newest_first: bool = True


class Store(Protocol):
    dialect: str

    async def open(self) -> None: ...
    async def close(self) -> None: ...
    async def ping(self) -> None: ...

    async def create_key(self, record: ApiKeyRecord) -> None: ...
    async def key_by_prefix(self, prefix: str) -> ApiKeyRecord | None: ...
    async def list_keys(self) -> list[ApiKeyRecord]: ...
    async def revoke_key(self, key_id: str, at: float) -> bool: ...

    async def append_entries(self, entries: Sequence[LogEntry]) -> int:
        """Append in one durable transaction; returns the sequence number of the first entry."""
        ...

    async def query_records(self, query: RecordQuery) -> list[tuple[int, dict[str, Any]]]: ...


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
    (kid, prefix, hsh, name, pid, kind, tenant, roles, groups, may_act_for, created, expires, revoked) = row
    principal = Principal(
        id=pid, kind=kind, tenant=tenant,
        roles=frozenset(_json_decode(roles)), groups=frozenset(_json_decode(groups)),
        may_act_for=bool(may_act_for), name=name,
    )
    return ApiKeyRecord(id=kid, prefix=prefix, hash=bytes(hsh), name=name, principal=principal,
                        created=created, expires=expires, revoked=revoked)


KEY_COLUMNS = ("id, prefix, hash, name, principal_id, kind, tenant, roles, groups_, may_act_for, "
               "created, expires, revoked")


def key_row(record: ApiKeyRecord) -> tuple[Any, ...]:
    p = record.principal
    return (record.id, record.prefix, record.hash, record.name, p.id, p.kind, p.tenant,
            encode_names(p.roles), encode_names(p.groups), p.may_act_for, record.created,
            record.expires, record.revoked)


def decode_record(blob: bytes) -> dict[str, Any]:
    value = _json_decode(blob)
    if not isinstance(value, dict):
        raise ValueError("audit record is not a JSON object")
    return value


def where_clause(q: RecordQuery, placeholder: Any) -> tuple[str, list[Any]]:
    """SQL WHERE for a query; ``placeholder(i)`` renders the i-th parameter for the dialect."""
    conds: list[str] = []
    args: list[Any] = []
    for column, op, value in (
        ("ts", ">=", q.since), ("ts", "<", q.until), ("principal", "=", q.principal),
        ("tenant", "=", q.tenant), ("model", "=", q.model), ("refusal_code", "=", q.refusal_code),
        ("status", "=", q.status), ("request_id", "=", q.request_id), ("seq", ">", q.after_seq),
    ):
        if value is not None:
            args.append(value)
            conds.append(f"{column} {op} {placeholder(len(args))}")
    return (" WHERE " + " AND ".join(conds)) if conds else "", args
