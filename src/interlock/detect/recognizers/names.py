"""Person names without a model: honorifics, introductions, salutations and sign-offs."""

from __future__ import annotations

from interlock.detect.context import tokens
from interlock.detect.finding import Finding
from interlock.detect.recognizer import Opener, Pattern, Recognizer, lower_in_place

_NAME = r"[A-Z][a-z]+(?:[\-'][A-Z][a-z]+)?"
_FULL = rf"({_NAME}(?:\s+(?:[A-Z]\.\s+)?{_NAME}){{0,2}})"
# Capitalised words that follow the triggers but are not names.
_STOP = frozenset({
    "team", "all", "everyone", "sir", "madam", "customer", "support", "there", "the", "and", "thanks",
    "thank", "best", "regards", "cheers", "hello", "hi", "dear", "sincerely", "mr", "mrs", "ms", "dr",
    "not", "sure", "happy", "sorry", "here", "going", "looking", "a", "an", "from", "in", "on", "at",
    "monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday", "today", "hope",
})


class PersonNameRecognizer(Recognizer):
    name = "person_name"
    data_class = "pii.name"
    max_len = 64
    lookbehind = 62  # the longest trigger and the whitespace after it
    lookahead = 18
    # Every form starts with a trigger word; each opener is the trigger up to the name's first capital, so
    # a name is held back only after a trigger (``pending=""``: nothing of the name precedes that capital),
    # and prose elsewhere flows. ``gaps`` counts the whitespace runs the rest of a match may hold.
    openers = (
        Opener(r"(?:Mr|Mrs|Ms|Miss|Mx|Dr|Prof|Sir|Dame|Madam|Herr|Frau|Mme|Mlle|M)\.?\s{1,16}[A-Z]",
               gaps=4, reach=90, case_insensitive=False, pending=""),
        Opener(r"(?i:my name is|i am called|this is|name:|i'm)\s{1,16}[A-Z]",
               gaps=4, reach=95, case_insensitive=False, pending=""),
        Opener(r"(?i:dear|hi|hello|hey)\s{1,16}[A-Z]", gaps=5, reach=105, case_insensitive=False, pending=""),
        Opener(r"(?i:regards|best|thanks|thank you|sincerely|cheers|yours truly|yours|warmly|best wishes|"
               r"respectfully)\s{0,16}[,.!]?\s{0,16}\n", gaps=6, reach=145, case_insensitive=False, pending=""),
        Opener(r"(?i:signed|signed by|contact person|patient|employee)\s{0,16}:?\s{1,16}[A-Z]",
               gaps=4, reach=115, case_insensitive=False, pending=""),
    )
    patterns = (
        Pattern("honorific", rf"\b(?:Mr|Mrs|Ms|Miss|Mx|Dr|Prof|Sir|Dame|Madam|Herr|Frau|Mme|Mlle|M)\.?\s{{1,16}}{_FULL}",
                0.8, group=1),
        Pattern("introduction", rf"(?i:\bmy name is|\bi am called|\bthis is|\bname:|\bi'm)\s{{1,16}}{_FULL}", 0.7,
                group=1),
        Pattern("salutation", rf"(?i:\bdear|\bhi|\bhello|\bhey)\s{{1,16}}{_FULL}\s{{0,16}}[,!\n]", 0.65, group=1),
        Pattern(
            "sign-off",
            rf"(?i:regards|best|thanks|thank you|sincerely|cheers|yours truly|yours|warmly|"
            rf"best wishes|respectfully)\s{{0,16}}[,.!]?\s{{0,16}}\n\s{{0,16}}{_FULL}\s{{0,16}}(?:\n|$)",
            0.75,
            group=1,
        ),
        Pattern("signed", rf"(?i:\bsigned|\bsigned by|\bcontact person|\bpatient|\bemployee)\s{{0,16}}:?\s{{1,16}}{_FULL}",
                0.6, group=1),
    )

    def validate(self, value: str, pattern: Pattern) -> float | None:
        words = tokens(value)
        if not words or words[0] in _STOP or all(w in _STOP for w in words):
            return None
        # "I'm Going" or "this is Great" style false hits: a single word after a loose trigger.
        if pattern.name in ("introduction", "salutation") and len(words) == 1:
            return pattern.score - 0.1
        return pattern.score


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
