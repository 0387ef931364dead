# Two commands on a fresh machine with Python 3.11+: `make dev` and `make test`.
# Another interpreter: `make test PYTHON=python3.13` (its own venv, .venv-3.13; or name one with VENV=...).
PYTHON ?= python3
ifeq ($(origin PYTHON),file)
VENV ?= .venv
else
VENV ?= .venv-$(shell $(PYTHON) -c 'import sys; print("%d.%d" % sys.version_info[:2])' 2>/dev/null)
endif
BIN := $(VENV)/bin
INSTALLED := $(VENV)/.installed

.PHONY: install dev test test-slow test-slow-product test-slow-benchmarks lint clean same-interpreter

install: same-interpreter $(INSTALLED)

# A venv made by another interpreter would quietly run everything on that one: refuse instead.
same-interpreter:
	@$(PYTHON) -c 'import sys; sys.exit("Python 3.11+ is required, found " + sys.version.split()[0]) if sys.version_info < (3, 11) else None'
	@if [ -x $(BIN)/python ]; then \
	  want=$$($(PYTHON) -c 'import sys; print(sys.version.split()[0])'); \
	  have=$$($(BIN)/python -c 'import sys; print(sys.version.split()[0])'); \
	  if [ "$$want" != "$$have" ]; then \
	    echo "$(VENV) runs Python $$have but PYTHON=$(PYTHON) is $$want: pass another VENV=... or run make clean" >&2; exit 1; \
	  fi; \
	fi

# pyproject.toml and benchmarks/pyproject.toml declare the dependencies: a change there reinstalls.
# The benchmarks (the bench and its commands) install by their path, in the same pip command: the dev extra does
# not name them, since an unpublished name is looked up on the package index.
$(INSTALLED): pyproject.toml setup.py benchmarks/pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]' -e ./benchmarks
	touch $(INSTALLED)

# Extra flags go through ARGS, e.g. `make dev ARGS="--port 3001 --demo-conversations 40000"`.
dev: install
	$(BIN)/convo-pipelines dev $(ARGS)

# The product's suite (pytest.ini's testpaths: convo_pipelines_tests), then the benchmarks' own tests, each a
# session of its own: the product's suite needs nothing of the benchmarks, and passes on `pip install -e '.[dev]'`.
BENCHMARK_TESTS := benchmarks/convo_benchmarks_tests

test: install
	$(BIN)/python -m pytest
	$(BIN)/python -m pytest $(BENCHMARK_TESTS)

# The end-to-end tests `make test` leaves out (marked slow: a browser, the daemon, the deployment topology,
# killed runs, retry pauses, the benchmark); CI runs them too. Each session runs on two workers (pytest.ini), yet
# used under one of the two cores (55% and 64% of one, run side by side), waiting on Dagster's processes: CI runs
# both at once, `make -j2 --output-sync=target test-slow`.
test-slow: test-slow-product test-slow-benchmarks

test-slow-product: install
	$(BIN)/python -m pytest -m slow

test-slow-benchmarks: install
	$(BIN)/python -m pytest -m slow $(BENCHMARK_TESTS)

# The SQL folders sqlfluff lints (.sqlfluff): the product's (the demo's seeder's in sql/demo), the tests' (the app
# workload's and the app's changes), then the benchmarks' (convo_benchmarks/sql). sql/migrations is left out: a migration's checksum is its
# .up.sql text (lib/migrations/shipped.py), so a shipped one is never reformatted.
SQL_DIRS := sql/links sql/histories sql/lib sql/demo convo_pipelines_tests/sql benchmarks/convo_benchmarks/sql

# One Python style and one SQL style, checked in CI: ruff's linter and formatter (pyproject.toml,
# [tool.ruff]), then sqlfluff (.sqlfluff). `$(BIN)/ruff check --fix . && $(BIN)/ruff format .` applies
# ruff's; `$(BIN)/sqlfluff fix $(SQL_DIRS)` applies what sqlfluff can.
lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/sqlfluff lint $(SQL_DIRS)

clean:
	rm -rf $(VENV) .pytest_cache build *.egg-info benchmarks/build benchmarks/*.egg-info
