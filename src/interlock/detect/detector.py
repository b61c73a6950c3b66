"""The detector: every recognizer, built once from the configuration, run over one text."""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from operator import attrgetter
from typing import Any

import re2

from interlock.detect.config import DetectionConfig
from interlock.detect.finding import Finding
from interlock.detect.holdback import HoldBack
from interlock.detect.ner import NerBackend, build_ner
from interlock.detect.normalize import Normalized, Normalizer
from interlock.detect.recognizer import Recognizer, ScanText, compile_re2, overlapping_starts
from interlock.detect.recognizers import build_recognizers
from interlock.detect.recognizers.names import names_from_email_locals

_ESCAPED_LETTER = re.compile(r"\\[nrtfbv]")
# Surrogate code points: a JSON string may carry one ("\\ud800"), but it has no UTF-8 form for RE2.
_SURROGATE = re.compile("[\ud800-\udfff]")


def _blank_escape(match: re.Match[str]) -> str:
    return "\\ "


class Detector:
    """Immutable after construction; :meth:`scan` is safe to call from many tasks at once."""

    def __init__(self, config: DetectionConfig | None = None, *, ner: NerBackend | None = None) -> None:
        self.config = config or DetectionConfig()
        self._recognizers: tuple[Recognizer, ...] = tuple(build_recognizers(self.config))
        self._ner = ner if ner is not None else build_ner(self.config.ner_backend)
        self._allow = frozenset(" ".join(v.split()).casefold() for v in self.config.allow_list)
        self.max_match_len = max(r.max_len for r in self._recognizers)
        self.context_window = self.config.context_window
        # What a streaming redactor must hold back; raises if a recognizer would make that long.
        self.hold = HoldBack(self._recognizers, self.context_window, self.config.max_plain_len,
                             exact=self._ner is None)
        self._prefilter, self._owners, self._always = _build_prefilter(self._recognizers)
        self._always_order = tuple(sorted(self._always))
        self._normalizer = Normalizer()

    @property
    def recognizers(self) -> tuple[Recognizer, ...]:
        return self._recognizers

    def scan(self, text: str, *, backward: bool = True) -> list[Finding]:
        """Non-overlapping findings sorted by position; on overlap the most confident (then longest) wins.

        A value found anywhere is also found at its other mentions. ``backward=False`` limits that to
        mentions after the one found (and names to after the e-mail address they repeat): what a
        stream can do, since an earlier mention may already be out.
        """
        found = self.scan_direct(text, backward=backward)
        repeated = repeat_values(text, found, forward_only=not backward)
        # ``scan_direct``'s findings are already resolved and in order: only added mentions need resolving.
        return found if repeated is found else resolve_overlaps(repeated)

    def scan_direct(self, text: str, *, backward: bool = True) -> list[Finding]:
        """Like :meth:`scan`, without repeating found values at their other mentions."""
        if not text:
            return []
        if "\\" in text:
            # In JSON strings and code, "\nAKIA..." is a newline then a key: the escape's letter must not
            # glue onto the value. Blanking it keeps every offset, so spans still index the original text.
            text = _ESCAPED_LETTER.sub(_blank_escape, text)
        normalized: Normalized | None = None
        if not text.isascii():
            if _SURROGATE.search(text):
                # Scanned as U+FFFD, one character for one, so every offset still indexes the original text.
                text = _SURROGATE.sub("\ufffd", text)
            # Fullwidth forms, invisible characters and the like: the recognizers see the plain value,
            # and every span is mapped back to the original text at the end.
            normalized = self._normalizer.normalize(text)
            if normalized is not None:
                text = normalized.text
        scan = ScanText.of(text, self.config.context_window)
        candidates: list[Finding] = []
        hits: dict[int, set[int]] = {}
        if self._prefilter is not None:
            # The set searches UTF-8 bytes: ASCII text is passed as the bytes the scan already holds.
            subject = scan.ascii_bytes or scan.utf8 or text
            for global_index in self._prefilter.Match(subject) or ():
                owner, local = self._owners[global_index]
                hits.setdefault(owner, set()).add(local)
        floor = self.config.min_confidence
        # The recognizers that always run and those with a pattern the prefilter saw, in their order (the
        # order of candidates decides ties in ``resolve_overlaps``); ``hits.get`` is None for the former.
        for index in sorted(self._always.union(hits)) if hits else self._always_order:
            candidates.extend(self._recognizers[index].scan(scan, hits.get(index), floor))
        emails = [f for f in candidates if f.data_class == "pii.email"]
        if emails:
            candidates.extend(names_from_email_locals(text, emails, forward_only=not backward,
                                                      lowered=scan.lowered))
        if self._ner is not None:
            candidates.extend(self._ner.entities(text))
        found = resolve_overlaps(self._keep(text, candidates))
        if normalized is None:
            return found
        return [_mapped(f, normalized) for f in found]

    def assemble(self, text: str, parts: list[Finding]) -> list[Finding]:
        """:meth:`scan` of ``text`` from the :meth:`scan_direct` findings of its segments (see
        ``detect.parallel``): what needs the whole text is done here, and overlaps across seams resolved."""
        emails = [f for f in parts if f.data_class == "pii.email"]
        if emails:
            parts = parts + self._keep(text, names_from_email_locals(text, emails))
        # Each segment resolved the overlaps it could see; those across a seam are resolved with the rest.
        return resolve_overlaps(repeat_values(text, parts))

    def _keep(self, text: str, candidates: Iterable[Finding]) -> list[Finding]:
        floor = self.config.min_confidence
        allow = self._allow
        kept = []
        for f in candidates:
            if f.confidence < floor:
                continue
            if allow and " ".join(text[f.start:f.end].split()).casefold() in allow:
                continue
            kept.append(f)
        return kept


def _mapped(finding: Finding, normalized: Normalized) -> Finding:
    start, end = normalized.span(finding.start, finding.end)
    return Finding(finding.data_class, start, end, finding.confidence, finding.detector, finding.explanation)


def _build_prefilter(recognizers: tuple[Recognizer, ...]) -> tuple[Any, list[tuple[int, int]], frozenset[int]]:
    """One RE2 set over every plain pattern: a single pass says which patterns can match at all, so the
    per-pattern passes run only where they will find something."""
    options = re2.Options()
    options.max_mem = 256 << 20
    options.log_errors = False
    prefilter = re2.Set.SearchSet(options)
    owners: list[tuple[int, int]] = []
    always: set[int] = set()
    for index, recognizer in enumerate(recognizers):
        patterns = recognizer.set_patterns()
        if patterns is None:
            always.add(index)
            continue
        for local, pattern in enumerate(patterns):
            if prefilter.Add(pattern) != len(owners):
                raise ValueError(f"pattern {local} of recognizer {recognizer.name} is not valid in an RE2 set")
            owners.append((index, local))
    if not owners:
        return None, owners, frozenset(always)
    prefilter.Compile()
    return prefilter, owners, frozenset(always)


def repeat_values(text: str, findings: list[Finding], max_values: int = 256,
                  known: dict[str, Finding] | None = None, *, forward_only: bool = False,
                  seeds: list[Finding] | None = None) -> list[Finding]:
    """Once a value is found anywhere, every other whole-word occurrence of it is found too.

    Context can differ between two mentions of the same value; redacting one and leaking the other
    would defeat the first. ``known`` values come from before ``text`` and repeat anywhere in it; with
    ``forward_only`` a value found in ``text`` repeats only after it. ``seeds`` (default: ``findings``)
    are the findings whose values repeat.
    """
    first: dict[str, Finding] = dict(known) if known else {}
    earlier = frozenset(first)
    for f in findings if seeds is None else seeds:
        if f.end - f.start >= 4:
            first.setdefault(text[f.start:f.end], f)
    if not first:
        return findings
    extra: list[Finding] = []
    size = len(text)
    # A mention that a finding of its own already covers whole keeps that finding: repeating a shorter
    # value inside it ("+1 202 555 0147" inside "+1 202 555 0147 42") would make the whole-text result
    # depend on whether the shorter value came first, which a stream cannot know.
    covered = bytearray(size)
    for f in findings:
        covered[f.start:f.end] = b"\x01" * (f.end - f.start)
    chosen = list(first.items())[:max_values]
    mentions = _mentions(text, [value for value, _ in chosen]) \
        if size >= _ONE_PASS_CHARS and len(chosen) >= _ONE_PASS_VALUES else None
    for value, seed in chosen:
        for pos in mentions[value] if mentions is not None else _finds(text, value):
            end = pos + len(value)
            wanted = value in earlier or (pos > seed.start if forward_only else pos != seed.start)
            if wanted and covered.find(0, pos, end) != -1 and (pos == 0 or not text[pos - 1].isalnum()) and (
                    end == size or not text[end].isalnum()):
                extra.append(Finding(seed.data_class, pos, end, seed.confidence - 0.001, seed.detector,
                                     "repeats a value detected elsewhere in the text"))
    return findings + extra if extra else findings


# From this size and this many values on, the mentions of all values are found in one pass over the text
# (about 8 ms per MB) rather than one pass per value (0.3 ms per MB each, 0.08 s for 256 values); below
# them, compiling that pass and its per-mention work cost more.
_ONE_PASS_CHARS = 1 << 16
_ONE_PASS_VALUES = 32


def _finds(text: str, value: str) -> Iterator[int]:
    """Where ``value`` occurs in ``text``, left to right, each mention after the end of the one before."""
    pos = text.find(value)
    while pos != -1:
        yield pos
        pos = text.find(value, pos + len(value))


def _mentions(text: str, values: list[str]) -> dict[str, list[int]] | None:
    """:func:`_finds` for every value at once (``None`` where that pass is not available: text that is not
    ASCII). One RE2 pass finds every position where some value starts, taking the longest value there;
    the values that start there too are its prefixes. Each value then keeps its mentions from left to
    right that start after the end of the one before, as :func:`_finds` does."""
    if not values or not text.isascii():
        return None
    # Longest first: at a position where several values start, the first alternative that matches (RE2's
    # leftmost-first choice, which unlike leftmost-longest can stop at the match) is the longest.
    ordered = sorted(set(values), key=len, reverse=True)
    starts = overlapping_starts(compile_re2("|".join(map(re.escape, ordered))), text.encode("ascii"))
    if starts is None:
        return None
    # The other values that are prefixes of each value (so start wherever it does).
    known = set(ordered)
    lengths = sorted({len(v) for v in ordered})
    prefixes = {v: [v[:n] for n in lengths if n < len(v) and v[:n] in known] for v in ordered}
    positions: dict[str, list[int]] = {v: [] for v in values}
    for start, end in starts:
        longest = text[start:end]
        positions[longest].append(start)
        for shorter in prefixes[longest]:
            positions[shorter].append(start)
    mentions: dict[str, list[int]] = {}
    for value, found in positions.items():
        kept, free = [], 0
        for pos in sorted(found):
            if pos >= free:
                kept.append(pos)
                free = pos + len(value)
        mentions[value] = kept
    return mentions


_NAME, _ADDRESS = "pii.name", "pii.address"
_START = attrgetter("start")


def resolve_overlaps(candidates: list[Finding]) -> list[Finding]:
    """The most confident (then longest, then first) findings that overlap no better one, by position.

    Taken characters are marked in a byte map, so each candidate costs its own length: linear in the
    input. (Sorted lists with insertion were quadratic: 0.9 s of a 1 MB dense scan went to moving
    list items.)"""
    if len(candidates) < 2:
        return list(candidates)
    # Most texts have a few findings and none overlapping: then every one stands, in order of position.
    by_start = sorted(candidates, key=_START)
    reach = 0
    for f in by_start:
        if f.start < reach or f.end <= f.start:
            break
        reach = f.end
    else:
        return by_start
    addresses = [f for f in candidates if f.data_class == _ADDRESS]
    if addresses and any(f.data_class == _NAME for f in candidates):
        # Streets and towns are named after people ("Kennedy Laneway", "Den Haag"): a name that overlaps
        # an address is part of it, and the address, not the name, is the finding.
        in_address = bytearray(max(f.end for f in candidates))
        for f in addresses:
            in_address[f.start:f.end] = b"\x01" * (f.end - f.start)
        candidates = [f for f in candidates
                      if f.data_class != _NAME or in_address.find(1, f.start, f.end) == -1]
    ordered = sorted(candidates, key=lambda f: (-f.confidence, -(f.end - f.start), f.start))
    taken = bytearray(max((f.end for f in candidates), default=0))
    chosen: list[Finding] = []
    for f in ordered:
        if f.end <= f.start or taken.find(1, f.start, f.end) != -1:
            continue
        taken[f.start:f.end] = b"\x01" * (f.end - f.start)
        chosen.append(f)
    chosen.sort(key=lambda f: f.start)
    return chosen
