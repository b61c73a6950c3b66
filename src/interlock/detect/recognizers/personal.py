"""Dates of birth and ages: ordinary dates and numbers that become personal data through context."""

from __future__ import annotations

from interlock.detect.context import column_header, tokens, window_tokens
from interlock.detect.recognizer import Pattern, Recognizer, ScanText

_MONTHS = (r"(?:Jan(?:uary)?|Feb(?:ruary)?|Mar(?:ch)?|Apr(?:il)?|May|June?|July?|Aug(?:ust)?|"
           r"Sep(?:t(?:ember)?)?|Oct(?:ober)?|Nov(?:ember)?|Dec(?:ember)?)")
_DAY = r"(?:0?[1-9]|[12]\d|3[01])"
_MONTH_NUMBER = r"(?:0?[1-9]|1[0-2])"
# A month written as a word, in any language: ``validate`` checks it against the month names below.
_MONTH_WORD = r"\p{L}{3,12}\.?"

def _word_set(text: str) -> frozenset[str]:
    """The whitespace-separated words of a table written as text."""
    return frozenset(text.split())


# Month names (and the genitive or partitive forms dates use) of the main European languages; an
# abbreviation is any prefix of at least three letters ("Sept.", "févr.", "Dez.").
_MONTH_NAMES = _word_set("""
january february march april may june july august september october november december
januar jänner februar märz mai juni juli oktober dezember
janvier février mars avril juin juillet août septembre octobre novembre décembre
enero febrero marzo abril mayo junio julio agosto septiembre setiembre octubre noviembre diciembre
gennaio febbraio aprile maggio giugno luglio settembre ottobre dicembre
janeiro fevereiro março maio junho julho setembro outubro novembro dezembro
januari februari maart mei augustus
marts desember augusti
tammikuuta helmikuuta maaliskuuta huhtikuuta toukokuuta kesäkuuta heinäkuuta elokuuta syyskuuta lokakuuta
marraskuuta joulukuuta tammikuu helmikuu maaliskuu huhtikuu toukokuu kesäkuu heinäkuu elokuu syyskuu lokakuu
marraskuu joulukuu
stycznia lutego marca kwietnia maja czerwca lipca sierpnia września października listopada grudnia
styczeń luty marzec kwiecień maj czerwiec lipiec sierpień wrzesień październik listopad grudzień
ledna února března dubna května června července srpna září října listopadu prosince
januára februára apríla mája júna júla augusta septembra októbra novembra decembra
január február március április május június július augusztus szeptember október
ianuarie februarie martie aprilie iunie iulie septembrie octombrie noiembrie decembrie
jaanuar veebruar märts aprill juuni juuli oktoober detsember
siječnja veljače ožujka travnja svibnja lipnja srpnja kolovoza rujna studenoga prosinca
januarja februarja aprila junija julija avgusta septembra oktobra novembra decembra
""")
_MONTH_PREFIXES = frozenset(name[:n] for name in _MONTH_NAMES for n in range(3, len(name) + 1))

# Words that make a date a date of birth, as they appear in labels and prose of the main European
# languages ("Geburtsdatum", "date de naissance", "nato il", "ur.", "született"), as context tokens.
BIRTH_WORDS = _word_set("""
born birth birthday birthdate bday dob
geboren geburtsdatum geburtstag geb geburt
né née nee naissance
nacimiento nacido nacida nac
nascita nato nata
nascimento nascido nascida nasc
geboortedatum
født fødselsdato fødselsdag fodt fodselsdato fødd
född födelsedatum födelsedag fodd fodelsedatum
syntymäaika syntynyt syntymäpäivä syntymaaika
sünniaeg sündinud sünnikuupäev sunniaeg
urodzenia urodzony urodzona urodzin ur
narození narozen narozena narodenia narodený narodená nar narozeni
születési született szül születésnap
nașterii naşterii nasterii născut născută nascut
rođenja rodjenja rođen rođena rojstva rojen rojena
gimimo gimęs gimusi dzimšanas dzimis
naixement fæðingardagur fæddur
doğum dogum
γέννησης γεννήθηκε рождения родился родилась народження
""")
# How many tokens may stand between a birth word and the date it labels ("born in Lyon on").
_LABEL_REACH = 6


class DateOfBirthRecognizer(Recognizer):
    """Dates labelled as dates of birth. The label must come just before the date (at most a few words,
    none of them a number, as in "born in Lyon on 3 May 1990") or just after it, or head its column in a
    delimited table: a timestamp or an order date elsewhere in a text about a person stays."""

    name = "date_of_birth"
    data_class = "pii.date_of_birth"
    max_len = 32
    # A numeric date starts with a digit; "September. 3, 1990" has at most 13 characters before it.
    digit_anchored, digit_lead, digit_gap = True, 13, 13
    digit_pending = rf"{_MONTHS}\.?\s{{1,3}}"
    context_required = True
    case_insensitive = True
    patterns = (
        Pattern("ISO date", rf"\b(?:19|20)\d\d-{_MONTH_NUMBER}-{_DAY}\b", 0.4),
        Pattern("numeric date", rf"\b{_DAY}[/.\-] ?{_DAY}[/.\-] ?(?:19|20)?\d\d\b", 0.4),
        # Year first with dots or slashes (Hungarian "1985.10.23.", East Asian "1985/10/23").
        Pattern("year-first date", rf"\b(?:19|20)\d\d[./] ?{_MONTH_NUMBER}[./] ?{_DAY}\b", 0.4),
        Pattern("day month year", rf"\b{_DAY}(?:st|nd|rd|th|er|º|°)?\.?\s{{1,3}}(?:(?:of|de)\s{{1,3}})?{_MONTH_WORD}"
                rf",?\s{{1,3}}(?:(?:de|del)\s{{1,3}})?(?:19|20)\d\d\b", 0.45),
        Pattern("month day year", rf"\b{_MONTHS}\.?\s{{1,3}}{_DAY}(?:st|nd|rd|th)?,?\s+(?:19|20)\d\d\b", 0.45),
        Pattern("year month day", rf"\b(?:19|20)\d\d\.?\s{{1,3}}{_MONTH_WORD}\s{{1,3}}{_DAY}\b", 0.45),
    )
    context = ("born", "birth", "date of birth", "dob", "d o b", "birthday", "birthdate", "geburtsdatum",
               "naissance", "nacimiento", "nascita", "urodzenia", "geboortedatum", "født")

    def validate(self, value: str, pattern: Pattern) -> float | None:
        if pattern.name in ("day month year", "year month day"):
            words = [w.strip(".,").lower() for w in value.split() if not w[:1].isdigit()]
            if not any(w in _MONTH_PREFIXES for w in words if w not in ("of", "de", "del")):
                return None
        return pattern.score

    def context_effect(self, scan: ScanText, start: int, end: int) -> tuple[bool, bool, str] | None:
        text = scan.text
        line_start = text.rfind("\n", 0, start) + 1
        if text[line_start:start].strip():
            # Something stands before the date on its line: the label is on that line, not the one above.
            left = tokens(text[max(line_start, start - scan.context_window):start])
        else:
            left = window_tokens(text, start, end, scan.context_window)[0]
        label = _label_before(left) or _label_after(text[end:end + 32])
        if label is None:
            label = _label_before(column_header(scan.text, start, scan.headers))
        return None if label is None else (True, False, f"; labelled '{label}'")


def _label_before(words: list[str]) -> str | None:
    """The birth word among the last few tokens before a date, if no number stands between them."""
    if words[-3:] == ["d", "o", "b"]:
        return "d.o.b"
    for tok in reversed(words[-_LABEL_REACH:]):
        if tok in BIRTH_WORDS:
            return tok
        if any(c.isdigit() for c in tok):
            return None
    return None


def _label_after(following: str) -> str | None:
    """A birth word right after a date, in the same clause ("12.03.1980 (date of birth)", not "1.2.2024,
    DOB: ...", where the word labels the next value)."""
    for stop in ":,;=\n":
        cut = following.find(stop)
        if cut != -1:
            following = following[:cut]
    for tok in tokens(following)[:4]:
        if tok in BIRTH_WORDS:
            return tok
        if any(c.isdigit() for c in tok):
            return None
    return None


class AgeRecognizer(Recognizer):
    """Ages where the words around the number say it is an age (the evidence is inside the match)."""

    name = "age"
    data_class = "pii.age"
    max_len = 3  # the number; the words that make it an age are around it
    digit_anchored = True
    lookbehind = 40
    lookahead = 25
    case_insensitive = True
    keywords = ("age", "old", "year")
    patterns = (
        Pattern("N years old", r"\b(1[01]\d|120|\d{1,2})[\s-]{0,8}(?:years?|yrs?)[\s-]{0,8}old\b", 0.8, group=1),
        Pattern("aged N", r"\b(?:aged|age|age:|age is)\s{0,16}:?\s{0,16}(1[01]\d|120|\d{1,2})\b", 0.7, group=1),
        Pattern("N-year-old", r"\b(1[01]\d|120|\d{1,2})-year-old\b", 0.8, group=1),
    )
    context = ("patient", "he", "she", "i", "i'm", "am", "my", "client", "customer", "child", "son", "daughter")
