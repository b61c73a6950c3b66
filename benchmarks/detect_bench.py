"""Detection accuracy and speed on three labelled sets, ours against Presidio, in one run.

Run from the repository root (Presidio and spaCy live in .venv-presidio, built once by
benchmarks/setup_presidio.sh):

    .venv/bin/python benchmarks/detect_bench.py            # every text; 3-5 minutes on 2 busy cores
    .venv/bin/python benchmarks/detect_bench.py --quick    # about 100 texts per set, no 5 MB input

Sets: the two independent ones (benchmarks/data/independent_*.jsonl, see benchmarks/data/README.md) and
the regression set written alongside the recognizers (benchmarks/data/eval.jsonl). By default every system
analyses every text; with --sample N (or --quick) Presidio and the spaCy NER backend analyse a fixed sample
of each set (every k-th text), all three systems are compared on that sample, and the default configuration
is also scored on every text. Writes benchmarks/reports/detect.md
and detect.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import detect_report
import detect_scaling
from detect_metrics import Pred, score

from interlock.detect import DetectionConfig, Detector

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "benchmarks" / "data"
REPORTS = ROOT / "benchmarks" / "reports"
PRESIDIO_PY = ROOT / ".venv-presidio" / "bin" / "python"
WORKER = ROOT / "benchmarks" / "presidio_worker.py"

SETS = {
    "A: independent prose": "independent_prose.jsonl",
    "B: independent structured": "independent_structured.jsonl",
    "R: regression (eval.jsonl)": "eval.jsonl",
}
OURS, NER, PRESIDIO = "interlock (patterns)", "interlock + spaCy NER", "presidio + spaCy"

PRESIDIO_MAP = {
    "PERSON": "pii.name", "EMAIL_ADDRESS": "pii.email", "PHONE_NUMBER": "pii.phone", "LOCATION": "pii.address",
    "DATE_TIME": "pii.date_of_birth", "US_SSN": "pii.national_id", "UK_NINO": "pii.national_id",
    "US_ITIN": "pii.national_id", "US_PASSPORT": "pii.national_id", "US_DRIVER_LICENSE": "pii.national_id",
    "UK_NHS": "pii.national_id", "CREDIT_CARD": "pci.card_number", "IBAN_CODE": "fin.iban",
    "US_BANK_NUMBER": "fin.bank_account", "IP_ADDRESS": "net.ip_address",
}


def load(name: str) -> list[dict[str, Any]]:
    path = DATA / name
    if not path.exists() and name == "eval.jsonl":
        subprocess.run([sys.executable, str(DATA / "make_eval_set.py")], check=True)
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    for row in rows:
        row.setdefault("negatives", [])
    return rows


def sample(rows: list[dict[str, Any]], size: int) -> list[dict[str, Any]]:
    step = max(1, -(-len(rows) // size))
    return rows[::step]


def run_ours(texts: list[str], passes: int = 3) -> tuple[list[list[Pred]], tuple[float, float]]:
    """Findings and the best (wall, CPU) seconds of ``passes`` passes over ``texts``."""
    detector = Detector(DetectionConfig())
    detector.scan(texts[0])
    best_wall = best_cpu = float("inf")
    predictions: list[list[Pred]] = []
    for _ in range(passes):
        wall, cpu = time.perf_counter(), time.process_time()
        predictions = [[(f.start, f.end, f.data_class) for f in detector.scan(t)] for t in texts]
        best_wall = min(best_wall, time.perf_counter() - wall)
        best_cpu = min(best_cpu, time.process_time() - cpu)
    return predictions, (best_wall, best_cpu)


def speed(chars: int, seconds: tuple[float, float]) -> dict[str, float]:
    return {"chars_per_s": chars / seconds[0], "chars_per_cpu_s": chars / seconds[1]}


def run_worker(mode: str, texts: list[str]) -> tuple[list[list[Pred]], list[list[float]], str] | None:
    if not PRESIDIO_PY.exists():
        print(f"{PRESIDIO_PY} missing: run benchmarks/setup_presidio.sh to include {mode}", file=sys.stderr)
        return None
    # One thread, as our detector uses: CPU seconds then compare like with like.
    env = dict(os.environ, PYTHONPATH=str(ROOT / "src"), OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1",
               MKL_NUM_THREADS="1")
    proc = subprocess.run([str(PRESIDIO_PY), str(WORKER), mode], input="\n".join(json.dumps(t) for t in texts),
                          capture_output=True, text=True, env=env, check=False)
    if proc.returncode != 0:
        print(f"{mode} worker failed:\n{proc.stderr[-2000:]}", file=sys.stderr)
        return None
    out = json.loads(proc.stdout)
    mapper = PRESIDIO_MAP.get if mode == "presidio" else (lambda label: label)
    predictions = [[(s, e, mapper(label)) for s, e, label in spans] for spans in out["results"]]
    return predictions, [[float(w), float(c)] for w, c in out["seconds"]], str(out["model"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sample", type=int, default=0, help="texts per set for Presidio and the NER backend "
                        "(0: every text)")
    parser.add_argument("--quick", action="store_true", help="samples of 100 texts, large inputs of 1 MB only")
    parser.add_argument("--render", action="store_true", help="rewrite detect.md from detect.json, run nothing")
    args = parser.parse_args()
    if args.render:
        report = json.loads((REPORTS / "detect.json").read_text(encoding="utf-8"))
        (REPORTS / "detect.md").write_text(detect_report.render(report, [OURS, NER, PRESIDIO]), encoding="utf-8")
        return
    sets = {label: load(name) for label, name in SETS.items()}
    size = 100 if args.quick else args.sample or max(len(rows) for rows in sets.values())
    samples = {label: sample(rows, size) for label, rows in sets.items()}
    report: dict[str, Any] = {
        "command": "benchmarks/setup_presidio.sh (once); .venv/bin/python benchmarks/detect_bench.py",
        "machine": platform.platform(), "python": platform.python_version(), "cpus": os.cpu_count(),
        "sample_size": size, "sets": {}, "load_average_start": os.getloadavg()[0],
    }
    # One worker process per system for all sets, so a model loads once; texts are timed one by one.
    flat = [row["text"] for label in sets for row in samples[label]]
    workers = {}
    for mode, name in (("presidio", PRESIDIO), ("interlock-ner", NER)):
        started = time.perf_counter()
        result = run_worker(mode, flat)
        print(f"{name}: {time.perf_counter() - started:.0f} s", file=sys.stderr)
        if result is not None:
            workers[name] = result
            report["spacy_model"] = result[2]
    offset = 0
    for label, rows in sets.items():
        part = samples[label]
        texts = [r["text"] for r in part]
        chars = sum(len(t) for t in texts)
        systems: dict[str, Any] = {}
        preds, seconds = run_ours(texts)
        systems[OURS] = {**score(part, preds, examples=6), **speed(chars, seconds)}
        for name, (all_preds, all_seconds, _) in workers.items():
            chunk = slice(offset, offset + len(part))
            spent = (sum(t[0] for t in all_seconds[chunk]), sum(t[1] for t in all_seconds[chunk]))
            systems[name] = {**score(part, all_preds[chunk], examples=6), **speed(chars, spent)}
        full_chars = sum(len(r["text"]) for r in rows)
        full_preds, full_seconds = (preds, seconds) if part == rows else run_ours([r["text"] for r in rows])
        report["sets"][label] = {
            "file": f"benchmarks/data/{SETS[label]}", "texts": len(rows), "chars": full_chars,
            "sampled_texts": len(part), "sampled_chars": chars, "systems": systems,
            "ours_all_texts": {**score(rows, full_preds, examples=12), **speed(full_chars, full_seconds)},
        }
        offset += len(part)
    sizes = (detect_scaling.MB,) if args.quick else (detect_scaling.MB, 5 * detect_scaling.MB)
    report["scaling"] = detect_scaling.measure(Detector(DetectionConfig()), sizes)
    report["load_average_end"] = os.getloadavg()[0]
    REPORTS.mkdir(parents=True, exist_ok=True)
    (REPORTS / "detect.json").write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    text = detect_report.render(report, [OURS, NER, PRESIDIO])
    (REPORTS / "detect.md").write_text(text, encoding="utf-8")
    print(text)


if __name__ == "__main__":
    main()
