"""The shared index on PostgreSQL: full text with a GIN index over a generated ``tsvector`` column, and
the vector leg as on SQLite (exact cosine over the permitted rows, vectors held in memory and reloaded
when the chunk generation changes). The same tables' shape, the same access predicate in each leg's
query, the same one transaction per document.

The knowledge service calls its index from worker threads, synchronously; this one runs asyncpg on an
event loop of its own on a dedicated thread and waits for each statement's answer.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Coroutine, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

import asyncpg

from interlock.identity.principal import Principal
from interlock.knowledge.access import AccessRule
from interlock.knowledge.index import (
    ALL_VECTORS,
    BUMP_GENERATION,
    CHUNKS,
    COUNT_CHUNKS,
    COUNTS,
    DOCUMENT,
    DOCUMENT_CHUNKS,
    DOCUMENTS_OF,
    GENERATION,
    LAST_INGEST,
    LIST_DOCUMENTS,
    MARK_INGESTED,
    PERMITTED_DOCUMENTS,
    StoredChunk,
    StoredDocument,
    access_predicate,
    chunk_from_row,
    document_from_row,
    numbered,
    words,
)
from interlock.knowledge.vectors import VectorMatrix

if TYPE_CHECKING:
    from interlock.knowledge.embedding import Vectors

T = TypeVar("T")
_TIMEOUT_SECONDS = 60.0

_SCHEMA = """
CREATE TABLE IF NOT EXISTS knowledge_documents (
  id BIGSERIAL PRIMARY KEY,
  source TEXT NOT NULL,
  doc_id TEXT NOT NULL,
  title TEXT NOT NULL,
  uri TEXT NOT NULL,
  media_type TEXT NOT NULL,
  content_hash TEXT NOT NULL,
  tenant TEXT NOT NULL,
  classification TEXT NOT NULL,
  access_version TEXT NOT NULL,
  access_rule TEXT NOT NULL,
  ingested DOUBLE PRECISION NOT NULL,
  UNIQUE (source, doc_id)
);
CREATE TABLE IF NOT EXISTS knowledge_grants (
  doc BIGINT NOT NULL REFERENCES knowledge_documents(id) ON DELETE CASCADE,
  kind TEXT NOT NULL,
  value TEXT NOT NULL,
  PRIMARY KEY (doc, kind, value)
);
CREATE INDEX IF NOT EXISTS knowledge_grants_by_value ON knowledge_grants (kind, value, doc);
CREATE TABLE IF NOT EXISTS knowledge_chunks (
  id BIGSERIAL PRIMARY KEY,
  doc BIGINT NOT NULL REFERENCES knowledge_documents(id) ON DELETE CASCADE,
  ordinal INTEGER NOT NULL,
  text TEXT NOT NULL,
  body TEXT NOT NULL,
  body_tsv TSVECTOR GENERATED ALWAYS AS (to_tsvector('english', body)) STORED,
  embedding BYTEA NOT NULL
);
CREATE INDEX IF NOT EXISTS knowledge_chunks_by_doc ON knowledge_chunks (doc);
CREATE INDEX IF NOT EXISTS knowledge_chunks_fts ON knowledge_chunks USING GIN (body_tsv);
CREATE TABLE IF NOT EXISTS knowledge_sources (
  name TEXT PRIMARY KEY,
  last_ingest DOUBLE PRECISION NOT NULL
);
CREATE TABLE IF NOT EXISTS knowledge_meta (
  key TEXT PRIMARY KEY,
  value BIGINT NOT NULL
);
INSERT INTO knowledge_meta (key, value) VALUES ('generation', 0) ON CONFLICT (key) DO NOTHING;
"""

# Several processes may create the tables at once: one advisory lock makes that one at a time.
_SCHEMA_LOCK = 0x6B6E6F77


def tsquery(query: str) -> str:
    """The query's words for ``to_tsquery``: any of them (each word is letters and digits only)."""
    return " | ".join(words(query))


class PostgresIndex:
    def __init__(self, url: str, pool_size: int = 4) -> None:
        self.url = url
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="knowledge-postgres", daemon=True)
        self._thread.start()
        self._vectors = VectorMatrix()
        self._vector_lock = threading.Lock()
        try:
            self._pool: asyncpg.Pool = self._run(self._open(pool_size))
        except BaseException:
            self._stop_loop()
            raise

    async def _open(self, pool_size: int) -> asyncpg.Pool:
        pool = await asyncpg.create_pool(self.url, min_size=1, max_size=pool_size)
        async with pool.acquire() as conn, conn.transaction():
            await conn.execute("SELECT pg_advisory_xact_lock($1)", _SCHEMA_LOCK)
            await conn.execute(_SCHEMA)
        return pool

    def _run(self, coro: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(_TIMEOUT_SECONDS)

    def _stop_loop(self) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)
        self._loop.close()

    def close(self) -> None:
        if self._loop.is_closed():
            return
        self._run(self._pool.close())
        self._stop_loop()

    # ---- writing

    def documents_of(self, source: str) -> dict[str, tuple[str, str]]:
        rows = self._run(self._pool.fetch(numbered(DOCUMENTS_OF), source))
        return {r[0]: (r[1], r[2]) for r in rows}

    def put(self, source: str, doc_id: str, title: str, uri: str, media_type: str, content_hash: str,
            rule: AccessRule, chunks: list[str], vectors: Vectors | None) -> None:
        self._run(self._put(source, doc_id, title, uri, media_type, content_hash, rule, chunks, vectors))

    async def _put(self, source: str, doc_id: str, title: str, uri: str, media_type: str, content_hash: str,
                   rule: AccessRule, chunks: list[str], vectors: Vectors | None) -> None:
        values = (title, uri, media_type, content_hash, rule.tenant, rule.classification, rule.version,
                  json.dumps(rule.as_dict(), sort_keys=True), time.time())
        async with self._pool.acquire() as conn, conn.transaction():
            doc = await conn.fetchval(
                "INSERT INTO knowledge_documents (title, uri, media_type, content_hash, tenant, classification, "
                "access_version, access_rule, ingested, source, doc_id) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11) "
                "ON CONFLICT (source, doc_id) DO UPDATE SET title = excluded.title, uri = excluded.uri, "
                "media_type = excluded.media_type, content_hash = excluded.content_hash, tenant = excluded.tenant, "
                "classification = excluded.classification, access_version = excluded.access_version, "
                "access_rule = excluded.access_rule, ingested = excluded.ingested RETURNING id",
                *values, source, doc_id)
            await conn.execute("DELETE FROM knowledge_grants WHERE doc = $1", doc)
            await conn.executemany("INSERT INTO knowledge_grants (doc, kind, value) VALUES ($1, $2, $3)",
                                   [(doc, kind, value) for kind, value in rule.grants()])
            if vectors is not None:
                await conn.execute("DELETE FROM knowledge_chunks WHERE doc = $1", doc)
                await conn.executemany(
                    "INSERT INTO knowledge_chunks (doc, ordinal, text, body, embedding) VALUES ($1, $2, $3, $4, $5)",
                    [(doc, n, text, f"{title}\n{text}", vector.tobytes())
                     for n, (text, vector) in enumerate(zip(chunks, vectors, strict=True))])
                await conn.execute(BUMP_GENERATION)

    def delete(self, source: str, doc_id: str) -> bool:
        async def run() -> bool:
            async with self._pool.acquire() as conn, conn.transaction():
                gone = await conn.fetchval("DELETE FROM knowledge_documents WHERE source = $1 AND doc_id = $2 "
                                           "RETURNING id", source, doc_id)
                if gone is not None:
                    await conn.execute(BUMP_GENERATION)
                return gone is not None

        return self._run(run())

    def optimize(self) -> None:
        """After a bulk ingest: refresh the planner's statistics (autovacuum would, later)."""
        self._run(self._pool.execute("ANALYZE knowledge_documents, knowledge_grants, knowledge_chunks"))

    def mark_ingested(self, source: str, when: float) -> None:
        self._run(self._pool.execute(numbered(MARK_INGESTED), source, when))

    # ---- reading

    def last_ingest(self, source: str) -> float | None:
        value = self._run(self._pool.fetchval(numbered(LAST_INGEST), source))
        return None if value is None else float(value)

    def counts(self, source: str) -> tuple[int, int]:
        row = self._run(self._pool.fetchrow(numbered(COUNTS), source))
        return int(row[0]), int(row[1])

    def list_documents(self, source: str) -> list[StoredDocument]:
        rows = self._run(self._pool.fetch(numbered(LIST_DOCUMENTS), source))
        return [document_from_row(tuple(r), int(r[8])) for r in rows]

    def document(self, source: str, doc_id: str) -> tuple[StoredDocument, list[str]] | None:
        async def run() -> tuple[StoredDocument, list[str]] | None:
            async with self._pool.acquire() as conn:
                row = await conn.fetchrow(numbered(DOCUMENT), source, doc_id)
                if row is None:
                    return None
                chunks = [r[0] for r in await conn.fetch(numbered(DOCUMENT_CHUNKS), row[8])]
            return document_from_row(tuple(row), len(chunks)), chunks

        return self._run(run())

    def full_text(self, query: str, principal: Principal, sources: Sequence[str], limit: int) -> list[int]:
        """The full-text leg: chunk ids best first (ts_rank_cd over the GIN-indexed column), only from
        documents the predicate admits."""
        match = tsquery(query)
        if not match or not sources:
            return []
        predicate, params = access_predicate(principal, sources, first=3)
        rows = self._run(self._pool.fetch(
            "SELECT c.id FROM knowledge_chunks c JOIN knowledge_documents d ON d.id = c.doc, "
            "to_tsquery('english', $1) q WHERE c.body_tsv @@ q AND " + predicate +
            " ORDER BY ts_rank_cd(c.body_tsv, q) DESC, c.id LIMIT $2", match, limit, *params))
        return [int(r[0]) for r in rows]

    def vector(self, query_vector: Vectors, principal: Principal, sources: Sequence[str], limit: int) -> list[int]:
        if not sources:
            return []
        predicate, params = access_predicate(principal, sources, first=1)

        async def run() -> list[int]:
            async with self._pool.acquire() as conn:
                generation = int(await conn.fetchval(GENERATION))
                if generation != self._vectors.generation:
                    rows = await conn.fetch(ALL_VECTORS)
                    with self._vector_lock:
                        self._vectors.load(generation, [(r[0], r[1], r[2]) for r in rows])
                return [r[0] for r in await conn.fetch(PERMITTED_DOCUMENTS + predicate, *params)]

        allowed = self._run(run())
        return self._vectors.search(query_vector, allowed, limit)

    def chunks(self, ids: Sequence[int]) -> dict[int, StoredChunk]:
        if not ids:
            return {}
        rows = self._run(self._pool.fetch(f"{CHUNKS} WHERE c.id = ANY($1::bigint[])", list(ids)))
        return {int(r[8]): chunk_from_row(tuple(r)) for r in rows}

    def count_chunks(self) -> int:
        return int(self._run(self._pool.fetchval(COUNT_CHUNKS)))
