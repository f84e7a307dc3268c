"""The grid's runner: evaluate the cells the result store lacks, in parallel and resumably.

A *cell* is one (dataset, noise, model, rank, seed, protocol) evaluated under a
:class:`Settings`. Evaluating a cell (thesis Sec. 4.2):

1. load the dataset (with noise if asked), split it 50/50 into a learning and an evaluation
   half (seed 42);
2. a baseline model factorises the evaluation half from its own initialisation; a Meta model
   runs the meta-learning phase on the learning half, then the evaluation phase on the
   evaluation half;
3. k-means (k = number of classes, seeded by the cell's seed) clusters the coefficients of the
   evaluation half; the score is the NMI with the true labels.

The cell's seed drives everything random in the model (initialisation, meta-task draw) and
k-means; the data split (seed 42) and the noise (``Settings.noise_seed``) are fixed, so seeds
measure the variability of the method, not of the data.

Every cell runs with BLAS and OpenMP (k-means) limited to one thread, so a cell gives
bit-identical numbers whether the grid runs serially, in parallel processes or on a cluster.
"""

from __future__ import annotations

import csv
import os
import time
from functools import partial
from pathlib import Path

import pandas as pd

from .._config import ALGORITHM_VERSION, RESULTS_DIR, __version__
from ..data.datasets import DATA_FILES, fetch, is_user_dataset, user_dataset, user_dataset_path
from .cells import Settings
from .catalogue import model_kind
from .models import fit_block, fit_cell, load_cell_data
from .spine import cpu_name, environment, provenance, run_missing
from .store import DEFAULT_STORE, KEY, ResultStore, key_of


def run_cell(cell, settings=None):
    """Evaluate one cell and return its store row (a dict with every store column)."""
    settings = Settings() if settings is None else settings
    return _row(fit_cell(cell, settings), settings)


def run_block(cells, settings):
    """Evaluate cells together with the batched engine (:func:`fit_block`); their rows."""
    return [_row(res, settings) for res in fit_block(cells, settings)]


def _row(res, settings):
    cell = res.cell
    return {
        "dataset": cell.dataset, "noise": cell.noise, "model": cell.model, "rank": cell.rank,
        "seed": cell.seed, "protocol": cell.protocol, "effective_protocol": res.protocol.name,
        "settings_hash": settings.hash, "algorithm_version": ALGORITHM_VERSION, "nmi": res.nmi,
        "recon_error": res.recon_error, "n_iter": res.n_iter, "train_iter": res.train_iter,
        "task_size": "" if res.task_size is None else res.task_size,
        "seconds": round(res.seconds, 3), "settings": settings.to_json(), **provenance(),
    }


def _run_task(cell, settings, files):
    """:func:`run_cell` as the ``compute`` of :func:`run_grid` (its one row, in a list).
    Worker processes do not share the parent's registry of readers' datasets, so ``files``
    maps a reader's dataset to its file's path: the worker registers it (read once per worker
    and file) and checks that its content still has the cell's name, so a file changed during
    a run fails instead of filling old cells."""
    user_file = files.get(cell.dataset)
    if user_file is not None:
        user_dataset(user_file, expected_name=cell.dataset)
    return [run_cell(cell, settings)]


def _run_block_task(cells, settings, files):
    """:func:`run_block` as the ``compute`` of :func:`run_grid` (see :func:`_run_task`)."""
    for dataset in {c.dataset for c in cells}:
        if dataset in files:
            user_dataset(files[dataset], expected_name=dataset)
    return run_block(list(cells), settings)


def blocks_of(cells, settings):
    """The batched engine's units of work: the cells grouped by (dataset, noise, protocol),
    the cells that share data, largest first (by learning-set entries times Meta cells, so
    two workers finish together)."""
    groups = {}
    for c in sorted(cells):
        groups.setdefault((c.dataset, c.noise, c.protocol), []).append(c)

    def cost(block):
        X_learn = load_cell_data(block[0].dataset, block[0].noise, settings)[0]
        heavy = sum(model_kind(c.model) != "baseline" for c in block)
        return X_learn.size * (heavy + 1)

    return sorted((tuple(b) for b in groups.values()), key=cost, reverse=True)


def _cell_key(cell, settings):
    return key_of({"dataset": cell.dataset, "noise": cell.noise, "model": cell.model,
                   "rank": cell.rank, "seed": cell.seed, "protocol": cell.protocol,
                   "settings_hash": settings.hash, "algorithm_version": ALGORITHM_VERSION})


def _check_data_files(cells):
    """Before anything is computed: the data files of the built-in datasets of ``cells`` are
    in the data folder (downloaded if missing, where there is internet) and verified; else one
    :class:`~metanmf_lab.data.datasets.MissingDataError` naming each missing file and how to get
    it."""
    needed = sorted({c.dataset for c in cells if c.dataset in DATA_FILES})
    if needed:
        fetch(needed, download=True)


def run_grid(cells, settings=None, *, store=DEFAULT_STORE, n_jobs=1, backend=None,
             progress=True, flush_every=4):
    """Evaluate the cells missing from the store, in parallel, and return all their rows.

    Parameters
    ----------
    cells : iterable of Cell
        Cells of a reader's own dataset (:func:`metanmf_lab.data.datasets.user_dataset`) too:
        each task hands its worker the file's path, and the worker checks its content hash.
    settings : Settings, default=Settings()
    store : ResultStore, str, Path or None, default=``data/results/results.csv``
        Where rows are read from and added to. ``None`` computes everything, stores nothing.
    n_jobs : int, default=1
        joblib workers (-1: all cores). Each cell runs with one BLAS thread.
    backend : str or None, default=None
        joblib backend: None for the ``METANMF_BACKEND`` environment variable if set, else
        joblib's default (loky processes); ``"dask"`` for a ``dask.distributed`` cluster the
        caller has connected a ``Client`` to (``n_jobs=-1`` then uses all its workers).
    progress : bool, default=True
        Show a tqdm progress bar over the cells computed.
    flush_every : int, default=4
        Write computed rows to the store after this many cells (so a run killed outright
        keeps most of its complete rows and resumes where it stopped).

    Returns
    -------
    pandas.DataFrame
        One row per requested cell (stored or new), sorted by key.

    Raises
    ------
    StoreError
        The store is damaged or cannot be written (checked before anything is computed).
    MissingDataError
        A data file of a cell to compute is missing and cannot be downloaded (checked before
        anything is computed).
    GridInterrupted
        Ctrl-C (or an exception) during the run: every row computed until then is written to
        the store first, and the workers are stopped; a KeyboardInterrupt, so callers that
        catch that still do.

    Notes
    -----
    With loky processes (the default), each worker asks the kernel (Linux) to kill it when
    this process dies, so no worker outlives a run killed by SIGKILL.
    """
    t_start = time.perf_counter()
    settings = Settings() if settings is None else settings
    backend = backend or os.environ.get("METANMF_BACKEND") or None
    cells = sorted(set(cells))
    if store is not None and not isinstance(store, ResultStore):
        store = ResultStore(store)
    files = {c.dataset: str(user_dataset_path(c.dataset)) for c in cells
             if is_user_dataset(c.dataset)}
    key = partial(_cell_key, settings=settings)
    if settings.engine == "batched":  # the missing cells, in blocks that share data
        have = store.keys() if store is not None else set()
        missing = [c for c in cells if key(c) not in have]
        if missing:
            _check_data_files(missing)
        new_rows = run_missing(blocks_of(missing, settings),
                               partial(_run_block_task, settings=settings, files=files), store,
                               key=lambda block: tuple(key(c) for c in block), have=set(),
                               n_jobs=n_jobs, backend=backend, progress=progress,
                               desc="blocks", unit="block", flush_every=1)
    else:
        new_rows = run_missing(cells, partial(_run_task, settings=settings, files=files),
                               store, key=key, check=_check_data_files, n_jobs=n_jobs,
                               backend=backend, progress=progress, flush_every=flush_every)
    out = _rows_of(cells, settings, pd.DataFrame(new_rows) if store is None else store.load())
    out.attrs["computed"] = len(new_rows)  # rows this run added (the command line says so)
    out.attrs["wall_seconds"] = time.perf_counter() - t_start
    return out


#: The command line's log of grid runs (one line per run that computed cells): what the
#: performance chapter reads for the measured wall time of the grid.
GRID_RUNS = RESULTS_DIR.parent / "benchmarks" / "grid-runs.csv"

GRID_RUN_COLUMNS = ("date_utc", "settings_hash", "engine", "dtype", "cells", "computed",
                    "jobs", "wall_minutes", "cpu", "cores", "environment", "package_version")


def record_run(path, settings, n_cells, computed, jobs, wall_seconds):
    """Append one line to the log of grid runs ``path`` (:data:`GRID_RUNS`): the wall time of
    a run of ``n_cells`` cells of which ``computed`` were computed, with ``jobs`` workers."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    new = not path.exists()
    with open(path, "a", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=GRID_RUN_COLUMNS)
        if new:
            w.writeheader()
        w.writerow({"date_utc": provenance()["created_utc"], "settings_hash": settings.hash,
                    "engine": settings.engine, "dtype": settings.dtype, "cells": n_cells,
                    "computed": computed, "jobs": jobs,
                    "wall_minutes": round(wall_seconds / 60, 2), "cpu": cpu_name(),
                    "cores": os.cpu_count(), "environment": environment(),
                    "package_version": __version__})


def _rows_of(cells, settings, df):
    wanted = {_cell_key(c, settings) for c in cells}
    if df.empty:
        return df
    mask = [key_of(r) in wanted for r in df[list(KEY)].to_dict("records")]
    return df[mask].sort_values(list(KEY[:6]), kind="stable").reset_index(drop=True)


def stored_rows(cells, settings=None, store=DEFAULT_STORE):
    """The rows of ``cells`` under ``settings`` that ``store`` holds (nothing is computed;
    rows of other cells -- other seeds, noise levels, models -- are left out)."""
    settings = Settings() if settings is None else settings
    store = store if isinstance(store, ResultStore) else ResultStore(store)
    return _rows_of(cells, settings, store.load())
