"""Fixtures for the stage tests: an engine built and started from the standard test settings (a SQLite store
in the test's directory, the mock model, the standard policies), whose own stages the tests call."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from interlock.providers.mock import MockLLM
from interlock.settings import Settings
from support.app import Engine
from support.engines import engine_settings, running_engine


@pytest.fixture
def settings(tmp_path: Path, mock_llm: MockLLM, dead_port: int) -> Settings:
    return engine_settings(tmp_path / "gateway", mock_base_url=mock_llm.base_url, dead_port=dead_port)


@pytest.fixture
async def engine(settings: Settings) -> AsyncIterator[Engine]:
    async with running_engine(settings) as started:
        yield started
