"""Values split across two adjacent texts of a request are found, and each part is redacted."""

from __future__ import annotations

import pytest

from interlock.detect import DetectionConfig, Detector
from interlock.detect.finding import Finding
from interlock.pipeline.seams import WINDOW, merged, seam_findings


@pytest.fixture(scope="module")
def detector() -> Detector:
    return Detector(DetectionConfig())


def split_parts(detector: Detector, texts: list[str]) -> list[list[tuple[str, str]]]:
    own = [detector.scan(t) for t in texts]
    extra = seam_findings(texts, own, detector.scan)
    return [[(f.data_class, text[f.start:f.end]) for f in pieces] for text, pieces in zip(texts, extra, strict=True)]


# (the texts, what each must have found in it as part of a split value)
SPLITS = [
    (["My card is 4111 1111", "1111 1111, expiring soon"],
     [[("pci.card_number", "4111 1111")], [("pci.card_number", "1111 1111")]]),
    (["card 41111111", "11111111"], [[("pci.card_number", "41111111")], [("pci.card_number", "11111111")]]),
    (["write to jane.doe@", "example.com please"],
     [[("pii.email", "jane.doe@")], [("pii.email", "example.com")]]),
    (["IBAN DE89 3704 0044", " 0532 0130 00"],
     [[("fin.iban", "DE89 3704 0044")], [("fin.iban", "0532 0130 00")]]),
    (["key AKIAIOSFOD", "NN7EXAMPLE ok"], [[("secret.api_key", "AKIAIOSFOD")], [("secret.api_key", "NN7EXAMPLE")]]),
    # Three parts: each join is looked at.
    (["first part", "card 4111 1111", "1111 1111"],
     [[], [("pci.card_number", "4111 1111")], [("pci.card_number", "1111 1111")]]),
    # Only the end and the start near the join are read, whatever the texts' length.
    (["x " * 5000 + "card 4111 1111", "1111 1111" + " y" * 5000],
     [[("pci.card_number", "4111 1111")], [("pci.card_number", "1111 1111")]]),
]


@pytest.mark.parametrize(("texts", "expected"), SPLITS)
def test_split_values_are_found_in_each_part(detector: Detector, texts: list[str],
                                             expected: list[list[tuple[str, str]]]) -> None:
    assert split_parts(detector, texts) == expected


NOT_SPLIT = [
    ["call me at", "jane@example.com"],  # the value is whole in the second text
    ["card 4111 1111 1111 1111", "is mine"],
    ["the order is 12", "34 items"],
    ["hello", "world"],
    ["", "4111 1111 1111 1111"],
    ["see 4111 1111 1111 1111", "2345 more"],  # whole in the first; a number after it is not more of it
]


@pytest.mark.parametrize("texts", NOT_SPLIT)
def test_values_whole_in_one_text_are_not_split(detector: Detector, texts: list[str]) -> None:
    assert all(parts == [] for parts in split_parts(detector, texts))


def test_window_is_bounded() -> None:
    seen: list[str] = []

    def scan(text: str) -> list[Finding]:
        seen.append(text)
        return []

    seam_findings(["a" * 10_000, "b" * 10_000, "c"], [[], [], []], scan)
    assert [len(t) for t in seen] == [2 * WINDOW, WINDOW + 1]


def test_merged_piece_grows_over_findings_it_overlaps() -> None:
    own = [Finding("pii.phone", 0, 6, 0.6, "phone", ""), Finding("pii.email", 20, 30, 0.9, "email", "")]
    piece = Finding("pci.card_number", 4, 12, 0.85, "card_number", "")
    out = merged(own, [piece])
    assert [(f.data_class, f.start, f.end) for f in out] == [("pci.card_number", 0, 12), ("pii.email", 20, 30)]
    # A piece inside a finding changes nothing.
    assert merged(own, [Finding("pii.email", 22, 25, 0.9, "email", "")]) == own
