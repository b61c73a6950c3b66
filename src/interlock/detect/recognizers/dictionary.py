"""Deployment dictionaries: thousands of terms matched whole-word in one RE2 pass."""

from __future__ import annotations

from collections.abc import Container, Mapping

import re2

from interlock.detect.finding import Finding
from interlock.detect.recognizer import Matcher, Recognizer, ScanText, compile_re2


class DictionaryRecognizer(Recognizer):
    """All terms of all classes compile into a single case-insensitive alternation.

    RE2 turns the alternation into one automaton, so the cost per character does not grow with the
    number of terms. A term listed under two classes belongs to the first.
    """

    name = "dictionary"
    data_class = "custom.dictionary"

    def __init__(self, dictionaries: Mapping[str, tuple[str, ...]]) -> None:
        super().__init__()
        self._class_of: dict[str, str] = {}
        for data_class, terms in dictionaries.items():
            for term in terms:
                key = " ".join(term.split()).casefold()
                if key:
                    self._class_of.setdefault(key, data_class)
        # Nothing to report without terms; streaming holds back nothing for it then.
        self.max_len = max((len(t) for t in self._class_of), default=0) * 2
        self.case_insensitive = True
        self._matcher = None
        if self._class_of:
            # Every match starts with a term's first word: streaming holds text back only from one of those.
            firsts = sorted({t.split()[0] for t in self._class_of}, key=len, reverse=True)
            self.anchor = "|".join(re2.escape(w) for w in firsts)
            # Longest first, so "Acme Corp Ltd" wins over "Acme" at the same position.
            ordered = sorted(self._class_of, key=len, reverse=True)
            body = "|".join(re2.escape(t).replace(r"\ ", r"\s+") for t in ordered)
            self._matcher = Matcher(compile_re2(rf"(?:^|\b)(?:{body})(?:\b|$)", case_insensitive=True))

    def scan(self, scan: ScanText, hits: Container[int] | None = None, floor: float = 0.0) -> list[Finding]:
        if self._matcher is None:
            return []
        found: list[Finding] = []
        text = scan.text
        for start, end in self._matcher.spans(scan):
            if end - start > self.max_len:
                continue
            value = " ".join(text[start:end].split()).casefold()
            data_class = self._class_of.get(value)
            if data_class is not None:
                found.append(Finding(data_class, start, end, 0.9, self.name, f"dictionary term for {data_class}"))
        return found
