"""Phone numbers: RE2 finds candidates, ``phonenumbers`` decides whether they are real numbers.

``phonenumbers`` uses Python's ``re`` internally, but only on a candidate of at most ``max_len``
characters, so its cost stays bounded per candidate and linear overall.
"""

from __future__ import annotations

import itertools

import phonenumbers

from interlock.detect.recognizer import Pattern, Recognizer


class PhoneRecognizer(Recognizer):
    name = "phone"
    data_class = "pii.phone"
    max_len = 32
    # "+44 ...", "(415) ..." or a digit first.
    digit_anchored, digit_lead = True, 1
    # phonenumbers is by far the costliest validator; it adds at most 0.1 (for separators).
    validate_bonus = 0.1
    patterns = (
        Pattern("international phone", r"\+\d{1,3}[\s.\-]?(?:\(\d{1,4}\)[\s.\-]?)?\d[\d\s.\-]{4,18}\d\b", 0.7),
        Pattern("national phone", r"(?:^|[^+\w])((?:\(\d{2,5}\)[\s.\-]?|\d)[\d\s.\-]{5,18}\d)\b", 0.5, group=1),
    )
    context = ("phone", "telephone", "tel", "mobile", "cell", "call", "fax", "whatsapp", "contact",
               "text me", "ring", "sms")
    negative_context = ("order", "invoice", "isbn", "version", "serial", "ticket", "tracking", "sku",
                        "reference", "ref", "id", "account", "acct", "routing", "iban", "card", "ssn", "timestamp", "build", "po")

    def __init__(self, regions: tuple[str, ...]) -> None:
        super().__init__()
        self._regions = regions

    def validate(self, value: str, pattern: Pattern) -> float | None:
        digits = sum(ch.isdigit() for ch in value)
        if digits < 7 or digits > 15:
            return None
        groups = sum(1 for a, b in itertools.pairwise(value) if a.isdigit() and not b.isdigit())
        if groups > 5 or _looks_like_date_or_time(value):
            return None
        regions: tuple[str | None, ...] = (None,) if value.startswith("+") else self._regions
        for region in regions:
            try:
                number = phonenumbers.parse(value, region)
            except phonenumbers.NumberParseException:
                continue
            if phonenumbers.is_valid_number(number):
                # Separators in phone-shaped groups make a bare digit run much more believable.
                grouped = any(ch in value for ch in " .-()")
                return pattern.score + (0.1 if grouped else -0.1)
        return None


def _looks_like_date_or_time(value: str) -> bool:
    parts = [p for p in value.replace("/", "-").replace(".", "-").split("-") if p]
    if len(parts) == 3 and all(p.strip().isdigit() for p in parts):
        a, b, c = (len(p.strip()) for p in parts)
        if (a == 4 and b <= 2 and c <= 2) or (a <= 2 and b <= 2 and c in (2, 4)):
            return True
    return False
