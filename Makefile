# One obvious entry point per job: `make demo`, `make test`, `make bench`, `make lint`.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# PostgreSQL for the second test pass (CI: the local server, trust auth, database `test`).
PG_URL ?= postgresql+psycopg://root@127.0.0.1:5432/test

# What `make install` puts in the venv is what the two lock files say, every file hash-checked:
# requirements.lock (the runtime and dev dependencies: what `make test` ran with) and
# build-requirements.lock (pip and what building needs). `make lock` regenerates them from pyproject.
LOCK := requirements.lock
BUILD_LOCK := build-requirements.lock
# Only `make lock` uses uv; installing needs nothing but the venv's pip.
UV_VERSION := 0.13.9
UV_LOCK_ARGS = --generate-hashes --python-version 3.11 --python-platform x86_64-unknown-linux-gnu \
	--custom-compile-command 'make lock'

.PHONY: install system demo test lint format bench fixtures clean lock

# pyscard has no Linux wheel: pip builds it from its sdist. An isolated build would fetch
# setuptools and swig afresh, unpinned and unchecked (pip's --require-hashes does not reach a
# build environment), so the build tools come from BUILD_LOCK, hash-checked, and every build runs
# with --no-build-isolation against them, the editable install of this project too. The venv's
# bin/ goes first on PATH because pyscard's build runs `swig`, which the swig wheel put there.
$(VENV)/.installed: pyproject.toml $(LOCK) $(BUILD_LOCK)
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --require-hashes -r $(BUILD_LOCK)
	PATH="$(abspath $(BIN)):$$PATH" $(BIN)/python -m pip install -q --require-hashes \
		--no-build-isolation -r $(LOCK)
	$(BIN)/python -m pip install -q --no-deps --no-build-isolation -e .
	@# The lock must cover pyproject: resolved against the venv alone (no index), a dependency
	@# added to pyproject without `make lock`, or below its floor, stops the install naming it.
	$(BIN)/python -m pip install -q --dry-run --no-index --no-build-isolation -e '.[dev]' \
		|| { echo "$(LOCK) does not satisfy pyproject.toml: run make lock" >&2; exit 1; }
	touch $@

system:
	scripts/install-system-packages.sh

install: system $(VENV)/.installed

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports

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

# Regenerates both lock files from pyproject.toml, for Python 3.11 on Linux x86_64, keeping every
# pin that pyproject still allows; to move to newer releases, `make lock LOCK_ARGS=--upgrade` (all)
# or `make lock LOCK_ARGS='--upgrade-package NAME'`. Review the diff, then `make install`.
lock:
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q 'uv==$(UV_VERSION)'
	$(BIN)/uv pip compile -q pyproject.toml --extra dev $(UV_LOCK_ARGS) $(LOCK_ARGS) -o $(LOCK)
	$(BIN)/uv pip compile -q --group pyproject.toml:build $(UV_LOCK_ARGS) $(LOCK_ARGS) -o $(BUILD_LOCK)

clean:
	rm -rf $(VENV) var .mypy_cache .ruff_cache .pytest_cache .hypothesis
