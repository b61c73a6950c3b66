"""A seeded corpus for permission tests: every access group's documents carry that group's canary, a
string that must never reach a caller outside the group (in passages, prompts, answers or citations).

The expected rights of each caller are written out by hand (``VISIBLE``), not computed by the code
under test.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from interlock.identity.principal import Principal
from interlock.knowledge import AccessRule, Knowledge, SourceDocument
from interlock.policy.setup import load_policies
from interlock.settings import KnowledgeSettings, KnowledgeSourceSettings, PolicySettings, Settings

# The index backends every index test runs on (fixture ``index_urls`` in conftest.py); the PostgreSQL
# cases fail, never skip, without the server.
BACKENDS = (pytest.param("sqlite", id="sqlite"), pytest.param("postgresql", id="postgresql", marks=pytest.mark.postgres))

# (backend, directory) -> an index URL: a file in the directory, or a fresh PostgreSQL database.
IndexUrl = Callable[[str, Path], str]


@dataclass(frozen=True)
class Group:
    name: str
    canary: str
    rule: dict[str, Any]
    tenant: str = "default"


GROUPS = (
    Group("finance", "CANARY-FINANCE-QUOKKA", {"groups": ["finance"]}),
    Group("hr", "CANARY-HR-NARWHAL", {"groups": ["hr"]}),
    Group("analysts", "CANARY-ANALYST-PANGOLIN", {"roles": ["analyst"]}),
    Group("carol", "CANARY-CAROL-AXOLOTL", {"principals": ["carol"]}),
    Group("everyone", "CANARY-EVERYONE-OTTER", {"tenant_wide": True}),
    Group("other-tenant", "CANARY-OTHER-TENANT-IBEX", {"groups": ["finance"], "tenant": "other"}, tenant="other"),
)

# Topics: each access group gets the same five subjects, so a query about a subject matches documents
# of every group, permitted or not (a filter that leaks has something to leak).
TOPICS = (
    ("Quarterly budget forecast", "The quarterly budget forecast projects spending on cloud hosting, travel and "
     "salaries for the next three months, with a reserve for unplanned hardware purchases."),
    ("Database failover runbook", "When the primary database stops answering, promote the replica, repoint the "
     "connection pool and verify replication lag before reopening writes."),
    ("Parental leave policy", "Employees may take up to twenty weeks of paid parental leave; tell your manager "
     "eight weeks ahead and agree on a handover plan for your projects."),
    ("Office relocation plan", "The office moves to the riverside building in spring: desks are packed by team, "
     "movers arrive on Friday evening, and badges are reissued on Monday."),
    ("Vendor security review", "Every new vendor answers the security questionnaire, shows a recent penetration "
     "test report and signs the data processing agreement before any contract."),
)

# Who may see which groups' canaries: the expected rights, written by hand.
CALLERS: dict[str, Principal] = {
    "fin": Principal(id="fin", kind="user", groups=frozenset({"finance"})),
    "hr": Principal(id="hr", kind="user", groups=frozenset({"hr"})),
    "analyst": Principal(id="ana", kind="user", roles=frozenset({"analyst"})),
    "carol": Principal(id="carol", kind="user"),
    "nobody": Principal(id="nobody", kind="service"),
    "other": Principal(id="fin-other", kind="user", tenant="other", groups=frozenset({"finance"})),
    "carol-app": Principal(id="carol", kind="app"),
}
VISIBLE: dict[str, set[str]] = {
    "fin": {"finance", "everyone"},
    "hr": {"hr", "everyone"},
    "analyst": {"analysts", "everyone"},
    "carol": {"carol", "everyone"},
    "nobody": {"everyone"},
    "other": {"other-tenant"},
    # The rule names an id, whatever kind of principal holds it.
    "carol-app": {"carol", "everyone"},
}
QUERIES = (
    "quarterly budget forecast for cloud hosting",
    "how do I promote the database replica",
    "paid parental leave weeks",
    # No word in common with any document: only the vector leg can answer it.
    "childbirth absence entitlement",
    "outage recovery",
    "supplier pentest questionnaire",
)


def canaries_outside(visible: Iterable[str]) -> list[str]:
    allowed = set(visible)
    return [g.canary for g in GROUPS if g.name not in allowed]


def canaries_of(visible: Iterable[str]) -> list[str]:
    allowed = set(visible)
    return [g.canary for g in GROUPS if g.name in allowed]


def documents(source_tenant: str) -> list[SourceDocument]:
    """The corpus of the groups of ``source_tenant``, five documents per group."""
    out = []
    for group in GROUPS:
        if group.tenant != source_tenant:
            continue
        default = AccessRule(tenant=group.tenant, classification="internal")
        rule = AccessRule.parse(group.rule, default)
        for n, (title, text) in enumerate(TOPICS):
            out.append(SourceDocument(id=f"{group.name}/{n}", title=f"{title} ({group.name})",
                                      text=f"{text} Reference {group.canary}.", access=rule))
    return out


def knowledge_settings(directory: Path, *sources: KnowledgeSourceSettings,
                       index_url: str | None = None) -> KnowledgeSettings:
    return KnowledgeSettings(index_url=index_url or f"sqlite:///{directory / 'knowledge.db'}", sources=sources,
                             candidates_per_leg=20)


CORPUS_SOURCES = (KnowledgeSourceSettings(name="corp", owner="knowledge-team"),
                  KnowledgeSourceSettings(name="corp-other", owner="knowledge-team", tenant="other"))


def seeded(directory: Path, policy_dir: Path | None = None, index_url: str | None = None) -> Knowledge:
    """A knowledge service over the corpus, deciding with the built-in policies (or ``policy_dir``)."""
    settings = Settings(knowledge=knowledge_settings(directory, *CORPUS_SOURCES, index_url=index_url),
                        policy=PolicySettings(dir=policy_dir, tenants=("default", "other"),
                                              groups=("finance", "hr"), roles=("analyst",)))
    holder = load_policies(settings)
    assert holder is not None
    knowledge = Knowledge(settings.knowledge, holder, base_dir=directory)
    knowledge.ingest("corp", documents=documents("default"))
    knowledge.ingest("corp-other", documents=documents("other"))
    return knowledge
