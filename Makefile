# The two commands of the README: `make serve` and `make test`. Both set up .venv on first use.
VENV ?= .venv
PYTHON ?= python3
# A selection for `make test` / `make test-fast`, e.g. PYTEST_ARGS="tests/test_deploy.py -x"
PYTEST_ARGS ?=

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install -q --upgrade pip
	$(VENV)/bin/pip install -q -e '.[dev]'
	touch $@

.PHONY: serve test test-fast lint bench
serve: $(VENV)/.installed
	$(VENV)/bin/xinqiao serve

lint: $(VENV)/.installed
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy
	$(VENV)/bin/lint-imports

# Everything CI runs. .ci/provision checks (and as root installs) PostgreSQL, Chromium, nginx...
# before anything else runs; the suite then runs inside a throwaway PostgreSQL cluster, removed
# when it ends however it ends (or on the server XINQIAO_TEST_POSTGRES_URL names, if set).
test:
	VENV=$(VENV) PYTHON=$(PYTHON) .ci/provision
	$(MAKE) --no-print-directory lint
	$(VENV)/bin/python -m tests.pg_cluster -- \
		$(VENV)/bin/pytest -q -n auto --dist loadfile $(PYTEST_ARGS)

# While developing: SQLite only, nothing installed or started beyond .venv.
test-fast: $(VENV)/.installed
	env -u XINQIAO_TEST_POSTGRES_URL $(VENV)/bin/pytest -q -n auto --dist loadfile \
		-m "not provisioned" $(PYTEST_ARGS)

bench: $(VENV)/.installed
	$(VENV)/bin/python bench/webhook.py
