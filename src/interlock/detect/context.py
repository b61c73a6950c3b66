"""Context words: whole words or phrases near a match that make it more (or less) likely sensitive."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

# Tokens are runs of letters and digits; "date-of-birth", "d.o.b" and "api_key" all normalise to
# space-joined token sequences, so context phrases match however they are punctuated. A translate table
# and split() beat any regex on these short windows.
# Both tables map every ASCII character: ``str.translate`` is several times slower when it has to look
# up characters a table leaves out. Letters and digits map to themselves (``_SEPARATORS``) or to their
# lower case (``_FOLD``, for ASCII text only, where it does in one pass what ``lower`` then
# ``_SEPARATORS`` do); characters beyond ASCII are left as they are.
_SEPARATORS = {c: c if chr(c).isalnum() else ord(" ") for c in range(128)}
_FOLD = {c: ord(chr(c).lower()) if chr(c).isalnum() else ord(" ") for c in range(128)}
# The same folding as a byte table (for ASCII text), which ``bytes.translate`` applies far faster still.
_FOLD_BYTES = bytes(_FOLD[c] if c < 128 else c for c in range(256))
# A word cut by the edge of a context window is read to its end, for at most this many more characters.
WORD_SLACK = 24


def tokens(text: str) -> list[str]:
    if text.isascii():
        return text.translate(_FOLD).split()
    return text.lower().translate(_SEPARATORS).split()


class ContextWords:
    """A set of context words and phrases, matched as whole tokens."""

    __slots__ = ("_phrases", "_single")

    def __init__(self, words: Iterable[str]) -> None:
        single: set[str] = set()
        phrases: list[str] = []
        for word in words:
            parts = tokens(word)
            if len(parts) == 1:
                single.add(parts[0])
            elif parts:
                phrases.append(" " + " ".join(parts) + " ")
        self._single = frozenset(single)
        self._phrases = tuple(phrases)

    def __bool__(self) -> bool:
        return bool(self._single or self._phrases)

    def first_hit(self, window_tokens: list[str]) -> str | None:
        # Most windows hold none of the words: one set operation says so without a loop in Python.
        if not self._single.isdisjoint(window_tokens):
            for tok in window_tokens:
                if tok in self._single:
                    return tok
        if self._phrases:
            joined = " " + " ".join(window_tokens) + " "
            for phrase in self._phrases:
                if phrase in joined:
                    return phrase.strip()
        return None

    def distance(self, left: list[str], right: list[str]) -> int | None:
        """How many tokens lie between the match and the nearest of these words (left tokens end at the
        match, right tokens start after it), or ``None`` if none is there. A word after the match counts
        one token further than one before it: a label comes before its value."""
        best: int | None = None
        single = self._single
        for i, tok in enumerate(reversed(left)):
            if tok in single:
                best = i
                break
        for i, tok in enumerate(right, 1):
            if best is not None and i >= best:
                break
            if tok in single:
                best = i
                break
        for phrase in self._phrases:
            joined = " " + " ".join(left) + " "
            at = joined.rfind(phrase)
            if at != -1:
                gap = joined[at + len(phrase) - 1:].count(" ") - 1
                best = gap if best is None else min(best, gap)
            joined = " " + " ".join(right) + " "
            at = joined.find(phrase)
            if at != -1:
                gap = joined[:at + 1].count(" ")
                best = gap if best is None else min(best, gap)
        return best


# Cell separators of delimited rows (CSV, TSV, pipe tables), most specific first.
_DELIMITERS = ("\t", ";", "|", ",")
# How far back a header line is looked for, in lines and characters.
_HEADER_LINES = 64
_HEADER_CHARS = 8192
_ROW_CHARS = 2048


def column_header(text: str, start: int, cache: dict[Any, Any]) -> list[str]:
    """The tokens of the header cell above ``text[start]`` when it lies in a delimited row (CSV and the
    like): the nearest line before it with the same number of cells and no digit. Empty when there is
    none. ``cache`` (per scanned text) keeps the header line found per row."""
    # A table row is short: in a longer line (or one without line ends) there is no header to find, and
    # looking costs at most this much per candidate, so a scan stays linear in its input.
    line_start = text.rfind("\n", max(0, start - _ROW_CHARS), start) + 1
    if line_start == 0:
        return []  # the first line (or a row longer than a table row) has no header above it
    line_end = text.find("\n", start, start + _ROW_CHARS)
    if line_end == -1:
        line_end = len(text)
    if line_end - line_start > _ROW_CHARS:
        return []
    line = text[line_start:line_end]
    for delimiter in _DELIMITERS:
        cells = line.count(delimiter)
        if cells >= 2:
            break
    else:
        return []
    column = text.count(delimiter, line_start, start)
    header = _header_line(text, line_start, delimiter, cells, cache)
    if header is None:
        return []
    parts = text[header[0]:header[1]].split(delimiter)
    return tokens(parts[column]) if column < len(parts) else []


def _header_line(text: str, line_start: int, delimiter: str, cells: int,
                 cache: dict[Any, Any]) -> tuple[int, int] | None:
    """Where the header line of the row starting at ``line_start`` lies: the nearest line above with as
    many cells and no digit. Every line passed on the way keeps the answer, so the rows of one table
    are walked once in all (linear in the text)."""
    visited: list[int] = []
    found: tuple[int, int] | None = None
    hi = line_start - 1
    lowest = max(0, line_start - _HEADER_CHARS)
    for _ in range(_HEADER_LINES):
        if hi <= lowest:
            break
        lo = text.rfind("\n", lowest, hi) + 1
        key = (lo, delimiter, cells)
        if key in cache:
            found = cache[key]
            break
        candidate = text[lo:hi]
        if candidate.count(delimiter) == cells and not any(c.isdigit() for c in candidate):
            found = (lo, hi)
            break
        visited.append(lo)
        hi = lo - 1
    cache[(line_start, delimiter, cells)] = found
    for lo in visited:
        # The header above a row above this one is this row's too.
        cache[(lo, delimiter, cells)] = found
    return found


def fold_ascii(data: bytes) -> str:
    """ASCII text as ``window_tokens`` reads it: letters in lower case, digits, every other character a space
    (one character for one, so offsets stay)."""
    return data.translate(_FOLD_BYTES).decode("ascii")


def window_tokens(text: str, start: int, end: int, size: int, folded: str | None = None) -> tuple[list[str], list[str]]:
    """Tokens within ``size`` characters before and after ``text[start:end]``, excluding the match.

    ``folded``: ``fold_ascii`` of the whole of ``text`` when it is ASCII, if the caller has it (a scan folds
    its text once rather than each window's)."""
    if folded is not None:
        return _folded_window_tokens(folded, start, end, size)
    if text.isascii():
        return _ascii_window_tokens(text, start, end, size)
    lo, hi = max(0, start - size), min(len(text), end + size)
    # A word cut by the window edge is not a whole word: widen to the word's edge instead.
    while lo > 0 and text[lo - 1].isalnum() and start - lo < size + WORD_SLACK:
        lo -= 1
    while hi < len(text) and text[hi].isalnum() and hi - end < size + WORD_SLACK:
        hi += 1
    return tokens(text[lo:start]), tokens(text[end:hi])


def _ascii_window_tokens(text: str, start: int, end: int, size: int) -> tuple[list[str], list[str]]:
    """``window_tokens`` for ASCII text, with the same result.

    The window and its slack on either side are folded (lower case, separators to spaces) in one
    ``bytes.translate``; the cut words' edges are then the nearest spaces, found by ``rfind``/``find``
    rather than by stepping through the characters one by one.
    """
    outer_lo, outer_hi = max(0, start - size - WORD_SLACK), min(len(text), end + size + WORD_SLACK)
    folded = text[outer_lo:outer_hi].encode("ascii").translate(_FOLD_BYTES).decode("ascii")
    # Offsets into ``folded``. A cut word is read to its edge, or to the end of the slack.
    lo, hi = max(0, start - size) - outer_lo, min(len(text), end + size) - outer_lo
    lo = folded.rfind(" ", 0, lo) + 1 if lo > 0 else 0
    edge = folded.find(" ", hi)
    hi = len(folded) if edge == -1 else edge
    return folded[lo:start - outer_lo].split(), folded[end - outer_lo:hi].split()


def _folded_window_tokens(folded: str, start: int, end: int, size: int) -> tuple[list[str], list[str]]:
    """``_ascii_window_tokens`` reading a text folded whole beforehand."""
    lo, hi = max(0, start - size), min(len(folded), end + size)
    if lo > 0:
        lo = folded.rfind(" ", max(0, start - size - WORD_SLACK), lo) + 1 or max(0, start - size - WORD_SLACK)
    edge = folded.find(" ", hi, min(len(folded), end + size + WORD_SLACK))
    hi = min(len(folded), end + size + WORD_SLACK) if edge == -1 else edge
    return folded[lo:start].split(), folded[end:hi].split()
