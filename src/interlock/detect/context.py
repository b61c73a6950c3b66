"""Context words: whole words or phrases near a match that make it more (or less) likely sensitive."""

from __future__ import annotations

from collections.abc import Iterable

# Tokens are runs of letters and digits; "date-of-birth", "d.o.b" and "api_key" all normalise to
# space-joined token sequences, so context phrases match however they are punctuated. A translate table
# and split() beat any regex on these short windows.
_SEPARATORS = {c: " " for c in range(128) if not chr(c).isalnum()}
# A word cut by the edge of a context window is read to its end, for at most this many more characters.
WORD_SLACK = 24


def tokens(text: str) -> list[str]:
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
        for tok in window_tokens:
            if tok in self._single:
                return tok
        if self._phrases:
            joined = " " + " ".join(window_tokens) + " "
            for phrase in self._phrases:
                if phrase in joined:
                    return phrase.strip()
        return None


def window_tokens(text: str, start: int, end: int, size: int) -> tuple[list[str], list[str]]:
    """Tokens within ``size`` characters before and after ``text[start:end]``, excluding the match."""
    lo, hi = max(0, start - size), min(len(text), end + size)
    # A word cut by the window edge is not a whole word: widen to the word's edge instead.
    while lo > 0 and text[lo - 1].isalnum() and start - lo < size + WORD_SLACK:
        lo -= 1
    while hi < len(text) and text[hi].isalnum() and hi - end < size + WORD_SLACK:
        hi += 1
    return tokens(text[lo:start]), tokens(text[end:hi])
