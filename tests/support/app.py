"""The one place the tests import the application's entry points from: the ASGI app factory, the engine
and the command. When one of them moves, this file is the only one to change."""

from __future__ import annotations

from typing import Any

import click

from interlock.api.app import InterlockApp, build_app
from interlock.cli import main
from interlock.engine import Engine
from interlock.settings import Settings

__all__ = ["Engine", "InterlockApp", "cli_main", "make_app"]


def make_app(settings: Settings) -> Any:
    """The ASGI app the server runs for these settings (not started: its lifespan starts the engine)."""
    return build_app(settings)


def cli_main() -> click.Command:
    """The ``interlock`` command group, for click's test runner."""
    return main
