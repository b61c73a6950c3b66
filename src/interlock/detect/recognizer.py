"""The recognizer contract: mostly data (patterns, context words, keywords) plus a ``validate`` hook.

A recognizer is built once; :meth:`Recognizer.scan` only runs precompiled RE2 programs, so matching
is linear in the input whatever the input is.
"""

from __future__ import annotations

import importlib
import re
from collections.abc import Container, Iterator
from dataclasses import dataclass, field
from typing import Any

import re2

from interlock.detect.context import ContextWords, column_header, fold_ascii, window_tokens
from interlock.detect.finding import Finding

CONTEXT_BOOST = 0.3
NEGATIVE_PENALTY = 0.45
# The characters RE2's ``\s`` matches. Streaming treats runs of anything else as tokens.
WHITESPACE = " \t\n\r\f"

_sre_parser: Any = importlib.import_module("re._parser")


# RE2's memory budget per pattern: the compiled program and the lazily built DFA share it. A DFA state holds
# a list of program positions, so a large program (a street pattern with thousands of alternatives) needs
# a larger budget: with too little, RE2 keeps emptying the DFA's cache and then falls back to its NFA for
# the whole search, about a hundred times slower (0.11 s instead of 1 ms per MB of dense text). The budget
# is an upper bound, not an allocation: memory is taken only as DFA states are built.
REGEX_MEMORY = 64 << 20
REGEX_MEMORY_PER_INSTRUCTION = 1024


def compile_re2(pattern: str, *, case_insensitive: bool = False, longest_match: bool = False) -> re2._Regexp:
    options = re2.Options()
    options.case_sensitive = not case_insensitive
    options.longest_match = longest_match
    options.max_mem = REGEX_MEMORY
    options.log_errors = False
    regex = re2.compile(pattern, options)
    program: Any = getattr(regex, "_regexp", None)
    size: int = program.ProgramSize() if callable(getattr(program, "ProgramSize", None)) else 0
    if size * REGEX_MEMORY_PER_INSTRUCTION > REGEX_MEMORY:
        options.max_mem = size * REGEX_MEMORY_PER_INSTRUCTION
        regex = re2.compile(pattern, options)
    return regex


# Fast path. The ``re2`` module's Python layer costs several microseconds per match on top of the
# RE2 search itself: every call re-encodes the whole text to UTF-8, converts the byte offsets of each
# match to character offsets and builds a match object. In ASCII text (nearly every prompt) a byte
# offset is a character offset, so :class:`Matcher` searches the text encoded once per scan
# (``ScanText.ascii_bytes``) with the compiled RE2 program directly, stepping from match to match exactly
# as ``finditer`` does. Other text goes through ``finditer``, as it always has. The wrapper's private
# program (``_Regexp._regexp``) is used only if this version of it has the shape relied on here;
# otherwise every search goes through ``finditer``.
_UNANCHORED: Any = getattr(getattr(getattr(getattr(re2, "_re2", None), "RE2", None), "Anchor", None),
                           "UNANCHORED", None)


def _program(regex: re2._Regexp) -> Any:
    """The compiled RE2 program behind ``regex``, or ``None`` if it cannot be searched directly."""
    program: Any = getattr(regex, "_regexp", None)
    if _UNANCHORED is None or not callable(getattr(program, "Match", None)):
        return None
    try:
        found = program.Match(_UNANCHORED, b"", 0, 0)
    except Exception:
        return None
    return program if isinstance(found, list | tuple) and len(found) == regex.groups + 1 else None


_NATIVE: Any = getattr(re2, "_re2", None)
_BYTES_TO_CHARS: Any = getattr(_NATIVE, "BytesToCharLen", None)
_CHARS_TO_BYTES: Any = getattr(_NATIVE, "CharLenToBytes", None)


def _utf8_spans(program: Any, data: bytes, group: int) -> Iterator[tuple[int, int]]:
    """``Matcher.spans`` over UTF-8 text: the program searches the bytes encoded once per scan, and byte
    offsets become character offsets by counting only the characters since the previous match."""
    pos, end = 0, len(data)
    last_byte = last_char = 0
    while True:
        spans = program.Match(_UNANCHORED, data, pos, end)
        whole = spans[0]
        if whole[0] == -1:
            return
        span = spans[group] if group >= 0 else _first_taking_part(spans)
        if span[0] == -1:
            yield _NO_SPAN
        else:
            if span[0] < last_byte:
                last_byte = last_char = 0
            start = last_char + _BYTES_TO_CHARS(data, last_byte, span[0])
            stop = start + _BYTES_TO_CHARS(data, span[0], span[1])
            last_byte, last_char = span[1], stop
            yield start, stop
        if pos == end:
            return
        # After an empty match, step one character on, as ``finditer`` does.
        pos = pos + _CHARS_TO_BYTES(data, pos, 1) if whole[1] == pos else whole[1]


def overlapping_starts(regex: re2._Regexp, data: bytes, passes: int = 8) -> list[tuple[int, int]] | None:
    """The span of the match of ``regex`` starting at each position of ``data`` where one starts (overlapping
    matches too: the search resumes one byte after each match's start). ``None`` if the compiled program
    cannot be searched directly, or if the searches would read ``data`` more than about ``passes`` times
    over (long matches overlapping each other many times, as in a long run of one repeated word)."""
    program = _program(regex)
    if program is None:
        return None
    found: list[tuple[int, int]] = []
    pos, end = 0, len(data)
    budget = passes * (end + 1024)
    while pos <= end:
        whole = program.Match(_UNANCHORED, data, pos, end)[0]
        if whole[0] == -1:
            break
        found.append(whole)
        budget -= whole[1] - pos
        if budget < 0:
            return None
        pos = whole[0] + 1
    return found


class Matcher:
    """A compiled RE2 pattern and the capture group it reports.

    ``group``: the group whose span is reported; -1 for the first capture group that took part in
    the match (matches where none did are reported as ``(-1, -1)``, for the caller to skip).
    """

    __slots__ = ("_groups", "_program", "group", "regex")

    def __init__(self, regex: re2._Regexp, group: int = 0) -> None:
        self.regex = regex
        self.group = group
        self._groups: int = regex.groups
        self._program = _program(regex)

    def spans(self, scan: ScanText) -> Iterator[tuple[int, int]]:
        """The span of ``group`` in each successive match in ``scan.text``, as ``finditer`` finds them."""
        data = scan.ascii_bytes
        program = self._program
        if data is None and program is not None and scan.utf8 is not None:
            yield from _utf8_spans(program, scan.utf8, self.group)
            return
        if data is None or program is None:
            group, groups = self.group, self._groups
            for match in self.regex.finditer(scan.text):
                yield match.span(group) if group >= 0 else _first_taking_part(
                    [match.span(i) for i in range(groups + 1)])
            return
        group = self.group
        pos, end = 0, len(data)
        while True:
            spans = program.Match(_UNANCHORED, data, pos, end)
            whole = spans[0]
            if whole[0] == -1:
                return
            yield spans[group] if group >= 0 else _first_taking_part(spans)
            if pos == end:
                return
            # After an empty match, step one character on, as ``finditer`` does.
            pos = pos + 1 if whole[1] == pos else whole[1]


_BOUNDED = re.compile(r"(?<!\\)\{(\d+),(\d+)\}")


def relax_bounds(pattern: str) -> str:
    """Drop upper repetition bounds: the result matches a superset and compiles far smaller in an RE2 set.

    Applied to our own pattern source at construction, never to scanned text.
    """
    return _BOUNDED.sub(lambda m: "{" + m.group(1) + ",}" if int(m.group(2)) > 4 else m.group(0), pattern)


def pattern_width(regex: str) -> int | None:
    """The most characters ``regex`` can match, or ``None`` if unbounded (or not understood).

    Python's regular-expression parser reads RE2 syntax well enough for this; it only parses our
    own pattern source at construction and never runs it.
    """
    try:
        width: int = _sre_parser.parse(regex).getwidth()[1]
    except Exception:
        return None
    return None if width >= _sre_parser.MAXREPEAT - 1 else width


@dataclass(frozen=True, slots=True)
class Opener:
    """What must appear at or near the start of a match, so streaming can hold text back from it.

    ``pattern`` is a short RE2 pattern (at most ``MAX_OPENER_WIDTH`` characters; no anchors or ``\\b``,
    as it is searched in a slice of the text), found case-insensitively unless ``case_insensitive`` is
    false. Every reported span of the recognizer (for the patterns this opener covers) must have an
    opener match starting at most ``lead`` characters after the span's start, and must end at most
    ``reach`` characters after that opener's start (``None``: the widest match of the recognizer's
    patterns). ``gaps`` is how many runs of whitespace
    a match can contain after the opener's end (``None``: any number); once one more has started, the
    match is over.
    """

    pattern: str
    lead: int = 0
    gaps: int | None = None
    reach: int | None = None
    case_insensitive: bool = True
    # While a match of this opener is still arriving, what of it can stand before the trailing partial
    # token (and so could be emitted too early)? ``None``: unknown, so streaming holds the opener's width
    # plus ``lead`` before that token, always. ``""``: nothing of any span it covers (the opener has no
    # whitespace and its lead lies in the same token, or spans start only at its last character). A
    # pattern: RE2 that matches, at the very end of the text, the arrived part of an unfinished opener
    # (from where a span may start): text is held from there (less ``lead``) only when it matches.
    pending: str | None = None
    # ``pending`` is tried where the text ends and where its trailing partial token starts. True: only where
    # the text ends, for a form that ends in whitespace and is over once any other word begins (a word that
    # may be an e-mail address's local part, held only until the word after it shows it is not).
    pending_at_end: bool = False
    # How far before where ``pending`` matches a span may start (``None``: ``lead``): 0 for a form that
    # takes in what may stand before the opener itself ("No. 12 ").
    pending_lead: int | None = None


MAX_OPENER_WIDTH = 48


@dataclass(frozen=True, slots=True)
class Pattern:
    """One RE2 pattern. ``group`` picks the capture group that is the sensitive value."""

    name: str
    regex: str
    score: float
    group: int = 0  # -1: the first capture group that took part in the match
    data_class: str | None = None


def lower_in_place(text: str) -> str:
    """``text.lower()`` with every character at its own index: a character whose lower case is longer
    (\u0130, "I" with a dot, becomes two) is kept as it is, so offsets found in the result fit ``text``."""
    lowered = text.lower()
    if len(lowered) == len(text):
        return lowered
    return "".join(low if len(low := ch.lower()) == 1 else ch for ch in text)


@dataclass(frozen=True, slots=True)
class ScanText:
    """The text being scanned plus what every recognizer may want from it, computed once.

    ``ascii_bytes``: the text as bytes when it is all ASCII (else ``None``), for :class:`Matcher`'s fast path.
    """

    text: str
    lowered: str
    context_window: int
    ascii_bytes: bytes | None = None
    # Other text encoded once, for the same fast path with byte offsets counted back to characters.
    utf8: bytes | None = None
    # Header cells of delimited rows, looked up once per row and column (see ``context.column_header``).
    headers: dict[Any, Any] = field(default_factory=dict)
    # ASCII text folded once for every context window (``context.fold_ascii``), else ``None``.
    folded: str | None = None

    @classmethod
    def of(cls, text: str, context_window: int) -> ScanText:
        if text.isascii():
            data = text.encode("ascii")
            return cls(text, text.lower(), context_window, data, folded=fold_ascii(data))
        utf8 = text.encode("utf-8") if _BYTES_TO_CHARS is not None and _CHARS_TO_BYTES is not None else None
        return cls(text, lower_in_place(text), context_window, None, utf8)


class Recognizer:
    """Base class. Subclasses set the class attributes and optionally override :meth:`validate`.

    ``keywords`` is a cheap pre-check: when set, the recognizer runs only if one of these lower-case
    substrings occurs in the text. ``max_len`` bounds the length of anything it can report.

    Streaming (see ``interlock.detect.holdback``): a recognizer without ``openers`` must have a small
    ``max_len`` (at most ``DetectionConfig.max_plain_len``), because the streaming redactor holds that
    much back after every word unless it is ``digit_anchored``, declares an ``anchor`` or overrides
    :meth:`stream_start` (then only from a digit or a possible start); or set ``single_token`` if what it
    reports never contains whitespace. Longer recognizers declare ``openers`` and text is held back only from an
    opener until the match is over.
    ``lookbehind`` and ``lookahead`` bound how far before and after a reported span its patterns read.
    """

    name: str
    data_class: str
    patterns: tuple[Pattern, ...] = ()
    context: tuple[str, ...] = ()
    negative_context: tuple[str, ...] = ()
    keywords: tuple[str, ...] = ()
    context_required: bool = False
    case_insensitive: bool = False
    # Leftmost-longest matching: for patterns whose optional tails (a postcode line after a street) must
    # be taken whenever they fit, not only when the greedy choices before them leave room.
    longest_match: bool = False
    max_len: int = 128
    openers: tuple[Opener, ...] = ()
    single_token: bool = False
    lookbehind: int = 1
    lookahead: int = 2
    # Words that, directly before a match, mean it is something else ("version 1.2.3.4").
    rejected_after: frozenset[str] = frozenset()
    # Streaming, for recognizers without openers: every reported span contains a digit at most
    # ``digit_lead`` characters after its start, and the part before that digit contains whitespace only
    # if it is at most ``digit_gap`` characters long (0: never). Text far from any digit is then released
    # without waiting for the recognizer's whole ``max_len`` and context window.
    digit_anchored: bool = False
    digit_lead: int = 0
    digit_gap: int = 0
    # With ``digit_gap``: an RE2 pattern that matches, at the very end of the text, the part of a span that
    # may stand before its first digit and contain whitespace ("September "), from where the span starts.
    # Streaming then holds that part only when it is there; ``None``: ``digit_gap`` characters are held
    # before every trailing partial token.
    digit_pending: str | None = None
    # Streaming, for other recognizers without openers: every reported span starts where this RE2 pattern
    # matches (no whitespace in it, no anchors or ``\b``: it is searched in a slice of the text, with the
    # recognizer's ``case_insensitive``). Text before the first match in the last ``max_len`` plus context
    # window characters is released at once. A dictionary of names declares its names' first words here.
    anchor: str | None = None
    # For a costly ``validate``: the most it can add to a pattern's score. The context around a
    # candidate is then judged first, and a candidate that could not reach the detector's floor even
    # so is not validated at all (the result is the same; only the work is saved). ``None``: validate
    # every candidate.
    validate_bonus: float | None = None

    def __init__(self) -> None:
        self._compiled = tuple(
            (p, Matcher(compile_re2(p.regex, case_insensitive=self.case_insensitive,
                                    longest_match=self.longest_match), p.group))
            for p in self.patterns
        )
        self._context = ContextWords(self.context)
        self._negative = ContextWords(self.negative_context)

    def widest_match(self) -> int | None:
        """The most characters any of the patterns can match, or ``None`` if one is unbounded."""
        widths = [pattern_width(p.regex) for p, _ in self._compiled]
        if not widths or any(w is None for w in widths):
            return None
        return max(w for w in widths if w is not None)

    def stream_start(self, text: str, lo: int) -> int | None:
        """Streaming, for a recognizer without openers: the first position at or after ``lo`` where one of
        its spans may start in ``text`` (whose end is still arriving; its last partial word is held
        anyway), or ``None`` if there is none. Override it (e.g. with a dictionary of names) to hold text
        back only from such a position; otherwise ``anchor`` or the plain hold applies."""
        raise NotImplementedError

    def uses_context(self) -> bool:
        return bool(self._context or self._negative)

    def validate(self, value: str, pattern: Pattern) -> float | None:
        """Return the confidence for ``value`` (a checksum may raise or lower it) or ``None`` to reject."""
        return pattern.score

    def applies(self, scan: ScanText) -> bool:
        # ``map`` over the bound ``__contains__`` is ``k in scan.lowered`` without a generator frame.
        return not self.keywords or any(map(scan.lowered.__contains__, self.keywords))

    def set_patterns(self) -> tuple[str, ...] | None:
        """Patterns for the detector's one-pass prefilter, or ``None`` if this recognizer must always run."""
        if type(self).scan is not Recognizer.scan:
            return None
        flag = "(?i)" if self.case_insensitive else ""
        return tuple(f"{flag}{relax_bounds(p.regex)}" for p, _ in self._compiled)

    def candidates(self, scan: ScanText, hits: Container[int] | None) -> Iterator[tuple[Pattern, int, int]]:
        """Each match ``(pattern, start, end)`` of the patterns that may match at all (``hits``: the indices
        the prefilter saw; ``None``: unknown, so all), pattern by pattern, in text order within each."""
        for index, (pattern, matcher) in enumerate(self._compiled):
            if hits is not None and index not in hits:
                continue
            for start, end in matcher.spans(scan):
                yield pattern, start, end

    def scan(self, scan: ScanText, hits: Container[int] | None = None, floor: float = 0.0) -> list[Finding]:
        """``hits``: indices of this recognizer's patterns known to match somewhere (``None``: unknown).
        ``floor``: the confidence below which the caller drops a finding anyway."""
        if not self.applies(scan):
            return []
        found: list[Finding] = []
        text = scan.text
        # With a costly validator, the context is judged first (see ``validate_bonus``).
        ceiling = self.validate_bonus if floor > 0.0 else None
        for pattern, start, end in self.candidates(scan, hits):
            if start < 0 or end - start > self.max_len or end == start:
                continue
            if ceiling is not None:
                context = self.context_effect(scan, start, end)
                if context is None or adjusted_score(pattern.score + ceiling, context) < floor:
                    continue
                score = self.validate(text[start:end], pattern)
            else:
                score = self.validate(text[start:end], pattern)
                context = self.context_effect(scan, start, end) if score is not None else None
            if score is None or context is None:
                continue
            found.append(Finding(pattern.data_class or self.data_class, start, end,
                                 round(adjusted_score(score, context), 3), self.name, pattern.name + context[2]))
        return found

    def context_effect(self, scan: ScanText, start: int, end: int) -> tuple[bool, bool, str] | None:
        """What the words around a span do to its score: (boosted, penalised, explanation suffix), or
        ``None`` if they rule it out."""
        if not (self._context or self._negative or self.rejected_after):
            return _NO_CONTEXT
        left, right = window_tokens(scan.text, start, end, scan.context_window, scan.folded)
        if left and left[-1] in self.rejected_after:
            return None
        around = [*left, "\x00", *right]
        hit = self._context.first_hit(around)  # None for an empty set of words, as for no hit
        if hit is None and self._context:
            # A value in a delimited row is labelled by its column's header ("ssn;birth_date" above it).
            header = column_header(scan.text, start, scan.headers)
            if header:
                left = [*left, *header]
                hit = self._context.first_hit(header)
        if hit is None and self.context_required:
            return None
        miss = self._negative.first_hit(around)
        if hit is None and miss is None:
            return _NO_CONTEXT
        if hit is not None and miss is not None:
            # The nearest label decides: "ssn": "..." before "phone": "..." is an SSN.
            near = self._context.distance(left, right)
            far = self._negative.distance(left, right)
            if near is not None and far is not None and near < far:
                miss = None
        note = (f"; context '{hit}'" if hit is not None else "") + \
            (f"; counter-context '{miss}'" if miss is not None else "")
        return hit is not None, miss is not None, note


_NO_CONTEXT = (False, False, "")
_NO_SPAN = (-1, -1)


def adjusted_score(score: float, context: tuple[bool, bool, str]) -> float:
    """A score after its context: monotonic in ``score``, so a ceiling stays a ceiling."""
    boosted, penalised, _ = context
    if boosted:
        score = min(1.0, score + CONTEXT_BOOST)
    if penalised:
        score -= NEGATIVE_PENALTY
    return score


# The name it had while private; code written against it keeps working.
_adjusted = adjusted_score


def _first_taking_part(spans: list[tuple[int, int]]) -> tuple[int, int]:
    """The span of the first capture group that took part in a match, given all its spans (whole
    match first); ``(-1, -1)`` if none did."""
    for span in spans[1:]:
        if span[0] >= 0:
            return span
    return _NO_SPAN
