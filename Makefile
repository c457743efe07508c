# The whole developer interface. `make test` is exactly what CI runs.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
NODE_STAMP := node_modules/.installed
export JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION := 20
export CDK_DISABLE_CLI_TELEMETRY := true
# Extra context for synth and deploy, e.g. CONTEXT="-c stage=prod -c processor=stripe".
CONTEXT ?=

.PHONY: help install test lint typecheck unit synth deploy run token reset demo bench fuzz stress openapi clean

help:
	@echo "make install  create .venv from the hashed lock and install the pinned CDK CLI"
	@echo "make run      start the whole service locally on http://127.0.0.1:$${PORT:-8000}"
	@echo "make test     lint, type-check and run every test (what CI runs)"
	@echo "make lint     ruff check and ruff format --check"
	@echo "make typecheck  mypy (strict) on runtime/ and stacks/"
	@echo "make unit     pytest only"
	@echo "make token    print a local token (SCOPES=\"refunds:read ...\" to narrow it)"
	@echo "make demo     a narrated walk through the running local stack"
	@echo "make reset    wipe local data"
	@echo "make synth    synthesize the CloudFormation template offline"
	@echo "make deploy   preflight checks, then cdk deploy (AWS_REGION or the profile's region; CONTEXT=\"-c stage=prod\")"
	@echo "make bench    benchmarks, printed as a table and written to docs/performance.md"
	@echo "make fuzz     schemathesis against the local stack's OpenAPI document"
	@echo "make stress   2,000 mixed concurrent requests, then every ledger verified"
	@echo "make openapi  regenerate docs/openapi.json from the code"
	@echo "make clean    remove .venv, node_modules and build outputs"

install: $(STAMP) $(NODE_STAMP)

$(STAMP): requirements.txt requirements-dev.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check uv==0.13.8
	$(BIN)/uv pip install --quiet --python $(BIN)/python -r requirements-dev.txt
	touch $@

$(NODE_STAMP): package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP)
	$(BIN)/mypy runtime stacks

unit: install
	$(BIN)/pytest

test: lint typecheck unit

# Synth makes no AWS call; the region only keeps the CLI quiet on a machine without one.
synth: export AWS_DEFAULT_REGION ?= us-east-1
synth: install
	node_modules/.bin/cdk synth --no-notices --quiet $(CONTEXT)

# No default region here: the preflight refuses to guess one (stacks/preflight.py).
deploy: install
	PYTHONPATH=runtime $(BIN)/python -m stacks.preflight $(CONTEXT)
	node_modules/.bin/cdk deploy --no-notices --all $(CONTEXT)

run: install
	$(BIN)/python -m local run

token: $(STAMP)
	@$(BIN)/python -m local token $(if $(SCOPES),--scopes "$(SCOPES)")

reset: $(STAMP)
	$(BIN)/python -m local reset

demo: $(STAMP)
	$(BIN)/python -m local demo

bench: install
	$(BIN)/python -m tests.bench


# schemathesis against the local stack's own OpenAPI document, a few minutes at most
fuzz: install
	$(BIN)/python -m tests.bench.fuzz

# 2,000 mixed concurrent requests against the local stack, then every ledger verified
stress: install
	$(BIN)/python -m tests.bench.stress

clean:
	rm -rf $(VENV) node_modules cdk.out .pytest_cache .mypy_cache .ruff_cache

openapi: $(STAMP)
	PYTHONPATH=runtime $(BIN)/python -m refund_service.api.openapi_document docs/openapi.json
