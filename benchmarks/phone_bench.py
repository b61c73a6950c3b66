"""Phone recognition speed: the evaluation set, number-dense texts and adversarial runs of digits.

Run from the repository root:  PYTHONPATH=src python benchmarks/phone_bench.py
Times are CPU seconds of this process (best of several runs), so other work on the machine disturbs
them less. Writes benchmarks/reports/phone.md and phone.json.
"""

from __future__ import annotations

import json
import platform
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

from detect_bench import load

from interlock.detect import DetectionConfig, Detector
from interlock.detect.recognizer import ScanText

ROOT = Path(__file__).resolve().parent.parent
REPORTS = ROOT / "benchmarks" / "reports"
MB = 1_000_000


def cpu_best(work: Callable[[], object], runs: int) -> float:
    best = float("inf")
    for _ in range(runs):
        start = time.process_time()
        work()
        best = min(best, time.process_time() - start)
    return best


def dense_inputs() -> dict[str, str]:
    return {
        "phones, two per line": "Tel +49 30 1234567, Handy 0171 7654321;\n" * (MB // 40),
        "CSV rows with a phone each": "".join(
            f"{i},Jane Doe,{200 + i % 700:03d}-{i * 7 % 1000:03d}-{i * 31 % 10000:04d},{i % 100}.50\n"
            for i in range(MB // 36)),
        "grouped digits (3 + 4)": " ".join(
            f"{i * 7919 % 1000:03d} {i * 104729 % 10000:04d}" for i in range(MB // 9)),
        "digits spaced in fours": "4111 " * (MB // 5),
        "digits and dots": "1." * (MB // 2),
        "prose without digits": "The quick brown fox jumps over the lazy dog. " * (MB // 45),
    }


def main() -> None:
    detector = Detector(DetectionConfig())
    phone = next(r for r in detector.recognizers if r.name == "phone")
    texts = [row["text"] for row in load()]
    chars = sum(map(len, texts))
    detector.scan(texts[0])
    scans = [ScanText.of(t, detector.context_window) for t in texts]
    result: dict[str, Any] = {
        "python": platform.python_version(), "machine": platform.machine(),
        "eval_set": {
            "texts": len(texts), "chars": chars,
            "detector_kchars_per_s": round(chars / cpu_best(lambda: [detector.scan(t) for t in texts], 7) / 1e3),
            "phone_recognizer_kchars_per_s": round(
                chars / cpu_best(lambda: [phone.scan(s, None, 0.5) for s in scans], 7) / 1e3),
        },
        "dense": {},
    }
    for name, text in dense_inputs().items():
        seconds = cpu_best(partial(detector.scan, text), 2)
        scan = ScanText.of(text, detector.context_window)
        alone = cpu_best(partial(phone.scan, scan, None, 0.5), 2)
        result["dense"][name] = {
            "mb": round(len(text) / MB, 2), "detector_s": round(seconds, 2),
            "detector_mb_per_s": round(len(text) / MB / seconds, 2), "phone_recognizer_s": round(alone, 2),
            "phone_findings": len(phone.scan(scan, None, 0.5)),
        }
    REPORTS.mkdir(parents=True, exist_ok=True)
    (REPORTS / "phone.json").write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    lines = [
        "# Phone recognition speed", "",
        f"Python {result['python']} on {result['machine']}; CPU seconds, best of several runs.", "",
        f"Evaluation set ({len(texts)} texts, {chars} characters): whole detector "
        f"{result['eval_set']['detector_kchars_per_s']} kchars/s, phone recognizer alone "
        f"{result['eval_set']['phone_recognizer_kchars_per_s']} kchars/s.", "",
        "| input | MB | detector s | detector MB/s | phone recognizer s | phone findings |",
        "|---|---|---|---|---|---|",
    ]
    for name, row in result["dense"].items():
        lines.append(f"| {name} | {row['mb']} | {row['detector_s']} | {row['detector_mb_per_s']} | "
                     f"{row['phone_recognizer_s']} | {row['phone_findings']} |")
    (REPORTS / "phone.md").write_text("\n".join(lines) + "\n", encoding="utf-8")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
