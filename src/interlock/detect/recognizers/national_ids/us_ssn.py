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
        Pattern("US SSN (grouped)", r"\b\d{3}([- .])\d{2}([- .])\d{4}\b", 0.65),
        Pattern("US SSN (bare, needs context)", r"\b\d{9}\b", 0.25),
    )
    context = ("ssn", "ssns", "social security", "social security number", "social security no", "ss", "ss#",
               "taxpayer", "tin", "itin", "soc sec", "social sec")
    negative_context = ("phone", "tel", "order", "routing", "zip")

    def validate(self, value: str, pattern: Pattern) -> float | None:
        """Structural validity raises confidence; it never decides alone. A number the SSA would never
        issue (area 000, 666 or 9xx, group 00, serial 0000, a published example, or mixed separators)
        keeps a low score: not an SSN on its own, but one when labelled or next to SSN words."""
        digits = value.replace("-", "").replace(" ", "").replace(".", "")
        area, group, serial = digits[:3], digits[3:5], digits[5:]
        issued = not (area in ("000", "666") or area[0] == "9" or group == "00" or serial == "0000"
                      or digits in _PUBLISHED_EXAMPLES or len(set(digits)) == 1)
        if len(value) == 11 and value[3] != value[6]:
            issued = False
        if issued:
            return pattern.score
        return 0.3 if len(value) == 11 else 0.2
