"""The embedded index: one SQLite file with an FTS5 table (BM25) and the chunks' vectors.

Both legs filter by the same access predicate inside their query: the full-text leg joins the
documents and their grants in the SQL that ranks; the vector leg ranks only the chunks of the
documents that same predicate selects (exact cosine over the permitted rows, no approximate index that
could return too few after filtering). The vectors are held in memory as one matrix, reloaded when the
chunk generation in the file changes (another process ingested).

Writes are one transaction per document: its row, its grants (the access rule as rows) and its chunks
change together, so a reader never sees a document with its new text and its old rule. Ids are never
reused (AUTOINCREMENT), so a matrix loaded before a delete cannot name a later chunk.
"""

from __future__ import annotations

import functools
import json
import re
import sqlite3
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from interlock.identity.principal import Principal
from interlock.knowledge.access import AccessRule
from interlock.knowledge.vectors import VectorMatrix

if TYPE_CHECKING:
    from interlock.knowledge.embedding import Vectors

_SCHEMA = """
CREATE TABLE IF NOT EXISTS knowledge_documents (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
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
  ingested REAL NOT NULL,
  UNIQUE (source, doc_id)
);
CREATE TABLE IF NOT EXISTS knowledge_grants (
  doc INTEGER NOT NULL REFERENCES knowledge_documents(id) ON DELETE CASCADE,
  kind TEXT NOT NULL,
  value TEXT NOT NULL,
  PRIMARY KEY (doc, kind, value)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS knowledge_grants_by_value ON knowledge_grants (kind, value, doc);
CREATE TABLE IF NOT EXISTS knowledge_chunks (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  doc INTEGER NOT NULL REFERENCES knowledge_documents(id) ON DELETE CASCADE,
  ordinal INTEGER NOT NULL,
  text TEXT NOT NULL,
  embedding BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS knowledge_chunks_by_doc ON knowledge_chunks (doc);
CREATE VIRTUAL TABLE IF NOT EXISTS knowledge_fts USING fts5(body, tokenize = 'porter unicode61');
CREATE TABLE IF NOT EXISTS knowledge_sources (
  name TEXT PRIMARY KEY,
  last_ingest REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS knowledge_meta (
  key TEXT PRIMARY KEY,
  value INTEGER NOT NULL
);
INSERT OR IGNORE INTO knowledge_meta (key, value) VALUES ('generation', 0);
"""

_WORD = re.compile(r"\w+", re.UNICODE)


@dataclass(frozen=True, slots=True)
class StoredDocument:
    source: str
    doc_id: str
    title: str
    uri: str
    media_type: str
    content_hash: str
    access: AccessRule
    ingested: float
    chunks: int = 0


@dataclass(frozen=True, slots=True)
class StoredChunk:
    id: int
    ordinal: int
    text: str
    document: StoredDocument


def words(query: str) -> list[str]:
    """The query's distinct words, lower case (letters, digits and underscores only)."""
    return list(dict.fromkeys(w.lower() for w in _WORD.findall(query)))


def fts_query(query: str) -> str:
    """The query's words, each quoted (so no word is read as FTS5 syntax), any of them matching."""
    return " OR ".join('"' + w.replace('"', '""') + '"' for w in words(query))


def access_predicate(principal: Principal, sources: Sequence[str], first: int | None = None) -> tuple[str, list[Any]]:
    """The SQL condition on ``d`` (a knowledge_documents row) that admits only what ``principal`` may
    read in ``sources``: the caller's tenant, and a grant naming the caller, one of its groups or roles,
    or the whole tenant. Every leg puts it in its own query. Parameters are ``?`` (SQLite), or ``$n``
    numbered from ``first`` (PostgreSQL)."""
    groups, roles = sorted(principal.groups), sorted(principal.roles)
    params: list[Any] = [*sources, principal.tenant, principal.id, *groups, *roles]
    counter = iter(range(first or 1, (first or 1) + len(params)))

    def marks(n: int) -> str:
        return ",".join("?" if first is None else f"${next(counter)}" for _ in range(n))

    source_marks, tenant_mark, id_mark = marks(len(sources)), marks(1), marks(1)
    group_marks, role_marks = marks(len(groups)), marks(len(roles))
    # The grants that name the caller, one index range (kind, value, doc) per kind of name, selected
    # once per query; then each granted document by its key. The work follows what the caller may read,
    # not the size of the source (an OR over the kinds scanned every grant). An empty list has no branch.
    branches = ["SELECT g.doc FROM knowledge_grants g WHERE g.kind = 'tenant'",
                f"SELECT g.doc FROM knowledge_grants g WHERE g.kind = 'principal' AND g.value = {id_mark}"]
    if groups:
        branches.append(f"SELECT g.doc FROM knowledge_grants g WHERE g.kind = 'group' AND g.value IN ({group_marks})")
    if roles:
        branches.append(f"SELECT g.doc FROM knowledge_grants g WHERE g.kind = 'role' AND g.value IN ({role_marks})")
    granted = " UNION ALL ".join(branches)
    # PostgreSQL: an array built once per query (an init plan), whatever the planner's statistics say;
    # left to plan `IN (subquery)` before its first ANALYZE, it probed the grants once per document
    # (2.3 s at 10,000 documents).
    within = f"IN ({granted})" if first is None else f"= ANY(ARRAY({granted}))"
    # Placeholders in the order of ``params`` (SQLite binds ``?`` by position).
    sql = f"d.source IN ({source_marks}) AND d.tenant = {tenant_mark} AND d.id {within}"
    return sql, params


def _rule(raw: str) -> AccessRule:
    d = json.loads(raw)
    return AccessRule(tenant=d["tenant"], classification=d["classification"], principals=frozenset(d["principals"]),
                      groups=frozenset(d["groups"]), roles=frozenset(d["roles"]), tenant_wide=d["tenant_wide"])


def document_from_row(row: sqlite3.Row | tuple[Any, ...], chunks: int = 0) -> StoredDocument:
    return StoredDocument(source=row[0], doc_id=row[1], title=row[2], uri=row[3], media_type=row[4],
                          content_hash=row[5], access=_rule(row[6]), ingested=row[7], chunks=chunks)


def chunk_from_row(row: sqlite3.Row | tuple[Any, ...]) -> StoredChunk:
    """A row of ``CHUNKS`` (the document's columns, then the chunk's id, ordinal and text)."""
    return StoredChunk(int(row[8]), int(row[9]), row[10], document_from_row(row))


@functools.cache
def numbered(sql: str) -> str:
    """``sql`` with its ``?`` placeholders numbered ``$1``, ``$2``, ... for PostgreSQL."""
    counter = iter(range(1, sql.count("?") + 1))
    return re.sub(r"\?", lambda _: f"${next(counter)}", sql)


# The statements both dialects share, written with ``?`` (PostgreSQL runs them through ``numbered``).
_DOC_COLUMNS = "d.source, d.doc_id, d.title, d.uri, d.media_type, d.content_hash, d.access_rule, d.ingested"
DOCUMENTS_OF = "SELECT doc_id, content_hash, access_version FROM knowledge_documents WHERE source = ?"
MARK_INGESTED = ("INSERT INTO knowledge_sources (name, last_ingest) VALUES (?, ?) ON CONFLICT (name) "
                 "DO UPDATE SET last_ingest = excluded.last_ingest")
LAST_INGEST = "SELECT last_ingest FROM knowledge_sources WHERE name = ?"
COUNTS = ("SELECT count(DISTINCT d.id), count(c.id) FROM knowledge_documents d "
          "LEFT JOIN knowledge_chunks c ON c.doc = d.id WHERE d.source = ?")
LIST_DOCUMENTS = (f"SELECT {_DOC_COLUMNS}, (SELECT count(*) FROM knowledge_chunks c WHERE c.doc = d.id) "
                  "FROM knowledge_documents d WHERE d.source = ? ORDER BY d.doc_id")
DOCUMENT = f"SELECT {_DOC_COLUMNS}, d.id FROM knowledge_documents d WHERE d.source = ? AND d.doc_id = ?"
DOCUMENT_CHUNKS = "SELECT text FROM knowledge_chunks WHERE doc = ? ORDER BY ordinal"
CHUNKS = f"SELECT {_DOC_COLUMNS}, c.id, c.ordinal, c.text FROM knowledge_chunks c JOIN knowledge_documents d ON d.id = c.doc"
PERMITTED_DOCUMENTS = "SELECT d.id FROM knowledge_documents d WHERE "
GENERATION = "SELECT value FROM knowledge_meta WHERE key = 'generation'"
BUMP_GENERATION = "UPDATE knowledge_meta SET value = value + 1 WHERE key = 'generation'"
ALL_VECTORS = "SELECT id, doc, embedding FROM knowledge_chunks ORDER BY id"
COUNT_CHUNKS = "SELECT count(*) FROM knowledge_chunks"


class SqliteIndex:
    def __init__(self, path: str) -> None:
        if path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=30)
        self._conn.execute("PRAGMA journal_mode=WAL")
        # NORMAL: a commit is atomic and in order, but the last ones may be lost on power failure. The
        # index is rebuilt from its sources (ingest is idempotent), so it does not wait for the disk
        # on every document as the audit log does.
        self._conn.execute("PRAGMA synchronous=NORMAL")
        self._conn.execute("PRAGMA foreign_keys=ON")
        self._conn.executescript(_SCHEMA)
        self._lock = threading.Lock()
        self._vectors = VectorMatrix()

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    # ---- writing

    def _bump(self) -> None:
        self._conn.execute(BUMP_GENERATION)

    def documents_of(self, source: str) -> dict[str, tuple[str, str]]:
        """doc id -> (content hash, access-rule version) for every stored document of ``source``."""
        with self._lock:
            rows = self._conn.execute(DOCUMENTS_OF, (source,)).fetchall()
        return {r[0]: (r[1], r[2]) for r in rows}

    def _write_rule(self, doc: int, rule: AccessRule) -> None:
        self._conn.execute("DELETE FROM knowledge_grants WHERE doc = ?", (doc,))
        self._conn.executemany("INSERT INTO knowledge_grants (doc, kind, value) VALUES (?, ?, ?)",
                               [(doc, kind, value) for kind, value in rule.grants()])

    def put(self, source: str, doc_id: str, title: str, uri: str, media_type: str, content_hash: str,
            rule: AccessRule, chunks: list[str], vectors: Vectors | None) -> None:
        """Store a document; with ``vectors`` None only its row and access rule change (same content)."""
        rule_json = json.dumps(rule.as_dict(), sort_keys=True)
        with self._lock:
            c = self._conn
            c.execute("BEGIN IMMEDIATE")
            try:
                row = c.execute("SELECT id FROM knowledge_documents WHERE source = ? AND doc_id = ?",
                                (source, doc_id)).fetchone()
                values = (title, uri, media_type, content_hash, rule.tenant, rule.classification, rule.version,
                          rule_json, time.time())
                if row is None:
                    doc = c.execute("INSERT INTO knowledge_documents (title, uri, media_type, content_hash, tenant, "
                                    "classification, access_version, access_rule, ingested, source, doc_id) "
                                    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", (*values, source, doc_id)).lastrowid
                    assert doc is not None
                else:
                    doc = int(row[0])
                    c.execute("UPDATE knowledge_documents SET title = ?, uri = ?, media_type = ?, content_hash = ?, "
                              "tenant = ?, classification = ?, access_version = ?, access_rule = ?, ingested = ? "
                              "WHERE id = ?", (*values, doc))
                self._write_rule(doc, rule)
                if vectors is not None:
                    self._delete_chunks(doc)
                    for ordinal, (text, vector) in enumerate(zip(chunks, vectors, strict=True)):
                        chunk = c.execute("INSERT INTO knowledge_chunks (doc, ordinal, text, embedding) "
                                          "VALUES (?, ?, ?, ?)", (doc, ordinal, text, vector.tobytes())).lastrowid
                        c.execute("INSERT INTO knowledge_fts (rowid, body) VALUES (?, ?)", (chunk, f"{title}\n{text}"))
                    self._bump()
                c.execute("COMMIT")
            except BaseException:
                c.execute("ROLLBACK")
                raise

    def _delete_chunks(self, doc: int) -> None:
        self._conn.execute("DELETE FROM knowledge_fts WHERE rowid IN (SELECT id FROM knowledge_chunks WHERE doc = ?)",
                           (doc,))
        self._conn.execute("DELETE FROM knowledge_chunks WHERE doc = ?", (doc,))

    def delete(self, source: str, doc_id: str) -> bool:
        with self._lock:
            c = self._conn
            c.execute("BEGIN IMMEDIATE")
            try:
                row = c.execute("SELECT id FROM knowledge_documents WHERE source = ? AND doc_id = ?",
                                (source, doc_id)).fetchone()
                if row is not None:
                    self._delete_chunks(int(row[0]))
                    c.execute("DELETE FROM knowledge_documents WHERE id = ?", (int(row[0]),))
                    self._bump()
                c.execute("COMMIT")
            except BaseException:
                c.execute("ROLLBACK")
                raise
        return row is not None

    def optimize(self) -> None:
        """After a bulk ingest: refresh the planner's statistics."""
        with self._lock:
            self._conn.execute("PRAGMA optimize")

    def mark_ingested(self, source: str, when: float) -> None:
        with self._lock:
            self._conn.execute(MARK_INGESTED, (source, when))

    # ---- reading

    def last_ingest(self, source: str) -> float | None:
        with self._lock:
            row = self._conn.execute(LAST_INGEST, (source,)).fetchone()
        return None if row is None else float(row[0])

    def counts(self, source: str) -> tuple[int, int]:
        """(documents, chunks) of ``source``."""
        with self._lock:
            row = self._conn.execute(COUNTS, (source,)).fetchone()
        return int(row[0]), int(row[1])

    def list_documents(self, source: str) -> list[StoredDocument]:
        with self._lock:
            rows = self._conn.execute(LIST_DOCUMENTS, (source,)).fetchall()
        return [document_from_row(r, r[8]) for r in rows]

    def document(self, source: str, doc_id: str) -> tuple[StoredDocument, list[str]] | None:
        with self._lock:
            row = self._conn.execute(DOCUMENT, (source, doc_id)).fetchone()
            if row is None:
                return None
            chunks = [r[0] for r in self._conn.execute(DOCUMENT_CHUNKS, (row[8],))]
        return document_from_row(row, len(chunks)), chunks

    def full_text(self, query: str, principal: Principal, sources: Sequence[str], limit: int) -> list[int]:
        """The BM25 leg: chunk ids best first, only from documents the predicate admits."""
        match = fts_query(query)
        if not match or not sources:
            return []
        predicate, params = access_predicate(principal, sources)
        with self._lock:
            rows = self._conn.execute(
                "SELECT f.rowid FROM knowledge_fts f JOIN knowledge_chunks c ON c.id = f.rowid "
                f"JOIN knowledge_documents d ON d.id = c.doc WHERE knowledge_fts MATCH ? AND {predicate} "
                "ORDER BY bm25(knowledge_fts) LIMIT ?", (match, *params, limit)).fetchall()
        return [int(r[0]) for r in rows]

    def _refresh_matrix(self) -> None:
        generation = int(self._conn.execute(GENERATION).fetchone()[0])
        if generation != self._vectors.generation:
            rows = self._conn.execute(ALL_VECTORS).fetchall()
            self._vectors.load(generation, rows)

    def vector(self, query_vector: Vectors, principal: Principal, sources: Sequence[str], limit: int) -> list[int]:
        """The vector leg: exact cosine over the chunks of the documents the predicate admits."""
        if not sources:
            return []
        predicate, params = access_predicate(principal, sources)
        with self._lock:
            self._refresh_matrix()
            allowed = [r[0] for r in self._conn.execute(PERMITTED_DOCUMENTS + predicate, params)]
        return self._vectors.search(query_vector, allowed, limit)

    def chunks(self, ids: Sequence[int]) -> dict[int, StoredChunk]:
        if not ids:
            return {}
        with self._lock:
            rows = self._conn.execute(f"{CHUNKS} WHERE c.id IN ({','.join('?' * len(ids))})", list(ids)).fetchall()
        return {int(r[8]): chunk_from_row(r) for r in rows}

    def count_chunks(self) -> int:
        with self._lock:
            return int(self._conn.execute(COUNT_CHUNKS).fetchone()[0])
