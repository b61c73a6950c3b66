"""The knowledge service: ingest into the index and governed retrieval from it.

Retrieval runs two legs, full text (BM25) and vector (cosine), each with the caller's access predicate
in its own query, fuses them by reciprocal rank, then asks Cedar (``read_document``) about every
candidate's document before its passage is used. A candidate the policy refuses is left out and kept
as a near-miss (the index admitted it, the policy did not: a rule and a policy that disagree).

Ingest is incremental by content hash: a document whose text changed is chunked and embedded again;
one whose access rule alone changed gets its new rule (grants and version) without embedding.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from interlock.errors import InvalidRequest, NotFound
from interlock.identity.principal import Principal
from interlock.knowledge.access import AccessRule
from interlock.knowledge.chunking import chunk_text
from interlock.knowledge.documents import SourceDocument, read_directory
from interlock.knowledge.embedding import Embedder
from interlock.policy.decision import Decision
from interlock.policy.entities import DocumentAccess
from interlock.policy.holder import PolicyHolder
from interlock.settings import ConfigError, KnowledgeSettings, KnowledgeSourceSettings, sqlite_path

if TYPE_CHECKING:  # the index loads numpy: only a process that opens one pays for it
    from interlock.knowledge.index import SqliteIndex, StoredChunk, StoredDocument
    from interlock.knowledge.index_postgres import PostgresIndex

    Index = SqliteIndex | PostgresIndex

Progress = Callable[[int], None]


@dataclass(frozen=True, slots=True)
class Passage:
    source: str
    document_id: str
    title: str
    chunk: int
    text: str
    score: float
    access_version: str
    content_hash: str
    classification: str
    uri: str
    # 1-based rank in each leg that returned it (absent: that leg did not).
    ranks: dict[str, int] = field(default_factory=dict)

    def citation(self, marker: int | None = None) -> dict[str, Any]:
        out: dict[str, Any] = {"source": self.source, "document_id": self.document_id, "title": self.title,
                               "chunk": self.chunk, "access_version": self.access_version,
                               "content_hash": self.content_hash}
        if marker is not None:
            out["marker"] = f"[{marker}]"
        if self.uri:
            out["uri"] = self.uri
        return out


@dataclass(slots=True)
class Retrieval:
    """One retrieval's outcome: the passages used and the facts of the record (never text)."""

    query_chars: int
    sources: tuple[str, ...]
    passages: list[Passage] = field(default_factory=list)
    # Candidates the index admitted and the policy refused: (passage facts, decision).
    near_misses: list[tuple[dict[str, Any], Decision]] = field(default_factory=list)
    # Passages left out after the caller could read them (redaction blocked, model not permitted).
    withheld: list[dict[str, Any]] = field(default_factory=list)
    legs: dict[str, int] = field(default_factory=dict)
    policy_ids: tuple[str, ...] = ()

    def record(self) -> dict[str, Any]:
        """What the audit record keeps: documents, chunks, access-rule versions and decisions."""
        used = [{**p.citation(), "decision": "permit", "score": round(p.score, 6), "ranks": p.ranks}
                for p in self.passages]
        out: dict[str, Any] = {"sources": list(self.sources), "query_chars": self.query_chars,
                               "candidates": self.legs, "passages": used}
        if self.near_misses:
            out["near_misses"] = [{**facts, "decision": "deny", "reason": d.reason, "policy_ids": list(d.policy_ids)}
                                  for facts, d in self.near_misses]
        if self.withheld:
            out["withheld"] = self.withheld
        return out


@dataclass(slots=True)
class IngestReport:
    source: str
    added: int = 0
    changed: int = 0
    access_changed: int = 0
    unchanged: int = 0
    deleted: int = 0
    chunks_embedded: int = 0
    seconds: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        return {"source": self.source, "added": self.added, "changed": self.changed,
                "access_changed": self.access_changed, "unchanged": self.unchanged, "deleted": self.deleted,
                "chunks_embedded": self.chunks_embedded, "seconds": round(self.seconds, 3)}


def _access(doc: StoredDocument, owner: str) -> DocumentAccess:
    rule = doc.access
    return DocumentAccess(key=f"{doc.source}/{doc.doc_id}", source=doc.source, source_owner=owner,
                          tenant=rule.tenant, classification=rule.classification, principals=rule.principals,
                          groups=rule.groups, roles=rule.roles, tenant_wide=rule.tenant_wide)


def open_index(settings: KnowledgeSettings) -> Index:
    """The embedded index (``sqlite:///``) or the shared one (``postgresql://``), tables created if missing."""
    if settings.index_url.startswith("sqlite://"):
        from interlock.knowledge.index import SqliteIndex

        return SqliteIndex(sqlite_path(settings.index_url))
    from interlock.knowledge.index_postgres import PostgresIndex

    try:
        return PostgresIndex(settings.index_url)
    except Exception as exc:
        raise ConfigError(f"knowledge.index_url: cannot open the PostgreSQL index: {type(exc).__name__}: {exc}") from exc


class Knowledge:
    def __init__(self, settings: KnowledgeSettings, policy: PolicyHolder, *, base_dir: Path | None = None,
                 index: Index | None = None, embedder: Embedder | None = None) -> None:
        self.settings = settings
        # A directory source's relative path is relative to the settings file, as the policies' is.
        self._base_dir = base_dir or Path.cwd()
        self._policy = policy
        self.index = index if index is not None else open_index(settings)
        self.embedder = embedder if embedder is not None else Embedder()
        self._sources = {s.name: s for s in settings.sources}

    def close(self) -> None:
        self.index.close()

    # ---- sources

    def source(self, name: str) -> KnowledgeSourceSettings:
        found = self._sources.get(name)
        if found is None:
            raise NotFound(f"There is no knowledge source {name!r}; known sources: {sorted(self._sources)}.")
        return found

    def path_of(self, source: KnowledgeSourceSettings) -> Path:
        assert source.path is not None
        return source.path if source.path.is_absolute() else self._base_dir / source.path

    def default_rule(self, source: KnowledgeSourceSettings) -> AccessRule:
        return AccessRule.from_settings(source.default_access, source.tenant, source.classification)

    def status(self, name: str, now: float | None = None) -> dict[str, Any]:
        source = self.source(name)
        documents, chunks = self.index.counts(name)
        last = self.index.last_ingest(name)
        now = time.time() if now is None else now
        age_hours = None if last is None else (now - last) / 3600.0
        stale = age_hours is None or age_hours > source.freshness.max_age_hours
        return {"name": name, "owner": source.owner, "tenant": source.tenant,
                "classification": source.classification, "kind": "directory" if source.path else "api",
                "path": str(source.path) if source.path else None, "documents": documents,
                "chunks": chunks, "last_ingest": last,
                "age_hours": None if age_hours is None else round(age_hours, 2),
                "cadence_hours": source.freshness.cadence_hours, "max_age_hours": source.freshness.max_age_hours,
                "stale": stale,
                "prompt_models": None if source.prompt_models is None else list(source.prompt_models)}

    # ---- ingest

    def put(self, source_name: str, doc: SourceDocument, *, force: bool = False) -> tuple[str, int]:
        """Store one document; ("added" | "changed" | "access_changed" | "unchanged", chunks embedded)."""
        self.source(source_name)
        known = self.index.documents_of(source_name).get(doc.id)
        outcome = self._put(source_name, doc, known, force)
        # A connector pushing documents is what keeps an API source fresh.
        self.index.mark_ingested(source_name, time.time())
        return outcome

    def _put(self, source: str, doc: SourceDocument, known: tuple[str, str] | None, force: bool) -> tuple[str, int]:
        tenant = self._sources[source].tenant
        if doc.access.tenant != tenant:
            # A source belongs to one tenant: a document cannot open itself to another.
            raise InvalidRequest(f"Document {doc.id!r} names tenant {doc.access.tenant!r}, but source "
                                 f"{source!r} belongs to tenant {tenant!r}.", param="access.tenant")
        content_hash = doc.content_hash
        if known is not None and known[0] == content_hash and not force:
            if known[1] == doc.access.version:
                return "unchanged", 0
            self.index.put(source, doc.id, doc.title, doc.uri, doc.media_type, content_hash, doc.access, [], None)
            return "access_changed", 0
        chunks = chunk_text(doc.text, self.settings.chunk_chars, self.settings.chunk_overlap_chars)
        # The title is embedded with each chunk, as the full-text leg indexes it with each chunk.
        vectors = self.embedder.embed([f"{doc.title}\n{c}" for c in chunks])
        self.index.put(source, doc.id, doc.title, doc.uri, doc.media_type, content_hash, doc.access, chunks, vectors)
        return ("added" if known is None else "changed"), len(chunks)

    def delete(self, source_name: str, doc_id: str) -> bool:
        self.source(source_name)
        return self.index.delete(source_name, doc_id)

    def ingest(self, source_name: str, *, force: bool = False, progress: Progress | None = None,
               documents: Iterable[SourceDocument] | None = None) -> IngestReport:
        """Bring the index in line with a directory source: new and changed files in, deleted ones out."""
        source = self.source(source_name)
        started = time.perf_counter()
        if documents is None:
            if source.path is None:
                raise InvalidRequest(f"Source {source_name!r} has no path: its documents are pushed through "
                                     f"POST /admin/knowledge/{source_name}/documents.")
            documents = read_directory(self.path_of(source), self.default_rule(source))
        report = IngestReport(source_name)
        known = self.index.documents_of(source_name)
        seen: set[str] = set()
        for doc in documents:
            seen.add(doc.id)
            outcome, embedded = self._put(source_name, doc, known.get(doc.id), force)
            setattr(report, outcome, getattr(report, outcome) + 1)
            report.chunks_embedded += embedded
            if progress is not None:
                progress(1)
        for gone in sorted(set(known) - seen):
            if self.index.delete(source_name, gone):
                report.deleted += 1
        self.index.mark_ingested(source_name, time.time())
        if report.added or report.changed or report.deleted:
            self.index.optimize()
        report.seconds = time.perf_counter() - started
        return report

    # ---- retrieval

    def resolve_sources(self, names: Sequence[str] | None, tenant: str) -> tuple[str, ...]:
        """The named sources (default: all) of ``tenant``; another tenant's source is answered exactly like
        one that does not exist, and never listed."""
        mine = [s.name for s in self.settings.sources if s.tenant == tenant]
        if names is None:
            return tuple(mine)
        unknown = [n for n in names if n not in mine]
        if unknown:
            raise InvalidRequest(f"Unknown knowledge source(s) {unknown}; known sources: {mine}.", param="sources")
        return tuple(dict.fromkeys(names))

    def retrieve(self, principal: Principal, app: Principal | None, query: str, sources: Sequence[str],
                 top_k: int) -> Retrieval:
        """The passages ``principal`` may read that best answer ``query``, at most ``top_k`` of them."""
        result = Retrieval(query_chars=len(query), sources=tuple(sources))
        if not query.strip() or not sources:
            return result
        pool = max(self.settings.candidates_per_leg, top_k * 4)
        by_text = self.index.full_text(query, principal, sources, pool)
        by_vector = self.index.vector(self.embedder.embed([query])[0], principal, sources, pool)
        result.legs = {"full_text": len(by_text), "vector": len(by_vector)}
        fused: dict[int, float] = {}
        ranks: dict[int, dict[str, int]] = {}
        k = self.settings.rrf_k
        for leg, ids in (("full_text", by_text), ("vector", by_vector)):
            for rank, chunk_id in enumerate(ids, 1):
                fused[chunk_id] = fused.get(chunk_id, 0.0) + 1.0 / (k + rank)
                ranks.setdefault(chunk_id, {})[leg] = rank
        order = sorted(fused, key=lambda c: (-fused[c], c))
        policy_ids: set[str] = set()
        # Candidates are checked best first, a batch at a time, until top_k passages are permitted: every
        # passage used is checked, and a long tail nobody will read costs no policy evaluation.
        batch = max(2 * top_k, 10)
        for start in range(0, len(order), batch):
            chunks = self.index.chunks(order[start:start + batch])
            candidates = [chunks[c] for c in order[start:start + batch] if c in chunks]
            for chunk, decision in zip(candidates, self._read_decisions(principal, app, candidates), strict=True):
                policy_ids.update(decision.policy_ids)
                passage = self._passage(chunk, fused[chunk.id], ranks[chunk.id])
                if not decision.allowed:
                    result.near_misses.append(({k: v for k, v in passage.citation().items() if k != "uri"},
                                               decision))
                elif len(result.passages) < top_k:
                    result.passages.append(passage)
            if len(result.passages) >= top_k:
                break
        result.policy_ids = tuple(sorted(policy_ids))
        return result

    def _read_decisions(self, principal: Principal, app: Principal | None,
                        chunks: list[StoredChunk]) -> list[Decision]:
        docs: dict[str, DocumentAccess] = {}
        for c in chunks:
            key = f"{c.document.source}/{c.document.doc_id}"
            if key not in docs:
                docs[key] = _access(c.document, self._sources[c.document.source].owner)
        ordered = list(docs.values())
        decided = dict(zip((d.key for d in ordered), self._policy.engine.documents(principal, app, ordered),
                           strict=True))
        return [decided[f"{c.document.source}/{c.document.doc_id}"] for c in chunks]

    @staticmethod
    def _passage(chunk: StoredChunk, score: float, ranks: dict[str, int]) -> Passage:
        d = chunk.document
        return Passage(source=d.source, document_id=d.doc_id, title=d.title, chunk=chunk.ordinal, text=chunk.text,
                       score=score, access_version=d.access.version, content_hash=d.content_hash,
                       classification=d.access.classification, uri=d.uri, ranks=ranks)

    def prompt_decisions(self, principal: Principal, app: Principal | None, model: str,
                         passages: list[Passage]) -> list[Decision]:
        """May each passage go into a prompt for ``model``? The source's ``prompt_models``, then Cedar's
        ``send_document`` (per classification and the model's hosting)."""
        out: list[Decision] = []
        asks: list[tuple[int, DocumentAccess]] = []
        for i, p in enumerate(passages):
            allowed_models = self._sources[p.source].prompt_models
            if allowed_models is not None and model not in allowed_models:
                out.append(Decision(False, reason=f"source {p.source!r} may not be used in prompts to {model!r}"))
                continue
            out.append(Decision(True))
            rule = AccessRule(tenant=principal.tenant, classification=p.classification)
            asks.append((i, DocumentAccess(key=f"{p.source}/{p.document_id}", source=p.source,
                                           source_owner=self._sources[p.source].owner, tenant=rule.tenant,
                                           classification=p.classification)))
        if asks:
            decided = self._policy.engine.documents(principal, app, [a for _, a in asks], model=model)
            for (i, _), decision in zip(asks, decided, strict=True):
                out[i] = decision
        return out
