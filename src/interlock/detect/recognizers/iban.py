"""International Bank Account Numbers: country length table plus the ISO 13616 mod-97 check."""

from __future__ import annotations

import re
from collections.abc import Container

from interlock.detect.checksums import mod97_valid
from interlock.detect.finding import Finding
from interlock.detect.recognizer import Pattern, Recognizer, ScanText, adjusted_score, relax_bounds

IBAN_LENGTHS: dict[str, int] = {
    "AD": 24, "AE": 23, "AL": 28, "AT": 20, "AZ": 28, "BA": 20, "BE": 16, "BG": 22, "BH": 22, "BR": 29,
    "CH": 21, "CR": 22, "CY": 28, "CZ": 24, "DE": 22, "DK": 18, "DO": 28, "EE": 20, "EG": 29, "ES": 24,
    "FI": 18, "FO": 18, "FR": 27, "GB": 22, "GE": 22, "GI": 23, "GL": 18, "GR": 27, "GT": 28, "HR": 21,
    "HU": 28, "IE": 22, "IL": 23, "IS": 26, "IT": 27, "JO": 30, "KW": 30, "KZ": 20, "LB": 28, "LI": 21,
    "LT": 20, "LU": 20, "LV": 21, "MC": 27, "MD": 24, "ME": 22, "MK": 19, "MR": 27, "MT": 31, "MU": 30,
    "NL": 18, "NO": 15, "PK": 24, "PL": 28, "PS": 29, "PT": 25, "QA": 29, "RO": 24, "RS": 22, "SA": 24,
    "SE": 24, "SI": 19, "SK": 24, "SM": 27, "TN": 24, "TR": 26, "UA": 29, "VG": 24, "XK": 20,
}


class IbanRecognizer(Recognizer):
    """Upper or lower case, grouped by spaces or dashes. The pattern can run on into a following word
    ("... 0130 00 today" reads "toda" as a group): the value is cut where its country's length ends,
    which must be at a word's end, and only then checked."""

    name = "iban"
    data_class = "fin.iban"
    max_len = 42
    # Two letters of country code, then digits.
    digit_anchored, digit_lead = True, 2
    patterns = (
        Pattern("IBAN", r"\b[A-Za-z]{2}\d{2}(?:[ \-]?[A-Za-z0-9]{4}){2,7}(?:[ \-]?[A-Za-z0-9]{1,3})?\b", 0.9),
    )
    context = ("iban", "bank", "account", "transfer", "wire", "sepa", "bic", "swift", "beneficiary", "payee",
               "cuenta", "konto", "kontonummer", "bankverbindung", "compte", "conto", "conta", "rekening", "rachunek",
               "účet", "virement", "überweisung", "transferencia", "bonifico", "transferência")

    def set_patterns(self) -> tuple[str, ...] | None:
        return tuple(relax_bounds(p.regex) for p, _ in self._compiled)

    def scan(self, scan: ScanText, hits: Container[int] | None = None, floor: float = 0.0) -> list[Finding]:
        text = scan.text
        found: list[Finding] = []
        for pattern, start, end in self.candidates(scan, hits):
            stop = _value_end(text, start, end)
            score, why = pattern.score, pattern.name
            if stop < 0:
                # The shape of an IBAN with the wrong length or check digits (a typo, a made-up test value):
                # still one next to bank words, where validity only raised the confidence.
                stop = _shaped_end(text, start, end)
                if stop < 0:
                    continue
                score, why = _SHAPED, "IBAN-shaped value, not valid"
            context = self.context_effect(scan, start, stop)
            if context is None:
                continue
            found.append(Finding(self.data_class, start, stop, round(adjusted_score(score, context), 3),
                                 self.name, why + context[2]))
        return found

    def validate(self, value: str, pattern: Pattern) -> float | None:
        return pattern.score if _value_end(value, 0, len(value)) == len(value) else None


_SHAPED = 0.3


def _shaped_end(text: str, start: int, end: int) -> int:
    """Where an IBAN-shaped value of a known country, written in capitals, ends within ``text[start:end]``
    (before a group that has lower-case letters, the next word), or -1 if it is too short or too long."""
    if text[start:start + 2].upper() not in IBAN_LENGTHS or not text[start:start + 2].isupper():
        return -1
    pos = start
    group_start = start
    while pos < end:
        c = text[pos]
        if c in " -":
            group_start = pos
        elif c.islower():
            pos = group_start
            break
        pos += 1
    while pos > start and text[pos - 1] in " -":
        pos -= 1
    count = sum(1 for c in text[start:pos] if c.isalnum())
    if not 15 <= count <= 34 or (pos < len(text) and text[pos].isalnum()):
        return -1
    return pos


# In ASCII text, a letter or digit is what ``str.isalnum`` says it is; one pattern per IBAN length (a single
# character class repeated a fixed number of times: linear in the candidate).
_ALNUM_RUNS = {n: re.compile(f"(?:[^A-Za-z0-9]*[A-Za-z0-9]){{{n}}}") for n in set(IBAN_LENGTHS.values())}


def _value_end(text: str, start: int, end: int) -> int:
    """Where the IBAN starting at ``start`` ends within ``text[start:end]``, or -1 if none does."""
    expected = IBAN_LENGTHS.get(text[start:start + 2].upper())
    if expected is None:
        return -1
    if text.isascii():
        # Just after the expected count of letters and digits.
        taken = _ALNUM_RUNS[expected].match(text, start, end)
        if taken is None:
            return -1
        pos = taken.end()
    else:
        count = 0
        pos = start
        while pos < end and count < expected:
            if text[pos].isalnum():
                count += 1
            pos += 1
        if count != expected:
            return -1
    if pos < len(text) and text[pos].isalnum():
        return -1
    compact = text[start:pos].replace(" ", "").replace("-", "").upper()
    return pos if mod97_valid(compact) else -1
