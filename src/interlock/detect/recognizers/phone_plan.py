"""Numbering plans: is a digit string a number some country could have assigned?

International numbers ("+CC ...") go to ``phonenumbers`` as they are: one country code, one parse.
National numbers could belong to any of dozens of regions, and parsing them once per region costs about
55 us a region (3.4 ms for 62 regions per candidate), far too slow for a detector on every call. So the
regions' own metadata from ``phonenumbers`` (the general pattern, each number type's pattern and
possible lengths, the trunk prefix) is compiled once into one alternation per (trunk prefix, length):
a candidate is then one dictionary lookup and one ``fullmatch`` per trunk prefix it starts with.

A national number must be written as the region writes it: with its trunk prefix ("0" in most of
Europe, "8" in Russia, "06" in Hungary) where the region has one, bare where it has none. North American
numbers are written bare or after a "1". ``phonenumbers.parse`` is more lenient (it accepts a German
number without its "0"), which with many regions would make almost any digit string "valid somewhere".

The patterns are Python ``re`` (the library's own); they only ever run on candidates of at most 17
digits, so their cost is bounded per candidate.
"""

from __future__ import annotations

import re
from functools import lru_cache

import phonenumbers
from phonenumbers.phonemetadata import PhoneMetadata, PhoneNumberDesc

_TYPES = ("fixed_line", "mobile", "toll_free", "premium_rate", "shared_cost", "personal_number", "voip",
          "pager", "uan", "voicemail")
# Regions whose numbers are written without their trunk prefix as often as with it ("(11) 2345-6789").
_BARE_TOO = frozenset({"US", "CA", "BR"})


def _region_patterns(meta: PhoneMetadata) -> dict[int, str]:
    """For each national length, one pattern matching exactly the valid national numbers of that length."""
    general = meta.general_desc
    if general is None or not general.national_number_pattern:
        return {}
    by_length: dict[int, list[str]] = {}
    for name in _TYPES:
        desc: PhoneNumberDesc | None = getattr(meta, name)
        if desc is None or not desc.national_number_pattern:
            continue
        lengths = desc.possible_length or general.possible_length
        for length in lengths:
            if length > 0:
                by_length.setdefault(length, []).append(desc.national_number_pattern)
    check = f"(?=(?:{general.national_number_pattern})$)"
    return {length: check + "(?:" + "|".join(f"(?:{p})" for p in parts) + ")"
            for length, parts in by_length.items()}


class NumberingPlans:
    """National validity across a fixed set of regions, compiled once (immutable, safe to share)."""

    def __init__(self, regions: tuple[str, ...]) -> None:
        unknown = [r for r in regions if r not in phonenumbers.SUPPORTED_REGIONS]
        if unknown:
            raise ValueError(f"phone regions {unknown} are not regions phonenumbers knows")
        # trunk prefix ("" for bare) -> national length -> region patterns
        table: dict[str, dict[int, list[str]]] = {}
        for region in dict.fromkeys(regions):
            meta = PhoneMetadata.metadata_for_region(region)
            if meta is None:
                continue
            prefix = meta.national_prefix or ""
            forms = {prefix, ""} if region in _BARE_TOO else {prefix}
            for length, pattern in _region_patterns(meta).items():
                for form in forms:
                    table.setdefault(form, {}).setdefault(length, []).append(pattern)
        self.regions = tuple(dict.fromkeys(regions))
        self._table: tuple[tuple[str, dict[int, re.Pattern[str]]], ...] = tuple(
            (prefix, {length: re.compile("|".join(f"(?:{p})" for p in parts)) for length, parts in lengths.items()})
            for prefix, lengths in sorted(table.items())
        )

    def national_valid(self, digits: str) -> bool:
        """Whether ``digits`` (as written, trunk prefix included) is a valid number in one of the regions."""
        return _national_valid(self, digits)

    def _check(self, digits: str) -> bool:
        for prefix, lengths in self._table:
            if digits.startswith(prefix):
                pattern = lengths.get(len(digits) - len(prefix))
                if pattern is not None and pattern.fullmatch(digits, len(prefix)) is not None:
                    return True
        return False


@lru_cache(maxsize=8192)
def _national_valid(plans: NumberingPlans, digits: str) -> bool:
    # Logs and tables repeat the same numbers; the cache makes a repeat a dictionary lookup.
    return plans._check(digits)


VALID, POSSIBLE, KNOWN_CODE, INVALID = 3, 2, 1, 0


@lru_cache(maxsize=8192)
def international_validity(digits: str) -> int:
    """``digits`` follow a "+" (or an international prefix): VALID, POSSIBLE (a known country code and a
    length its numbers can have), KNOWN_CODE (a country code, then digits no plan allows: an old format
    such as Mexico's "+52 1 55 ...") or INVALID."""
    try:
        number = phonenumbers.parse("+" + digits, None)
    except phonenumbers.NumberParseException:
        return INVALID
    if phonenumbers.is_valid_number(number):
        return VALID
    if phonenumbers.is_possible_number(number):
        return POSSIBLE
    return KNOWN_CODE if number.country_code in phonenumbers.COUNTRY_CODE_TO_REGION_CODE else INVALID
