# Nightjar. `make demo` and `make test` work from a fresh clone with Python 3.11 and Java 17.
SHELL := /bin/bash
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
TEST_WORKERS ?= 2
export MLFLOW_DISABLE_TELEMETRY := true
export PYSPARK_PYTHON := $(abspath $(BIN)/python)

.PHONY: help install demo test lint airflow bench lock clean

help:  ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-9s %s\n", $$1, $$2}'

$(STAMP): requirements.txt requirements-dev.txt constraints.txt pyproject.toml
	@command -v $(PYTHON) >/dev/null || { echo "error: $(PYTHON) not found; install Python 3.11 or run make PYTHON=/path/to/python3.11" >&2; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -r requirements.txt -r requirements-dev.txt -c constraints.txt
	$(BIN)/pip install --quiet --no-deps -e .
	@touch $@

install: $(STAMP)  ## Create .venv, install the pinned environment and fetch the pinned Spark jars
	$(BIN)/nightjar spark fetch-jars

demo: install  ## Run the whole loop through Airflow's scheduler on the embedded stack
	$(BIN)/nightjar demo

test: install  ## Run the whole test suite (TEST_WORKERS=2 processes; 0 runs it in one)
	$(BIN)/pytest -n $(TEST_WORKERS) --dist loadgroup

lint: install  ## ruff check + format check
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

airflow: install  ## Run Airflow (4 components) + MLflow UI on 127.0.0.1 until Ctrl-C
	$(BIN)/nightjar airflow

bench: install  ## Run the benchmarks in bench/ and print the comparison tables
	$(BIN)/python -m bench

lock:  ## Regenerate constraints.txt from the current .venv
	$(BIN)/pip freeze --exclude-editable | grep -v '^nightjar' > constraints.txt.new
	@{ head -3 constraints.txt; cat constraints.txt.new; } > constraints.txt.tmp && mv constraints.txt.tmp constraints.txt && rm constraints.txt.new

clean:  ## Remove the embedded state (.nightjar); keeps .venv
	rm -rf .nightjar
