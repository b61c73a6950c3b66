"""The cost and the effect of the name dictionary: start-up, memory, throughput, names found in prose.

Run from the repository root:  PYTHONPATH=src python benchmarks/names_bench.py [--baseline SRC]
``--baseline`` points at another checkout's ``src`` (for example the commit before the dictionary) whose
detector is measured the same way, in a subprocess, for a before/after table.
Writes benchmarks/reports/names.md and names.json.

Texts: ``benchmarks/data/eval.jsonl`` (labelled) and, as prose nobody here wrote, the docstrings of the
running Python's standard library (technical English full of capitalised words, product names and a few
real people's names in credits). Every name reported in the docstrings is listed in the report, so a
reader can tell true from false hits.
"""

from __future__ import annotations

import argparse
import ast
import json
import os
import platform
import subprocess
import sys
import sysconfig
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "benchmarks" / "data" / "eval.jsonl"
REPORTS = ROOT / "benchmarks" / "reports"

# Runs in a fresh interpreter (with the checkout under test first on the path), prints one JSON object.
_PROBE = r"""
import json, sys, time, tracemalloc
t0 = time.perf_counter(); c0 = time.process_time()
from interlock.detect import DetectionConfig, Detector
t1 = time.perf_counter(); c1 = time.process_time()
table_s = table_cpu = table_mb = None
try:
    from interlock.detect.name_table import name_table
    # Timed first (tracing memory slows it several times), then loaded again, uncached, for its memory.
    a = time.perf_counter(); b = time.process_time()
    name_table()
    table_s, table_cpu = time.perf_counter() - a, time.process_time() - b
    name_table.cache_clear()
    tracemalloc.start()
    name_table()
    table_mb = tracemalloc.get_traced_memory()[0] / 1e6
    tracemalloc.stop()
except ImportError:
    pass
a = time.perf_counter(); b = time.process_time()
detector = Detector(DetectionConfig())
build_s, build_cpu = time.perf_counter() - a, time.process_time() - b
texts = json.loads(sys.stdin.read())
result = {"import_s": t1 - t0, "import_cpu": c1 - c0, "table_s": table_s, "table_cpu": table_cpu,
          "table_mb": table_mb, "detector_s": build_s, "detector_cpu": build_cpu, "throughput": {}, "names": {}}
for label, group in texts.items():
    chars = sum(map(len, group))
    for t in group[:20]:
        detector.scan(t)
    best = float("inf")
    for _ in range(3):
        a = time.process_time()
        found = [detector.scan(t) for t in group]
        best = min(best, time.process_time() - a)
    result["throughput"][label] = chars / best
    result["names"][label] = [[[f.start, f.end, f.detector] for f in fs if f.data_class == "pii.name"] for fs in found]
print(json.dumps(result))
"""


def docstrings() -> list[str]:
    lib = Path(sysconfig.get_paths()["stdlib"])
    found: list[str] = []
    for path in sorted(lib.glob("*.py")) + sorted(lib.glob("*/*.py")):
        if "test" in path.parts[-2] or path.name.startswith("test"):
            continue
        try:
            tree = ast.parse(path.read_text(encoding="utf-8"))
        except (SyntaxError, UnicodeDecodeError, ValueError):
            continue
        for node in ast.walk(tree):
            if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
                doc = ast.get_docstring(node)
                if doc and len(doc) > 200:
                    found.append(doc)
    return found


def probe(src: Path, texts: dict[str, list[str]]) -> dict[str, Any]:
    env = dict(os.environ, PYTHONPATH=str(src))
    out = subprocess.run([sys.executable, "-c", _PROBE], input=json.dumps(texts), capture_output=True, text=True,
                         env=env, check=True)
    result: dict[str, Any] = json.loads(out.stdout)
    return result


def name_scores(rows: list[dict[str, Any]], predicted: list[list[list[Any]]]) -> dict[str, float]:
    gold = leaked = clean = touched = 0
    for row, spans in zip(rows, predicted, strict=True):
        names = [(s["start"], s["end"]) for s in row["spans"] if s["class"] == "pii.name"]
        others = [(s["start"], s["end"]) for s in row["spans"] if s["class"] != "pii.name"]
        covered = set()
        for start, end, _ in spans:
            covered.update(range(start, end))
        for start, end in names:
            gold += 1
            leaked += not set(range(start, end)) <= covered
        text, pos = row["text"], 0
        for token in text.split():
            start = text.index(token, pos)
            pos = start + len(token)
            if any(a < pos and start < b for a, b in names + others):
                continue
            clean += 1
            touched += any(start <= c < pos for c in covered)
    return {"names": gold, "leak_rate": leaked / gold if gold else 0.0, "over_redaction": touched / clean}


def prose_hits(texts: list[str], predicted: list[list[list[Any]]]) -> tuple[int, int, list[tuple[str, str]]]:
    words = sum(len(t.split()) for t in texts)
    hit_words = 0
    hits: list[tuple[str, str]] = []
    for text, spans in zip(texts, predicted, strict=True):
        for start, end, detector in spans:
            hit_words += len(text[start:end].split())
            hits.append((" ".join(text[start:end].split()), detector))
    return words, hit_words, hits


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--baseline", type=Path, help="another checkout's src directory to compare with")
    args = parser.parse_args()
    rows = [json.loads(line) for line in DATA.read_text(encoding="utf-8").splitlines() if line.strip()]
    prose = docstrings()
    texts = {"eval": [r["text"] for r in rows], "prose": prose}
    runs = {"this checkout": probe(ROOT / "src", texts)}
    if args.baseline:
        runs["baseline"] = probe(args.baseline, texts)
    report: dict[str, Any] = {"python": platform.python_version(), "platform": platform.platform(),
                              "eval_chars": sum(map(len, texts["eval"])), "prose_chars": sum(map(len, prose)),
                              "runs": {}}
    for label, run in runs.items():
        words, hit_words, hits = prose_hits(prose, run["names"]["prose"])
        report["runs"][label] = {
            **{k: run[k] for k in ("import_s", "import_cpu", "table_s", "table_cpu", "table_mb", "detector_s",
                                   "detector_cpu")},
            "throughput_eval": run["throughput"]["eval"], "throughput_prose": run["throughput"]["prose"],
            "eval_names": name_scores(rows, run["names"]["eval"]),
            "prose_words": words, "prose_name_words": hit_words, "prose_hits": sorted(hits),
        }
    REPORTS.mkdir(exist_ok=True)
    (REPORTS / "names.json").write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    (REPORTS / "names.md").write_text(render(report), encoding="utf-8")
    print(render(report))


def render(report: dict[str, Any]) -> str:
    runs: dict[str, dict[str, Any]] = report["runs"]
    labels = list(runs)

    def row(name: str, fmt: Any) -> str:
        return f"| {name} | " + " | ".join(fmt(runs[label]) for label in labels) + " |"

    def seconds(value: float | None) -> str:
        return "-" if value is None else f"{value:.3f} s"

    lines = [
        "# Name dictionary benchmark", "",
        f"Python {report['python']} on {report['platform']}. Texts: `benchmarks/data/eval.jsonl` "
        f"({report['eval_chars']:,} characters) and the standard library's docstrings ({report['prose_chars']:,} "
        "characters of English prose nobody here wrote). Each checkout runs in a fresh interpreter; times are "
        "CPU time of that process (the machine is shared, so wall-clock times vary more), throughput the best of "
        "three passes.", "",
        "| | " + " | ".join(labels) + " |", "|---|" + "---|" * len(labels),
        row("import interlock.detect (CPU)", lambda r: seconds(r["import_cpu"])),
        row("name table load (CPU)", lambda r: seconds(r["table_cpu"])),
        row("name table memory", lambda r: "-" if r["table_mb"] is None else f"{r['table_mb']:.1f} MB"),
        row("Detector() construction (CPU, table already loaded)", lambda r: seconds(r["detector_cpu"])),
        row("throughput, eval.jsonl", lambda r: f"{r['throughput_eval'] / 1000:,.0f} kchars/s"),
        row("throughput, docstrings", lambda r: f"{r['throughput_prose'] / 1000:,.0f} kchars/s"),
        row("eval.jsonl: names leaked", lambda r: f"{r['eval_names']['leak_rate']:.1%} of {r['eval_names']['names']}"),
        row("eval.jsonl: over-redaction (all classes)", lambda r: f"{r['eval_names']['over_redaction']:.2%}"),
        row("docstrings: words reported as names",
            lambda r: f"{r['prose_name_words']} of {r['prose_words']:,} ({r['prose_name_words'] / r['prose_words']:.3%})"),
        "",
    ]
    for label in labels:
        hits = runs[label]["prose_hits"]
        lines += [f"## Names reported in the docstrings, {label} ({len(hits)})", "",
                  ", ".join(f"{value} ({detector})" for value, detector in hits) or "none", ""]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
