"""The street-address recognizer: street lines of many locales, postcode lines, PO boxes, labelled fields.

Every pattern reports group 1 (see ``forms``). Scores: a street line with a street-type word and a house
number stands alone (0.6); shapes that ordinary text also has (a capitalised word and a number before a
city, a bare postcode and city) start below the detector's floor and need an address word nearby.
``validate`` drops what names something else before a number ("Order 1234", "Windows 10") and years
written where a house number would be.
"""

from __future__ import annotations

import itertools
import re
from bisect import bisect_right
from collections.abc import Container

from interlock.detect.context import window_tokens
from interlock.detect.finding import Finding
from interlock.detect.recognizer import (
    CONTEXT_BOOST,
    NEGATIVE_PENALTY,
    Opener,
    Pattern,
    Recognizer,
    ScanText,
    compile_re2,
    relax_bounds,
)
from interlock.detect.recognizers.address import forms
from interlock.detect.recognizers.address import words as w
from interlock.detect.recognizers.address.forms import (
    DISTINCT_CODE_FIRST,
    LEFT,
    NAME,
    NAME_NUMBER_SEP,
    OPENER_UPPER,
    REQUIRED_TAIL,
    SEP,
    SP,
    TAIL,
    UPPER,
)

_HOUSE = forms.HOUSE_NUMBER
_COUNTRY_END = rf"(?:{SEP}{forms.COUNTRY})?"

# Pattern names ``validate`` treats alike.
_NAME_THEN_NUMBER = frozenset({"street type + name + number", "preposition street + number",
                               "name + joined street type + number", "name + street word + number",
                               "street line + city"})
_LABELLED = frozenset({"labelled address", "labelled postcode"})
_LOWER_CASE_OK = frozenset({"after an address phrase", "labelled city"})
# English words of prose that street names in lower case do not contain ("12 locations across the street").
_PROSE_WORDS = frozenset({
    "the", "a", "an", "across", "of", "to", "in", "on", "at", "and", "or", "for", "with", "from", "by", "down",
    "up", "over", "near", "around", "along", "into", "my", "your", "our", "their", "his", "her", "this", "that",
    "these", "those", "all", "every", "each", "some", "many", "few", "several", "per", "other", "same", "next",
    "please", "review", "check", "see", "use", "is", "are", "was", "were", "be", "been", "have", "has", "had",
    "do", "does", "did", "will", "would", "can", "could", "should", "may", "might", "must", "not", "no", "we",
    "you", "i", "he", "she", "it", "they", "me", "him", "them", "us", "what", "which", "who", "when", "where",
    "why", "how", "if", "then", "than", "so", "but", "just", "also", "very", "more", "most", "only", "new",
    "old", "last", "first", "thanks", "hi", "hello", "boarding", "departure", "arrival", "security",
})
# Plain shapes that a postcode inside makes sure.
_PLAIN = frozenset({"street line + city", "number + name + city", "short PO box"})

PATTERNS: tuple[Pattern, ...] = (
    Pattern("number + street type",
            rf"{LEFT}({forms.UNIT_BEFORE}?{forms.LEADING_NUMBER},?{SP}"
            rf"(?:{forms.PROPER_NAME}{SP}{forms.ENGLISH_SUFFIX}\b\.?{forms._COMPASS}"
            rf"|(?i:{forms.NUMBER_FIRST_ROUTE}){SP}{NAME}|{forms.CAPITALISED_PREFIX}{SP}{NAME}"
            rf"|{forms.PROPER_NAME}{SP}(?i:{forms.SUFFIX_WORD})\.?|{UPPER}{forms.LETTERS}+(?i:{forms.JOINED_SUFFIX})\.?)"
            rf"{TAIL})", 0.6, group=1),
    Pattern("street type + name + number",
            rf"{LEFT}((?i:{forms.PREFIX}){SP}{NAME}{NAME_NUMBER_SEP}{_HOUSE}{TAIL})", 0.6, group=1),
    Pattern("street type + name + postcode line",
            rf"{LEFT}((?i:{forms.PREFIX}){SP}{NAME}{forms.POSTCODE_TAIL})", 0.55, group=1),
    Pattern("street grid",
            rf"{LEFT}((?i:calle|cll?\.?|carrera|cra?\.?|kra?\.?|diag\.?|avenida|av\.?|ak\.?|ac\.?|transversal|tv\.?"
            rf"|diagonal|dg\.?|circular){SP}\d{{1,3}}[a-zA-Z]?[ºª°]?(?:[ \t]?(?i:bis))?(?:[ \t][A-Z]\b)?"
            rf"(?:[ \t](?i:sur|este|norte))?[ \t]{{0,3}}(?:#|(?i:n[º°o]\.?|no\.?))[ \t]{{0,3}}"
            rf"\d{{1,3}}[a-zA-Z]?[ \t]?-[ \t]?\d{{1,3}}\b(?:[ \t](?i:sur|este|norte|oeste)\b)?{TAIL})", 0.7, group=1),
    Pattern("preposition street + number",
            rf"{LEFT}({forms.PREPOSITION}{SP}{NAME}{NAME_NUMBER_SEP}{_HOUSE}{TAIL})", 0.55, group=1),
    Pattern("name + joined street type + number",
            rf"{LEFT}({UPPER}{forms.LETTERS}+(?i:{forms.JOINED_SUFFIX})\.?{NAME_NUMBER_SEP}{_HOUSE}{TAIL})",
            0.6, group=1),
    Pattern("name + street word + number",
            rf"{LEFT}({UPPER}{forms.LETTERS}*(?:{SP}{forms.LETTERS}+){{0,3}}{SP}(?i:{forms.SUFFIX_WORD})\.?{NAME_NUMBER_SEP}{_HOUSE}{TAIL})", 0.6, group=1),
    Pattern("chome block",
            rf"{LEFT}((?:\d{{1,2}}-chome[ \t,]{{0,2}})?\d{{1,4}}-\d{{1,4}}(?:-\d{{1,4}})?{SP}{NAME}"
            rf"(?:,[ \t]*{UPPER}\p{{Ll}}+-(?i:ku|shi|cho|machi|gun|mura)\b){{0,2}}{TAIL})", 0.4, group=1),
    Pattern("number + name + city",
            rf"{LEFT}({forms.UNIT_BEFORE}?{forms.LEADING_NUMBER},?{SP}{forms.PROPER_NAME}{REQUIRED_TAIL})", 0.35,
            group=1),
    Pattern("street line + city",
            rf"{LEFT}((?:\d{{4,5}}{SP})?{UPPER}{forms.LETTERS}+(?:{SP}{forms.LETTERS}+){{0,3}}"
            rf"{SP}\d{{1,4}}[a-zA-Z]?\b(?:/\d{{1,4}}[a-zA-Z]?\b)?{REQUIRED_TAIL})", 0.35, group=1),
    Pattern("postcode + city",
            rf"{LEFT}({DISTINCT_CODE_FIRST}[ \t]{{1,3}}(?:[-–][ \t]?)?{forms.CITY}{_COUNTRY_END})", 0.5, group=1),
    Pattern("plain postcode + city",
            rf"{LEFT}({forms.PLAIN_CODE_FIRST}[ \t]{{1,3}}{forms.CITY}{_COUNTRY_END})", 0.3, group=1),
    Pattern("city + postcode",
            rf"{LEFT}({forms.CITY_THEN_DISTINCT_CODE}{_COUNTRY_END})", 0.5, group=1),
    Pattern("postcode",
            rf"{LEFT}((?:(?:{forms.STATE}{SP}{forms.US_ZIP}|{forms.PROVINCE}{SP}{forms.CA_POSTCODE})"
            rf"|{forms.UK_POSTCODE}|{forms.CA_POSTCODE}){_COUNTRY_END})", 0.5, group=1),
    Pattern("eircode", rf"{LEFT}({forms.EIRCODE})", 0.4, group=1),
    Pattern("PO box",
            rf"{LEFT}((?i:{forms.PO_BOX_WORD})[ \t]?(?:[Nn][ºo°]\.?[ \t]?|#[ \t]?)?\d{{1,6}}\b(?:[ \t]\d{{2}}\b){{0,2}}"
            rf"{TAIL})", 0.6, group=1),
    Pattern("short PO box",
            rf"{LEFT}({forms.PO_BOX_SHORT}\.?[ \t]?\d{{1,6}}\b(?:[ \t]\d{{2}}\b){{0,2}}{TAIL})", 0.45, group=1),
    # US military post: unit or ship, box, then APO/FPO/DPO, the armed-forces "state" and a ZIP code.
    Pattern("military post",
            rf"{LEFT}((?:(?:(?:PSC|CMR|UMR|Unit)[ \t]\d{{1,5}}|(?:USS|USNS|USCGC)[ \t]{NAME}"
            rf"(?:[ \t]?\([A-Z]{{1,4}}[ \t-]?\d{{1,4}}\))?){forms.SEP})?"
            rf"(?:Box[ \t]\d{{1,5}}{forms.SEP})?"
            rf"(?:APO|FPO|DPO)[ \t]{{1,3}}A[AEP][ \t]{{1,3}}\d{{5}}(?:-\d{{4}})?\b)", 0.7, group=1),
    Pattern("labelled address", rf"{LEFT}{forms.LABELLED}", 0.7, group=1),
    Pattern("labelled postcode", rf"{LEFT}{forms.LABELLED_POSTCODE}", 0.65, group=1),
    # A city alone is an address only next to the rest of one ("get_weather(city=Paris)" is not).
    Pattern("labelled city", rf"{LEFT}{forms.LABELLED_CITY}", 0.4, group=1),
    Pattern("after an address phrase", rf"{LEFT}{forms.TRIGGERED}", 0.7, group=1),
)

_LETTER = f"[{OPENER_UPPER}]"
_NUMBER_FIRST_OPENER = r"(?:\d{1,5}[-/]){0,2}\d{1,5}[A-Za-z]?,?[ \t]{1,3}"
_SUFFIX_OPENER = rf"(?i:{forms.SUFFIX_WORD}|{forms.JOINED_SUFFIX})\.?,?[ \t]{{1,3}}"
_NUMBER_COMMA = r"\d{1,4}[a-zA-Z]?(?:/\d{1,4}[a-zA-Z]?)?(?:[ \t]{0,3},[ \t]{0,3}|[ \t]{0,3}\r?\n[ \t]{0,3})"
# How far before its opener a street line can start (a street name, a city before its postcode).
_LEAD = 64
_GAPS = 18
_REACH = 240
# An opener ends in the first letters of the word after a space; while that word is still arriving, its
# ``pending`` form (the opener up to the space, then any partial word) holds the text.
_PARTIAL = r"\S{0,8}"
# Streaming: what may stand before a house number ("No. 12", "nº 5", a street name), and the first words of
# a box ("P.O. Bo").
_NUMBER_WORD = r"(?i:h\.?[ \t]?no|house[ \t]no|no|n[º°])\.?[ \t]?"
_STREET_NAME = r"(?:(?:\d{4,5}[ \t]{1,3})?\p{Lu}\S{0,40}(?:[ \t]{1,3}\S{1,40}){0,3}[ \t]{1,3})?"
_CITY_THEN_CODE = (r"\p{Lu}\S{0,40}(?:[ \t]{1,3}(?:[a-z]{1,4}[ \t]{1,3})?\p{Lu}\S{0,40}){0,3}[ \t]{0,3},?[ \t]{0,3}"
                   r"(?:[A-Z0-9]{1,5}(?:[ \t\-]{1,3}[A-Z0-9]{0,4})?)?")
_PO_BOX_START = (
    r"(?i:p\.?[ \t]{0,3}o\.?[ \t]{0,3}(?:b[a-z]{0,2})?|post(?:[ \t]{1,3}office(?:[ \t]{1,3}b[a-z]{0,2})?)?)"
    "|(?i:" + "|".join(sorted({re.escape(box.split()[0]) for box in w.PO_BOXES if " " in box}))
    + r")(?:[ \t]{1,3}\S{0,14}){0,3}")

OPENERS: tuple[Opener, ...] = (
    # A number, then a capitalised word or a street type written in lower case ("12 rue", "5, avenue").
    Opener(_NUMBER_FIRST_OPENER + rf"(?:{_LETTER}|(?i:{forms.NUMBER_FIRST_ROUTE}|bis|ter))", lead=8, gaps=_GAPS,
           reach=_REACH, case_insensitive=False, pending_lead=0,
           pending=rf"(?:{_NUMBER_WORD}|{_STREET_NAME})?(?:{_NUMBER_FIRST_OPENER}{_PARTIAL}|\d{{1,5}}(?:[-/]\d{{0,5}}){{0,2}}[A-Za-z]?)"),
    # A street type before the name ("ul. K", "Via R", "calle de", "Carrera 7").
    Opener(rf"(?i:{forms.PREFIX})[ \t]{{1,3}}(?:[{OPENER_UPPER}0-9]|{forms.PARTICLES}[ \t]|[dlDL]['’])", gaps=_GAPS,
           reach=_REACH, case_insensitive=False, pending=rf"\b(?i:{forms.PREFIX})[ \t]{{1,3}}{_PARTIAL}"),
    Opener(rf"{forms.PREPOSITION}[ \t]{{1,3}}{_LETTER}", gaps=_GAPS, reach=_REACH, case_insensitive=False,
           pending=rf"\b{forms.PREPOSITION}[ \t]{{1,3}}{_PARTIAL}"),
    # A street type after the name, then the house number: the name comes before the opener.
    Opener(_SUFFIX_OPENER + r"(?:\d|(?i:n[º°o]|no|nr|#|s/n))", lead=_LEAD, gaps=_GAPS, reach=_REACH,
           case_insensitive=False, pending=_SUFFIX_OPENER + _PARTIAL),
    # A house number then a comma or a line break: a plain street line before a city or postcode line.
    # Still arriving, it holds from the street name's capital (up to four words back), not _LEAD back.
    Opener(_NUMBER_COMMA + f"[0-9{OPENER_UPPER}]", lead=_LEAD, gaps=_GAPS, reach=_REACH, case_insensitive=False,
           pending_lead=0, pending=_STREET_NAME + _NUMBER_COMMA + _PARTIAL),
    # Postcodes written after the city: the city comes before the opener.
    Opener(r"[A-Z]{1,2}\d[A-Z\d]?[ \t]?\d[A-Z]{2}", lead=_LEAD, gaps=4, reach=_REACH, case_insensitive=False,
           pending=r"[A-Z]{1,2}\d[A-Z\d]?[ \t]{1,3}"),
    Opener(r"[A-Z]\d[A-Z][ \t]?\d[A-Z]\d", lead=_LEAD, gaps=4, reach=_REACH, case_insensitive=False,
           pending=r"[A-Z]\d[A-Z][ \t]{1,3}"),
    Opener(r"(?:[A-Z]\d{2}|D6W)[ \t]?[0-9A-Z]{4}", lead=_LEAD, gaps=4, reach=_REACH, case_insensitive=False,
           pending=r"(?:[A-Z]\d{2}|D6W)[ \t]{1,3}"),
    Opener(r"[A-Z]{2}[ \t]{1,3}\d{5}", lead=_LEAD, gaps=4, reach=_REACH, case_insensitive=False,
           pending=r"[A-Z]{2}[ \t]{1,3}\d{0,4}"),
    Opener(r"\d{5}-\d{3}", lead=_LEAD, gaps=4, reach=_REACH, case_insensitive=False, pending=r"\d{5}-\d{0,2}"),
    # A street name whose number has not arrived ("Dlouhá " then "730/12, 110 00 Praha 1"), while the text
    # ends in it.
    Opener(_NUMBER_FIRST_OPENER + rf"(?:{_LETTER}|(?i:{forms.NUMBER_FIRST_ROUTE}|bis|ter))", lead=8, gaps=_GAPS,
           reach=_REACH, case_insensitive=False, pending=r"\p{Lu}\S{0,40}[ \t]{1,3}", pending_lead=0,
           pending_at_end=True),
    # The city before any of these postcodes, while the text ends in it or in the start of the code.
    Opener(r"[A-Z]{2}[ \t]{1,3}\d{5}", lead=_LEAD, gaps=4, reach=_REACH, case_insensitive=False,
           pending=_CITY_THEN_CODE, pending_lead=0, pending_at_end=True),
    # Post-office boxes and labelled fields.
    Opener(rf"(?i:{forms.PO_BOX_WORD})[ \t]?(?:[Nn][ºo°]\.?[ \t]?|#[ \t]?)?\d", gaps=_GAPS, reach=_REACH,
           case_insensitive=False, pending=rf"(?i:{forms.PO_BOX_WORD})[ \t]?{_PARTIAL}|{_PO_BOX_START}"),
    Opener(rf"{forms.PO_BOX_SHORT}\.?[ \t]?\d", gaps=_GAPS, reach=_REACH, case_insensitive=False,
           pending=rf"{forms.PO_BOX_SHORT}\.?[ \t]?{_PARTIAL}"),
    Opener(rf"{forms.ADDRESS_LABEL}{forms.LABEL_END}", gaps=24, reach=_REACH, case_insensitive=False, pending=""),
    Opener(rf"{forms.POSTCODE_LABEL}{forms.LABEL_END}", gaps=4, reach=_REACH, case_insensitive=False, pending=""),
    Opener(rf"{forms.CITY_LABEL}{forms.LABEL_END}", gaps=8, reach=_REACH, case_insensitive=False, pending=""),
    Opener(forms.TRIGGER, gaps=14, reach=_REACH, case_insensitive=False, pending=""),
    # A ship's military post ("USS Nimitz (CVN 68), FPO AP 96620"): the ship's name opens it.
    Opener(r"(?:USS|USNS|USCGC)[ \t]{1,3}[A-Z]", gaps=8, reach=_REACH, case_insensitive=False,
           pending=r"\bU(?:S(?:S|NS?|C(?:GC?)?)?)?(?:[ \t]{1,3}\S{0,8})?"),
    # An apartment written before the street line ("Flat 3, 12 High Street").
    Opener(rf"{forms.UNIT_BEFORE_WORD}\.?[ \t]?#?[0-9A-Z]", gaps=_GAPS, reach=_REACH, case_insensitive=False,
           pending=""),
)

# Words before "address" that make it something other than a postal address.
_NOT_POSTAL = frozenset({
    "email", "e", "mail", "ip", "ipv4", "ipv6", "mac", "wallet", "web", "website", "server", "bind", "listen",
    "remote", "host", "memory", "return", "base", "url", "bitcoin", "btc", "eth", "ethereum", "contract",
    "network", "gateway", "proxy", "dns", "broadcast", "multicast", "hardware", "virtual", "register", "pointer",
    "smtp", "sender", "recipient", "reply", "from", "to", "physical", "local", "public", "private", "node",
    "peer", "socket", "endpoint", "api", "hex", "deposit", "withdrawal", "receiving", "payout",
})
_ADDRESS_WORDS = frozenset({"address", "addr", "adresse", "adres", "adresa", "dirección", "direccion", "endereço"})
_ADDRESS_STEMS = ("addr", "adres", "direcc", "endere")
# Letter pairs that follow four digits in ordinary text ("4096 MB", "1080 HD") and that Dutch
# postcodes do not use.
_NOT_DUTCH = frozenset({"MB", "GB", "KB", "TB", "PB", "HD", "AD", "BC", "AM", "PM", "UK", "US", "EU", "OK", "ID",
                        "TV", "PC", "SA", "SD", "SS", "CE", "AC", "DC", "FM", "HP", "PS", "CC", "GT", "XL", "MP"})
_DUTCH = compile_re2(r"^[1-9]\d{3}[ \t]?([A-Z]{2})[ \t]")
# A postcode no other number looks like, four or five digits and a city after a comma, or a run of digits at the
# start or end of a line after a line break (the postcode line of a block).
_POSTCODE_INSIDE = compile_re2(
    rf"(?:^|[^\p{{L}}\p{{N}}])(?:{DISTINCT_CODE_FIRST}|{forms.UK_POSTCODE}|{forms.CA_POSTCODE}|{forms.EIRCODE}"
    rf"|{forms.STATE}[ \t]{{1,3}}{forms.US_ZIP})|\n[ \t]*\d{{4,8}}\b|\n[^\n]*\b\d{{4,7}}[ \t]*$|,[ \t]*\d{{4,5}}[ \t]+\p{{Lu}}"
    # A city and its postcode ending the value after a comma ("PO Box 12, Lakeside 4821").
    rf"|,[ \t]*\p{{Lu}}[\p{{L}}'’\- ]{{1,40}}[ \t]\d{{4,5}}[ \t]*$")


# ASCII punctuation and spaces to spaces; letters, digits and all other characters are kept.
_SEPARATORS = {c: " " for c in range(128) if not chr(c).isalnum()}


def _tokens(value: str) -> list[str]:
    """The words of ``value``, split at ASCII punctuation and spaces ("221B" stays one word)."""
    return value.translate(_SEPARATORS).split()


def _street_line(value: str) -> str:
    """The street line: up to the first comma or line break after the first digit."""
    digit = min((i for i in map(value.find, "0123456789") if i >= 0), default=len(value))
    ends = [i for i in (value.find(",", digit), value.find("\n", digit)) if i >= 0]
    return value[:min(ends)] if ends else value


_JOINED = tuple(s.strip(".-") for s in w.JOINED_SUFFIXES)
_STREET_TYPES = frozenset(s.rstrip(".").casefold() for s in (*w.ENGLISH_SUFFIXES, *w.SUFFIX_WORDS, *w.PREFIXES))
# Street types are never "something else", even where the same word is ("Drive", "Run", "Highway").
_NOT_STREETS = w.NOT_STREETS - _STREET_TYPES


def _is_identifier(word: str) -> bool:
    """A camel-case word ("ByteString") or one ending in "string" or "spring" is not a street name."""
    return word.casefold().endswith(("string", "spring")) or any(
        a.islower() and b.isupper() for a, b in itertools.pairwise(word))


def _names_something_else(token: str) -> bool:
    return token[:1].isupper() and token.casefold() in _NOT_STREETS


class StreetAddressRecognizer(Recognizer):
    name = "street_address"
    data_class = "pii.address"
    max_len = _REACH
    openers = OPENERS
    patterns = PATTERNS
    context = w.CONTEXT
    # Copyright lines and standards put years and numbers before names ("Copyright 2005 Gerhard").
    negative_context = ("copyright", "rfc", "version", "license", "licence")
    lookbehind = 1
    longest_match = True

    def validate(self, value: str, pattern: Pattern) -> float | None:
        tokens = _tokens(value)
        numbers = [t for t in tokens if t[0].isdigit()]
        if pattern.name in _LABELLED:
            return self._labelled(value, tokens, numbers, pattern)
        if pattern.name in _LOWER_CASE_OK:
            # Written in lower case, a word naming something else is caught whatever its case.
            if pattern.name == "after an address phrase" and not any(c.isupper() for c in value) and not any(
                    t.casefold() in _STREET_TYPES or t.casefold().endswith(_JOINED) for t in tokens):
                return None  # "we live at home 5 days": in lower case, only a street type makes it a street
            prose = _PROSE_WORDS if pattern.name == "after an address phrase" else frozenset()
            if any(t.casefold() in _NOT_STREETS or t.casefold() in prose for t in tokens):
                return None
            return pattern.score
        # A capitalised word naming something else before a number ("Order 1234", "Office 2021") is not a
        # street; nor is one right after a number in the street line ("3 Monday"). The street line's words
        # are the first words of the value: the pair at ``i`` is in the street line when ``i + 1`` is.
        street = len(_tokens(_street_line(value)))
        for i, (before, after) in enumerate(itertools.pairwise(tokens)):
            # After the street line, a region code in capitals before a postcode ("ACT, 2605") is no "Act 2605".
            if after[0].isdigit() and _names_something_else(before) and (
                    i + 1 < street or not (before.isupper() and len(before) <= 4)):
                return None
            if i + 1 < street and before[0].isdigit() and _names_something_else(after):
                return None
        if pattern.name in _NAME_THEN_NUMBER and tokens[0].casefold() in w.NOT_STREET_START:
            return None
        if pattern.name == "name + street word + number" and not self._street_words_ok(_street_line(value)):
            return None
        if pattern.name in _NAME_THEN_NUMBER and len(numbers) == 1 and numbers[0].isdigit() \
                and len(numbers[0]) == 4 and 1900 <= int(numbers[0]) <= 2099:
            return None  # "Berliner Markt 2024": a year, not a house number
        if pattern.name == "postcode + city":
            dutch = _DUTCH.search(value)
            if dutch is not None and dutch.group(1) in _NOT_DUTCH:
                return None
        if pattern.name == "chome block" and len(numbers[0]) > 2:
            return None  # "2011-2014 Vinay": a range of years, not a block
        if pattern.name == "name + joined street type + number" and _is_identifier(tokens[0]):
            return None  # "ByteString, 0": code
        if pattern.name == "plain postcode + city" and len(tokens) > 1 and tokens[1] in _NOT_DUTCH:
            return None  # "4096 MB": a unit, not a city
        # Plain shapes that carry a postcode, or Japanese ward and block words, are addresses on their own; a
        # street line with its postcode line is surer than any part of it another recognizer may claim (a
        # name in "Dr. Hubergasse 681, 8934 Brunn").
        sure = (_POSTCODE_INSIDE.search(value[1:]) is not None and (pattern.name in _PLAIN or pattern.score >= 0.55)) or (
            pattern.name == "chome block" and any(s in value for s in ("-ku", "-shi", "-cho", "chome", "〒")))
        return min(1.0, pattern.score + 0.2) if sure else pattern.score

    @staticmethod
    def _street_words_ok(street: str) -> bool:
        """The name before a street type written apart may have words in lower case ("Szent margit utca"),
        but not words of English prose ("Please review the gate 5"); the Norwegian "gate" follows a
        genitive ("Karl Johans gate")."""
        words = street.split()
        if any(word.casefold() in _PROSE_WORDS for word in words):
            return False
        gate = next((i for i, word in enumerate(words) if word.casefold() == "gate"), -1)
        return gate != 0 and (gate < 0 or words[gate - 1].endswith("s"))

    @staticmethod
    def _labelled(value: str, tokens: list[str], numbers: list[str], pattern: Pattern) -> float | None:
        if not numbers or "@" in value or "://" in value or value.lower().startswith(("0x", "www.")):
            return None
        if pattern.name == "labelled address" and (" " not in value or any(c in value for c in "()[]{}=;<>`$")):
            return None  # code ("street = getStreet(42)"), not an address
        if pattern.name == "labelled address" and not any(len(t) >= 2 and t[0].isalpha() for t in tokens):
            return None
        return pattern.score

    def set_patterns(self) -> tuple[str, ...] | None:
        # ``scan`` runs the same patterns as the base class does, so the detector's prefilter still applies.
        return tuple(relax_bounds(p.regex) for p in self.patterns)

    def scan(self, scan: ScanText, hits: Container[int] | None = None, floor: float = 0.0) -> list[Finding]:
        """The base scan, with the parts of one address merged into one finding.

        Different patterns find parts of one address (a street line with its postcode line, the
        postcode line alone): they are one finding, not a contest that the part with a context word
        nearer to it would win. A candidate inside a finding already kept is not judged again, so a
        dense block of addresses costs one validation per address rather than one per pattern.
        """
        if not self.applies(scan):
            return []
        text = scan.text
        kept: list[Finding] = []
        weak: list[Finding] = []
        starts: list[int] = []
        ends: list[int] = []
        for pattern, start, end in self.candidates(scan, hits):
            if start < 0 or end == start or end - start > self.max_len:
                continue
            i = bisect_right(starts, start)
            if i and ends[i - 1] >= end:
                continue
            score = self.validate(text[start:end], pattern)
            if score is None:
                continue
            context = self.context_effect(scan, start, end)
            if context is None:
                continue
            boosted, penalised, note = context
            score = min(1.0, score + CONTEXT_BOOST) if boosted else score
            score = score - NEGATIVE_PENALTY if penalised else score
            finding = Finding(self.data_class, start, end, round(score, 3), self.name, pattern.name + note)
            if finding.confidence < floor:
                weak.append(finding)
                continue
            kept.append(finding)
            starts.insert(i, start)
            ends.insert(i, end)
        return _merged(kept) + weak

    def context_effect(self, scan: ScanText, start: int, end: int) -> tuple[bool, bool, str] | None:
        before = scan.lowered[max(0, start - 40):start]
        # Only a label just before the span can be an "e-mail address:"; most spans have none.
        if any(map(before.__contains__, _ADDRESS_STEMS)):
            tail = window_tokens(scan.text, start, end, 40, scan.folded)[0][-4:]
            for i in range(1, len(tail)):
                if tail[i] in _ADDRESS_WORDS and tail[i - 1] in _NOT_POSTAL:
                    return None  # "e-mail address: ...", "IP address ...", "wallet address: ..."
        return super().context_effect(scan, start, end)


def _merged(findings: list[Finding]) -> list[Finding]:
    """Overlapping findings as one, spanning both, with the higher confidence and its explanation."""
    findings.sort(key=lambda f: (f.start, -f.end))
    merged: list[Finding] = []
    for f in findings:
        last = merged[-1] if merged else None
        if last is None or f.start >= last.end:
            merged.append(f)
        elif f.end > last.end or f.confidence > last.confidence:
            best = f if f.confidence > last.confidence else last
            merged[-1] = Finding(best.data_class, last.start, max(last.end, f.end), best.confidence,
                                 best.detector, best.explanation)
    return merged
