"""Normalisation before detection, with a map from every normalised position back to the original text.

Obfuscated values defeat patterns written for their plain form: fullwidth digits and at signs, a
zero-width space inside an e-mail address, a soft hyphen inside a key, a bidirectional control inside
a card number. The detector scans the normalised text and reports spans of the original, so redaction
covers the whole original value, invisible characters inside it included.

What changes:

* invisible characters are removed: zero-width space, non-joiner and joiner, word joiner and the
  invisible operators, the byte order mark, the soft hyphen, the Mongolian vowel separator and the
  bidirectional marks, embeddings, overrides and isolates;
* the dash-like punctuation people and word processors put between digit groups (hyphen, non-breaking
  hyphen, figure dash, en and em dash, minus sign) becomes ``-``;
* every other character whose NFKC form differs is replaced by that form, one character at a time
  (fullwidth ``４`` -> ``4``, ``＠`` -> ``@``, no-break and thin spaces -> space, ``ﬁ`` -> ``fi``).
  Per character rather than over the whole text: composition across characters would change nothing
  a recognizer needs and would make the map harder to keep exact.

ASCII text never changes, and costs one ``str.isascii`` call. Other text is checked with
``unicodedata.is_normalized`` and a search for each of the characters above; only text that has some
is rebuilt, in one pass, linear in its length.
"""

from __future__ import annotations

import re
import unicodedata
from bisect import bisect_right
from dataclasses import dataclass
from functools import cache

INVISIBLE = ("\u00ad\u180e\u200b\u200c\u200d\u200e\u200f\u202a\u202b\u202c\u202d\u202e"
             "\u2060\u2061\u2062\u2063\u2064\u2066\u2067\u2068\u2069\ufeff")
DASHES = "\u2010\u2011\u2012\u2013\u2014\u2015\u2212\ufe58\ufe63"
# Every character NFKC maps to something else lies below this (checked for the Unicode version at hand
# when the table is built; see ``_changing``).
_LAST_COMPAT = 0x30000


@dataclass(frozen=True, slots=True)
class Normalized:
    """``text`` is the normalised text. Segments ``i`` cover ``text[norm[i]:norm[i+1]]`` (the last one
    runs to the end) and come from ``original[orig[i]:orig[i] + olen[i]]``: position by position when
    the lengths agree, as one unit when a character expanded (``ﬁ`` -> ``fi``)."""

    text: str
    norm: list[int]
    orig: list[int]
    olen: list[int]
    nlen: list[int]

    def span(self, start: int, end: int) -> tuple[int, int]:
        """The original span of the normalised ``text[start:end]`` (``start < end``)."""
        i = bisect_right(self.norm, start) - 1
        o_start = self.orig[i] + (start - self.norm[i] if self.olen[i] == self.nlen[i] else 0)
        j = bisect_right(self.norm, end - 1) - 1
        o_end = self.orig[j] + (end - self.norm[j] if self.olen[j] == self.nlen[j] else self.olen[j])
        return o_start, o_end


# Characters NFKC changes that mean something as written: the ordinal indicators of Spanish, Portuguese
# and Italian addresses ("3º B", "1ª planta"), which NFKC turns into plain letters.
_KEPT = frozenset("ºª")


@cache
def _changing() -> re.Pattern[str]:
    """Runs of characters normalisation changes. Built once per process (about 40 ms)."""
    chars = [c for c in range(0x80, _LAST_COMPAT)
             if not 0xD800 <= c < 0xE000 and chr(c) not in _KEPT and unicodedata.normalize("NFKC", chr(c)) != chr(c)]
    ranges: list[tuple[int, int]] = []
    for c in chars:
        if ranges and ranges[-1][1] == c - 1:
            ranges[-1] = (ranges[-1][0], c)
        else:
            ranges.append((c, c))
    parts = [re.escape(chr(a)) if a == b else f"{re.escape(chr(a))}-{re.escape(chr(b))}" for a, b in ranges]
    parts += [re.escape(ch) for ch in INVISIBLE + DASHES]
    # A plain character class: ``re`` matches it in linear time, and never builds a match for the
    # characters it skips.
    return re.compile("[" + "".join(parts) + "]+")


class Normalizer:
    """Built once (the character table is shared by every instance in the process)."""

    __slots__ = ("_changing", "_replacement")

    def __init__(self) -> None:
        self._changing = _changing()
        self._replacement: dict[str, str] = {ch: "" for ch in INVISIBLE}
        self._replacement.update({ch: "-" for ch in DASHES})

    def normalize(self, text: str) -> Normalized | None:
        """The normalised text with its map, or ``None`` when nothing changes (always for ASCII text)."""
        if text.isascii():
            return None
        # One substring test per character (a fast search each) beats a character-class regex many times.
        if unicodedata.is_normalized("NFKC", text) and not any(map(text.__contains__, INVISIBLE + DASHES)):
            return None
        pieces: list[str] = []
        norm: list[int] = []
        orig: list[int] = []
        olen: list[int] = []
        nlen: list[int] = []
        out = 0  # length of the normalised text so far
        copied = 0  # original text before this is accounted for
        replacement = self._replacement
        for run in self._changing.finditer(text):
            start, end = run.span()
            if start > copied:
                norm.append(out)
                orig.append(copied)
                olen.append(start - copied)
                nlen.append(start - copied)
                pieces.append(text[copied:start])
                out += start - copied
            for pos in range(start, end):
                ch = text[pos]
                new = replacement.get(ch)
                if new is None:
                    new = unicodedata.normalize("NFKC", ch)
                if new:
                    norm.append(out)
                    orig.append(pos)
                    olen.append(1)
                    nlen.append(len(new))
                    pieces.append(new)
                    out += len(new)
            copied = end
        if copied == 0 and not pieces:
            return None
        if copied < len(text):
            norm.append(out)
            orig.append(copied)
            olen.append(len(text) - copied)
            nlen.append(len(text) - copied)
            pieces.append(text[copied:])
        if not norm:
            # Nothing but invisible characters: no position of the (empty) text needs mapping.
            norm, orig, olen, nlen = [0], [0], [0], [0]
        return Normalized("".join(pieces), norm, orig, olen, nlen)
