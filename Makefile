# Two set-up commands on a fresh machine: `make demo` and `make test` (each installs what it needs).
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp

.PHONY: demo test test-slow lint format install

$(STAMP): pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -c "import torch" 2>/dev/null || $(PY) -m pip install torch==2.13.0
	$(PY) -m pip install -e ".[dev]"
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/pyrodyn demo

test: $(STAMP)
	$(VENV)/bin/ruff check pyrodyn tests scripts
	$(VENV)/bin/ruff format --check pyrodyn tests scripts
	$(VENV)/bin/lint-imports --no-cache
	$(PY) -m pytest -q

test-slow: $(STAMP)
	$(PY) -m pytest -q -m slow

lint: $(STAMP)
	$(VENV)/bin/ruff check pyrodyn tests scripts
	$(VENV)/bin/lint-imports --no-cache

format: $(STAMP)
	$(VENV)/bin/ruff format pyrodyn tests scripts
	$(VENV)/bin/ruff check --fix pyrodyn tests scripts
