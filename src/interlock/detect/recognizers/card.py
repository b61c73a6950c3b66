"""Payment card numbers (PAN): 12-19 digits; the Luhn check and the issuer's prefix and length raise
confidence, and card words nearby make a card-shaped number a card even when they fail.

Scores, before context (+0.3 for a card word, -0.45 for a counter-context word; the floor is 0.5):

* Luhn-valid, a known issuer's prefix and length, printed as cards are (no separators, or one kind of
  separator between groups of at least three digits): 0.85, a card on its own;
* the same with mixed or unusual separators (``4111.1111-1111 1111``): 0.7;
* Luhn-valid without a known issuer, or written in two groups (as decimals are): 0.45, a card near a
  card word;
* failing Luhn, but printed as a card (one unbroken run, or 16 digits in groups of four) with a known
  issuer's prefix and length or 16 digits: 0.25, a card only next to a card word (a mistyped or deliberately altered card
  number in a payment conversation is still one).

A number right after ``+`` is a phone number, never a card.
"""

from __future__ import annotations

from collections.abc import Container

from interlock.detect.checksums import luhn_valid
from interlock.detect.finding import Finding
from interlock.detect.recognizer import Pattern, Recognizer, ScanText, adjusted_score, relax_bounds

_SEPARATORS = " -."
_SEPARATORS_TO_SPACE = str.maketrans("-.", "  ")
# Every ASCII character that is not a digit, to delete.
_NOT_DIGITS = {c: None for c in range(128) if not chr(c).isdigit()}


def issuer_known(digits: str) -> bool:
    """A card brand whose prefix and length both fit ``digits``."""
    n = len(digits)
    two, three, four = int(digits[:2]), int(digits[:3]), int(digits[:4])
    six = int(digits[:6])
    first = digits[0]
    if first == "4":  # Visa, Visa Electron
        return n in (13, 16, 19)
    if 51 <= two <= 55 or 2221 <= four <= 2720:  # Mastercard
        return n == 16
    if two in (34, 37):  # American Express
        return n == 15
    if four in (1800, 2131):  # JCB's 15-digit ranges
        return n == 15
    if two == 35:  # JCB (3528-3589 issued; the rest of 35 is JCB's too)
        return 16 <= n <= 19
    if 300 <= three <= 305 or two in (36, 38, 39):  # Diners Club
        return 14 <= n <= 19
    if 2200 <= four <= 2204:  # Mir
        return 16 <= n <= 19
    if digits.startswith("6011") or two == 65 or 644 <= three <= 649 or 622126 <= six <= 622925:  # Discover
        return 16 <= n <= 19
    if two in (60, 62, 81, 82) or four == 9792:  # RuPay, UnionPay, Troy
        return 16 <= n <= 19
    if two in (50, 56, 57, 58) or first == "6" or four == 604:  # Maestro (and 0604)
        return 12 <= n <= 19
    return first == "1" and n == 15  # UATP


class CardNumberRecognizer(Recognizer):
    name = "card_number"
    data_class = "pci.card_number"
    max_len = 24
    digit_anchored = True
    patterns = (
        # Not after "+" (a phone number) nor inside an identifier joined by a dash ("ORD-5076669311380").
        Pattern("card number", r"(?:^|[^+\w\-]|[^\w]-)(\d(?:[ .\-]?\d){11,18})\b", 0.85, group=1),
    )
    context = ("card", "cards", "credit", "debit", "visa", "mastercard", "master card", "amex", "american express",
               "discover", "jcb", "maestro", "unionpay", "diners", "rupay", "pan", "cc", "ccn", "payment",
               "cardholder", "card holder", "expiry", "expires", "expiration", "cvv", "cvc", "cvv2",
               "creditcard", "kreditkarte", "karte", "kartennummer", "kreditkartennummer", "ec karte",
               "carte", "carte bancaire", "tarjeta", "tarjeta de credito", "tarjeta de crédito",
               "cartão", "cartao", "carta", "carta di credito", "kaart", "creditcardnummer", "karta",
               "kort", "kortnummer", "kortti", "kartu", "kart", "card no", "card number", "número de tarjeta")
    negative_context = ("order", "invoice", "tracking", "isbn", "imei", "serial", "iccid", "ean", "gtin",
                        "timestamp", "epoch")

    def set_patterns(self) -> tuple[str, ...] | None:
        return tuple(relax_bounds(p.regex) for p, _ in self._compiled)

    def scan(self, scan: ScanText, hits: Container[int] | None = None, floor: float = 0.0) -> list[Finding]:
        """As the base scan, but a run that is no card as a whole may hold one between other numbers: an
        expiry date after it ("4111 1111 1111 1111 12/27"), a count or label number before it ("Card 1
        4111 ..."). Up to two whole groups are dropped at either end, and the longest part printed as a
        card that validates is the finding."""
        text = scan.text
        found: list[Finding] = []
        for pattern, start, end in self.candidates(scan, hits):
            if start < 0 or end - start > self.max_len:
                continue
            span = self._best(text, start, end, pattern)
            if span is None:
                continue
            (start, end), score = span
            context = self.context_effect(scan, start, end)
            if context is None:
                continue
            found.append(Finding(self.data_class, start, end, round(adjusted_score(score, context), 3),
                                 self.name, pattern.name + context[2]))
        return found

    def _best(self, text: str, start: int, end: int, pattern: Pattern) -> tuple[tuple[int, int], float] | None:
        score = self.validate(text[start:end], pattern)
        if score is not None:
            return (start, end), score
        cuts = [i for i in range(start, end) if text[i] in _SEPARATORS]
        if not cuts:
            return None
        # Group edges: (start of group k, end of group k) for every group.
        starts = [start] + [c + 1 for c in cuts]
        ends = [*cuts, end]
        groups = len(starts)
        # A dot before or after the part would make the whole a decimal number, not a card beside a number.
        options = [(first, last) for first in range(min(3, groups)) for last in range(groups - 1, max(-1, groups - 4), -1)
                   if (first, last) != (0, groups - 1) and (last - first >= 2 or first == last)
                   and (first == 0 or text[starts[first] - 1] != ".") and (last == groups - 1 or text[ends[last]] != ".")]
        options.sort(key=lambda o: -(ends[o[1]] - starts[o[0]]))
        for first, last in options:
            part = text[starts[first]:ends[last]]
            if _printed(part):
                score = self.validate(part, pattern)
                if score is not None:
                    return (starts[first], ends[last]), score
        return None

    def validate(self, value: str, pattern: Pattern) -> float | None:
        digits = value.translate(_NOT_DIGITS) if value.isascii() else "".join(ch for ch in value if ch.isdigit())
        n = len(digits)
        if not 12 <= n <= 19 or digits.count(digits[0]) == n:
            return None
        groups = _groups(value)
        printed = _kinds_of_separator(value) <= 1 and len(groups) <= 5 and all(len(g) >= 3 for g in groups)
        if luhn_valid(digits):
            if len(groups) == 2:
                # No card is printed in two groups; decimals ("398903413176.1916") and pairs of ids are.
                return 0.45
            if issuer_known(digits):
                return pattern.score if printed else 0.7
            return 0.45 if n >= 13 else None
        # Failing Luhn: only the shapes cards are printed in, with a known issuer's prefix or the 16 digits
        # most cards have; then only a card word makes it a card (a mistyped number is still one).
        card_shaped = len(groups) == 1 or (n == 16 and [len(g) for g in groups] == [4, 4, 4, 4])
        if card_shaped and (n == 16 or (n >= 13 and issuer_known(digits))):
            return 0.25
        return None


def _printed(value: str) -> bool:
    """One unbroken run, or one kind of separator between three to five groups of at least three digits:
    as cards are printed."""
    groups = _groups(value)
    if len(groups) == 1:
        return 12 <= len(value) <= 19
    return _kinds_of_separator(value) == 1 and 3 <= len(groups) <= 5 and all(len(g) >= 3 for g in groups)


def _kinds_of_separator(value: str) -> int:
    return (" " in value) + ("-" in value) + ("." in value)


def _groups(value: str) -> list[str]:
    """The parts of ``value`` between separators (empty ones too: "1  2" has three)."""
    return value.translate(_SEPARATORS_TO_SPACE).split(" ")
