"""The index backends every index test runs on: the embedded SQLite file and PostgreSQL (a fresh
database per use; the PostgreSQL cases fail, never skip, without the server)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from support.postgres import create_database, drop_database

BACKENDS = (pytest.param("sqlite", id="sqlite"), pytest.param("postgresql", id="postgresql", marks=pytest.mark.postgres))

# (backend, directory) -> an index URL: a file in the directory, or a fresh PostgreSQL database.
IndexUrl = Callable[[str, Path], str]


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
