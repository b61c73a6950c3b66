"""Streaming redaction and restoration with a short, bounded hold-back.

The redactor never emits text that could still turn out to be part of a finding. What it holds back is
decided by the detector's :class:`~interlock.detect.holdback.HoldBack`: in plain prose, the longest span
a recognizer without openers can report plus the context window after it, counted from the start of
the trailing partial token (well under a hundred characters); from an opener such as ``://``,
``password`` or ``-----BEGIN``, everything until the match that opener may start is over. A finding
whose right context has not fully arrived is held too, so it is scored as in a whole-text scan.
Already-emitted text stays in the buffer as left context.
"""

from __future__ import annotations

from collections.abc import Container

from interlock.detect.detector import Detector, repeat_values, resolve_overlaps
from interlock.detect.finding import Finding
from interlock.detect.recognizer import WHITESPACE
from interlock.redact.actions import ActionPolicy
from interlock.redact.placeholders import PlaceholderMap
from interlock.redact.redactor import Restorer, check_blocked, redact

_MAX_PLACEHOLDER = 48


class StreamingRedactor:
    """For a model's streamed answer: ``feed`` chunks, emit what it returns, then emit ``flush()`` once at
    the end. A blocked class raises ``DataBlocked`` saying the answer was withheld."""

    def __init__(self, detector: Detector, policy: ActionPolicy, mapping: PlaceholderMap) -> None:
        self._detector = detector
        self._policy = policy
        self._mapping = mapping
        self._hold = detector.hold
        # Held back after the start of the trailing partial token when no opener is open.
        self.hold_back = detector.hold.plain
        self._seen: dict[str, Finding] = {}  # values already redacted earlier in this stream
        # A value of several words seen earlier may come again anywhere, with no digit or opener to
        # announce it; so may a name taken from an e-mail address: then the plain hold applies.
        self._repeats_anywhere = False
        self._buf = ""
        self._emitted = 0  # chars at the start of _buf that are already out, kept as left context

    @property
    def pending(self) -> int:
        """Characters received but not yet emitted."""
        return len(self._buf) - self._emitted

    def feed(self, chunk: str) -> str:
        self._buf += chunk
        short = not self._repeats_anywhere and "@" not in self._buf
        safe, settled = self._hold.release(self._buf, self._emitted, short=short)
        if safe <= self._emitted:
            return ""
        right = self._hold.right
        findings = self._scan(settled - right)
        cut = safe
        for f in findings:
            if f.start < self._emitted:
                continue  # began in text already emitted; _emit covers the rest of it
            if f.start >= cut:
                break
            # Straddles the cut, or its right context is still arriving: hold from its start.
            if f.end > cut or f.end + right > settled:
                cut = f.start
                break
        return self._emit(findings, cut)

    def flush(self) -> str:
        if len(self._buf) <= self._emitted:
            return ""
        findings = self._scan(len(self._buf))
        out = self._emit(findings, len(self._buf))
        self._buf, self._emitted = "", 0
        return out

    def _scan(self, final_before: int) -> list[Finding]:
        """Findings in the buffer. Only unemitted ones ending before ``final_before`` are sure to be
        findings of the whole text too, so only their values repeat at other mentions."""
        found = self._detector.scan_direct(self._buf)
        # Findings in the emitted left context were decided earlier (with more context); those that
        # were redacted are in _seen.
        seeds = [f for f in found if self._emitted <= f.start and f.end <= final_before]
        return resolve_overlaps(repeat_values(self._buf, found, known=self._seen, seeds=seeds))

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
                value = self._buf[base + f.start:base + f.end]
                self._seen.setdefault(value, f)
                if not self._repeats_anywhere and any(c in value for c in WHITESPACE):
                    self._repeats_anywhere = True
        out = redact(self._buf[base:cut], inside, self._policy, self._mapping).text
        keep_from = self._left_edge(cut - self._hold.lookbehind)
        self._buf = self._buf[keep_from:]
        self._emitted = cut - keep_from
        return out

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
