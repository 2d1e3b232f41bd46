# The two commands of the README: `make serve` and `make test`. Both set up .venv on first use.
VENV ?= .venv
PYTHON ?= python3

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install -q --upgrade pip
	$(VENV)/bin/pip install -q -e '.[dev]'
	touch $@

.PHONY: serve test lint bench
serve: $(VENV)/.installed
	$(VENV)/bin/xinqiao serve

lint: $(VENV)/.installed
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy

test: lint
	$(VENV)/bin/pytest -q -n auto --dist loadfile

bench: $(VENV)/.installed
	$(VENV)/bin/python bench/webhook.py
