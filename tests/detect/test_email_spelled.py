"""E-mail addresses spelled out to dodge harvesters, and the prose that only resembles them."""

from __future__ import annotations

import pytest

from interlock.detect import Detector

# (text, the value that must be reported as an e-mail address)
POSITIVES = [
    ("Write to jane dot doe at example dot com please", "jane dot doe at example dot com"),
    ("contact me at jane dot doe at example dot com", "jane dot doe at example dot com"),
    ("JANE DOT DOE AT EXAMPLE DOT COM", "JANE DOT DOE AT EXAMPLE DOT COM"),
    ("mail: jane(at)example(dot)com", "jane(at)example(dot)com"),
    ("mail: jane (at) example (dot) com", "jane (at) example (dot) com"),
    ("reach jane [at] example [dot] com", "jane [at] example [dot] com"),
    ("Jane.Doe [AT] Example [DOT] co [DOT] uk", "Jane.Doe [AT] Example [DOT] co [DOT] uk"),
    ("a{at}b{dot}io", "a{at}b{dot}io"),
    ("jane<at>example<dot>org", "jane<at>example<dot>org"),
    ("jane[@]example[.]com", "jane[@]example[.]com"),
    ("jane(at)example.com.", "jane(at)example.com"),
    ("mail jane @ example.com now", "jane @ example.com"),
    ("juan punto perez arroba gmail punto com", "juan punto perez arroba gmail punto com"),
    ("jane.doe at example.com", "jane.doe at example.com"),
    ("jane at gmail.com today", "jane at gmail.com"),
    ("jdoe42 AT outlook.de", "jdoe42 AT outlook.de"),
    ("jane at example dot co dot uk", "jane at example dot co dot uk"),
    # Fullwidth and zero-width forms are normalised first.
    ("ｊａｎｅ（ａｔ）ｅｘａｍｐｌｅ（ｄｏｔ）ｃｏｍ", "ｊａｎｅ（ａｔ）ｅｘａｍｐｌｅ（ｄｏｔ）ｃｏｍ"),
]


@pytest.mark.parametrize(("text", "value"), POSITIVES)
def test_spelled_out_addresses_are_emails(detector: Detector, text: str, value: str) -> None:
    found = [text[f.start:f.end] for f in detector.scan(text) if f.data_class == "pii.email"]
    assert found == [value]


HARD_NEGATIVES = [
    "we met at home and at the office",
    "look at example dot com for details",
    "find us at example dot com",
    "I work at example.com now",
    "we met at google.com headquarters",
    "jane at example.com",  # prose names a person and a website this way as often as an address
    "version 1.2 at example.com",
    "look at this. Then go home",
    "see you at 5.30 pm (at the latest)",
    "the array [at] index [dot] notation",  # no top-level domain at the end
    "meet (at) noon",
    "cost is 5 @ 3.50 each",
    "a number, but at this point it's really a string",
    "the edge iterators at each point in the stack",
]


@pytest.mark.parametrize("text", HARD_NEGATIVES)
def test_prose_is_not_an_email(detector: Detector, text: str) -> None:
    assert [f for f in detector.scan(text) if f.data_class == "pii.email"] == []
