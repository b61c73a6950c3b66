"""``interlock knowledge ingest|list|show|delete|reindex``: governed sources, worked on in-process.

The commands open the knowledge index named in the settings (``knowledge.index_url``) directly; a
running gateway sees their changes on its next retrieval (the index is shared, and its vector matrix
follows the file's chunk generation).
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any

import click

from interlock.cli.common import config_option, echo_json, load_cli_settings
from interlock.errors import Refusal
from interlock.knowledge import Knowledge
from interlock.knowledge.documents import DocumentError, read_directory
from interlock.knowledge.embedding import MODEL_NAME
from interlock.policy.setup import load_policies
from interlock.settings import ConfigError, Settings

# Below this many documents an ingest prints no progress bar.
PROGRESS_FROM = 20


def _open(config: Path | None) -> tuple[Settings, Knowledge]:
    from interlock.engine import key_dir  # the engine's modules, loaded only by these commands

    settings = load_cli_settings(config)
    if not settings.knowledge.sources:
        raise click.ClickException("No knowledge sources are declared (knowledge.sources in the settings).")
    try:
        holder = load_policies(settings)
        assert holder is not None
        return settings, Knowledge(settings.knowledge, holder, base_dir=key_dir(settings))
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from None


def _fail(exc: Exception) -> click.ClickException:
    return click.ClickException(exc.message if isinstance(exc, Refusal) else str(exc))


@click.group()
def knowledge() -> None:
    """Governed knowledge sources: ingest, list, show, delete, reindex."""


def _ingest(k: Knowledge, names: tuple[str, ...], force: bool, as_json: bool) -> None:
    chosen = names or tuple(s.name for s in k.settings.sources if s.path is not None)
    if not chosen:
        raise click.ClickException("No directory sources to ingest (sources without a path take documents "
                                   "through POST /admin/knowledge/{source}/documents).")
    reports = []
    for name in chosen:
        try:
            source = k.source(name)
            if source.path is None:
                raise click.ClickException(f"Source {name!r} has no path: push its documents through "
                                           f"POST /admin/knowledge/{name}/documents.")
            docs = list(read_directory(k.path_of(source), k.default_rule(source)))
            if len(docs) >= PROGRESS_FROM and not as_json:
                with click.progressbar(length=len(docs), label=f"{name}: ingesting", file=sys.stderr) as bar:
                    report = k.ingest(name, force=force, documents=docs, progress=bar.update)
            else:
                report = k.ingest(name, force=force, documents=docs)
        except (Refusal, DocumentError) as exc:
            raise _fail(exc) from None
        reports.append(report.as_dict())
        if not as_json:
            click.echo(f"{name}: {report.added} added, {report.changed} changed, {report.access_changed} access "
                       f"changed, {report.unchanged} unchanged, {report.deleted} deleted; "
                       f"{report.chunks_embedded} chunks embedded in {report.seconds:.2f} s")
    if as_json:
        echo_json({"object": "list", "data": reports})


@knowledge.command("ingest")
@config_option
@click.argument("sources", nargs=-1)
@click.option("--force", is_flag=True, help="Chunk and embed every document again, changed or not.")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
def ingest(config: Path | None, sources: tuple[str, ...], force: bool, as_json: bool) -> None:
    """Bring the index in line with directory SOURCES (default: all): new and changed files in, deleted out;
    a changed access rule alone is applied without embedding."""
    _, k = _open(config)
    try:
        _ingest(k, sources, force, as_json)
    finally:
        k.close()


@knowledge.command("reindex")
@config_option
@click.argument("sources", nargs=-1)
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
def reindex(config: Path | None, sources: tuple[str, ...], as_json: bool) -> None:
    """Chunk and embed every document of directory SOURCES again (after a change of chunk settings)."""
    _, k = _open(config)
    try:
        _ingest(k, sources, True, as_json)
    finally:
        k.close()


@knowledge.command("list")
@config_option
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def list_sources(config: Path | None, as_json: bool) -> None:
    """Every source with its owner, classification, size and freshness; stale ones are flagged."""
    settings, k = _open(config)
    try:
        views = [k.status(s.name) for s in settings.knowledge.sources]
    finally:
        k.close()
    if as_json:
        echo_json({"object": "list", "data": views})
        return
    for v in views:
        age = "never ingested" if v["last_ingest"] is None else f"ingested {v['age_hours']:.1f} h ago"
        flag = "  STALE" if v["stale"] else ""
        click.echo(f"{v['name']:<20} {v['kind']:<9} owner={v['owner']:<16} {v['classification']:<12} "
                   f"tenant={v['tenant']:<10} {v['documents']:>6} docs {v['chunks']:>7} chunks  "
                   f"{age} (max {v['max_age_hours']:g} h){flag}")
    stale = [v["name"] for v in views if v["stale"]]
    if stale:
        click.echo(f"\n{len(stale)} stale source(s): {', '.join(stale)}; run `interlock knowledge ingest` or check "
                   f"the connector that pushes them.", err=True)


def _source_view(settings: Settings, k: Knowledge, name: str) -> dict[str, Any]:
    ks = settings.knowledge
    view = k.status(name)
    view["chunking"] = {"chunk_chars": ks.chunk_chars, "overlap_chars": ks.chunk_overlap_chars,
                        "boundaries": "paragraph, then sentence, then word; the title leads each chunk's index text"}
    view["ranking"] = {"legs": {"full_text": "SQLite FTS5, BM25, porter stemming; the query's words, any of them",
                                "vector": f"{MODEL_NAME}, exact cosine"},
                       "fusion": f"reciprocal rank, k={ks.rrf_k}", "candidates_per_leg": ks.candidates_per_leg,
                       "access": "the caller's access predicate in every leg's query; Cedar read_document per passage"}
    view["documents_list"] = [{"id": d.doc_id, "title": d.title, "chunks": d.chunks, "media_type": d.media_type,
                               "content_hash": d.content_hash, "access": d.access.as_dict(),
                               "ingested": d.ingested} for d in k.index.list_documents(name)]
    return view


@knowledge.command("show")
@config_option
@click.argument("source")
@click.argument("document", required=False)
@click.option("--text", is_flag=True, help="Print the chunks' text too (a document only).")
def show(config: Path | None, source: str, document: str | None, text: bool) -> None:
    """A SOURCE's metadata, chunking, ranking and documents; or one DOCUMENT's rule and chunks (JSON)."""
    settings, k = _open(config)
    try:
        try:
            k.source(source)
        except Refusal as exc:
            raise _fail(exc) from None
        if document is None:
            echo_json(_source_view(settings, k, source))
            return
        found = k.index.document(source, document)
        if found is None:
            raise click.ClickException(f"Source {source!r} has no document {document!r}.")
        doc, chunks = found
        view: dict[str, Any] = {"source": source, "id": doc.doc_id, "title": doc.title, "uri": doc.uri,
                                "media_type": doc.media_type, "content_hash": doc.content_hash,
                                "access": doc.access.as_dict(),
                                "ingested": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(doc.ingested)),
                                "chunks": [{"chunk": n, "chars": len(c), **({"text": c} if text else {})}
                                           for n, c in enumerate(chunks)]}
        echo_json(view)
    finally:
        k.close()


@knowledge.command("delete")
@config_option
@click.argument("source")
@click.argument("document")
def delete(config: Path | None, source: str, document: str) -> None:
    """Remove DOCUMENT from SOURCE's index (a directory source's next ingest adds it back if the file is there)."""
    _, k = _open(config)
    try:
        try:
            removed = k.delete(source, document)
        except Refusal as exc:
            raise _fail(exc) from None
    finally:
        k.close()
    if not removed:
        raise click.ClickException(f"Source {source!r} has no document {document!r}.")
    click.echo(f"{source}/{document}: deleted")
