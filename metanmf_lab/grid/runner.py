"""The experiment grid: the eight models of the thesis, cells, and a resumable parallel runner.

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

import ctypes
import os
import platform
import signal
import sys
import warnings
from contextlib import contextmanager, nullcontext
from datetime import datetime, timezone

import numpy
import pandas as pd
import scipy
import scipy.linalg  # noqa: F401  (loads scipy's own BLAS, so both are listed)
import sklearn
from joblib import Parallel, delayed, parallel_config
from joblib.externals.loky import reusable_executor
from joblib.parallel import LokyBackend, get_active_backend
from threadpoolctl import threadpool_info

from .._config import ALGORITHM_VERSION, __version__
from ..data.datasets import DATA_FILES, fetch, is_user_dataset, user_dataset, user_dataset_path
from .cells import Settings
from .models import fit_cell
from .store import DEFAULT_STORE, KEY, ResultStore, key_of


def _environment():
    """Versions, and the kernels OpenBLAS picked for this processor (``blas=`` its version and
    architecture, per loaded BLAS): their sums may differ in the last bit between kinds of
    processor, so a row is bit-for-bit reproducible where this string is the same (see the
    store recompute test)."""
    blas = sorted({f"{i['internal_api']}-{i['version']}/{i.get('architecture') or '?'}"
                   for i in threadpool_info() if i["user_api"] == "blas"})
    return (f"python={platform.python_version()};numpy={numpy.__version__};"
            f"scipy={scipy.__version__};scikit-learn={sklearn.__version__};"
            f"blas={','.join(blas)}")


def run_cell(cell, settings=None):
    """Evaluate one cell and return its store row (a dict with every store column)."""
    settings = Settings() if settings is None else settings
    res = fit_cell(cell, settings)
    return {
        "dataset": cell.dataset, "noise": cell.noise, "model": cell.model, "rank": cell.rank,
        "seed": cell.seed, "protocol": cell.protocol, "settings_hash": settings.hash,
        "algorithm_version": ALGORITHM_VERSION, "nmi": res.nmi,
        "recon_error": res.recon_error, "n_iter": res.n_iter, "train_iter": res.train_iter,
        "task_size": "" if res.task_size is None else res.task_size,
        "seconds": round(res.seconds, 3), "package_version": __version__,
        "environment": _environment(), "settings": settings.to_json(),
        "created_utc": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
    }


def _run_task(cell, settings, user_file=None):
    """:func:`run_cell` as a task of :func:`run_grid`. Worker processes do not share the
    parent's registry of readers' datasets, so a cell of one carries the file's path: the
    worker registers it (read once per worker and file) and checks that its content still has
    the cell's name, so a file changed during a run fails instead of filling old cells."""
    if user_file is not None:
        user_dataset(user_file, expected_name=cell.dataset)
    return run_cell(cell, settings)


def _cell_key(cell, settings):
    return key_of({"dataset": cell.dataset, "noise": cell.noise, "model": cell.model,
                   "rank": cell.rank, "seed": cell.seed, "protocol": cell.protocol,
                   "settings_hash": settings.hash, "algorithm_version": ALGORITHM_VERSION})


def _progress_bar(total, disable):
    """tqdm's bar (a widget in Jupyter when ipywidgets is there, text otherwise), without the
    warning tqdm.auto prints when it falls back to text."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from tqdm.auto import tqdm
    return tqdm(total=total, desc="cells", unit="cell", disable=disable)


def _require_dask_client():
    try:
        from dask.distributed import default_client
    except ImportError as exc:
        raise ImportError("backend='dask' needs dask.distributed: pip install -r "
                          "requirements-dask.txt") from exc
    try:
        default_client()
    except ValueError as exc:
        raise RuntimeError(
            "backend='dask' needs a connected dask.distributed Client. Start a cluster "
            "(e.g. `dask scheduler` and `dask worker <scheduler-address> --nthreads 1` on "
            "each machine), then in Python: `from dask.distributed import Client; "
            "Client('<scheduler-address>')` before calling run_grid, or use "
            "`python -m metanmf_lab.grid --scheduler <address>`.") from exc


class GridInterrupted(KeyboardInterrupt):
    """:func:`run_grid` was interrupted (Ctrl-C, or SIGTERM turned into it by the command
    line): every row computed before the interrupt is in the store, the workers are stopped,
    and the next run computes only the cells still missing.

    Attributes
    ----------
    kept : int
        Rows this run computed before the interrupt, all written to the store (with
        ``store=None`` they are lost with the run).
    store : ResultStore or None
    """

    def __init__(self, kept, store):
        super().__init__(kept, store)
        self.kept, self.store = kept, store


def _die_with_parent(parent_pid):
    """Initializer of :func:`run_grid`'s loky workers: on Linux, ask the kernel to kill the
    worker (SIGKILL) when the process that started it dies, however it dies (even by SIGKILL,
    which no handler sees); without this an orphaned worker finishes its cell and waits for
    loky's idle timeout (5 minutes). A worker whose parent is already gone exits at once."""
    if sys.platform.startswith("linux"):
        pr_set_pdeathsig = 1  # <linux/prctl.h>
        ctypes.CDLL(None, use_errno=True).prctl(pr_set_pdeathsig, int(signal.SIGKILL), 0, 0, 0)
    if os.getppid() != parent_pid:  # the parent died before the request took effect
        os._exit(1)


def _worker_config(backend):
    """The joblib configuration :func:`run_grid` runs in: ``backend`` if given; loky (joblib's
    default) with workers that die with the parent (:func:`_die_with_parent`) when no backend
    is given or set by the caller (a backend the caller configured with
    ``joblib.parallel_config`` is used as it is)."""
    if backend is None:
        active, _ = get_active_backend()
        if type(active) is not LokyBackend or active.backend_kwargs:
            return nullcontext()
        backend = "loky"
    if backend == "loky":
        return parallel_config(backend="loky", initializer=_die_with_parent,
                               initargs=(os.getpid(),))
    return parallel_config(backend=backend)


def _stop_loky_workers():
    """Kill the workers of loky's reusable executor, if one runs (after an interrupt or an
    error, so that no worker outlives the run)."""
    executor = getattr(reusable_executor, "_executor", None)  # never start one to stop it
    if executor is not None:
        executor.shutdown(wait=False, kill_workers=True)


@contextmanager
def _signals_held():
    """Hold SIGINT and SIGTERM back (they are delivered at the end) while rows are written,
    so a second Ctrl-C cannot lose the rows being saved."""
    held = {signal.SIGINT, signal.SIGTERM}
    old = signal.pthread_sigmask(signal.SIG_BLOCK, held)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, old)


def _check_data_files(datasets):
    """Before anything is computed: the data files of the built-in ``datasets`` are in the
    data folder (downloaded if missing, where there is internet) and verified; else one
    :class:`~metanmf_lab.data.datasets.MissingDataError` naming each missing file and how to get
    it."""
    needed = sorted({d for d in datasets if d in DATA_FILES})
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
    settings = Settings() if settings is None else settings
    backend = backend or os.environ.get("METANMF_BACKEND") or None
    if backend == "dask":
        _require_dask_client()
    cells = sorted(set(cells))
    if store is not None and not isinstance(store, ResultStore):
        store = ResultStore(store)
    done = store.keys() if store is not None else set()
    todo = [c for c in cells if _cell_key(c, settings) not in done]
    files = {c.dataset: str(user_dataset_path(c.dataset)) for c in todo
             if is_user_dataset(c.dataset)}
    new_rows, pending = [], []
    if todo:
        if store is not None:
            store.check_writable()  # before hours of computing, not after
        _check_data_files({c.dataset for c in todo})
        bar = _progress_bar(len(todo), disable=not progress)
        outputs = None
        try:
            with _worker_config(backend):
                runner = Parallel(n_jobs=n_jobs, return_as="generator_unordered")
                outputs = runner(delayed(_run_task)(c, settings, files.get(c.dataset))
                                 for c in todo)
                for row in outputs:
                    new_rows.append(row)
                    pending.append(row)
                    bar.update(1)
                    if store is not None and len(pending) >= flush_every:
                        store.add(pending)
                        pending = []
        except BaseException as exc:
            # Ctrl-C, SIGTERM (the command line turns it into KeyboardInterrupt) or a failed
            # cell: keep every row already computed, stop the workers, say what was kept.
            with _signals_held():
                if store is not None and pending:
                    store.add(pending)
                    pending = []
                if outputs is not None:
                    with warnings.catch_warnings():  # joblib's note on the tasks dropped
                        warnings.simplefilter("ignore")
                        outputs.close()  # joblib aborts the tasks still queued or running
                _stop_loky_workers()
            if isinstance(exc, KeyboardInterrupt) and not isinstance(exc, GridInterrupted):
                raise GridInterrupted(len(new_rows), store) from exc
            raise
        finally:
            bar.close()
        if store is not None and pending:
            store.add(pending)
    out = _rows_of(cells, settings, pd.DataFrame(new_rows) if store is None else store.load())
    out.attrs["computed"] = len(new_rows)  # rows this run added (the command line says so)
    return out


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


class Terminated(KeyboardInterrupt):
    """SIGTERM, turned into an interrupt by :func:`sigterm_as_interrupt`."""


@contextmanager
def sigterm_as_interrupt():
    """While in the block, SIGTERM raises :class:`Terminated` (a KeyboardInterrupt) in the
    main thread, so a terminated command line takes the path of Ctrl-C: the rows computed are
    kept, the workers stopped, one line said. Outside the main thread, nothing changes."""
    def raise_terminated(signum, frame):
        raise Terminated()

    try:
        old = signal.signal(signal.SIGTERM, raise_terminated)
    except ValueError:  # not the main thread: signals go elsewhere
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, old)


def interrupt_exit_code(exc):
    """The exit code of a command line stopped by ``exc``: 128 + the signal's number, as a
    shell reports it (130 for Ctrl-C, 143 for SIGTERM)."""
    while exc is not None:
        if isinstance(exc, Terminated):
            return 128 + signal.SIGTERM
        exc = exc.__cause__ or exc.__context__
    return 128 + signal.SIGINT
