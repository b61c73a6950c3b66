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
* the short hold (``release``'s default, with no NER): the plain hold applies only from where a
  recognizer says a span may start (a digit, an ``anchor``, its ``stream_start``, a ``pending`` form at
  the end of the text); elsewhere everything before the trailing partial token goes out at once.

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
        # Before a digit, a span reaches back at most ``token_lead`` within the digit's own token (no
        # whitespace there), or over a ``digit_pending`` form, or (recognizers with a gap and no such
        # form) ``gap_lead`` characters whatever they hold.
        token_lead = gap_lead = 0
        before_digit: list[Any] = []
        pending: list[tuple[Any, int, bool]] = []
        anchors: dict[tuple[str, bool], list[int]] = {}
        starters: list[tuple[Recognizer, int]] = []
        # Per recognizer, how much must follow one of its findings before the finding is final (see
        # ``right_of``).
        final: dict[str, int] = {}
        by_pattern: dict[tuple[str, bool], list[_Rule]] = {}
        for r in recognizers:
            lookbehind = max(lookbehind, r.lookbehind)
            after = max(context_window if r.uses_context() else 0, r.lookahead)
            # Its context window and what its patterns read after a span: once a character past that has
            # arrived before the trailing partial token, a word the window cuts has ended too.
            final[r.name] = max(final.get(r.name, 0), after + 1)
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
                                                    case_insensitive=opener.case_insensitive),
                                        opener.lead if opener.pending_lead is None else opener.pending_lead,
                                        opener.pending_at_end))
            elif r.single_token:
                token = max(token, r.max_len + max(right, r.lookahead))
                # Its span ends inside a token that has arrived whole; words after it can only raise its
                # score (it has no counter-context), and a rival span over the same characters would have
                # to start in that token too, or at a digit or an opener, which hold text themselves.
                if not r.negative_context:
                    final[r.name] = min(final[r.name], r.lookahead)
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
                if r.max_len <= 0:
                    continue  # reports nothing (an empty deployment dictionary)
                if r.digit_anchored:
                    digit_window = max(digit_window, need)
                    digit_lead = max(digit_lead, r.digit_lead)
                    if r.digit_gap and r.digit_pending is not None:
                        form = compile_re2(f"(?:{r.digit_pending})$", case_insensitive=r.case_insensitive)
                        pending.append((form, 0, False))
                        before_digit.append(form)
                        token_lead = max(token_lead, r.digit_lead)
                    elif r.digit_gap:
                        digit_gap = max(digit_gap, r.digit_gap)
                        gap_lead = max(gap_lead, r.digit_lead)
                    else:
                        token_lead = max(token_lead, r.digit_lead)
                elif type(r).stream_start is not Recognizer.stream_start:
                    starters.append((r, need))
                elif r.anchor is not None:
                    anchors.setdefault((r.anchor, r.case_insensitive), []).append(need)
                else:
                    blanket = max(blanket, need)
        self.plain = plain
        self.token_cap = token
        self.lookbehind = lookbehind + 1
        self.right = right
        self._final = final
        # ``exact``: every recognizer declares where its spans can start (no NER model, whose entities
        # could start anywhere), so the short hold applies; otherwise the plain hold always does.
        self.exact = exact
        self.blanket = max(1, blanket, digit_gap)
        self._digit_window = digit_window
        self.digit_lead = digit_lead
        self._token_lead = token_lead
        self._gap_lead = gap_lead
        self._before_digit = tuple(before_digit)
        self._pending = tuple(pending)
        self._starters = tuple(starters)
        self._anchors = tuple((compile_re2(pattern, case_insensitive=ci), max(needs))
                              for (pattern, ci), needs in anchors.items())
        self._groups = tuple(
            _OpenerGroup(compile_re2(pattern, case_insensitive=ci), tuple(rules),
                         max(rule.reach + rule.right for rule in rules))
            for (pattern, ci), rules in by_pattern.items()
        )
        self._max_lead = max((rule.lead for g in self._groups for rule in g.rules), default=0)

    def right_of(self, detector: str) -> int:
        """How much text must have arrived after a finding of ``detector`` (before the trailing partial
        token) before it is final: what its recognizer reads after a span (its pattern's lookahead alone if
        later words cannot undo its findings); ``right`` for a detector it does not know (NER)."""
        return self._final.get(detector, self.right)

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
        finding started in the trailing token, or where its ``digit_pending`` form ends the text (else at
        most ``digit_gap`` before the trailing token). A recognizer with an ``anchor`` or its own
        ``stream_start`` holds from the first possible start in its window. Openers whose unfinished
        match can reach back before the trailing token hold from where their ``pending`` pattern matches;
        the rest of every opener's match is held by ``_before_open_opener``."""
        safe = settled - self.blanket
        if self._digit_window:
            window = max(start, settled - self._digit_window)
            found = _DIGIT.search(text, window)
            if found is not None:
                safe = min(safe, max(window, self._before_first_digit(text, found.start())))
        for regex, window_len in self._anchors:
            window = max(start, settled - window_len)
            found = regex.search(text, window)
            if found is not None and found.start() < safe:
                safe = max(window, found.start())
        for recognizer, window_len in self._starters:
            window = max(start, settled - window_len)
            if window < safe:
                begins = recognizer.stream_start(text, window)
                if begins is not None and begins < safe:
                    safe = max(window, begins)
        if self._pending:
            # The arrived part of an opener may end in the trailing partial token ("P.O. Bo") or just
            # before it ("P.O. " then "Bo", held as that token): both endings are tried.
            for end in {len(text), settled}:
                tail = max(start, end - 2 * MAX_OPENER_WIDTH)
                piece = text[tail:end]
                for regex, lead, at_end in self._pending:
                    if at_end and end < len(text):
                        continue
                    match = regex.search(piece)
                    if match is not None:
                        safe = min(safe, tail + match.start() - lead)
        return safe

    def _before_first_digit(self, text: str, digit: int) -> int:
        """Where a span whose first digit is at ``digit`` can start, at the earliest."""
        lo = max(0, digit - self._token_lead)
        begin = max(lo, *(text.rfind(c, lo, digit) + 1 for c in WHITESPACE))
        if self._gap_lead:
            begin = min(begin, digit - self._gap_lead)
        if self._before_digit:
            piece_lo = max(0, digit - self.digit_lead)
            piece = text[piece_lo:digit]
            for form in self._before_digit:
                match = form.search(piece)
                if match is not None:
                    begin = min(begin, piece_lo + match.start())
        return begin

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
