"""The test PostgreSQL server: fresh databases (and schemas inside one), dropped afterwards.

A test that needs PostgreSQL fails when the server is not usable; it is never skipped, so a missing
server cannot pass for a green run.
"""

from __future__ import annotations

import secrets

import asyncpg

from support.aio import run_async

ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/test"
SERVER_URL = "postgresql://postgres@127.0.0.1:5432"


async def _admin(*statements: str) -> None:
    conn = await asyncpg.connect(ADMIN_URL, timeout=10)
    try:
        for sql in statements:
            await conn.execute(sql)
    finally:
        await conn.close()


def database_name(url: str) -> str:
    return url.split("?", 1)[0].rsplit("/", 1)[1]


def create_database(prefix: str = "interlock_t_") -> str:
    """A fresh, empty database on the test server; returns its URL. Fails (never skips) without a server."""
    name = prefix + secrets.token_hex(6)
    try:
        run_async(_admin(f'CREATE DATABASE "{name}"'))
    except (OSError, asyncpg.PostgresError) as exc:
        raise RuntimeError(f"PostgreSQL at {ADMIN_URL} is needed by this test and is not usable: {exc!r}") from exc
    return f"{SERVER_URL}/{name}"


def drop_database(url: str) -> None:
    run_async(_admin(f'DROP DATABASE IF EXISTS "{database_name(url)}" WITH (FORCE)'))


def new_schema(url: str) -> str:
    """A new empty schema in the database at ``url``; the returned URL puts it first on the search path,
    so tables land there. One database then holds many independent stores."""
    schema = "log_" + secrets.token_hex(5)

    async def make() -> None:
        conn = await asyncpg.connect(url, timeout=10)
        try:
            await conn.execute(f'CREATE SCHEMA "{schema}"')
        finally:
            await conn.close()

    run_async(make())
    return f"{url}?search_path={schema}"


def set_connections(url: str, allowed: bool) -> None:
    """Let clients connect to the database or not; refusing also cuts the connections open now."""
    name = database_name(url)

    async def run() -> None:
        conn = await asyncpg.connect(ADMIN_URL, timeout=10)
        try:
            await conn.execute(f'ALTER DATABASE "{name}" WITH ALLOW_CONNECTIONS {"true" if allowed else "false"}')
            if not allowed:
                await conn.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                                   "WHERE datname = $1 AND pid <> pg_backend_pid()", name)
        finally:
            await conn.close()

    run_async(run())


def pg_args(statement: str) -> str:
    """``?`` placeholders as PostgreSQL's ``$1, $2, ...`` (so one SQL text serves both stores)."""
    parts = statement.split("?")
    out = parts[0]
    for i, part in enumerate(parts[1:], start=1):
        out += f"${i}{part}"
    return out
