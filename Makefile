# Meta-NMF Lab. Two commands on a fresh machine:
#   make book   build the HTML book into _build/html (creates .venv on first use)
#   make test   run every test (creates .venv on first use)
# Everything runs inside the project's own virtual environment.

PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: help venv test test-fast lock clean

help:
	@echo "make book    build the book into _build/html"
	@echo "make test    run all tests (pytest)"
	@echo "make lock    regenerate requirements-lock.txt from requirements.txt"

$(STAMP): requirements.txt requirements-lock.txt pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt -c requirements-lock.txt
	$(PY) -m pip install --quiet --no-deps --no-build-isolation -e .
	touch $@

venv: $(STAMP)

test: $(STAMP)
	$(PY) -m pytest

lock:
	rm -rf .lockenv && $(PYTHON) -m venv .lockenv
	.lockenv/bin/python -m pip install --quiet -r requirements.txt
	.lockenv/bin/python -m pip freeze --exclude-editable | grep -v '^metanmf' > requirements-lock.txt
	rm -rf .lockenv

clean:
	rm -rf _build .pytest_cache
