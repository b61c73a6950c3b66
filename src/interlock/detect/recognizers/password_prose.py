"""Passwords given in prose: "the wifi password is ...", "das Passwort lautet ...", or a chat question
about a password answered on the next line. The value is the first word after the password word that
has the shape of a password (mixed character classes, not a date, a path, a host or an identifier)."""

from __future__ import annotations

import re
from collections.abc import Container

from interlock.detect.finding import Finding
from interlock.detect.recognizer import Opener, Pattern, Recognizer, ScanText
from interlock.detect.recognizers.credentials import looks_like_placeholder

# Password words of the main European languages; "pass", "parola" and "clave" are also everyday words,
# so after them the value must come within a few words.
_WORDS = ("passwords?|passwort|passworte|passwd|pwd|passphrase|passcode|pass|kennwort|mot de passe|"
          "mots de passe|contraseña|contrasena|senha|wachtwoord|hasło|haslo|hasła|heslo|jelszó|jelszo|"
          "jelszava|salasana|lösenord|losenord|lösenordet|passord|passordet|adgangskode|adgangskoden|parola|"
          "parolă|clave|geslo|lozinka|lozinku")
_LOOSE = frozenset({"pass", "parola", "parolă", "clave"})
_MAX_WORDS = 8
_LOOSE_WORDS = 3
_REACH = 160
# Words after which the sentence is about the password, not its value ("password hash ...").
_ABOUT = frozenset({"hash", "hashed", "hashes", "digest", "policy", "policies", "length", "reset", "manager",
                    "strength", "requirements", "rotation", "expiry", "expired", "expires", "field", "prompt",
                    "hint", "format", "rules", "salt"})
_EDGE_PUNCT = ".,;:)]}>\"'`»“”’"
_OPEN_PUNCT = "([{<\"'`«“‘"
_WEAK_SYMBOLS = frozenset(".-_/'’")
_TIME = re.compile(r"\d{1,2}:\d\d|\d{4}-\d\d-\d\d|\d{1,2}/[A-Za-z]{3}/\d{4}")
_VERSION = re.compile(r"v?\d+(?:\.\d+)+(?:[-+][\w.]+)?", re.IGNORECASE)
_HOST = re.compile(r"[a-z0-9-]+(?:\.[a-z0-9-]+)+")
_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[A-Za-z]{2,}")
_ID = re.compile(r"[A-Z0-9]+(?:[-_][A-Z0-9]+)*")


def password_like(word: str) -> bool:
    """Does ``word`` (trimmed of surrounding punctuation) look like a password rather than prose, a
    number, a date, a version, a host, a path, an e-mail address or an identifier?"""
    n = len(word)
    if n < 6 or n > 64 or "://" in word or word[0] in "/~$%&" or word.endswith(":"):
        return False
    lower = upper = digit = strong = weak = False
    transitions = 0
    previous = ""
    for c in word:
        if c.islower():
            lower = True
            kind = "l"
        elif c.isupper():
            upper = True
            kind = "u"
        elif c.isdigit():
            digit = True
            kind = "d"
        elif c in _WEAK_SYMBOLS:
            weak = True
            kind = "s"
        else:
            strong = True
            kind = "s"
        if previous and kind != previous and {kind, previous} == {"l", "u"}:
            transitions += 1
        previous = kind
    if not (lower or upper):
        return False
    if _TIME.search(word) or _VERSION.fullmatch(word) or _HOST.fullmatch(word) or _EMAIL.fullmatch(word):
        return False
    if not lower and _ID.fullmatch(word):
        return False  # "PO-38131", "TCK-2291": identifiers in capitals
    classes = lower + upper + digit + (strong or weak)
    if digit or strong:
        return classes >= 3 or (classes == 2 and n >= 8)
    # Letters with at most "-", "_" or ".": random-looking mixed case only ("OK_JydYkDobLkxSw").
    return n >= 12 and transitions >= 4


def _trimmed(token: str) -> tuple[int, str]:
    """Leading characters cut and the token without surrounding punctuation (a trailing "!" or "?" may
    be part of a password, so only sentence punctuation that cannot end one is cut)."""
    lead = 0
    while lead < len(token) and token[lead] in _OPEN_PUNCT:
        lead += 1
    body = token[lead:]
    while body and body[-1] in _EDGE_PUNCT:
        body = body[:-1]
    return lead, body


class PasswordProseRecognizer(Recognizer):
    name = "password_prose"
    data_class = "secret.password"
    max_len = 64
    case_insensitive = True
    keywords = ("pass", "pwd", "kennwort", "contrase", "senha", "wachtwoord", "hasł", "hasl", "heslo", "jelsz",
                "salasana", "lösenord", "losenord", "adgangskode", "parol", "clave", "geslo", "lozink")
    openers = (Opener("pass|pwd|kennwort|contrase|senha|wachtwoord|has[lł]|heslo|jelsz|salasana|l[oö]senord|"
                      "adgangskode|parol|clave|geslo|lozink", gaps=_MAX_WORDS + 2, reach=_REACH, pending=""),)
    lookbehind = _REACH
    patterns = (Pattern("password word", rf"\b(?:{_WORDS})\b", 0.8),)

    def scan(self, scan: ScanText, hits: Container[int] | None = None, floor: float = 0.0) -> list[Finding]:
        if not self.applies(scan):
            return []
        text = scan.text
        found: list[Finding] = []
        after = -1
        for pattern, start, end in self.candidates(scan, hits):
            if start < after:
                continue
            span = self._value_after(text, end, scan.lowered[start:end] in _LOOSE)
            if span is None:
                continue
            found.append(Finding(self.data_class, span[0], span[1], pattern.score, self.name,
                                 "password-like word after a password word"))
            after = span[1]
        return found

    def _value_after(self, text: str, pos: int, loose: bool) -> tuple[int, int] | None:
        limit = min(len(text), pos + _REACH)
        words = 0
        question = False
        line_breaks = 0
        i = pos
        while i < limit and words < (_LOOSE_WORDS if loose else _MAX_WORDS):
            while i < limit and text[i].isspace():
                if text[i] == "\n":
                    line_breaks += 1
                i += 1
            if line_breaks and not question:
                return None  # the sentence ended with the line
            if line_breaks > 2:
                return None
            j = i
            while j < limit and not text[j].isspace():
                j += 1
            if j == i:
                return None
            token = text[i:j]
            lead, body = _trimmed(token)
            if body.lower() in _ABOUT:
                return None
            if password_like(body) and not looks_like_placeholder(body):
                start = i + lead
                return start, start + len(body)
            if token.endswith("?"):
                question = True  # an answer may follow, on the next line or in the next sentence
            elif token.endswith((".", "!")) and not question:
                return None
            if not token.endswith(":"):
                words += 1  # a speaker's "Name:" before an answer is not one of the words
            i = j
        return None
