"""How much of a text stream must stay unemitted so that no part of a finding is released early.

Built once per :class:`~interlock.detect.detector.Detector` from its recognizers; a recognizer that
would make the hold-back long without saying where its matches start fails the detector's construction.
Positions below are into the text a streaming redactor has buffered; ``start`` is where the
not-yet-emitted part begins. Text before ``release(text, start)`` can be emitted:

* plain: recognizers without openers report at most ``DetectionConfig.max_plain_len`` characters. The
  stream holds back the longest of those plus what such a recognizer reads after its span (the context
  window if it has context words, else a few characters of lookahead), counted back from
* the start of the trailing partial token (the text after the last whitespace), whatever its length up
  to ``token_cap``: a ``single_token`` recognizer (e-mail addresses, API keys) reports spans without
  whitespace, so a span still arriving lies in that token.
* openers: from an opener (less its ``lead``) text is held until the match it may start is over (its
  ``reach`` has passed or, with ``gaps``, one more run of whitespace than the match can contain has
  started) and the context window after it has arrived.

Openers are found by RE2 searches over only the part of the tail where they could still matter.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from interlock.detect.context import WORD_SLACK
from interlock.detect.recognizer import MAX_OPENER_WIDTH, WHITESPACE, Recognizer, compile_re2, pattern_width


@dataclass(frozen=True, slots=True)
class _Rule:
    lead: int
    gaps: Any  # compiled "(?:\S*\s+){gaps}\S*", or None when whitespace does not end the match
    reach: int
    right: int


@dataclass(frozen=True, slots=True)
class _OpenerGroup:
    regex: Any  # the opener pattern
    rules: tuple[_Rule, ...]
    release: int  # an opener this far back is released under every rule


class HoldBack:
    """The streaming hold-back rule for one set of recognizers (immutable, safe to share)."""

    def __init__(self, recognizers: Sequence[Recognizer], context_window: int, max_plain_len: int,
                 *, exact: bool = True) -> None:
        right = context_window + WORD_SLACK
        plain = 1
        token = right
        lookbehind = right
        # The short hold (see ``release``): what must always be held before the trailing token, and the
        # digit-anchored recognizers' window, lead and gap.
        blanket = 0
        digit_window = digit_lead = digit_gap = 0
        pending: list[tuple[Any, int]] = []
        by_pattern: dict[tuple[str, bool], list[_Rule]] = {}
        for r in recognizers:
            lookbehind = max(lookbehind, r.lookbehind)
            after = max(context_window if r.uses_context() else 0, r.lookahead)
            if r.openers:
                widest = r.widest_match()
                for opener in r.openers:
                    width = pattern_width(opener.pattern)
                    if width is None or width > MAX_OPENER_WIDTH:
                        raise ValueError(f"recognizer {r.name}: opener {opener.pattern!r} must be a pattern of at "
                                         f"most {MAX_OPENER_WIDTH} characters")
                    reach = opener.reach if opener.reach is not None else widest
                    if reach is None:
                        raise ValueError(f"recognizer {r.name}: its patterns can match unboundedly long text, so "
                                         "its openers need an explicit reach (or bound every repetition)")
                    gaps = None if opener.gaps is None else _gap_regex(opener.gaps)
                    rule = _Rule(opener.lead, gaps, reach + r.lookahead, right if r.uses_context() else r.lookahead)
                    by_pattern.setdefault((opener.pattern, opener.case_insensitive), []).append(rule)
                    # An opener (and its lead) still arriving must not be released before it is complete.
                    plain = max(plain, width + opener.lead)
                    if opener.pending is None:
                        blanket = max(blanket, width + opener.lead)
                    elif opener.pending:
                        pending.append((compile_re2(f"(?:{opener.pending})$",
                                                    case_insensitive=opener.case_insensitive), opener.lead))
            elif r.single_token:
                token = max(token, r.max_len + max(right, r.lookahead))
            else:
                if r.max_len > max_plain_len:
                    raise ValueError(
                        f"recognizer {r.name} can report {r.max_len} characters with no opener, so streaming "
                        f"would hold back that much of every response: declare openers, lower its max_len, or "
                        f"raise max_plain_len (now {max_plain_len}) to accept the delay")
                need = r.max_len + after
                widest = r.widest_match()
                if widest is not None:
                    need = max(need, widest + r.lookahead)
                plain = max(plain, need)
                if r.digit_anchored:
                    digit_window = max(digit_window, need)
                    digit_lead = max(digit_lead, r.digit_lead)
                    digit_gap = max(digit_gap, r.digit_gap)
                else:
                    blanket = max(blanket, need)
        self.plain = plain
        self.token_cap = token
        self.lookbehind = lookbehind + 1
        self.right = right
        # ``exact``: every recognizer declares where its spans can start (no NER model, whose entities
        # could start anywhere), so the short hold applies; otherwise the plain hold always does.
        self.exact = exact
        self.blanket = max(1, blanket, digit_gap)
        self._digit_window = digit_window
        self._digit_lead = digit_lead
        self._pending = tuple(pending)
        self._groups = tuple(
            _OpenerGroup(compile_re2(pattern, case_insensitive=ci), tuple(rules),
                         max(rule.reach + rule.right for rule in rules))
            for (pattern, ci), rules in by_pattern.items()
        )
        self._max_lead = max((rule.lead for g in self._groups for rule in g.rules), default=0)

    def settled(self, text: str, start: int) -> int:
        """Where the trailing partial token starts (at most ``token_cap`` back, never before ``start``)."""
        lo = max(start, len(text) - self.token_cap)
        return max(lo, *(text.rfind(c, lo) + 1 for c in WHITESPACE))

    def release(self, text: str, start: int, *, short: bool = True) -> tuple[int, int]:
        """``(safe, settled)``: text before ``safe`` may be emitted unless a finding straddles it;
        ``settled`` is where the trailing partial token starts. ``short=False`` asks for the plain hold
        (the caller knows of values that may repeat anywhere, such as names taken from an address)."""
        settled = self.settled(text, start)
        safe = self._short(text, start, settled) if short and self.exact else settled - self.plain
        if safe <= start:
            return start, settled
        for group in self._groups:
            safe = self._before_open_opener(group, text, start, safe)
        return safe, settled

    def _short(self, text: str, start: int, settled: int) -> int:
        """The short hold. An unfinished finding of a digit-anchored recognizer starts at most
        ``digit_lead`` before its first digit, and lies within ``digit_window`` of ``settled``: so either
        its first digit has arrived, at or after the first digit in that window, or it has not, and the
        finding started in the trailing token or at most ``digit_gap`` before it. Openers whose unfinished
        match can reach back before the trailing token hold from where their ``pending`` pattern matches;
        the rest of every opener's match is held by ``_before_open_opener``."""
        safe = settled - self.blanket
        if self._digit_window:
            window = max(start, settled - self._digit_window)
            found = _DIGIT.search(text, window)
            if found is not None:
                safe = min(safe, max(window, found.start() - self._digit_lead))
        if self._pending:
            tail = max(start, len(text) - 2 * MAX_OPENER_WIDTH)
            piece = text[tail:]
            for regex, lead in self._pending:
                match = regex.search(piece)
                if match is not None:
                    safe = min(safe, tail + match.start() - lead)
        return safe

    def _before_open_opener(self, group: _OpenerGroup, text: str, start: int, safe: int) -> int:
        """Pull ``safe`` back to the earliest opener of ``group`` whose match may still be arriving.

        One RE2 search over the tail finds the next opener; only openers recent enough to be open are
        searched, and only up to where one could still pull ``safe`` back.
        """
        n = len(text)
        # Emitted left context too: an opener whose last part arrived after its first part went out
        # (``pending=""``) still holds what follows it.
        lo = max(0, n - group.release)
        limit = min(n, safe + self._max_lead)
        if lo >= limit:
            return safe
        window = text[lo:min(n, limit + MAX_OPENER_WIDTH)]
        pos = 0
        while lo + pos < limit:
            found = group.regex.search(window, pos)
            if found is None or lo + found.start() >= limit:
                break
            p = lo + found.start()
            after = lo + found.end()
            for rule in group.rules:
                hold = p - rule.lead
                if hold < safe and not _released(text, p, after, rule):
                    safe = max(hold, start)
                    limit = min(limit, safe + self._max_lead)
            pos = found.start() + 1
        return safe


def _released(text: str, p: int, after: int, rule: _Rule) -> bool:
    n = len(text)
    if n >= p + rule.reach + rule.right:
        return True
    if rule.gaps is None:
        return False
    # The match can contain ``gaps`` whitespace runs after its opener; once one more starts, it is over.
    tail = text[after:min(n, p + rule.reach + rule.right)]
    runs = rule.gaps.match(tail)
    return runs is not None and runs.end() < len(tail) and after + runs.end() + rule.right <= n


# Any numeric character: fullwidth and other digit forms are normalised to digits before detection.
_DIGIT = compile_re2(r"\p{N}")
_GAP_REGEXES: dict[int, Any] = {}


def _gap_regex(gaps: int) -> Any:
    if gaps not in _GAP_REGEXES:
        _GAP_REGEXES[gaps] = compile_re2(r"(?:\S*\s+)" + f"{{{gaps}}}" + r"\S*" if gaps else r"\S*")
    return _GAP_REGEXES[gaps]
