# The whole developer interface. `make test` is exactly what CI runs.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
NODE_STAMP := node_modules/.installed
export JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION := 20
export CDK_DISABLE_CLI_TELEMETRY := true
export AWS_DEFAULT_REGION ?= us-east-1

.PHONY: install test lint typecheck unit synth deploy bench clean

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

synth: install
	node_modules/.bin/cdk synth --no-notices --quiet

deploy: install
	node_modules/.bin/cdk deploy --no-notices --all

bench: install
	$(BIN)/python -m tests.bench

clean:
	rm -rf $(VENV) node_modules cdk.out .pytest_cache .mypy_cache .ruff_cache
