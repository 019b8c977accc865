# recoup — the README's commands. Everything sets itself up: `make demo`, `make test`.
SHELL := /bin/bash
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# Size knobs for the demo (later issues honour more of them).
LOANS ?= 2000
SERVE ?= 1
DAYS ?= 60
DEMO_DIR ?= recoup-data

.PHONY: help install demo test lint typecheck pytest bench pg clean

help:
	@echo "make demo    — set up and run the main job on SQLite + a local lake, then show the results"
	@echo "make test    — set up and run ruff, mypy --strict and pytest"
	@echo "make bench   — run the benchmarks in bench/ (figures go in docs/benchmarks.md)"
	@echo "make pg      — start the local PostgreSQL if installed but not running"

$(STAMP): pyproject.toml constraints.txt
	@command -v $(PYTHON) >/dev/null || { echo "$(PYTHON) not found: install Python 3.11"; exit 1; }
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	PIP_CONSTRAINT=$(CURDIR)/constraints.txt $(BIN)/python -m pip install --quiet -c constraints.txt -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	RECOUP_DATA_DIR=$(DEMO_DIR) $(BIN)/recoup demo --loans $(LOANS) --days $(DAYS) --serve $(SERVE)

lint: $(STAMP)
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench

typecheck: $(STAMP)
	$(BIN)/mypy

# Two workers (this machine's cores); a test file stays on one worker, so its module fixtures are built once.
pytest: $(STAMP)
	$(BIN)/pytest -q -n 2 --dist loadfile --no-loadscope-reorder --durations=25

test: lint typecheck pytest

bench: $(STAMP)
	$(BIN)/python bench/run.py

pg:
	@if ! command -v pg_lsclusters >/dev/null; then echo "PostgreSQL is not installed (apt-get install postgresql)"; exit 1; fi
	@if pg_lsclusters -h | grep -q online; then echo "PostgreSQL is running"; else \
	  pg_ctlcluster --skip-systemctl-redirect $$(ls /etc/postgresql | head -1) main start && echo "PostgreSQL started"; fi

clean:
	rm -rf $(VENV) recoup-data .mypy_cache .pytest_cache .ruff_cache
