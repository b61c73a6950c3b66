"""Normalisation before detection: obfuscated values are found, and spans index the original text."""

from __future__ import annotations

import pytest

from interlock.detect import Detector
from interlock.detect.normalize import INVISIBLE, Normalizer
from interlock.redact.actions import ActionPolicy
from interlock.redact.placeholders import PlaceholderMap
from interlock.redact.redactor import redact

ZWSP, ZWNJ, ZWJ, WJ, BOM, SHY = "\u200b", "\u200c", "\u200d", "\u2060", "\ufeff", "\u00ad"
LRM, RLO, PDF, LRI, PDI = "\u200e", "\u202e", "\u202c", "\u2066", "\u2069"

# (class, text, the original span that must be reported)
OBFUSCATED = [
    ("pii.email", "mail ｊａｎｅ＠ｅｘａｍｐｌｅ．ｃｏｍ today", "ｊａｎｅ＠ｅｘａｍｐｌｅ．ｃｏｍ"),
    ("pii.email", "mail jane＠example.com today", "jane＠example.com"),
    ("pii.email", f"mail ja{ZWSP}ne.doe@exam{ZWJ}ple.com today", f"ja{ZWSP}ne.doe@exam{ZWJ}ple.com"),
    ("pii.email", f"mail jane{SHY}doe@example.com", f"jane{SHY}doe@example.com"),
    ("pii.email", f"mail jane@{LRM}example.com", f"jane@{LRM}example.com"),
    ("pci.card_number", "card ４１１１ １１１１ １１１１ １１１１ exp", "４１１１ １１１１ １１１１ １１１１"),
    ("pci.card_number", f"card 4111{ZWSP}1111{ZWNJ}1111{WJ}1111 exp", f"4111{ZWSP}1111{ZWNJ}1111{WJ}1111"),
    ("pci.card_number", "card 4111\u00a01111\u00a01111\u00a01111 exp", "4111\u00a01111\u00a01111\u00a01111"),
    ("pci.card_number", "card 4111\u20111111\u20111111\u20111111 exp", "4111\u20111111\u20111111\u20111111"),
    ("pci.card_number", f"card {RLO}4111 1111 1111 1111{PDF} exp", "4111 1111 1111 1111"),
    ("pci.card_number", f"card 4111 {LRI}1111{PDI} 1111 1111 exp", f"4111 {LRI}1111{PDI} 1111 1111"),
    ("secret.api_key", f"key AKIA{ZWSP}IOSFODNN7{BOM}EXAMPLE here", f"AKIA{ZWSP}IOSFODNN7{BOM}EXAMPLE"),
    ("secret.api_key", f"key AKIAIOSF{SHY}ODNN7EXAMPLE here", f"AKIAIOSF{SHY}ODNN7EXAMPLE"),
    ("secret.token", f"token ghp_{ZWSP}aBcDeFgHiJkLmNoPqRsTuVwXyZ0123456789 ok",
     f"ghp_{ZWSP}aBcDeFgHiJkLmNoPqRsTuVwXyZ0123456789"),
    ("net.ip_address", "host １９２．１６８．１．２０ down", "１９２．１６８．１．２０"),
    ("fin.iban", "IBAN: ＤＥ８９ ３７０４ ００４４ ０５３２ ０１３０ ００", "ＤＥ８９ ３７０４ ００４４ ０５３２ ０１３０ ００"),
    ("pii.national_id", "SSN ５３６－２２－１２３４", "５３６－２２－１２３４"),
    # Expansions before the value shift every later offset.
    ("pii.email", "ﬁﬁﬁ Ⅻ ﷺ mail jane@example.com", "jane@example.com"),
]


@pytest.mark.parametrize(("data_class", "text", "value"), OBFUSCATED)
def test_obfuscated_values_are_found_at_their_original_span(detector: Detector, data_class: str, text: str,
                                                            value: str) -> None:
    found = [(f.data_class, text[f.start:f.end]) for f in detector.scan(text)]
    assert (data_class, value) in found


@pytest.mark.parametrize(("data_class", "text", "value"), OBFUSCATED)
def test_redaction_removes_the_whole_original_value(detector: Detector, data_class: str, text: str,
                                                    value: str) -> None:
    result = redact(text, detector.scan(text), ActionPolicy({}, default="redact"), PlaceholderMap("c1"))
    assert value not in result.text
    assert not any(ch in result.text for ch in INVISIBLE if ch in value)


NOT_SENSITIVE = [
    "Ｈｅｌｌｏ ｗｏｒｌｄ, ｔｈｅ ｍｅｅｔｉｎｇ ｉｓ ａｔ ｔｅｎ",
    f"zero{ZWSP}width{ZWJ}joined words and an emoji family 👨{ZWJ}👩{ZWJ}👧",
    "version １．２．３ released, build ２０２４",
    f"soft{SHY}hyphen{SHY}ated text",
    "order ４１１１ １１１１ １１１１ １１１２",  # fails Luhn
    "ISBN ９７８－３－１６－１４８４１０－０",
]


@pytest.mark.parametrize("text", NOT_SENSITIVE)
def test_normalised_text_without_values_stays_clean(detector: Detector, text: str) -> None:
    assert detector.scan(text) == []


@pytest.mark.parametrize("text", ["plain ascii text 123", "", "Straße café naïve 中文", "emoji 😀 ok"])
def test_text_that_normalisation_does_not_change_is_left_alone(text: str) -> None:
    assert Normalizer().normalize(text) is None


def test_map_points_every_normalised_character_to_its_source() -> None:
    text = f"a{ZWSP}ﬁ４\u00a0b{SHY}{SHY}c—d"
    norm = Normalizer().normalize(text)
    assert norm is not None
    assert norm.text == "afi4 bc-d"
    assert norm.span(0, 1) == (0, 1)
    # "fi" came from one character: any part of it maps to the whole ligature.
    assert norm.span(1, 2) == (2, 3)
    assert norm.span(2, 3) == (2, 3)
    assert norm.span(1, 3) == (2, 3)
    assert norm.span(3, 4) == (3, 4)
    # "bc" spans the two removed soft hyphens between them, which the original span includes.
    assert norm.span(5, 7) == (5, 9)
    assert text[slice(*norm.span(0, len(norm.text)))] == text


def test_long_text_with_many_changes_maps_linearly(detector: Detector) -> None:
    unit = f"x{ZWSP}y ４ "
    text = unit * 50_000 + "mail ｊａｎｅ＠ｅｘａｍｐｌｅ．ｃｏｍ"
    found = detector.scan(text)
    assert [text[f.start:f.end] for f in found if f.data_class == "pii.email"] == ["ｊａｎｅ＠ｅｘａｍｐｌｅ．ｃｏｍ"]
