"""The spine every experiment runs along: settings -> canonical JSON and hash -> provenance ->
compute the missing cells -> add their rows to the store.

* :class:`SettingsBase` -- the frozen settings of an experiment as canonical JSON
  (:meth:`~SettingsBase.to_json`) and its hash (:attr:`~SettingsBase.hash`, the key every
  stored row carries, :func:`metanmf_lab.grid.store.settings_hash`).
* :func:`provenance` -- the columns that say where and when a row was computed.
* :func:`run_missing` -- compute the cells a store lacks, in parallel, and add their rows as
  they come, so an interrupted run keeps what it computed and the next one resumes.

The thesis grid (:func:`metanmf_lab.grid.run_grid`), the basis measures
(:func:`metanmf_lab.grid.analysis.basis_measures`) and the related methods' experiments
(:mod:`metanmf_lab.related`) are each a settings class, a ``compute(cell)`` and a call of
:func:`run_missing`.
"""

from __future__ import annotations

import ctypes
import dataclasses
import json
import os
import platform
import signal
import sys
import warnings
from contextlib import contextmanager, nullcontext
from datetime import datetime, timezone

import numpy
import scipy
import scipy.linalg  # noqa: F401  (loads scipy's own BLAS, so both are listed)
import sklearn
from joblib import Parallel, delayed, parallel_config
from joblib.externals.loky import reusable_executor
from joblib.parallel import LokyBackend, get_active_backend
from threadpoolctl import threadpool_info

from .._config import __version__
from .._optional import require_torch
from .store import settings_hash


# -- settings ----------------------------------------------------------------------------------


def canonical_json(value):
    """``value`` as canonical JSON: keys sorted, no spaces (the text a settings hash hashes)."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"))


def _tuples(value):
    """JSON arrays back as the tuples a frozen settings class holds."""
    return tuple(_tuples(v) for v in value) if isinstance(value, list) else value


class SettingsBase:
    """Mixin of an experiment's frozen settings dataclass: canonical JSON, hash, copies.

    A subclass sets the class attributes ``VERSION`` (the version of its numerical method)
    and ``VERSION_TAG`` (the experiment's name in the hash recipe: ``"algorithm"``,
    ``"metaprior"`` or ``"mlam"``), and may set ``LATER_FIELDS``.

    Attributes
    ----------
    LATER_FIELDS : dict
        Fields added after the first stored rows, with the defaults that leave the hash of
        those rows unchanged: :meth:`to_json` writes them only when they differ from it.
    """

    LATER_FIELDS = {}

    def to_json(self):
        """The settings as canonical JSON (what :attr:`hash` hashes). Fields of
        :attr:`LATER_FIELDS` are written only when they differ from their default, so every
        stored hash stays valid."""
        fields = dataclasses.asdict(self)
        for name, default in self.LATER_FIELDS.items():
            if fields[name] == default:
                del fields[name]
        return canonical_json(fields)

    @classmethod
    def from_json(cls, text):
        """The settings a store row was computed with (inverse of :meth:`to_json`)."""
        return cls(**{k: _tuples(v) for k, v in json.loads(text).items()})

    @property
    def hash(self):
        """Short hash of the settings and the version of the experiment's method (the
        ``settings_hash`` of its rows)."""
        return settings_hash(self.to_json(), self.VERSION, self.VERSION_TAG)

    def replace(self, **changes):
        """A copy with ``changes`` (field names and values)."""
        return dataclasses.replace(self, **changes)


# -- provenance --------------------------------------------------------------------------------


def environment(torch=False):
    """What a row's numbers depend on besides the code: versions, and the kernels picked for
    this processor, whose sums may differ in the last bit between kinds of processor (a row
    is bit-for-bit reproducible where this string is the same; see the store recompute tests).

    NumPy side (``torch=False``): the versions and, per loaded BLAS, ``blas=`` its version and
    the architecture OpenBLAS picked. PyTorch side: the versions and the vector instructions
    torch's CPU kernels use (training amplifies their last-bit differences).
    """
    if torch:
        torch = require_torch("Describing the environment of a PyTorch result")
        return (f"python={platform.python_version()};numpy={numpy.__version__};"
                f"torch={torch.__version__};cpu={torch.backends.cpu.get_cpu_capability()}")
    blas = sorted({f"{i['internal_api']}-{i['version']}/{i.get('architecture') or '?'}"
                   for i in threadpool_info() if i["user_api"] == "blas"})
    return (f"python={platform.python_version()};numpy={numpy.__version__};"
            f"scipy={scipy.__version__};scikit-learn={sklearn.__version__};"
            f"blas={','.join(blas)}")


def cpu_name():
    """The processor's model name (Linux), else what :mod:`platform` knows."""
    try:
        with open("/proc/cpuinfo") as fh:
            return next(line.split(":", 1)[1].strip() for line in fh
                        if line.startswith("model name"))
    except (OSError, StopIteration):
        return platform.processor() or platform.machine()


def provenance(torch=False):
    """The columns every store row carries besides its key and result: ``package_version``,
    ``environment`` (:func:`environment`; ``torch=True`` for a PyTorch result) and
    ``created_utc`` (now, e.g. ``2026-01-31T12:00:00Z``)."""
    return {"package_version": __version__, "environment": environment(torch),
            "created_utc": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")}


# -- interrupts --------------------------------------------------------------------------------


class GridInterrupted(KeyboardInterrupt):
    """:func:`run_missing` (e.g. :func:`~metanmf_lab.grid.run_grid`) was interrupted (Ctrl-C,
    or SIGTERM turned into it by the command line): every row computed before the interrupt is
    in the store, the workers are stopped, and the next run computes only the cells still
    missing.

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


# -- workers -----------------------------------------------------------------------------------


def progress_bar(total, desc, unit, disable=False):
    """The package's one progress bar: tqdm's (a widget in Jupyter when ipywidgets is there,
    text otherwise), without the warning tqdm.auto prints when it falls back to text (a
    notebook would show it)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from tqdm.auto import tqdm
    return tqdm(total=total, desc=desc, unit=unit, disable=disable)


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


def _die_with_parent(parent_pid):
    """Initializer of :func:`run_missing`'s loky workers: on Linux, ask the kernel to kill the
    worker (SIGKILL) when the process that started it dies, however it dies (even by SIGKILL,
    which no handler sees); without this an orphaned worker finishes its cell and waits for
    loky's idle timeout (5 minutes). A worker whose parent is already gone exits at once."""
    if sys.platform.startswith("linux"):
        pr_set_pdeathsig = 1  # <linux/prctl.h>
        ctypes.CDLL(None, use_errno=True).prctl(pr_set_pdeathsig, int(signal.SIGKILL), 0, 0, 0)
    if os.getppid() != parent_pid:  # the parent died before the request took effect
        os._exit(1)


def _worker_config(backend):
    """The joblib configuration :func:`run_missing` runs in: ``backend`` if given; loky
    (joblib's default) with workers that die with the parent (:func:`_die_with_parent`) when
    no backend is given or set by the caller (a backend the caller configured with
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


# -- the runner --------------------------------------------------------------------------------


def run_missing(cells, compute, store, *, key, have=None, check=None, n_jobs=1, backend=None,
                progress=False, desc="cells", unit="cell", flush_every=4):
    """Compute the cells whose key ``store`` lacks and add their rows, resumably.

    Parameters
    ----------
    cells : iterable
        The experiment's units of work (a grid cell, a split, ...); the missing ones are
        computed in this order (with one worker), each once.
    compute : callable
        ``compute(cell)`` returns the cell's store rows (a list of dicts with every column of
        ``store``), all of them: a cell is added whole. With ``n_jobs != 1`` it runs in worker
        processes, so it must then be picklable (a module-level function, or a
        ``functools.partial`` of one).
    store : ResultStore or None
        Where the rows are added; ``None`` computes the cells and keeps nothing.
    key : callable
        ``key(cell)``: the cell's key, hashable, as ``have`` holds it.
    have : collection or None, default=None
        The keys of the cells ``store`` holds, where ``store.keys()`` (the default; nothing
        without a store) is not the notion: e.g. the stores of the related methods hold rows
        of several settings hashes and versions, and a cell is one setting's whole rows.
    check : callable or None, default=None
        ``check(todo)``, called with the list of cells to compute (if any) before the store is
        checked and anything computed: it raises to refuse the run (a missing optional
        dependency or data file), so nothing is written.
    n_jobs : int, default=1
        joblib workers (-1: all cores).
    backend : str or None, default=None
        joblib backend; None for joblib's default (loky processes, which die with this
        process) or the one the caller configured with ``joblib.parallel_config``;
        ``"dask"`` for a ``dask.distributed`` cluster the caller has connected a ``Client`` to.
    progress : bool, default=False
        Show a tqdm progress bar over the cells computed, labelled ``desc`` and ``unit``.
    desc, unit : str
    flush_every : int, default=4
        Add the computed rows to the store after this many cells (so a run killed outright
        keeps most of its complete cells and resumes where it stopped).

    Returns
    -------
    list of dict
        The rows this run computed, in the order their cells finished.

    Raises
    ------
    StoreError
        The store cannot be written (checked before anything is computed).
    GridInterrupted
        Ctrl-C (or an exception) during the run: every row computed until then is written to
        the store first, and the workers are stopped; a KeyboardInterrupt, so callers that
        catch that still do. Another exception is raised as it is, after the same.
    """
    if backend == "dask":
        _require_dask_client()
    if have is None:
        have = store.keys() if store is not None else set()
    todo = {}
    for cell in cells:
        k = key(cell)
        if k not in have and k not in todo:
            todo[k] = cell
    todo = list(todo.values())
    new_rows, pending, waiting = [], [], 0
    if not todo:
        return new_rows
    if check is not None:
        check(todo)
    if store is not None:
        store.check_writable()  # before hours of computing, not after
    bar = progress_bar(len(todo), desc, unit, disable=not progress)
    outputs = None
    try:
        with _worker_config(backend):
            runner = Parallel(n_jobs=n_jobs, return_as="generator_unordered")
            outputs = runner(delayed(compute)(c) for c in todo)
            for rows in outputs:
                new_rows += rows
                pending += rows
                waiting += 1
                bar.update(1)
                if store is not None and waiting >= flush_every:
                    store.add(pending)
                    pending, waiting = [], 0
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
    return new_rows
