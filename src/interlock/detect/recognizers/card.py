"""Payment card numbers (PAN): 13-19 digits, a known issuer prefix, and a valid Luhn check digit."""

from __future__ import annotations

from interlock.detect.checksums import luhn_valid
from interlock.detect.recognizer import Pattern, Recognizer


def _issuer_known(digits: str) -> bool:
    n = len(digits)
    two, four = int(digits[:2]), int(digits[:4])
    six = int(digits[:6])
    if digits[0] == "4":
        return n in (13, 16, 19)
    if 51 <= two <= 55 or 2221 <= four <= 2720:
        return n == 16
    if two in (34, 37):
        return n == 15
    if digits.startswith("6011") or two == 65 or 644 <= int(digits[:3]) <= 649 or 622126 <= six <= 622925:
        return 16 <= n <= 19
    if 3528 <= four <= 3589:
        return 16 <= n <= 19
    if two in (36, 38, 39) or 300 <= int(digits[:3]) <= 305:
        return 14 <= n <= 19
    if two == 62:
        return 16 <= n <= 19
    return two in (50, 56, 57, 58, 63, 67) and 12 <= n <= 19  # Maestro


class CardNumberRecognizer(Recognizer):
    name = "card_number"
    data_class = "pci.card_number"
    max_len = 24
    digit_anchored = True
    patterns = (
        Pattern("card number", r"\b\d(?:[ \-]?\d){12,18}\b", 0.85),
    )
    context = ("card", "credit", "debit", "visa", "mastercard", "amex", "pan", "cc", "payment",
               "cardholder", "expiry", "cvv")
    negative_context = ("order", "invoice", "tracking", "isbn", "imei", "serial")

    def validate(self, value: str, pattern: Pattern) -> float | None:
        digits = "".join(ch for ch in value if ch.isdigit())
        if not 13 <= len(digits) <= 19 or len(set(digits)) < 2:
            return None
        separators = {ch for ch in value if not ch.isdigit()}
        if len(separators) > 1:
            return None
        if separators:
            groups = value.split(separators.pop())
            # Real cards are printed in groups of 4 (or 4-6-5 for 15-digit cards); odd splits are
            # usually other identifiers that happen to pass Luhn.
            if any(len(g) < 3 for g in groups) or len(groups) > 5:
                return None
        if not luhn_valid(digits) or not _issuer_known(digits):
            return None
        return pattern.score
