# make demo: creates .venv when it is missing, installs the package editable (no extras) and
# runs the end-to-end CPU demo (runs/demo/).
# make test: creates .venv when it is missing, installs the package editable with [dev,torch]
# (torch: for the checkpoint conversion, pytorch-fid and torch-fidelity for the metric tests), runs
# the linter and the test suite on the CPU.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
DEMO_STAMP := $(VENV)/.installed-package
PYTEST_ARGS ?=

.PHONY: demo test lint install clean

$(DEMO_STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet -e .
	touch $(DEMO_STAMP)

$(STAMP): $(DEMO_STAMP)
	$(PY) -m pip install --quiet -e '.[dev,torch]'
	touch $(STAMP)

install: $(STAMP)

demo: $(DEMO_STAMP)
	$(PY) recipes/demo.py --run_dir runs/demo --verbose 2

lint: $(STAMP)
	$(VENV)/bin/ruff check mirrorgan_keras tests recipes benchmarks

test: lint
	TF_CPP_MIN_LOG_LEVEL=2 $(PY) -m pytest -n 2 $(PYTEST_ARGS)

clean:
	rm -rf $(VENV) .pytest_cache
