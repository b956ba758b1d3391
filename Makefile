# Every target sets itself up: a fresh clone needs nothing but python3, node and npm.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
NODE_STAMP := node_modules/.installed

.PHONY: test demo lint bench local clean

$(STAMP): requirements.txt requirements-dev.txt pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements.txt -r requirements-dev.txt
	$(PY) -m pip install --quiet --disable-pip-version-check --no-deps -e .
	touch $@

$(NODE_STAMP): package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

test: $(STAMP) $(NODE_STAMP)
	$(PY) -m pytest -q

demo: $(STAMP) $(NODE_STAMP)
	$(PY) -m local.demo

local: $(STAMP) $(NODE_STAMP)
	$(VENV)/bin/docintel-dr local

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy --strict --follow-imports=silent shared function_app.py
	$(VENV)/bin/mypy

bench: $(STAMP) $(NODE_STAMP)
	$(PY) -m bench

clean:
	rm -rf $(VENV) node_modules .local .pytest_cache .mypy_cache .ruff_cache test-output
