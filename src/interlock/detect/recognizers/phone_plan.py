"""Numbering plans: is a digit string a number some country could have assigned?

International numbers ("+CC ...") have one country code, so one region's plan (or a few sharing the code)
decides; the library's own parse and validation cost about 20 us a number, so the same metadata is compiled
once per calling code too and gives the same answers (a test compares them on every region's examples).
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
from functools import cache, lru_cache

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
    such as Mexico's "+52 1 55 ...") or INVALID.

    The same answer as parsing the number with ``phonenumbers`` and asking ``is_valid_number`` and
    ``is_possible_number`` (which :func:`validity_by_parsing` does), from the same metadata compiled once
    per country code: a parse and a validation cost about 20 us in the library's Python, a few times
    a candidate's whole judgement, and dense text rarely repeats a number for the cache to catch. Forms
    the compiled path does not cover (a national prefix after the country code, an unknown code, very
    short or long numbers) are parsed."""
    if 3 <= len(digits) <= 17 and digits.isascii() and digits.isdigit() and digits[0] != "0":
        for size in (1, 2, 3):
            code = int(digits[:size])
            if code in phonenumbers.COUNTRY_CODE_TO_REGION_CODE:
                plan = _calling_code_plan(code)
                answer = plan.validity(digits[size:]) if plan is not None else None
                if answer is not None:
                    return answer
                break
    return validity_by_parsing(digits)


def validity_by_parsing(digits: str) -> int:
    """:func:`international_validity` through ``phonenumbers.parse``."""
    try:
        number = phonenumbers.parse("+" + digits, None)
    except phonenumbers.NumberParseException:
        return INVALID
    if phonenumbers.is_valid_number(number):
        return VALID
    if phonenumbers.is_possible_number(number):
        return POSSIBLE
    return KNOWN_CODE if number.country_code in phonenumbers.COUNTRY_CODE_TO_REGION_CODE else INVALID


# The number types in the order ``phonenumbers`` tries them; fixed line and mobile come last.
_VALIDITY_TYPES = ("premium_rate", "toll_free", "shared_cost", "voip", "personal_number", "pager", "uan",
                   "voicemail", "fixed_line", "mobile")


class _RegionPlan:
    """One region's national numbers: valid when the general description and a number type match."""

    __slots__ = ("_general", "_general_lengths", "_types")

    def __init__(self, meta: PhoneMetadata) -> None:
        general = meta.general_desc
        self._general = re.compile(general.national_number_pattern) if general is not None and \
            general.national_number_pattern else None
        self._general_lengths = frozenset(general.possible_length) if general is not None else frozenset()
        # Per national length, one alternation of the types that allow that length (a type without lengths
        # allows every length), so a candidate costs one match however many types there are.
        descs: list[PhoneNumberDesc] = []
        for name in _VALIDITY_TYPES:
            desc: PhoneNumberDesc | None = getattr(meta, name)
            if name == "mobile" and meta.same_mobile_and_fixed_line_pattern:
                continue  # then a number that is not fixed line is not mobile either
            if desc is not None and desc.national_number_pattern:
                descs.append(desc)
        self._types: dict[int, re.Pattern[str] | None] = {}
        for length in range(2, 18):
            parts = [d.national_number_pattern for d in descs if not d.possible_length or length in d.possible_length]
            self._types[length] = re.compile("|".join(f"(?:{p})" for p in parts)) if parts else None

    def valid(self, national: str) -> bool:
        if self._general is None or (self._general_lengths and len(national) not in self._general_lengths):
            return False
        if self._general.fullmatch(national) is None:
            return False
        types = self._types.get(len(national))
        return types is not None and types.fullmatch(national) is not None


class _CallingCodePlan:
    """What ``phonenumbers`` needs to judge a number after one country calling code."""

    __slots__ = ("_local_lengths", "_possible", "_prefix", "_regions", "_single")

    def __init__(self, code: int, regions: tuple[str, ...], main: PhoneMetadata) -> None:
        prefix = main.national_prefix_for_parsing
        self._prefix = re.compile(prefix) if prefix else None
        general = main.general_desc
        self._possible = tuple(general.possible_length) if general is not None else ()
        self._local_lengths = frozenset(general.possible_length_local_only or ()) if general is not None else frozenset()
        plans: list[tuple[re.Pattern[str] | None, _RegionPlan, bool]] = []
        for region in regions:
            meta = PhoneMetadata.metadata_for_region_or_calling_code(code, region.upper())
            if meta is None:
                continue
            leading = re.compile(meta.leading_digits) if len(regions) > 1 and meta.leading_digits is not None else None
            # A number found to be of a region with another calling code is not valid.
            usable = region == phonenumbers.REGION_CODE_FOR_NON_GEO_ENTITY or meta.country_code == code
            plans.append((leading, _RegionPlan(meta), usable))
        self._regions = tuple(plans)
        self._single = len(regions) == 1

    def validity(self, national: str) -> int | None:
        """The answer for the national significant number ``national``, or ``None`` where parsing would strip
        a national prefix (then the caller parses)."""
        if len(national) < 2 or (self._prefix is not None and self._prefix.match(national) is not None):
            return None
        if self._valid(national):
            return VALID
        return POSSIBLE if self._possible_length(len(national)) else KNOWN_CODE

    def _valid(self, national: str) -> bool:
        if self._single:
            return bool(self._regions) and self._regions[0][2] and self._regions[0][1].valid(national)
        for leading, plan, usable in self._regions:
            # The number is of the first region whose leading digits match, or that finds it valid.
            if leading is not None:
                if leading.match(national) is not None:
                    return usable and plan.valid(national)
            elif plan.valid(national):
                return usable
        return False

    def _possible_length(self, length: int) -> bool:
        lengths = self._possible
        if length in self._local_lengths:
            return True
        if not lengths or lengths[0] > length or lengths[-1] < length:
            return False
        return length in lengths


@cache
def _calling_code_plan(code: int) -> _CallingCodePlan | None:
    regions = phonenumbers.COUNTRY_CODE_TO_REGION_CODE.get(code)
    if not regions:
        return None
    main = PhoneMetadata.metadata_for_region_or_calling_code(code, regions[0])
    return None if main is None else _CallingCodePlan(code, tuple(regions), main)
