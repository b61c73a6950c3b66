"""A large call's heavy steps run away from the event loop's thread, and what crosses from the scan
processes is a few arrays, not one object per finding.

Each step below, done on the loop for a few megabytes of dense text, held it for tens to hundreds of
milliseconds, during which every other call of the worker waited (benchmarks/large_input_bench.py).
The test records on which thread each step ran, so it fails if one comes back to the loop, whatever
the speed of the machine.
"""

from __future__ import annotations

import pickle
import random
import threading
from collections.abc import Callable
from typing import Any

import pytest

from interlock.audit import writer as audit_writer
from interlock.detect import parallel
from interlock.detect.finding import Finding
from interlock.detect.parallel import Packed, pack, unpack
from interlock.pipeline import protect
from interlock.store.sqlite import SqliteStore
from support.app import Engine
from support.calls import make_call
from support.engines import add_key

PIECES = ["jane.doe@example.com", "4111 1111 1111 1111", "+1 202 555 0147", "GB82 WEST 1234 5698 7654 32",
          "10.20.30.40", "the", "order", "and", "\n"]


def dense(words: int) -> str:
    rng = random.Random(7)
    return " ".join(rng.choice(PIECES) for _ in range(words))


class Threads:
    """Wraps functions so that each call notes the thread it ran on."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self._monkeypatch = monkeypatch
        self.seen: dict[str, list[int]] = {}

    def watch(self, owner: Any, name: str, label: str | None = None,
              when: Callable[..., bool] = lambda *a, **k: True) -> None:
        original = getattr(owner, name)
        key = label or name

        def noted(*args: Any, **kwargs: Any) -> Any:
            if when(*args, **kwargs):
                self.seen.setdefault(key, []).append(threading.get_ident())
            return original(*args, **kwargs)

        self._monkeypatch.setattr(owner, name, noted)


def _large_batch(store: Any, entries: Any) -> bool:
    return any(e.payload is not None and len(e.payload) > audit_writer.LARGE_PAYLOAD for e in entries)


async def test_a_large_dense_call_leaves_the_loop_for_every_heavy_step(engine: Engine,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    key = await add_key(engine.store, "pat")
    text = dense(40_000)  # about 300 KB, some 20,000 findings
    assert engine.guard.is_large(len(text))
    threads = Threads(monkeypatch)
    threads.watch(parallel, "unpack", when=lambda packed: packed.size > 1000)
    threads.watch(protect.ProtectInput, "_sort")
    threads.watch(protect, "_rewrite")
    threads.watch(audit_writer, "entry_for", when=lambda record, payload=None, *a: payload is not None)
    threads.watch(SqliteStore, "_write_rows", when=_large_batch)
    loop_thread = threading.get_ident()

    call = make_call({"model": "mock", "mock": {"reply": "Noted."},
                      "messages": [{"role": "user", "content": text}]}, key=key, parsed=False)
    refused = await engine.chat(call)

    assert refused is None, refused
    assert call.data_findings[("pii.email", "redact", "input")] > 1000
    sent = call.body["messages"][0]["content"]
    assert "jane.doe@example.com" not in sent
    assert "4111 1111 1111 1111" not in sent
    assert set(threads.seen) == {"unpack", "_sort", "_rewrite", "entry_for", "_write_rows"}
    for step, idents in threads.seen.items():
        assert loop_thread not in idents, f"{step} ran on the event loop's thread"


async def test_a_small_call_stays_on_the_loop(engine: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    # The hand-off costs more than it saves for a small call: the same steps run where the call is.
    key = await add_key(engine.store, "pat")
    threads = Threads(monkeypatch)
    threads.watch(protect.ProtectInput, "_sort")
    threads.watch(protect, "_rewrite")
    threads.watch(audit_writer, "entry_for")
    loop_thread = threading.get_ident()
    call = make_call({"model": "mock", "mock": {"reply": "Noted."},
                      "messages": [{"role": "user", "content": "Mail jane.doe@example.com today."}]},
                     key=key, parsed=False)
    assert await engine.chat(call) is None
    assert {step: set(idents) for step, idents in threads.seen.items()} == {
        "_sort": {loop_thread}, "_rewrite": {loop_thread}, "entry_for": {loop_thread}}


def test_findings_cross_the_process_boundary_as_arrays() -> None:
    findings = [Finding("pii.email", i * 30, i * 30 + 20, 0.9, "email", "an e-mail address") for i in range(5000)]
    findings += [Finding("pci.card_number", 200_000 + i * 30, 200_000 + i * 30 + 19, 0.95, "card", "Luhn check")
                 for i in range(5000)]
    packed = pack(findings)
    # Two byte strings and each repeated string once: pickled as copies, never an object per finding.
    assert isinstance(packed.fields, bytes)
    assert isinstance(packed.confidences, bytes)
    assert sorted(packed.names) == sorted({"pii.email", "email", "an e-mail address", "pci.card_number", "card",
                                           "Luhn check"})
    assert packed.size == 10_000
    assert unpack(pickle.loads(pickle.dumps(packed))) == findings


def test_a_segment_keeps_what_starts_in_its_own_part_moved_to_the_whole_text() -> None:
    findings = [Finding("pii.email", start, start + 10, 0.9, "email", "x") for start in (0, 50, 100, 150)]
    packed = pack(findings, 1000, (1050, 1150))
    assert isinstance(packed, Packed)
    assert [(f.start, f.end) for f in unpack(packed)] == [(1050, 1060), (1100, 1110)]
    assert unpack(pack([])) == []
