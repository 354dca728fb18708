# The two commands: `make book` builds the book, `make test` runs every check.
# Each creates .venv on first use and installs what it needs; a second run installs nothing.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
# A pinned CPU build of torch: an unpinned torch pulls a multi-GB CUDA build.
TORCH  := torch==2.13.0
NOTEBOOKS := $(wildcard notebooks/*.ipynb)
# Fixed thread count for reproducible numbers in tests and notebooks.
export OMP_NUM_THREADS ?= 2
export MKL_NUM_THREADS ?= 2

.PHONY: help setup test lint book lab clean

help:
	@echo "make test   set up .venv and run ruff, pytest (and nbval over notebooks/)"
	@echo "make book   set up .venv and build the HTML book into _build/html"
	@echo "make lab    open the notebooks in JupyterLab"
	@echo "make clean  remove build outputs (keeps .venv)"

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

# One stamp per extra: re-installs only when pyproject.toml changes.
$(VENV)/.installed-%: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet --disable-pip-version-check "$(TORCH)" -e ".[$*]"
	@touch $@

setup: $(VENV)/.installed-test

lint: $(VENV)/.installed-test
	$(BIN)/ruff check companion tests benchmarks
	$(BIN)/ruff format --check companion tests benchmarks

test: lint
	$(BIN)/python -m pytest -p no:cacheprovider
ifneq ($(NOTEBOOKS),)
	COMPANION_PROFILE=ci $(BIN)/python -m pytest -p no:cacheprovider --nbval --nbval-current-env \
		--nbval-sanitize-with tests/nbval_sanitize.cfg $(NOTEBOOKS)
endif

book: $(VENV)/.installed-book
	$(BIN)/jupyter-book build . --toc book/_toc.yml -W --keep-going

lab: $(VENV)/.installed-dev
	$(BIN)/jupyter lab notebooks/

clean:
	rm -rf _build .pytest_cache .ruff_cache .hypothesis
