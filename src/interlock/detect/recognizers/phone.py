"""Phone numbers: one RE2 pattern finds runs of digit groups; shape, label and numbering plans decide.

A value labelled as a phone ("Tel.", "Mobile:", "call me on", "Handy", "Portable", "Móvil", ...) and
shaped like one is a phone, valid in a numbering plan or not. Without a label, an international number
("+CC ...") must be valid or at least possible for its country code; a national one must be valid in
one of the configured regions (``phonenumbers``' metadata, see ``phone_plan``) and be written with
separators, unless phone words are near. Dates, IP addresses, ISBNs, amounts and identifiers glued to
other characters are ruled out by their shape (``phone_shape``); a value introduced by another kind of
label (order, invoice, SSN, ...) is not a phone. Only the nearest label before a value counts, so a
label after a phone (the next field's) never cancels it.

Python work per run is bounded (a run is at most ``pattern_width(RUN)``, 63 characters), so the scan
stays linear in the text.
"""

from __future__ import annotations

import re
from collections.abc import Container

from interlock.detect.context import column_header, window_tokens
from interlock.detect.finding import Finding
from interlock.detect.recognizer import Matcher, Recognizer, ScanText, compile_re2, pattern_width, relax_bounds
from interlock.detect.recognizers.phone_labels import NEARBY_WORDS, UNITS, nearest_label
from interlock.detect.recognizers.phone_plan import (
    INVALID,
    KNOWN_CODE,
    POSSIBLE,
    VALID,
    NumberingPlans,
    international_validity,
)
from interlock.detect.recognizers.phone_shape import BLANKS, DASHES, Candidate, candidates, other_value

# A lead ("+", "(", "(+"), digit groups with their separators, an optional extension.
_EXTENSION = r"(?i:x|ext\.?|extn\.?|extension|durchwahl|dw\.?|poste|int\.?|ramal|anexo|toestel|wewn\.?|#)"
# Blanks: space, tab, and the no-break spaces French and German typesetting put between groups.
_BLANK = "[ \t\u00a0\u202f]"
RUN = (rf"(?:\+{_BLANK}?|\(\+?|\b)\d(?:[\d.\-/(){DASHES}]|{_BLANK}){{4,40}}\d"
       rf"(?:{_BLANK}{{0,2}}{_EXTENSION}{_BLANK}{{0,2}}\d{{1,6}})?\b")
# One letter and a colon label a number in signatures ("T: +44 ...", "M: 0171 ..."); with a dot, only
# a capital other than P ("p. 123" is a page).
_LETTER_LABELS = frozenset("TtMmFfPpDdOoCcHhWw")
_LETTER_LABELS_DOT = frozenset("TMFDOCHW")
_CURRENCY = frozenset("$€£¥₹")
# Python's ``re`` with one character class, on one run (bounded by the pattern).
_LETTER_OR_HASH = re.compile(r"[A-Za-z#]")

_VALIDITY = {VALID: "valid in its country's plan", POSSIBLE: "of a possible length",
             KNOWN_CODE: "with a known country code"}
LABELLED = 0.9
LABELLED_VALID = 0.95
# A "+", a country code and at least three groups is a phone's shape even when no plan allows the rest.
INTERNATIONAL = {VALID: 0.85, POSSIBLE: 0.6, KNOWN_CODE: 0.5}
NATIONAL_GROUPED = 0.6
PAIR = 0.45
NANP_SHAPE = 0.5
NATIONAL_BARE = 0.35
TRUNK_BARE = 0.5  # "07700900123": a trunk prefix and a valid number
UNVERIFIED_TRUNK = 0.4  # "(0)317 820-777": grouped, a trunk prefix or an area code in brackets, not valid
UNVERIFIED = 0.15
CONTEXT_BOOST = 0.3
CLASSIC_BONUS = 0.1
EXTENSION_BONUS = 0.1


class PhoneRecognizer(Recognizer):
    name = "phone"
    data_class = "pii.phone"
    max_len = 40
    # "+44 ...", "(415) ...", "(+44) ..." or a digit first. Only "+ " (a blank after the plus) puts
    # whitespace before the first digit, so streaming holds a trailing "+ " and nothing else of prose.
    digit_anchored, digit_lead, digit_gap = True, 2, 2
    digit_pending = rf"\+{_BLANK}"
    # Read by the streaming hold-back: the words after a value can change its score.
    context = tuple(sorted(NEARBY_WORDS))

    def __init__(self, regions: tuple[str, ...]) -> None:
        super().__init__()
        self._plans = NumberingPlans(regions)
        self._run = Matcher(compile_re2(RUN))

    def widest_match(self) -> int | None:
        return pattern_width(RUN)

    def set_patterns(self) -> tuple[str, ...] | None:
        return (relax_bounds(RUN),)

    def scan(self, scan: ScanText, hits: Container[int] | None = None, floor: float = 0.0) -> list[Finding]:
        found: list[Finding] = []
        text = scan.text
        for start, end in self._run.spans(scan):
            # Letters and "#" can only be an extension's.
            body_end = _body_end(text, start, end) if _has_letter_or_hash(text, start, end) else end
            covered = start
            for begin, options in candidates(text, start, body_end):
                if begin < covered:
                    continue
                for candidate in options:
                    ext_end = end if candidate.end == body_end and body_end < end else candidate.end
                    finding = self._judge(scan, candidate, ext_end, floor)
                    if finding is not None:
                        found.append(finding)
                        covered = finding.end
                        break
        return found

    def _judge(self, scan: ScanText, c: Candidate, end: int, floor: float) -> Finding | None:
        text = scan.text
        # Dates and IP addresses are never phones: ruled out before the context is read.
        if end - c.start > self.max_len or other_value(c, True) is not None:
            return None
        left, right = window_tokens(text, c.start, end, scan.context_window, scan.folded)
        label = nearest_label(left)
        if label is None:
            # A value in a delimited row is labelled by its column's header ("id,name,phone").
            header = column_header(text, c.start, scan.headers)
            if header:
                label = nearest_label(header)
        if label is not None and not label[0]:
            return None
        labelled = label is not None or _letter_label(text, c.start)
        if _glued(text, c.start, end, labelled, c.joins):
            return None
        if not labelled and other_value(c, False) is not None:
            return None
        digits = c.digits
        extension = end > c.end
        if labelled:
            if len(digits) > 15:
                return None
            why = f"phone number labelled '{label[1]}'" if label is not None else "phone number labelled"
            # Validity raises the confidence; a labelled value that no plan knows is still a phone.
            if self._valid(c):
                return Finding(self.data_class, c.start, end, LABELLED_VALID, self.name, why + ", valid")
            return Finding(self.data_class, c.start, end, LABELLED, self.name, why)
        if len(digits) < 7 or (right and right[0] in UNITS) or (left and left[-1] in UNITS):
            return None
        score, why = self._unlabelled_score(c)
        if score is None:
            return None
        if extension:
            score += EXTENSION_BONUS
        boosted = not NEARBY_WORDS.isdisjoint(left) or not NEARBY_WORDS.isdisjoint(right)
        if boosted:
            score += CONTEXT_BOOST
            why += "; phone words nearby"
        score = round(min(score, 1.0), 3)
        if score < floor:
            return None
        return Finding(self.data_class, c.start, end, score, self.name, why)

    def _valid(self, c: Candidate) -> bool:
        international = _international(c)
        if international is not None:
            return international_validity(international) == VALID
        return self._plans.national_valid(c.digits)

    def _unlabelled_score(self, c: Candidate) -> tuple[float | None, str]:
        digits = c.digits
        international = _international(c)
        if international is not None:
            validity = international_validity(international)
            if validity == INVALID or (validity == KNOWN_CODE and (len(c.groups) < 3 or len(digits) < 9)):
                return None, ""
            return INTERNATIONAL[validity], "international number " + _VALIDITY[validity]
        if len(digits) > 15:
            return None, ""
        trunk = digits[0] == "0" or c.bracket
        valid = self._plans.national_valid(digits)
        if len(c.groups) == 1:
            if not valid:
                return UNVERIFIED / 2, "digit run"
            if digits[0] == "0" and len(digits) >= 10:
                return TRUNK_BARE, "national number valid in a configured region"
            return NATIONAL_BARE, "national number valid in a configured region"
        if not valid:
            # Test data, forms and generated records are full of numbers no plan assigns ("879.888.6532"):
            # the North American 3-3-4 shape and a trunk-prefixed long number are phones on their own.
            if _north_american(c):
                return NANP_SHAPE + (0.0 if c.joins[-1] == "" else CLASSIC_BONUS), "North American number shape"
            if trunk and len(digits) >= 9:
                return UNVERIFIED_TRUNK + CLASSIC_BONUS, "grouped digits after a trunk prefix"
            return (UNVERIFIED_TRUNK if trunk else UNVERIFIED), "grouped digits"
        if len(c.groups) == 2 and not trunk and c.joins[0] != "":
            # "9937-1666" is as often a range or a code as a phone; "5123 4567" is written so in Hong Kong.
            return PAIR, "two digit groups valid in a configured region"
        classic = trunk or tuple(map(len, c.groups)) == (3, 3, 4)
        return NATIONAL_GROUPED + (CLASSIC_BONUS if classic else 0.0), \
            "grouped national number valid in a configured region"


def _international(c: Candidate) -> str | None:
    """The digits after the country code's "+" or "00", or ``None`` for a national number."""
    if c.plus:
        return c.digits
    if c.digits.startswith("00") and not c.digits.startswith("000"):
        return c.digits[2:]
    return None


def _north_american(c: Candidate) -> bool:
    """"415-555-0134", "(415) 555-0134", "1-415-555-0134", "415.555.0134" or "415 555 0134"."""
    lengths = tuple(map(len, c.groups))
    if lengths == (1, 3, 3, 4) and c.groups[0] == "1":
        lengths, joins = lengths[1:], c.joins[1:]
    else:
        joins = c.joins
    if lengths != (3, 3, 4) or c.groups[-3][0] in "01":
        return False
    return joins[1] in ("-", ".", "") and (joins[0] == joins[1] or joins[0] == ")")


def _body_end(text: str, start: int, end: int) -> int:
    """Where the digit groups of a run end and its extension begins."""
    pos = start + 1
    while pos < end and not (text[pos].isalpha() or text[pos] == "#"):
        pos += 1
    while pos > start and not text[pos - 1].isdigit():
        pos -= 1
    return pos


def _has_letter_or_hash(text: str, start: int, end: int) -> bool:
    return _LETTER_OR_HASH.search(text, start, end) is not None


def _letter_label(text: str, start: int) -> bool:
    """"T: ", "M. " or "Tel" written as one letter and a colon or dot just before the value."""
    pos = start
    while pos > 0 and text[pos - 1] in BLANKS:
        pos -= 1
    if pos < 2 or text[pos - 1] not in ":.":
        return False
    letters = _LETTER_LABELS if text[pos - 1] == ":" else _LETTER_LABELS_DOT
    return text[pos - 2] in letters and (pos < 3 or not text[pos - 3].isalnum())


def _glued(text: str, start: int, end: int, labelled: bool, joins: tuple[str, ...]) -> bool:
    """Whether the value continues a longer token (``INV-2024-0042``, a UUID, ``1.234,56``, ``14:30``)."""
    before = text[start - 1] if start > 0 else " "
    # "tel:+49...", "Phone:0301234567": a label's colon may touch the value.
    if (before in "-._/" or (before == ":" and not labelled)) and start > 1 and text[start - 2].isalnum():
        return True
    if not labelled and (before == "#" or before in _CURRENCY or (
            before == " " and start > 1 and text[start - 2] in _CURRENCY)):
        return True
    after = text[end] if end < len(text) else " "
    following = text[end + 1] if end + 1 < len(text) else " "
    if after in "-._/" and following.isalnum():
        return True
    if after == ":" and following.isdigit():
        return True
    # "1.234.567,89" and "123 456.78" are amounts; in a CSV row a comma and a digit follow any field.
    return not labelled and (after == "%" or after in _CURRENCY or (following.isdigit() and (
        after == "." or (after == "," and "." in joins))))
