# aepipe developer entry points. `make run` and `make test` work on a fresh clone.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
PIP    := $(BIN)/python -m pip
# Where `make run` reads and writes; any local folder or s3:// URI works.
SOURCE ?=
DEST   ?=
PYTEST_ARGS ?=

.PHONY: run test lint system-deps s3 bench clean help

help:
	@echo "make run    install runtime deps (no torch) and run the demo denoising job"
	@echo "make test   install everything (runtime, training, dev) and run ruff + pytest"
	@echo "make s3     start a local SeaweedFS S3 server on loopback (Ctrl-C stops it)"
	@echo "make bench  run 'aepipe bench' and print the table for docs/benchmarks.md"

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip

# Stamp files re-run the install only when pyproject.toml changes.
$(VENV)/.stamp-runtime: pyproject.toml | $(BIN)/python
	$(PIP) install -q -e '.[gpu]'
	touch $@

$(VENV)/.stamp-dev: pyproject.toml | $(BIN)/python
	$(PIP) install -q -e '.[gpu,dask,aws,train,dev,peers]'
	touch $@ $(VENV)/.stamp-runtime

run: $(VENV)/.stamp-runtime
	$(BIN)/aepipe demo $(if $(SOURCE),--source $(SOURCE)) $(if $(DEST),--dest $(DEST))

lint: $(VENV)/.stamp-dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy aepipe flows

# Debian's headless chromium and chromedriver, for the browser test of report.html.
system-deps:
	scripts/install-test-system-deps.sh

# pytest exits 5 when it collects no test; that is a failure of the suite, not a pass,
# except when PYTEST_ARGS deliberately selects nothing.
test: lint system-deps
	$(BIN)/python -m pytest $(PYTEST_ARGS)

s3: $(VENV)/.stamp-dev
	$(BIN)/python -m aepipe.tools.seaweedfs

bench: $(VENV)/.stamp-dev
	$(BIN)/aepipe bench

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .mypy_cache
