"""Values split across two adjacent texts of one request: a card number whose first half ends one message
and whose second half starts the next, an e-mail address cut between two content parts.

Each text is scanned on its own first. Then, for every pair of adjacent texts, the end of the first and
the start of the second are joined and scanned once more; a finding that crosses the join is a value
neither scan could see whole, and each text gets the part of it that lies in it. Only ``WINDOW``
characters either side of a join are read, so the extra work per request is bounded by the number of
texts, not their length (and the scans are cached like any other text).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from interlock.detect.finding import Finding

# Characters read either side of a join: more than the longest value a split would hide in practice
# (cards, IBANs, e-mail addresses, provider keys); a longer value is still found in each text when its
# part there is shaped like the value.
WINDOW = 128


def seam_findings(texts: Sequence[str], found: Sequence[list[Finding]],
                  scan: Callable[[str], list[Finding]]) -> list[list[Finding]]:
    """For each text, the parts of values that continue into the text before or after it. ``found``: each
    text's own findings. A finding at a join whose part in one text that text's own finding of the same
    class already covers is a value of that text glued to a word of the other ("at" + "jane@example.com"),
    and is left out (a part read as another class, an IBAN's groups as a phone, is still a part)."""
    extra: list[list[Finding]] = [[] for _ in texts]
    for i in range(len(texts) - 1):
        left, right = texts[i], texts[i + 1]
        if not left or not right:
            continue
        tail = left[-WINDOW:]
        offset = len(left) - len(tail)
        cut = len(tail)
        for f in scan(tail + right[:WINDOW]):
            if not f.start < cut < f.end:
                continue
            # The separator at the join (a space between two groups) is not part of either piece.
            head_end = len(left.rstrip())
            rest_start = len(right) - len(right.lstrip())
            head = Finding(f.data_class, offset + f.start, max(head_end, offset + f.start), f.confidence,
                           f.detector, f.explanation + _NOTE)
            rest = Finding(f.data_class, min(rest_start, f.end - cut), f.end - cut, f.confidence, f.detector,
                           f.explanation + _NOTE)
            if _covered(head, found[i], f.data_class) or _covered(rest, found[i + 1], f.data_class):
                continue
            extra[i].extend([head] if head.end > head.start else [])
            extra[i + 1].extend([rest] if rest.end > rest.start else [])
    return extra


_NOTE = "; split across two parts of the request"


def _covered(piece: Finding, findings: list[Finding], data_class: str | None = None) -> bool:
    """Whether a finding (of ``data_class``, if given) already spans the piece."""
    return any(f.start <= piece.start and piece.end <= f.end and data_class in (None, f.data_class)
               for f in findings)


def merged(findings: list[Finding], pieces: list[Finding]) -> list[Finding]:
    """``findings`` with the split-value ``pieces`` added, still without overlaps. A piece that overlaps
    findings grows to cover them too, so no part of either is left out."""
    if not pieces:
        return findings
    kept = list(findings)
    for piece in pieces:
        if _covered(piece, kept):
            continue
        touching = [f for f in kept if f.start < piece.end and piece.start < f.end]
        if touching:
            start = min(piece.start, *(f.start for f in touching))
            end = max(piece.end, *(f.end for f in touching))
            piece = Finding(piece.data_class, start, end, piece.confidence, piece.detector, piece.explanation)
            kept = [f for f in kept if f not in touching]
        kept.append(piece)
    return sorted(kept, key=lambda f: f.start)
