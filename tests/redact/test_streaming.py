from __future__ import annotations

import pytest

from interlock.detect import DetectionConfig, Detector
from interlock.redact import ALL_CLASSES, ActionPolicy, PlaceholderMap, StreamingRedactor, StreamingRestorer, redact

PEM = "-----BEGIN PRIVATE KEY-----\n" + "MIIEvQIBADANBgkqhkiG9w0BAQEFAASC\n" * 30 + "-----END PRIVATE KEY-----"


@pytest.fixture(scope="module")
def detector() -> Detector:
    return Detector(DetectionConfig())


def stream(detector: Detector, text: str, size: int, mapping: PlaceholderMap) -> tuple[str, list[str]]:
    r = StreamingRedactor(detector, ActionPolicy(), mapping)
    pieces = [r.feed(text[i:i + size]) for i in range(0, len(text), size)]
    pieces.append(r.flush())
    return "".join(pieces), pieces


@pytest.mark.parametrize("size", [1, 3, 7, 64, 1000])
def test_stream_equals_whole_text(detector: Detector, size: int) -> None:
    text = ("Hello, contact jane.doe@example.com or +1 202 555 0147. " * 20
            + "card 4111 1111 1111 1111 and key AKIAIOSFODNN7EXAMPLE\n" + PEM + "\nthanks " * 200)
    whole = redact(text, detector.scan(text), ActionPolicy(), PlaceholderMap("a")).text
    streamed, _pieces = stream(detector, text, size, PlaceholderMap("b"))
    assert streamed == whole


def test_no_piece_carries_part_of_a_secret(detector: Detector) -> None:
    text = "x " * 400 + PEM + " y" * 400
    _, pieces = stream(detector, text, 5, PlaceholderMap("a"))
    for piece in pieces:
        assert "MIIEvQ" not in piece
        assert "-----BEGIN" not in piece


def test_hold_back_is_bounded(detector: Detector) -> None:
    r = StreamingRedactor(detector, ActionPolicy(), PlaceholderMap("a"))
    emitted = sum(len(r.feed("word ")) for _ in range(2000))
    assert emitted >= 2000 * 5 - r.hold_back


@pytest.mark.parametrize("size", [1, 2, 5, 13])
def test_restorer_handles_split_placeholders(size: int) -> None:
    mapping = PlaceholderMap("a")
    p1 = mapping.placeholder_for("pii.email", "a@example.com")
    p2 = mapping.placeholder_for("pci.card_number", "4111111111111111")
    text = f"write to {p1} [not a placeholder] pay with {p2} [EMAIL_9] end ["
    r = StreamingRestorer(mapping, {"pii.email"})
    out = "".join(r.feed(text[i:i + size]) for i in range(0, len(text), size)) + r.flush()
    assert out == f"write to a@example.com [not a placeholder] pay with {p2} [EMAIL_9] end ["


def test_restorer_all_classes() -> None:
    mapping = PlaceholderMap("a")
    p = mapping.placeholder_for("pii.phone", "+1 202 555 0147")
    r = StreamingRestorer(mapping, ALL_CLASSES)
    assert r.feed(p[:3]) == ""
    assert r.feed(p[3:] + " ok") == "+1 202 555 0147 ok"
