"""Directory sources and incremental ingest: files of every kind with their access rules, changed text
embedded again, a changed rule applied without embedding, deleted files removed."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from knowledge_support import BACKENDS, IndexUrl, knowledge_settings

from interlock.identity.principal import Principal
from interlock.knowledge import Knowledge
from interlock.knowledge.access import AccessRule
from interlock.knowledge.documents import DocumentError, read_directory
from interlock.knowledge.embedding import Embedder
from interlock.policy.setup import load_policies
from interlock.settings import AccessRuleSettings, KnowledgeSourceSettings, PolicySettings, Settings

HR = Principal(id="hana", kind="user", groups=frozenset({"hr"}))
ENG = Principal(id="eli", kind="user", groups=frozenset({"eng"}))
DEFAULT = AccessRule(tenant="default", classification="internal")


class CountingEmbedder(Embedder):
    def __init__(self) -> None:
        super().__init__()
        self.texts = 0

    def embed(self, texts: list[str]) -> Any:
        self.texts += len(texts)
        return super().embed(texts)


def pdf_with_text(text: str) -> bytes:
    """A one-page PDF showing ``text`` in Helvetica, written by hand (offsets computed)."""
    stream = f"BT /F1 12 Tf 72 720 Td ({text}) Tj ET".encode()
    objects = [b"<< /Type /Catalog /Pages 2 0 R >>", b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
               b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R "
               b"/Resources << /Font << /F1 5 0 R >> >> >>",
               b"<< /Length %d >>\nstream\n" % len(stream) + stream + b"\nendstream",
               b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>"]
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for n, body in enumerate(objects, 1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % n + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % o for o in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref)
    return bytes(out)


def write_source(root: Path) -> None:
    (root / "policies").mkdir(parents=True)
    (root / "policies" / "leave.md").write_text(
        "---\ntitle: Leave policy\naccess:\n  groups: [hr]\n  classification: confidential\n---\n"
        "# Leave\n\nParental leave lasts twenty weeks. MARKER-MD\n")
    (root / "runbook.txt").write_text("Restart the ingest worker when the queue stalls. MARKER-TXT\n")
    (root / "runbook.txt.access.yaml").write_text("groups: [eng]\n")
    (root / "wiki").mkdir()
    (root / "wiki" / "_access.yaml").write_text("tenant_wide: true\n")
    (root / "wiki" / "lunch.html").write_text(
        "<html><head><title>Canteen menu</title><script>var x = 'MARKER-SCRIPT';</script></head>"
        "<body><h1>Menu</h1><p>Soup on Mondays. MARKER-HTML</p></body></html>")
    (root / "wiki" / "floorplan.pdf").write_bytes(pdf_with_text("Meeting rooms are on floor three MARKER-PDF"))
    (root / "notes.bin").write_bytes(b"\x00\x01")


def test_every_file_kind_is_read_with_its_access_rule(tmp_path: Path) -> None:
    write_source(tmp_path)
    docs = {d.id: d for d in read_directory(tmp_path, DEFAULT)}
    assert sorted(docs) == ["policies/leave.md", "runbook.txt", "wiki/floorplan.pdf", "wiki/lunch.html"]
    leave = docs["policies/leave.md"]
    assert leave.title == "Leave policy"
    assert leave.access.groups == {"hr"}
    assert leave.access.classification == "confidential"
    assert "MARKER-MD" in leave.text
    assert "access:" not in leave.text
    assert docs["runbook.txt"].access.groups == {"eng"}
    lunch = docs["wiki/lunch.html"]
    assert lunch.title == "Canteen menu"
    assert lunch.access.tenant_wide
    assert "MARKER-HTML" in lunch.text
    assert "MARKER-SCRIPT" not in lunch.text
    assert "MARKER-PDF" in docs["wiki/floorplan.pdf"].text
    assert docs["wiki/floorplan.pdf"].access.tenant_wide


@pytest.mark.parametrize(("front", "problem"), [
    ("access:\n  groups: [hr]\n  readers: [x]\n", "unknown access rule field"),
    ("access:\n  classification: secret\n", "classification"),
    ("access: everyone\n", "'access' must be a mapping"),
])
def test_a_bad_access_rule_names_the_file_and_the_field(tmp_path: Path, front: str, problem: str) -> None:
    (tmp_path / "doc.md").write_text(f"---\n{front}---\ntext\n")
    with pytest.raises(DocumentError, match=problem) as caught:
        list(read_directory(tmp_path, DEFAULT))
    assert "doc.md" in str(caught.value)


def make_knowledge(tmp_path: Path, source_dir: Path, embedder: Embedder, index_url: str | None = None) -> Knowledge:
    source = KnowledgeSourceSettings(name="handbook", owner="people-team", path=source_dir,
                                     default_access=AccessRuleSettings(groups=("hr",)))
    settings = Settings(knowledge=knowledge_settings(tmp_path, source, index_url=index_url),
                        policy=PolicySettings(groups=("hr", "eng")))
    holder = load_policies(settings)
    assert holder is not None
    return Knowledge(settings.knowledge, holder, base_dir=tmp_path, embedder=embedder)


def texts_for(knowledge: Knowledge, who: Principal, query: str) -> str:
    return "\n".join(p.text for p in knowledge.retrieve(who, None, query, ("handbook",), 10).passages)


@pytest.mark.parametrize("backend", BACKENDS)
def test_ingest_is_incremental(tmp_path: Path, backend: str, index_urls: IndexUrl) -> None:
    root = tmp_path / "src"
    write_source(root)
    embedder = CountingEmbedder()
    knowledge = make_knowledge(tmp_path, root, embedder, index_urls(backend, tmp_path))

    first = knowledge.ingest("handbook")
    assert (first.added, first.changed, first.unchanged, first.deleted) == (4, 0, 0, 0)
    assert first.chunks_embedded == embedder.texts == 4
    assert "MARKER-TXT" in texts_for(knowledge, ENG, "ingest worker queue")
    assert "MARKER-TXT" not in texts_for(knowledge, HR, "ingest worker queue")

    counted = embedder.texts
    again = knowledge.ingest("handbook")
    assert (again.unchanged, again.chunks_embedded) == (4, 0)
    assert embedder.texts == counted

    # Only the rule changes: applied at once, nothing embedded again.
    (root / "runbook.txt.access.yaml").write_text("groups: [hr]\n")
    before = knowledge.index.document("handbook", "runbook.txt")
    ruled = knowledge.ingest("handbook")
    assert (ruled.access_changed, ruled.unchanged, ruled.chunks_embedded) == (1, 3, 0)
    assert embedder.texts == counted
    after = knowledge.index.document("handbook", "runbook.txt")
    assert before is not None
    assert after is not None
    assert after[0].access.version != before[0].access.version
    assert after[0].content_hash == before[0].content_hash
    assert "MARKER-TXT" in texts_for(knowledge, HR, "ingest worker queue")
    assert "MARKER-TXT" not in texts_for(knowledge, ENG, "ingest worker queue")

    # Changed text: chunked and embedded again; the old text is gone from both legs.
    (root / "runbook.txt").write_text("Drain the ingest worker before upgrades. MARKER-NEW\n")
    changed = knowledge.ingest("handbook")
    assert (changed.changed, changed.chunks_embedded) == (1, 1)
    found = texts_for(knowledge, HR, "ingest worker")
    assert "MARKER-NEW" in found
    assert "MARKER-TXT" not in found
    assert knowledge.index.full_text("stalls", HR, ("handbook",), 10) == []

    (root / "wiki" / "lunch.html").unlink()
    gone = knowledge.ingest("handbook")
    assert gone.deleted == 1
    assert knowledge.index.document("handbook", "wiki/lunch.html") is None
    assert "MARKER-HTML" not in texts_for(knowledge, HR, "soup menu canteen")
    assert knowledge.index.count_chunks() == 3
    assert knowledge.status("handbook")["stale"] is False
    knowledge.close()


def test_a_document_cannot_leave_its_sources_tenant(tmp_path: Path) -> None:
    root = tmp_path / "src"
    root.mkdir()
    (root / "x.md").write_text("---\naccess:\n  tenant: other\n  tenant_wide: true\n---\nhello\n")
    knowledge = make_knowledge(tmp_path, root, Embedder())
    with pytest.raises(Exception, match="belongs to tenant 'default'"):
        knowledge.ingest("handbook")


@pytest.mark.parametrize("backend", BACKENDS)
def test_the_vector_matrix_follows_writes_from_another_index_handle(tmp_path: Path, backend: str,
                                                                    index_urls: IndexUrl) -> None:
    root = tmp_path / "src"
    write_source(root)
    url = index_urls(backend, tmp_path)
    reader = make_knowledge(tmp_path, root, Embedder(), url)
    writer = make_knowledge(tmp_path, root, Embedder(), url)
    query = reader.embedder.embed(["meeting rooms floor"])[0]
    assert reader.index.vector(query, HR, ("handbook",), 10) == []
    writer.ingest("handbook")
    ids = reader.index.vector(query, HR, ("handbook",), 10)
    found = {c.document.doc_id for c in reader.index.chunks(ids).values()}
    # The hr document and the whole-tenant wiki; never the eng runbook.
    assert found == {"policies/leave.md", "wiki/lunch.html", "wiki/floorplan.pdf"}
    reader.close()
    writer.close()
