"""Street addresses in common US/UK and continental European forms."""

from __future__ import annotations

from interlock.detect.recognizer import Pattern, Recognizer

_WORD = r"[A-Z][A-Za-z'\-]{1,24}"
_US_SUFFIX = (r"(?:Street|St|Avenue|Ave|Road|Rd|Boulevard|Blvd|Lane|Ln|Drive|Dr|Court|Ct|Way|Place|Pl|"
              r"Terrace|Ter|Parkway|Pkwy|Highway|Hwy|Circle|Cir|Square|Sq|Close|Crescent|Gardens|Row|Mews)")
_UNIT = r"(?:,?\s+(?:Apt|Apartment|Suite|Ste|Unit|Flat|Floor|Fl|#)\.?\s*#?[A-Za-z0-9\-]{1,6})?"
_CITY = r"(?:,\s*[A-Z][A-Za-z]{2,24}(?:\s[A-Z][A-Za-z]{2,24}){0,2})?"
_US_STATE_ZIP = r"(?:,?\s+[A-Z]{2}\s+\d{5}(?:-\d{4})?)?"
_UK_POSTCODE = r"[A-Z]{1,2}\d[A-Z\d]?\s?\d[A-Z]{2}"


class StreetAddressRecognizer(Recognizer):
    name = "street_address"
    data_class = "pii.address"
    max_len = 160
    patterns = (
        Pattern(
            "number + street + suffix",
            rf"\b\d{{1,6}}[A-Za-z]?\s+(?:{_WORD}\s+){{0,3}}{_WORD}\s+{_US_SUFFIX}\.?\b(?:\s+(?:N|S|E|W|NE|NW|SE|SW)\b)?{_UNIT}{_CITY}"
            rf"(?:,?\s+{_UK_POSTCODE}\b|{_US_STATE_ZIP})",
            0.6,
        ),
        Pattern(
            "continental street + number",
            r"\b[A-ZÄÖÜ][a-zäöüß]{2,30}(?:straße|strasse|str\.|weg|platz|allee|gasse|ring|damm|gracht|laan|straat|"
            r"vej|gatan|gata)\s+\d{1,4}[a-z]?(?:,\s*(?:D-)?\d{4,5}\s+[A-ZÄÖÜ][a-zäöüß]{2,30})?",
            0.6,
        ),
        Pattern(
            "number + rue/via/calle",
            r"\b\d{1,4}(?:\s?bis)?,?\s+(?:rue|avenue|av\.|boulevard|bd|place|chemin|allée|impasse|quai|via|"
            r"viale|piazza|calle|avenida|rua)\s+(?:(?:de|du|des|la|le|del|della|di|da|do)\s+){0,2}"
            r"[A-ZÉÈ][\w'\-]{1,30}(?:\s+[A-ZÉÈ][\w'\-]{1,30}){0,3}(?:,\s*\d{5}\s+[A-ZÉÈ][\w'\-]{1,30})?",
            0.6,
        ),
        Pattern("PO box", r"\b(?:P\.?\s?O\.?\s?Box|Post Office Box)\s+\d{1,8}\b", 0.6),
    )
    context = ("address", "live", "lives", "living", "reside", "resides", "ship", "shipping", "deliver",
               "delivery", "mail", "located", "home", "billing", "street", "visit", "moved")
