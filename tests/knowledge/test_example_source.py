"""The example source (examples/knowledge/) reads as its README says: each file's rule from where the
README names it, and each reader sees what the README's table says."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from interlock.identity.principal import Principal
from interlock.knowledge import Knowledge
from interlock.policy.setup import load_policies
from interlock.settings import load_settings

EXAMPLE = Path(__file__).resolve().parents[2] / "examples"

READERS = {
    "staff": (Principal(id="sam", kind="user", tenant="acme"),
              {"welcome.md", "people/parental-leave.md"}),
    "people": (Principal(id="pia", kind="user", tenant="acme", groups=frozenset({"people"})),
               {"welcome.md", "people/parental-leave.md", "people/salary-bands.md"}),
    "engineer-role": (Principal(id="eve", kind="user", tenant="acme", roles=frozenset({"engineer"})),
                      {"welcome.md", "people/parental-leave.md", "engineering/failover.txt"}),
    "engineering": (Principal(id="eng", kind="user", tenant="acme", groups=frozenset({"engineering"})),
                    {"welcome.md", "people/parental-leave.md", "engineering/failover.txt",
                     "engineering/architecture.html"}),
    "other-tenant": (Principal(id="pia", kind="user", tenant="default", groups=frozenset({"people"})), set()),
}


@pytest.fixture(scope="module")
def example(tmp_path_factory: pytest.TempPathFactory) -> Knowledge:
    directory = tmp_path_factory.mktemp("example")
    shutil.copytree(EXAMPLE / "knowledge", directory / "knowledge")
    shutil.copytree(EXAMPLE / "policies", directory / "policies")
    settings = load_settings(directory / "knowledge" / "interlock.yaml",
                             environ={"INTERLOCK_KNOWLEDGE__INDEX_URL": f"sqlite:///{directory / 'k.db'}"})
    holder = load_policies(settings)
    assert holder is not None
    knowledge = Knowledge(settings.knowledge, holder, base_dir=directory / "knowledge")
    report = knowledge.ingest("handbook")
    assert report.added == 5
    return knowledge


@pytest.mark.parametrize("reader", sorted(READERS))
def test_each_reader_sees_what_the_readme_says(example: Knowledge, reader: str) -> None:
    principal, expected = READERS[reader]
    seen: set[str] = set()
    for query in ("welcome first week laptop", "parental leave", "salary bands", "database failover replica",
                  "platform architecture services"):
        seen |= {p.document_id for p in example.retrieve(principal, None, query, ("handbook",), 10).passages}
    assert seen == expected
