"""Dates of birth and ages: ordinary dates and numbers that become personal data through context."""

from __future__ import annotations

from interlock.detect.recognizer import Pattern, Recognizer

_MONTHS = (r"(?:Jan(?:uary)?|Feb(?:ruary)?|Mar(?:ch)?|Apr(?:il)?|May|June?|July?|Aug(?:ust)?|"
           r"Sep(?:t(?:ember)?)?|Oct(?:ober)?|Nov(?:ember)?|Dec(?:ember)?)")


class DateOfBirthRecognizer(Recognizer):
    name = "date_of_birth"
    data_class = "pii.date_of_birth"
    max_len = 32
    # A numeric date starts with a digit; "September. 3, 1990" has at most 13 characters before it.
    digit_anchored, digit_lead, digit_gap = True, 13, 13
    digit_pending = rf"{_MONTHS}\.?\s{{1,3}}"
    context_required = True
    case_insensitive = True
    patterns = (
        Pattern("ISO date", r"\b(?:19|20)\d\d-(?:0?[1-9]|1[0-2])-(?:0?[1-9]|[12]\d|3[01])\b", 0.4),
        Pattern("numeric date", r"\b(?:0?[1-9]|[12]\d|3[01])[/.\-](?:0?[1-9]|[12]\d|3[01])[/.\-](?:19|20)?\d\d\b",
                0.4),
        Pattern("day month year", rf"\b(?:0?[1-9]|[12]\d|3[01])(?:st|nd|rd|th)?\s+(?:of\s+)?{_MONTHS}\.?,?\s+(?:19|20)\d\d\b",
                0.45),
        Pattern("month day year", rf"\b{_MONTHS}\.?\s{{1,3}}(?:0?[1-9]|[12]\d|3[01])(?:st|nd|rd|th)?,?\s+(?:19|20)\d\d\b", 0.45),
    )
    context = ("born", "birth", "date of birth", "dob", "d o b", "birthday", "birthdate", "bday", "née",
               "geboren", "né", "naissance")


class AgeRecognizer(Recognizer):
    """Ages where the words around the number say it is an age (the evidence is inside the match)."""

    name = "age"
    data_class = "pii.age"
    max_len = 3  # the number; the words that make it an age are around it
    digit_anchored = True
    lookbehind = 40
    lookahead = 25
    case_insensitive = True
    keywords = ("age", "old", "year")
    patterns = (
        Pattern("N years old", r"\b(1[01]\d|120|\d{1,2})[\s-]{0,8}(?:years?|yrs?)[\s-]{0,8}old\b", 0.8, group=1),
        Pattern("aged N", r"\b(?:aged|age|age:|age is)\s{0,16}:?\s{0,16}(1[01]\d|120|\d{1,2})\b", 0.7, group=1),
        Pattern("N-year-old", r"\b(1[01]\d|120|\d{1,2})-year-old\b", 0.8, group=1),
    )
    context = ("patient", "he", "she", "i", "i'm", "am", "my", "client", "customer", "child", "son", "daughter")
