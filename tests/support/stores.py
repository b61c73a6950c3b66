"""The two stores every store-backed test runs on, and plain SQL against either, from outside Interlock.

``STORES`` is the one parametrisation: SQLite, and PostgreSQL with the ``postgres`` marker (deselect it
with ``-m "not postgres"``; with the server down those tests fail, they never skip). Reading and
tampering go straight to the tables, as someone with database access would, never through Interlock.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from support.aio import run_async
from support.postgres import create_database, drop_database, pg_args

STORES = (pytest.param("sqlite", id="sqlite"), pytest.param("postgresql", id="postgresql", marks=pytest.mark.postgres))

Statement = tuple[str, Sequence[Any]] | str


def sqlite_url(path: Path) -> str:
    return "sqlite:///" + str(path)


def sqlite_path(store_url: str) -> str:
    return store_url[len("sqlite:///"):]


def is_sqlite(store_url: str) -> bool:
    return store_url.startswith("sqlite:///")


class StoreUrls:
    """Fresh stores of either kind; the PostgreSQL databases it made are dropped by ``close``."""

    def __init__(self) -> None:
        self._databases: list[str] = []

    def new(self, kind: str, directory: Path, name: str = "interlock.db") -> str:
        if kind == "sqlite":
            return sqlite_url(directory / name)
        url = create_database()
        self._databases.append(url)
        return url

    def close(self) -> None:
        while self._databases:
            drop_database(self._databases.pop())


def query(store_url: str, sql: str, *args: Any) -> list[tuple[Any, ...]]:
    """Every row of one SELECT; ``?`` placeholders on both stores."""
    if is_sqlite(store_url):
        conn = sqlite3.connect(sqlite_path(store_url), timeout=15)
        try:
            return [tuple(row) for row in conn.execute(sql, args).fetchall()]
        finally:
            conn.close()

    async def fetch() -> list[tuple[Any, ...]]:
        conn = await asyncpg.connect(store_url, timeout=10)
        try:
            return [tuple(r.values()) for r in await conn.fetch(pg_args(sql), *args)]
        finally:
            await conn.close()

    return run_async(fetch())


def execute(store_url: str, *statements: Statement) -> None:
    """Run statements in one transaction; ``?`` placeholders on both stores."""
    steps = [(s, ()) if isinstance(s, str) else s for s in statements]
    if is_sqlite(store_url):
        conn = sqlite3.connect(sqlite_path(store_url), timeout=15, isolation_level=None)
        try:
            conn.execute("BEGIN IMMEDIATE")
            for sql, args in steps:
                conn.execute(sql, tuple(args))
            conn.execute("COMMIT")
        finally:
            conn.close()
        return

    async def run() -> None:
        conn = await asyncpg.connect(store_url, timeout=10)
        try:
            async with conn.transaction():
                for sql, args in steps:
                    await conn.execute(pg_args(sql), *args)
        finally:
            await conn.close()

    run_async(run())


def read_records(store_url: str) -> list[dict[str, Any]]:
    """Every audit record in log order, read from the table itself (not through the gateway)."""
    rows = query(store_url, "SELECT seq, record FROM audit_log ORDER BY seq")
    return [{"seq": seq, **json.loads(bytes(rec))} for seq, rec in rows]
