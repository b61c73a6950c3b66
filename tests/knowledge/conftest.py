"""The index backends every index test runs on: the embedded SQLite file and PostgreSQL (a fresh
database per use; the PostgreSQL cases fail, never skip, without the server)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from knowledge_support import IndexUrl

from support.postgres import create_database, drop_database


@pytest.fixture(scope="module")
def index_urls() -> Iterator[IndexUrl]:
    made: list[str] = []

    def make(backend: str, directory: Path) -> str:
        if backend == "sqlite":
            return f"sqlite:///{directory / 'knowledge.db'}"
        url = create_database("interlock_k_")
        made.append(url)
        return url

    yield make
    for url in made:
        drop_database(url)
