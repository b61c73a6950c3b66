"""Properties over generated texts mixing sensitive values, filler words and punctuation."""

from __future__ import annotations

import itertools
import re

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from interlock.detect import DetectionConfig, Detector
from interlock.redact import ALL_CLASSES, ActionPolicy, PlaceholderMap, StreamingRedactor, redact, restore
from interlock.redact.redactor import PLACEHOLDER_PATTERN

DETECTOR = Detector(DetectionConfig())

VALUES = [
    "jane.doe@example.com", "bob@mail.co.uk", "4111 1111 1111 1111", "5555555555554444",
    "GB82 WEST 1234 5698 7654 32", "536-22-1234", "+1 202 555 0147", "10.20.30.40", "00:1A:2B:3C:4D:5E",
    "AKIAIOSFODNN7EXAMPLE", "ghp_aBcDeFgHiJkLmNoPqRsTuVwXyZ0123456789", "postgres://u:pa55word@db:5432/x",
    "password=Sup3rS3cret!", "sk_live_4eC39HqLyjWDarjtT1zdp7dc",
]
FILLER = ["hello", "the", "card", "email", "phone", "and", "ip", "key", "of", "Regards", "42", "x", "-", "\n",
          "order", "version", "é", "日本"]

texts = st.lists(st.one_of(st.sampled_from(VALUES), st.sampled_from(FILLER)), min_size=0, max_size=40).map(
    " ".join)
PROFILE = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@PROFILE
@given(texts)
def test_restore_inverts_redact(text: str) -> None:
    mapping = PlaceholderMap("p")
    red = redact(text, DETECTOR.scan(text), ActionPolicy(), mapping).text
    assert restore(red, mapping, ALL_CLASSES) == text


@PROFILE
@given(texts)
def test_no_redacted_value_survives(text: str) -> None:
    findings = DETECTOR.scan(text)
    red = redact(text, findings, ActionPolicy(), PlaceholderMap("p")).text
    values = {text[f.start:f.end] for f in findings}
    rescanned = {red[f.start:f.end] for f in DETECTOR.scan(red)}
    assert not values & rescanned
    for value in values:
        assert value not in red


@PROFILE
@given(texts, texts)
def test_placeholders_stable_within_conversation(first: str, second: str) -> None:
    mapping = PlaceholderMap("p")
    redact(first, DETECTOR.scan(first), ActionPolicy(), mapping)
    before = {(e.data_class, e.value): e.placeholder for e in mapping.entries()}
    redact(second, DETECTOR.scan(second), ActionPolicy(), mapping)
    after = {(e.data_class, e.value): e.placeholder for e in mapping.entries()}
    assert all(after[k] == v for k, v in before.items())
    assert len(set(after.values())) == len(after)


def stream_chunks(text: str, sizes: list[int], mapping: PlaceholderMap) -> str:
    r = StreamingRedactor(DETECTOR, ActionPolicy(), mapping)
    out, pos, i = [], 0, 0
    while pos < len(text):
        size = sizes[i % len(sizes)]
        out.append(r.feed(text[pos:pos + size]))
        pos += size
        i += 1
    out.append(r.flush())
    return "".join(out)


def redacted_spans(out: str, mapping: PlaceholderMap, text: str) -> list[tuple[int, int]]:
    """Align redacted output with its source: the spans of ``text`` that placeholders stand for."""
    spans: list[tuple[int, int]] = []
    ti = oi = 0
    for m in re.finditer(PLACEHOLDER_PATTERN, out):
        entry = mapping.lookup(m.group())
        if entry is None:
            continue
        literal = out[oi:m.start()]
        assert text.startswith(literal, ti)
        ti += len(literal)
        assert text.startswith(entry.value, ti)
        spans.append((ti, ti + len(entry.value)))
        ti += len(entry.value)
        oi = m.end()
    assert text[ti:] == out[oi:]
    return spans


@PROFILE
@given(texts, st.lists(st.integers(min_value=1, max_value=50), min_size=1, max_size=30))
# Once found by the search: a phone run with a stray group, then the same phone alone.
@example("+1 202 555 0147 42 +1 202 555 0147", [1])
@example("+1 202 555 0147 42 jane.doe@example.com +1 202 555 0147", [5, 9, 2])
def test_streaming_equals_whole(text: str, sizes: list[int]) -> None:
    findings = DETECTOR.scan(text)
    whole = redact(text, findings, ActionPolicy(), PlaceholderMap("a")).text
    mapping = PlaceholderMap("b")
    streamed = stream_chunks(text, sizes, mapping)
    forward = DETECTOR.scan(text, backward=False)
    if findings == forward:
        assert streamed == whole
        return
    # A whole-text scan also redacts earlier mentions of a value found later; a stream may already have
    # sent those. Everything else is redacted exactly, and nothing beyond what the whole text redacts.
    spans = redacted_spans(streamed, mapping, text)
    for f in forward:
        assert any(a <= f.start and f.end <= b for a, b in spans), (f, spans)
    for a, b in spans:
        assert any(f.start <= a and b <= f.end for f in findings), ((a, b), findings)


# Values of several words and values announced by what precedes them, beside the single-token ones.
SPLIT_VALUES = [*VALUES, "Dear Jane Smith,", "Hauptstraße 5, 10115 Berlin", "P.O. Box 4521", "born on September 3, 1990",
                "12 rue de la Paix, 75002 Paris", "NINO AB 12 34 56 C"]
PROSE_WORDS = st.lists(st.sampled_from(["the", "answer", "is", "that", "we", "can", "help", "you", "today", "with",
                                        "May", "data", "user", "and", "Regards", "card", "phone", "\n"]),
                       min_size=0, max_size=12).map(" ".join)


@PROFILE
@given(PROSE_WORDS, st.sampled_from(SPLIT_VALUES), PROSE_WORDS, st.sets(st.integers(min_value=1, max_value=400)))
def test_a_value_split_anywhere_across_chunks_never_leaves_early(before: str, value: str, after: str,
                                                                  cuts: set[int]) -> None:
    text = f"{before} {value} {after}".strip(" ")
    findings = DETECTOR.scan(text, backward=False)
    whole = redact(text, DETECTOR.scan(text), ActionPolicy(), PlaceholderMap("a")).text
    bounds = [0, *sorted(c for c in cuts if c < len(text)), len(text)]
    r = StreamingRedactor(DETECTOR, ActionPolicy(), PlaceholderMap("b"))
    out = ""
    for a, b in itertools.pairwise(bounds):
        out += r.feed(text[a:b])
        # Until the whole of a finding has arrived, nothing from its start on has been released.
        for f in findings:
            if b < f.end:
                assert len(out) <= f.start, (text[a:b], f, out[f.start:])
    out += r.flush()
    if DETECTOR.scan(text) == findings:
        assert out == whole


@pytest.mark.parametrize("value", SPLIT_VALUES)
def test_a_value_split_in_two_at_every_position(value: str) -> None:
    text = f"the answer is that {value} and we can help you today"
    findings = DETECTOR.scan(text)
    assert findings, value
    whole = redact(text, findings, ActionPolicy(), PlaceholderMap("a")).text
    first, last = findings[0].start, findings[-1].end
    for split in range(first + 1, last):
        r = StreamingRedactor(DETECTOR, ActionPolicy(), PlaceholderMap("b"))
        head = r.feed(text[:split])
        assert len(head) <= first, (split, head)
        assert head + r.feed(text[split:]) + r.flush() == whole
