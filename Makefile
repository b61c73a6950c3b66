# The two commands a new machine needs: `make serve` and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: serve test install install-test lint bench

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

install: $(BIN)/python
	$(BIN)/pip install -q -e .

install-test: $(BIN)/python
	$(BIN)/pip install -q -e '.[test]'

## Install and start the gateway on its embedded defaults (SQLite here, the mock model, a demo key).
serve: install
	$(BIN)/interlock serve $(ARGS)

## Lint, type-check, and check the layer contract in pyproject.toml ([tool.importlinter]).
lint: install-test
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/mypy
	$(BIN)/lint-imports --no-cache

## Install test dependencies, lint, type-check and run the whole suite (needs PostgreSQL and Redis; the
## programs the tests drive as peers are installed when missing, see scripts/system-test-deps.sh).
test: lint
	scripts/system-test-deps.sh
	$(BIN)/python -m pytest -q $(ARGS)

## Benchmarks: each writes its report under benchmarks/reports/ (the gateway, connection and usage ones need wrk;
## the usage one, Redis at 127.0.0.1:6379).
bench: install-test .venv-presidio .venv-litellm
	$(BIN)/python benchmarks/gateway_bench.py
	$(BIN)/python benchmarks/connection_bench.py
	$(BIN)/python benchmarks/stream_bench.py
	$(BIN)/python benchmarks/detect_bench.py
	$(BIN)/python benchmarks/policy_bench.py
	$(BIN)/python benchmarks/audit_append_bench.py
	$(BIN)/python benchmarks/audit_verify_bench.py
	$(BIN)/python benchmarks/large_input_bench.py
	$(BIN)/python benchmarks/endpoints_bench.py
	$(BIN)/python benchmarks/usage_ab.py

.venv-presidio:
	benchmarks/setup_presidio.sh

.venv-litellm:
	benchmarks/setup_litellm.sh
