from __future__ import annotations

import itertools

import pytest

from interlock.detect import CustomPattern, DetectionConfig, Detector, Finding
from interlock.detect.detector import resolve_overlaps


def test_findings_sorted_and_non_overlapping(detector: Detector) -> None:
    text = ("mail a@b.io, card 4111111111111111, ip 10.0.0.7, IBAN GB82WEST12345698765432, "
            "key AKIAIOSFODNN7EXAMPLE, phone +1 202 555 0147")
    findings = detector.scan(text)
    assert len(findings) == 6
    for a, b in itertools.pairwise(findings):
        assert a.end <= b.start


def test_overlap_keeps_most_confident() -> None:
    low = Finding("pii.phone", 0, 10, 0.6, "phone", "")
    high = Finding("pci.card_number", 2, 18, 0.9, "card_number", "")
    other = Finding("pii.email", 20, 30, 0.7, "email", "")
    assert resolve_overlaps([low, high, other]) == [high, other]


def test_allow_list_suppresses_known_values() -> None:
    d = Detector(DetectionConfig(allow_list=("support@example.com",)))
    found = d.scan("write to support@example.com or jane@example.com")
    assert [f.start for f in found] == [32]


def test_dictionary_whole_word_case_insensitive() -> None:
    terms = (*tuple(f"project{i:04d}" for i in range(3000)), "Blue Falcon")
    d = Detector(DetectionConfig(dictionaries={"custom.codename": terms}))
    text = "status of PROJECT0042 and blue   falcon, not project0042x or xblue falcon"
    found = [(f.data_class, text[f.start:f.end]) for f in d.scan(text)]
    assert found == [("custom.codename", "PROJECT0042"), ("custom.codename", "blue   falcon")]


def test_custom_pattern_with_checksum_and_context() -> None:
    spec = CustomPattern("custom.member_id", r"\bM-\d{12}\b", context=("member",), checksum="luhn",
                         confidence=0.4, context_required=True)
    d = Detector(DetectionConfig(custom_patterns=(spec,)))
    assert [f.data_class for f in d.scan("member M-123456789015")] == ["custom.member_id"]
    assert d.scan("member M-123456789016") == []  # checksum fails
    assert d.scan("ref M-123456789015") == []  # context required


def test_custom_pattern_rejects_bad_syntax() -> None:
    with pytest.raises(ValueError, match="RE2"):
        Detector(DetectionConfig(custom_patterns=(CustomPattern("custom.x", r"(?<=a)b"),)))


def test_unknown_class_rejected() -> None:
    with pytest.raises(ValueError, match="unknown data class"):
        DetectionConfig(dictionaries={"pii.shoe_size": ("42",)})


def test_min_confidence_filters() -> None:
    strict = Detector(DetectionConfig(min_confidence=0.95))
    assert strict.scan("reach 4111111111111111") == []
    assert strict.scan("credit card 4111111111111111") != []


def test_disabled_recognizer() -> None:
    d = Detector(DetectionConfig(disabled=("email",)))
    assert d.scan("a@example.com") == []


def test_ner_backend_is_pluggable() -> None:
    class FakeNer:
        name = "fake"

        def entities(self, text: str) -> list[Finding]:
            start = text.find("Zed")
            return [Finding("pii.name", start, start + 3, 0.7, "fake", "NER label PERSON")] if start >= 0 else []

    d = Detector(DetectionConfig(), ner=FakeNer())
    assert [(f.data_class, f.detector) for f in d.scan("ask Zed about it")] == [("pii.name", "fake")]


def test_unknown_ner_backend_fails_at_startup() -> None:
    with pytest.raises(ValueError, match="unknown NER backend"):
        Detector(DetectionConfig(ner_backend="flair"))


def test_name_from_email_local_part(detector: Detector) -> None:
    text = "From: anna.kowalski@example.org\nAnna Kowalski asked for a refund."
    names = [text[f.start:f.end] for f in detector.scan(text) if f.data_class == "pii.name"]
    assert names == ["Anna Kowalski"]


@pytest.mark.parametrize("before", ["", "\u0130\u0130 ", "\u0130stanbul office: "])
def test_name_from_email_local_part_where_lower_case_is_longer(detector: Detector, before: str) -> None:
    # "\u0130".lower() is two characters: offsets taken from text.lower() would miss or misplace the name.
    text = f"{before}Anna Kowalski asked; write to anna.kowalski@example.org"
    found = {(f.data_class, text[f.start:f.end]) for f in detector.scan(text)}
    assert ("pii.name", "Anna Kowalski") in found
    assert ("pii.email", "anna.kowalski@example.org") in found


def test_lone_surrogates_are_scanned_not_raised(detector: Detector) -> None:
    # A JSON string can carry "\ud800", which has no UTF-8 form; the rest of the text is still scanned.
    text = "Card 4111 1111 1111 1111 \ud800, mail anna.kowalski@example.org \udfff\ud83d end"
    found = {(f.data_class, text[f.start:f.end]) for f in detector.scan(text)}
    assert ("pci.card_number", "4111 1111 1111 1111") in found
    assert ("pii.email", "anna.kowalski@example.org") in found
    assert all("\ud800" not in value and "\udfff" not in value for _, value in found)


def test_repetition_forward_only(detector: Detector) -> None:
    # "order" demotes the first mention; the later one is a card on its own.
    filler = " and then we went on talking about the weather for a good while, as one does."
    text = f"order 4111 1111 1111 1111{filler} Paid by card 4111 1111 1111 1111 today"
    later = text.rindex("4111")
    assert [f.start for f in detector.scan(text)] == [6, later]
    assert [f.start for f in detector.scan(text, backward=False)] == [later]
