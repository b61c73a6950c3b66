"""Large inputs scanned in segments by scan processes give what one whole scan gives."""

from __future__ import annotations

import asyncio
import itertools
import os
import random
import signal
from collections.abc import Iterator

import pytest

from interlock.detect import Detector
from interlock.detect.finding import Finding
from interlock.detect.parallel import ParallelScanner, segments

PEM = ("-----BEGIN RSA PRIVATE KEY-----\nMIIEpAIBAAKCAQEA" + "q7Zx" * 120 + "\n-----END RSA PRIVATE KEY-----")
PIECES = ["jane.doe@example.com", "4111 1111 1111 1111", "+1 202 555 0147", "GB82 WEST 1234 5698 7654 32",
          "Dear Mr. Smith,", "Phone: 020 7946 0958", "AKIAIOSFODNN7EXAMPLE", "12 Baker Street, London NW1 6XE",
          "the", "order 12345", "version 1.2.3", "\n", "DOB: 12/03/1980", "and", "call me on 445 6271",
          "Regards,\nJohn", "10.20.30.40", "ghp_aBcDeFgHiJkLmNoPqRsTuVwXyZ0123456789"]


def dense(words: int, seed: int) -> str:
    rng = random.Random(seed)
    return " ".join(rng.choice(PIECES) for _ in range(words))


def spans(findings: list[Finding]) -> list[tuple[str, int, int]]:
    return [(f.data_class, f.start, f.end) for f in findings]


@pytest.fixture(scope="module")
def scanner(detector: Detector) -> Iterator[ParallelScanner]:
    # The smallest segments the scanner allows (four margins), so that modest texts cross many seams.
    s = ParallelScanner(detector, 2, segment_chars=1)
    asyncio.run(s.start())
    yield s
    s.close()


def test_segments_tile_the_text_and_cut_at_line_breaks() -> None:
    text = "".join(f"line {i} with some words\n" for i in range(4000))
    parts = segments(text, 10_000, 500)
    assert parts[0].own_start == 0
    assert parts[-1].own_end == len(text)
    for before, after in itertools.pairwise(parts):
        assert before.own_end == after.own_start
        assert text[before.own_end - 1] == "\n"
    for p in parts:
        assert p.start == max(0, p.own_start - 500)
        assert p.end == min(len(text), p.own_end + 500)
        assert 5_000 <= p.own_end - p.own_start <= 10_000 or p is parts[-1]


def test_a_text_without_spaces_is_cut_where_it_must_be() -> None:
    parts = segments("x" * 25_000, 10_000, 100)
    assert [(p.own_start, p.own_end) for p in parts] == [(0, 10_000), (10_000, 20_000), (20_000, 25_000)]


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_segmented_scan_equals_the_whole_scan(detector: Detector, scanner: ParallelScanner, seed: int) -> None:
    text = dense(40_000, seed)
    assert len(text) > 8 * scanner.margin  # several seams
    [found] = asyncio.run(scanner.scan_many([text]))
    assert spans(found) == spans(detector.scan(text))


def test_values_across_every_seam_are_found_whole(detector: Detector, scanner: ParallelScanner) -> None:
    filler = dense(20_000, 9)
    size = 4 * scanner.margin
    # A private key and a card number that straddle each place the text would be cut without them.
    text = filler
    for cut in range(size, len(filler), size):
        text = text[:cut - 300] + " " + PEM + " 4111 1111 1111 1111 " + text[cut - 300:]
    [found] = asyncio.run(scanner.scan_many([text]))
    assert spans(found) == spans(detector.scan(text))
    keys = [f for f in found if f.data_class.startswith("secret.private_key")]
    assert len(keys) == text.count("BEGIN RSA PRIVATE KEY")
    assert all(text[k.start:k.end].startswith("-----BEGIN") for k in keys)


def test_what_needs_the_whole_text_still_sees_it(detector: Detector, scanner: ParallelScanner) -> None:
    # The name spelled by an address at the start and a secret labelled at the start are mentioned again
    # segments later, where nothing else marks them.
    filler = "Plain words about the weather and the weekend. " * 3_000
    text = ("Write to maria.kowalska@example.pl, token ghp_aBcDeFgHiJkLmNoPqRsTuVwXyZ0123456789. " + filler
            + "Later Maria Kowalska asked again about ghp_aBcDeFgHiJkLmNoPqRsTuVwXyZ0123456789 and left.")
    [found] = asyncio.run(scanner.scan_many([text]))
    assert spans(found) == spans(detector.scan(text))
    tail = len(text) - 120
    late = {text[f.start:f.end] for f in found if f.start > tail}
    assert late == {"Maria Kowalska", "ghp_aBcDeFgHiJkLmNoPqRsTuVwXyZ0123456789"}


def test_many_texts_of_one_call_keep_their_order(detector: Detector, scanner: ParallelScanner) -> None:
    texts = [dense(n, seed) for seed, n in enumerate([3, 15_000, 0, 40, 30_000, 7])]
    results = asyncio.run(scanner.scan_many(texts))
    assert [spans(r) for r in results] == [spans(detector.scan(t)) for t in texts]


def test_a_scan_process_that_dies_costs_the_call_nothing(detector: Detector) -> None:
    text = dense(30_000, 4)
    expected = spans(detector.scan(text))

    async def scenario() -> tuple[list[Finding], list[Finding]]:
        s = ParallelScanner(detector, 2, segment_chars=1)
        try:
            await s.start()
            pool = s._pool
            assert pool is not None
            for pid in list(pool._processes):
                os.kill(pid, signal.SIGKILL)
            [after_death] = await s.scan_many([text])
            assert s._pool is None  # the broken pool was dropped...
            [again] = await s.scan_many([text])
            assert s._pool is not None  # ...and the next call started a new one
            return after_death, again
        finally:
            s.close()

    after_death, again = asyncio.run(scenario())
    assert spans(after_death) == expected
    assert spans(again) == expected
