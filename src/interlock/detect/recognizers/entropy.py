"""Generic secrets: high-entropy strings assigned to secret-sounding keys."""

from __future__ import annotations

import math
from collections import Counter

from interlock.detect.context import tokens
from interlock.detect.recognizer import Opener, Pattern, Recognizer, ScanText
from interlock.detect.recognizers.credentials import looks_like_placeholder

ENTROPY_THRESHOLD = 3.5
HEX_ENTROPY_THRESHOLD = 3.0


def shannon_entropy(value: str) -> float:
    """Bits per character of the empirical distribution of ``value``."""
    if not value:
        return 0.0
    n = len(value)
    return -sum(c / n * math.log2(c / n) for c in Counter(value).values())


class HighEntropySecretRecognizer(Recognizer):
    name = "high_entropy_secret"
    data_class = "secret.token"
    max_len = 256
    keywords = ("key", "token", "secret", "auth", "bearer", "credential", "apikey", "signature", "session")
    # Each key word below contains one of these; after it, at most three whitespace runs (around the
    # separator and after "bearer") come before a value that has none.
    openers = (Opener("key|secret|token|credential|session|bearer|authorization", gaps=3, pending=""),)
    lookbehind = 96
    patterns = (
        Pattern(
            "high-entropy value near a secret keyword",
            r"(?i:\b(?:[a-z0-9]{0,20}[_\-.]?)?(?:api[_\-]?key|apikey|secret|token|auth[_\-]?token|access[_\-]?key|"
            r"client[_\-]?secret|private[_\-]?key|credentials?|session[_\-]?id|signing[_\-]?key|bearer|"
            r"authorization|x-api-key)[\"']?\s{0,16}(?:[:=]|=>|:=)?\s{0,16}(?:bearer\s{1,16}|token\s{1,16}|basic\s{1,16})?)"
            r"[\"']?([A-Za-z0-9_\-+/=.~]{16,256})",
            0.75,
            group=1,
        ),
        # "our production key 6Ap8E5...", "key: \"2qsC/...==\"": the bare word needs a long random value.
        Pattern(
            "long random value after the word key",
            r"(?i:\bkeys?[\"']?\s{0,16}(?:[:=]|=>|:=|\bis\b|\bwas\b)?\s{0,16})[\"']?([A-Za-z0-9_\-+/=.~]{32,256})",
            0.75,
            group=1,
        ),
    )
    negative_context = ("sha", "sha1", "sha256", "md5", "hash", "checksum", "digest", "commit", "etag",
                        "uuid", "guid", "integrity")

    def context_effect(self, scan: ScanText, start: int, end: int) -> tuple[bool, bool, str] | None:
        """Counter-context ("sha256", "commit") counts only on the value's own line, before it or just
        after it: a digest on the next line of a config file says nothing about this key."""
        text = scan.text
        line_start = max(text.rfind("\n", 0, start) + 1, start - scan.context_window)
        line_end = text.find("\n", end, end + scan.context_window)
        after = text[end:line_end if line_end != -1 else end + scan.context_window]
        miss = self._negative.first_hit([*tokens(text[line_start:start]), "\x00", *tokens(after)])
        return (False, True, f"; counter-context '{miss}'") if miss is not None else (False, False, "")

    def validate(self, value: str, pattern: Pattern) -> float | None:
        if pattern.name == "long random value after the word key":
            body = value.rstrip(".=")
            if not (any(c.islower() for c in body) and any(c.isupper() for c in body)
                    and any(c.isdigit() for c in body)) or shannon_entropy(body) < 4.0:
                return None
        value = value.rstrip(".=")
        if len(value) < 16 or looks_like_placeholder(value):
            return None
        lowered = value.lower()
        is_hex = all(c in "0123456789abcdef" for c in lowered)
        has_digit = any(c.isdigit() for c in value)
        if not has_digit and not is_hex:
            return None  # identifiers like "getAccessTokenFromRequest" are words, not secrets
        threshold = HEX_ENTROPY_THRESHOLD if is_hex else ENTROPY_THRESHOLD
        if shannon_entropy(value) < threshold:
            return None
        return pattern.score
