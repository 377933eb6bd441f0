# Fresh-machine entry points: both targets create .venv and install what they need.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PIP := $(BIN)/python -m pip
CONSTRAINTS := -c constraints.txt

.PHONY: demo test lint bench docs clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --upgrade pip

$(VENV)/.installed: $(BIN)/python pyproject.toml constraints.txt
	$(PIP) install $(CONSTRAINTS) -e ".[data]"
	touch $@

$(VENV)/.installed-dev: $(VENV)/.installed
	$(PIP) install $(CONSTRAINTS) -e ".[dev,data,nn,tensor]"
	touch $@

$(VENV)/.installed-docs: $(VENV)/.installed
	$(PIP) install $(CONSTRAINTS) -e ".[docs]"
	touch $@

demo: $(VENV)/.installed
	$(BIN)/homfact demo --output demo-output

test: $(VENV)/.installed-dev
	$(BIN)/ruff check src tests benchmarks examples
	$(BIN)/python -m pytest -n 2 -q

lint: $(VENV)/.installed-dev
	$(BIN)/ruff check .

bench: $(VENV)/.installed-dev
	$(BIN)/python benchmarks/run_all.py

docs: $(VENV)/.installed-docs
	$(BIN)/sphinx-build -W --keep-going -b html docs docs/_build/html

clean:
	rm -rf $(VENV) demo-output .pytest_cache
