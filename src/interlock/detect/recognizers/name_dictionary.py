"""Full names found by a dictionary of real first and last names, with no trigger word needed.

A name is a run of two to five capitalised words (particles such as "van der", "de la" and initials
inside) that starts with a known first name and goes on with known last names, or with unknown words
that are not common English words. One RE2 pass finds the capitalised words; each is looked up once in
the shipped table (``interlock.detect.name_table``). A single word is never a name here: that takes a
trigger (a title, a greeting, a label), which ``PersonNameRecognizer`` looks for.

What keeps prose safe: a run that goes on with another capitalised word ("John Smith Foundation", a Title
Case heading) is not a name; a run whose words are all also common words ("Will Grant", "Rose Hill")
is not either; one that starts with such a word ("Mark Taylor") needs a last name that is not one when it
stands at the start of a sentence or a line; and nothing after "the" or "a" is a name.

Every decision reads at most ``lookbehind`` characters before a span and ``lookahead`` after it, so a
streamed text is decided as the whole text is.
"""

from __future__ import annotations

from collections.abc import Container

from interlock.detect.finding import Finding
from interlock.detect.name_table import COMMON_NAME, FIRST, LAST, NAME, WORD, NameTable, name_table
from interlock.detect.recognizer import Matcher, Recognizer, ScanText, compile_re2

_LOWER = r"[\p{Ll}\p{M}]"
# A capitalised word (McDonald, O'Brien, Smith-Jones, Nguyễn) or an initial with its dot.
_WORD = (rf"\p{{Lu}}{_LOWER}+(?:\p{{Lu}}{_LOWER}+)?(?:[\-]\p{{Lu}}{_LOWER}+)?"
         rf"|\p{{Lu}}['’]\p{{Lu}}{_LOWER}+|\p{{Lu}}\.")
_PARTICLE_ALT = "van|von|der|den|de|del|della|di|da|das|dos|du|le|la|ter|ten|bin|ibn|al|el|zu|y|e"
# Between two words of one name: one to three spaces or tabs, with up to two particles ("van der").
# In CSV and similar rows: a comma or semicolon, the fields quoted or not ("Wójcik","Agnieszka").
_FIELD_SEP = r"\"?[,;]\"?"
_SEP = rf"(?:[ \t]{{1,3}}(?:(?:{_PARTICLE_ALT})[ \t]{{1,3}}){{0,2}}|{_FIELD_SEP})"
# A run of two or more capitalised words side by side; the words of a run are judged in Python.
_RUN = rf"(?:^|[^\p{{L}}\p{{M}}\p{{N}}_'’\-])((?:{_WORD})(?:{_SEP}(?:{_WORD}))+)"
# A lower-case word right before a run that makes it a thing, not a person ("the Jordan Valley").
_DETERMINERS = frozenset({"the", "a", "an", "this", "that", "these", "those", "our", "your", "their", "its"})
# Words of place before two capitalised common words ("in Long Beach", "at Grant Park").
_PLACE_WORDS = frozenset({"in", "at", "near", "on", "via", "across", "around", "visit", "visiting"})
_TITLES = frozenset({
    "Mr", "Mrs", "Ms", "Miss", "Mx", "Dr", "Prof", "Sir", "Dame", "Herr", "Frau", "Hr", "Fr", "Mme", "Mlle",
    "Monsieur", "Madame", "Mademoiselle", "Señor", "Señora", "Señorita", "Sr", "Sra", "Srta", "Signor", "Signora",
    "Signorina", "Sig", "Dott", "Ing", "Avv", "Pan", "Pani", "Dhr", "Mevr", "Mw", "Senhor", "Senhora", "Doña", "Dra", "Herrn", "Hrn", "Fru", "Mevrouw", "Meneer",
    # Greetings, which start a line before a name.
    "Hi", "Hello", "Hey", "Dear", "Hola", "Bonjour", "Salut", "Ciao", "Hallo", "Olá", "Hej", "Hei", "Ahoj",
    "Liebe", "Lieber", "Cher", "Chère", "Querido", "Querida", "Estimado", "Estimada", "Gentile", "Beste",
    "Thanks", "Cheers", "Regards", "Buongiorno", "Buonasera", "Bonsoir", "Buenos", "Buenas", "Oi", "Moin",
    "Servus", "Grüezi", "Tag", "Morning", "Afternoon", "Evening",
})
_SURNAME_ENDINGS = ("sson", "sdóttir", "sdottir", "ová", "ski", "ska", "cki", "cka", "wicz", "ović", "ovic",
                    "ević", "evic", "enko", "escu", "eanu", "oğlu", "oglu", "poulos", "akis", "shvili", "adze")
_INITIAL = -1
# A gap that is a field separator (see ``_words_of``); it counts as no word.
_FIELDS = -1
_FIELD_BLANKS = str.maketrans({",": " ", ";": " ", '"': " "})
_SENTENCE_ENDS = ".!?:;\n\r|#=>"
_LEADING = " \t\"'“”‘’*-•·()[]`"
_MAX_WORDS = 5
# Streaming: what follows the first word of a span (a separator, then the next word's capital), and what
# may still become that at the end of the text (spaces, partial particles, a field separator).
_NEXT = rf"^{_SEP}\p{{Lu}}"
_ARRIVING = rf"^(?:[ \t]{{0,3}}(?:(?:{_PARTICLE_ALT})[ \t]{{1,3}}){{0,2}}[a-z]{{0,5}}|{_FIELD_SEP.replace('[,;]', '[,;]?')})$"


class NameDictionaryRecognizer(Recognizer):
    name = "person_name_dictionary"
    data_class = "pii.name"
    # Five words of up to 37 characters would be longer, but real names are far shorter; this keeps the
    # plain hold (``max_len`` plus ``lookahead``) under 100 characters.
    max_len = 72
    lookbehind = 64
    lookahead = 24

    def __init__(self, table: NameTable | None = None) -> None:
        super().__init__()
        self._table = table if table is not None else name_table()
        self._runs = Matcher(compile_re2(_RUN), group=1)
        self._word = compile_re2(_WORD)
        self._next = compile_re2(_NEXT)
        self._arriving = compile_re2(_ARRIVING)

    def stream_start(self, text: str, lo: int) -> int | None:
        """Streaming: a span starts at a capitalised word that is a listed name, an unlisted word or an
        initial, followed by another word of a run (or by what may still become one at the end of the
        text). Common words ("The", "Our") and a name followed by lower-case prose hold nothing."""
        pos = lo
        while True:
            found = self._word.search(text, pos)
            if found is None:
                return None
            a: int = found.start()
            b: int = found.end()
            mark = self._mark(text[a:b])
            if _name_like(mark) or mark == _INITIAL:
                rest = text[b:b + 48]
                if self._next.search(rest) is not None or self._arriving.search(rest) is not None:
                    return a
            pos = b

    def widest_match(self) -> int | None:
        return self.max_len

    def set_patterns(self) -> tuple[str, ...] | None:
        # Two capitalised words side by side (or one before a particle): without them there is nothing to
        # look up, and the detector's one-pass prefilter skips this recognizer (most texts).
        return (rf"\p{{Lu}}{_LOWER}+\.?[ \t]{{1,3}}(?:\p{{Lu}}|(?:{_PARTICLE_ALT})[ \t])",
                rf"\p{{Lu}}{_LOWER}+{_FIELD_SEP}\p{{Lu}}")

    def scan(self, scan: ScanText, hits: Container[int] | None = None, floor: float = 0.0) -> list[Finding]:
        text = scan.text
        found: list[Finding] = []
        # A word's mark, once per distinct word: dense text repeats its capitalised words.
        memo: dict[str, int] = {}
        for run_start, run_end in self._runs.spans(scan):
            if run_end < len(text) and text[run_end].isalnum():
                continue  # the last word goes on in digits or other letters: not a word of a name
            spans, gaps = _words_of(text, run_start, run_end)
            marks = [memo[w] if w in memo else memo.setdefault(w, self._mark(w)) for w in
                     (text[a:b] for a, b in spans)]
            self._scan_run(text, spans, gaps, marks, found)
        return found

    def _scan_run(self, text: str, spans: list[tuple[int, int]], gaps: list[int], marks: list[int],
                  found: list[Finding]) -> None:
        """The names among the words of one run (side by side, so each word is adjacent to the next).
        ``gaps[k]``: how many particles stand before word ``k``."""
        n = len(spans)
        i = 0
        while i < n - 1:
            if not _name_like(marks[i]) or spans[i][1] - spans[i][0] > 37 or (i > 0 and _name_like(marks[i - 1])):
                i += 1
                continue
            last, count = i, 1
            k = i + 1
            while k < n:
                if gaps[k] == _FIELDS and not _plain_name(marks[k]):
                    break  # fields of a row stand apart: a city after a name does not extend it
                if count + max(gaps[k], 0) + 1 > _MAX_WORDS or not (_name_like(marks[k]) or marks[k] == _INITIAL):
                    last = -1  # the run goes on: a heading, an organisation, a place
                    break
                count += max(gaps[k], 0) + 1
                last = k
                k += 1
            if last > i:
                finding = None
                if marks[i] & COMMON_NAME and last - i >= 2:
                    # A sentence's first word that is also a name ("Then", "Ask") before a full name.
                    finding = self._judge(text, spans, marks, i + 1, last, after_lead=True)
                if finding is None:
                    finding = self._judge(text, spans, marks, i, last, fields=_FIELDS in gaps[i + 1:last + 1])
                if finding is not None:
                    found.append(finding)
                    i = last + 1
                    continue
            i += 1

    def _mark(self, word: str) -> int:
        if word.endswith("."):
            return _INITIAL
        if word in _TITLES:
            return WORD
        flags = self._table.flags(word)
        if flags:
            return flags
        if len(word) < 3:
            return WORD
        # Surname endings (patronymics, Slavic, Balkan, Romanian, Turkish, Greek forms) make an unlisted word
        # a last name.
        return LAST if word.lower().endswith(_SURNAME_ENDINGS) and len(word) > 5 else 0

    def _judge(self, text: str, spans: list[tuple[int, int]], marks: list[int], first: int,
               last: int, *, after_lead: bool = False, fields: bool = False) -> Finding | None:
        """``after_lead``: the run's first word was set aside, so only a run with a plain name counts.
        ``fields``: the words are fields of a row ("Wójcik,Agnieszka"): each must be a plain listed name."""
        start, end = spans[first][0], spans[last][1]
        if end - start > self.max_len:
            return None
        inner = [m for m in marks[first:last + 1] if m >= 0]
        names = [m for m in inner if m & NAME]
        if not names:
            return None  # no listed name at all ("Kubernetes Helm")
        unknown = len(inner) - len(names)
        if fields and (unknown or len(inner) != last - first + 1 or not all(map(_plain_name, names))
                       or not any(m & FIRST for m in names) or all(m & FIRST and not m & LAST for m in names)):
            return None  # fields: plain listed names only, a first name among them ("London;England" is not)
        lead, tail = marks[first], marks[last]
        strong_tail = tail > 0 and tail & LAST and not tail & COMMON_NAME
        before = _word_before(text, start)
        if before in _DETERMINERS:
            return None
        initial = _starts_sentence(text, start)
        if not lead:
            # An unlisted first word ("Banara Mulyani") takes a listed last name that is not a common word.
            return self._found(start, end, 0.6) if strong_tail else None
        if not lead & FIRST and not (lead & LAST and not lead & COMMON_NAME and all(
                m & NAME and not m & COMMON_NAME for m in names[1:])):
            return None  # a last name first ("Smith Street") unless every word is a plain name
        if all(m & COMMON_NAME for m in names) and not unknown:
            # "Will Grant", "Rose Hill", "Mark Brown": every word is also a common word. Mid-sentence, after no
            # word of place, two capitalised ones are most often a person.
            if initial or after_lead or before in _PLACE_WORDS or len(names) < 2:
                return None
            return self._found(start, end, 0.6)
        if unknown and lead & COMMON_NAME:
            return None
        if lead & COMMON_NAME and initial and not strong_tail:
            return None  # "May Contain", "Grant Writing" at the start of a line or sentence
        return self._found(start, end, 0.75 if tail > 0 and tail & LAST else 0.65)

    def _found(self, start: int, end: int, score: float) -> Finding:
        why = "first and last name in the name dictionary" if score > 0.7 else "names in the name dictionary"
        return Finding(self.data_class, start, end, score, self.name, why)


def _plain_name(mark: int) -> bool:
    return mark > 0 and bool(mark & NAME) and not mark & COMMON_NAME


def _name_like(mark: int) -> bool:
    return mark == 0 or (mark > 0 and bool(mark & NAME))


def _words_of(text: str, start: int, end: int) -> tuple[list[tuple[int, int]], list[int]]:
    """The capitalised words of a run, and what stands before each: the number of particles, or
    ``_FIELDS`` after a field separator."""
    spans: list[tuple[int, int]] = []
    gaps: list[int] = []
    particles = 0
    piece = text[start:end]
    fields = any(c in piece for c in ',;"')
    blanked = piece.translate(_FIELD_BLANKS) if fields else piece
    pos = start
    for part in blanked.split():
        at = start + blanked.find(part, pos - start)
        between = piece[pos - start:at - start]
        pos = at + len(part)
        if part[0].islower():
            particles += 1
            continue
        gaps.append(_FIELDS if spans and any(c in between for c in ",;") else particles)
        spans.append((at, pos))
        particles = 0
    return spans, gaps


def _word_before(text: str, start: int) -> str:
    piece = text[max(0, start - 12):start]
    if not piece or not piece[-1].isspace():
        return ""
    words = piece.split()
    return words[-1].lower() if words else ""


def _starts_sentence(text: str, start: int) -> bool:
    j = start - 1
    stop = max(-1, start - 24)
    while j > stop and text[j] in _LEADING:
        j -= 1
    if j <= stop:
        return True
    return text[j] in _SENTENCE_ENDS or text[j].isdigit()
