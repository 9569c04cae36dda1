# hookdesk: `make run` runs the console, `make test` runs the suite.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PORT ?= 8000
STAMP := $(VENV)/.installed

.PHONY: run test lint format bench chaos fuzz migrations-check clean

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[dev,bench]"
	touch $(STAMP)

run: $(STAMP)
	$(PY) manage.py migrate --noinput
	$(PY) manage.py collectstatic --noinput --verbosity 0
	$(PY) manage.py seed_demo
	$(PY) manage.py run_console --port $(PORT)

test: $(STAMP)
	$(PY) manage.py makemigrations --check --dry-run
	$(PY) -m pytest $(PYTEST_ARGS)

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: $(STAMP)
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

# Each benchmark prints its figures beside a baseline measured in the same run.
bench: $(STAMP)
	-$(PY) bench/ack_path.py $(BENCH_ARGS)
	-$(PY) bench/processing.py
	-$(PY) bench/outbound.py
	createdb -h 127.0.0.1 -U postgres hookdesk_bench_admin 2>/dev/null || true
	-DATABASE_URL=postgres://postgres@127.0.0.1:5432/hookdesk_bench_admin $(PY) bench/admin_lists.py

# The worst day: a real stack under kill -9 and a database restart, then 100k fuzzed inputs.
chaos: $(STAMP)
	$(PY) -m chaos $(CHAOS_ARGS)
	$(PY) -m fuzz --examples 100000

fuzz: $(STAMP)
	$(PY) -m fuzz $(FUZZ_ARGS)

clean:
	rm -rf $(VENV) var .pytest_cache .ruff_cache
