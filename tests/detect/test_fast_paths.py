"""The fast paths for ASCII text give exactly what the general paths give.

``Matcher`` searches ASCII text with the compiled RE2 program directly instead of through the ``re2``
module's ``finditer``, and ``window_tokens`` folds ASCII windows with ``bytes.translate``. Both must
change nothing: every finding, span, confidence and explanation stays the same, for ASCII text and
for text that is not (which keeps taking the general paths).
"""

from __future__ import annotations

import random
from typing import Any

import pytest

from interlock.detect import CustomPattern, DetectionConfig, Detector, Finding
from interlock.detect import recognizer as recognizer_module
from interlock.detect.context import WORD_SLACK, fold_ascii, tokens, window_tokens
from interlock.detect.detector import repeat_values, resolve_overlaps
from interlock.detect.recognizer import Matcher, ScanText, compile_re2, lower_in_place
from interlock.detect.recognizers.dictionary import DictionaryRecognizer

from .test_linear_time import ADVERSARIAL
from .test_recognizers import NEGATIVES, POSITIVES

_NON_ASCII = ["é", "ß", "İ", "Ⅻ", "😀", "中文", "\u00a0", "\u212a", "ﬁ", "ǅ", "Σ", "\u200b", "Straße"]


def _corpus() -> list[str]:
    """The recognizer tables, each text also with non-ASCII characters, in upper case and with JSON-style
    escapes, plus seeded random mixtures of their words and some long and adversarial texts."""
    base = [text for _, text, _ in POSITIVES] + [text for _, text in NEGATIVES] + [
        "mail a@b.io, card 4111111111111111, ip 10.0.0.7, IBAN GB82WEST12345698765432, "
        "key AKIAIOSFODNN7EXAMPLE, phone +1 202 555 0147",
        "From: anna.kowalski@example.org\nAnna Kowalski asked for a refund.",
        "order 4111 1111 1111 1111, later Paid by card 4111 1111 1111 1111 today",
        "status of PROJECT0042 and blue   falcon, member M-123456789015, ticket TCK-20931",
        "Reply to the customer at dana.whitfield@example.com, order reference 4471-12345-A.",
    ]
    rng = random.Random(20240611)
    texts = list(base)
    for text in base:
        cut = rng.randrange(len(text) + 1)
        texts += [rng.choice(_NON_ASCII) + " " + text, text[:cut] + rng.choice(_NON_ASCII) + text[cut:],
                  text.upper(), text.replace(" ", "\\n", 2)]
    words = " ".join(base).split()
    for _ in range(400):
        picked = [rng.choice(words) for _ in range(rng.randint(1, 40))]
        if rng.random() < 0.3:
            picked.insert(rng.randrange(len(picked) + 1), rng.choice(_NON_ASCII))
        texts.append(rng.choice([" ", "  ", "\n", ", ", "\t"]).join(picked))
    texts += [value[:4000] for value in ADVERSARIAL.values()]
    texts += [" ".join(base) * 3, "é " + " ".join(base) * 3, "", " ", "@", "a@b.co", "\\n"]
    return texts


CORPUS = _corpus()

CONFIGS = {
    "default": DetectionConfig(),
    "extras": DetectionConfig(
        allow_list=("support@example.com",),
        dictionaries={"custom.codename": ("Blue Falcon", "Project0042", "Zürich")},
        custom_patterns=(
            CustomPattern("custom.member_id", r"\bM-\d{12}\b", context=("member",), checksum="luhn",
                          confidence=0.4, context_required=True),
            CustomPattern("custom.ticket", r"\b(TCK)-(\d{4,8})\b", group=2, confidence=0.7),
        ),
        min_confidence=0.3, context_window=20),
}


def reference_window_tokens(text: str, start: int, end: int, size: int,
                            folded: str | None = None) -> tuple[list[str], list[str]]:
    """``window_tokens`` as it was before its ASCII fast paths: one character at a time (``folded``, the
    text folded once per scan, is ignored)."""
    def plain_tokens(part: str) -> list[str]:
        return part.lower().translate({c: " " for c in range(128) if not chr(c).isalnum()}).split()

    lo, hi = max(0, start - size), min(len(text), end + size)
    while lo > 0 and text[lo - 1].isalnum() and start - lo < size + WORD_SLACK:
        lo -= 1
    while hi < len(text) and text[hi].isalnum() and hi - end < size + WORD_SLACK:
        hi += 1
    return plain_tokens(text[lo:start]), plain_tokens(text[end:hi])


def general_scan_text(cls: type[ScanText], text: str, context_window: int) -> ScanText:
    """``ScanText.of`` without the ASCII bytes: every search goes through ``re2``'s ``finditer``."""
    return cls(text, lower_in_place(text), context_window, None)


def _results(detector: Detector) -> list[tuple[list[Finding], ...]]:
    return [(detector.scan(text), detector.scan(text, backward=False), detector.scan_direct(text)) for text in CORPUS]


@pytest.mark.parametrize("name", sorted(CONFIGS))
def test_fast_paths_change_no_finding(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    detector = Detector(CONFIGS[name])
    fast = _results(detector)
    with monkeypatch.context() as patch:
        patch.setattr(ScanText, "of", classmethod(general_scan_text))
        patch.setattr(recognizer_module, "window_tokens", reference_window_tokens)
        assert ScanText.of("abc", 1).ascii_bytes is None
        general = _results(detector)
    assert ScanText.of("abc", 1).ascii_bytes == b"abc"
    assert sum(len(found[0]) for found in fast) > 1000  # the corpus does exercise the recognizers
    for text, got, expected in zip(CORPUS, fast, general, strict=True):
        assert got == expected, text


def test_the_fast_path_is_taken_for_ascii_text_only() -> None:
    assert ScanText.of("plain text", 48).ascii_bytes == b"plain text"
    assert ScanText.of("café", 48).ascii_bytes is None
    # The installed re2 module has the shape the fast path needs; without it every search would quietly
    # take the slow path.
    recognizers = Detector(CONFIGS["extras"]).recognizers
    for r in recognizers:
        for _, matcher in r._compiled:
            assert matcher._program is not None, r.name
    dictionary = next(r for r in recognizers if isinstance(r, DictionaryRecognizer))
    assert dictionary._matcher is not None
    assert dictionary._matcher._program is not None


def reference_span(match: Any, group: int, groups: int) -> tuple[int, int]:
    """The reported span read off a ``finditer`` match: ``group``, or with -1 the first group that took part."""
    if group >= 0:
        span: tuple[int, int] = match.span(group)
        return span
    for index in range(1, groups + 1):
        span = match.span(index)
        if span[0] >= 0:
            return span
    return (-1, -1)


@pytest.mark.parametrize(("pattern", "group"), [
    (r"a*", 0), (r"\b", 0), (r"(?:^|x)", 0), (r"$", 0), (r"(a)|(b)", 2), (r"(a)|(b)", -1), (r"(x)?(y)", 1),
    (r"(x)?(y)", -1), (r"\d+(?:-(\d+))?", 1), (r"\d+(?:-(\d+))?", -1), (r"(a*)", 1),
])
def test_matcher_steps_from_match_to_match_as_finditer_does(pattern: str, group: int) -> None:
    # Empty matches, unset groups and anchors: the cases where stepping on by hand could go wrong.
    regex = compile_re2(pattern)
    matcher = Matcher(regex, group)
    for text in ["", "a", "aab ba xy y 12-34 5", "  xa\nb\n", "y" * 7 + "aaa", "bxbxbx", "12-",
                 "ä a\u00e9b 1\u20ac2-34 \U0001f600y", "\u00fc" * 5 + "aa\u00fc", "b\u00e9x\u4e2dbx"]:
        expected = [reference_span(m, group, regex.groups) for m in regex.finditer(text)]
        # ASCII text searched as bytes, other text as UTF-8 bytes with offsets counted back, and ``finditer``.
        assert list(matcher.spans(ScanText.of(text, 0))) == expected, (pattern, text)
        assert list(matcher.spans(ScanText(text, text.lower(), 0, None))) == expected, (pattern, text)


def test_matcher_spans_equal_finditer_on_the_corpus() -> None:
    recognizers = Detector(CONFIGS["extras"]).recognizers
    for text in CORPUS:
        scan = ScanText.of(text, 48)
        for r in recognizers:
            for _, matcher in r._compiled:
                regex = matcher.regex
                expected = [reference_span(m, matcher.group, regex.groups) for m in regex.finditer(text)]
                assert list(matcher.spans(scan)) == expected, (r.name, text)


def test_window_tokens_match_the_character_by_character_reading() -> None:
    rng = random.Random(7)
    alphabets = ["aB9 .-_\n\t@Zz0x", "ab", "a ", "AbC-", "\x00\x7f a", "aé İ-", "x😀 y"]
    for _ in range(10_000):
        alphabet = rng.choice(alphabets)
        text = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 90)))
        start = rng.randint(0, len(text))
        end = rng.randint(start, len(text))
        size = rng.choice([0, 1, 3, 10, 30, 48])
        expected = reference_window_tokens(text, start, end, size)
        assert window_tokens(text, start, end, size) == expected, (text, start, end, size)
        if text.isascii():
            # A scan folds its ASCII text once and reads every window from that.
            folded = fold_ascii(text.encode("ascii"))
            assert window_tokens(text, start, end, size, folded) == expected, (text, start, end, size)
        assert tokens(text) == text.lower().translate({c: " " for c in range(128) if not chr(c).isalnum()}).split()


def _dense_digits(size: int) -> str:
    rng = random.Random(7)
    lines = []
    while sum(map(len, lines)) < size:
        card = "".join(str(rng.randrange(10)) for _ in range(16))
        lines.append(f"Contact ab{rng.randrange(99)}@example.com or call +44 20 {rng.randrange(7000, 7999)} "
                     f"{rng.randrange(1000, 9999)}. card {card[:4]} {card[4:8]} {card[8:12]} {card[12:]} phone "
                     f"({rng.randrange(200, 999)}) {rng.randrange(200, 999)}-{rng.randrange(1000, 9999)}, IBAN DE89 3704 "
                     f"0044 0532 0130 00, ip 10.{rng.randrange(256)}.1.7 at 12 Long Street, 4121 Basel\n")
    return "".join(lines)


def test_every_pattern_searches_with_its_dfa(capfd: pytest.CaptureFixture[str]) -> None:
    """Each built-in pattern's memory budget holds its DFA: with too small a budget RE2 keeps emptying the
    DFA's cache and falls back to its NFA for the whole search, a hundred times slower (it says so only
    in its log, enabled here)."""
    import re2

    text = (_dense_digits(60_000) + "\n".join(t for _, t, _ in POSITIVES)).encode("utf-8")
    detector = Detector(DetectionConfig())
    capfd.readouterr()
    searched = 0
    for recognizer in detector.recognizers:
        for _, matcher in getattr(recognizer, "_compiled", ()):
            options = matcher.regex.options
            options.log_errors = True
            program: Any = re2.compile(matcher.regex.pattern, options)._regexp
            program.Match(re2._re2.RE2.Anchor.UNANCHORED, text, 0, len(text))
            searched += 1
    assert searched > 50
    assert "DFA out of memory" not in capfd.readouterr().err


def test_a_larger_program_gets_a_larger_budget() -> None:
    small = compile_re2(r"\d{3}-\d{4}")
    rng = random.Random(3)
    words = ["".join(rng.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(8)) for _ in range(12_000)]
    large = compile_re2("(?i:" + "|".join(words) + r")\s+\d+")
    assert small.options.max_mem == recognizer_module.REGEX_MEMORY
    assert large.options.max_mem > recognizer_module.REGEX_MEMORY


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_one_pass_repeats_equal_one_search_per_value(seed: int, monkeypatch: pytest.MonkeyPatch) -> None:
    """Repeating found values with one pass over a large text finds what one search per value finds,
    including values that overlap each other or themselves ("abab" in "ababab") and values that are
    prefixes of others, whether or not a value may repeat before its first finding."""
    from interlock.detect import detector as detector_module

    rng = random.Random(seed)
    for _ in range(15):
        alphabet = rng.choice(["ab ", "a1 -", "0123 ", "xy.@ "])
        text = "".join(rng.choice(alphabet) for _ in range(rng.randrange(70_000, 90_000)))
        found = []
        for _ in range(rng.randrange(1, 60)):
            start = rng.randrange(0, len(text) - 30)
            found.append(Finding("pii.x", start, start + rng.randrange(4, 12), 0.9, "test", "x"))
        found = detector_module.resolve_overlaps(found)
        forward_only = rng.random() < 0.5
        monkeypatch.setattr(detector_module, "_ONE_PASS_VALUES", 1)
        monkeypatch.setattr(detector_module, "_ONE_PASS_CHARS", 1 << 60)
        each = detector_module.repeat_values(text, found, forward_only=forward_only)
        monkeypatch.setattr(detector_module, "_ONE_PASS_CHARS", 1 << 16)
        assert detector_module._mentions(text, [text[f.start:f.end] for f in found]) is not None
        assert detector_module.repeat_values(text, found, forward_only=forward_only) == each


def test_one_pass_gives_way_where_long_mentions_overlap_many_times(monkeypatch: pytest.MonkeyPatch) -> None:
    """A long value repeated letter by letter would make the one pass read the text once per letter of it:
    the search per value takes over, with the same result, in time linear in the text."""
    from interlock.detect import detector as detector_module

    text = " " + "a" * 200_000 + " "
    values = ["a" * 300] + [f"v{i:04d}" for i in range(40)]
    assert detector_module._mentions(text, values) is None
    found = [Finding("pii.x", 1, 301, 0.9, "test", "x")]
    monkeypatch.setattr(detector_module, "_ONE_PASS_VALUES", 1)
    assert detector_module.repeat_values(text, found) == found


@pytest.mark.parametrize("backward", [True, False])
def test_scan_without_repeats_skips_a_second_resolution_and_changes_nothing(backward: bool) -> None:
    """``scan`` resolves overlaps again only when repeated mentions were added: ``scan_direct``'s findings
    are already resolved and in order (normalised text included), so resolving them again must be a no-op."""
    detector = Detector(DetectionConfig())
    texts = [*CORPUS, "ｐｈｏｎｅ ＋４４ ２０ ７９４６ ０９５８ and Ａｎｎａ Ｋｏｗａｌｓｋｉ", "Dear Anna,\n\u200bmail a@b.io"]
    unchanged = 0
    for text in texts:
        direct = detector.scan_direct(text, backward=backward)
        expected = resolve_overlaps(repeat_values(text, direct, forward_only=not backward))
        assert detector.scan(text, backward=backward) == expected, text
        unchanged += repeat_values(text, direct, forward_only=not backward) is direct
    assert unchanged > len(texts) // 2  # the path without a second resolution is the common one
