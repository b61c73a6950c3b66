"""The name dictionary shipped with the package: which words are first names, last names or common words.

Built by ``benchmarks/data/build_names.py`` (sources and licences in docs/data-classes.md). Loaded once per
process, on the first detector built, and shared read-only by every detector after it: about 0.1 s and
30 MB for some 262,000 words. Lookups are one dict probe per capitalised word of a text.
"""

from __future__ import annotations

import gzip
from functools import cache
from importlib import resources

FIRST = 1
LAST = 2
# A name that is also a common word ("Will", "Rose", "Grant"): it needs strong evidence.
COMMON_NAME = 4
# A common word that is not a name ("Invoice", "Garden").
WORD = 8
NAME = FIRST | LAST

_FLAGS = {"f": FIRST, "l": LAST, "c": COMMON_NAME, "w": WORD}


class NameTable:
    """Immutable word -> flags lookup (words in lower case)."""

    __slots__ = ("_flags",)

    def __init__(self, flags: dict[str, int]) -> None:
        self._flags = flags

    def __len__(self) -> int:
        return len(self._flags)

    def flags(self, word: str) -> int:
        """The flags of a word as written in text (any case); a hyphenated word ("Smith-Jones",
        "Jean-Pierre") not listed whole is a name if a part is, and common only if every part is."""
        key = word.lower()
        found = self._flags.get(key)
        if found is not None:
            return found
        if "-" not in key:
            return 0
        parts = [self._flags.get(part, 0) for part in key.split("-") if part]
        if not parts:
            return 0
        name = 0
        for part in parts:
            name |= part & NAME
        if not name:
            return WORD if all(p & WORD for p in parts) else 0
        return name | (COMMON_NAME if all(p & (COMMON_NAME | WORD) for p in parts) else 0)


def parse(raw: str) -> NameTable:
    """Reads the shipped file: sections of words, each after a ``#<flags>`` line."""
    table: dict[str, int] = {}
    for section in raw.split("#")[1:]:
        letters, _, words = section.partition("\n")
        table.update(dict.fromkeys(words.split(), sum(_FLAGS[c] for c in letters)))
    return NameTable(table)


@cache
def name_table() -> NameTable:
    data = resources.files("interlock.detect").joinpath("data", "names.tsv.gz").read_bytes()
    return parse(gzip.decompress(data).decode("utf-8"))
