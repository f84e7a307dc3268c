# Meta-NMF Lab. Two commands on a fresh machine:
#   make book   build the HTML book into _build/html (creates .venv on first use)
#   make test   run every test (creates .venv on first use)
# Everything runs inside the project's own virtual environment.

PYTHON  ?= python3
VENV    ?= .venv
PY      := $(VENV)/bin/python
STAMP   := $(VENV)/.installed
DASK    := $(VENV)/.dask-installed
TORCH   := $(VENV)/.torch-installed
PROFILE ?= full
JOBS    ?= 2
# PyTorch's CPU index (tools/torch_index.py); empty: torch from pip's configured indexes only
TORCH_INDEX ?= https://download.pytorch.org/whl/cpu

# A relative METANMF_DATA means relative to here; every kernel (book, lab, nbval) runs in
# another folder, so hand them the absolute path.
ifneq ($(strip $(METANMF_DATA)),)
export METANMF_DATA := $(abspath $(METANMF_DATA))
endif

.PHONY: help venv torch data book lab golden test lock clean bench bench-full grid replicate

help:
	@echo "make book        execute every notebook (PROFILE=full|smoke) and build _build/html"
	@echo "make data        download the missing data files (internet needed) and verify them"
	@echo "make lab         open the notebooks in JupyterLab, in the project's environment"
	@echo "make golden      regenerate the nbval golden files tests/golden/ (smoke profile)"
	@echo "make test        run all tests (pytest)"
	@echo "make torch       install PyTorch (CPU), to recompute the related-methods results"
	@echo "make bench       quick benchmarks (~ 5 min) -> data/benchmarks/bench-quick.csv"
	@echo "make bench-full  full benchmarks, incl. the measured wall time of the whole grid"
	@echo "make grid        fill the result store with the thesis grid, batched engine (resumable)"
	@echo "make replicate   the replications of the robustness chapter (resumable)"
	@echo "make lock        regenerate requirements-lock.txt from the requirements files"

$(STAMP): requirements.txt requirements-lock.txt pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt -c requirements-lock.txt
	$(PY) -m pip install --quiet --no-deps --no-build-isolation -e .
	touch $@

venv: $(STAMP)

# dask is optional for the book but the tests run the grid on a local Dask cluster.
$(DASK): requirements-dask.txt $(STAMP)
	$(PY) -m pip install --quiet -r requirements-dask.txt -c requirements-lock.txt
	touch $@

# PyTorch trains the related-methods chapters' models: the tests, `make golden` and the smoke
# profile need it; the book's full profile only reads their results from the committed stores.
# The CPU build comes from TORCH_INDEX where that answers within 2 s (PyPI's Linux build is the
# CUDA one, several GB); otherwise pip looks only where it is configured to, as before.
$(TORCH): requirements-torch.txt $(STAMP)
	$(PY) -m pip install --quiet -r requirements-torch.txt -c requirements-lock.txt \
	  $$($(PY) tools/torch_index.py '$(TORCH_INDEX)')
	touch $@

torch: $(TORCH)

# Downloads the data files missing from METANMF_DATA (else data/) and verifies every one.
data: $(STAMP)
	$(PY) -m metanmf_lab.book.pipeline data

# The notebooks are executed by papermill (JOBS at a time), then Jupyter Book renders them
# with warnings as errors. PROFILE=smoke is the fast path (seconds-long settings).
book: $(STAMP) $(if $(filter full,$(PROFILE)),,$(TORCH))
	$(PY) -m metanmf_lab.book.pipeline execute --profile $(PROFILE) --jobs $(JOBS)
	$(PY) -m metanmf_lab.book.pipeline build

# Opens on notebooks/; a notebook's kernel runs in the notebook's folder, as in the pipeline.
lab: $(STAMP)
	$(PY) -m jupyterlab --ServerApp.root_dir=. --LabApp.default_url=/lab/tree/notebooks \
	  $(if $(filter 0,$(shell id -u)),--allow-root) $(LAB_ARGS)

golden: $(STAMP) $(TORCH)
	$(PY) -m metanmf_lab.book.pipeline golden --jobs $(JOBS)

test: $(STAMP) $(DASK) $(TORCH)
	$(PY) -m pytest

bench: $(STAMP)
	$(PY) -m metanmf_lab.grid.bench

bench-full: $(STAMP)
	$(PY) -m metanmf_lab.grid.bench --full

grid: $(STAMP)
	$(PY) -m metanmf_lab.grid

# Other splits, calibrated noise, the authors' code's fair baselines, GNMF's weight, raw scale.
replicate: $(STAMP)
	$(PY) -m metanmf_lab.grid.replication run --jobs $(JOBS)

lock:
	rm -rf .lockenv && $(PYTHON) -m venv .lockenv
	.lockenv/bin/python -m pip install --quiet -r requirements.txt -r requirements-dask.txt \
	  -r requirements-torch.txt $$($(PYTHON) tools/torch_index.py '$(TORCH_INDEX)')
	.lockenv/bin/python -m pip freeze --exclude-editable | grep -v '^metanmf' \
	  | sed 's/^\(torch==[^+]*\)+cpu$$/\1/' > requirements-lock.txt
	rm -rf .lockenv

clean:
	rm -rf _build .pytest_cache book/_executed
