"""Streaming redaction and restoration that holds back only what may still be part of a finding.

The redactor never emits text that could still turn out to be part of a finding, and emits everything
else at once. What it holds back is decided by the detector's :class:`~interlock.detect.holdback.HoldBack`
from what each recognizer declares: the trailing partial word always (a value may be arriving in it);
from a digit, an anchor or an opener such as ``://``, ``password`` or ``-----BEGIN``, everything until
the match it may start is over and the context window after it has arrived. Plain prose goes out a
word at a time, as it arrives. A finding whose right context has not fully arrived is held too, so it
is scored as in a whole-text scan. A value of several words redacted earlier in the stream, or a name
spelled by an e-mail address, may come again with nothing to announce it: text is held from where
the end of the stream could be the beginning of one. Already-emitted text stays in the buffer as left
context.
"""

from __future__ import annotations

from collections.abc import Container

from interlock.detect.detector import Detector, repeat_values, resolve_overlaps
from interlock.detect.finding import Finding
from interlock.detect.recognizer import WHITESPACE, lower_in_place
from interlock.detect.recognizers.names import email_local_name
from interlock.redact.actions import ActionPolicy
from interlock.redact.placeholders import PlaceholderMap
from interlock.redact.redactor import Restorer, check_blocked, redact

_MAX_PLACEHOLDER = 48
_MAX_WATCHED = 256


class StreamingRedactor:
    """For a model's streamed answer: ``feed`` chunks, emit what it returns, then emit ``flush()`` once at
    the end. A blocked class raises ``DataBlocked`` saying the answer was withheld."""

    def __init__(self, detector: Detector, policy: ActionPolicy, mapping: PlaceholderMap) -> None:
        self._detector = detector
        self._policy = policy
        self._mapping = mapping
        self._hold = detector.hold
        # The most held back after the start of the trailing partial token when no opener is open.
        self.hold_back = detector.hold.plain
        self._seen: dict[str, Finding] = {}  # values already redacted earlier in this stream
        # Values of several words that may come again anywhere, with no digit or opener to announce
        # them: those of findings, and names spelled by e-mail addresses (kept in lower case).
        self._watch: dict[str, bool] = {}  # value -> compared in lower case
        self._buf = ""
        self._emitted = 0  # chars at the start of _buf that are already out, kept as left context

    @property
    def pending(self) -> int:
        """Characters received but not yet emitted."""
        return len(self._buf) - self._emitted

    def feed(self, chunk: str) -> str:
        self._buf += chunk
        safe, settled = self._hold.release(self._buf, self._emitted)
        safe = self._word_start(safe)
        if safe <= self._emitted:
            return ""
        findings = self._scan(settled)
        self._learn(findings)
        cut = self._before_repeat(safe)
        for f in findings:
            if f.start < self._emitted:
                continue  # began in text already emitted; _emit covers the rest of it
            if f.start >= cut:
                break
            # Straddles the cut, or its right context is still arriving: hold from its start.
            if f.end > cut or f.end + self._hold.right_of(f.detector) > settled:
                cut = f.start
                break
        return self._emit(findings, cut)

    def flush(self) -> str:
        if len(self._buf) <= self._emitted:
            return ""
        findings = self._scan(None)
        out = self._emit(findings, len(self._buf))
        self._buf, self._emitted = "", 0
        return out

    def _scan(self, settled: int | None) -> list[Finding]:
        """Findings in the buffer. Only unemitted ones whose right context has arrived before ``settled``
        (all of them at the end of the stream, ``None``) are sure to be findings of the whole text too,
        so only their values repeat at other mentions; they are also the ones that may be emitted."""
        found = self._detector.scan_direct(self._buf)
        # Findings in the emitted left context were decided earlier (with more context); those that
        # were redacted are in _seen.
        right_of = self._hold.right_of
        seeds = [f for f in found if self._emitted <= f.start
                 and (settled is None or f.end + right_of(f.detector) <= settled)]
        found = repeat_values(self._buf, found, known=self._seen, seeds=seeds)
        return resolve_overlaps(found + self._spelled_names())

    def _spelled_names(self) -> list[Finding]:
        """Names spelled by e-mail addresses seen earlier in the stream, which may have left the buffer
        (a whole-text scan finds every mention after the address)."""
        names = [phrase for phrase, folded in self._watch.items() if folded]
        if not names:
            return []
        buf = self._buf
        low = lower_in_place(buf)
        found: list[Finding] = []
        for phrase in names:
            pos = low.find(phrase, self._emitted)
            while pos != -1:
                end = pos + len(phrase)
                if buf[pos].isupper() and (pos == 0 or not buf[pos - 1].isalnum()) and (
                        end == len(buf) or not buf[end].isalnum()):
                    found.append(Finding("pii.name", pos, end, 0.8, "person_name", "repeats an e-mail local part"))
                pos = low.find(phrase, end)
        return found

    def _emit(self, findings: list[Finding], cut: int) -> str:
        base = self._emitted
        if cut <= base:
            return ""
        inside: list[Finding] = []
        for f in findings:
            if f.end <= base:
                continue
            if f.start >= cut:
                break
            # A finding that began in text already emitted cannot be recalled; cover the rest of it.
            start = max(f.start, base)
            inside.append(Finding(f.data_class, start - base, min(f.end, cut) - base, f.confidence,
                                  f.detector, f.explanation))
        check_blocked(inside, self._policy, answer=True)
        for f in inside:
            if f.end - f.start >= 4 and len(self._seen) < 256:
                self._seen.setdefault(self._buf[base + f.start:base + f.end], f)
        out = redact(self._buf[base:cut], inside, self._policy, self._mapping).text
        keep_from = self._left_edge(cut - self._hold.lookbehind)
        self._buf = self._buf[keep_from:]
        self._emitted = cut - keep_from
        return out

    def _word_start(self, safe: int) -> int:
        """``safe``, or the start of the word it falls in: released text ends on a word boundary."""
        buf = self._buf
        if safe <= self._emitted or safe >= len(buf) or buf[safe] in WHITESPACE or buf[safe - 1] in WHITESPACE:
            return safe
        lo = max(0, safe - self._hold.token_cap)
        edge = max(buf.rfind(c, lo, safe) for c in WHITESPACE)
        return max(edge + 1, self._emitted) if edge >= 0 else safe

    def _learn(self, findings: list[Finding]) -> None:
        """Remember the values in ``findings`` that could repeat with nothing to announce them. Findings
        still arriving are included: at worst that holds a few more words back."""
        for f in findings:
            if len(self._watch) >= _MAX_WATCHED:
                return
            value = self._buf[f.start:f.end]
            if f.data_class == "pii.email":
                name = email_local_name(value)
                if name is not None:
                    self._watch.setdefault(name, True)
            if f.end - f.start >= 4 and any(c in value for c in WHITESPACE):
                self._watch.setdefault(value, False)

    def _before_repeat(self, safe: int) -> int:
        """``safe``, or earlier: where the end of the buffer could be the start of a watched value (one
        whose whole arrival, with the character after it, would make it a finding)."""
        if not self._watch:
            return safe
        buf, n = self._buf, len(self._buf)
        longest = max(map(len, self._watch))
        lo = max(self._emitted, n - longest)
        if lo >= safe:
            return safe
        tail = buf[lo:]
        low = lower_in_place(tail)
        for value, folded in self._watch.items():
            text = low if folded else tail
            first = value[0]
            pos = text.find(first, max(0, n - len(value) - lo))
            while pos != -1 and lo + pos < safe:
                p = lo + pos
                if (p == 0 or not buf[p - 1].isalnum()) and value.startswith(text[pos:]):
                    safe = p
                    break
                pos = text.find(first, pos + 1)
        return safe

    def _left_edge(self, pos: int) -> int:
        """Where to cut the buffer's left context: at a whitespace character at or before ``pos``, so no
        pattern sees a word boundary there that the whole text does not have."""
        if pos <= 0:
            return 0
        lo = max(0, pos - self._hold.token_cap)
        edge = max(self._buf.rfind(c, lo, pos + 1) for c in WHITESPACE)
        return edge if edge >= 0 else pos


class StreamingRestorer:
    """Restores placeholders in a stream; a placeholder split across chunks is held until complete."""

    def __init__(self, mapping: PlaceholderMap, allowed_classes: Container[str],
                 restorer: Restorer | None = None) -> None:
        self._mapping = mapping
        self._allowed = allowed_classes
        self._restorer = restorer or Restorer()
        self._buf = ""

    def feed(self, chunk: str) -> str:
        self._buf += chunk
        limit = max(self._mapping.longest_placeholder, _MAX_PLACEHOLDER)
        cut = len(self._buf)
        open_at = self._buf.rfind("[", max(0, cut - limit))
        if open_at != -1 and "]" not in self._buf[open_at:]:
            cut = open_at
        out, self._buf = self._buf[:cut], self._buf[cut:]
        return self._restorer.restore(out, self._mapping, self._allowed) if out else ""

    def flush(self) -> str:
        out, self._buf = self._buf, ""
        return self._restorer.restore(out, self._mapping, self._allowed) if out else ""
