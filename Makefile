# Two set-up commands on a fresh machine: `make demo` and `make test` (each installs what it needs).
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp

.PHONY: demo test test-slow lint format install docs mutation

$(STAMP): pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -c "import torch" 2>/dev/null || $(PY) -m pip install torch==2.13.0
	$(PY) -m pip install -e ".[dev]"
	touch $(STAMP)

install: $(STAMP)

# The documentation tools live in their own stamp: `make docs` needs neither the dev extra nor
# the tests, and `make test` never needs MkDocs.
DOCS_STAMP := $(VENV)/.docs-installed-stamp

$(DOCS_STAMP): pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -c "import torch" 2>/dev/null || $(PY) -m pip install torch==2.13.0
	$(PY) -m pip install -e ".[docs]"
	touch $(DOCS_STAMP)

# Strict: any warning (a docstring parameter not in its signature, a broken link) fails the build.
# NO_MKDOCS_2_WARNING silences Material's end-of-life notice, which is not about this site.
docs: $(DOCS_STAMP)
	NO_MKDOCS_2_WARNING=1 $(VENV)/bin/mkdocs build --strict --site-dir site

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

# Mutation testing of the numeric core (mutmut 3, configured in pyproject's [tool.mutmut]); not
# part of `make test` (its duration is in BENCHMARKS.md). Scores per module go to stdout; add --write to
# the report to refresh BENCHMARKS.md. It resumes from mutants/ (mutmut keeps verdicts of unchanged
# functions): `rm -rf mutants` first for a run from scratch.
MUTATION_STAMP := $(VENV)/.mutation-installed-stamp

$(MUTATION_STAMP): $(STAMP)
	$(PY) -m pip install -e ".[dev,mutation]"
	touch $(MUTATION_STAMP)

mutation: $(MUTATION_STAMP)
	OMP_NUM_THREADS=1 $(VENV)/bin/mutmut run --max-children 2 > mutants-run.log 2>&1 || (tail -c 2000 mutants-run.log; exit 1)
	$(PY) scripts/mutation_report.py
