"""The committed evaluation sets are well formed: every label points at its value, classes come from the
taxonomy, every class the benchmark reports is present, and so are the hard negatives. The benchmark's
scoring counts leaks as its report says."""

from __future__ import annotations

import importlib.util
import itertools
import json
import unicodedata
from pathlib import Path
from typing import Any

import pytest

from interlock.detect import TAXONOMY

DATA = Path(__file__).resolve().parents[2] / "benchmarks" / "data"
INDEPENDENT = ("independent_prose.jsonl", "independent_structured.jsonl")
REQUIRED_CLASSES = {"pii.name", "pii.email", "pii.phone", "pii.address", "pci.card_number", "fin.iban",
                    "net.ip_address", "pii.national_id", "pii.date_of_birth", "secret.api_key", "secret.token",
                    "secret.private_key", "secret.password"}
REQUIRED_NEGATIVES = {"order_id", "version", "uuid", "non_luhn_16", "isbn", "timestamp", "amount", "postcode",
                      "product"}
HASHES = {"sha1", "sha256", "md5", "git_short", "digest"}


def load(name: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (DATA / name).read_text(encoding="utf-8").splitlines() if line.strip()]


def digits_of(value: str) -> str:
    return "".join(c for c in unicodedata.normalize("NFKC", value) if c.isdigit())


def luhn_ok(digits: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch) * (2 if i % 2 else 1)
        total += d - 9 if d > 9 else d
    return total % 10 == 0


def mod97_ok(value: str) -> bool:
    compact = "".join(c for c in value if c.isalnum()).upper()
    moved = compact[4:] + compact[:4]
    return int("".join(str(int(c, 36)) for c in moved)) % 97 == 1


@pytest.mark.parametrize("name", INDEPENDENT)
def test_independent_set_is_well_formed(name: str) -> None:
    rows = load(name)
    assert 1000 <= len(rows) <= 1500
    assert len({r["id"] for r in rows}) == len(rows)
    for row in rows:
        text = row["text"]
        marks = sorted([(s["start"], s["end"]) for s in row["spans"]] + [(n["start"], n["end"]) for n in row["negatives"]])
        for (_, end), (start, _) in itertools.pairwise(marks):
            assert end <= start, f"{row['id']}: overlapping labels"
        for span in row["spans"]:
            assert span["class"] in TAXONOMY, row["id"]
            assert 0 <= span["start"] < span["end"] <= len(text), row["id"]
            assert text[span["start"]:span["end"]] == span["value"], row["id"]
            assert span["value"] == span["value"].strip(), row["id"]
        for neg in row["negatives"]:
            assert text[neg["start"]:neg["end"]] == neg["value"], row["id"]


@pytest.mark.parametrize("name", INDEPENDENT)
def test_independent_set_covers_every_class_and_hard_negative(name: str) -> None:
    rows = load(name)
    spans = [s for r in rows for s in r["spans"]]
    negatives = [n for r in rows for n in r["negatives"]]
    assert {s["class"] for s in spans} >= REQUIRED_CLASSES
    kinds = {n["kind"] for n in negatives}
    assert kinds >= REQUIRED_NEGATIVES
    assert kinds & HASHES
    assert len(negatives) >= len(rows) // 2
    assert any(s["kind"] == "obfuscated" for s in spans if s["class"] == "pii.email")
    assert {s["kind"] for s in spans if s["class"] == "pii.phone"} >= {"national", "international", "extension"}
    locales = {r["locale"] for r in rows}
    assert len(locales) >= 15


@pytest.mark.parametrize("name", INDEPENDENT)
def test_checksummed_values_are_what_their_label_says(name: str) -> None:
    rows = load(name)
    for row in rows:
        for span in row["spans"]:
            if span["class"] == "pci.card_number":
                digits = digits_of(span["value"])
                assert 12 <= len(digits) <= 19, span["value"]
                assert luhn_ok(digits), span["value"]
            elif span["class"] == "fin.iban":
                assert mod97_ok(span["value"]), span["value"]
        for neg in row["negatives"]:
            if neg["kind"] == "non_luhn_16":
                digits = digits_of(neg["value"])
                assert len(digits) == 16, neg["value"]
                assert not luhn_ok(digits), neg["value"]


def test_structured_json_texts_parse() -> None:
    rows = [r for r in load("independent_structured.jsonl") if r["type"] == "json"]
    assert len(rows) >= 100
    for row in rows:
        json.loads(row["text"])


def test_regression_set_is_well_formed() -> None:
    rows = load("eval.jsonl")
    assert len(rows) >= 1000
    for row in rows:
        for span in row["spans"]:
            assert span["class"] in TAXONOMY
            assert 0 <= span["start"] < span["end"] <= len(row["text"])


def test_sets_stay_small() -> None:
    for name in (*INDEPENDENT, "eval.jsonl"):
        assert (DATA / name).stat().st_size < 3_000_000, name


def _metrics() -> Any:
    # The benchmark's scoring is a script beside it, not a package module.
    path = DATA.parent / "detect_metrics.py"
    spec = importlib.util.spec_from_file_location("detect_metrics", path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_scoring_counts_a_value_as_leaked_when_any_digit_survives() -> None:
    text = "card 4111 1111 1111 1111 order ORD-2024-000123 ok"
    row = {"text": text, "spans": [{"class": "pci.card_number", "kind": "visa16.spaced", "start": 5, "end": 24}],
           "negatives": [{"kind": "order_id", "start": 31, "end": 46, "value": "ORD-2024-000123"}]}
    score = _metrics().score
    whole = score([row], [[(5, 24, "pci.card_number")]])
    assert whole["span_leak"] == 0.0
    assert whole["token_leak"] == 0.0
    assert whole["negatives_destroyed"] == 0.0
    # Separators outside the detection do not matter; a digit group outside it does.
    assert score([row], [[(5, 9, None), (10, 24, "pci.card_number")]])["span_leak"] == 0.0
    partial = score([row], [[(10, 24, "pci.card_number")]])
    assert partial["span_leak"] == 1.0
    assert partial["token_leak"] == 0.25
    greedy = score([row], [[(0, 46, "pci.card_number")]])
    assert greedy["negatives_destroyed"] == 1.0
    assert greedy["over_redaction"] == 3 / 4  # "card", "order" and the order id; not "ok"
