"""Properties over generated texts mixing sensitive values, filler words and punctuation."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from interlock.detect import DetectionConfig, Detector
from interlock.redact import ALL_CLASSES, ActionPolicy, PlaceholderMap, StreamingRedactor, redact, restore

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


@PROFILE
@given(texts, st.lists(st.integers(min_value=1, max_value=50), min_size=1, max_size=30))
def test_streaming_equals_whole(text: str, sizes: list[int]) -> None:
    whole = redact(text, DETECTOR.scan(text), ActionPolicy(), PlaceholderMap("a")).text
    r = StreamingRedactor(DETECTOR, ActionPolicy(), PlaceholderMap("b"))
    out, pos, i = [], 0, 0
    while pos < len(text):
        size = sizes[i % len(sizes)]
        out.append(r.feed(text[pos:pos + size]))
        pos += size
        i += 1
    out.append(r.flush())
    assert "".join(out) == whole
