# fieldbridge: two commands on a fresh machine with Python 3.11+.
#   make run   create .venv, install, migrate, serve http://127.0.0.1:8000 (embedded defaults)
#   make test  create .venv if needed, install with test extras, run every check and the suite
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
HOST   ?= 127.0.0.1
PORT   ?= 8000
PACKAGES := connectors mappings orchestrator scheduler api cli devtools sandbox

.PHONY: run test install install-test lint typecheck layers duplicates conventions bandit audit unit bench fuzz clean demo

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e .
	touch $@

$(VENV)/.installed-test: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(VENV)/.installed $@

install: $(VENV)/.installed
install-test: $(VENV)/.installed-test

run: install
	$(BIN)/fieldbridge migrate
	$(BIN)/fieldbridge serve --host $(HOST) --port $(PORT)

lint: install-test
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

layers: install-test
	$(BIN)/lint-imports

typecheck: install-test
	$(BIN)/mypy $(PACKAGES)

duplicates: install-test
	$(BIN)/pylint $(PACKAGES) bench

conventions: install-test
	$(BIN)/python -m devtools.conventions $(PACKAGES) tests

# security lint of our own code (configured in pyproject.toml, [tool.bandit])
bandit: install-test
	$(BIN)/bandit -c pyproject.toml -r -q $(PACKAGES)

# the installed dependencies against the advisory databases (needs the network; not in `test`):
# fails on a known vulnerability, and on a dependency it could not look up
audit: install-test
	$(BIN)/pip-audit --skip-editable --strict --progress-spinner off

test: lint layers typecheck duplicates conventions bandit
	$(BIN)/python -m pytest -n auto --maxprocesses=4

demo: install
	$(BIN)/fieldbridge demo

bench: install-test
	$(BIN)/python bench/api_bench.py

# schemathesis over every operation, caller and link (tests/e2e/test_fuzz.py) on a longer
# budget than `test` gives it: FUZZ_EXAMPLES examples per operation and caller
FUZZ_EXAMPLES ?= 200
fuzz: install-test
	FIELDBRIDGE_FUZZ_EXAMPLES=$(FUZZ_EXAMPLES) $(BIN)/python -m pytest -n auto --maxprocesses=4 tests/e2e/test_fuzz.py

clean:
	rm -rf $(VENV) build *.egg-info .mypy_cache .ruff_cache .pytest_cache
