"""Canadian Social Insurance Number: nine digits, Luhn-valid, first digit not 0 or 8."""

from __future__ import annotations

from interlock.detect.checksums import luhn_valid
from interlock.detect.recognizer import Pattern, Recognizer


class CanadaSinRecognizer(Recognizer):
    name = "ca_sin"
    data_class = "pii.national_id"
    max_len = 11
    digit_anchored = True
    context_required = True
    patterns = (Pattern("Canada SIN", r"\b\d{3}[- ]?\d{3}[- ]?\d{3}\b", 0.4),)
    context = ("sin", "social insurance", "social insurance number", "nas")

    def validate(self, value: str, pattern: Pattern) -> float | None:
        digits = "".join(ch for ch in value if ch.isdigit())
        if digits[0] in "08" or not luhn_valid(digits):
            return None
        return pattern.score
