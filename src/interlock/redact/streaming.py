"""Streaming redaction and restoration with a bounded hold-back window.

The redactor never emits text that could still turn out to be part of a finding: it holds back the
longest span a recognizer can match plus the context window, and from an unfinished opener (such as
a PEM ``-----BEGIN``) until that recognizer's longest span has passed. Already-emitted text stays in
the buffer as left context, so confidence is scored exactly as in a whole-text scan.
"""

from __future__ import annotations

from collections.abc import Container

from interlock.detect.detector import Detector, repeat_values, resolve_overlaps
from interlock.detect.finding import Finding
from interlock.redact.actions import ActionPolicy
from interlock.redact.placeholders import PlaceholderMap
from interlock.redact.redactor import Restorer, check_blocked, redact

_MAX_PLACEHOLDER = 48


class StreamingRedactor:
    """``feed`` chunks, emit what it returns, then emit ``flush()`` once at the end."""

    def __init__(self, detector: Detector, policy: ActionPolicy, mapping: PlaceholderMap) -> None:
        self._detector = detector
        self._policy = policy
        self._mapping = mapping
        self._context = detector.context_window
        self.hold_back = detector.max_plain_len + detector.context_window
        self._openers = detector.openers
        self._seen: dict[str, Finding] = {}  # values already redacted earlier in this stream
        self._buf = ""
        self._emitted = 0  # chars at the start of _buf that are already out, kept as left context

    def feed(self, chunk: str) -> str:
        self._buf += chunk
        safe = len(self._buf) - self.hold_back
        if safe <= self._emitted:
            return ""
        safe = self._before_open_opener(safe)
        if safe <= self._emitted:
            return ""
        findings = self._scan()
        cut = safe
        for f in findings:
            if f.start < cut < f.end:
                cut = f.start
                break
            if f.start >= cut:
                break
        return self._emit(findings, cut)

    def flush(self) -> str:
        if len(self._buf) <= self._emitted:
            return ""
        findings = self._scan()
        out = self._emit(findings, len(self._buf))
        self._buf, self._emitted = "", 0
        return out

    def _scan(self) -> list[Finding]:
        findings = self._detector.scan(self._buf)
        if self._seen:
            findings = resolve_overlaps(repeat_values(self._buf, findings, known=self._seen))
        return findings

    def _before_open_opener(self, safe: int) -> int:
        for opener, max_len in self._openers:
            pos = self._buf.find(opener, max(self._emitted, len(self._buf) - max_len - len(opener)))
            if pos != -1 and pos < safe:
                safe = pos
        return safe

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
        check_blocked(inside, self._policy)
        for f in inside:
            if f.end - f.start >= 4 and len(self._seen) < 256:
                self._seen.setdefault(self._buf[base + f.start:base + f.end], f)
        out = redact(self._buf[base:cut], inside, self._policy, self._mapping).text
        keep_from = max(cut - self._context, 0)
        self._buf = self._buf[keep_from:]
        self._emitted = cut - keep_from
        return out


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
