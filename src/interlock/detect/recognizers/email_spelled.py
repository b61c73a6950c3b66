"""E-mail addresses spelled out to dodge address harvesters: ``jane dot doe at example dot com``,
``jane(at)example(dot)com``, ``jane [at] example [dot] com``, ``jane @ example.com``.

Two patterns. With a bracketed at (``(at)``, ``[at]``, ``{at}``, ``<at>``, also ``[@]``) or an ``@``
between spaces, the rest may use real or spelled dots. With a bare ``at`` word, which prose is full of,
the first dot of the domain must be spelled out (``at example dot com``), the domain must end in a
common or two-letter top-level domain, and a few words that precede "at" in prose ("look at", "find us
at") are not taken for a local part. Spelled words: at/arroba and dot/punto/punkt/ponto, in any case
(not "point": "at this point it" would read as an address).
"""

from __future__ import annotations

from interlock.detect.recognizer import Opener, Pattern, Recognizer

_SP = r"[ \t]"
_AT_WORD = r"(?:at|arroba)"
_DOT_WORD = r"(?:dot|punto|punkt|ponto)"
_OPEN, _CLOSE = r"[(\[{<]", r"[)\]}>]"
_BRACKET_AT = rf"{_SP}?{_OPEN}{_SP}?(?:{_AT_WORD}|@){_SP}?{_CLOSE}{_SP}?"
_SPACED_AT = rf"{_SP}{{1,2}}@{_SP}{{1,2}}"
_WORD_AT = rf"{_SP}{{1,2}}{_AT_WORD}{_SP}{{1,2}}"
_SPELLED_DOT = rf"(?:{_SP}{{1,2}}{_DOT_WORD}{_SP}{{1,2}}|{_SP}?{_OPEN}{_SP}?(?:{_DOT_WORD}|\.){_SP}?{_CLOSE}{_SP}?)"
_DOT = rf"(?:\.|{_SPELLED_DOT})"
_WORD = r"[a-z0-9](?:[a-z0-9._%+\-]{0,22}[a-z0-9])?"
_LOCAL = rf"{_WORD}(?:{_SPELLED_DOT}{_WORD})?"
_LABEL = r"[a-z0-9](?:[a-z0-9\-]{0,14}[a-z0-9])?"
_TLD = (r"(?:com|org|net|edu|gov|mil|int|info|biz|name|pro|mobi|app|dev|io|ai|tech|online|site|xyz|email|mail|"
        r"cloud|store|shop|blog|[a-z]{2})")
_DOMAIN = rf"{_LABEL}(?:{_DOT}{_LABEL}){{0,3}}{_DOT}{_TLD}"
_SPELLED_DOMAIN = rf"{_LABEL}{_SPELLED_DOT}(?:{_LABEL}{_DOT}){{0,3}}{_TLD}"
_END = r"(?:[^a-z0-9\-]|$)"
# Streaming: the arrived start of a spelled at or dot, and of a bracketed one.
_AT_PREFIX = r"a(?:t|r(?:r(?:o(?:b(?:a)?)?)?)?)?"
_DOT_PREFIX = r"(?:d(?:o(?:t)?)?|p(?:u(?:n(?:t(?:o)?|k(?:t)?)?)?|o(?:n(?:t(?:o)?)?)?)?)"
_BRACKET_PREFIX = rf"{_SP}?{_OPEN}[a-z.\])}}> \t]{{0,8}}"

# Words that stand before "at" in prose about a website, not as an address's local part.
_PROSE = frozenset({"us", "me", "him", "her", "them", "it", "you", "look", "looking", "visit", "online", "site",
                    "website", "available", "found", "located", "hosted", "here", "there", "is", "are", "was",
                    "be", "go", "click", "check", "find", "see", "read", "live", "stay", "work", "works"})

_MAIL_PROVIDERS = frozenset({"gmail", "googlemail", "yahoo", "hotmail", "outlook", "live", "msn", "aol", "icloud",
                             "me", "mac", "gmx", "web", "proton", "protonmail", "pm", "yandex", "mail", "zoho",
                             "fastmail", "orange", "free", "libero", "t-online", "wp", "o2", "seznam", "qq", "163",
                             "naver", "rediffmail", "bluewin", "laposte", "wanadoo", "tiscali", "virgilio"})


class SpelledEmailRecognizer(Recognizer):
    name = "email_spelled"
    data_class = "pii.email"
    case_insensitive = True
    max_len = 200
    lookahead = 2
    patterns = (
        Pattern("e-mail address with a bracketed or spaced at",
                rf"(?:^|[^a-z0-9_%+\-.])({_LOCAL}(?:{_BRACKET_AT}|{_SPACED_AT}){_DOMAIN}){_END}", 0.85, group=1),
        Pattern("e-mail address spelled out", rf"(?:^|[^a-z0-9_%+\-.])({_LOCAL}{_WORD_AT}{_SPELLED_DOMAIN}){_END}",
                0.8, group=1),
        Pattern("e-mail address with a spelled at", rf"(?:^|[^a-z0-9_%+\-.])({_LOCAL}{_WORD_AT}{_DOMAIN}){_END}",
                0.75, group=1),
    )
    context = ("email", "e-mail", "mail", "contact", "reach", "write", "correo", "courriel")
    # A span starts at most this far before its at (a local part of two words of up to 24 characters and
    # a spelled dot between them). Streaming holds back from an at, and from the start of one still arriving; a longer
    # local part would have to be held back everywhere.
    _LEAD = 60
    openers = (
        Opener(rf"{_OPEN}{_SP}?(?:{_AT_WORD}|@){_SP}?{_CLOSE}", lead=_LEAD, gaps=12,
               pending=rf"{_OPEN}{_SP}?(?:a[a-z]{{0,5}}|@)?{_SP}?"),
        Opener(rf"{_SP}@{_SP}", lead=_LEAD, gaps=12, pending=rf"{_SP}@"),
        Opener(rf"{_SP}{_AT_WORD}{_SP}{{1,2}}[a-z0-9\-]{{1,16}}(?:{_SP}{{1,2}}{_DOT_WORD}{_SP}|{_SP}?{_OPEN}|\.[a-z0-9])",
               lead=_LEAD, gaps=8,
               pending=rf"{_SP}(?:{_AT_PREFIX}|{_AT_WORD}{_SP}{{1,2}}[a-z0-9\-]{{0,16}}(?:{_SP}{{1,2}}[a-z]{{0,5}}|\.)?)"),
        # A local part is a word like any other until its at arrives: the last whole word (with a spelled
        # dot and a second word) is held while the text ends with it, its spaces, or the start of a spelled
        # or bracketed dot; once another word begins, it is plain prose.
        Opener(rf"{_SP}{_AT_WORD}{_SP}{{1,2}}[a-z0-9\-]{{1,16}}(?:{_SP}{{1,2}}{_DOT_WORD}{_SP}|{_SP}?{_OPEN}|\.[a-z0-9])",
               lead=_LEAD, gaps=8, pending_at_end=True, pending_lead=0,
               pending=rf"{_WORD}(?:{_SPELLED_DOT}(?:{_WORD})?)?(?:{_SP}{{1,2}}{_DOT_PREFIX}?|{_BRACKET_PREFIX})?"),
    )

    def validate(self, value: str, pattern: Pattern) -> float | None:
        if pattern.name == "e-mail address with a spelled at":
            # "at example.com" is how prose names a website; only a local part no word looks like ("j.doe",
            # "jdoe42") or a mail provider's domain makes it an address.
            local, _, domain = _split_at(value)
            if not any(c.isalpha() for c in local) or not (
                    any(c in "._%+" or c.isdigit() for c in local) or domain.split(".", 1)[0] in _MAIL_PROVIDERS):
                return None
        if pattern.name != "e-mail address with a bracketed or spaced at" and \
                value.split(None, 1)[0].casefold() in _PROSE:
            return None
        return pattern.score


def _split_at(value: str) -> tuple[str, str, str]:
    words = value.split()
    for i, word in enumerate(words):
        if word.casefold() in ("at", "arroba") and i > 0:
            return " ".join(words[:i]), "at", " ".join(words[i + 1:]).casefold()
    return value, "", ""
