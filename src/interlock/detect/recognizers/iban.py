"""International Bank Account Numbers: country length table plus the ISO 13616 mod-97 check."""

from __future__ import annotations

from interlock.detect.checksums import mod97_valid
from interlock.detect.recognizer import Pattern, Recognizer

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
    name = "iban"
    data_class = "fin.iban"
    max_len = 42
    # Two letters of country code, then digits.
    digit_anchored, digit_lead = True, 2
    patterns = (
        Pattern("IBAN", r"\b[A-Z]{2}\d{2}(?: ?[A-Z0-9]{4}){2,7}(?: ?[A-Z0-9]{1,3})?\b", 0.9),
    )
    context = ("iban", "bank", "account", "transfer", "wire", "sepa", "bic", "swift")

    def validate(self, value: str, pattern: Pattern) -> float | None:
        compact = value.replace(" ", "")
        expected = IBAN_LENGTHS.get(compact[:2])
        if expected is None or len(compact) != expected or not mod97_valid(compact):
            return None
        return pattern.score
