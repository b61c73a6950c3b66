"""Time of one scan over a large dense input and over an adversarial one, at two sizes, to show
whether detection time grows linearly with the input."""

from __future__ import annotations

import random
import time
from typing import Any

from interlock.detect import Detector

MB = 1_000_000
# A larger size runs only when the smaller one took less than this, so a quadratic case cannot stall the run.
GATE_SECONDS = 15.0


def dense(size: int, seed: int = 7) -> str:
    """Text packed with e-mails, cards, phones and IBANs, as a large pasted export would be."""
    rng = random.Random(seed)
    parts: list[str] = []
    total = 0
    while total < size:
        user = "".join(rng.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(rng.randrange(4, 10)))
        card = "4" + "".join(str(rng.randrange(10)) for _ in range(15))
        line = rng.choice([
            f"Contact {user}.{user[:3]}@example.com or call +44 20 {rng.randrange(7000, 7999)} {rng.randrange(1000, 9999)}. ",
            f"card {card[:4]} {card[4:8]} {card[8:12]} {card[12:]} phone ({rng.randrange(200, 999)}) "
            f"{rng.randrange(200, 999)}-{rng.randrange(1000, 9999)} ",
            f"{user}@mail{rng.randrange(1, 99)}.org, IBAN DE89 3704 0044 0532 0130 00, ip 10.{rng.randrange(256)}.1.7\n",
        ])
        parts.append(line)
        total += len(line)
    return "".join(parts)[:size]


def adversarial(size: int) -> str:
    """One long run of digit groups joined by single separators: every position may start a card, a phone
    or an account number, and none ends, so a matcher that retries from each start does quadratic work."""
    unit = "4111 1111-1111.1111 +1 (555) 0100 "
    return (unit * (size // len(unit) + 1))[:size]


def _time(detector: Detector, text: str) -> tuple[float, float]:
    wall, cpu = time.perf_counter(), time.process_time()
    detector.scan(text)
    return time.perf_counter() - wall, time.process_time() - cpu


def measure(detector: Detector, sizes: tuple[int, ...] = (MB, 5 * MB)) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, build in (("dense", dense), ("adversarial", adversarial)):
        runs: list[dict[str, Any]] = []
        for size in sizes:
            if runs and (runs[-1].get("cpu_seconds") is None or runs[-1]["cpu_seconds"] > GATE_SECONDS):
                runs.append({"bytes": size, "seconds": None,
                             "skipped": f"not run: the smaller size took over {GATE_SECONDS:.0f} CPU seconds"})
                continue
            text = build(size)
            seconds, cpu_seconds = _time(detector, text)
            runs.append({"bytes": len(text.encode()), "chars": len(text), "seconds": seconds, "cpu_seconds": cpu_seconds})
        out[name] = runs
    return out
