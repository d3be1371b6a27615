# One obvious entry point per job: `make demo`, `make test`, `make bench`, `make lint`.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# PostgreSQL for the second test pass (CI: the local server, trust auth, database `test`).
PG_URL ?= postgresql+psycopg://root@127.0.0.1:5432/test

.PHONY: install system demo test lint format bench fixtures clean

$(VENV)/.installed: pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[dev]'
	touch $@

system:
	scripts/install-system-packages.sh

install: system $(VENV)/.installed

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

format: install
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

test: lint
	PG_URL='$(PG_URL)' scripts/run-tests.sh

demo: install
	ONSHI_ENV=development $(BIN)/python -m scripts.demo

bench: install
	scripts/run-benchmarks.sh

# Regenerates the committed test card set (fixtures/README.md) from scratch.
fixtures: install
	rm -rf fixtures/issuer
	ONSHI_ENV=development $(BIN)/card-reader issue --residents fixtures/residents.json --out fixtures/issuer \
		--pin 1234 --sign-password TESTPASS1
	$(BIN)/python -m qualification_server.trust.test_material fixtures/issuer

clean:
	rm -rf $(VENV) var .mypy_cache .ruff_cache .pytest_cache .hypothesis
