# social-triage: two commands on a fresh machine: `make run` and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-$(shell cat pyproject.toml | sha1sum | cut -c1-12)
ARGS   ?=

.PHONY: install tools run test faults lint typecheck unit integration bench schemas clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --disable-pip-version-check --upgrade pip
	$(BIN)/python -m pip install -q --disable-pip-version-check -e '.[embedded,test]'
	rm -f $(VENV)/.installed-*
	touch $@

install: $(STAMP)

## promtool (Debian's prometheus package) checks metrics and alert rules in the tests.
tools:
	@command -v promtool >/dev/null || { echo "installing Debian's prometheus package for promtool"; \
	  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends prometheus) \
	  >/dev/null || { echo "could not install prometheus: install it (apt-get install prometheus) and retry"; exit 1; }; }

## Start the embedded broker and the whole pipeline on the bundled sample stream (ARGS=--follow keeps it up).
run: install
	$(BIN)/triage run $(ARGS)

## Install with the test extras and run the whole suite: lint, types, unit and integration tests.
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
schemas: install
	$(BIN)/triage schemas --write

## Benchmark harness (issue 7; never part of `make test`): ~35 min; ARGS=--quick for a smoke run of a few minutes.
## SIGKILL fault drills (not in `make test`: see issue 8 in README "Reliability").
faults: install
	$(BIN)/python -m pytest -q tests/worker/test_faults_integration.py $(ARGS)

bench: install
	$(BIN)/python -c 'import matplotlib' 2>/dev/null || $(BIN)/python -m pip install -q --disable-pip-version-check -e '.[embedded,bench]'
	$(BIN)/python -m benchmarks.harness $(ARGS)

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache *.egg-info
