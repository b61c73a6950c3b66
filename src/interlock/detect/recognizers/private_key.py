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


_B64 = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=")
# Between the lines of a body: line breaks, and the "\ " a JSON "\n" escape becomes before detection.
_LINE_BREAK = frozenset("\r\n\\ \t")
# The DER a private key's base64 body starts with: a SEQUENCE (long or short length) whose first element
# is INTEGER 0 or 1 (the version of PKCS#1 RSA, PKCS#8 and SEC1 EC keys), or the OpenSSH magic. Public
# keys and certificates start with a SEQUENCE inside the SEQUENCE, or with a longer INTEGER.
_DER_STARTS = (
    r"MII[A-Za-z0-9+/]{2}[AQgw]IBA[AD]",  # SEQUENCE, two length bytes, INTEGER 0
    r"MI[GH][A-Za-z0-9+/]AgE[AB]",  # SEQUENCE, one length byte, INTEGER 0 or 1
    r"M[A-H][A-Za-z0-9+/]CAQ[AE]",  # SEQUENCE, short length, INTEGER 0 or 1
    r"b3BlbnNzaC1rZXktdjE",  # "openssh-key-v1"
)


class PrivateKeyBodyRecognizer(Recognizer):
    """A private key's base64 body pasted without its BEGIN and END lines.

    RE2 finds the start of the DER structure every private key begins with, followed by at least a
    line's worth of base64; the body then runs over following lines as long as they look like more of
    it (full lines, or a last line with padding, a digit or ``+``/``/``), with a forward-only cursor, so
    the cost stays linear however many starts the text holds.
    """

    name = "private_key_body"
    data_class = "secret.private_key"
    max_len = 8192
    openers = tuple(Opener(p, reach=8192, case_insensitive=False, pending="") for p in _DER_STARTS)
    patterns = (
        Pattern("private key body without header", r"(?:^|[^A-Za-z0-9+/=])((?:" + "|".join(_DER_STARTS)
                + r")[A-Za-z0-9+/]{40})", 0.95, group=1),
    )

    def set_patterns(self) -> tuple[str, ...] | None:
        # Its own scan loop, but one plain pattern: the detector's prefilter says when to run it at all.
        return tuple(p.regex for p, _ in self._compiled)

    def scan(self, scan: ScanText, hits: Container[int] | None = None, floor: float = 0.0) -> list[Finding]:
        text = scan.text
        found: list[Finding] = []
        last_stop = 0
        for pattern, start, seen in self.candidates(scan, hits):
            if start < last_stop or start < 0:
                continue
            limit = min(len(text), start + self.max_len)
            first_end = seen
            while first_end < limit and text[first_end] in _B64:
                first_end += 1
            stop = self._more_lines(text, first_end, first_end - start, limit)
            found.append(Finding(self.data_class, start, stop, pattern.score, self.name, pattern.name))
            last_stop = stop
        return found

    @staticmethod
    def _more_lines(text: str, pos: int, width: int, limit: int) -> int:
        """Where the body that has a first line ``width`` long and ends it at ``pos`` stops."""
        while pos < limit and text[pos - 1] != "=":
            line = pos
            while line < limit and text[line] in _LINE_BREAK:
                line += 1
            if line == pos or not ("\n" in text[pos:line] or "\\" in text[pos:line]):
                break
            end = line
            while end < limit and text[end] in _B64:
                end += 1
            if end < len(text) and text[end] not in _LINE_BREAK:
                break  # the next line is not base64 through to its end
            run = text[line:end]
            full = len(run) == width
            if not full and (len(run) < 4 or not (run.endswith("=") or any(c in "+/" or c.isdigit() for c in run))):
                break
            pos = end
            if not full:
                break
        return pos
