"""PEM private key blocks, including truncated ones (a partial key is still a leak)."""

from __future__ import annotations

from collections.abc import Container

from interlock.detect.finding import Finding
from interlock.detect.recognizer import Opener, Pattern, Recognizer, ScanText

_BODY_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=\r\n \t:-,")
_END = "-----END "


class PrivateKeyRecognizer(Recognizer):
    """RE2 finds the BEGIN line; the block runs to the matching END line within ``max_len``.

    Ends are found with a forward-only cursor, so many BEGIN lines without END still cost linear time.
    """

    name = "private_key"
    data_class = "secret.private_key"
    max_len = 8192
    openers = (Opener("-----BEGIN", reach=8192, case_insensitive=False, pending=""),)
    keywords = ("-----begin",)
    patterns = (
        Pattern("PEM private key", r"-----BEGIN (?:[A-Z0-9]{1,12} ){0,3}PRIVATE KEY(?: BLOCK)?-----", 0.99),
    )

    def scan(self, scan: ScanText, hits: Container[int] | None = None, floor: float = 0.0) -> list[Finding]:
        if not self.applies(scan):
            return []
        text = scan.text
        found: list[Finding] = []
        next_end = -2
        last_stop = 0
        for pattern, matcher in self._compiled:
            for start, header_end in matcher.spans(scan):
                if start < last_stop:
                    continue
                if next_end != -1 and next_end < header_end:
                    next_end = text.find(_END, header_end)
                stop = -1
                if next_end != -1 and next_end - start <= self.max_len:
                    close = text.find("-----", next_end + len(_END))
                    if close != -1 and close + 5 - start <= self.max_len:
                        stop = close + 5
                if stop == -1:
                    stop = self._body_end(text, header_end, start + self.max_len)
                found.append(Finding(self.data_class, start, stop, pattern.score, self.name, pattern.name))
                last_stop = stop
        return found

    @staticmethod
    def _body_end(text: str, pos: int, limit: int) -> int:
        limit = min(limit, len(text))
        while pos < limit and text[pos] in _BODY_CHARS:
            pos += 1
        return pos
