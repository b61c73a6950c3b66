"""Durable state: API keys and the audit log, in SQLite (embedded) or PostgreSQL (selected by URL)."""

from __future__ import annotations

from interlock.settings import StoreSettings
from interlock.store.base import RecordQuery, Store


def open_store(settings: StoreSettings) -> Store:
    """The store for a URL. Opening it (``await store.open()``) runs pending migrations."""
    if settings.dialect == "sqlite":
        from interlock.store.sqlite import SqliteStore

        return SqliteStore(settings)
    from interlock.store.postgres import PostgresStore

    return PostgresStore(settings)


__all__ = ["RecordQuery", "Store", "open_store"]
