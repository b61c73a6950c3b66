"""Checksums that turn "looks like" into "is": Luhn, IBAN mod-97, ABA routing."""

from __future__ import annotations

from collections.abc import Callable


def digits_of(value: str) -> str:
    return "".join(ch for ch in value if ch.isdigit())


# Luhn: each second digit from the right counts doubled, less 9 when that is over 9.
_DOUBLED = {str(d): (2 * d - 9 if d > 4 else 2 * d) for d in range(10)}


def luhn_valid(digits: str) -> bool:
    if not digits or not digits.isdigit():
        return False
    if digits.isascii():
        return (sum(map(int, digits[-1::-2])) + sum(map(_DOUBLED.__getitem__, digits[-2::-2]))) % 10 == 0
    total = 0
    for index, ch in enumerate(reversed(digits)):
        n = ord(ch) - 48
        if index % 2 == 1:
            n *= 2
            if n > 9:
                n -= 9
        total += n
    return total % 10 == 0


def mod97_valid(iban: str) -> bool:
    """ISO 13616: move the first four characters to the end, letters to numbers, remainder 1."""
    compact = "".join(iban.split()).upper()
    if len(compact) < 5 or not compact.isalnum() or not compact.isascii():
        return False
    # Letters become two digits (A = 10 ... Z = 35); the remainder of that number by 97 must be 1.
    return int((compact[4:] + compact[:4]).translate(_LETTER_NUMBERS)) % 97 == 1


_LETTER_NUMBERS = {ord(c): str(ord(c) - 55) for c in "ABCDEFGHIJKLMNOPQRSTUVWXYZ"}


def aba_valid(digits: str) -> bool:
    if len(digits) != 9 or not digits.isdigit():
        return False
    d = [ord(c) - 48 for c in digits]
    total = 3 * (d[0] + d[3] + d[6]) + 7 * (d[1] + d[4] + d[7]) + (d[2] + d[5] + d[8])
    return total % 10 == 0 and digits != "000000000"


def luhn_of(value: str) -> bool:
    return luhn_valid(digits_of(value))


def aba_of(value: str) -> bool:
    return aba_valid(digits_of(value))


CHECKSUMS: dict[str, Callable[[str], bool]] = {"luhn": luhn_of, "mod97": mod97_valid, "aba": aba_of}
