"""The streaming hold-back rule is computed, and checked, when a detector is built."""

from __future__ import annotations

import pytest

from interlock.detect import CustomPattern, DetectionConfig, Detector
from interlock.detect.holdback import HoldBack
from interlock.detect.recognizer import Opener, Pattern, Recognizer


def test_default_hold_back_is_short(detector: Detector) -> None:
    assert detector.hold.plain < 100


def test_every_long_recognizer_declares_openers(detector: Detector) -> None:
    limit = detector.config.max_plain_len
    for r in detector.recognizers:
        assert r.max_len <= limit or r.openers or r.single_token, r.name


def test_long_custom_pattern_without_openers_fails_at_startup() -> None:
    spec = CustomPattern("custom.note", r"\bNOTE: [^\n]+")
    with pytest.raises(ValueError, match="declare openers"):
        Detector(DetectionConfig(custom_patterns=(spec,)))


def test_long_custom_pattern_with_openers_keeps_hold_back_short(detector: Detector) -> None:
    spec = CustomPattern("custom.note", r"\bNOTE: [^\n]{1,300}", max_len=307, openers=("NOTE:",))
    d = Detector(DetectionConfig(custom_patterns=(spec,)))
    assert d.hold.plain == detector.hold.plain


def test_raising_max_plain_len_accepts_a_long_hold_back() -> None:
    spec = CustomPattern("custom.note", r"\bNOTE: [^\n]+", max_len=200)
    d = Detector(DetectionConfig(custom_patterns=(spec,), max_plain_len=200))
    assert d.hold.plain >= 200


def test_short_custom_pattern_needs_no_openers(detector: Detector) -> None:
    # max_len defaults to 256, but the pattern cannot match more than 14 characters.
    d = Detector(DetectionConfig(custom_patterns=(CustomPattern("custom.member_id", r"\bM-\d{12}\b"),)))
    assert d.hold.plain == detector.hold.plain


class _Long(Recognizer):
    name = "long"
    data_class = "custom.long"
    max_len = 500
    patterns = (Pattern("long", r"\bLONG [a-z ]{10,490}\.", 0.9),)


class _Unbounded(_Long):
    name = "unbounded"
    openers = (Opener("LONG "),)
    patterns = (Pattern("long", r"\bLONG [a-z ]+\.", 0.9),)


def test_long_recognizer_without_openers_is_rejected() -> None:
    with pytest.raises(ValueError, match="long can report 500 characters with no opener"):
        HoldBack([_Long()], context_window=48, max_plain_len=96)


def test_opener_needs_a_bounded_reach() -> None:
    with pytest.raises(ValueError, match="explicit reach"):
        HoldBack([_Unbounded()], context_window=48, max_plain_len=96)
    class Reached(_Unbounded):
        openers = (Opener("LONG ", reach=500),)
    assert HoldBack([Reached()], context_window=48, max_plain_len=96).plain < 96


def test_opener_must_be_short() -> None:
    class Wide(_Long):
        openers = (Opener("x" * 60),)
    with pytest.raises(ValueError, match="at most"):
        HoldBack([Wide()], context_window=48, max_plain_len=96)


def test_release_holds_from_an_open_opener(detector: Detector) -> None:
    hold = detector.hold
    prose = "word " * 60
    safe, _ = hold.release(prose, 0)
    assert safe == len(prose) - hold.blanket
    assert hold.release(prose, 0, short=False)[0] == len(prose) - hold.plain
    text = prose + "postgres://admin:S3cr3tPa55@db.internal.example:5432/orders"
    assert hold.release(text, 0)[0] <= len(prose)
    # Once whitespace ends the URL (and the text after it has arrived), the hold is over.
    done = text + " and then the answer continues" + " word" * 30
    assert hold.release(done, 0)[0] > len(text)
    # Prose with an opener word releases after a few words, not after the recognizer's max_len.
    text = prose + "reset your password by clicking the link in the e-mail" + " word" * 25
    assert hold.release(text, 0)[0] > len(prose) + 20


def test_the_short_hold_is_a_few_words_in_plain_prose(detector: Detector) -> None:
    hold = detector.hold
    assert hold.blanket <= 16 < hold.plain
    prose = "the answer is that we can help you with this today " * 4
    assert hold.release(prose, 0)[0] == len(prose) - hold.blanket


def test_a_digit_holds_from_just_before_it(detector: Detector) -> None:
    hold = detector.hold
    text = "word " * 30 + "call +44 20 7946"
    digit = text.index("+44") + 1
    safe, _ = hold.release(text, 0)
    assert safe <= digit - 1
    assert safe >= len("word " * 30) - hold.blanket


def test_an_unfinished_trigger_holds_the_name_after_it(detector: Detector) -> None:
    hold = detector.hold
    text = "word " * 30 + "Dear Jo"
    assert hold.release(text, 0)[0] <= text.index("Dear")
    # A trigger that went out before the name arrived still holds the name (found in the left context).
    start = len("word " * 30) + len("Dear ")
    assert hold.release(text + "hn Smith", start)[0] == start


def test_a_continental_street_name_is_held_until_its_number(detector: Detector) -> None:
    hold = detector.hold
    text = "word " * 30 + "Hauptstraße  "
    assert hold.release(text, 0)[0] <= text.index("Haupt")
