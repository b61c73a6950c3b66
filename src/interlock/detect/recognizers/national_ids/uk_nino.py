"""UK National Insurance number (two prefix letters, six digits, a suffix A-D)."""

from __future__ import annotations

from interlock.detect.recognizer import Pattern, Recognizer

_INVALID_PREFIXES = frozenset({"BG", "GB", "KN", "NK", "NT", "TN", "ZZ"})


class UkNinoRecognizer(Recognizer):
    name = "uk_nino"
    data_class = "pii.national_id"
    max_len = 13
    # "AB 12 34 56 C": two letters and a space before the first digit.
    digit_anchored, digit_lead, digit_gap = True, 3, 3
    digit_pending = r"[A-CEGHJ-PR-TW-Z][A-CEGHJ-NPR-TW-Z] "
    patterns = (
        Pattern(
            "UK NINO",
            r"\b[A-CEGHJ-PR-TW-Z][A-CEGHJ-NPR-TW-Z] ?\d{2} ?\d{2} ?\d{2} ?[A-D]\b",
            0.7,
        ),
    )
    context = ("national insurance", "nino", "ni number", "ni no", "nin")

    def validate(self, value: str, pattern: Pattern) -> float | None:
        if value[:2] in _INVALID_PREFIXES:
            return None
        return pattern.score
