"""Person names after a cue: titles, introductions, greetings, labels and sign-offs, in several languages.

The cue says a person follows; the name dictionary (``interlock.detect.name_table``) then tells a name
("Dear Łukasz,") from a common word in the same place ("Dear Customer,", "Hi Team,"). Names without a
cue are ``NameDictionaryRecognizer``'s.
"""

from __future__ import annotations

from interlock.detect.context import tokens
from interlock.detect.finding import Finding
from interlock.detect.name_table import COMMON_NAME, FIRST, NAME, WORD, NameTable, name_table
from interlock.detect.recognizer import Opener, Pattern, Recognizer, lower_in_place
from interlock.detect.recognizers.phone_labels import PHONE_WORDS

_L = r"[\p{Ll}\p{M}]"
_NAME = (rf"(?:\p{{Lu}}{_L}+(?:\p{{Lu}}{_L}+)?(?:[\-'’]\p{{Lu}}{_L}+)?"
         rf"|\p{{Lu}}['’]\p{{Lu}}{_L}+)")
_PARTICLE = r"(?:van|von|der|den|de|del|della|di|da|das|dos|du|le|la|ter|ten|y)"
_SEP = rf"[ \t]{{1,3}}(?:(?:{_PARTICLE}|\p{{Lu}}\.)[ \t]{{1,3}}){{0,2}}"
_BODY = rf"{_NAME}(?:{_SEP}{_NAME}){{0,2}}"
_FULL = rf"({_BODY})"
# Upper-case names are taken after a label only ("NAME: JOHN SMITH"), where forms print them so.
_CAPS_WORD = r"\p{Lu}[\p{Lu}\p{M}'’\-]+"
# After a label, also "Last, First" and upper case.
_LABELLED = rf"({_NAME},[ \t]{{1,3}}{_NAME}|{_BODY}|{_CAPS_WORD},?(?:[ \t]{{1,3}}{_CAPS_WORD}){{1,2}})"
# Upper-case Latin letters for the openers (measured by Python's parser, which does not read ``\p``).
_UP = "[A-ZÀ-ÖØ-ÞĀ-ɏḀ-ỿ]"
# Lower-case letters (and the rest of those blocks) for the openers, likewise.
_LOW = "[a-zß-öø-ÿĀ-ɏḀ-ỿ'’-]"

_TITLES = (r"Mr|Mrs|Ms|Miss|Mx|Dr|Prof|Sir|Dame|Madam|Herr|Frau|Hr|Fr|Mme|Mlle|M\.|Monsieur|Madame|Mademoiselle|"
           r"Señor|Señora|Señorita|Sr|Sra|Srta|Sig|Sig\.ra|Signor|Signora|Signorina|Dott|Dott\.ssa|Avv|Ing|"
           r"Dhr|Mevr|Mw|Mevrouw|Meneer|Pan|Pani|Senhor|Senhora|Doña|Dra|Herrn|Hrn|Fru")
_GREETINGS = (r"dear|hi|hello|hey|hallo|hola|bonjour|salut|ciao|olá|hej|hei|ahoj|witaj|liebe|lieber|cher|chère|"
              r"querido|querida|estimado|estimada|caro|cara|gentile|prezado|prezada|beste|geachte|morning|"
              r"good morning|good afternoon|good evening|attn|cc")
_SIGN_OFFS = (r"regards|best|thanks|thank you|sincerely|cheers|yours truly|yours|warmly|best wishes|respectfully|"
              r"kind regards|many thanks|take care|all the best|mfg|lg|gruß|grüße|viele grüße|beste grüße|"
              r"liebe grüße|freundliche grüße|cordialement|salutations|amitiés|bien à vous|saludos|un saludo|"
              r"atentamente|cordiali saluti|distinti saluti|saluti|un saluto|grazie|atenciosamente|abraços|"
              r"cumprimentos|obrigado|obrigada|groeten|groetjes|pozdrawiam|z poważaniem|s pozdravem|hälsningar|"
              r"mvh|venlig hilsen|vennlig hilsen|terveisin|danke|merci|gracias|à plus|a plus|à bientôt|bises|"
              r"bisous|hasta luego|un abrazo|abrazos|saludos cordiales|tschüss|bis bald|baci|pozdrowienia|"
              r"zdravím|üdvözlettel|üdv|salutări|cu stimă|lp|hilsen|hälsningar|tervehdys|met groet")
# The last word of every sign-off, for the opener (a bounded width, and a match still starts after it).
_SIGN_OFF_TAILS = (r"regards|best|thanks|sincerely|cheers|truly|yours|warmly|wishes|respectfully|care|mfg|lg|"
                   r"gruß|grüße|grüßen|cordialement|salutations|amitiés|vous|saludos|saludo|atentamente|saluti|"
                   r"saluto|grazie|atenciosamente|abraços|cumprimentos|obrigado|obrigada|groeten|groetjes|groet|"
                   r"pozdrawiam|poważaniem|pozdravem|hälsningar|hälsning|mvh|hilsen|terveisin|danke|merci|gracias|"
                   r"plus|bientôt|bises|bisous|luego|abrazo|abrazos|cordiales|tschüss|bald|baci|pozdrowienia|"
                   r"zdravím|üdvözlettel|üdv|salutări|stimă|lp|tervehdys|groet")
# Sign-offs too long for the English pattern's spacing, with tighter spacing of their own.
_LONG_SIGN_OFFS = r"mit freundlichen grüßen|met vriendelijke groet|med vänlig hälsning|ystävällisin terveisin"
_LABELS = (r"name|full[ _]?name|first[ _]?name|last[ _]?name|surname|given[ _]?name|family[ _]?name|"
           r"customer|customer[ _]?name|client|contact|contact[ _]?name|contact person|patient|employee|"
           r"account holder|cardholder|card holder|holder|owner|applicant|recipient|sender|attendee|passenger|"
           r"guest|member|assignee|reporter|requester|requested by|submitted by|signed|signed by|approved by|"
           r"author|nom|prénom|nom complet|nombre|apellidos?|titular|cliente|paciente|nome|cognome|naam|"
           r"voornaam|achternaam|vorname|nachname|kunde|kundin|ansprechpartner|imię|nazwisko|jméno|příjmení|"
           r"navn|namn|nimi|from|to|cc|bcc|reply-to|de|von|van|para|an|à|per")
# Words addressed to or about a person, before a name with no punctuation after it ("ask Priya about it").
_CUES = (r"ask|asked|tell|told|email|emailed|ping|pinged|cc|contact|contacted|thank|thanks|met|meet|"
         r"spoke to|spoke with|talked to|talk to|chat with|assigned to|assign to|forward to|forwarded to|"
         r"reach out to|loop in|looped in|escalate to|escalated to|message|messaged|remind|reminded|invite|invited|"
         r"dear|hi|hello|hey|text|texted|call|called|ring|rang|phone|phoned|sms|whatsapp")
# Capitalised words that follow the triggers but are not names.
_STOP = frozenset({
    "team", "all", "everyone", "sir", "madam", "customer", "support", "there", "the", "and", "thanks",
    "thank", "best", "regards", "cheers", "hello", "hi", "dear", "sincerely", "mr", "mrs", "ms", "dr",
    "not", "sure", "happy", "sorry", "here", "going", "looking", "a", "an", "from", "in", "on", "at",
    "monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday", "today", "hope",
    "n", "na", "none", "null", "unknown", "required", "optional", "string", "true", "false", "yes", "no",
})
# Words that make the value an organisation, not a person.
_ORGANISATION = frozenset({
    "inc", "ltd", "llc", "llp", "gmbh", "ag", "corp", "co", "plc", "sa", "sas", "sarl", "bv", "nv", "srl", "spa",
    "group", "company", "bank", "team", "support", "services", "department", "office", "university",
})


class PersonNameRecognizer(Recognizer):
    name = "person_name"
    data_class = "pii.name"
    max_len = 120
    lookbehind = 80  # the longest trigger and the whitespace after it
    lookahead = 18
    # Every form starts with a trigger word; each opener is the trigger up to the name's first capital, so
    # a name is held back only after a trigger (``pending=""``: nothing of the name precedes that capital),
    # and prose elsewhere flows. ``gaps`` counts the whitespace runs the rest of a match may hold (three
    # words with up to two particles or initials between each two).
    openers = (
        # A particle after a title ("Mr. da Rocha") starts the span before the opener is complete.
        Opener(rf"(?:{_TITLES})\.?[ \t]{{1,4}}(?:{_PARTICLE}[ \t]{{1,3}}){{0,2}}{_UP}", gaps=8, reach=200,
               case_insensitive=False, pending=rf"(?:{_TITLES})\.?[ \t]{{1,4}}(?:{_PARTICLE}[ \t]{{1,3}}){{0,2}}[a-z]{{0,5}}"),
        Opener(rf"(?i:my name is|i am called|this is|i'm)\s{{1,16}}{_UP}",
               gaps=8, reach=200, case_insensitive=False, pending=""),
        Opener(rf"(?i:{_GREETINGS})\s{{1,16}}{_UP}", gaps=9, reach=200, case_insensitive=False, pending=""),
        Opener(rf"(?i:{_GREETINGS}|{_SIGN_OFFS}),\s{{1,8}}{_UP}", gaps=9, reach=200, case_insensitive=False,
               pending=""),
        Opener(rf"(?i:{_SIGN_OFF_TAILS})\s{{0,16}}[,.!]?\s{{0,16}}\n", gaps=10, reach=220,
               case_insensitive=False, pending=""),
        Opener(rf"(?i:{_CUES})[ \t]{{1,4}}{_UP}", gaps=8, reach=200, case_insensitive=False, pending=""),
        # A chat line's speaker: the name starts its line (the text's first line too), after a time stamp in
        # brackets perhaps, or follows a greeting's or a sentence's end on the same line ("Morning all. Zaid: ...").
        Opener(rf"\n[ \t]{{0,4}}(?:\[[^\]\n]{{1,32}}\][ \t]{{0,4}})?{_UP}", gaps=0, reach=80, case_insensitive=False,
               pending=""),
        # Only once the colon has come: until then the word is the trailing token, held anyway, and a
        # sentence's first word followed by anything else goes out as soon as the next word begins.
        Opener(rf"[.!?,][ \t]{{1,3}}{_UP}{_LOW}{{0,30}}:", gaps=0, reach=80, case_insensitive=False, pending=""),
        Opener(rf"\][ \t]{{0,4}}{_UP}{_LOW}{{0,30}}:", gaps=0, reach=80, case_insensitive=False, pending=""),
        Opener(rf"(?i:{_LABELS})[\"']?\s{{0,4}}[:=]\s{{0,4}}[\"']?{_UP}", gaps=8, reach=200,
               case_insensitive=False, pending=""),
    )
    patterns = (
        Pattern("honorific", rf"\b(?:{_TITLES})\.?[ \t]{{1,4}}((?:{_PARTICLE}[ \t]{{1,3}}){{0,2}}{_BODY})", 0.8, group=1),
        Pattern("introduction", rf"(?i:\bmy name is|\bi am called|\bthis is|\bi'm)\s{{1,16}}{_FULL}", 0.7, group=1),
        Pattern("salutation", rf"(?i:\b(?:{_GREETINGS}))\s{{1,16}}{_FULL}\s{{0,16}}[,!\n]", 0.65, group=1),
        Pattern("inline sign-off", rf"(?i:\b(?:{_GREETINGS}|{_SIGN_OFFS})),\s{{1,8}}{_FULL}[ \t]{{0,8}}(?:[.!\r\n]|$)",
                0.7, group=1),
        Pattern("sign-off", rf"(?i:\b(?:{_SIGN_OFFS}))\s{{0,16}}[,.!]?\s{{0,16}}\n\s{{0,16}}{_FULL}\s{{0,16}}(?:\n|$)",
                0.75, group=1),
        Pattern("sign-off", rf"(?i:\b(?:{_LONG_SIGN_OFFS}))[ \t]{{0,4}}[,.!]?[ \t]{{0,4}}\r?\n\s{{0,16}}{_FULL}"
                rf"\s{{0,16}}(?:\n|$)", 0.75, group=1),
        Pattern("cue", rf"(?i:\b(?:{_CUES}))[ \t]{{1,4}}{_FULL}", 0.6, group=1),
        Pattern("speaker", rf"(?:^|\n|[.!?,][ \t]{{1,3}})[ \t]{{0,4}}(?:\[[^\]\n]{{1,32}}\][ \t]{{0,4}})?({_NAME}):[ \t]",
                0.6, group=1),
        # A name alone on the last line, after a sentence: how a short message is signed.
        Pattern("closing name", rf"[.!?][ \t]{{0,4}}\r?\n[ \t]{{0,4}}({_NAME})$", 0.6, group=1),
        Pattern("label", rf"(?i:\b(?:{_LABELS}))[\"']?\s{{0,4}}[:=]\s{{0,4}}[\"']?{_LABELLED}", 0.7, group=1),
    )

    def __init__(self, table: NameTable | None = None) -> None:
        super().__init__()
        self._table = table if table is not None else name_table()

    def validate(self, value: str, pattern: Pattern) -> float | None:
        words = tokens(value)
        if not words or words[0] in _STOP or all(w in _STOP for w in words):
            return None
        if any(w in _ORGANISATION for w in words):
            return None
        flags = [self._table.flags(w) for w in words if len(w) > 1]
        if any(not f & NAME and _inner_capital(w) for w, f in zip(value.split(), flags, strict=False)):
            return None  # an identifier such as "NamedTuple", not a listed name such as "McDonald"
        if pattern.name == "honorific":
            return pattern.score  # after a title any capitalised word is a surname ("Mr. Galvani")
        names = [f for f in flags if f & NAME]
        if value.isupper():
            # Upper case is how forms print names, and headings: every word must be a known name.
            return pattern.score if len(names) == len(flags) and len(flags) > 1 else None
        if not flags or all(f & WORD and not f & NAME for f in flags):
            return None  # "Dear Valued Customer", "Hi Support Team", "Name: Required"
        if pattern.name in ("cue", "speaker", "closing name"):
            if pattern.name == "speaker" and len(words) == 1 and words[0] in PHONE_WORDS:
                return None  # "Telefon: +49 ...": a field's label before its value, not a chat line's speaker
            # A loose cue: the first word must be a listed first name that is not also a common word.
            return pattern.score if flags[0] & FIRST and not flags[0] & COMMON_NAME else None
        if len(words) > 1:
            return pattern.score
        if flags[0] & WORD and not flags[0] & NAME:
            return None
        # One word. After a greeting or a sign-off alone on its line, a listed name (even "Will") or an
        # unlisted word is a name; after a label or an introduction, only a name that is not also a common word.
        if pattern.name in ("salutation", "inline sign-off"):
            return pattern.score - 0.1
        if names and not names[0] & COMMON_NAME:
            return pattern.score - (0.1 if pattern.name == "introduction" else 0.0)
        if pattern.name == "label" and not flags[0]:
            return pattern.score - 0.15
        return None


def _inner_capital(word: str) -> bool:
    return any(c.isupper() for c in word[1:]) and not any(c in word for c in "-'’")


def names_from_email_locals(text: str, emails: list[Finding], seen_limit: int = 64, *,
                            forward_only: bool = False, lowered: str | None = None) -> list[Finding]:
    """A name that repeats the local part of an address in the text (``jane.doe@`` -> "Jane Doe");
    with ``forward_only``, only after the address. ``lowered``: ``lower_in_place(text)``, if already at hand."""
    found: list[Finding] = []
    if lowered is None:
        lowered = lower_in_place(text)
    seen: set[str] = set()
    for email in emails[:seen_limit]:
        phrase = email_local_name(text[email.start:email.end])
        if phrase is None or phrase in seen:
            continue
        seen.add(phrase)
        pos = lowered.find(phrase, email.start if forward_only else 0)
        while pos != -1:
            end = pos + len(phrase)
            before = lowered[pos - 1] if pos else " "
            after = lowered[end] if end < len(lowered) else " "
            if not before.isalnum() and not after.isalnum() and text[pos].isupper():
                found.append(Finding("pii.name", pos, end, 0.8, "person_name", "repeats an e-mail local part"))
            pos = lowered.find(phrase, end)
    return found


def email_local_name(address: str) -> str | None:
    """The name an e-mail address's local part spells (``jane.doe@`` -> "jane doe", lower case), if any."""
    parts = [p for p in address.split("@", 1)[0].replace("_", ".").replace("-", ".").split(".") if p]
    if len(parts) < 2:
        return None
    first, second = parts[0], parts[1]
    if not (first.isalpha() and len(first) > 1 and second.isalpha() and len(second) > 1):
        return None
    return lower_in_place(f"{first} {second}")
