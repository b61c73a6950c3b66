"""Scanning large inputs in scan processes, in pieces, with the result of one whole scan.

A scan holds the GIL for as long as it runs: on a thread it still slows every other call of the worker
(a 5 MB dense text took the p99 of small calls from 12 ms to 880 ms). Scan processes take that work off
the worker altogether, and a long text cut into segments is scanned on every core at once.

**Segments.** A text longer than ``segment_chars`` is cut, at a line break or a space where there is
one, into segments that each *own* a part of the text; each is scanned with ``margin`` characters of the
text on either side, so that every finding that starts in the owned part is seen whole, with the context
before and after it and with every finding it could overlap. ``margin`` follows from the detector: twice
the longest span a recognizer reports plus the context it reads on either side. Each segment keeps the
findings that start in its owned part; the parent then does what needs the whole text (names that repeat
an e-mail address's local part, values repeated at their other mentions) and resolves overlaps across
the seams. The result is the whole scan's, except that names repeating an e-mail address are looked for
from the first addresses of every segment rather than of the whole text: more, never fewer.
"""

from __future__ import annotations

import asyncio
import heapq
import logging
import multiprocessing
import threading
from array import array
from collections.abc import Iterable, Sequence
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from itertools import compress
from operator import attrgetter
from typing import NamedTuple

from interlock.detect.config import DetectionConfig
from interlock.detect.detector import Detector
from interlock.detect.finding import Finding

log = logging.getLogger("interlock.detect")

_detector: Detector | None = None


class Packed(NamedTuple):
    """Findings as they cross the process boundary: two arrays and the few strings they repeat.

    Pickling a list of tuples is one C call that holds the GIL from start to end, and so the event
    loop of the worker that receives it: 205,000 findings of a 5 MB dense text took 200 ms to pickle
    and 150 ms to unpickle, stalls every other call of the worker waited out. Arrays pickle as one
    copy of their bytes; the findings are built from them on a thread, in pieces the GIL switches
    between.
    """

    names: tuple[str, ...]  # every class, detector and explanation, once
    fields: bytes  # five int64 per finding: class (index into names), start, end, detector, explanation
    confidences: bytes  # one float64 per finding

    @property
    def size(self) -> int:
        """How many findings."""
        return len(self.confidences) // 8


def pack(findings: Iterable[Finding], shift: int = 0, own: tuple[int, int] | None = None) -> Packed:
    """``findings`` moved by ``shift``; with ``own``, only those that then start in ``[own[0], own[1])``."""
    index: dict[str, int] = {}
    fields = array("q")
    confidences = array("d")
    for f in findings:
        start = f.start + shift
        if own is not None and not own[0] <= start < own[1]:
            continue
        fields.extend((index.setdefault(f.data_class, len(index)), start, f.end + shift,
                       index.setdefault(f.detector, len(index)), index.setdefault(f.explanation, len(index))))
        confidences.append(f.confidence)
    return Packed(tuple(index), fields.tobytes(), confidences.tobytes())


def unpack(packed: Packed) -> list[Finding]:
    fields = array("q")
    fields.frombytes(packed.fields)
    confidences = array("d")
    confidences.frombytes(packed.confidences)
    name = packed.names.__getitem__
    return list(map(Finding, map(name, fields[0::5]), fields[1::5], fields[2::5], confidences,
                    map(name, fields[3::5]), map(name, fields[4::5])))


def _start_child(config: DetectionConfig) -> None:
    global _detector
    _detector = Detector(config)


def _ready() -> bool:
    return _detector is not None


def _scan_whole(texts: list[str]) -> list[Packed]:
    assert _detector is not None
    return [pack(_detector.scan(t)) for t in texts]


def _assemble(text: str, parts: list[Packed]) -> tuple[bytes, Packed]:
    """The whole-text step over the segments' findings, as what changes: which of those findings stay
    (one byte each, in the segments' order) and the findings it adds. The parent builds the segments'
    findings meanwhile, instead of waiting for this step to send them all back."""
    assert _detector is not None
    found = [f for part in parts for f in unpack(part)]
    result = _detector.assemble(text, found)
    kept = {id(f) for f in result}
    given = {id(f) for f in found}
    return bytes(id(f) in kept for f in found), pack(f for f in result if id(f) not in given)


def _apply(found: list[Finding], kept: bytes, added: Packed) -> list[Finding]:
    """``_assemble``'s result in the parent: the findings that stay, with those added, by position (the
    findings of a scan do not overlap, so no two start at one place)."""
    return list(heapq.merge(compress(found, kept), unpack(added), key=attrgetter("start")))


def _unpack_all(parts: list[Packed]) -> list[Finding]:
    return [f for part in parts for f in unpack(part)]


def _scan_segment(part: str, offset: int, own_start: int, own_end: int) -> Packed:
    """Findings of ``part`` (the text from ``offset``) that start in ``[own_start, own_end)`` of the text."""
    assert _detector is not None
    return pack(_detector.scan_direct(part), offset, (own_start, own_end))


@dataclass(frozen=True, slots=True)
class Segment:
    start: int  # scanned: text[start:end]
    end: int
    own_start: int  # owned: findings starting in [own_start, own_end) are kept
    own_end: int


def segments(text: str, size: int, margin: int) -> list[Segment]:
    """Owned parts of about ``size`` characters that tile ``text``, each scanned with ``margin`` around it.
    A cut falls on the last line break (else space) in the second half of a part, where there is one."""
    n = len(text)
    out: list[Segment] = []
    pos = 0
    while pos < n:
        cut = min(n, pos + size)
        if cut < n:
            half = pos + size // 2
            line = text.rfind("\n", half, cut)
            space = text.rfind(" ", half, cut) if line == -1 else line
            if space != -1:
                cut = space + 1
        out.append(Segment(max(0, pos - margin), min(n, cut + margin), pos, cut))
        pos = cut
    return out


class ParallelScanner:
    """Scan processes for large calls, started on first use (or by :meth:`start`) and kept warm.

    Each process builds its own detector from the same configuration (about 1.5 s and 200 MB). A
    process that dies breaks the pool: the call that saw it is scanned here instead, and the next one
    starts a new pool.
    """

    def __init__(self, detector: Detector, processes: int, *, segment_chars: int = 512 * 1024) -> None:
        self.detector = detector
        self.processes = processes
        self.segment_chars = segment_chars
        hold = detector.hold
        self.margin = 2 * detector.max_match_len + hold.lookbehind + hold.right
        self._pool: ProcessPoolExecutor | None = None
        self._lock = threading.Lock()

    async def start(self) -> None:
        """Start the scan processes and wait until they have built their detectors. Starting a process
        waits for the fork server, so it is done on a thread, never on the event loop."""
        if self._pool is None:
            await asyncio.to_thread(self._start)

    def _start(self) -> None:
        with self._lock:
            if self._pool is not None:
                return
            context = multiprocessing.get_context("forkserver")
            context.set_forkserver_preload(["interlock.detect.parallel"])
            pool = ProcessPoolExecutor(self.processes, mp_context=context, initializer=_start_child,
                                       initargs=(self.detector.config,))
            # One task per process: each submission finds no idle process and starts one.
            for ready in [pool.submit(_ready) for _ in range(self.processes)]:
                ready.result()
            self._pool = pool

    async def scan_many(self, texts: Sequence[str]) -> list[list[Finding]]:
        """Findings for each text, as ``Detector.scan`` gives them."""
        try:
            return await self._scan_many(texts)
        except BrokenProcessPool:
            log.error("a scan process died; this call is scanned in the worker and the pool is restarted")
            self.close()
            detector = self.detector
            return await asyncio.to_thread(lambda: [detector.scan(t) for t in texts])

    async def _scan_many(self, texts: Sequence[str]) -> list[list[Finding]]:
        loop = asyncio.get_running_loop()
        await self.start()
        pool = self._pool
        if pool is None:
            raise BrokenProcessPool("the scan processes were stopped")
        total = sum(len(t) for t in texts)
        # Enough segments to keep every process busy, twice as many so that unequal ones even out; none
        # so short that its margins cost more than it.
        size = max(4 * self.margin, min(self.segment_chars, -(-total // (2 * self.processes))))
        results: list[list[Finding] | None] = [None] * len(texts)
        whole: list[tuple[list[int], asyncio.Future[list[Packed]]]] = []
        cut: list[tuple[int, list[asyncio.Future[Packed]]]] = []
        batch: list[int] = []
        batched = 0
        for index, text in enumerate(texts):
            if len(text) > size:
                futures = [loop.run_in_executor(pool, _scan_segment, text[s.start:s.end], s.start, s.own_start,
                                                s.own_end) for s in segments(text, size, self.margin)]
                cut.append((index, futures))
                continue
            batch.append(index)
            batched += len(text)
            if batched >= size:
                whole.append((batch, loop.run_in_executor(pool, _scan_whole, [texts[i] for i in batch])))
                batch, batched = [], 0
        if batch:
            whole.append((batch, loop.run_in_executor(pool, _scan_whole, [texts[i] for i in batch])))
        # What needs the whole text is done in a scan process too, while the segments' findings are built
        # here on a thread (for a few megabytes of dense text, either would hold the event loop for a second).
        assembled = []
        for index, futures in cut:
            parts = [await f for f in futures]
            assembled.append((index, loop.run_in_executor(pool, _assemble, texts[index], parts),
                              asyncio.ensure_future(asyncio.to_thread(_unpack_all, parts))))
        for indexes, future in whole:
            for i, packed in zip(indexes, await future, strict=True):
                results[i] = await asyncio.to_thread(unpack, packed) if packed.size > 1000 else unpack(packed)
        for index, done, built in assembled:
            kept, added = await done
            results[index] = await asyncio.to_thread(_apply, await built, kept, added)
        return [r if r is not None else [] for r in results]

    def close(self) -> None:
        pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=False, cancel_futures=True)
