"""Governed retrieval: recall@5 of the hybrid against each leg alone, permission leaks, ingest
throughput, and the latency retrieval adds to a call at 10k (and 100k) chunks, on the embedded index.

The corpus is generated reproducibly (seeded): project pages whose subject is an action on an object
(10 actions x 20 objects), each phrased in the page with one wording and asked about with another
(synonyms sharing no word), plus a made-up code name, a team and a city. Three kinds of question:

- ``lexical``: the page's code name (only the exact term identifies it);
- ``semantic``: the subject in other words (relevant: every page on that subject);
- ``mixed``: the subject in other words, with the page's team and city by name.

Every page belongs to one of eight access groups and carries its group's canary; every question is
asked by callers of random groups, and any passage (or canary) outside the caller's groups is a leak.
The expected rights come from the generator, not from the code under test.

Every figure is taken on each index backend in the same run: the embedded SQLite file and PostgreSQL
(a database created for the run at 127.0.0.1:5432 and dropped after).

Run from the repository root:
    PYTHONPATH=src python benchmarks/retrieval_bench.py [--docs 2000] [--scale 10000,100000] [--backends sqlite,postgresql]
Writes benchmarks/reports/retrieval.md and .json.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import platform
import random
import statistics
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg

from interlock.identity.principal import Principal
from interlock.knowledge import AccessRule, Knowledge, SourceDocument
from interlock.policy.setup import load_policies
from interlock.settings import KnowledgeSettings, KnowledgeSourceSettings, PolicySettings, Settings

ACTIONS = (
    ("migrate", "moving"), ("audit", "inspecting"), ("replace", "swapping out"), ("upgrade", "modernising"),
    ("monitor", "watching over"), ("document", "writing up"), ("secure", "hardening"),
    ("decommission", "retiring"), ("automate", "scripting away"), ("budget", "funding"),
)
OBJECTS = (
    ("billing database", "invoicing data store"), ("customer portal", "client website"),
    ("payroll system", "salary software"), ("email servers", "mail infrastructure"),
    ("warehouse scanners", "inventory barcode readers"), ("delivery trucks", "shipping vans"),
    ("office laptops", "staff notebook computers"), ("phone network", "telephony"),
    ("backup tapes", "archive storage"), ("datacentre cooling", "server room air conditioning"),
    ("recruitment process", "hiring pipeline"), ("expense reports", "spending claims"),
    ("security cameras", "CCTV surveillance"), ("support chat", "helpdesk messaging"),
    ("mobile app", "smartphone application"), ("analytics dashboards", "reporting charts"),
    ("supplier contracts", "vendor agreements"), ("training courses", "staff education programmes"),
    ("website search", "site lookup feature"), ("printer fleet", "printing devices"),
)
TEAMS = ("platform", "finance", "logistics", "people", "sales", "research", "facilities", "legal")
CITIES = ("Lisbon", "Oslo", "Nairobi", "Osaka", "Lima", "Tallinn", "Perth", "Quebec")
GROUPS = tuple(f"group{n}" for n in range(8))
PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/test"
SYLLABLES = ("ka", "lo", "mi", "ren", "tu", "vos", "zel", "qua", "dri", "pho", "xan", "bel", "cor", "nim")


@dataclass(frozen=True)
class Page:
    id: str
    action: int
    obj: int
    team: str
    city: str
    code: str
    group: str

    def document(self) -> SourceDocument:
        verb, noun = ACTIONS[self.action][0], OBJECTS[self.obj][0]
        text = (f"Project {self.code} will {verb} the {noun}. The {self.team} team in {self.city} leads it, "
                f"with a review every quarter. Canary {self.group.upper()}CANARY.")
        rule = AccessRule(tenant="default", classification="internal", groups=frozenset({self.group}))
        return SourceDocument(id=self.id, title=f"Project {self.code}", text=text, access=rule)


def generate(n: int, seed: int) -> list[Page]:
    rng = random.Random(seed)
    codes: set[str] = set()
    pages = []
    for i in range(n):
        code = ""
        while not code or code in codes:
            # Five syllables: 14^5 (over 500,000) names, room for the largest corpus.
            code = "".join(rng.choice(SYLLABLES) for _ in range(5)).capitalize()
        codes.add(code)
        pages.append(Page(f"p{i:06}", rng.randrange(len(ACTIONS)), rng.randrange(len(OBJECTS)),
                          rng.choice(TEAMS), rng.choice(CITIES), code, rng.choice(GROUPS)))
    return pages


@dataclass(frozen=True)
class Question:
    kind: str
    text: str
    relevant: frozenset[str]


def questions(pages: list[Page], count: int, seed: int) -> list[Question]:
    rng = random.Random(seed + 1)
    by_subject: dict[tuple[int, int], set[str]] = {}
    by_mixed: dict[tuple[int, int, str, str], set[str]] = {}
    for p in pages:
        by_subject.setdefault((p.action, p.obj), set()).add(p.id)
        by_mixed.setdefault((p.action, p.obj, p.team, p.city), set()).add(p.id)
    out = []
    for p in rng.sample(pages, count):
        said = f"{ACTIONS[p.action][1]} {OBJECTS[p.obj][1]}"
        out.append(Question("lexical", f"what is {p.code} about", frozenset({p.id})))
        out.append(Question("semantic", said, frozenset(by_subject[(p.action, p.obj)])))
        out.append(Question("mixed", f"{said} {p.team} {p.city}",
                            frozenset(by_mixed[(p.action, p.obj, p.team, p.city)])))
    return out


async def _admin(statement: str) -> None:
    conn = await asyncpg.connect(PG_ADMIN)
    try:
        await conn.execute(statement)
    finally:
        await conn.close()


def index_url(backend: str, directory: Path, name: str) -> str:
    if backend == "sqlite":
        directory.mkdir(parents=True, exist_ok=True)
        return f"sqlite:///{directory / 'k.db'}"
    asyncio.run(_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    asyncio.run(_admin(f'CREATE DATABASE "{name}"'))
    return PG_ADMIN.rsplit("/", 1)[0] + "/" + name


def build(url: str, directory: Path, pages: list[Page]) -> tuple[Knowledge, float]:
    source = KnowledgeSourceSettings(name="projects", owner="bench")
    settings = Settings(knowledge=KnowledgeSettings(index_url=url, sources=(source,)),
                        policy=PolicySettings(groups=GROUPS))
    holder = load_policies(settings)
    assert holder is not None
    knowledge = Knowledge(settings.knowledge, holder, base_dir=directory)
    knowledge.embedder.warm()
    started = time.perf_counter()
    knowledge.ingest("projects", documents=(p.document() for p in pages))
    return knowledge, time.perf_counter() - started


def recall_at(found: Sequence[str], relevant: frozenset[str], k: int = 5) -> float:
    return len(set(found[:k]) & relevant) / min(len(relevant), k)


def leg_ids(knowledge: Knowledge, leg: str, query: str, who: Principal, k: int) -> list[str]:
    index = knowledge.index
    if leg == "full_text":
        ids = index.full_text(query, who, ("projects",), k)
    else:
        ids = index.vector(knowledge.embedder.embed([query])[0], who, ("projects",), k)
    chunks = index.chunks(ids)
    return [chunks[i].document.doc_id for i in ids if i in chunks]


def quality(knowledge: Knowledge, pages: list[Page], qs: list[Question], seed: int) -> dict[str, Any]:
    """recall@5 per leg and question kind, asked by an all-groups reader (relevance is unfiltered), and
    leaks over random single-group readers (every leg and the hybrid)."""
    everyone = Principal(id="all", kind="user", groups=frozenset(GROUPS))
    scores: dict[str, dict[str, list[float]]] = {}
    for q in qs:
        hybrid = [p.document_id for p in knowledge.retrieve(everyone, None, q.text, ("projects",), 5).passages]
        for leg, found in (("hybrid", hybrid), ("full_text", leg_ids(knowledge, "full_text", q.text, everyone, 5)),
                           ("vector", leg_ids(knowledge, "vector", q.text, everyone, 5))):
            scores.setdefault(leg, {}).setdefault(q.kind, []).append(recall_at(found, q.relevant))
    recall = {leg: {kind: round(statistics.fmean(v), 4) for kind, v in kinds.items()} | {
        "all": round(statistics.fmean([x for v in kinds.values() for x in v]), 4)} for leg, kinds in scores.items()}

    group_of = {p.id: p.group for p in pages}
    rng = random.Random(seed + 2)
    leaks = canary_leaks = checked = 0
    for q in qs:
        group = rng.choice(GROUPS)
        who = Principal(id=f"reader-{group}", kind="user", groups=frozenset({group}))
        result = knowledge.retrieve(who, None, q.text, ("projects",), 10)
        docs = [p.document_id for p in result.passages]
        docs += leg_ids(knowledge, "full_text", q.text, who, 50) + leg_ids(knowledge, "vector", q.text, who, 50)
        checked += len(docs)
        leaks += sum(group_of[d] != group for d in docs)
        text = " ".join(p.text for p in result.passages)
        canary_leaks += sum(f"{g.upper()}CANARY" in text for g in GROUPS if g != group)
    return {"recall_at_5": recall, "leaks": leaks, "canary_leaks": canary_leaks, "passages_checked": checked}


def timed(fn: Callable[[], object], runs: int) -> dict[str, float]:
    samples = []
    for _ in range(runs):
        t = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - t) * 1000)
    samples.sort()
    return {"p50_ms": round(samples[len(samples) // 2], 3), "p95_ms": round(samples[int(len(samples) * 0.95)], 3),
            "mean_ms": round(statistics.fmean(samples), 3)}


def latency(knowledge: Knowledge, qs: list[Question], runs: int) -> dict[str, Any]:
    """Per call, in one run: the hybrid retrieval (both legs, fusion, Cedar per candidate), each leg."""
    one = Principal(id="reader", kind="user", groups=frozenset({GROUPS[0]}))
    texts = [q.text for q in qs]
    it = iter(range(10**9))

    def pick() -> str:
        return texts[next(it) % len(texts)]

    return {
        "hybrid_top5": timed(lambda: knowledge.retrieve(one, None, pick(), ("projects",), 5), runs),
        "full_text_leg": timed(lambda: knowledge.index.full_text(pick(), one, ("projects",), 50), runs),
        "vector_leg_with_embedding": timed(
            lambda: knowledge.index.vector(knowledge.embedder.embed([pick()])[0], one, ("projects",), 50), runs),
        "embed_query": timed(lambda: knowledge.embedder.embed([pick()]), runs),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--docs", type=int, default=2000, help="pages in the recall corpus")
    parser.add_argument("--questions", type=int, default=200, help="pages asked about (x3 questions)")
    parser.add_argument("--scale", default="10000", help="chunk counts for ingest and latency, comma-separated")
    parser.add_argument("--runs", type=int, default=300)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--backends", default="sqlite,postgresql")
    parser.add_argument("--max-pg-chunks", type=int, default=10_000,
                        help="larger scales are measured on SQLite only (PostgreSQL ingests one document per "
                             "transaction over the network)")
    args = parser.parse_args()
    out: dict[str, Any] = {"machine": platform.platform(), "python": platform.python_version(),
                           "docs": args.docs, "seed": args.seed, "quality": {}, "scale": {}}
    pages = generate(args.docs, args.seed)
    qs = questions(pages, args.questions, args.seed)
    with tempfile.TemporaryDirectory() as tmp:
        for backend in args.backends.split(","):
            url = index_url(backend, Path(tmp) / f"{backend}-quality", "interlock_bench_quality")
            knowledge, _ = build(url, Path(tmp), pages)
            out["quality"][backend] = quality(knowledge, pages, qs, args.seed)
            knowledge.close()
            print(f"{backend}: quality done", flush=True)
            for n in (int(x) for x in args.scale.split(",")):
                if backend == "postgresql" and n > args.max_pg_chunks:
                    continue
                scaled = generate(n, args.seed + n)
                url = index_url(backend, Path(tmp) / f"{backend}-{n}", "interlock_bench_scale")
                knowledge, seconds = build(url, Path(tmp), scaled)
                chunks = knowledge.index.count_chunks()
                out["scale"][f"{backend} {n}"] = {
                    "backend": backend, "chunks": chunks, "ingest_seconds": round(seconds, 2),
                    "ingest_docs_per_s": round(n / seconds, 1),
                    "latency": latency(knowledge, questions(scaled, 100, args.seed), args.runs)}
                knowledge.close()
                print(f"{backend}: {n} chunks done", flush=True)
            if backend == "postgresql":
                for name in ("interlock_bench_quality", "interlock_bench_scale"):
                    asyncio.run(_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    reports = Path(__file__).parent / "reports"
    (reports / "retrieval.json").write_text(json.dumps(out, indent=2) + "\n")
    (reports / "retrieval.md").write_text(render(out))
    print(render(out))


def render(out: dict[str, Any]) -> str:
    lines = ["# Retrieval benchmark", "",
             f"`benchmarks/retrieval_bench.py`, one run on {out['machine']}, Python {out['python']}; generated "
             f"corpus of {out['docs']} pages (seed {out['seed']}); each index backend in the same run.", "",
             "## recall@5 (a reader of every group: relevance unfiltered)", "",
             "| backend | ranking | lexical (code name) | semantic (other words) | mixed | all |",
             "|---|---|---|---|---|---|"]
    for backend, q in out["quality"].items():
        for leg in ("hybrid", "full_text", "vector"):
            r = q["recall_at_5"][leg]
            lines.append(f"| {backend} | {leg} | {r['lexical']:.3f} | {r['semantic']:.3f} | {r['mixed']:.3f} | "
                         f"{r['all']:.3f} |")
    lines += ["", "## Permission leaks (single-group readers; hybrid passages and each leg's top 50)", "",
              "| backend | passages outside the reader's group | foreign canaries | passages checked |",
              "|---|---|---|---|"]
    for backend, q in out["quality"].items():
        lines.append(f"| {backend} | {q['leaks']} | {q['canary_leaks']} | {q['passages_checked']} |")
    lines += ["", "Both must be 0.", "", "## Ingest and latency per call", "",
              "| backend | chunks | ingest docs/s | hybrid top 5 p50 / p95 ms | full-text leg p50 ms | vector leg "
              "(with query embedding) p50 ms | query embedding p50 ms |", "|---|---|---|---|---|---|---|"]
    for s in out["scale"].values():
        lat = s["latency"]
        lines.append(f"| {s['backend']} | {s['chunks']} | {s['ingest_docs_per_s']} | {lat['hybrid_top5']['p50_ms']} / "
                     f"{lat['hybrid_top5']['p95_ms']} | {lat['full_text_leg']['p50_ms']} | "
                     f"{lat['vector_leg_with_embedding']['p50_ms']} | {lat['embed_query']['p50_ms']} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
