"""Write the independent evaluation sets: ``python -m benchmarks.evalsets`` from the repository root.

Needs ``faker==40.63.0`` (pinned: another Faker release draws other values from the same seed) and
``phonenumbers`` (a project dependency). The output is byte-for-byte reproducible.
"""

from __future__ import annotations

import json
import os
import random
import sys
from pathlib import Path
from typing import Any

import faker
from benchmarks.evalsets import prose, structured
from benchmarks.evalsets.doc import render
from benchmarks.evalsets.values import Values, faker_for
from faker import Faker

FAKER_VERSION = "40.63.0"
SEED = 20261206
SIZE = 1250
OUT = Path(__file__).resolve().parent.parent / "data"

OPENERS = ["", "", "", "Hi,\n", "Hello team, ", "Quick one: ", "FYI - ", "Hi there!\n\n", "Morning all. ",
           "Following up on my last message. "]
CLOSERS = ["", "", "", "\nThanks!", " Cheers.", "\n\nSent from my phone", " Let me know.", "\n-- \nSent via the portal"]


def _doc(rng: random.Random, template: str, locale: str) -> dict[str, Any]:
    values = Values(locale, faker_for(locale), rng)
    rendered = render(template, values.fill)
    return {"text": rendered.text, "spans": rendered.spans, "negatives": rendered.negatives}


def set_a(rng: random.Random) -> list[dict[str, Any]]:
    rows = []
    english = [(kind, t) for kind, ts in prose.ENGLISH.items() for t in ts]
    native = [(lang, t) for lang, ts in prose.NATIVE.items() for t in ts]
    for i in range(SIZE):
        if rng.random() < 0.7:
            kind, template = rng.choice(english)
            locale, lang = rng.choice(prose.ENGLISH_LOCALES), "en"
            if kind in ("ticket", "mixed", "crm", "chat"):
                template = rng.choice(OPENERS) + template + rng.choice(CLOSERS)
        else:
            lang, template = rng.choice(native)
            kind, locale = "native", rng.choice(prose.NATIVE_LOCALES[lang])
        rows.append({"id": f"A{i:04d}", "type": kind, "lang": lang, "locale": locale, **_doc(rng, template, locale)})
    return rows


def set_b(rng: random.Random) -> list[dict[str, Any]]:
    rows = []
    kinds = list(structured.TEMPLATES)
    for i in range(SIZE):
        kind = rng.choice(kinds)
        template = rng.choice(structured.TEMPLATES[kind])
        locale = rng.choice(structured.LOCALES)
        rows.append({"id": f"B{i:04d}", "type": kind, "lang": "-", "locale": locale,
                     **_doc(rng, template, locale)})
    return rows


def write(path: Path, rows: list[dict[str, Any]]) -> None:
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")


def main() -> None:
    if os.environ.get("PYTHONHASHSEED") != "0":
        # Some Faker locales pick from sets, whose order follows string hashing: fix it, or the sets drift.
        os.execve(sys.executable, [sys.executable, "-m", "benchmarks.evalsets"], {**os.environ, "PYTHONHASHSEED": "0"})
    if faker.VERSION != FAKER_VERSION:
        raise SystemExit(f"faker {FAKER_VERSION} is required for a reproducible set (found {faker.VERSION})")
    Faker.seed(SEED)
    write(OUT / "independent_prose.jsonl", set_a(random.Random(SEED)))
    Faker.seed(SEED + 1)
    write(OUT / "independent_structured.jsonl", set_b(random.Random(SEED + 1)))


if __name__ == "__main__":
    main()
