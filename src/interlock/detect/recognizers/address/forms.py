"""RE2 sources for the parts of an address, built once at import from the tables in ``words``.

An address is a street line (one of several forms, each with a house number), then optionally units,
districts, a postcode-and-city line and a country, separated by commas or line breaks. Within a street
line only spaces and tabs separate words, so a street never runs across lines; the parts after it may.
RE2's ``\\b`` only knows ASCII word characters, so boundaries before words that may start with another
letter (``Świętokrzyska``, ``Đường``) are written as ``LEFT``, a non-letter the match consumes, with the
address itself in group 1.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from interlock.detect.recognizers.address import words


def alternation(items: Iterable[str], *, optional_dot: bool = True, shortest_undotted: int = 2,
                undotted: frozenset[str] = frozenset()) -> str:
    """A non-capturing alternation of literal words, longest first (RE2 takes the first that fits).

    A trailing dot becomes optional when the word has at least ``shortest_undotted`` letters before it
    ("ul." and "ul"), or when it is one of ``undotted``;
    spaces inside a word match one to three spaces or tabs.
    """
    parts = set()
    for item in items:
        dotted = item.endswith(".") and optional_dot and (
            len(item.rstrip(".")) >= shortest_undotted or item.rstrip(".") in undotted)
        body = item.rstrip(".") if dotted else item
        source = r"[ \t]{1,3}".join(re.escape(piece) for piece in body.split(" "))
        parts.add(source + (r"\.?" if dotted else ""))
    return "(?:" + "|".join(sorted(parts, key=lambda p: (-len(p), p))) + ")"


LEFT = r"(?:^|[^\p{L}\p{N}_])"
UPPER = r"\p{Lu}"
LETTERS = r"[A-Za-z\x{C0}-\x{D6}\x{D8}-\x{F6}\x{F8}-\x{24F}\x{1E00}-\x{1EFF}\x{300}-\x{36F}'’\-]"
# Upper-case letters for openers, which Python's parser must read (it measures their width): ASCII,
# Latin-1, Latin Extended-A and -B and Latin Extended Additional (Vietnamese). Lower case letters of the
# extended blocks are let in too, which only makes streaming hold a little more.
OPENER_UPPER = "A-ZÀ-ÖØ-ÞĀ-ɏḀ-ỿ"
SP = r"[ \t]{1,3}"

PARTICLES = alternation((
    "de", "del", "de la", "de los", "de las", "des", "du", "da", "do", "dos", "das", "di", "della", "delle",
    "dei", "degli", "dello", "van", "von", "der", "den", "het", "ten", "ter", "la", "le", "les", "el", "los",
    "las", "y", "e", "i", "of", "the", "am", "an", "im", "zum", "zur", "auf", "bei", "sur", "sous", "lès", "en",
    "al", "bin", "binti", "dan", "pri", "nad", "pod", "na", "ob", "u", "v", "in", "upon", "an der",
), optional_dot=False)
# Particles that may open a street's name after its type ("calle de Alcalá", "rue du Bac"); not English
# ones ("via the RFC" is prose).
LEADING_PARTICLES = alternation((
    "de", "del", "de la", "de los", "de las", "des", "du", "da", "do", "dos", "das", "di", "della", "delle",
    "dei", "degli", "dello", "van", "von", "der", "den", "het", "la", "le", "les", "el", "los", "las",
), optional_dot=False)
ELISION = r"(?:[dDlL]['’])?"
NAME_WORD = rf"(?:{UPPER}{LETTERS}*\.?|{UPPER}(?:\.{UPPER}){{1,2}}\.?|\d{{1,3}}(?:st|nd|rd|th|e|er|ème|º|ª)\.?)"
# A street's name: capitalised words, with lower-case particles between them ("de la", "van", "della").
PROPER_NAME = rf"{ELISION}{NAME_WORD}(?:{SP}(?:{PARTICLES}{SP}){{0,2}}{ELISION}{NAME_WORD}){{0,4}}"
# After a street type the name may open with a particle ("calle de Alcalá", "rue du Bac").
NAME = rf"(?:{LEADING_PARTICLES}{SP}){{0,2}}{PROPER_NAME}"

_NUMBER_WORD = r"(?i:n[º°o]\.?|nr\.?|no\.?|n\.º|núm\.?|num\.?|número|nro\.?|#)"
# A house number after the street: "76", "5a", "730/12", "12 A 5" (stair and door), "No. 5", "No: 12",
# "12 bis", "158." (Hungarian), "s/n".
HOUSE_NUMBER = (rf"(?:(?:{_NUMBER_WORD}[ \t]?:?[ \t]?)?\d{{1,4}}[a-zA-Z]?\b(?:[/\-]\d{{1,4}}[a-zA-Z]?\b)?"
                r"(?:[ \t][A-Z](?:[ \t]?\d{1,3})?\b)?"
                r"(?:[ \t]?(?i:bis|ter)\b)?\.?|(?i:s/n)\b)")
# A house number before the street: "221B", "12-14", "99/1", "12 bis", "H.No. 17", "No. 5".
LEADING_NUMBER = (r"(?:(?i:h\.?[ \t]?no|house[ \t]no|no|n[º°])\.?[ \t]?)?"
                  r"\d{1,5}[a-zA-Z]?\b(?:[/\-](?:\d{1,5}[a-zA-Z]?|[A-Z])\b)?(?:[ \t](?i:bis|ter)\b)?")
NAME_NUMBER_SEP = rf",?{SP}"

# A unit's own number has a digit or is one capital letter ("Flat 3", "Apt 4B", "Unit C"): "flat is" is
# not a unit.
_UNIT_ID = r"(?:[A-Za-z]{0,2}\d[A-Za-z0-9\-]{0,4}|[A-Z])\b"
_UNIT_WORDS = alternation(words.UNITS)
UNIT = (rf"(?:(?:[ \t]{{0,3}},)?{SP}|[ \t]*\r?\n[ \t]*)"
        rf"(?:(?i:{_UNIT_WORDS})\.?[ \t]?(?:#|[Nn][ºo°]\.?)?[ \t]?{_UNIT_ID}"
        r"|#[ \t]?[A-Za-z0-9\-]{1,6}\b"
        r"|\d{1,2}(?:st|nd|rd|th|º|ª|o|a|\.)?[ \t]?(?i:floor|piso|andar|étage|etage|stock|og|izq|izda|dcha|der)\b\.?"
        r"|\d{1,2}[ºª°][ \t]?[A-Za-z0-9]{1,2}\b)")
UNIT_BEFORE_WORD = r"(?i:flat|apt|apartment|unit|suite|studio|apto|piso|room|rm|level|lot|blk|block|bldg|building)"
# A unit, and the building it is in, before the street line: "Flat 3, ", "Apt. 841\n", "Room 1407 Garnet
# Apartment, ", "Unit 1129 Talisay Condominiums Tower 6, ".
UNIT_BEFORE = (rf"(?:{UNIT_BEFORE_WORD}\.?[ \t]?#?{_UNIT_ID}(?:{SP}{PROPER_NAME}(?:[ \t]\d{{1,3}}\b)?)?"
               r"(?:,?[ \t]{1,3}|[ \t]*,?\r?\n[ \t]*))")

# Commas, semicolons (CSV) and line breaks separate the parts of an address; so may a dash or plain spaces.
SEP = r"(?:[ \t]*[,;][ \t]*|[ \t]*\r?\n[ \t]*|[ \t]{1,3}[-–|/·][ \t]{1,3}|[ \t]{1,3})"
LINE_SEP = r"(?:[ \t]*[,;][ \t]*|[ \t]*\r?\n[ \t]*)"
CITY_WORD = rf"{UPPER}{LETTERS}+\.?"
# A city: capitalised words with particles ("Frankfurt am Main", "Šempeter pri Gorici", "'s-Hertogenbosch"),
# then a district number or letter ("Praha 1", "København V"), "Cedex", a region code ("Milano MI",
# "Gabella (PI)", "São Paulo - SP") or a region in brackets.
CITY = (rf"(?:['’][st][ \-])?{CITY_WORD}(?:(?:{SP}|[ \t]?[-–][ \t]?)(?:{PARTICLES}{SP}){{0,2}}{CITY_WORD}){{0,4}}"
        r"(?:[ \t]{1,2}\d{1,2}\b|[ \t][A-Z]\b)?(?:[ \t](?i:cedex)(?:[ \t]\d{1,2}\b)?)?"
        r"(?:[ \t]{0,3}(?:[/\-–][ \t]{0,3})?(?:\([A-Z]{2,3}\)|[A-Z]{2}\b)|[ \t]{1,2}\([A-Z][^()\n]{1,30}\))?")

UK_POSTCODE = r"(?:GIR[ \t]?0AA|[A-PR-UWYZ][A-HK-Y]?\d[A-Z\d]?[ \t]?\d[ABD-HJLNP-UW-Z]{2})\b"
CA_POSTCODE = r"[ABCEGHJ-NPRSTVXY]\d[ABCEGHJ-NPRSTV-Z][ \t]?\d[ABCEGHJ-NPRSTV-Z]\d\b"
# After a street line, the shapes without the letter rules (generated and mistyped codes keep the shape).
UK_SHAPE = r"[A-Z]{1,2}\d[A-Z\d]?[ \t]?\d[A-Z]{2}\b"
CA_SHAPE = r"[A-Z]\d[A-Z][ \t]?\d[A-Z]\d\b"
EIRCODE = r"(?:[AC-FHKNPRTV-Y]\d{2}|D6W)[ \t]?[0-9AC-FHKNPRTV-Y]{4}\b"
US_ZIP = r"\d{5}(?:-\d{4})?\b"
JP_POSTCODE = r"〒?[ \t]?\d{3}-\d{4}\b"
BR_CEP = r"\d{5}-\d{3}\b"
STATE = alternation(words.US_STATES)
PROVINCE = alternation(words.CA_PROVINCES)

# Postcodes written before the city, one shape per family of countries.
DISTINCT_CODE_FIRST = (
    r"(?:\d{5}-\d{3}"                # Brazil
    r"|\d{4}-\d{3}"                  # Portugal
    r"|\d{2}-\d{3}"                  # Poland
    r"|\d{3}[ \t]\d{2}"              # Czechia, Slovakia, Sweden, Greece
    r"|[1-9]\d{3}[ \t]?[A-Z]{2}"     # Netherlands
    r"|[A-Z]{1,3}-\d{4,5})\b"        # country-prefixed: D-10115, CH-8001, LV-1010
)
PLAIN_CODE_FIRST = r"\d{4,5}\b"    # Germany, France, Spain, Italy, Finland (5); Switzerland, Austria, Nordics (4)
# After a street line the postcode may also be three (Iceland) or six to eight digits (Colombia, Romania, India, Chile, Brazil's
# CEP without its hyphen) and the
# city may follow on the next line.
CODE_FIRST_LINE = (rf"(?:{DISTINCT_CODE_FIRST}|\d{{3,8}}\b)(?:[ \t]*[,;][ \t]*|[ \t]{{1,3}}(?:[-–][ \t]?)?|[ \t]*\r?\n[ \t]*)"
                   rf"(?:{PARTICLES}{SP})?{CITY}")
# Postcodes written after the city: US ZIP with state, Canada, UK, Ireland, Japan, Brazil, and a plain
# run of digits (Mexico, Australia, India, Chile) after a city and an optional region code.
CODE_AFTER = (rf"(?:(?:{STATE}{SP}{US_ZIP}|{PROVINCE}{SP}{CA_SHAPE})|{UK_SHAPE}|{CA_SHAPE}|{EIRCODE}"
              rf"|{JP_POSTCODE}|{BR_CEP}|(?:[A-Z]{{2,4}},?{SP})?\d{{4,7}}(?:-\d{{4}})?\b)")
_CITY_THEN = rf"{CITY}(?:,[ \t]*{CITY})?(?:[ \t]*,[ \t]*|{SP}|[ \t]*[-–][ \t]*|[ \t]*\r?\n[ \t]*)"
CITY_THEN_CODE = rf"{_CITY_THEN}{CODE_AFTER}"
# On its own, only postcodes no other number looks like: "Tokyo 150-0002" could be a phone number and
# "Bangkok 10110" a build number.
CITY_THEN_DISTINCT_CODE = (rf"{_CITY_THEN}(?:(?:{STATE}{SP}{US_ZIP}|{PROVINCE}{SP}{CA_POSTCODE})|{UK_POSTCODE}"
                           rf"|{CA_POSTCODE}|{EIRCODE}|{BR_CEP})")
CODE_ALONE = (rf"(?:(?:{STATE}{SP}{US_ZIP}|{PROVINCE}{SP}{CA_SHAPE})|{UK_SHAPE}|{CA_SHAPE}|{EIRCODE})"
              rf"(?:{SP}{CITY})?")
# A region after the postcode line ("4700, Catamarca").
POSTCODE_LINE = rf"(?:{CODE_FIRST_LINE}|{CITY_THEN_CODE}|{CODE_ALONE})(?:[ \t]*,[ \t]*{CITY})?"

_DISTRICT_WORDS = alternation(words.DISTRICTS)
DISTRICT = rf"(?:{_DISTRICT_WORDS}[ \t]?)?(?:{CITY}|\d{{1,3}}\b)"
# Administrative units named by a word of their own may follow with only a space ("Phường Tân Phú tỉnh
# Thanh Hóa", "Kec. Menteng").
ADMIN = rf"(?:,?[ \t]{{1,3}}|[ \t]*\r?\n[ \t]*)(?i:{_DISTRICT_WORDS})[ \t]{{0,3}}(?:{CITY}|\d{{1,3}}\b)"
COUNTRY = alternation(words.COUNTRIES)

# What may follow a street line: units and named districts, then districts and a postcode line (and a
# country), or cities after commas (and a country).
TAIL = (rf"(?:{UNIT}){{0,3}}(?:{ADMIN}){{0,3}}(?:{SEP}(?:{DISTRICT}{SEP}){{0,2}}{POSTCODE_LINE}(?:{SEP}{COUNTRY})?"
        rf"|(?:[ \t]*,[ \t]*{CITY}){{1,2}}(?:{SEP}{COUNTRY})?)?")
# The same, required and on a new line or after a comma: for street lines too plain to stand alone.
REQUIRED_TAIL = (rf"(?:{UNIT}){{0,3}}(?:{ADMIN}){{0,3}}(?:{LINE_SEP}(?:{DISTRICT}{LINE_SEP}){{0,2}}{POSTCODE_LINE}"
                 rf"(?:{SEP}{COUNTRY})?|(?:[ \t]*,[ \t]*{CITY}){{1,2}}(?:{SEP}{COUNTRY})?)")
# Required, and with a postcode: for a street type and name without a house number.
POSTCODE_TAIL = (rf"(?:{LINE_SEP}(?:{DISTRICT}{LINE_SEP}){{0,2}}{POSTCODE_LINE}(?:{SEP}{COUNTRY})?)")

# Two-letter abbreviations keep their dot ("OS X 10" is not an estate), except those written without it.
PREFIX = alternation(words.PREFIXES, shortest_undotted=3, undotted=frozenset({"ul", "al", "av", "jl", "bd", "pl"}))
# After a house number only capitalised ("664 Viale Clauzetto"): "3 via Email" is prose.
CAPITALISED_PREFIX = alternation(p[:1].upper() + p[1:] for p in words.PREFIXES)
PREPOSITION = alternation(words.PREPOSITIONS)
# Written after a name, "pr." and "Sk." keep their dots: "PR 1234" is a pull request.
SUFFIX_WORD = alternation(words.SUFFIX_WORDS, shortest_undotted=3)
JOINED_SUFFIX = alternation(words.JOINED_SUFFIXES)
ENGLISH_SUFFIX = alternation(words.ENGLISH_SUFFIXES, optional_dot=False)
NUMBER_FIRST_ROUTE = alternation(words.NUMBER_FIRST_ROUTES)
PO_BOX_WORD = alternation(w for w in words.PO_BOXES if len(w.replace(".", "")) > 3)
PO_BOX_SHORT = alternation((w for w in words.PO_BOXES if len(w.replace(".", "")) <= 3), optional_dot=False)
_COMPASS = r"(?:[ \t](?:N|S|E|W|NE|NW|SE|SW)\b\.?)?"

# Labels of a form field, a JSON key or a CSV header that hold an address.
ADDRESS_LABEL = (
    r"(?i:(?:street|mailing|postal|post|shipping|billing|delivery|home|residential|business|permanent|current"
    r"|correspondence|registered|return)?[ \t_\-]?(?:address|addr)(?:[ \t_\-]?(?:line)?[ \t_\-]?[123])?"
    r"|adresse|anschrift|lieferadresse|rechnungsadresse|wohnadresse|wohnort|adres|adresa|adresă|adresas|adrese"
    r"|aadress|osoite|lakcím|cím|dirección|direccion|domicilio|indirizzo|endereço|endereco|morada|adreça"
    r"|alamat|địa[ \t]chỉ|tirahan|straße|strasse|street|calle|rua|ulica|jusho)"
)
POSTCODE_LABEL = (
    r"(?i:zip(?:[ \t_\-]?code)?|post[ \t_\-]?code|postal[ \t_\-]?code|plz|postleitzahl|cep|código[ \t]postal"
    r"|codigo[ \t]postal|code[ \t]postal|psč|kod[ \t]pocztowy|postnummer|postinumero|irányítószám|eircode)"
)
LABEL_END = r"[ \t]{0,3}[\"']?[ \t]{0,3}[:=][ \t]{0,3}[\"']?[ \t]{0,3}"
# A labelled value runs to the end of its line (or its quote), plus postcode and country lines below it.
LABELLED = (rf"{ADDRESS_LABEL}{LABEL_END}(?:\r?\n[ \t]*)?"
            rf"([^\s\"'<>{{}}|;][^\n\"<>{{}}|;]{{2,100}}(?:[ \t]*\r?\n[ \t]*(?:{POSTCODE_LINE}|{COUNTRY})){{0,2}})")
LABELLED_POSTCODE = (rf"{POSTCODE_LABEL}{LABEL_END}"
                     r"([A-Z0-9](?:[A-Z0-9]|[ \-](?:[A-Z0-9])){2,9})\b")
# A city field: "City: Berlin", "\"city\": \"São Paulo\"", "Ort: Frankfurt am Main".
CITY_LABEL = (r"(?i:city|town|ciudad|ville|stadt|ort|wohnort|città|citta|cidade|miasto|město|mesto|kota|localidad"
              r"|localité|municipio|município|plaats|stad|kaupunki|város|oraș|oras)")
LABELLED_CITY = rf"{CITY_LABEL}{LABEL_END}({CITY})"

# Chat and e-mail text write addresses in lower case too, but after a phrase that says what follows.
TRIGGER = (r"(?i:(?:i|we|she|he|they)[ \t]{1,3}(?:live|lives|living|reside|resides|moved)[ \t]{1,3}(?:at|on|to)"
           r"|(?:my|our|the|his|her|their)[ \t]{1,3}(?:home[ \t]{1,3}|new[ \t]{1,3}|postal[ \t]{1,3}|mailing[ \t]{1,3})?"
           r"address[ \t]{1,3}is|(?:ship|send|deliver|mail|post)[ \t]{1,3}(?:it[ \t]{1,3}|them[ \t]{1,3})?to"
           r"|located[ \t]{1,3}at|wohne[ \t]{1,3}(?:in[ \t]{1,3}der|im|am|in)|j'habite(?:[ \t]{1,3}au)?|habito[ \t]{1,3}en"
           r"|vivo[ \t]{1,3}en|abito[ \t]{1,3}in|moro[ \t]{1,3}(?:na|no|em)|mieszkam[ \t]{1,3}(?:na|przy|w)"
           r"|bydlím[ \t]{1,3}(?:v|na)|woon[ \t]{1,3}(?:aan|op)|bor[ \t]{1,3}på|tinggal[ \t]{1,3}di"
           r"|(?:i|we)[ \t]{1,3}stay[ \t]{1,3}at|find[ \t]{1,3}us[ \t]{1,3}at|pick[ \t]?up[ \t]{1,3}at"
           r"|drop[ \t]{1,3}(?:it[ \t]{1,3})?off[ \t]{1,3}at|meine[ \t]{1,3}adresse[ \t]{1,3}ist"
           r"|mi[ \t]{1,3}dirección[ \t]{1,3}es|mon[ \t]{1,3}adresse[ \t]{1,3}est|il[ \t]{1,3}mio[ \t]{1,3}indirizzo[ \t]{1,3}è"
           r"|meu[ \t]{1,3}endereço[ \t]{1,3}é|mijn[ \t]{1,3}adres[ \t]{1,3}is|min[ \t]{1,3}adress[ \t]{1,3}är"
           r"|moja[ \t]{1,3}adresa[ \t]{1,3}je|mój[ \t]{1,3}adres[ \t]{1,3}to)")
_LOWER_WORD = r"[\p{L}'’\-]+\.?"
_ANY_SUFFIX = (rf"(?i:{alternation(words.ENGLISH_SUFFIXES, optional_dot=False)}|{alternation(words.SUFFIX_WORDS)})"
               r"\.?")
# After a trigger: a number, words and a street type ("742 evergreen terrace"), a street type, words and a
# number ("calle mayor 5", "ul. kurantów 76"), or a word ending in a street type and a number
# ("hauptstraße 5"), or one to three words, the first capitalised, and a number ("Kameníků 664"); then a city
# after a comma (a second word only if capitalised: "and" is not a city).
TRIGGERED = (rf"{TRIGGER}[ \t]{{1,3}}:?[ \t]{{0,3}}("
             rf"(?:\d{{1,5}}[a-zA-Z]?,?[ \t]{{1,3}}(?:{_LOWER_WORD}[ \t]{{1,3}}){{1,4}}{_ANY_SUFFIX}"
             rf"|(?i:{alternation(words.PREFIXES)})[ \t]{{1,3}}(?:{_LOWER_WORD}[ \t]{{1,3}}){{1,4}}\d{{1,4}}[a-zA-Z]?"
             rf"|[\p{{L}}\-]+(?i:{alternation(words.JOINED_SUFFIXES)})\.?[ \t]{{1,3}}\d{{1,4}}[a-zA-Z]?"
             rf"|{UPPER}{_LOWER_WORD}(?:[ \t]{{1,3}}{_LOWER_WORD}){{0,2}}[ \t]{{1,3}}\d{{1,4}}[a-zA-Z]?(?:/\d{{1,4}}[a-zA-Z]?)?)\b"
             rf"(?:[ \t]*,[ \t]*{_LOWER_WORD}(?:[ \t]{{1,3}}{UPPER}{LETTERS}+)?(?:[ \t]{{1,3}}\d{{4,5}}\b)?)?)")
