"""Scoring detected spans against labelled ones: leak (token and span level), precision, recall,
over-redaction and hard negatives destroyed. Redaction is taken to replace every detected span.

- A labelled span leaks when any of its letters or digits is outside every detected span (separators,
  spaces and invisible characters do not count: "4111 1111" redacted as "[CARD] 1111" leaks).
- A sensitive token (a whitespace-separated token that overlaps a labelled span; once per span it overlaps)
  leaks when any of its letters or digits inside that span survives.
- Over-redaction: share of the other tokens that a detected span touches.
- A hard negative is destroyed when a detected span touches any of its letters or digits.
- Precision and recall compare class families (every ``secret.*`` class is one family): a detection
  counts as correct when it overlaps a labelled value of its family.
"""

from __future__ import annotations

import re
from collections import defaultdict
from typing import Any

TOKEN = re.compile(r"\S+")
Pred = tuple[int, int, str | None]


def family(cls: str | None) -> str | None:
    if cls is None:
        return None
    return "secret" if cls.startswith("secret.") else cls


def kind_groups(cls: str, kind: str) -> list[str]:
    """The breakdowns a labelled span is reported under (besides its class)."""
    if not kind:
        return []
    if cls == "pci.card_number":
        brand, _, style = kind.partition(".")
        return [f"brand {brand}", f"format {style}"]
    if cls.startswith("secret.") and "." in kind:
        parts = kind.split(".")
        return [parts[0]] + (["zero width / lowercase"] if len(parts) > 2 else [])
    return [kind]


def _covered(text: str, preds: list[Pred]) -> bytearray:
    mask = bytearray(len(text))
    for start, end, _ in preds:
        mask[max(start, 0):min(end, len(text))] = b"\x01" * (min(end, len(text)) - max(start, 0))
    return mask


def _alnum_leaks(text: str, mask: bytearray, start: int, end: int) -> bool:
    return any(text[i].isalnum() and not mask[i] for i in range(start, end))


def _alnum_touched(text: str, mask: bytearray, start: int, end: int) -> bool:
    return any(text[i].isalnum() and mask[i] for i in range(start, end))


def score(rows: list[dict[str, Any]], predictions: list[list[Pred]], examples: int = 0) -> dict[str, Any]:
    spans: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0])  # class -> [gold, leaked, found]
    kinds: dict[str, list[int]] = defaultdict(lambda: [0, 0])  # "class / group" -> [gold, leaked]
    tokens: dict[str, list[int]] = defaultdict(lambda: [0, 0])  # class -> [tokens, leaked]
    preds: dict[str, list[int]] = defaultdict(lambda: [0, 0])  # predicted class -> [predicted, correct]
    clean = touched = neg_total = neg_hit = 0
    neg_kinds: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    leaked_examples: dict[str, list[str]] = defaultdict(list)
    destroyed_examples: list[str] = []
    for row, predicted in zip(rows, predictions, strict=True):
        text = row["text"]
        mask = _covered(text, predicted)
        gold = row["spans"]
        for g in gold:
            cls, start, end = g["class"], g["start"], g["end"]
            leak = _alnum_leaks(text, mask, start, end)
            found = any(p[0] < end and start < p[1] and family(p[2]) == family(cls) for p in predicted)
            st = spans[cls]
            st[0] += 1
            st[1] += leak
            st[2] += found
            for group in kind_groups(cls, g.get("kind", "")):
                kinds[f"{cls} / {group}"][0] += 1
                kinds[f"{cls} / {group}"][1] += leak
            if leak and len(leaked_examples[cls]) < examples:
                leaked_examples[cls].append(text[start:end])
        for p in predicted:
            label = p[2] or "(unmapped)"
            preds[label][0] += 1
            preds[label][1] += any(p[0] < g["end"] and g["start"] < p[1] and family(p[2]) == family(g["class"])
                                   for g in gold)
        for tok in TOKEN.finditer(text):
            t0, t1 = tok.span()
            inside = [g for g in gold if g["start"] < t1 and t0 < g["end"]]
            if not inside:
                clean += 1
                touched += any(mask[t0:t1])
                continue
            # A token holding several values (a CSV row without spaces) counts once for each.
            for g in inside:
                lo, hi = max(t0, g["start"]), min(t1, g["end"])
                if not any(text[i].isalnum() for i in range(lo, hi)):
                    continue
                tokens[g["class"]][0] += 1
                tokens[g["class"]][1] += _alnum_leaks(text, mask, lo, hi)
        for n in row.get("negatives", ()):
            hit = _alnum_touched(text, mask, n["start"], n["end"])
            neg_total += 1
            neg_hit += hit
            neg_kinds[n["kind"]][0] += 1
            neg_kinds[n["kind"]][1] += hit
            if hit and len(destroyed_examples) < examples:
                destroyed_examples.append(f"{n['kind']}: {n['value']}")
    gold_total = sum(v[0] for v in spans.values())
    token_total = sum(v[0] for v in tokens.values())
    return {
        "span_leak": sum(v[1] for v in spans.values()) / gold_total if gold_total else None,
        "token_leak": sum(v[1] for v in tokens.values()) / token_total if token_total else None,
        "over_redaction": touched / clean if clean else None,
        "negatives": neg_total,
        "negatives_destroyed": neg_hit / neg_total if neg_total else None,
        "per_class": {
            cls: {"gold": v[0], "leaked": v[1], "tokens": tokens[cls][0], "tokens_leaked": tokens[cls][1],
                  "span_leak": v[1] / v[0], "recall": v[2] / v[0],
                  "token_leak": tokens[cls][1] / tokens[cls][0] if tokens[cls][0] else None,
                  "predicted": preds[cls][0], "precision": preds[cls][1] / preds[cls][0] if preds[cls][0] else None}
            for cls, v in sorted(spans.items())
        },
        "predicted_other": {cls: {"predicted": v[0], "correct": v[1]} for cls, v in sorted(preds.items())
                            if cls not in spans},
        "by_kind": {k: {"gold": v[0], "span_leak": v[1] / v[0]} for k, v in sorted(kinds.items())},
        "negatives_by_kind": {k: {"total": v[0], "destroyed": v[1] / v[0]} for k, v in sorted(neg_kinds.items())},
        "leaked_examples": dict(leaked_examples),
        "destroyed_examples": destroyed_examples,
    }
