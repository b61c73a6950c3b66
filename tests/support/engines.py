"""The in-process engine built from a real settings file: what the app, the CLI and the stage tests drive.

``engine_settings`` writes the standard test settings (``support.settings``) into a directory, the way a
deployment keeps them, and loads them; ``running_engine`` starts every component and stops it after.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable, Sequence
from pathlib import Path
from typing import Any, Literal

from interlock.identity.keys import new_key
from interlock.identity.principal import Principal
from interlock.pipeline.stage import Stage
from interlock.settings import Settings, load_settings
from interlock.store import Store
from support.app import Engine
from support.settings import PolicySource, gateway_settings, place_policies, write_policies, write_settings
from support.stores import sqlite_url


def engine_settings(directory: Path, *, mock_base_url: str, dead_port: int, store_url: str | None = None,
                    policies: PolicySource | None = None,
                    adjust: Callable[[dict[str, Any]], None] | None = None) -> Settings:
    """The standard test gateway's settings (a SQLite store in ``directory`` unless ``store_url``)."""
    directory.mkdir(parents=True, exist_ok=True)
    if policies is None:
        write_policies(directory / "policies")
    else:
        place_policies(directory / "policies", policies)
    tree = gateway_settings(mock_base_url=mock_base_url, dead_port=dead_port,
                            store_url=store_url or sqlite_url(directory / "interlock.db"), jwks_file=None)
    if adjust is not None:
        adjust(tree)
    return load_settings(write_settings(directory / "interlock.yaml", tree), environ={})


@contextlib.asynccontextmanager
async def running_engine(settings: Settings) -> AsyncIterator[Engine]:
    engine = Engine(settings)
    await engine.start()
    try:
        yield engine
    finally:
        await engine.stop()


def stage_of(engine: Engine, name: str) -> Stage:
    """The engine's own stage of that name (as built from the settings)."""
    for stage in engine.pipeline.stages:
        if stage.name == name:
            return stage
    raise LookupError(f"the pipeline has no stage {name!r}: {engine.pipeline.stage_names}")


async def add_key(store: Store, name: str, *, tenant: str = "default", roles: Sequence[str] = (),
                  kind: Literal["user", "app", "service"] = "user", may_act_for: bool = False) -> str:
    """An API key for a new principal ``name``, written to an open store (an engine's); returns the key."""
    key, record = new_key(name, Principal(id=name, kind=kind, tenant=tenant, roles=frozenset(roles),
                                          may_act_for=may_act_for, name=name))
    await store.create_key(record)
    return key
