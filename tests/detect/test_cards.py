"""Card numbers of every brand and printed form, and the numbers that only look like them."""

from __future__ import annotations

import pytest

from interlock.detect import Detector
from interlock.detect.checksums import luhn_valid
from interlock.detect.recognizers.card import issuer_known


def luhn(body: str) -> str:
    """``body`` with the check digit that makes it Luhn-valid."""
    for d in "0123456789":
        if luhn_valid(body + d):
            return body + d
    raise AssertionError("unreachable")


def grouped(number: str, sizes: tuple[int, ...], sep: str = " ") -> str:
    out, pos = [], 0
    for size in sizes:
        out.append(number[pos:pos + size])
        pos += size
    return sep.join(out)


JCB16 = luhn("353011133330000")
JCB15_1800 = luhn("18000000000000")
JCB15_2131 = luhn("21310000000000")
MAESTRO12 = luhn("50180000000")
MAESTRO12_6759 = luhn("67590000012")
MAESTRO19 = luhn("675900000000000000")
VISA13 = luhn("422222222222")
VISA19 = luhn("401288888888188123")
MIR = luhn("220000000000000")
UNIONPAY19 = luhn("620000000000000000")
DINERS14 = luhn("3056930902590")
RUPAY = luhn("608000000000000")
TROY = luhn("979200000000000")
MC2 = luhn("222100000000000")

# (text, the value that must be reported as a card)
POSITIVES = [
    (f"JCB {grouped(JCB16, (4, 4, 4, 4))} exp 09/28", grouped(JCB16, (4, 4, 4, 4))),
    (f"paid with {JCB16} yesterday", JCB16),
    (f"number {grouped(JCB15_1800, (4, 6, 5))} thanks", grouped(JCB15_1800, (4, 6, 5))),
    (f"number {JCB15_2131} thanks", JCB15_2131),
    (f"Maestro {grouped(MAESTRO12, (4, 4, 4))}", grouped(MAESTRO12, (4, 4, 4))),
    (f"use {MAESTRO12_6759} please", MAESTRO12_6759),
    (f"use {MAESTRO19} please", MAESTRO19),
    (f"visa {VISA13}", VISA13),
    (f"visa {grouped(VISA19, (4, 4, 4, 4, 3))}", grouped(VISA19, (4, 4, 4, 4, 3))),
    (f"pay {MIR} now", MIR),
    (f"pay {UNIONPAY19} now", UNIONPAY19),
    (f"diners {grouped(DINERS14, (4, 6, 4))}", grouped(DINERS14, (4, 6, 4))),
    (f"rupay {RUPAY}", RUPAY),
    (f"troy {TROY}", TROY),
    (f"mc {grouped(MC2, (4, 4, 4, 4), '-')}", grouped(MC2, (4, 4, 4, 4), "-")),
    # Dotted and mixed separators.
    ("card 4111.1111.1111.1111 exp 12/27", "4111.1111.1111.1111"),
    ("the number is 4111 1111-1111.1111 ok", "4111 1111-1111.1111"),
    ("send 5555-5555 5555-4444 now", "5555-5555 5555-4444"),
    ("amex 3782 822463 10005", "3782 822463 10005"),
    ("amex 3782-822463-10005", "3782-822463-10005"),
    # No card word needed for a valid number of a known brand.
    ("4111111111111111", "4111111111111111"),
    ("(4012888888881881)", "4012888888881881"),
    # Card words in other languages lift numbers that are only card-shaped.
    (f"Kreditkarte: {luhn('999900000000000')}", luhn("999900000000000")),
    (f"tarjeta {luhn('1234567890123')}", luhn("1234567890123")),
    (f"cartão {grouped(luhn('123456789012345'), (4, 4, 4, 4))}", grouped(luhn("123456789012345"), (4, 4, 4, 4))),
    (f"numéro de carte {luhn('771234567890123')}", luhn("771234567890123")),
    # A known brand's number that fails Luhn is still a card when it is labelled as one.
    ("credit card 4111 1111 1111 1112 exp 12/27", "4111 1111 1111 1112"),
    ("Karte 5500000000000005", "5500000000000005"),
    ("Card number: 1234 5678 9012 3456", "1234 5678 9012 3456"),  # no brand, fails Luhn, but labelled
    ("tarjeta de crédito 1234567890123456", "1234567890123456"),
    ("card: 4111111111 111111", "4111111111 111111"),  # two groups: a card only with a card word
    # Numbers around a card that are not part of it.
    ("Card: 4111 1111 1111 1111 12/27 CVV 123", "4111 1111 1111 1111"),
    ("4111 1111 1111 1111 09 2027", "4111 1111 1111 1111"),
    ("Card 1 4111 1111 1111 1111", "4111 1111 1111 1111"),
    ("card 4111111111111111 123", "4111111111111111"),
    ("visa 4111-1111-1111-1111-123", "4111-1111-1111-1111"),
    (f"JCB 1 {grouped(JCB16, (4, 4, 4, 4))} 11/29", grouped(JCB16, (4, 4, 4, 4))),
]


@pytest.mark.parametrize(("text", "value"), POSITIVES)
def test_cards_are_found(detector: Detector, text: str, value: str) -> None:
    found = [text[f.start:f.end] for f in detector.scan(text) if f.data_class == "pci.card_number"]
    assert found == [value]


HARD_NEGATIVES = [
    "order 4111 1111 1111 1112 shipped",  # fails Luhn, no card word
    "reference 4111111111111112",  # fails Luhn, no card word
    "ref 1234 5678 9012 3456 closed",  # fails Luhn, unknown prefix, no card word
    '{"exp": 1700000000000, "iat": 1699990000000}',  # millisecond timestamps next to "exp"
    "order 1234 5678 9012 3456 paid by card",  # the order's counter-context outweighs the card word
    f"ticket {luhn('123456789012345')} closed",  # Luhn-valid by chance, no brand, no card word
    f"order {luhn('401288888888188')} shipped",  # a valid card number called an order id
    "ISBN 978-3-16-148410-0 and ISBN 9783161484100",
    "timestamp 1700000000000 ms, 20240115123045 local",
    "event at 2024-01-15 12:30:45.123456",
    "id 123e4567-e89b-12d3-a456-426614174000",
    "sha256 9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
    "commit 4111111111111111abcdef and 0x4111111111111111",
    "call +62 812 3456 7890 or +55 11 98765 4321",
    "0000 0000 0000 0000",
    "version 4.1.1111.1111.1111 of the driver",
    "IMEI 490154203237518",
    "invoice 5018 0000 0009 paid",
    "ref ORD-5076669311380 and INV-4111111111111111",  # inside identifiers joined by a dash
    "elapsed 398903413176.1916 s, id=4111111111.111111, 670630411049.1483",  # decimals
    "ref 12 34 56 78 90 12 34 56 78 and 123 456 789 012 345 678",  # no part printed as a card validates
]


@pytest.mark.parametrize("text", HARD_NEGATIVES)
def test_card_lookalikes_are_not_cards(detector: Detector, text: str) -> None:
    assert [f for f in detector.scan(text) if f.data_class == "pci.card_number"] == []


@pytest.mark.parametrize(("number", "known"), [
    (JCB16, True), (JCB15_1800, True), (JCB15_2131, True), (MAESTRO12, True), (VISA13, True), (MIR, True),
    ("4111111111111", True), ("41111111111111", False),  # Visa: 13, 16 or 19 digits
    ("378282246310005", True), ("3782822463100050", False),  # Amex: 15
    ("123456789012", False), ("978316148410", False),
])
def test_issuer_table(number: str, known: bool) -> None:
    assert issuer_known(number) is known


def test_checksums_agree_with_their_definitions() -> None:
    """Luhn and IBAN mod-97, computed digit by digit as the standards define them, on random input."""
    import random

    from interlock.detect.checksums import mod97_valid

    def luhn(digits: str) -> bool:
        total = 0
        for index, ch in enumerate(reversed(digits)):
            n = int(ch) * (2 if index % 2 else 1)
            total += n - 9 if n > 9 else n
        return bool(digits) and total % 10 == 0

    def mod97(value: str) -> bool:
        compact = "".join(value.split()).upper()
        if len(compact) < 5 or not compact.isalnum() or not compact.isascii():
            return False
        remainder = 0
        for ch in compact[4:] + compact[:4]:
            for d in str(ord(ch) - 55) if ch.isalpha() else ch:
                remainder = (remainder * 10 + int(d)) % 97
        return remainder == 1

    rng = random.Random(11)
    for _ in range(20_000):
        digits = "".join(rng.choice("0123456789") for _ in range(rng.randrange(0, 20)))
        assert luhn_valid(digits) == luhn(digits), digits
        value = "".join(rng.choice("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ a") for _ in range(rng.randrange(0, 34)))
        assert mod97_valid(value) == mod97(value), value
    assert mod97_valid("GB82 WEST 1234 5698 7654 32")
    assert luhn_valid("4111111111111111")
