"""The permission matrix in-process: for every caller and query, no canary of a group outside the
caller's rights in any passage or citation, whichever leg found it; the permitted ones are found."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from knowledge_support import (
    BACKENDS,
    CALLERS,
    GROUPS,
    QUERIES,
    TOPICS,
    VISIBLE,
    IndexUrl,
    canaries_of,
    canaries_outside,
    seeded,
)

from interlock.knowledge import Knowledge


@pytest.fixture(scope="module", params=BACKENDS)
def corpus(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory,
           index_urls: IndexUrl) -> Iterator[Knowledge]:
    directory = tmp_path_factory.mktemp("corpus")
    knowledge = seeded(directory, index_url=index_urls(request.param, directory))
    yield knowledge
    knowledge.close()


@pytest.mark.parametrize("caller", sorted(CALLERS))
@pytest.mark.parametrize("query", QUERIES)
def test_no_canary_outside_the_callers_rights(corpus: Knowledge, caller: str, query: str) -> None:
    principal = CALLERS[caller]
    result = corpus.retrieve(principal, None, query, ("corp", "corp-other"), 20)
    seen = "\n".join(p.text + json.dumps(p.citation()) for p in result.passages)
    seen += json.dumps(result.record())
    for canary in canaries_outside(VISIBLE[caller]):
        assert canary not in seen, f"{caller} saw {canary} for {query!r}"
    # Every passage belongs to a group the caller may read, and something was found.
    groups = {p.document_id.split("/")[0] for p in result.passages}
    assert groups
    assert groups <= VISIBLE[caller]
    assert not result.near_misses


@pytest.mark.parametrize("caller", sorted(CALLERS))
def test_each_leg_filters_in_its_own_query(corpus: Knowledge, caller: str) -> None:
    principal = CALLERS[caller]
    index = corpus.index
    sources = ("corp", "corp-other")
    # A canary's last word is in its group's documents only: asking for it finds them only where permitted.
    for group in GROUPS:
        ids = index.full_text(group.canary.rsplit("-", 1)[1], principal, sources, 100)
        found = {c.document.doc_id.split("/")[0] for c in index.chunks(ids).values()}
        assert found == ({group.name} if group.name in VISIBLE[caller] else set()), group.name
    # The vector leg ranks every permitted chunk (cosine has no "no match"): exactly the permitted ones.
    vector = corpus.embedder.embed(["anything at all"])[0]
    ids = index.vector(vector, principal, sources, 1000)
    found = {c.document.doc_id.split("/")[0] for c in index.chunks(ids).values()}
    assert found == VISIBLE[caller]
    assert len(ids) == len(VISIBLE[caller]) * len(TOPICS)


def test_a_query_only_the_vector_leg_answers_is_still_filtered(corpus: Knowledge) -> None:
    result = corpus.retrieve(CALLERS["hr"], None, "childbirth absence entitlement", ("corp",), 5)
    assert result.legs["full_text"] == 0
    assert result.legs["vector"] > 0
    assert result.passages[0].title.startswith("Parental leave policy")
    assert {p.document_id.split("/")[0] for p in result.passages} <= VISIBLE["hr"]


def test_a_query_only_the_full_text_leg_ranks_first(corpus: Knowledge) -> None:
    # A canary has no meaning to the embedding model; the full-text leg puts its document first.
    result = corpus.retrieve(CALLERS["fin"], None, "quokka", ("corp",), 5)
    assert result.passages[0].ranks.get("full_text") == 1
    assert result.passages[0].document_id.startswith("finance/")
    refused = corpus.retrieve(CALLERS["hr"], None, "quokka", ("corp",), 5)
    assert refused.legs["full_text"] == 0
    assert all("CANARY-FINANCE" not in p.text for p in refused.passages)


def test_recall_over_permitted_documents_stays_above_the_floor(corpus: Knowledge) -> None:
    """An over-eager filter (or a broken leg) loses permitted documents: each subject asked for by each
    caller must bring back that caller's own document on the subject in the top five."""
    asked = hit = 0
    for caller, principal in CALLERS.items():
        for n, (title, _) in enumerate(TOPICS):
            for group in VISIBLE[caller]:
                asked += 1
                result = corpus.retrieve(principal, None, f"{title} {group}", ("corp", "corp-other"), 5)
                hit += any(p.document_id == f"{group}/{n}" for p in result.passages)
    assert hit / asked >= 0.9, f"recall {hit}/{asked}"


def test_the_post_check_drops_what_the_policy_forbids_and_records_a_near_miss(tmp_path: Path) -> None:
    from interlock.policy.setup import default_policy_dir

    policies = tmp_path / "policies"
    policies.mkdir()
    for path in default_policy_dir().glob("*.cedar"):
        (policies / path.name).write_text(path.read_text())
    # The index admits finance documents to finance readers; this policy takes them away again.
    (policies / "deny.cedar").write_text(
        '@id("test.no-finance")\nforbid (principal, action == Action::"read_document", resource is Document)\n'
        'when { resource.reader_groups.contains(Group::"finance") };\n')
    knowledge = seeded(tmp_path / "k", policies)
    result = knowledge.retrieve(CALLERS["fin"], None, "quarterly budget forecast", ("corp",), 5)
    assert result.passages
    assert all(p.document_id.startswith("everyone/") for p in result.passages)
    assert result.near_misses
    for facts, decision in result.near_misses:
        assert facts["document_id"].startswith("finance/")
        assert not decision.allowed
        assert "test.no-finance" in decision.policy_ids
    record = result.record()
    assert {m["decision"] for m in record["near_misses"]} == {"deny"}
    assert "CANARY" not in json.dumps(record)


def test_the_record_lists_documents_chunks_versions_and_decisions_never_text(corpus: Knowledge) -> None:
    result = corpus.retrieve(CALLERS["carol"], None, "vendor security review", ("corp",), 3)
    record = result.record()
    assert len(record["passages"]) == 3
    for entry, passage in zip(record["passages"], result.passages, strict=True):
        assert entry["document_id"] == passage.document_id
        assert entry["chunk"] == passage.chunk
        assert entry["access_version"] == passage.access_version
        assert entry["decision"] == "permit"
    text = json.dumps(record)
    assert "questionnaire" not in text
    assert not any(c in text for c in canaries_of(VISIBLE["carol"]))
