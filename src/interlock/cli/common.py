"""What every ``interlock`` subcommand shares: the --config option, settings, store access, JSON output."""

from __future__ import annotations

import asyncio
import sqlite3
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit

import asyncpg
import click
import msgspec

from interlock.settings import ConfigError, Settings, load_settings
from interlock.store import Store, open_store

T = TypeVar("T")

config_option = click.option("--config", "-c", "config", type=click.Path(dir_okay=False, path_type=Path),
                             envvar="INTERLOCK_CONFIG", default=None,
                             help="Settings file (interlock.yaml). Default: the embedded defaults.")


def shown_url(url: str) -> str:
    """A store URL fit for a terminal or a log: a password in it is masked."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    userinfo, _, hostport = parts.netloc.rpartition("@")
    return parts._replace(netloc=f"{userinfo.split(':', 1)[0]}:***@{hostport}").geturl()


def load_cli_settings(config: Path | None) -> Settings:
    try:
        return load_settings(config)
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from None


def with_store(settings: Settings, fn: Callable[[Store], Awaitable[T]]) -> T:
    async def run() -> T:
        store = open_store(settings.store)
        await store.open()
        try:
            return await fn(store)
        finally:
            await store.close()

    try:
        return asyncio.run(run())
    except (OSError, asyncpg.PostgresError, sqlite3.Error) as exc:
        raise click.ClickException(f"cannot open the store {shown_url(settings.store.url)}: "
                                   f"{type(exc).__name__}: {exc}") from None


_sorted_json = msgspec.json.Encoder(order="sorted")


def echo_json(doc: Any, *, indent: bool = True) -> None:
    """One JSON document on stdout: indented for people, or on one line for scripts."""
    raw = msgspec.json.encode(doc)
    sys.stdout.buffer.write((msgspec.json.format(raw, indent=2) if indent else raw) + b"\n")
    sys.stdout.flush()


def echo_json_lines(docs: Any) -> None:
    """JSON Lines on stdout, keys sorted: one object a line, ready for ``jq`` or a log shipper."""
    out = sys.stdout.buffer
    for doc in docs:
        out.write(_sorted_json.encode(doc) + b"\n")
    out.flush()
