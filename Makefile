# difflab — the two commands a new user needs: `make run` and `make test`.
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
FRONT_STAMP := frontend/node_modules/.installed

.PHONY: install run test lint typecheck test-backend test-frontend client bench reliability clean

install: $(STAMP) frontend/dist/index.html  ## create .venv, install the package, build the frontend

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	@# CPU build of torch where there is no CUDA GPU; a CUDA machine takes PyPI's default build.
	@if command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L >/dev/null 2>&1; then \
		$(BIN)/pip install --quiet "torch>=2.4,<2.15"; \
	else \
		$(BIN)/pip install --quiet torch==2.13.0; \
	fi
	$(BIN)/pip install --quiet -e '.[dev]'
	@touch $(STAMP)

$(FRONT_STAMP): frontend/package.json frontend/package-lock.json
	cd frontend && npm ci --no-audit --no-fund --loglevel=error
	@touch $(FRONT_STAMP)

frontend/dist/index.html: $(FRONT_STAMP) $(shell find frontend/src frontend/index.html -type f 2>/dev/null)
	cd frontend && npm run build --silent

run: install  ## start the app with its embedded defaults on http://127.0.0.1:8000
	$(BIN)/difflab serve

lint: $(STAMP)
	$(BIN)/ruff check backend tests bench
	$(BIN)/ruff format --check backend tests bench

typecheck: $(STAMP)
	$(BIN)/mypy

test-backend: $(STAMP) frontend/dist/index.html
	$(BIN)/pytest -q

test-frontend: $(FRONT_STAMP)
	cd frontend && npm test --silent

test: install lint typecheck test-frontend test-backend  ## the whole suite

client: $(STAMP) $(FRONT_STAMP)  ## regenerate the frontend's typed API client from OpenAPI
	cd frontend && npm run gen:client

bench: install
	$(BIN)/python bench/run_all.py

reliability: install
	$(BIN)/python -m pytest -q tests/reliability -p no:cacheprovider --reliability-report docs/reliability.md

clean:
	rm -rf $(VENV) frontend/node_modules frontend/dist var
