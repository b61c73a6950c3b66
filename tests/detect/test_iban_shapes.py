"""An IBAN-shaped value next to bank words is an IBAN even when its length or check digits are wrong."""

from __future__ import annotations

import pytest

from interlock.detect import Detector


def _ibans(detector: Detector, text: str) -> list[str]:
    return [text[f.start:f.end] for f in detector.scan(text) if f.data_class == "fin.iban"]


@pytest.mark.parametrize(("text", "value"), [
    ("IBAN: FR14 2004 1010 0505 0001 3M02 60\nthanks", "FR14 2004 1010 0505 0001 3M02 60"),  # wrong check digits
    ("überweisen Sie auf das Konto DE44 5001 0517 5407 3249 3 bitte", "DE44 5001 0517 5407 3249 3"),  # too short
    ('{"payee": "K. Ito", "iban": "NL20INGB000123456"}', "NL20INGB000123456"),
])
def test_invalid_ibans_near_bank_words_are_found(detector: Detector, text: str, value: str) -> None:
    assert value in _ibans(detector, text)


@pytest.mark.parametrize("text", [
    "part number DE44 5001 0517 5407 3249 3 is back in stock",
    "the account was closed; code XX12 3456 7890 1234 5678",  # no such country
    "bank holiday: ab12 cdef ghij klmn opqr",  # lower case
])
def test_iban_shapes_without_bank_words_or_country_stay(detector: Detector, text: str) -> None:
    assert _ibans(detector, text) == []
