"""What every ``interlock`` subcommand shares: the --config option, settings and store access."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TypeVar

import click

from interlock.settings import ConfigError, Settings, load_settings
from interlock.store import Store, open_store

T = TypeVar("T")

config_option = click.option("--config", "-c", "config", type=click.Path(dir_okay=False, path_type=Path),
                             envvar="INTERLOCK_CONFIG", default=None,
                             help="Settings file (interlock.yaml). Default: the embedded defaults.")


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
    except OSError as exc:
        raise click.ClickException(f"cannot open the store {settings.store.url}: {exc}") from None
