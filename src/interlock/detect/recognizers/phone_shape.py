"""The shape of a run of digit groups: where phone candidates lie in it, and what else it may be.

A run is what the phone pattern matched: digit groups joined by spaces, dashes, dots, slashes and
brackets, perhaps led by "+" or "(" and followed by an extension. Everything here works on one run
(at most a few dozen characters), in time linear in its length.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from itertools import accumulate, pairwise

# Brackets and one of "-./" may join two groups, with at most one space or tab on either side.
_JOINERS = frozenset({"", "-", ".", "/", "(", ")", ")-", ").", ")/", "-(", "/("})
BLANKS = " \t\u00a0\u202f"
# Typographic hyphens and dashes between groups are read as "-".
DASHES = "\u2010\u2011\u2012\u2013"
_DASHES = str.maketrans(DASHES, "-" * len(DASHES))
_MAX_GROUPS = 7


@dataclass(frozen=True, slots=True)
class Candidate:
    """A stretch of whole digit groups of one run. Offsets are into the scanned text."""

    start: int
    end: int
    digits: str
    groups: tuple[str, ...]
    joins: tuple[str, ...]  # the separator between each pair of groups, blanks removed
    plus: bool  # written with a leading "+"
    bracket: bool  # has an area code in brackets


def candidates(text: str, start: int, end: int) -> Iterator[tuple[int, Iterator[Candidate]]]:
    """The candidates of the run ``text[start:end]`` (extension excluded), by where they begin: for each
    beginning, the alternatives, longest first; shorter stretches begin and end at a space (two numbers
    in one run). Built lazily: most runs are settled by their first alternative."""
    run = text[start:end]
    # [lead, group, separator, group, ..., group, tail]: one split instead of a match object per group.
    parts = _DIGIT_SPLIT.split(run)
    if len(parts) < 3:
        return
    values = parts[1::2]
    raw = parts[2:-1:2]
    ascii_run = run.isascii()
    # Typographic dashes read as "-" (one character for one, so lengths and offsets stay).
    seps = raw if ascii_run else [sep.translate(_DASHES) for sep in raw]
    cores = [sep.strip(BLANKS) for sep in seps]
    lengths = list(map(len, values))
    # Where each group starts in the text.
    offsets = [start + len(parts[0])]
    for length, sep in zip(lengths, raw, strict=False):
        offsets.append(offsets[-1] + length + len(sep))
    group = (text, values, seps, cores, offsets)
    # Pieces: runs of groups that separators able to join two groups of one number hold together.
    bounds = [0, *(i for i, (sep, core) in enumerate(zip(seps, cores, strict=True), 1)
                   if core not in _JOINERS or len(sep) - len(core) > 2 or "\t\t" in sep or "  " in sep), len(values)]
    counts = [0, *accumulate(lengths)]
    pieces: list[range] = []
    for first, stop in pairwise(bounds):
        if counts[stop] - counts[first] <= 15:
            pieces.append(range(first, stop))
            continue
        # Too many digits for one number: " / " lists numbers ("030 123456 / 0171 123456"); in one number
        # it parts an area code from the rest ("0711 / 123456").
        begin = first
        for k in range(first + 1, stop):
            if cores[k - 1] == "/" and seps[k - 1] != "/":
                pieces.append(range(begin, k))
                begin = k
        pieces.append(range(begin, stop))
    lead = parts[0]
    for piece in pieces:
        first, stop = piece.start, piece.stop
        # Part of an international number is not a national one: "+49 30 901820" is one number or none.
        # A piece is split only if it is too long for one number or ends in a stray digit or two ("call
        # 0301234567 2 times"): shorter stretches of "9069 9542 3789" are no more phones than all of it,
        # and blocks of four ("4111 1111 1111 1112", a card or account number) are one value.
        digits, last = counts[stop] - counts[first], lengths[stop - 1]
        blocks = stop - first >= 4 and all(lengths[k] == 4 for k in range(first, stop - 1))
        if (first == 0 and "+" in lead) or blocks or not (digits > 15 or (last <= 2 and digits - last <= 15)):
            yield offsets[first], _options(group, counts, first, (stop,), lead if first == 0 else "")
            continue
        # Where a stretch may begin or end inside the piece: at a separator with a blank in it (ASCII text
        # has only spaces and tabs).
        if ascii_run:
            cuts = [k for k in range(first + 1, stop) if " " in seps[k - 1] or "\t" in seps[k - 1]]
        else:
            cuts = [k for k in range(first + 1, stop) if any(c in BLANKS for c in seps[k - 1])]
        for a in (first, *cuts):
            yield offsets[a], _options(group, counts, a, (stop, *reversed([k for k in cuts if k > a])),
                                       lead if a == 0 else "")


# A single character class: linear, and it only ever runs over one run (bounded by the phone pattern).
_DIGIT_SPLIT = re.compile(r"([0-9]+)")


# The digit groups of one run: the text, their digits, the separators between them (as written, and
# without blanks) and where each group starts in the text.
Groups = tuple[str, list[str], list[str], list[str], list[int]]


def _options(group: Groups, counts: list[int], a: int, ends: tuple[int, ...], lead: str) -> Iterator[Candidate]:
    for b in ends:
        digits = counts[b] - counts[a]
        if digits < 6:
            return
        # Fifteen digits at most, after a "+" or "00" and the country code's own digits.
        if b - a <= _MAX_GROUPS and (digits <= 15 or (
                digits <= 17 and ("+" in lead or group[1][a].startswith("00")))):
            yield _candidate(group, a, b, lead)


def _candidate(group: Groups, a: int, b: int, lead: str) -> Candidate:
    text, values, seps, cores, starts = group
    parts = values[a:b]
    digits = "".join(parts)
    joins = tuple(cores[a:b - 1])
    begin, finish = starts[a] - len(lead), starts[b - 1] + len(values[b - 1])
    if text[begin] == "(" and text.count("(", begin, finish) > text.count(")", begin, finish):
        begin += 1
    plus = text.startswith(("+", "(+"), begin)
    bracket = "(" in text[begin:finish]
    if plus:
        # "+44 (0) 20 ...": the trunk prefix in brackets is not dialled from abroad.
        digits = "".join(values[k] for k in range(a, b)
                         if not (values[k] == "0" and 0 < k < len(seps) and seps[k - 1].endswith("(")
                                 and seps[k].startswith(")")))
    return Candidate(begin, finish, digits, tuple(parts), joins, plus, bracket)


def other_value(c: Candidate, labelled: bool) -> str | None:
    """What else ``c`` looks like (a date, an IP address, an ISBN...), or ``None``.

    A date, a time or an IP address is never a phone; the other shapes are phones only under a label.
    """
    g, j = c.groups, c.joins
    # "15.03.24", "2024-03-15 14" (a time follows); "06.12.34.56.78" goes on like no date does.
    if len(g) >= 3 and j[0] == j[1] and j[0] in ("-", ".", "/") and _date(g[0], g[1], g[2]) and (
            len(g) == 3 or j[2] == "" or len(g[0]) == 4 or len(g[2]) == 4):
        return "date"
    if len(g) == 4 and all(x == "." for x in j) and all(len(x) <= 3 and int(x) <= 255 for x in g):
        return "IP address"
    if labelled:
        return None
    if len(g) > 1 and not c.plus and len(g[0]) == 4 and g[0][:2] in ("19", "20"):
        return "year"
    if j and all(x == "." for x in j) and not c.plus and (
            any(len(x) == 1 for x in g[1:]) or (len(g) <= 3 and g[0][0] != "0" and len(g[-1]) <= 3)):
        return "version"
    if j == (".",) and g[0][0] != "0" and not c.plus:
        return "decimal number"
    if len(g) == 2 and j[0] == "-" and len(g[0]) == 5 and len(g[1]) in (3, 4):
        return "postcode"
    if len(g) == 3 and j == ("-", "-") and tuple(map(len, g)) == (3, 2, 4):
        return "social security number"
    if not c.plus and _isbn(c.digits, g, j):
        return "ISBN"
    # "1.234.567" or "1 234 567"; "21 234 567" is a Latvian number as often as an amount.
    if not c.plus and len(g) >= 3 and g[0][0] != "0" and len(g[0]) <= 3 and all(len(x) == 3 for x in g[1:]) and (
            j[0] == "." or len(g[0]) == 1) and len(set(j)) == 1:
        return "amount"
    # "12345678-10": a long group followed by a short one ("081234 56789" is an Indian number).
    if any(len(x) >= 6 and len(y) <= 3 for x, y in pairwise(g)) or len(g[-1]) < 2:
        return "identifier"
    return None


def _date(a: str, b: str, c: str) -> bool:
    if len(a) == 4 and len(b) <= 2 and len(c) <= 2:
        return 1 <= int(b) <= 12 and 1 <= int(c) <= 31
    if len(a) <= 2 and len(b) <= 2 and len(c) in (2, 4):
        x, y = int(a), int(b)
        return 1 <= x <= 31 and 1 <= y <= 31 and (x <= 12 or y <= 12)
    return False


def _isbn(digits: str, g: tuple[str, ...], j: tuple[str, ...]) -> bool:
    if len(digits) == 13 and len(g) >= 3 and digits[:3] in ("978", "979") and all(x in ("-", "") for x in j):
        return sum(int(d) * (3 if i % 2 else 1) for i, d in enumerate(digits)) % 10 == 0
    if len(digits) == 10 and len(g) == 4 and all(x == "-" for x in j):
        return sum(int(d) * (10 - i) for i, d in enumerate(digits)) % 11 == 0
    return False
