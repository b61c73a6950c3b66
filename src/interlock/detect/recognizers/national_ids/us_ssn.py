"""US Social Security Number, with the SSA's structural validity rules."""

from __future__ import annotations

from interlock.detect.recognizer import Pattern, Recognizer

# Numbers the SSA has voided after they were widely published as examples.
_PUBLISHED_EXAMPLES = frozenset({"078051120", "219099999", "123456789"})


class UsSsnRecognizer(Recognizer):
    name = "us_ssn"
    data_class = "pii.national_id"
    max_len = 11
    digit_anchored = True
    patterns = (
        Pattern("US SSN (grouped)", r"\b\d{3}([- ])\d{2}([- ])\d{4}\b", 0.65),
        Pattern("US SSN (bare, needs context)", r"\b\d{9}\b", 0.2),
    )
    context = ("ssn", "social security", "social security number", "ss", "ss#", "taxpayer", "tin",
               "itin")
    negative_context = ("phone", "tel", "order", "routing", "zip")

    def validate(self, value: str, pattern: Pattern) -> float | None:
        if len(value) == 11 and value[3] != value[6]:
            return None
        digits = value.replace("-", "").replace(" ", "")
        area, group, serial = digits[:3], digits[3:5], digits[5:]
        if area in ("000", "666") or area[0] == "9" or group == "00" or serial == "0000":
            return None
        if digits in _PUBLISHED_EXAMPLES or len(set(digits)) == 1:
            return None
        return pattern.score
