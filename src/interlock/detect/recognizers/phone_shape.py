"""The shape of a run of digit groups: where phone candidates lie in it, and what else it may be.

A run is what the phone pattern matched: digit groups joined by spaces, dashes, dots, slashes and
brackets, perhaps led by "+" or "(" and followed by an extension. Everything here works on one run
(at most a few dozen characters), in time linear in its length.
"""

from __future__ import annotations

from dataclasses import dataclass

# Brackets and one of "-./" may join two groups, with at most one space or tab on either side.
_JOINERS = frozenset({"", "-", ".", "/", "(", ")", ")-", ").", ")/", "-(", "/("})
_BLANKS = " \t"
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


def candidates(text: str, start: int, end: int) -> list[list[Candidate]]:
    """The candidates of the run ``text[start:end]`` (extension excluded), as lists of alternatives: the
    longest first, then shorter stretches that begin and end at a space (two numbers in one run)."""
    groups: list[tuple[int, int]] = []
    seps: list[str] = []
    pos = start
    while pos < end:
        if text[pos].isdigit():
            g = pos
            while pos < end and text[pos].isdigit():
                pos += 1
            groups.append((g, pos))
        else:
            s = pos
            while pos < end and not text[pos].isdigit():
                pos += 1
            if groups:
                seps.append(text[s:pos])
    pieces: list[list[int]] = [[0]] if groups else []
    for i, sep in enumerate(seps, 1):
        core = sep.strip(_BLANKS)
        if core not in _JOINERS or len(sep) - len(core) > 2 or "\t\t" in sep or "  " in sep:
            pieces.append([i])
        else:
            pieces[-1].append(i)
    # Too many digits for one number: " / " lists numbers ("030 123456 / 0171 123456"); in one number it
    # parts an area code from the rest ("0711 / 123456").
    split: list[list[int]] = []
    for piece in pieces:
        if sum(groups[k][1] - groups[k][0] for k in piece) <= 15:
            split.append(piece)
            continue
        split.append([piece[0]])
        for k in piece[1:]:
            if seps[k - 1].strip(_BLANKS) == "/" and seps[k - 1] != "/":
                split.append([k])
            else:
                split[-1].append(k)
    pieces = split
    lead = text[start:groups[0][0]] if groups else ""
    found: list[list[Candidate]] = []
    for piece in pieces:
        # Where a stretch may begin or end inside the piece: at a separator with a blank in it.
        cuts = [k for k in piece[1:] if any(c in _BLANKS for c in seps[k - 1])]
        starts = [piece[0], *cuts]
        stop = piece[-1] + 1
        for a in starts:
            ends = [stop, *reversed([k for k in cuts if k > a])]
            options = [c for b in ends if b - a <= _MAX_GROUPS
                       if (c := _candidate(text, groups, seps, a, b, lead if a == 0 else "")) is not None]
            if options:
                found.append(options)
    return found


def _candidate(text: str, groups: list[tuple[int, int]], seps: list[str], a: int, b: int,
               lead: str) -> Candidate | None:
    digits = "".join(text[s:e] for s, e in groups[a:b])
    if len(digits) < 6 or len(digits) > 17:
        return None
    joins = tuple(seps[k].strip(_BLANKS) for k in range(a, b - 1))
    begin, finish = groups[a][0] - len(lead), groups[b - 1][1]
    if text[begin] == "(" and text.count("(", begin, finish) > text.count(")", begin, finish):
        begin += 1
    plus = text.startswith(("+", "(+"), begin)
    bracket = "(" in text[begin:finish]
    if plus:
        # "+44 (0) 20 ...": the trunk prefix in brackets is not dialled from abroad.
        digits = "".join(text[s:e] for k, (s, e) in enumerate(groups[a:b], a)
                         if not (text[s:e] == "0" and 0 < k < len(seps) and seps[k - 1].endswith("(")
                                 and seps[k].startswith(")")))
    return Candidate(begin, finish, digits, tuple(text[s:e] for s, e in groups[a:b]), joins, plus, bracket)


def other_value(c: Candidate, labelled: bool) -> str | None:
    """What else ``c`` looks like (a date, an IP address, an ISBN...), or ``None``.

    A date, a time or an IP address is never a phone; the other shapes are phones only under a label.
    """
    g, j = c.groups, c.joins
    if len(g) >= 3 and j[0] == j[1] and j[0] in ("-", ".", "/") and _date(g[0], g[1], g[2]):
        return "date"
    if len(g) == 4 and all(x == "." for x in j) and all(len(x) <= 3 and int(x) <= 255 for x in g):
        return "IP address"
    if labelled:
        return None
    if len(g) > 1 and not c.plus and len(g[0]) == 4 and g[0][:2] in ("19", "20"):
        return "year"
    if j and all(x == "." for x in j) and any(len(x) == 1 for x in g[1:]):
        return "version"
    if len(g) == 2 and j[0] == "-" and len(g[0]) == 5 and len(g[1]) in (3, 4):
        return "postcode"
    if len(g) == 3 and j == ("-", "-") and tuple(map(len, g)) == (3, 2, 4):
        return "social security number"
    if len(c.digits) in (10, 13) and len(g) >= 3 and all(x in ("-", "") for x in j) and _isbn(c.digits):
        return "ISBN"
    if len(g) >= 3 and g[0][0] != "0" and len(g[0]) <= 3 and all(len(x) == 3 for x in g[1:]) and (
            j[0] == "." or len(g[0]) <= 2) and len(set(j)) == 1:
        return "amount"
    if any(len(x) >= 6 for x in g[:-1]) or len(g[-1]) < 2:
        return "identifier"
    return None


def _date(a: str, b: str, c: str) -> bool:
    if len(a) == 4 and len(b) <= 2 and len(c) <= 2:
        return 1 <= int(b) <= 12 and 1 <= int(c) <= 31
    if len(a) <= 2 and len(b) <= 2 and len(c) in (2, 4):
        x, y = int(a), int(b)
        return 1 <= x <= 31 and 1 <= y <= 31 and (x <= 12 or y <= 12)
    return False


def _isbn(digits: str) -> bool:
    if len(digits) == 13:
        return digits[:3] in ("978", "979") and sum(
            int(d) * (3 if i % 2 else 1) for i, d in enumerate(digits)) % 10 == 0
    return sum(int(d) * (10 - i) for i, d in enumerate(digits)) % 11 == 0
