# fieldbridge: two commands on a fresh machine with Python 3.11+.
#   make run   create .venv, install, migrate, serve http://127.0.0.1:8000 (embedded defaults)
#   make test  create .venv if needed, install with test extras, run every check and the suite
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
HOST   ?= 127.0.0.1
PORT   ?= 8000
PACKAGES := connectors mappings orchestrator scheduler api cli devtools sandbox

.PHONY: run test install install-test lint typecheck layers duplicates conventions unit bench clean demo

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

test: lint layers typecheck duplicates conventions
	$(BIN)/python -m pytest -n auto --maxprocesses=4

demo: install
	$(BIN)/fieldbridge demo

bench: install-test
	$(BIN)/python bench/api_bench.py

clean:
	rm -rf $(VENV) build *.egg-info .mypy_cache .ruff_cache .pytest_cache
