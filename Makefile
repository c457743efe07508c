# The whole developer interface. `make test` is exactly what CI runs.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
NODE_STAMP := node_modules/.installed
CHECKOV_VENV := $(VENV)/checkov
CHECKOV_STAMP := $(CHECKOV_VENV)/.installed
CHECKOV_OUT := .build/checkov
export JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION := 20
export CDK_DISABLE_CLI_TELEMETRY := true
# Extra context for synth and deploy, e.g. CONTEXT="-c stage=prod -c processor=stripe".
CONTEXT ?=

.PHONY: help install test lint typecheck pytest unit checkov synth deploy run token reset demo bench fuzz stress openapi lock clean

help:
	@echo "make help     this list"
	@echo "make install  create .venv from the hashed lock and install the pinned CDK CLI"
	@echo "make run      start the whole service locally on http://127.0.0.1:$${PORT:-8000}"
	@echo "make test     lint, type-check and run every test (what CI runs)"
	@echo "make lint     ruff check and ruff format --check"
	@echo "make typecheck  mypy (strict) on runtime/ and stacks/"
	@echo "make pytest   every pytest suite (unit, infrastructure, concurrency, local stack, perf smoke)"
	@echo "make unit     only the unit tests (tests/unit), for a quick loop while editing"
	@echo "make checkov  checkov on the synthesized template: any failed check fails"
	@echo "make token    print a local token (SCOPES=\"refunds:read ...\" to narrow it)"
	@echo "make demo     a narrated walk through the running local stack"
	@echo "make reset    wipe local data"
	@echo "make synth    synthesize the CloudFormation template offline"
	@echo "make deploy   preflight checks, then cdk deploy (AWS_REGION or the profile's region; CONTEXT=\"-c stage=prod\")"
	@echo "make bench    benchmarks, printed as a table and written to docs/performance.md"
	@echo "              (ROWS=3e,3f: only those rows, printed only)"
	@echo "make fuzz     schemathesis against the local stack's OpenAPI document"
	@echo "make stress   2,000 mixed concurrent requests, then every ledger verified"
	@echo "make openapi  regenerate docs/openapi.json from the code"
	@echo "make lock     re-resolve the hashed locks after changing a requirements*.txt"
	@echo "make clean    remove .venv, node_modules and build outputs"

install: $(STAMP) $(NODE_STAMP)

# Installs come from the hashed locks, never from the loose pins: a fresh install runs exactly
# what the tests ran (docs/decisions/0019-hashed-locks.md).
$(STAMP): requirements.lock requirements-bootstrap.lock
	@echo "install 1/3: virtualenv $(VENV) and the installer (uv, from requirements-bootstrap.lock)"
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check --require-hashes -r requirements-bootstrap.lock
	@echo "install 2/3: $$(grep -c '^[a-z0-9]' requirements.lock) Python packages (from requirements.lock)"
	$(BIN)/uv pip install --quiet --python $(BIN)/python --require-hashes -r requirements.lock
	touch $@

# checkov pins an old boto3 exactly, so it lives in a venv of its own.
$(CHECKOV_STAMP): requirements-checkov.lock $(STAMP)
	@echo "install: checkov into $(CHECKOV_VENV) (from requirements-checkov.lock)"
	$(BIN)/uv venv --quiet --allow-existing --python $(PYTHON) $(CHECKOV_VENV)
	$(BIN)/uv pip install --quiet --python $(CHECKOV_VENV)/bin/python --require-hashes -r requirements-checkov.lock
	touch $@

lock: $(STAMP)
	$(BIN)/uv pip compile requirements-dev.txt --universal --python-version 3.11 --generate-hashes --quiet -o requirements.lock
	$(BIN)/uv pip compile requirements-checkov.txt --universal --python-version 3.11 --generate-hashes --quiet -o requirements-checkov.lock
	$(BIN)/uv pip compile requirements-bootstrap.txt --universal --python-version 3.11 --generate-hashes --quiet -o requirements-bootstrap.lock

$(NODE_STAMP): package.json package-lock.json
	@echo "install 3/3: the pinned CDK CLI into node_modules (npm ci, from package-lock.json)"
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP)
	$(BIN)/mypy runtime stacks

pytest: install
	$(BIN)/pytest

unit: $(STAMP)
	$(BIN)/pytest tests/unit

test: lint typecheck pytest checkov

# The template exactly as `make synth` builds it (cdk-nag included), then checkov on it.
checkov: $(CHECKOV_STAMP)
	rm -rf $(CHECKOV_OUT)
	CDK_OUTDIR=$(CHECKOV_OUT) $(BIN)/python app.py
	$(CHECKOV_VENV)/bin/checkov --framework cloudformation --compact --quiet --skip-download \
		$$(printf -- '--file %s ' $(CHECKOV_OUT)/*.template.json)

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

# ROWS=3e,3f runs only what those rows need and prints them (docs/performance.md untouched)
bench: install
	$(BIN)/python -m tests.bench $(if $(ROWS),--rows $(ROWS))


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
