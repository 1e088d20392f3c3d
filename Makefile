# One command to set up, one to test: `.ci/run` runs exactly these two.
PYTHON ?= python3
VENV ?= .venv

.PHONY: setup test

setup:
	$(PYTHON) -m venv $(VENV)
	# torch first and exact: a looser spec would pull gigabytes of CUDA wheels.
	$(VENV)/bin/pip install --quiet torch==2.13.0
	$(VENV)/bin/pip install --quiet -e '.[dev]'

test:
	$(VENV)/bin/pytest
