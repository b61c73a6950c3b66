"""The recognizer contract: mostly data (patterns, context words, keywords) plus a ``validate`` hook.

A recognizer is built once; :meth:`Recognizer.scan` only runs precompiled RE2 programs, so matching
is linear in the input whatever the input is.
"""

from __future__ import annotations

import re
from collections.abc import Container
from dataclasses import dataclass
from typing import Any

import re2

from interlock.detect.context import ContextWords, window_tokens
from interlock.detect.finding import Finding

CONTEXT_BOOST = 0.3
NEGATIVE_PENALTY = 0.45


def compile_re2(pattern: str, *, case_insensitive: bool = False) -> re2._Regexp:
    options = re2.Options()
    options.case_sensitive = not case_insensitive
    options.max_mem = 64 << 20
    options.log_errors = False
    return re2.compile(pattern, options)


_BOUNDED = re.compile(r"(?<!\\)\{(\d+),(\d+)\}")


def relax_bounds(pattern: str) -> str:
    """Drop upper repetition bounds: the result matches a superset and compiles far smaller in an RE2 set.

    Applied to our own pattern source at construction, never to scanned text.
    """
    return _BOUNDED.sub(lambda m: "{" + m.group(1) + ",}" if int(m.group(2)) > 4 else m.group(0), pattern)


@dataclass(frozen=True, slots=True)
class Pattern:
    """One RE2 pattern. ``group`` picks the capture group that is the sensitive value."""

    name: str
    regex: str
    score: float
    group: int = 0  # -1: the first capture group that took part in the match
    data_class: str | None = None


@dataclass(frozen=True, slots=True)
class ScanText:
    """The text being scanned plus what every recognizer may want from it, computed once."""

    text: str
    lowered: str
    context_window: int

    @classmethod
    def of(cls, text: str, context_window: int) -> ScanText:
        return cls(text, text.lower(), context_window)


class Recognizer:
    """Base class. Subclasses set the class attributes and optionally override :meth:`validate`.

    ``keywords`` is a cheap pre-check: when set, the recognizer runs only if one of these lower-case
    substrings occurs in the text. ``max_len`` bounds the length of anything it can report; the
    streaming redactor holds back at least that much.
    """

    name: str
    data_class: str
    patterns: tuple[Pattern, ...] = ()
    context: tuple[str, ...] = ()
    negative_context: tuple[str, ...] = ()
    keywords: tuple[str, ...] = ()
    context_required: bool = False
    case_insensitive: bool = False
    max_len: int = 128
    # A literal that starts every match; the streaming redactor holds text back from an unfinished one.
    opener: str | None = None
    # Words that, directly before a match, mean it is something else ("version 1.2.3.4").
    rejected_after: frozenset[str] = frozenset()

    def __init__(self) -> None:
        self._compiled = tuple(
            (p, compile_re2(p.regex, case_insensitive=self.case_insensitive)) for p in self.patterns
        )
        self._context = ContextWords(self.context)
        self._negative = ContextWords(self.negative_context)

    def validate(self, value: str, pattern: Pattern) -> float | None:
        """Return the confidence for ``value`` (a checksum may raise or lower it) or ``None`` to reject."""
        return pattern.score

    def applies(self, scan: ScanText) -> bool:
        return not self.keywords or any(k in scan.lowered for k in self.keywords)

    def set_patterns(self) -> tuple[str, ...] | None:
        """Patterns for the detector's one-pass prefilter, or ``None`` if this recognizer must always run."""
        if type(self).scan is not Recognizer.scan:
            return None
        flag = "(?i)" if self.case_insensitive else ""
        return tuple(f"{flag}{relax_bounds(p.regex)}" for p, _ in self._compiled)

    def scan(self, scan: ScanText, hits: Container[int] | None = None) -> list[Finding]:
        """``hits``: indices of this recognizer's patterns known to match somewhere (``None``: unknown)."""
        if not self.applies(scan):
            return []
        found: list[Finding] = []
        text = scan.text
        for index, (pattern, regex) in enumerate(self._compiled):
            if hits is not None and index not in hits:
                continue
            for match in regex.finditer(text):
                start, end = _span(match, pattern.group, regex.groups)
                if start < 0 or end - start > self.max_len or end == start:
                    continue
                score = self.validate(text[start:end], pattern)
                if score is None:
                    continue
                finding = self.score_context(scan, start, end, score, pattern.name,
                                             pattern.data_class or self.data_class)
                if finding is not None:
                    found.append(finding)
        return found

    def score_context(self, scan: ScanText, start: int, end: int, score: float, rule: str,
                      data_class: str) -> Finding | None:
        explanation = rule
        if self._context or self._negative or self.rejected_after:
            left, right = window_tokens(scan.text, start, end, scan.context_window)
            if left and left[-1] in self.rejected_after:
                return None
            around = [*left, "\x00", *right]
            hit = self._context.first_hit(around) if self._context else None
            if hit is not None:
                score = min(1.0, score + CONTEXT_BOOST)
                explanation += f"; context '{hit}'"
            elif self.context_required:
                return None
            miss = self._negative.first_hit(around) if self._negative else None
            if miss is not None:
                score -= NEGATIVE_PENALTY
                explanation += f"; counter-context '{miss}'"
        return Finding(data_class, start, end, round(score, 3), self.name, explanation)


def _span(match: Any, group: int, groups: int) -> tuple[int, int]:
    if group >= 0:
        return match.span(group)  # type: ignore[no-any-return]
    for index in range(1, groups + 1):
        span: tuple[int, int] = match.span(index)
        if span[0] >= 0:
            return span
    return (-1, -1)
