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
    # The last word may be an e-mail address's local part ("word at gmail.com"): it waits for the next one.
    assert safe == len(prose) - len("word ")
    assert hold.release(prose + "w", 0)[0] == len(prose) - hold.blanket
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
    # The last word waits for the next one to begin (it may be an e-mail address's local part).
    assert hold.release(prose, 0)[0] == len(prose) - len("today ")
    assert hold.release(prose + "t", 0)[0] == len(prose) - hold.blanket


def test_a_digit_holds_from_just_before_it(detector: Detector) -> None:
    hold = detector.hold
    text = "word " * 30 + "call +44 20 7946"
    digit = text.index("+44") + 1
    safe, _ = hold.release(text, 0)
    assert safe <= digit - 1
    # What precedes the digit is held only as far as a span can start before its first digit.
    assert safe >= digit - hold.digit_lead


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


# -- what is released and what is held, word by word -------------------------------------------------

PROSE = "word " * 30


def test_prose_is_released_up_to_the_trailing_word(detector: Detector) -> None:
    hold = detector.hold
    assert hold.blanket == 1
    # A chunk that ends in whitespace: all but the last word goes, which may be an e-mail address's local
    # part ("customer at gmail.com"); once the next word begins and is no at, all but that whitespace goes.
    text = "the customer "
    assert hold.release(text, 0) == (len(text) - len("customer "), len(text))
    assert hold.release(text + "w", 0) == (len(text) - 1, len(text))
    # A word still arriving is held, and nothing before it.
    assert hold.release("the cust", 0) == (3, 4)


def test_a_month_at_the_end_is_held_until_the_next_word(detector: Detector) -> None:
    hold = detector.hold
    # "September " may be the start of "September 3, 1990", whose first digit has not arrived.
    text = PROSE + "born on September "
    assert hold.release(text, 0)[0] <= text.index("September")
    assert hold.release(text + "3, ", 0)[0] <= text.index("September")
    # Once a word that is no day follows, the month is plain prose (the next word has begun).
    text = PROSE + "in September we shipped t"
    assert hold.release(text, 0)[0] == len(text) - 2


def test_two_capitals_before_a_space_are_held_as_a_national_insurance_number_may_follow(detector: Detector) -> None:
    hold = detector.hold
    text = PROSE + "number AB "
    assert hold.release(text, 0)[0] <= text.index("AB")
    text = PROSE + "number AB is missing t"
    assert hold.release(text, 0)[0] == len(text) - 2


def test_an_opener_whose_rest_is_in_the_trailing_word_holds_from_its_start(detector: Detector) -> None:
    hold = detector.hold
    for partial in ("P.O. Bo", "P.O. ", "Post Office B"):
        text = PROSE + partial
        assert hold.release(text, 0)[0] <= len(PROSE), partial


class _Anchored(Recognizer):
    name = "anchored"
    data_class = "custom.anchored"
    max_len = 24
    anchor = "Zed"
    patterns = (Pattern("zed", r"\bZed [A-Z][a-z]+ [A-Z][a-z]+\b", 0.9),)


class _Unanchored(_Anchored):
    anchor = None


def test_an_anchor_holds_text_only_from_where_a_span_can_start() -> None:
    anchored = HoldBack([_Anchored()], context_window=48, max_plain_len=96)
    unanchored = HoldBack([_Unanchored()], context_window=48, max_plain_len=96)
    # Without an anchor, every response is held back by the recognizer's length after the last word.
    assert unanchored.release(PROSE, 0)[0] == len(PROSE) - unanchored.blanket < len(PROSE) - 20
    assert anchored.release(PROSE, 0)[0] == len(PROSE) - 1
    text = PROSE + "then Zed Alpha "
    assert anchored.release(text, 0)[0] == text.index("Zed")
    # Once the longest span and the words after it have passed, the anchor holds nothing.
    later = text + "word " * 6
    assert anchored.release(later, 0)[0] == len(later) - 1


def test_dictionary_terms_hold_from_their_first_word() -> None:
    d = Detector(DetectionConfig(dictionaries={"custom.project": ("Blue Falcon", "Operation Nightjar")}))
    hold = d.hold
    assert hold.release(PROSE + "w", 0)[0] == len(PROSE) - 1
    text = PROSE + "the operation "
    assert hold.release(text, 0)[0] <= text.index("operation")
    text = PROSE + "a blue "
    assert hold.release(text, 0)[0] <= text.index("blue")


class _KnownNames(Recognizer):
    """A stand-in for a dictionary of names searched without patterns."""

    name = "known_names"
    data_class = "pii.name"
    max_len = 40
    _NAMES = frozenset({"Alice", "Zora"})

    def stream_start(self, text: str, lo: int) -> int | None:
        pos = lo
        for word in text[lo:].split(" "):
            if word in self._NAMES:
                return pos
            pos += len(word) + 1
        return None


def test_a_recognizer_can_say_where_its_spans_may_start() -> None:
    hold = HoldBack([_KnownNames()], context_window=48, max_plain_len=96)
    assert hold.release(PROSE, 0)[0] == len(PROSE) - 1
    text = PROSE + "then Bob Smith "  # not a known name: nothing held
    assert hold.release(text, 0)[0] == len(text) - 1
    text = PROSE + "then Alice "
    assert hold.release(text, 0)[0] == text.index("Alice")
    later = text + "word " * 20
    assert hold.release(later, 0)[0] == len(later) - 1


def test_before_a_digit_only_what_a_span_can_start_with_is_held(detector: Detector) -> None:
    hold = detector.hold
    # Nothing a span can start with stands before "4111" but its own token: the words before it go.
    text = PROSE + "refund the card 4111 1111 "
    assert hold.release(text, 0)[0] == text.index("4111")
    text = PROSE + "call +44 20 7946 "
    assert hold.release(text, 0)[0] == text.index("+44")
    # A month before the first digit may be the start of a date: held from the month.
    text = PROSE + "born on September 3, "
    assert hold.release(text, 0)[0] == text.index("September")
    text = PROSE + "number AB 12 34 "
    assert hold.release(text, 0)[0] == text.index("AB")
