"""Street addresses in common US/UK and continental European forms."""

from __future__ import annotations

from interlock.detect.recognizer import Opener, Pattern, Recognizer

_WORD = r"[A-Z][A-Za-z'\-]{1,24}"
_US_SUFFIX = (r"(?:Street|St|Avenue|Ave|Road|Rd|Boulevard|Blvd|Lane|Ln|Drive|Dr|Court|Ct|Way|Place|Pl|"
              r"Terrace|Ter|Parkway|Pkwy|Highway|Hwy|Circle|Cir|Square|Sq|Close|Crescent|Gardens|Row|Mews)")
_UNIT = r"(?:,?\s+(?:Apt|Apartment|Suite|Ste|Unit|Flat|Floor|Fl|#)\.?\s*#?[A-Za-z0-9\-]{1,6})?"
_CITY = r"(?:,\s*[A-Z][A-Za-z]{2,24}(?:\s[A-Z][A-Za-z]{2,24}){0,2})?"
_US_STATE_ZIP = r"(?:,?\s+[A-Z]{2}\s+\d{5}(?:-\d{4})?)?"
_UK_POSTCODE = r"[A-Z]{1,2}\d[A-Z\d]?\s?\d[A-Z]{2}"
_CONTINENTAL_SUFFIX = r"(?:straße|strasse|str\.|weg|platz|allee|gasse|ring|damm|gracht|laan|straat|vej|gatan|gata)"
_ROUTE = r"(?:rue|avenue|av\.|boulevard|bd|place|chemin|allée|impasse|quai|via|viale|piazza|calle|avenida|rua)"
_PO_BOX = r"(?:P\.?\s?O\.?\s?Box|Post Office Box)"


class StreetAddressRecognizer(Recognizer):
    name = "street_address"
    data_class = "pii.address"
    max_len = 160
    # Every form has a house or box number; each opener is that number with what must stand right next
    # to it, so ordinary numbers in prose are not held back. ``gaps`` counts the whitespace runs each
    # form can still contain after its opener.
    openers = (
        Opener(r"\d{1,6}[A-Za-z]?\s{1,8}[A-Z]", gaps=12, reach=160, case_insensitive=False,
               pending=r"\d{1,6}[A-Za-z]?\s{1,8}"),
        # The street name is one word ending in the suffix; until the number arrives, hold that word.
        Opener(_CONTINENTAL_SUFFIX + r"\s{1,8}\d", lead=31, gaps=2, reach=160, case_insensitive=False,
               pending=rf"[A-ZÄÖÜ][a-zäöüß]{{2,30}}{_CONTINENTAL_SUFFIX}\s{{1,8}}"),
        Opener(r"\d{1,4}(?:\s?bis)?,?\s{1,8}" + _ROUTE, gaps=8, reach=160, case_insensitive=False,
               pending=r"\d{1,4}(?:\s?bis)?,?\s{1,8}\S*"),
        Opener(_PO_BOX, gaps=1, reach=160, case_insensitive=False,
               pending=r"(?:P\.?\s(?:O\.?\s?)?|P\.?O\.?\s|Post\s(?:Office\s)?)"),
    )
    patterns = (
        Pattern(
            "number + street + suffix",
            rf"\b\d{{1,6}}[A-Za-z]?\s{{1,8}}(?:{_WORD}\s+){{0,3}}{_WORD}\s+{_US_SUFFIX}\.?\b(?:\s+(?:N|S|E|W|NE|NW|SE|SW)\b)?{_UNIT}{_CITY}"
            rf"(?:,?\s+{_UK_POSTCODE}\b|{_US_STATE_ZIP})",
            0.6,
        ),
        Pattern(
            "continental street + number",
            rf"\b[A-ZÄÖÜ][a-zäöüß]{{2,30}}{_CONTINENTAL_SUFFIX}\s{{1,8}}\d{{1,4}}[a-z]?"
            r"(?:,\s*(?:D-)?\d{4,5}\s+[A-ZÄÖÜ][a-zäöüß]{2,30})?",
            0.6,
        ),
        Pattern(
            "number + rue/via/calle",
            rf"\b\d{{1,4}}(?:\s?bis)?,?\s{{1,8}}{_ROUTE}\s+(?:(?:de|du|des|la|le|del|della|di|da|do)\s+){{0,2}}"
            r"[A-ZÉÈ][\w'\-]{1,30}(?:\s+[A-ZÉÈ][\w'\-]{1,30}){0,3}(?:,\s*\d{5}\s+[A-ZÉÈ][\w'\-]{1,30})?",
            0.6,
        ),
        Pattern("PO box", rf"\b{_PO_BOX}\s{{1,8}}\d{{1,8}}\b", 0.6),
    )
    context = ("address", "live", "lives", "living", "reside", "resides", "ship", "shipping", "deliver",
               "delivery", "mail", "located", "home", "billing", "street", "visit", "moved")
