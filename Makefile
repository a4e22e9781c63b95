# segment-personalize: run `make` for the list of targets.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
CHECKOV := $(VENV)/checkov/bin/checkov

.DEFAULT_GOAL := help
.PHONY: help venv run test unit lint check asl diagram soak bench

help: ## List the targets
	@grep -hE '^[a-zA-Z_-]+:.*?## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*?## "}; {printf "  \033[36m%-10s\033[0m %s\n", $$1, $$2}'

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

venv: $(STAMP) ## Create .venv from pyproject.toml

run: $(STAMP) ## Run generated Segment traffic through the whole workflow on the local stack (no AWS account)
	$(BIN)/segment-personalize run

test: $(STAMP) $(CHECKOV) ## Run the whole test suite (unit, statemachine, e2e, iac)
	$(BIN)/pytest

unit: $(STAMP) ## Run the unit tests only
	$(BIN)/pytest -m unit

lint: $(STAMP) ## ruff and mypy
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

asl: $(STAMP) ## Regenerate the ASL file from state_machines/workflow.py
	$(BIN)/python -m state_machines generate

soak: $(STAMP) ## Every message delivered twice with faults on, then a redrive: prints lost and tracked twice
	$(BIN)/segment-personalize soak --events $(or $(SOAK_EVENTS),500) --seconds $(or $(SOAK_SECONDS),300)

diagram: $(STAMP) ## Print the workflow as a Mermaid flowchart
	@$(BIN)/python -m state_machines mermaid

# --- AWS: offline checks, packages, deployment (iac/) ------------------------------------------------------
SAM_VENV := $(VENV)/sam-cli
SAM ?= $(SAM_VENV)/bin/sam
SAMCONFIG ?= iac/samconfig.toml
BUILT_TEMPLATE := .aws-sam/build/template.yaml
.PHONY: validate build deploy checkov

validate: $(STAMP) $(CHECKOV) ## Check iac/template.yaml offline: cfn-lint, SAM transform, moto stacks, the ASL, checkov
	$(BIN)/pytest -m iac

# checkov pins boto3/botocore 1.35 and packaging 23, which would downgrade the dev venv: a venv of its own.
checkov: $(CHECKOV) ## Install the checkov IaC scanner in .venv/checkov
$(CHECKOV): | $(STAMP)
	$(PYTHON) -m venv $(VENV)/checkov
	$(VENV)/checkov/bin/pip install --quiet 'checkov>=3.2,<4'

build: $(STAMP) ## Build python3.12/arm64 Lambda packages into .aws-sam/build, print their sizes
	$(BIN)/python -m iac.build

# aws-sam-cli is installed on demand, in a venv of its own: its pins would downgrade the dev venv's boto3.
# `make build` stands in for `sam build` (which needs python3.12 on PATH or Docker); SAM_BUILD=1 uses
# `sam build --use-container` instead. Guided the first time: until iac/samconfig.toml has parameter_overrides.
deploy: $(if $(SAM_BUILD),,build) ## Deploy to AWS with SAM (guided the first time)
	@command -v $(SAM) >/dev/null || { set -x; $(PYTHON) -m venv $(SAM_VENV) && \
		$(SAM_VENV)/bin/pip install --quiet 'aws-sam-cli>=1.120,<2'; }
ifdef SAM_BUILD
	$(SAM) build --template-file iac/template.yaml --use-container
endif
	@if [ -f $(SAMCONFIG) ] && grep -q '^parameter_overrides' $(SAMCONFIG); then \
		set -x; $(SAM) deploy --template-file $(BUILT_TEMPLATE) --config-file $(abspath $(SAMCONFIG)); \
	else \
		set -x; $(SAM) deploy --guided --template-file $(BUILT_TEMPLATE) --config-file $(abspath $(SAMCONFIG)); \
	fi

bench: $(STAMP) ## Measure the workflow next to a single-function baseline; table + bench/results.json (BENCH_ARGS=--quick)
	$(BIN)/python -m bench $(BENCH_ARGS)

check: lint test ## Everything CI should agree with
