"""Deployment-defined patterns, each with optional context words and checksum."""

from __future__ import annotations

import re2

from interlock.detect.checksums import CHECKSUMS
from interlock.detect.config import CustomPattern
from interlock.detect.context import ContextWords
from interlock.detect.recognizer import Matcher, Opener, Pattern, Recognizer, compile_re2, pattern_width


class CustomPatternRecognizer(Recognizer):
    data_class = "custom.pattern"

    def __init__(self, spec: CustomPattern, index: int) -> None:
        self.name = f"custom:{spec.data_class}#{index}"
        self.data_class = spec.data_class
        # A pattern that cannot match max_len characters does not need that much streaming hold-back.
        width = pattern_width(spec.pattern)
        self.max_len = min(spec.max_len, width) if width else spec.max_len
        self.lookbehind = width or 64
        if spec.openers:
            alternatives = "|".join(re2.escape(o) for o in spec.openers)
            # Openers without whitespace are whole inside one token until they are complete.
            inline = not any(c.isspace() for o in spec.openers for c in o)
            self.openers = (Opener(alternatives, reach=self.max_len, pending="" if inline else None),)
        self.context_required = spec.context_required
        self._pattern = Pattern(f"custom pattern #{index}", spec.pattern, spec.confidence, group=spec.group)
        try:
            regex = compile_re2(spec.pattern)
        except Exception as exc:
            raise ValueError(f"custom pattern for {spec.data_class} is not valid RE2 syntax: {exc}") from exc
        if spec.group > regex.groups:
            raise ValueError(f"custom pattern for {spec.data_class} has no capture group {spec.group}")
        self._compiled = ((self._pattern, Matcher(regex, spec.group)),)
        self._context = ContextWords(spec.context)
        self._negative = ContextWords(())
        self._checksum = CHECKSUMS[spec.checksum] if spec.checksum else None

    def validate(self, value: str, pattern: Pattern) -> float | None:
        if self._checksum is not None and not self._checksum(value):
            return None
        return pattern.score
